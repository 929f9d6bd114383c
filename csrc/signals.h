/*
 * signals.h: per-frame content signals (Visual Bundle 1.2), computed from the
 * luma of the content rect as written, before JPEG encoding. Plain C, no
 * FFmpeg and no platform API: both backends call it on the picture they
 * encode, so the same picture gives the same values everywhere.
 *
 * The analysis grid: the content rect (w x h pixels) is cut into
 * LC_SIGNALS_GRID x LC_SIGNALS_GRID cells whatever its shape; cell (r, c)
 * covers rows [r*h/G, max(r*h/G + 1, (r+1)*h/G)) and likewise columns
 * (integer division), and holds the mean of those pixels. The 32x32 thumbnail
 * uses the same rule with 32 cells per side (each one the union of 4x4 grid
 * cells when the rect is at least G pixels on each side).
 *
 *   phash      DCT-II of the 32x32 thumbnail (cell means, not rounded), the
 *              8x8 lowest frequencies (DC included), each bit "coefficient >
 *              median of the 64", first row first, the first bit the most
 *              significant: imagehash.phash's layout on our thumbnail.
 *   sharpness  variance of the 4-neighbour Laplacian [0 1 0; 1 -4 1; 0 1 0]
 *              over the grid's inner cells (luma levels squared).
 *   luma_mean  mean of every pixel of the rect, 0..255.
 *   luma_clipped  fraction of the rect's pixels <= 16 or >= 235.
 *   thumb      the 32x32 thumbnail rounded to whole levels, row-major: kept
 *              per row by the duplicate rule's block test.
 */
#ifndef LC_SIGNALS_H
#define LC_SIGNALS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LC_SIGNALS_GRID 128
#define LC_SIGNALS_THUMB 32
/* Named in bundle.json so a reader knows what the numbers mean. */
#define LC_PHASH_ALGORITHM "dct32-lowfreq8x8-median/luma-area-mean-32x32"

typedef struct lc_signals {
    int valid; /* 0: not computed (no picture, or a backend without them) */
    uint64_t phash;
    double sharpness;
    double luma_mean;
    double luma_clipped;
    uint8_t thumb[LC_SIGNALS_THUMB * LC_SIGNALS_THUMB];
} lc_signals;

/* Luma plane of the content rect: w x h pixels, rows `stride` bytes apart.
 * Needs w, h >= 1 and h <= 257 * LC_SIGNALS_GRID; about 0.3 ms for a 1920x1080 rect on one core. Returns 0,
 * or -1 when out of memory (out->valid is then 0). Thread-safe. */
int lc_signals_compute(const uint8_t *luma, long stride, int w, int h, lc_signals *out);

/* The same from 32-bit pixels in memory order B, G, R, X (CoreGraphics'
 * little-endian "skip first" bitmaps, the macOS canvas): luma by JFIF's
 * BT.601 weights in libjpeg's fixed point, as the JPEG encoder makes it.
 * Returns 0, or -1 (out->valid 0). */
int lc_signals_from_bgrx(const uint8_t *bgrx, long stride, int w, int h, lc_signals *out);

/* The duplicate rule's block test (lifelog_compression/signals.py): how far
 * two thumbnails (LC_SIGNALS_THUMB squared levels each, row-major) differ
 * locally, in luma levels. Each cell's distance from the levels allowed by
 * the monotone tone curve fitted by ranks (histogram matching), both ways;
 * then the largest, over group x group groups of cells, of the smallest
 * distance in the group. -1 for a group outside 1..LC_SIGNALS_THUMB. */
int lc_block_difference(const uint8_t *kept, const uint8_t *thumb, int group);

#ifdef __cplusplus
}
#endif
#endif
