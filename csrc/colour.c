/*
 * colour.c: source YCbCr (any matrix, range, depth) to JFIF planes, at
 * canvas size; see colour.h.
 *
 * SDR: every output sample is an affine function of the source's (Y, Cb, Cr),
 * folded with the range expansion into one 3x3 matrix and offset, in float so
 * that 10- to 16-bit input keeps its precision. Chroma comes from chroma
 * alone, luma takes the chroma sample of its 2x2 block in 4:2:0 (the luma
 * weights of Cb and Cr are small, at most 0.1 for BT.709 -> BT.601).
 * HDR: the tone map tabulated on a lattice of (Y, Cb, Cr) and interpolated,
 * luma from each pixel and chroma from the mean of the block's mapped colours.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "colour.h"

struct lc_colour {
    int depth;
    float a[3][3], o[3];                  /* SDR: output code = a * (Y, Cb, Cr) code + o (rounding included) */
    float y_off, y_scale, c_off, c_scale; /* HDR: code -> normalised y 0..1, c -0.5..0.5 */
    float rv, gu, gv, bu;                 /* HDR: the source matrix's R'G'B' from (y, cb, cr) */
    lc_tonemap *tm;
    float *grid;                    /* HDR: the tabulated map (see build_grid) */
    float grid_scale, grid_scale_y; /* code -> lattice coordinate (chroma, luma) */
};

/* JFIF (BT.601, full range) from non-linear R'G'B' 0..1, in 8-bit codes. */
static const float JFIF[3][3] = {{0.299f, 0.587f, 0.114f},
                                 {-0.168736f, -0.331264f, 0.5f},
                                 {0.5f, -0.418688f, -0.081312f}};

static inline uint8_t to8(float v)
{
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

static int build_grid(lc_colour *c);

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
        (!(c->tm = lc_tonemap_new(d->transfer, d->bt2020_primaries, d->peak_nits, d->peak_from)) ||
         build_grid(c) != 0)) {
        lc_colour_free(c);
        return NULL;
    }
    return c;
}

void lc_colour_free(lc_colour *c)
{
    if (!c)
        return;
    lc_tonemap_free(c->tm);
    free(c->grid);
    free(c);
}

const char *lc_colour_mapping(const lc_colour *c)
{
    return c->tm ? lc_tonemap_describe(c->tm) : NULL;
}

/* The SDR affine map, for 8-bit (uint8_t) or deeper (uint16_t) samples, in
 * fixed point with `shift` fraction bits (sized so no sum overflows 32 bits
 * at any depth). Coefficients are copied to locals: the output bytes may
 * alias anything, so the compiler would reload them for every pixel.
 * Laid out for the compiler's vectorizer (as plain per-pixel loops the 8-bit
 * map cost 4.3 ms per 1080p picture, 1.7 ms like this): the luma term of
 * each chroma sample is computed once per chroma row, for a strip of
 * STRIP samples at a time, and widened to one entry per luma pixel, so each
 * luma row is one contiguous multiply-add. */
#define STRIP 512
#define DEFINE_AFFINE(NAME, T)                                                                                         \
    static void NAME(const lc_colour *c, const uint8_t *const src[3], const int ss[3], uint8_t *const dst[3],          \
                     const int ds[3], int w, int h, int cs)                                                            \
    {                                                                                                                  \
        const int shift = c->depth > 10 ? 20 : 16;                                                                     \
        const float one = (float)(1 << shift);                                                                         \
        const int32_t yy = (int32_t)lrintf(c->a[0][0] * one), yb = (int32_t)lrintf(c->a[0][1] * one);                  \
        const int32_t yr = (int32_t)lrintf(c->a[0][2] * one), yo = (int32_t)lrintf(c->o[0] * one);                     \
        const int32_t bb = (int32_t)lrintf(c->a[1][1] * one), br = (int32_t)lrintf(c->a[1][2] * one);                  \
        const int32_t bo = (int32_t)lrintf(c->o[1] * one), rb = (int32_t)lrintf(c->a[2][1] * one);                     \
        const int32_t rr = (int32_t)lrintf(c->a[2][2] * one), ro = (int32_t)lrintf(c->o[2] * one);                     \
        const int32_t top = 255 << shift;                                                                              \
        const int cw = w >> cs;                                                                                        \
        int32_t tc[STRIP], tl[2 * STRIP];                                                                              \
        for (int x0 = 0; x0 < cw; x0 += STRIP) {                                                                       \
            const int n = cw - x0 < STRIP ? cw - x0 : STRIP, ln = n << cs;                                             \
            for (int y = 0; y < h; y++) {                                                                              \
                if (!(y & cs)) {                                                                                       \
                    const T *restrict cb = (const T *)(src[1] + (long)(y >> cs) * ss[1]) + x0;                         \
                    const T *restrict cr = (const T *)(src[2] + (long)(y >> cs) * ss[2]) + x0;                         \
                    uint8_t *restrict ob = dst[1] + (long)(y >> cs) * ds[1] + x0;                                      \
                    uint8_t *restrict orr = dst[2] + (long)(y >> cs) * ds[2] + x0;                                     \
                    for (int x = 0; x < n; x++) {                                                                      \
                        int32_t b = bb * cb[x] + br * cr[x] + bo, r = rb * cb[x] + rr * cr[x] + ro;                    \
                        tc[x] = yb * cb[x] + yr * cr[x] + yo;                                                          \
                        b = b < 0 ? 0 : b > top ? top : b;                                                             \
                        r = r < 0 ? 0 : r > top ? top : r;                                                             \
                        ob[x] = (uint8_t)(b >> shift);                                                                 \
                        orr[x] = (uint8_t)(r >> shift);                                                                \
                    }                                                                                                  \
                    if (cs)                                                                                            \
                        for (int x = 0; x < n; x++)                                                                    \
                            tl[2 * x] = tl[2 * x + 1] = tc[x];                                                         \
                    else                                                                                               \
                        memcpy(tl, tc, sizeof tc[0] * (size_t)n);                                                      \
                }                                                                                                      \
                const T *restrict ly = (const T *)(src[0] + (long)y * ss[0]) + (x0 << cs);                             \
                uint8_t *restrict out = dst[0] + (long)y * ds[0] + (x0 << cs);                                         \
                for (int x = 0; x < ln; x++) {                                                                         \
                    int32_t v = yy * ly[x] + tl[x];                                                                    \
                    v = v < 0 ? 0 : v > top ? top : v;                                                                 \
                    out[x] = (uint8_t)(v >> shift);                                                                    \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }

DEFINE_AFFINE(affine8, uint8_t)
DEFINE_AFFINE(affine16, uint16_t)

/* HDR: the tone map is tabulated once per source on a GRID_Y x GRID x GRID lattice of
 * (Y, Cb, Cr) codes, with the JFIF (Y, Cb, Cr) it gives, and interpolated
 * trilinearly per pixel. Mapped light in BT.1886-encoded SDR is smooth in the
 * HDR signal (HLG's square-root segment and gamma 1.2 / 2.4 cancel; PQ and
 * gamma 2.4 are both near-perceptual), so 33 luma and 65 chroma nodes keep it
 * within a level or two on flat colours (tests/test_hdr.py) at a quarter of the per-pixel
 * cost of running the curves (docs/benchmarks.md). In a 4:2:0 block the
 * chroma weights are shared, so the lattice is first reduced along chroma to
 * the few luma nodes the block's pixels need. */
#define GRID_Y 33 /* luma nodes (65 changed no error measured here, and cost 25 %) */
#define GRID 65   /* chroma nodes: PQ saturated colours need them (33 doubled the mean error) */

static int build_grid(lc_colour *c)
{
    float r[GRID], g[GRID], b[GRID];
    const double top = (double)((1 << c->depth) - 1);
    if (!(c->grid = malloc(sizeof(float) * 3 * GRID_Y * GRID * GRID)))
        return -1;
    c->grid_scale = (float)((GRID - 1) / top);
    c->grid_scale_y = (float)((GRID_Y - 1) / top);
    for (int iy = 0; iy < GRID_Y; iy++)
        for (int iu = 0; iu < GRID; iu++) {
            for (int iv = 0; iv < GRID; iv++) {
                float yn = ((float)(iy * top / (GRID_Y - 1)) - c->y_off) * c->y_scale;
                float u = ((float)(iu * top / (GRID - 1)) - c->c_off) * c->c_scale;
                float v = ((float)(iv * top / (GRID - 1)) - c->c_off) * c->c_scale;
                r[iv] = yn + c->rv * v;
                g[iv] = yn + c->gu * u + c->gv * v;
                b[iv] = yn + c->bu * u;
            }
            lc_tonemap_pixels(c->tm, r, g, b, GRID);
            float *node = c->grid + (size_t)((iy * GRID + iu) * GRID) * 3;
            for (int iv = 0; iv < GRID; iv++)
                for (int k = 0; k < 3; k++)
                    node[iv * 3 + k] = 255.0f * (JFIF[k][0] * r[iv] + JFIF[k][1] * g[iv] + JFIF[k][2] * b[iv]) +
                                       (k ? 128.0f : 0.0f);
        }
    return 0;
}

#define DEFINE_MAPPED(NAME, T)                                                                                         \
    static void NAME(const lc_colour *c, const uint8_t *const src[3], const int ss[3], uint8_t *const dst[3],          \
                     const int ds[3], int w, int h, int cs)                                                            \
    {                                                                                                                  \
        const int lines = 1 << cs, cw = w >> cs;                                                                       \
        const float *restrict grid = c->grid, gs = c->grid_scale, gsy = c->grid_scale_y;                               \
        const float share = 1.0f / (float)(lines * lines);                                                             \
        float reduced[GRID_Y][3];                                                                                      \
        for (int y = 0; y < h; y += lines) {                                                                           \
            const T *cb = (const T *)(src[1] + (long)(y >> cs) * ss[1]);                                               \
            const T *cr = (const T *)(src[2] + (long)(y >> cs) * ss[2]);                                               \
            uint8_t *ob = dst[1] + (long)(y >> cs) * ds[1], *orr = dst[2] + (long)(y >> cs) * ds[2];                   \
            for (int x = 0; x < cw; x++) {                                                                             \
                float fu = (float)cb[x] * gs, fv = (float)cr[x] * gs;                                                  \
                int iu = (int)fu, iv = (int)fv;                                                                        \
                iu = iu > GRID - 2 ? GRID - 2 : iu;                                                                    \
                iv = iv > GRID - 2 ? GRID - 2 : iv;                                                                    \
                float au = fu - (float)iu, av = fv - (float)iv;                                                        \
                float w00 = (1 - au) * (1 - av), w01 = (1 - au) * av, w10 = au * (1 - av), w11 = au * av;              \
                int iy[4], lo = GRID_Y, hi = 0;                                                                        \
                float ay[4];                                                                                           \
                for (int l = 0; l < lines; l++)                                                                        \
                    for (int k = 0; k < lines; k++) {                                                                  \
                        const T *ly = (const T *)(src[0] + (long)(y + l) * ss[0]);                                     \
                        float f = (float)ly[(x << cs) + k] * gsy;                                                      \
                        int i = (int)f;                                                                                \
                        i = i > GRID_Y - 2 ? GRID_Y - 2 : i;                                                           \
                        iy[l * lines + k] = i;                                                                         \
                        ay[l * lines + k] = f - (float)i;                                                              \
                        lo = i < lo ? i : lo;                                                                          \
                        hi = i + 1 > hi ? i + 1 : hi;                                                                  \
                    }                                                                                                  \
                for (int n = lo; n <= hi; n++) {                                                                       \
                    const float *p = grid + (size_t)(((n * GRID + iu) * GRID + iv) * 3);                               \
                    for (int ch = 0; ch < 3; ch++)                                                                     \
                        reduced[n][ch] = w00 * p[ch] + w01 * p[3 + ch] + w10 * p[GRID * 3 + ch] +                      \
                                         w11 * p[GRID * 3 + 3 + ch];                                                   \
                }                                                                                                      \
                float sb = 0, sr = 0;                                                                                  \
                for (int l = 0; l < lines; l++)                                                                        \
                    for (int k = 0; k < lines; k++) {                                                                  \
                        int q = l * lines + k;                                                                         \
                        const float *a = reduced[iy[q]], *b = reduced[iy[q] + 1];                                      \
                        dst[0][(long)(y + l) * ds[0] + (x << cs) + k] = to8(a[0] + ay[q] * (b[0] - a[0]) + 0.5f);      \
                        sb += a[1] + ay[q] * (b[1] - a[1]);                                                            \
                        sr += a[2] + ay[q] * (b[2] - a[2]);                                                            \
                    }                                                                                                  \
                ob[x] = to8(sb * share + 0.5f);                                                                        \
                orr[x] = to8(sr * share + 0.5f);                                                                       \
            }                                                                                                          \
        }                                                                                                              \
    }

DEFINE_MAPPED(mapped8, uint8_t)
DEFINE_MAPPED(mapped16, uint16_t)

void lc_colour_convert(const lc_colour *c, const uint8_t *const src[3], const int src_stride[3], uint8_t *const dst[3],
                       const int dst_stride[3], int width, int height, int chroma_shift)
{
    if (!c->tm)
        (c->depth > 8 ? affine16 : affine8)(c, src, src_stride, dst, dst_stride, width, height, chroma_shift);
    else
        (c->depth > 8 ? mapped16 : mapped8)(c, src, src_stride, dst, dst_stride, width, height, chroma_shift);
}
