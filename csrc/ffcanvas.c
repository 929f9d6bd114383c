/*
 * ffcanvas.c: a decoded picture onto the fixed canvas, then JPEG.
 *
 * The canvas is kept as the JPEG encoder's own YCbCr planes (4:2:0 or 4:4:4) (JFIF:
 * BT.601 matrix, full range), so swscale converts the source's matrix and range
 * once, straight into them, with no RGB round trip. The padding is Y=0,
 * Cb=Cr=128 and is written only when the content rect changes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>

#include "ffinternal.h"

struct lc_canvas {
    int canvas_w, canvas_h, quality;
    int chroma_shift;            /* 1 for 4:2:0 planes, 0 for 4:4:4 */
    /* Raw output: the YCbCr canvas is converted to packed RGB by
     * libjpeg-turbo's own (SIMD) JFIF colour conversion instead of being
     * JPEG-encoded: the same pixels a decoder of our JPEG would see. */
    int raw_rgb;
    uint8_t *rgb_canvas;
    tjhandle tj_rgb;
    enum AVPixelFormat planes_fmt;
    int sws_filter;
    AVRational sample_aspect;
    int rotation, hflip;
    uint8_t *canvas_buf, *plane[4];   /* av_image_alloc fills four */
    int stride[4];
    /* What the scaler was built for; a change mid-stream rebuilds it. */
    int src_w, src_h, src_fmt, src_space, src_range;
    /* Limited-range sources: swscale keeps the range and we expand it with
     * these tables. FFmpeg 5.1's swscale skips its own range conversion for
     * >8-bit input, and for unscaled input, when both matrices are BT.601. */
    int expand_range;
    uint8_t luma_lut[256], chroma_lut[256];
    struct SwsContext *sws;
    lc_rect rect;
    /* The scaled picture, before it is copied (turned, mirrored) into the canvas. */
    uint8_t *turn_buf, *turn_plane[4];
    int turn_stride[4], turn_w, turn_h;
    tjhandle tj;
    unsigned char *jpeg;
};

static void build_range_tables(lc_canvas *cv);

lc_canvas *lc_canvas_new(const lc_recipe *recipe, const lc_source *src)
{
    lc_canvas *cv = calloc(1, sizeof *cv);
    if (!cv)
        return NULL;
    cv->canvas_w = recipe->canvas_width;
    cv->canvas_h = recipe->canvas_height;
    cv->quality = recipe->jpeg_quality;
    cv->chroma_shift = recipe->chroma_444 ? 0 : 1;
    cv->planes_fmt = recipe->chroma_444 ? AV_PIX_FMT_YUV444P : AV_PIX_FMT_YUV420P;
    cv->raw_rgb = recipe->raw_rgb;
    static const int filters[] = {SWS_BILINEAR, SWS_BICUBIC, SWS_LANCZOS, SWS_AREA};
    cv->sws_filter = (unsigned)recipe->scale_filter < 4 ? filters[recipe->scale_filter] : SWS_BILINEAR;
    cv->sample_aspect = src->sample_aspect;
    cv->rotation = src->info.rotation_degrees;
    cv->hflip = src->info.hflip;
    cv->src_fmt = AV_PIX_FMT_NONE;
    build_range_tables(cv);
    if (cv->raw_rgb && (!(cv->rgb_canvas = calloc((size_t)cv->canvas_w * 3, (size_t)cv->canvas_h)) ||
                        !(cv->tj_rgb = tjInitDecompress()))) {
        lc_canvas_free(cv);
        return NULL;
    }
    int size = av_image_alloc(cv->plane, cv->stride, cv->canvas_w, cv->canvas_h, cv->planes_fmt, 32);
    cv->canvas_buf = cv->plane[0];
    cv->tj = tjInitCompress();
    cv->jpeg = tjAlloc((int)tjBufSize(cv->canvas_w, cv->canvas_h, TJSAMP_444));
    if (size < 0 || !cv->tj || !cv->jpeg) {
        lc_canvas_free(cv);
        return NULL;
    }
    return cv;
}

void lc_canvas_free(lc_canvas *cv)
{
    if (!cv)
        return;
    av_freep(&cv->canvas_buf);
    av_freep(&cv->turn_buf);
    free(cv->rgb_canvas);
    if (cv->tj_rgb)
        tjDestroy(cv->tj_rgb);
    sws_freeContext(cv->sws);
    if (cv->tj)
        tjDestroy(cv->tj);
    tjFree(cv->jpeg);
    free(cv);
}

/* The deprecated "J" formats are their plain twins in full range. */
static enum AVPixelFormat plain_format(enum AVPixelFormat f, int *full_range)
{
    switch (f) {
    case AV_PIX_FMT_YUVJ420P: *full_range = 1; return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: *full_range = 1; return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: *full_range = 1; return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: *full_range = 1; return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P: *full_range = 1; return AV_PIX_FMT_YUV411P;
    default: return f;
    }
}

/* swscale's coefficient tables by the stream's colour matrix tag. Untagged
 * video follows the common rule: HD and up is BT.709, SD is BT.601. */
static int sws_matrix(enum AVColorSpace space, int height)
{
    switch (space) {
    case AVCOL_SPC_BT709: return SWS_CS_ITU709;
    case AVCOL_SPC_FCC: return SWS_CS_FCC;
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M: return SWS_CS_ITU601;
    case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020;
    default: return height >= 720 ? SWS_CS_ITU709 : SWS_CS_ITU601;
    }
}

/* Limited (video) range to full (JFIF) range: Y 16..235 -> 0..255, Cb/Cr
 * 16..240 around 128 -> 0..255, clamped. */
static void build_range_tables(lc_canvas *cv)
{
    for (int v = 0; v < 256; v++) {
        int y = (int)lround((v - 16) * 255.0 / 219.0);
        int c = (int)lround((v - 128) * 255.0 / 224.0) + 128;
        cv->luma_lut[v] = (uint8_t)(y < 0 ? 0 : y > 255 ? 255 : y);
        cv->chroma_lut[v] = (uint8_t)(c < 0 ? 0 : c > 255 ? 255 : c);
    }
}

static void expand_rect(uint8_t *plane, int stride, int w, int h, const uint8_t lut[256])
{
    for (int y = 0; y < h; y++) {
        uint8_t *row = plane + (long)y * stride;
        for (int x = 0; x < w; x++)
            row[x] = lut[row[x]];
    }
}

static void fill_black(lc_canvas *cv)
{
    if (cv->rgb_canvas)
        memset(cv->rgb_canvas, 0, (size_t)cv->canvas_w * 3 * cv->canvas_h);
    memset(cv->plane[0], 0, (size_t)cv->stride[0] * cv->canvas_h);
    memset(cv->plane[1], 128, (size_t)cv->stride[1] * (cv->canvas_h >> cv->chroma_shift));
    memset(cv->plane[2], 128, (size_t)cv->stride[2] * (cv->canvas_h >> cv->chroma_shift));
}

static lc_status configure(lc_canvas *cv, const AVFrame *frame, char err[LC_ERRMSG_SIZE])
{
    int full_range = frame->color_range == AVCOL_RANGE_JPEG;
    enum AVPixelFormat fmt = plain_format(frame->format, &full_range);
    if (cv->sws && frame->width == cv->src_w && frame->height == cv->src_h &&
        (int)fmt == cv->src_fmt && (int)frame->colorspace == cv->src_space && full_range == cv->src_range)
        return LC_OK;

    int dw = frame->width, dh = frame->height;
    if (cv->sample_aspect.num && av_cmp_q(cv->sample_aspect, (AVRational){1, 1}))
        dw = (int)(frame->width * av_q2d(cv->sample_aspect) + 0.5);
    if (cv->rotation % 180) {
        int t = dw;
        dw = dh;
        dh = t;
    }
    cv->rect = lc_fit_contain(dw, dh, cv->canvas_w, cv->canvas_h);
    int quarter = cv->rotation % 180 != 0;
    int tw = quarter ? cv->rect.height : cv->rect.width;
    int th = quarter ? cv->rect.width : cv->rect.height;

    sws_freeContext(cv->sws);
    /* The filter is the recipe's (Lanczos by default: docs/defaults.md measured
     * bilinear blurring fine detail by ~7 dB for only 2-4 % less CPU). */
    cv->sws = sws_getContext(frame->width, frame->height, fmt, tw, th, cv->planes_fmt,
                             cv->sws_filter | SWS_ACCURATE_RND, NULL, NULL, NULL);
    if (!cv->sws)
        return lc_fail(err, LC_ERR_UNSUPPORTED, "cannot convert pictures of format %s (%dx%d)",
                       av_get_pix_fmt_name(fmt) ? av_get_pix_fmt_name(fmt) : "unknown",
                       frame->width, frame->height);
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(fmt);
    int yuv_source = desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB);
    cv->expand_range = yuv_source && !full_range;
    if (yuv_source)
        sws_setColorspaceDetails(cv->sws, sws_getCoefficients(sws_matrix(frame->colorspace, frame->height)),
                                 full_range, sws_getCoefficients(SWS_CS_ITU601), full_range, 0, 1 << 16, 1 << 16);
    else
        sws_setColorspaceDetails(cv->sws, sws_getCoefficients(SWS_CS_ITU601), 1,
                                 sws_getCoefficients(SWS_CS_ITU601), 1, 0, 1 << 16, 1 << 16);

    /* swscale's SIMD writes may run a few pixels past the destination width,
     * so it never writes into the canvas itself: it fills a padded buffer that
     * is then copied (or turned) into the content rect. */
    av_freep(&cv->turn_buf);
    if (av_image_alloc(cv->turn_plane, cv->turn_stride, tw + 64, th + 2, cv->planes_fmt, 64) < 0)
        return lc_fail(err, LC_ERR_NOMEM, "out of memory");
    cv->turn_buf = cv->turn_plane[0];
    cv->turn_w = tw;
    cv->turn_h = th;
    cv->src_w = frame->width;
    cv->src_h = frame->height;
    cv->src_fmt = fmt;
    cv->src_space = frame->colorspace;
    cv->src_range = full_range;
    fill_black(cv);
    return LC_OK;
}

/* Copies a w x h source plane into a destination rect, mirrored left-right if
 * `hflip` and then turned clockwise by `rotation`: extract.h's orientation
 * convention, which sourcefile.c's decomposition of the display matrix
 * follows. Each destination pixel (x, y) reads the
 * source at row r0 + x*rx + y*ry, column c0 + x*cx + y*cy. */
static void turn_plane(const uint8_t *src, int src_stride, int sw, int sh, uint8_t *dst,
                       int dst_stride, int dw, int dh, int rotation, int hflip)
{
    long r0 = 0, rx = 0, ry = 1, c0 = 0, cx = 1, cy = 0;
    if (rotation == 0 && !hflip) {
        for (int y = 0; y < dh; y++)
            memcpy(dst + (long)y * dst_stride, src + (long)y * src_stride, (size_t)dw);
        return;
    }
    switch (rotation) {
    case 90:  r0 = sh - 1; rx = -1; ry = 0; c0 = 0; cx = 0; cy = 1; break;
    case 180: r0 = sh - 1; rx = 0; ry = -1; c0 = sw - 1; cx = -1; cy = 0; break;
    case 270: r0 = 0; rx = 1; ry = 0; c0 = sw - 1; cx = 0; cy = -1; break;
    default: break;
    }
    if (hflip) {
        c0 = sw - 1 - c0;
        cx = -cx;
        cy = -cy;
    }
    const long step_x = rx * src_stride + cx;
    const long step_y = ry * src_stride + cy;
    const uint8_t *row_start = src + r0 * src_stride + c0;
    for (int y = 0; y < dh; y++, row_start += step_y) {
        const uint8_t *s = row_start;
        uint8_t *d = dst + (long)y * dst_stride;
        for (int x = 0; x < dw; x++, s += step_x)
            d[x] = *s;
    }
}

lc_status lc_canvas_encode(lc_canvas *cv, const AVFrame *frame, lc_frame *out, char err[LC_ERRMSG_SIZE])
{
    lc_status status = configure(cv, frame, err);
    if (status != LC_OK)
        return status;
    const lc_rect r = cv->rect;
    uint8_t *dst[3] = {
        cv->plane[0] + (long)r.y * cv->stride[0] + r.x,
        cv->plane[1] + (long)(r.y >> cv->chroma_shift) * cv->stride[1] + (r.x >> cv->chroma_shift),
        cv->plane[2] + (long)(r.y >> cv->chroma_shift) * cv->stride[2] + (r.x >> cv->chroma_shift)};
    sws_scale(cv->sws, (const uint8_t *const *)frame->data, frame->linesize, 0, frame->height,
              cv->turn_plane, cv->turn_stride);
    for (int p = 0; p < 3; p++) {
        int shift = p ? cv->chroma_shift : 0;
        turn_plane(cv->turn_plane[p], cv->turn_stride[p], cv->turn_w >> shift, cv->turn_h >> shift,
                   dst[p], cv->stride[p], r.width >> shift, r.height >> shift, cv->rotation, cv->hflip);
        if (cv->expand_range)
            expand_rect(dst[p], cv->stride[p], r.width >> shift, r.height >> shift,
                        p ? cv->chroma_lut : cv->luma_lut);
    }
    out->content_x = r.x;
    out->content_y = r.y;
    out->content_width = r.width;
    out->content_height = r.height;
    out->source_width = frame->width;
    out->source_height = frame->height;
    if (cv->raw_rgb) {
        const unsigned char *yuv[3] = {dst[0], dst[1], dst[2]};
        if (tjDecodeYUVPlanes(cv->tj_rgb, yuv, cv->stride, cv->chroma_shift ? TJSAMP_420 : TJSAMP_444,
                              cv->rgb_canvas + ((long)r.y * cv->canvas_w + r.x) * 3, r.width, cv->canvas_w * 3,
                              r.height, TJPF_RGB, 0) != 0)
            return lc_fail(err, LC_ERR_INTERNAL, "RGB conversion failed: %s", tjGetErrorStr2(cv->tj_rgb));
        out->rgb = cv->rgb_canvas;
        out->rgb_size = (size_t)cv->canvas_w * 3 * cv->canvas_h;
        return LC_OK;
    }
    const unsigned char *planes[3] = {cv->plane[0], cv->plane[1], cv->plane[2]};
    int samp = cv->chroma_shift ? TJSAMP_420 : TJSAMP_444;
    unsigned long size = tjBufSize(cv->canvas_w, cv->canvas_h, TJSAMP_444);
    if (tjCompressFromYUVPlanes(cv->tj, planes, cv->canvas_w, cv->stride, cv->canvas_h, samp,
                                &cv->jpeg, &size, cv->quality, TJFLAG_NOREALLOC) != 0)
        return lc_fail(err, LC_ERR_INTERNAL, "JPEG encoding failed: %s", tjGetErrorStr2(cv->tj));
    out->jpeg = cv->jpeg;
    out->jpeg_size = size;
    return LC_OK;
}
