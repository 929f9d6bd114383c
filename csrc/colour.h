/*
 * colour.h: a picture already scaled to its content rect, still in the
 * source's own YCbCr matrix, range and bit depth, converted to the JPEG
 * encoder's planes (JFIF: BT.601 matrix, full range, 8 bits). Plain C.
 *
 * Converting after scaling means the colour work is done on at most
 * 1920x1080 samples whatever the source size, in one pass, without the RGB
 * round trip swscale takes whenever the two matrices differ. SDR is an affine
 * map of (Y, Cb, Cr); HDR sources (PQ, HLG) are tone mapped (tonemap.h).
 */
#ifndef LC_COLOUR_H
#define LC_COLOUR_H

#include <stdint.h>

#include "tonemap.h"

typedef struct lc_colour_desc {
    int depth;      /* bits per sample, 8..16; above 8 the samples are uint16_t */
    int full_range; /* 0: Y 16..235, C 16..240 (scaled to the depth) */
    double kr, kb;  /* luma coefficients of the source's matrix */
    lc_transfer transfer;
    int bt2020_primaries;  /* HDR only: the gamut to map from (else BT.709) */
    double peak_nits;      /* PQ: content peak from metadata, 0 if unknown */
    const char *peak_from; /* where peak_nits came from, for the description */
} lc_colour_desc;

typedef struct lc_colour lc_colour;

/* NULL without memory. */
lc_colour *lc_colour_new(const lc_colour_desc *desc);
void lc_colour_free(lc_colour *c);

/* Converts a width x height picture (both even when chroma_shift is 1).
 * chroma_shift 1: 4:2:0 in and out; 0: 4:4:4 in and out. */
void lc_colour_convert(const lc_colour *c, const uint8_t *const src[3], const int src_stride[3], uint8_t *const dst[3],
                       const int dst_stride[3], int width, int height, int chroma_shift);

/* What was done beyond matrix and range (the tone mapping), or NULL. */
const char *lc_colour_mapping(const lc_colour *c);

#endif
