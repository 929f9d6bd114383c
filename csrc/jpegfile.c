/*
 * jpegfile.c: reading and trimming an encoder's JPEG output (see jpegfile.h).
 * Every read is bounded by `size`; a malformed stream gives "not found".
 */
#include "jpegfile.h"

#include <string.h>

/* ITU T.81 table K.1 (luminance), natural order: libjpeg scales it by quality. */
static const uint16_t k1_luma[64] = {16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
                                     14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
                                     18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
                                     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};

/* Position in natural order of the k-th coefficient in zigzag (file) order. */
static const unsigned char zigzag[64] = {0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,
                                         12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28,
                                         35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
                                         58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

typedef struct segment {
    unsigned char marker;
    size_t start; /* offset of the 0xFF of the marker */
    size_t end;   /* offset just past the segment */
} segment;

/* The segment starting at or after *pos (fill bytes skipped). 1 if one was
 * read, 0 at the end of the headers (SOS, EOI) or on a malformed stream: then
 * seg->marker is 0xDA for SOS and 0 otherwise. */
static int next_segment(const unsigned char *p, size_t size, size_t *pos, segment *seg)
{
    size_t i = *pos;
    seg->marker = 0;
    if (i >= size || p[i] != 0xFF)
        return 0;
    while (i < size && p[i] == 0xFF)
        i++;
    if (i >= size)
        return 0;
    seg->start = *pos;
    seg->marker = p[i++];
    if (seg->marker == 0xDA || seg->marker == 0xD9 || seg->marker == 0x00)
        return 0;
    if ((seg->marker >= 0xD0 && seg->marker <= 0xD7) || seg->marker == 0x01) {
        seg->end = i;
    } else {
        if (size - i < 2)
            return 0;
        size_t len = (size_t)p[i] << 8 | p[i + 1];
        if (len < 2 || len > size - i)
            return 0;
        seg->end = i + len;
    }
    *pos = seg->end;
    return 1;
}

int lc_jpeg_luma_table(const unsigned char *jpeg, size_t size, uint16_t table[64])
{
    size_t pos = 2;
    segment seg;
    if (size < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8)
        return -1;
    while (next_segment(jpeg, size, &pos, &seg)) {
        if (seg.marker != 0xDB)
            continue;
        size_t i = seg.start + 4; /* FF DB, two length bytes */
        while (i < seg.end) {
            int precision = jpeg[i] >> 4, id = jpeg[i] & 15;
            size_t bytes = precision ? 128 : 64;
            if (seg.end - i - 1 < bytes)
                break;
            if (id == 0) {
                for (int k = 0; k < 64; k++)
                    table[zigzag[k]] = precision ? (uint16_t)(jpeg[i + 1 + 2 * k] << 8 | jpeg[i + 2 + 2 * k])
                                                 : jpeg[i + 1 + k];
                return 0;
            }
            i += 1 + bytes;
        }
    }
    return -1;
}

int lc_jpeg_ijg_quality(const uint16_t table[64])
{
    int best = 1;
    long best_diff = -1;
    for (int q = 100; q >= 1; q--) {
        long scale = q < 50 ? 5000 / q : 200 - 2 * q, diff = 0; /* jpeg_quality_scaling */
        for (int k = 0; k < 64; k++) {
            long v = (k1_luma[k] * scale + 50) / 100; /* jpeg_add_quant_table */
            v = v < 1 ? 1 : v > 255 ? 255 : v;        /* force_baseline */
            diff += v > table[k] ? v - table[k] : table[k] - v;
        }
        if (best_diff < 0 || diff < best_diff) {
            best_diff = diff;
            best = q;
        }
    }
    return best;
}

int lc_jpeg_subsampling(const unsigned char *jpeg, size_t size)
{
    size_t pos = 2;
    segment seg;
    if (size < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8)
        return -1;
    while (next_segment(jpeg, size, &pos, &seg)) {
        unsigned char m = seg.marker;
        if (m < 0xC0 || m > 0xCF || m == 0xC4 || m == 0xC8 || m == 0xCC)
            continue;
        const unsigned char *f = jpeg + seg.start + 4; /* P, Y(2), X(2), Nf, then 3 bytes a component */
        if (seg.end - seg.start < 4 + 6 || f[5] != 3 || seg.end - seg.start < 4 + 6 + 9)
            return 0;
        int h = f[7] >> 4, v = f[7] & 15;
        for (int c = 1; c < 3; c++)
            if (f[6 + 3 * c + 1] != 0x11)
                return 0;
        if (h == 1 && v == 1)
            return 444;
        if (h == 2 && v == 1)
            return 422;
        if (h == 2 && v == 2)
            return 420;
        if (h == 1 && v == 2)
            return 440;
        if (h == 4 && v == 1)
            return 411;
        return 0;
    }
    return -1;
}

size_t lc_jpeg_strip_metadata(unsigned char *jpeg, size_t size)
{
    size_t pos = 2, out = 2;
    segment seg;
    if (size < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8)
        return size;
    /* First pass: the headers must parse up to the scan, or nothing is touched. */
    while (next_segment(jpeg, size, &pos, &seg))
        ;
    if (seg.marker != 0xDA)
        return size;
    pos = 2;
    while (next_segment(jpeg, size, &pos, &seg)) {
        int metadata = (seg.marker >= 0xE1 && seg.marker <= 0xEF) || seg.marker == 0xFE;
        if (!metadata) {
            memmove(jpeg + out, jpeg + seg.start, seg.end - seg.start);
            out += seg.end - seg.start;
        }
    }
    /* pos is at the SOS marker: the scan and everything after it stay. */
    memmove(jpeg + out, jpeg + pos, size - pos);
    return out + (size - pos);
}

double lc_jpeg_calibrate(int target, double max_setting, int (*quality_at)(void *ctx, double setting), void *ctx,
                         int *got)
{
    double lo = 0, hi = max_setting, best = -1;
    int best_q = -1;
    /* Smallest setting whose quality reaches target, remembering the nearest seen. */
    for (int probe = 0; probe < 12; probe++) {
        double mid = probe == 0 ? hi : (lo + hi) / 2;
        int q = quality_at(ctx, mid);
        if (q < 0)
            break;
        int d = q > target ? q - target : target - q, bd = best_q > target ? best_q - target : target - best_q;
        if (best_q < 0 || d < bd || (d == bd && mid < best)) {
            best = mid;
            best_q = q;
        }
        if (probe == 0) {
            if (q <= target)
                break; /* even the highest setting is at or below the target */
            continue;
        }
        if (q >= target)
            hi = mid;
        else
            lo = mid;
    }
    *got = best_q;
    if (best_q < 0)
        return target / 100.0 < max_setting ? target / 100.0 : max_setting;
    return best;
}
