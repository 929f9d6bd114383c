/*
 * extract.h: the backend contract. Plain C; no Python.h here or in any backend.
 *
 * One source file is opened and probed, then a list of request times is turned
 * into JPEG frames on a fixed canvas. Every backend (ffextract.c on FFmpeg,
 * avextract.m on AVFoundation) implements exactly these functions; module.c is
 * the only caller and the only place that knows about Python.
 *
 * Errors: every function that can fail returns an lc_status and, when it is not
 * LC_OK, writes one human-readable line (no trailing newline, no file name:
 * the caller adds it) into err[LC_ERRMSG_SIZE].
 *
 * Threads: lc_extract may run worker threads of its own, but it calls the sink
 * and the poll function only on the thread that called lc_extract, in request
 * order. A source may be used by one lc_extract call at a time.
 */
#ifndef LC_EXTRACT_H
#define LC_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "signals.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LC_ERRMSG_SIZE 512

typedef enum lc_status {
    LC_OK = 0,
    LC_ERR_NOT_FOUND,     /* no file at that path */
    LC_ERR_IS_DIRECTORY,  /* the path is a folder */
    LC_ERR_EMPTY,         /* the file has zero bytes */
    LC_ERR_NOT_MEDIA,     /* no container format recognised (text, image, random bytes) */
    LC_ERR_NO_VIDEO,      /* a media file without a video stream (audio only, data only) */
    LC_ERR_INDEX_MISSING, /* MP4/MOV whose index (moov) was never written: recording cut off */
    LC_ERR_UNSUPPORTED,   /* a video stream no decoder here can read */
    LC_ERR_DAMAGED,       /* recognised, but nothing in it can be decoded */
    LC_ERR_IO,            /* the operating system refused a read (permission, device error) */
    LC_ERR_CANCELLED,     /* the sink or the poll function asked to stop */
    LC_ERR_NOMEM,
    LC_ERR_INTERNAL,
    LC_STATUS_COUNT
} lc_status;

/* What the backend learnt when it opened the source.
 *
 * Duration rule (both backends, so they make the same requests for the same
 * file): the video duration as the container states it (the stream's, else
 * the file's minus the video start), converted to microseconds rounded to the
 * nearest microsecond, then rounded UP to a whole millisecond
 * (lc_duration_ms_from_us in sourcefile.c, the one place that rounds). The
 * requests are the whole-millisecond times t < duration_ms, so rounding up
 * makes that exactly "t < the true duration": 3000.4 ms gives 3001 and a
 * request at 3000, which the last frame (shown until 3000.4) can answer.
 * A header's claim is checked against what the file holds (the FFmpeg
 * backend: index entries that lie inside the file, the last packets read from
 * its tail; raw streams: their frame count): the smaller is reported, so a
 * forged or cut-off file never makes requests for what is not there.
 *
 * Orientation (rotation_degrees, hflip): the picture as stored (decoded, after
 * the sample aspect ratio) is first mirrored left-right if hflip, then turned
 * clockwise by rotation_degrees; the result is exactly what a player honouring
 * the display matrix shows (QuickTime/AVFoundation preferredTransform, FFmpeg
 * 7's autorotate). The display matrix of ISO/IEC 14496-12 (as in
 * libavutil/display.h) maps a stored point (x, y) to (x, y) * M with
 * M = [[a, b], [c, d]], y pointing down; in that order a mirror-then-turn is
 * M = H * R(rotation), H = diag(-1, 1), R(90) = [[0, 1], [-1, 0]]. So a
 * matrix with a negative determinant mirrors; R = H * M (its first row
 * negated) gives the turn. The 8 cases: identity, 90, 180, 270; hflip;
 * vflip = hflip + 180; transpose (x' = y, y' = x) = hflip + 270;
 * anti-transpose (x' = -y, y' = -x) = hflip + 90. */
typedef struct lc_source_info {
    int64_t duration_ms;               /* video duration on the bundle timeline (0 = first frame),
                                   rounded up to the millisecond (rule above) */
    int64_t start_offset_us;           /* presentation time of the first video frame on the
                                   source's own clock, in microseconds (0 for most files) */
    int coded_width, coded_height;     /* as stored */
    int display_width, display_height; /* after sample aspect ratio and rotation */
    int rotation_degrees;              /* clockwise turn for display, after the mirror: 0, 90, 180, 270 */
    int hflip;                         /* 1: mirror left-right first (the display matrix mirrors) */
    int keyframe_index;                /* 1 if request planning can seek by the container's index */
} lc_source_info;

typedef enum lc_scale_filter {
    LC_SCALE_BILINEAR = 0,
    LC_SCALE_BICUBIC = 1,
    LC_SCALE_LANCZOS = 2,
    LC_SCALE_AREA = 3
} lc_scale_filter;

/* The most threads one extraction may be given, and the most decoding
 * workers the backend starts for it (one per chunk of keyframes, fewer when
 * there are fewer chunks); FFmpeg runs at most 16 threads per decoder;
 * threads beyond that only hold memory. The module exports it as
 * _core.MAX_WORKERS, which lifelog_compression/limits.py takes. */
#define LC_MAX_WORKERS 64
#define LC_STR_(x) #x
#define LC_STR(x) LC_STR_(x)

/* The recipe, as numbers. The Python layer owns the defaults. */
typedef struct lc_recipe {
    int canvas_width, canvas_height; /* even, e.g. 1920x1080 */
    int tolerance_before_ms;         /* window is [t - before, t + after] */
    int tolerance_after_ms;
    int jpeg_quality;             /* 1..100 */
    int workers;                  /* threads to use in all; 0 = one per core; at most LC_MAX_WORKERS */
    int chroma_444;               /* 1: JPEG 4:4:4; 0: 4:2:0 (the default) */
    int raw_rgb;                  /* 1: hand over the canvas as packed RGB instead of JPEG;
                                         a backend without it returns LC_ERR_UNSUPPORTED */
    lc_scale_filter scale_filter; /* a hint; a backend without a choice ignores it */
} lc_recipe;

/* How a frame was obtained, so the manifest explains its own cost. */
typedef enum lc_obtained {
    LC_OBTAINED_NONE = 0,     /* no frame lies in the window */
    LC_OBTAINED_KEYFRAME = 1, /* a keyframe inside the window, decoded alone */
    LC_OBTAINED_FORWARD = 2,  /* decoded forward from the keyframe before the window */
    LC_OBTAINED_PLATFORM = 3  /* the platform's generator chose (AVFoundation) */
} lc_obtained;

/* One result per request, handed to the sink in request order. */
typedef struct lc_frame {
    size_t request_index;
    int64_t requested_ms;
    int64_t actual_us;    /* pictured frame's presentation time, bundle timeline, µs */
    lc_obtained obtained; /* LC_OBTAINED_NONE: nothing below is set */
    int frames_decoded;   /* frames this request sent through the decoder (0 if reused) */
    int damaged_pictures; /* pictures in the window the decoder reported damaged: passed
                                    over (with LC_OBTAINED_NONE, the reason there is no picture) */
    int false_keyframes;  /* keyframes of the container's index this request found to be
                                    none (sync samples on predicted pictures): never started from
                                    or pictured; each counted by one request only. 0: none found,
                                    or the backend cannot tell */
    int content_x, content_y, content_width, content_height; /* picture rect on the canvas */
    int source_width, source_height;                         /* decoded picture size before geometry */
    int deinterlaced;          /* an interlaced picture, pictured from one field (its top one),
                                    scaled to the full height: no combing */
    const unsigned char *jpeg; /* valid only during the sink call */
    size_t jpeg_size;
    const unsigned char *rgb; /* with recipe.raw_rgb instead of jpeg: canvas_height rows of
                                    canvas_width * 3 bytes, valid only during the sink call... */
    size_t rgb_size;
    int *rgb_adopted;           /* ...unless the sink sets *rgb_adopted = 1 (when non-NULL):
                                    then the buffer is the sink's, to release with lc_free */
    const char *colour_mapping; /* what was done to the colours beyond the matrix and range
                                    conversion (an HDR tone map), as one line; NULL when nothing.
                                    Valid only during the sink call. */
    lc_signals signals;         /* content signals of the content rect's luma as written
                                    (signals.h); signals.valid = 0 when the backend has none */
} lc_frame;

/* Return 0 to go on, non-zero to stop (lc_extract then returns LC_ERR_CANCELLED). */
typedef int (*lc_frame_sink)(void *ctx, const lc_frame *frame);
/* Called about every 100 ms while lc_extract waits, on the calling thread. */
typedef int (*lc_poll_fn)(void *ctx);

typedef struct lc_source lc_source;

/* Short name of the backend, e.g. "ffmpeg" or "avfoundation". */
const char *lc_backend_name(void);
/* Versions of the libraries the backend runs on, as one line. */
const char *lc_backend_versions(void);

/* poll (may be NULL) is called about every 100 ms, on the calling thread, while
 * the backend waits for the platform inside lc_open (AVFoundation loads an
 * asset's keys asynchronously, which can take long on a slow or network
 * volume); non-zero stops with LC_ERR_CANCELLED. The FFmpeg backend opens
 * without such waits and does not call it. */
lc_status lc_open(const char *path, lc_source **out, lc_poll_fn poll, void *ctx, char err[LC_ERRMSG_SIZE]);
const lc_source_info *lc_info(const lc_source *src);

/* Full container/stream probe as a JSON object text, malloc'd (free with lc_free):
 * {"format": {...}, "streams": [...], "chapters": [...], "summary": {...}}.
 * "summary" holds the SPEC.md source-metadata fields the backend can read. */
lc_status lc_probe_json(lc_source *src, char **json_out, char err[LC_ERRMSG_SIZE]);

/* requests_ms must be ascending. The sink is called once per request. */
lc_status lc_extract(lc_source *src, const int64_t *requests_ms, size_t n_requests, const lc_recipe *recipe,
                     lc_frame_sink sink, lc_poll_fn poll, void *ctx, char err[LC_ERRMSG_SIZE]);

/* Bytes read from the source so far by the probing context, the keyframe scan
 * and every worker (what travelled over the network for a URL), or -1 when
 * the backend cannot tell. Safe to call while lc_extract runs. */
int64_t lc_bytes_read(const lc_source *src);

void lc_close(lc_source *src);
void lc_free(void *p);

/* Canvas geometry, shared by every backend (geometry.c): fit a display size
 * inside the canvas ("contain", scaling up or down), even sizes, centred. */
typedef struct lc_rect {
    int x, y, width, height;
} lc_rect;
lc_rect lc_fit_contain(int display_width, int display_height, int canvas_width, int canvas_height);

#ifdef __cplusplus
}
#endif
#endif
