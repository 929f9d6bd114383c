/*
 * signals.c: phash, sharpness, luma mean and clipping of a content rect's
 * luma (signals.h has the definitions). One pass over the plane sums each
 * grid row's pixel rows column by column and counts clipped pixels per column
 * (16-bit lanes, a loop GCC vectorises at -O3), then adds up each cell's
 * column run. Everything after that works on the 128x128 grid or the 32x32
 * thumbnail, so the cost is about one read of the luma plane: ~0.3 ms for
 * 1920x1080, about 1 % of a frame's decode, scale and encode
 * (docs/signals.md has the measurements).
 */
#include "signals.h"

/* Not M_PI: strict C11 does not define it. */
#define LC_PI 3.14159265358979323846

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define G LC_SIGNALS_GRID
#define T LC_SIGNALS_THUMB

/* Cell i of `cells` over n pixels: [lo, hi), never empty (signals.h). */
static void cell_edges(int n, int cells, int *lo, int *hi)
{
    for (int i = 0; i < cells; i++) {
        lo[i] = (int)((long)i * n / cells);
        int end = (int)((long)(i + 1) * n / cells);
        hi[i] = end > lo[i] ? end : lo[i] + 1;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* imagehash.phash's layout on the 32x32 thumbnail (signals.h). */
static uint64_t phash_of(const double *thumb)
{
    double basis[8][T]; /* basis[k][n] = cos(pi * (2n + 1) * k / 64) */
    for (int k = 0; k < 8; k++)
        for (int n = 0; n < T; n++)
            basis[k][n] = cos(LC_PI * (2 * n + 1) * k / (2.0 * T));
    double rows[T][8]; /* each thumbnail row's 8 lowest horizontal frequencies */
    for (int y = 0; y < T; y++)
        for (int u = 0; u < 8; u++) {
            double s = 0;
            for (int x = 0; x < T; x++)
                s += thumb[y * T + x] * basis[u][x];
            rows[y][u] = s;
        }
    double coef[64], sorted[64];
    for (int v = 0; v < 8; v++)
        for (int u = 0; u < 8; u++) {
            double s = 0;
            for (int y = 0; y < T; y++)
                s += rows[y][u] * basis[v][y];
            coef[v * 8 + u] = s;
        }
    memcpy(sorted, coef, sizeof coef);
    qsort(sorted, 64, sizeof sorted[0], cmp_double);
    double median = (sorted[31] + sorted[32]) / 2;
    uint64_t hash = 0;
    for (int i = 0; i < 64; i++)
        hash = (hash << 1) | (coef[i] > median);
    return hash;
}

/* Cell sums of a cells x cells grid, straight from the pixels: the slow
 * path for the thumbnail of a rect under G pixels a side. */
static void small_grid_means(const uint8_t *luma, long stride, int w, int h, int cells, double *means)
{
    int xlo[T], xhi[T], ylo[T], yhi[T];
    cell_edges(w, cells, xlo, xhi);
    cell_edges(h, cells, ylo, yhi);
    for (int r = 0; r < cells; r++)
        for (int c = 0; c < cells; c++) {
            uint64_t s = 0;
            for (int y = ylo[r]; y < yhi[r]; y++)
                for (int x = xlo[c]; x < xhi[c]; x++)
                    s += luma[(long)y * stride + x];
            means[r * cells + c] = (double)s / (double)((long)(xhi[c] - xlo[c]) * (yhi[r] - ylo[r]));
        }
}

int lc_signals_compute(const uint8_t *luma, long stride, int w, int h, lc_signals *out)
{
    out->valid = 0;
    if (w < 1 || h < 1)
        return -1;
    /* 16-bit column sums: a grid row spans at most 257 pixel rows (h <= 257 G)
     * and the clipped counts at most 65535 rows, so neither can overflow. */
    if (h > 257 * G)
        return -1;
    uint16_t *colacc = malloc(sizeof *colacc * 2 * (size_t)w);
    if (!colacc)
        return -1;
    uint16_t *clipcol = colacc + w;
    memset(clipcol, 0, sizeof *clipcol * (size_t)w);
    int xlo[G], xhi[G], ylo[G], yhi[G];
    double inv_w[G];
    cell_edges(w, G, xlo, xhi);
    cell_edges(h, G, ylo, yhi);
    for (int c = 0; c < G; c++)
        inv_w[c] = 1.0 / (xhi[c] - xlo[c]);
    /* The grid goes by three rows at a time (the Laplacian's reach), and each
     * grid cell's sum into its thumbnail cell when the grid tiles the rect. */
    const int tiled = w >= G && h >= G;
    double rows[3][G], thumb[T * T];
    uint64_t thumb_sum[T * T] = {0};
    double ls = 0, lss = 0;
    uint64_t total = 0, clipped = 0;
    for (int r = 0; r < G; r++) {
        /* Rows of one grid row, added column by column (vectorised); each
         * pixel's clipping counted in its column too when rows are not
         * shared between grid rows (a rect at least G rows high). */
        const uint8_t *row = luma + (long)ylo[r] * stride;
        for (int x = 0; x < w; x++) {
            colacc[x] = row[x];
            clipcol[x] += (uint8_t)(row[x] - 17) >= 218; /* <= 16 or >= 235 */
        }
        for (int y = ylo[r] + 1; y < yhi[r]; y++) {
            row = luma + (long)y * stride;
            for (int x = 0; x < w; x++) {
                colacc[x] += row[x];
                clipcol[x] += (uint8_t)(row[x] - 17) >= 218;
            }
        }
        double *cur = rows[r % 3];
        const double inv_h = 1.0 / (yhi[r] - ylo[r]);
        for (int c = 0; c < G; c++) {
            uint32_t cell = 0;
            for (int x = xlo[c]; x < xhi[c]; x++)
                cell += colacc[x];
            total += cell;
            cur[c] = cell * inv_w[c] * inv_h;
            if (tiled)
                thumb_sum[(r / (G / T)) * T + c / (G / T)] += cell;
        }
        if (r >= 2) {
            const double *up = rows[(r - 2) % 3], *mid = rows[(r - 1) % 3];
            for (int c = 1; c < G - 1; c++) {
                double lap = up[c] + cur[c] + mid[c - 1] + mid[c + 1] - 4 * mid[c];
                ls += lap;
                lss += lap * lap;
            }
        }
    }
    for (int x = 0; x < w; x++)
        clipped += clipcol[x];
    free(colacc);
    if (!tiled) { /* rows were shared or skipped: count every pixel once */
        total = clipped = 0;
        for (int y = 0; y < h; y++) {
            const uint8_t *row = luma + (long)y * stride;
            for (int x = 0; x < w; x++) {
                total += row[x];
                clipped += (uint8_t)(row[x] - 17) >= 218;
            }
        }
        small_grid_means(luma, stride, w, h, T, thumb);
    } else {
        for (int ty = 0; ty < T; ty++)
            for (int tx = 0; tx < T; tx++) {
                const int k = G / T; /* grid cells per thumbnail cell, each way */
                long n = (long)(xhi[tx * k + k - 1] - xlo[tx * k]) * (yhi[ty * k + k - 1] - ylo[ty * k]);
                thumb[ty * T + tx] = (double)thumb_sum[ty * T + tx] / (double)n;
            }
    }
    for (int i = 0; i < T * T; i++)
        out->thumb[i] = (uint8_t)(thumb[i] + 0.5);
    out->phash = phash_of(thumb);
    const double n_lap = (double)(G - 2) * (G - 2);
    double var = lss / n_lap - (ls / n_lap) * (ls / n_lap);
    out->sharpness = var > 0 ? var : 0;
    out->luma_mean = (double)total / ((double)w * h);
    out->luma_clipped = (double)clipped / ((double)w * h);
    out->valid = 1;
    return 0;
}

int lc_signals_from_bgrx(const uint8_t *bgrx, long stride, int w, int h, lc_signals *out)
{
    out->valid = 0;
    if (w < 1 || h < 1)
        return -1;
    uint8_t *luma = malloc((size_t)w * (size_t)h);
    if (!luma)
        return -1;
    for (int y = 0; y < h; y++) {
        const uint8_t *px = bgrx + (long)y * stride;
        uint8_t *row = luma + (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++, px += 4)
            row[x] = (uint8_t)((19595u * px[2] + 38470u * px[1] + 7471u * px[0] + 32768u) >> 16);
    }
    int ret = lc_signals_compute(luma, w, w, h, out);
    free(luma);
    return ret;
}

/* For each level of src, the lowest and highest level dst holds at the ranks
 * src's cells of that level take: the monotone tone curve from src to dst
 * fitted by ranks, ties giving an interval. */
static void rank_levels(const uint8_t *src, const uint8_t *dst, int n, uint8_t lo[256], uint8_t hi[256])
{
    int counts[256] = {0}, dst_counts[256] = {0};
    uint8_t ordered[LC_SIGNALS_THUMB * LC_SIGNALS_THUMB];
    for (int i = 0; i < n; i++) {
        counts[src[i]]++;
        dst_counts[dst[i]]++;
    }
    for (int level = 0, k = 0; level < 256; level++) /* counting sort of dst */
        for (int c = 0; c < dst_counts[level]; c++)
            ordered[k++] = (uint8_t)level;
    memset(lo, 0, 256);
    memset(hi, 0, 256);
    for (int level = 0, rank = 0; level < 256; level++) {
        if (!counts[level])
            continue;
        lo[level] = ordered[rank];
        hi[level] = ordered[rank + counts[level] - 1];
        rank += counts[level];
    }
}

static int most(int a, int b)
{
    return a > b ? a : b;
}

int lc_block_difference(const uint8_t *kept, const uint8_t *thumb, int group)
{
    uint8_t to_kept_lo[256], to_kept_hi[256], to_new_lo[256], to_new_hi[256];
    int far[T * T];
    if (group < 1 || group > T)
        return -1;
    rank_levels(thumb, kept, T * T, to_kept_lo, to_kept_hi);
    rank_levels(kept, thumb, T * T, to_new_lo, to_new_hi);
    for (int i = 0; i < T * T; i++) {
        int a = kept[i], b = thumb[i];
        far[i] = most(most(0, to_kept_lo[b] - a), most(a - to_kept_hi[b], most(to_new_lo[a] - b, b - to_new_hi[a])));
    }
    /* The worst group of group x group cells, each group judged by its
     * nearest cell: a lone cell off the curve is no local change. */
    int worst = 0;
    for (int r = 0; r + group <= T; r++)
        for (int c = 0; c + group <= T; c++) {
            int nearest = INT32_MAX;
            for (int dr = 0; dr < group; dr++)
                for (int dc = 0; dc < group; dc++)
                    if (far[(r + dr) * T + c + dc] < nearest)
                        nearest = far[(r + dr) * T + c + dc];
            worst = most(worst, nearest);
        }
    return worst;
}
