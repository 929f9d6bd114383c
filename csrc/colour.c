/*
 * colour.c: source YCbCr (any matrix, range, depth) to JFIF planes, at
 * canvas size; see colour.h.
 *
 * SDR: every output sample is an affine function of the source's (Y, Cb, Cr),
 * folded with the range expansion into one 3x3 matrix and offset, in float so
 * that 10- to 16-bit input keeps its precision. Chroma comes from chroma
 * alone, luma takes the chroma sample of its 2x2 block in 4:2:0 (the luma
 * weights of Cb and Cr are small, at most 0.1 for BT.709 -> BT.601).
 * HDR: per pixel R'G'B' through the tone map, luma from each pixel and chroma
 * from the mean of the block's mapped R'G'B'.
 */
#include <stdlib.h>
#include <string.h>

#include "colour.h"

struct lc_colour {
    int depth;
    float a[3][3], o[3];        /* SDR: output code = a * (Y, Cb, Cr) code + o (rounding included) */
    float y_off, y_scale, c_off, c_scale;   /* HDR: code -> normalised y 0..1, c -0.5..0.5 */
    float rv, gu, gv, bu;       /* HDR: the source matrix's R'G'B' from (y, cb, cr) */
    lc_tonemap *tm;
    float *scratch;             /* three rows of two lines of floats */
    int scratch_width;
};

/* JFIF (BT.601, full range) from non-linear R'G'B' 0..1, in 8-bit codes. */
static const float JFIF[3][3] = {{0.299f, 0.587f, 0.114f},
                                 {-0.168736f, -0.331264f, 0.5f},
                                 {0.5f, -0.418688f, -0.081312f}};

static inline uint8_t to8(float v)
{
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

lc_colour *lc_colour_new(const lc_colour_desc *d)
{
    lc_colour *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->depth = d->depth;
    double unit = (double)(1 << (d->depth - 8));
    double y_off = d->full_range ? 0 : 16 * unit, y_range = d->full_range ? (1 << d->depth) - 1 : 219 * unit;
    double c_off = 128 * unit, c_range = d->full_range ? (1 << d->depth) - 1 : 224 * unit;
    double kr = d->kr, kb = d->kb, kg = 1.0 - kr - kb;
    /* Source R'G'B' from normalised (y, cb, cr). */
    double rgb[3][3] = {{1, 0, 2 * (1 - kr)},
                        {1, -2 * kb * (1 - kb) / kg, -2 * kr * (1 - kr) / kg},
                        {1, 2 * (1 - kb), 0}};
    double scale[3] = {1 / y_range, 1 / c_range, 1 / c_range}, off[3] = {y_off, c_off, c_off};
    for (int k = 0; k < 3; k++) {
        double base = k ? 128.0 + 0.5 : 0.5;
        for (int j = 0; j < 3; j++) {
            double m = 0;
            for (int i = 0; i < 3; i++)
                m += 255.0 * JFIF[k][i] * rgb[i][j];
            c->a[k][j] = (float)(m * scale[j]);
            base -= m * scale[j] * off[j];
        }
        c->o[k] = (float)base;
    }
    c->y_off = (float)y_off;
    c->y_scale = (float)(1 / y_range);
    c->c_off = (float)c_off;
    c->c_scale = (float)(1 / c_range);
    c->rv = (float)rgb[0][2];
    c->gu = (float)rgb[1][1];
    c->gv = (float)rgb[1][2];
    c->bu = (float)rgb[2][1];
    if (d->transfer != LC_TRANSFER_SDR &&
        !(c->tm = lc_tonemap_new(d->transfer, d->bt2020_primaries, d->peak_nits, d->peak_from))) {
        free(c);
        return NULL;
    }
    return c;
}

void lc_colour_free(lc_colour *c)
{
    if (!c)
        return;
    lc_tonemap_free(c->tm);
    free(c->scratch);
    free(c);
}

const char *lc_colour_mapping(const lc_colour *c)
{
    return c->tm ? lc_tonemap_describe(c->tm) : NULL;
}

/* The SDR affine map, for 8-bit (uint8_t) or deeper (uint16_t) samples. */
#define DEFINE_AFFINE(NAME, T)                                                                          \
    static void NAME(const lc_colour *c, const uint8_t *const src[3], const int ss[3],                  \
                     uint8_t *const dst[3], const int ds[3], int w, int h, int cs)                       \
    {                                                                                                   \
        const int cw = w >> cs;                                                                          \
        for (int y = 0; y < h; y++) {                                                                    \
            const T *ly = (const T *)(src[0] + (long)y * ss[0]);                                        \
            const T *cb = (const T *)(src[1] + (long)(y >> cs) * ss[1]);                                \
            const T *cr = (const T *)(src[2] + (long)(y >> cs) * ss[2]);                                \
            uint8_t *out = dst[0] + (long)y * ds[0];                                                     \
            for (int x = 0; x < w; x++)                                                                  \
                out[x] = to8(c->a[0][0] * ly[x] + c->a[0][1] * cb[x >> cs] + c->a[0][2] * cr[x >> cs] + \
                             c->o[0]);                                                                   \
            if (y & cs)                                                                                  \
                continue;                                                                                \
            uint8_t *ob = dst[1] + (long)(y >> cs) * ds[1], *orr = dst[2] + (long)(y >> cs) * ds[2];   \
            for (int x = 0; x < cw; x++) {                                                               \
                ob[x] = to8(c->a[1][1] * cb[x] + c->a[1][2] * cr[x] + c->o[1]);         \
                orr[x] = to8(c->a[2][1] * cb[x] + c->a[2][2] * cr[x] + c->o[2]);                         \
            }                                                                                            \
        }                                                                                                \
    }

DEFINE_AFFINE(affine8, uint8_t)
DEFINE_AFFINE(affine16, uint16_t)

/* HDR: `lines` (1 or 2) luma lines sharing one chroma line, through the tone map. */
#define DEFINE_MAPPED(NAME, T)                                                                          \
    static void NAME(lc_colour *c, const uint8_t *const src[3], const int ss[3], uint8_t *const dst[3],  \
                     const int ds[3], int w, int h, int cs)                                              \
    {                                                                                                   \
        const int lines = 1 << cs, n = w * lines;                                                        \
        float *r = c->scratch, *g = r + 2 * w, *b = g + 2 * w;                                          \
        for (int y = 0; y < h; y += lines) {                                                             \
            const T *cb = (const T *)(src[1] + (long)(y >> cs) * ss[1]);                                \
            const T *cr = (const T *)(src[2] + (long)(y >> cs) * ss[2]);                                \
            for (int l = 0; l < lines; l++) {                                                            \
                const T *ly = (const T *)(src[0] + (long)(y + l) * ss[0]);                              \
                for (int x = 0; x < w; x++) {                                                            \
                    float yn = ((float)ly[x] - c->y_off) * c->y_scale;                                   \
                    float u = ((float)cb[x >> cs] - c->c_off) * c->c_scale;                              \
                    float v = ((float)cr[x >> cs] - c->c_off) * c->c_scale;                              \
                    r[l * w + x] = yn + c->rv * v;                                                       \
                    g[l * w + x] = yn + c->gu * u + c->gv * v;                                           \
                    b[l * w + x] = yn + c->bu * u;                                                       \
                }                                                                                        \
            }                                                                                            \
            lc_tonemap_pixels(c->tm, r, g, b, n);                                                        \
            for (int l = 0; l < lines; l++) {                                                            \
                uint8_t *out = dst[0] + (long)(y + l) * ds[0];                                           \
                for (int x = 0; x < w; x++) {                                                            \
                    int i = l * w + x;                                                                   \
                    out[x] = to8(255.0f * (JFIF[0][0] * r[i] + JFIF[0][1] * g[i] + JFIF[0][2] * b[i]) +  \
                                 0.5f);                                                                  \
                }                                                                                        \
            }                                                                                            \
            uint8_t *ob = dst[1] + (long)(y >> cs) * ds[1], *orr = dst[2] + (long)(y >> cs) * ds[2];   \
            const float share = 255.0f / (float)(lines * lines);                                        \
            for (int x = 0; x < (w >> cs); x++) {                                                        \
                float rs = 0, gs = 0, bs = 0;                                                            \
                for (int l = 0; l < lines; l++)                                                          \
                    for (int k = 0; k < lines; k++) {                                                    \
                        int i = l * w + (x << cs) + k;                                                   \
                        rs += r[i];                                                                      \
                        gs += g[i];                                                                      \
                        bs += b[i];                                                                      \
                    }                                                                                    \
                ob[x] = to8(share * (JFIF[1][0] * rs + JFIF[1][1] * gs + JFIF[1][2] * bs) + 128.5f);    \
                orr[x] = to8(share * (JFIF[2][0] * rs + JFIF[2][1] * gs + JFIF[2][2] * bs) + 128.5f);   \
            }                                                                                            \
        }                                                                                                \
    }

DEFINE_MAPPED(mapped8, uint8_t)
DEFINE_MAPPED(mapped16, uint16_t)

int lc_colour_convert(lc_colour *c, const uint8_t *const src[3], const int src_stride[3],
                      uint8_t *const dst[3], const int dst_stride[3], int width, int height,
                      int chroma_shift)
{
    if (!c->tm) {
        (c->depth > 8 ? affine16 : affine8)(c, src, src_stride, dst, dst_stride, width, height, chroma_shift);
        return 0;
    }
    if (c->scratch_width < width) {
        float *grown = realloc(c->scratch, sizeof(float) * 6 * (size_t)width);
        if (!grown)
            return -1;
        c->scratch = grown;
        c->scratch_width = width;
    }
    (c->depth > 8 ? mapped16 : mapped8)(c, src, src_stride, dst, dst_stride, width, height, chroma_shift);
    return 0;
}
