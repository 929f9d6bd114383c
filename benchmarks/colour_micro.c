/*
 * colour_micro.c: milliseconds per picture of each way to get a decoded
 * picture into the JPEG encoder's JFIF planes (built and run by
 * `python benchmarks/bench_colour.py micro`; not part of the package).
 *
 * Own code (csrc/colour.c, csrc/tonemap.c) against swscale doing the same
 * conversion, swscale's scaling step alone, the canvas's old one-step path
 * (scale + convert in swscale at source size), and libjpeg-turbo's colour
 * conversion (which only converts RGB to JFIF YCbCr, so it could serve only
 * after an RGB intermediate).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <turbojpeg.h>

#include "colour.h"

#define W 1920
#define H 1080
#define REPS 20

typedef struct picture {
    uint8_t *data[4];
    int stride[4];
} picture;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);   /* CPU time: the machine is shared */
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Video-like content: gradients plus noise, limited range, at any depth. */
static picture make(enum AVPixelFormat fmt, int w, int h, int depth)
{
    picture p;
    if (av_image_alloc(p.data, p.stride, w, h, fmt, 64) < 0)
        exit(1);
    unsigned seed = 12345;
    for (int plane = 0; plane < 3; plane++) {
        int pw = plane ? w / 2 : w, ph = plane ? h / 2 : h;
        for (int y = 0; y < ph; y++)
            for (int x = 0; x < pw; x++) {
                seed = seed * 1103515245u + 12345u;
                /* Luma: ramps, texture and noise; chroma: smooth, as in camera footage. */
                int v = plane ? 128 + (plane == 1 ? 90 * x / pw - 45 : 60 * y / ph - 30) + (int)(seed >> 29) - 4
                              : 16 + (x * 219 / pw + y % 37 + (seed >> 28)) % 219;
                if (depth > 8)
                    ((uint16_t *)(p.data[plane] + (long)y * p.stride[plane]))[x] = (uint16_t)(v << (depth - 8));
                else
                    p.data[plane][(long)y * p.stride[plane] + x] = (uint8_t)v;
            }
    }
    return p;
}

static void report(const char *name, double seconds)
{
    printf("%-55s %8.2f ms CPU per picture\n", name, 1000 * seconds / REPS);
}

static void own(const char *name, const picture *src, int depth, lc_transfer transfer, double kr, double kb,
                picture *dst)
{
    lc_colour_desc d = {.depth = depth, .kr = kr, .kb = kb, .transfer = transfer, .bt2020_primaries = transfer != 0};
    lc_colour *c = lc_colour_new(&d);
    lc_colour_convert(c, (const uint8_t *const *)src->data, src->stride, dst->data, dst->stride, W, H, 1);
    double t = now();
    for (int i = 0; i < REPS; i++)
        lc_colour_convert(c, (const uint8_t *const *)src->data, src->stride, dst->data, dst->stride, W, H, 1);
    report(name, now() - t);
    lc_colour_free(c);
}

static void swscale_with(const char *name, const picture *src, enum AVPixelFormat sf, int sw, int sh, int convert,
                         picture *dst, int flags)
{
    struct SwsContext *s = sws_getContext(sw, sh, sf, W, H, AV_PIX_FMT_YUV420P, flags, NULL, NULL, NULL);
    if (convert)
        sws_setColorspaceDetails(s, sws_getCoefficients(SWS_CS_ITU709), 0, sws_getCoefficients(SWS_CS_ITU601), 1,
                                 0, 1 << 16, 1 << 16);
    sws_scale(s, (const uint8_t *const *)src->data, src->stride, 0, sh, dst->data, dst->stride);
    double t = now();
    for (int i = 0; i < REPS; i++)
        sws_scale(s, (const uint8_t *const *)src->data, src->stride, 0, sh, dst->data, dst->stride);
    report(name, now() - t);
    sws_freeContext(s);
}

static void swscale(const char *name, const picture *src, enum AVPixelFormat sf, int sw, int sh, int convert,
                    picture *dst)
{
    swscale_with(name, src, sf, sw, sh, convert, dst, SWS_LANCZOS | SWS_ACCURATE_RND);
}

int main(void)
{
    picture yuv8 = make(AV_PIX_FMT_YUV420P, W, H, 8), yuv10 = make(AV_PIX_FMT_YUV420P10LE, W, H, 10);
    picture big8 = make(AV_PIX_FMT_YUV420P, 2 * W, 2 * H, 8), big10 = make(AV_PIX_FMT_YUV420P10LE, 2 * W, 2 * H, 10);
    picture out = make(AV_PIX_FMT_YUV420P, W + 64, H + 2, 8), mid10 = make(AV_PIX_FMT_YUV420P10LE, W + 64, H + 2, 10);

    printf("-- conversion only, 1920x1080 4:2:0 in and out --\n");
    own("own: SDR BT.709 limited 8-bit -> JFIF", &yuv8, 8, LC_TRANSFER_SDR, 0.2126, 0.0722, &out);
    own("own: SDR BT.709 limited 10-bit -> JFIF", &yuv10, 10, LC_TRANSFER_SDR, 0.2126, 0.0722, &out);
    own("own: HLG BT.2020 10-bit -> SDR JFIF (tone map)", &yuv10, 10, LC_TRANSFER_HLG, 0.2627, 0.0593, &out);
    own("own: PQ BT.2020 10-bit -> SDR JFIF (tone map)", &yuv10, 10, LC_TRANSFER_PQ, 0.2627, 0.0593, &out);
    swscale("swscale: SDR BT.709 limited 8-bit -> JFIF", &yuv8, AV_PIX_FMT_YUV420P, W, H, 1, &out);
    swscale("swscale: SDR BT.709 limited 10-bit -> JFIF", &yuv10, AV_PIX_FMT_YUV420P10LE, W, H, 1, &out);

    printf("-- 3840x2160 source to the 1920x1080 canvas --\n");
    swscale("before: swscale scale + convert 8-bit in one step", &big8, AV_PIX_FMT_YUV420P, 2 * W, 2 * H, 1, &out);
    swscale("before: swscale scale only, 8-bit, accurate rounding", &big8, AV_PIX_FMT_YUV420P, 2 * W, 2 * H, 0,
            &out);
    /* ffcanvas.c: 8-bit results take the fast vertical filter (at most 1 level off). */
    swscale_with("now: swscale scale only, 8-bit", &big8, AV_PIX_FMT_YUV420P, 2 * W, 2 * H, 0, &out, SWS_LANCZOS);
    swscale("before: swscale scale + convert 10-bit in one step", &big10, AV_PIX_FMT_YUV420P10LE, 2 * W, 2 * H, 1,
            &out);
    {
        struct SwsContext *s = sws_getContext(2 * W, 2 * H, AV_PIX_FMT_YUV420P10LE, W, H, AV_PIX_FMT_YUV420P10LE,
                                              SWS_LANCZOS | SWS_ACCURATE_RND, NULL, NULL, NULL);
        double t = now();
        for (int i = 0; i < REPS; i++)
            sws_scale(s, (const uint8_t *const *)big10.data, big10.stride, 0, 2 * H, mid10.data, mid10.stride);
        report("now: swscale scale only, 10-bit (kept 10-bit)", now() - t);
        sws_freeContext(s);
    }

    printf("-- libjpeg-turbo's own conversion (RGB -> JFIF 4:2:0 only) --\n");
    {
        unsigned char *rgb = malloc((size_t)W * H * 3);
        for (size_t i = 0; i < (size_t)W * H * 3; i++)
            rgb[i] = (unsigned char)(i * 7);
        tjhandle tj = tjInitCompress();
        int strides[3] = {out.stride[0], out.stride[1], out.stride[2]};
        double t = now();
        for (int i = 0; i < REPS; i++)
            tjEncodeYUVPlanes(tj, rgb, W, W * 3, H, TJPF_RGB, out.data, strides, TJSAMP_420, 0);
        report("libjpeg-turbo: packed RGB -> JFIF", now() - t);
        tjDestroy(tj);
        free(rgb);
    }
    return 0;
}
