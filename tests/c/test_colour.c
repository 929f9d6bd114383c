/*
 * test_colour.c: csrc/colour.c's SDR conversion against the definition,
 * pixel by pixel: source YCbCr (matrix, range, depth) -> R'G'B' -> JFIF
 * YCbCr, in double precision, with luma taking the chroma sample of its
 * block. Fixed-point rounding may differ by one code; anything more is a
 * wrong sample (a strip, row or plane mixed up). Sizes cross the strip
 * width, strides are padded, odd heights and 4:4:4 are included.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colour.h"

static int failures;

static double clamp255(double v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

static unsigned sample(const uint8_t *plane, int stride, int x, int y, int depth)
{
    return depth > 8 ? ((const uint16_t *)(plane + (long)y * stride))[x] : plane[(long)y * stride + x];
}

static void check(int depth, int full_range, double kr, double kb, int w, int h, int cs)
{
    lc_colour_desc d = {.depth = depth, .full_range = full_range, .kr = kr, .kb = kb, .transfer = LC_TRANSFER_SDR};
    lc_colour *c = lc_colour_new(&d);
    int bps = depth > 8 ? 2 : 1, cw = w >> cs, ch = (h + cs) >> cs;
    int ss[3] = {w * bps + 24, cw * bps + 8, cw * bps + 8}, ds[3] = {w + 7, cw + 3, cw + 3}, rows[3] = {h, ch, ch};
    uint8_t *src[3], *dst[3];
    for (int p = 0; p < 3; p++) {
        src[p] = malloc((size_t)ss[p] * rows[p]);
        dst[p] = calloc((size_t)ds[p] * rows[p], 1);
        for (long i = 0; i < (long)ss[p] * rows[p] / bps; i++) {
            unsigned v = (unsigned)rand() & ((1u << depth) - 1);
            if (bps == 2)
                ((uint16_t *)src[p])[i] = (uint16_t)v;
            else
                src[p][i] = (uint8_t)v;
        }
    }
    lc_colour_convert(c, (const uint8_t *const *)src, ss, dst, ds, w, h, cs);
    double unit = 1 << (depth - 8), kg = 1 - kr - kb;
    double y_off = full_range ? 0 : 16 * unit, y_range = full_range ? (1 << depth) - 1 : 219 * unit;
    double c_off = 128 * unit, c_range = full_range ? (1 << depth) - 1 : 224 * unit;
    int worst = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < (cw << cs); x++) {
            double yn = (sample(src[0], ss[0], x, y, depth) - y_off) / y_range;
            double cb = (sample(src[1], ss[1], x >> cs, y >> cs, depth) - c_off) / c_range;
            double cr = (sample(src[2], ss[2], x >> cs, y >> cs, depth) - c_off) / c_range;
            double r = yn + 2 * (1 - kr) * cr, b = yn + 2 * (1 - kb) * cb;
            double g = yn - 2 * kb * (1 - kb) / kg * cb - 2 * kr * (1 - kr) / kg * cr;
            double want[3] = {clamp255(255 * (0.299 * r + 0.587 * g + 0.114 * b)),
                              clamp255(128 + 255 * (-0.168736 * r - 0.331264 * g + 0.5 * b)),
                              clamp255(128 + 255 * (0.5 * r - 0.418688 * g - 0.081312 * b))};
            for (int p = 0; p < 3; p++) {
                if (p && ((x & cs) || (y & cs)))
                    continue;   /* one chroma sample per block */
                int px = p ? x >> cs : x, py = p ? y >> cs : y;
                int got = dst[p][(long)py * ds[p] + px], diff = abs(got - (int)floor(want[p] + 0.5));
                if (diff > worst)
                    worst = diff;
            }
        }
    if (worst > 1) {
        printf("FAIL depth %d range %s %s %dx%d: off by %d\n", depth, full_range ? "full" : "limited",
               cs ? "4:2:0" : "4:4:4", w, h, worst);
        failures++;
    }
    for (int p = 0; p < 3; p++) {
        free(src[p]);
        free(dst[p]);
    }
    lc_colour_free(c);
}

int main(void)
{
    static const int sizes[][2] = {{1920, 1080}, {1440, 1081}, {2, 2}, {1026, 7}, {4002, 3}, {2, 5}};
    srand(7);
    int cases = 0;
    for (int depth = 8; depth <= 12; depth += 2)
        for (int full = 0; full < 2; full++)
            for (int cs = 0; cs < 2; cs++)
                for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++, cases++)
                    check(depth, full, i % 2 ? 0.299 : 0.2126, i % 2 ? 0.114 : 0.0722, sizes[i][0], sizes[i][1], cs);
    if (failures)
        return 1;
    printf("ok %d cases\n", cases);
    return 0;
}
