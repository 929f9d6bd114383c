/*
 * sourcefile.h: what both backends (ffsource.c on FFmpeg, avextract.m on
 * AVFoundation) learn about a source file without a decoder, written once in
 * plain C: the path checks, the MP4/QuickTime top-level box scan, the
 * orientation in a display matrix, the duration rounding rule and the one-line
 * error message. No FFmpeg, Apple or Python headers here, so tests/c/ can test
 * it on Linux with nothing but a C compiler.
 */
#ifndef LC_SOURCEFILE_H
#define LC_SOURCEFILE_H

#include <stdint.h>

#include "extract.h"

#if defined(__GNUC__) || defined(__clang__)
#define LC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define LC_PRINTF(f, a)
#endif

/* Writes the formatted message into err (truncated to LC_ERRMSG_SIZE, line
 * breaks replaced by spaces: the contract promises one line) and returns
 * status, so a failure reads `return lc_fail(err, LC_ERR_X, "...", ...);`. */
lc_status lc_fail(char err[LC_ERRMSG_SIZE], lc_status status, const char *fmt, ...) LC_PRINTF(3, 4);

/* The checks made before any library sees the path: no file there
 * (LC_ERR_NOT_FOUND), a folder (LC_ERR_IS_DIRECTORY), zero bytes
 * (LC_ERR_EMPTY), not readable (LC_ERR_IO), a pipe, socket or device
 * (LC_ERR_NOT_MEDIA: frames are found by seeking). LC_OK when it is a
 * non-empty readable file. */
lc_status lc_check_path(const char *path, char err[LC_ERRMSG_SIZE]);

/* The top-level boxes of an ISO-BMFF/QuickTime file. A camera that loses power
 * writes 'mdat' but never the 'moov' (the index); this tells that recording
 * apart from a file that is no movie at all. */
typedef struct lc_mp4_boxes {
    int is_iso;                   /* the first box is one an MP4/MOV starts with (ftyp, mdat, moov, wide, free) */
    int has_moov;                 /* a top-level 'moov' box starts inside the file */
    int moov_cut;                 /* ... and its size runs past the end of the file: the index is cut off */
    char brand[5];                /* ftyp's major brand, NUL-terminated; "" without ftyp */
    uint64_t file_bytes;          /* the file's size */
    uint64_t cmov_inflated_bytes; /* a compressed moov ('cmov'): the size its 'cmvd' says it
                                      inflates to (the demuxer allocates that much); 0 if none */
} lc_mp4_boxes;

/* A compressed index may inflate to this many times the whole file, plus
 * LC_CMOV_SLACK_BYTES; beyond, it is a decompression bomb (a 1.2 MB file
 * whose cmov inflated to 1 GiB), refused before the demuxer inflates it. */
#define LC_CMOV_MAX_RATIO 32
#define LC_CMOV_SLACK_BYTES (8u << 20)
/* The index is compressed and claims to inflate beyond that bound. */
int lc_cmov_bomb(const lc_mp4_boxes *b);

/* Where the recording lies in a file: the whole file, or the MP4/MOV that a
 * phone's motion photo carries after its JPEG still (Google Motion Photo 1.0,
 * the older Google MicroVideo, Samsung's SEF trailer). Every reader of the
 * source (the demuxer, the box walk, sniffing, the telemetry readers) reads
 * this range and only this range, so they all see the same recording. */
#define LC_CONTAINER_SIZE 64
typedef struct lc_recording {
    uint64_t offset;                   /* the recording's first byte in the file */
    uint64_t length;                   /* its length; the file's size when not embedded */
    int embedded;                      /* 1: a recording inside a motion photo */
    char container[LC_CONTAINER_SIZE]; /* what names the range, e.g. "motion photo (Google Motion Photo
                                          1.0)"; "" when not embedded */
} lc_recording;

/* Decides the recording's byte range in the file at `path`, reading only that
 * file: a JPEG's header segments (XMP), the SEF trailer's directory, and, for
 * a JPEG whose metadata names no range, its end (then an 'ftyp' box must
 * follow). A range is trusted only when an 'ftyp' box starts it and fits in it.
 * LC_OK with the whole file for anything but a motion photo (a plain JPEG
 * too: its refusal stays the demuxer's); LC_ERR_DAMAGED, with one line in
 * err, for a JPEG whose metadata names a range outside the file or one where
 * no MP4 starts. Time and memory are bounded by the file's size (a fixed
 * buffer; each JPEG segment is skipped by its length, checked first). */
lc_status lc_find_recording(const char *path, lc_recording *rec, char err[LC_ERRMSG_SIZE]);

/* Walks the top-level boxes of the file at `path`. Bounded: each step moves
 * forward by a box size that is checked against the file size first (32- or
 * 64-bit sizes; size 0 means "to the end of the file"; sizes below the header
 * are invalid), so the walk never overflows, never loops and never reads past
 * the end. A file that cannot be opened gives all zeros. */
lc_mp4_boxes lc_scan_mp4_boxes(const char *path);
/* The same walk over the recording `rec` of that file (lc_find_recording):
 * sizes and file_bytes are the recording's. */
lc_mp4_boxes lc_scan_recording_boxes(const char *path, const lc_recording *rec);

/* The orientation of a display matrix, decomposed by the convention stated in
 * extract.h (lc_source_info: mirror first, then turn clockwise). a, b, c, d
 * are the matrix's linear part in ISO/IEC 14496-12 order and meaning
 * (x' = a*x + c*y + tx, y' = b*x + d*y + ty, y down), in any common scale:
 * FFmpeg's display matrix [0], [1], [3], [4] and CGAffineTransform's a, b, c,
 * d are both this. Angles are rounded to the nearest quarter turn; a
 * degenerate matrix gives 0 and no mirror. */
void lc_orientation_from_matrix(double a, double b, double c, double d, int *rotation_degrees, int *hflip);

/* The duration rule of extract.h (lc_source_info.duration_ms): a duration in
 * microseconds (already rounded to the nearest microsecond) rounded up to a
 * whole millisecond; 0 for an unknown or non-positive duration. */
int64_t lc_duration_ms_from_us(int64_t duration_us);

#endif
