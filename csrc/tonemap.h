/*
 * tonemap.h: HDR (BT.2100 PQ or HLG) R'G'B' to SDR (BT.709 primaries, BT.1886
 * encoded) R'G'B', for frames that are pictured on an SDR JPEG canvas. Plain C,
 * no FFmpeg types: any backend that holds HDR samples can use it.
 *
 * The mapping is display-referred (ITU-R BT.2408 section 5): the HDR signal
 * becomes display light (PQ: its absolute EOTF; HLG: inverse OETF and the
 * BT.2100 OOTF of a 1000 cd/m2 display, gamma 1.2), in units of the HDR
 * reference white (203 cd/m2 = 1.0 = SDR white). BT.2020 primaries are mapped
 * to BT.709 in linear light. Everything up to the knee (0.8 of reference white)
 * is kept as it is; above it a Mobius curve (the one mpv and FFmpeg's
 * vf_tonemap use) rolls the rest, up to the content's peak, off into SDR
 * white, applied to max(R, G, B) so hue and saturation survive. The result is
 * encoded with the inverse BT.1886 EOTF (gamma 2.4), the SDR signal that
 * FFmpeg's zscale would have made from the same display light.
 *
 * All curves are tables built once per source (lc_tonemap_new); per pixel
 * the work is three table look-ups in, two 3x3 products, one or two
 * look-ups for the gain and three out.
 */
#ifndef LC_TONEMAP_H
#define LC_TONEMAP_H

typedef enum lc_transfer {
    LC_TRANSFER_SDR = 0, /* nothing to map */
    LC_TRANSFER_PQ,      /* SMPTE ST 2084 */
    LC_TRANSFER_HLG      /* ARIB STD-B67 / BT.2100 HLG */
} lc_transfer;

/* HDR reference white, cd/m2 (ITU-R BT.2408): where SDR white goes. */
#define LC_HDR_REFERENCE_WHITE 203.0
/* Peak assumed for PQ content without metadata, and HLG's nominal display peak. */
#define LC_HDR_DEFAULT_PEAK 1000.0

typedef struct lc_tonemap lc_tonemap;

/* peak_nits: PQ content's brightest light (MaxCLL or the mastering display's
 * peak), named by peak_from for the description; 0 when unknown (1000 is
 * assumed). Ignored for HLG. NULL without memory. */
lc_tonemap *lc_tonemap_new(lc_transfer transfer, int bt2020_primaries, double peak_nits, const char *peak_from);
void lc_tonemap_free(lc_tonemap *t);

/* Maps n pixels in place: non-linear HDR R'G'B' (0..1, as the signal
 * carries it) in, BT.1886-encoded SDR R'G'B' (0..1) out. */
void lc_tonemap_pixels(const lc_tonemap *t, float *r, float *g, float *b, int n);

/* One line for bundle.json: what was done, with the numbers used. */
const char *lc_tonemap_describe(const lc_tonemap *t);

#endif
