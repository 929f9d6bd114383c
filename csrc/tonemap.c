/*
 * tonemap.c: HDR to SDR R'G'B' by tables (see tonemap.h for the mapping).
 *
 * Why tables and not libavfilter's zscale + tonemap: the mapping runs once per
 * pictured frame on the 1920x1080 result only, and the curves are cheap to
 * tabulate once per source; zscale would need float RGB planes and a filter
 * graph per worker, and libavfilter is not otherwise linked.
 * docs/benchmarks.md has the measured cost of both.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tonemap.h"

/* Signal tables: uniform in the non-linear signal, interpolated. */
#define SIGNAL_STEPS 4096

/* Light tables: indexed by a float's exponent and top mantissa bits, so the
 * steps are a constant ratio (2^(1/32), 2 %) from 2^LIGHT_LO to 2^LIGHT_HI,
 * and interpolated linearly inside a step: accurate in the shadows, where a
 * uniform table would need millions of entries. */
#define LIGHT_LO (-24)
#define LIGHT_HI 6
#define LIGHT_MB 5
#define LIGHT_N (((LIGHT_HI - LIGHT_LO) << LIGHT_MB) + 1)

/* Everything up to this share of reference white is left as it is. */
#define KNEE 0.8

struct lc_tonemap {
    lc_transfer transfer;
    int gamut; /* BT.2020 -> BT.709 needed */
    float to_709[3][3];
    float signal[SIGNAL_STEPS + 1]; /* signal -> light (HLG: scene, PQ: display / ref. white) */
    float ootf[LIGHT_N];            /* HLG: scene luminance -> display gain */
    float tone[LIGHT_N];            /* max(R,G,B) -> gain of the roll-off */
    float encode[LIGHT_N];          /* linear SDR light -> BT.1886 signal */
    double peak;                    /* content peak / reference white */
    char description[512];
};

static inline float lookup_signal(const float *restrict table, float s)
{
    float f = s <= 0.0f ? 0.0f : s >= 1.0f ? (float)SIGNAL_STEPS - 0.5f : s * SIGNAL_STEPS;
    int i = (int)f;
    return table[i] + (table[i + 1] - table[i]) * (f - (float)i);
}

static inline float lookup_light(const float *restrict table, float x)
{
    union {
        float f;
        uint32_t u;
    } v = {x};
    const uint32_t lo = (uint32_t)(127 + LIGHT_LO) << 23;
    const uint32_t hi = (uint32_t)(127 + LIGHT_HI) << 23;
    if (!(x > 0.0f) || v.u <= lo)
        return table[0];
    if (v.u >= hi)
        return table[LIGHT_N - 1];
    uint32_t rel = v.u - lo;
    uint32_t i = rel >> (23 - LIGHT_MB);
    float frac = (float)(rel & ((1u << (23 - LIGHT_MB)) - 1)) * (1.0f / (float)(1u << (23 - LIGHT_MB)));
    return table[i] + (table[i + 1] - table[i]) * frac;
}

static double light_at(int i)
{
    return ldexp(1.0 + (double)(i & ((1 << LIGHT_MB) - 1)) / (1 << LIGHT_MB), LIGHT_LO + (i >> LIGHT_MB));
}

/* BT.2100 HLG inverse OETF: signal -> normalised scene light. */
static double hlg_to_scene(double e)
{
    const double a = 0.17883277, b = 1.0 - 4.0 * a, c = 0.5 - a * log(4.0 * a);
    return e <= 0.5 ? e * e / 3.0 : (exp((e - c) / a) + b) / 12.0;
}

/* SMPTE ST 2084 EOTF: signal -> cd/m2. */
static double pq_to_nits(double e)
{
    const double m1 = 2610.0 / 16384, m2 = 2523.0 / 4096 * 128;
    const double c1 = 3424.0 / 4096, c2 = 2413.0 / 4096 * 32, c3 = 2392.0 / 4096 * 32;
    double p = pow(e > 0 ? e : 0, 1.0 / m2);
    double num = p - c1 > 0 ? p - c1 : 0;
    return 10000.0 * pow(num / (c2 - c3 * p), 1.0 / m1);
}

/* The Mobius roll-off: identity up to j, then (x + a) / (x + b) scaled so
 * that it meets the identity with the same slope at j and reaches 1 at peak. */
static double mobius(double x, double j, double peak)
{
    if (x <= j || peak <= 1.0)
        return x;
    double a = -j * j * (peak - 1.0) / (j * j - 2.0 * j + peak);
    double b = (j * j - 2.0 * j * peak + peak) / (peak - 1.0);
    double scale = (b * b + 2.0 * b * j + j * j) / (b - a);
    return scale * (x + a) / (x + b);
}

/* RGB -> XYZ for primaries (x, y) r, g, b and white w. */
static void rgb_to_xyz(const double p[4][2], double m[3][3])
{
    double xyz[3][3], white[3] = {p[3][0] / p[3][1], 1.0, (1 - p[3][0] - p[3][1]) / p[3][1]};
    for (int c = 0; c < 3; c++) {
        xyz[0][c] = p[c][0] / p[c][1];
        xyz[1][c] = 1.0;
        xyz[2][c] = (1 - p[c][0] - p[c][1]) / p[c][1];
    }
    /* Scale each primary so that R = G = B = 1 is the white: solve xyz * s = white. */
    double det = xyz[0][0] * (xyz[1][1] * xyz[2][2] - xyz[1][2] * xyz[2][1]) -
                 xyz[0][1] * (xyz[1][0] * xyz[2][2] - xyz[1][2] * xyz[2][0]) +
                 xyz[0][2] * (xyz[1][0] * xyz[2][1] - xyz[1][1] * xyz[2][0]);
    double s[3];
    for (int c = 0; c < 3; c++) {
        double t[3][3];
        memcpy(t, xyz, sizeof t);
        for (int r = 0; r < 3; r++)
            t[r][c] = white[r];
        s[c] = (t[0][0] * (t[1][1] * t[2][2] - t[1][2] * t[2][1]) - t[0][1] * (t[1][0] * t[2][2] - t[1][2] * t[2][0]) +
                t[0][2] * (t[1][0] * t[2][1] - t[1][1] * t[2][0])) /
               det;
    }
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            m[r][c] = xyz[r][c] * s[c];
}

static void invert3(const double m[3][3], double out[3][3])
{
    double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                 m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) {
            int r1 = (c + 1) % 3, r2 = (c + 2) % 3, c1 = (r + 1) % 3, c2 = (r + 2) % 3;
            out[r][c] = (m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]) / det;
        }
}

/* Linear BT.2020 RGB -> linear BT.709 RGB (both D65). */
static void gamut_2020_to_709(float out[3][3])
{
    static const double p2020[4][2] = {{0.708, 0.292}, {0.170, 0.797}, {0.131, 0.046}, {0.3127, 0.3290}};
    static const double p709[4][2] = {{0.640, 0.330}, {0.300, 0.600}, {0.150, 0.060}, {0.3127, 0.3290}};
    double a[3][3], b[3][3], b_inv[3][3];
    rgb_to_xyz(p2020, a);
    rgb_to_xyz(p709, b);
    invert3(b, b_inv);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            out[r][c] = (float)(b_inv[r][0] * a[0][c] + b_inv[r][1] * a[1][c] + b_inv[r][2] * a[2][c]);
}

lc_tonemap *lc_tonemap_new(lc_transfer transfer, int bt2020_primaries, double peak_nits, const char *peak_from)
{
    if (transfer != LC_TRANSFER_PQ && transfer != LC_TRANSFER_HLG)
        return NULL;
    lc_tonemap *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->transfer = transfer;
    t->gamut = bt2020_primaries;
    if (t->gamut)
        gamut_2020_to_709(t->to_709);
    if (transfer == LC_TRANSFER_HLG || !(peak_nits > 0)) {
        peak_nits = LC_HDR_DEFAULT_PEAK;
        peak_from = transfer == LC_TRANSFER_HLG ? "HLG nominal display peak" : "assumed, no metadata";
    }
    t->peak = peak_nits / LC_HDR_REFERENCE_WHITE;
    for (int i = 0; i <= SIGNAL_STEPS; i++) {
        double s = (double)i / SIGNAL_STEPS;
        t->signal[i] = (float)(transfer == LC_TRANSFER_HLG ? hlg_to_scene(s) : pq_to_nits(s) / LC_HDR_REFERENCE_WHITE);
    }
    for (int i = 0; i < LIGHT_N; i++) {
        double x = light_at(i);
        /* BT.2100 OOTF for a 1000 cd/m2 display (gamma 1.2): Fd = Lw * Ys^(gamma - 1) * E. */
        t->ootf[i] = (float)(LC_HDR_DEFAULT_PEAK / LC_HDR_REFERENCE_WHITE * pow(x < 1.0 ? x : 1.0, 0.2));
        t->tone[i] = (float)(mobius(x, KNEE, t->peak) / x);
        t->encode[i] = (float)pow(x < 1.0 ? x : 1.0, 1.0 / 2.4);
    }
    t->ootf[0] = 0.0f; /* black stays black: gain 0 below the table */
    snprintf(t->description, sizeof t->description,
             "%s%s to SDR BT.709 (display-referred, ITU-R BT.2408): %s; %s reference white (203 cd/m2) "
             "= SDR white; kept up to %.2f of it, Mobius roll-off on max(R,G,B) above, up to %.0f cd/m2 (%s); "
             "inverse BT.1886 (gamma 2.4) encoding",
             transfer == LC_TRANSFER_HLG ? "HLG" : "PQ", t->gamut ? " BT.2020" : " BT.709",
             transfer == LC_TRANSFER_HLG ? "HLG inverse OETF and BT.2100 OOTF at 1000 cd/m2 (gamma 1.2)"
                                         : "PQ EOTF (SMPTE ST 2084)",
             t->gamut ? "BT.2020 to BT.709 primaries in linear light, out-of-gamut clipped;" : "", KNEE, peak_nits,
             peak_from ? peak_from : "assumed");
    return t;
}

void lc_tonemap_free(lc_tonemap *t)
{
    free(t);
}

const char *lc_tonemap_describe(const lc_tonemap *t)
{
    return t->description;
}

void lc_tonemap_pixels(const lc_tonemap *t, float *restrict r, float *restrict g, float *restrict b, int n)
{
    /* Locals and restrict: the pixel arrays are floats like the tables, and
     * without them every store would force every table pointer to reload. */
    const float *restrict signal = t->signal, *restrict ootf = t->ootf, *restrict tone = t->tone,
                          *restrict encode = t->encode;
    const float m00 = t->to_709[0][0], m01 = t->to_709[0][1], m02 = t->to_709[0][2];
    const float m10 = t->to_709[1][0], m11 = t->to_709[1][1], m12 = t->to_709[1][2];
    const float m20 = t->to_709[2][0], m21 = t->to_709[2][1], m22 = t->to_709[2][2];
    const int hlg = t->transfer == LC_TRANSFER_HLG, gamut = t->gamut;
    const float knee = (float)KNEE;
    for (int i = 0; i < n; i++) {
        float R = lookup_signal(signal, r[i]), G = lookup_signal(signal, g[i]), B = lookup_signal(signal, b[i]);
        if (hlg) {
            float k = lookup_light(ootf, 0.2627f * R + 0.6780f * G + 0.0593f * B);
            R *= k;
            G *= k;
            B *= k;
        }
        if (gamut) {
            float r2 = m00 * R + m01 * G + m02 * B;
            float g2 = m10 * R + m11 * G + m12 * B;
            float b2 = m20 * R + m21 * G + m22 * B;
            R = r2;
            G = g2;
            B = b2;
        }
        float top = R > G ? (R > B ? R : B) : (G > B ? G : B);
        if (top > knee) {
            float k = lookup_light(tone, top);
            R *= k;
            G *= k;
            B *= k;
        }
        r[i] = lookup_light(encode, R);
        g[i] = lookup_light(encode, G);
        b[i] = lookup_light(encode, B);
    }
}
