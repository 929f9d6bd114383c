/*
 * ffcanvas.c: a decoded picture onto the fixed canvas, then JPEG.
 *
 * The canvas is kept as the JPEG encoder's own YCbCr planes (4:2:0 or 4:4:4)
 * (JFIF: BT.601 matrix, full range). A YCbCr source is first scaled to its
 * content rect in its own matrix, range and bit depth (swscale's direct
 * scaling path, or nothing at all when the picture already has the rect's
 * size and layout), then converted once at canvas size by colour.c: the
 * matrix and range for SDR, a tone map for HDR (PQ, HLG). RGB and paletted
 * sources go through swscale straight into the JFIF planes. The padding is
 * Y=0, Cb=Cr=128 and is written only when the content rect changes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/dovi_meta.h>
#include <libavutil/imgutils.h>
#include <libavutil/mastering_display_metadata.h>
#include <libavutil/pixdesc.h>

#include "colour.h"
#include "ffinternal.h"

/* What a canvas was configured for; a change mid-stream reconfigures it. */
typedef struct picture_kind {
    int w, h, field, fmt, space, range, trc, primaries;
    double peak;
} picture_kind;

struct lc_canvas {
    int canvas_w, canvas_h, quality;
    int chroma_shift; /* 1 for 4:2:0 planes, 0 for 4:4:4 */
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
    uint8_t *canvas_buf, *plane[4]; /* av_image_alloc fills four */
    int stride[4];
    picture_kind kind;
    int configured;
    /* What the container says, for frames whose bitstream does not say it
     * (no VUI colour description): transfer, primaries, HDR metadata. */
    int stream_trc, stream_primaries;
    double stream_peak;
    const char *stream_peak_from;
    char dovi[40];          /* "Dolby Vision profile 8.4" when the stream says so */
    char mapping[600];      /* what colour.c does beyond matrix and range, for the sink */
    struct SwsContext *sws; /* NULL when the picture needs no scaling */
    lc_colour *colour;      /* NULL for RGB sources: swscale writes JFIF planes itself */
    lc_rect rect;
    /* The scaled picture (source format for YCbCr sources, JFIF for RGB).
     * swscale's SIMD writes may run a few pixels past the destination width,
     * so it never writes into the canvas itself. */
    uint8_t *mid_buf, *mid_plane[4];
    int mid_stride[4];
    /* The converted picture before it is turned or mirrored into the canvas
     * (only for turned or mirrored sources). */
    uint8_t *turn_buf, *turn_plane[4];
    int turn_stride[4], turn_w, turn_h;
    tjhandle tj;
    unsigned char *jpeg;
};

static const AVPacketSideData *stream_side_data(const AVStream *st, enum AVPacketSideDataType type)
{
#if LIBAVFORMAT_VERSION_INT >= AV_VERSION_INT(60, 15, 100)
    return av_packet_side_data_get(st->codecpar->coded_side_data, st->codecpar->nb_coded_side_data, type);
#else
    for (int i = 0; i < st->nb_side_data; i++)
        if (st->side_data[i].type == type)
            return &st->side_data[i];
    return NULL;
#endif
}

static const AVDOVIDecoderConfigurationRecord *dovi_config(const lc_source *src)
{
    const AVPacketSideData *sd = stream_side_data(src->fmt->streams[src->stream_index], AV_PKT_DATA_DOVI_CONF);
    return sd && sd->size >= sizeof(AVDOVIDecoderConfigurationRecord)
               ? (const AVDOVIDecoderConfigurationRecord *)sd->data
               : NULL;
}

lc_status lc_canvas_check(const lc_source *src, char err[LC_ERRMSG_SIZE])
{
    const AVDOVIDecoderConfigurationRecord *dv = dovi_config(src);
    /* Profile 5's only layer is IPTPQc2 with reshaping in the RPU: shown as
     * YCbCr it is green and purple. Better no frames than wrong ones. */
    if (dv && dv->dv_profile == 5)
        return lc_fail(err, LC_ERR_UNSUPPORTED,
                       "Dolby Vision profile 5 has no backward-compatible base layer (IPTPQc2); "
                       "its frames cannot be shown without Dolby's decoder");
    return LC_OK;
}

/* The brightest light of the content in cd/m2, from content light level or
 * mastering display metadata; 0 when there is none. */
static double peak_of(const void *cll, const void *mdm, const char **from)
{
    const AVContentLightMetadata *c = cll;
    const AVMasteringDisplayMetadata *m = mdm;
    if (c && c->MaxCLL > 0) {
        *from = "MaxCLL";
        return c->MaxCLL;
    }
    if (m && m->has_luminance && m->max_luminance.num > 0 && m->max_luminance.den > 0) {
        *from = "mastering display peak";
        return av_q2d(m->max_luminance);
    }
    return 0;
}

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
    const AVStream *st = src->fmt->streams[src->stream_index];
    cv->stream_trc = st->codecpar->color_trc;
    cv->stream_primaries = st->codecpar->color_primaries;
    const AVPacketSideData *cll = stream_side_data(st, AV_PKT_DATA_CONTENT_LIGHT_LEVEL);
    const AVPacketSideData *mdm = stream_side_data(st, AV_PKT_DATA_MASTERING_DISPLAY_METADATA);
    cv->stream_peak = peak_of(cll ? cll->data : NULL, mdm ? mdm->data : NULL, &cv->stream_peak_from);
    const AVDOVIDecoderConfigurationRecord *dv = dovi_config(src);
    if (dv)
        snprintf(cv->dovi, sizeof cv->dovi, "Dolby Vision profile %d.%d", dv->dv_profile,
                 dv->dv_bl_signal_compatibility_id);
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
    av_freep(&cv->mid_buf);
    av_freep(&cv->turn_buf);
    free(cv->rgb_canvas);
    if (cv->tj_rgb)
        tjDestroy(cv->tj_rgb);
    sws_freeContext(cv->sws);
    lc_colour_free(cv->colour);
    if (cv->tj)
        tjDestroy(cv->tj);
    tjFree(cv->jpeg);
    free(cv);
}

/* The deprecated "J" formats are their plain twins in full range. */
static enum AVPixelFormat plain_format(enum AVPixelFormat f, int *full_range)
{
    switch (f) {
    case AV_PIX_FMT_YUVJ420P:
        *full_range = 1;
        return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P:
        *full_range = 1;
        return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P:
        *full_range = 1;
        return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P:
        *full_range = 1;
        return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P:
        *full_range = 1;
        return AV_PIX_FMT_YUV411P;
    default:
        return f;
    }
}

/* Luma coefficients (Kr, Kb) by the stream's colour matrix tag. Untagged
 * video follows the common rule: HD and up is BT.709, SD is BT.601. */
static void matrix_coefficients(enum AVColorSpace space, int height, double *kr, double *kb)
{
    switch (space) {
    case AVCOL_SPC_BT709:
        *kr = 0.2126;
        *kb = 0.0722;
        return;
    case AVCOL_SPC_FCC:
        *kr = 0.30;
        *kb = 0.11;
        return;
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M:
        *kr = 0.299;
        *kb = 0.114;
        return;
    case AVCOL_SPC_SMPTE240M:
        *kr = 0.212;
        *kb = 0.087;
        return;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL:
        *kr = 0.2627;
        *kb = 0.0593;
        return;
    default:
        if (height >= 720) {
            *kr = 0.2126;
            *kb = 0.0722;
        } else {
            *kr = 0.299;
            *kb = 0.114;
        }
    }
}

static lc_transfer transfer_of(enum AVColorTransferCharacteristic trc)
{
    return trc == AVCOL_TRC_SMPTE2084      ? LC_TRANSFER_PQ
           : trc == AVCOL_TRC_ARIB_STD_B67 ? LC_TRANSFER_HLG
                                           : LC_TRANSFER_SDR;
}

/* Planar YCbCr with the canvas's chroma layout at the source's bit depth
 * (the next one swscale has, 16 at most), so scaling changes no colour and
 * drops no precision. */
static enum AVPixelFormat scaled_format(int depth, int chroma_444, int *scaled_depth)
{
    static const int depths[] = {8, 9, 10, 12, 14, 16};
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        if (depths[i] < depth)
            continue;
        char name[32];
        if (depths[i] == 8)
            snprintf(name, sizeof name, "yuv%sp", chroma_444 ? "444" : "420");
        else
            snprintf(name, sizeof name, "yuv%sp%dle", chroma_444 ? "444" : "420", depths[i]);
        enum AVPixelFormat f = av_get_pix_fmt(name);
        if (f != AV_PIX_FMT_NONE) {
            *scaled_depth = depths[i];
            return f;
        }
    }
    *scaled_depth = 16;
    return chroma_444 ? AV_PIX_FMT_YUV444P16LE : AV_PIX_FMT_YUV420P16LE;
}

static void fill_black(lc_canvas *cv)
{
    if (cv->rgb_canvas)
        memset(cv->rgb_canvas, 0, (size_t)cv->canvas_w * 3 * cv->canvas_h);
    memset(cv->plane[0], 0, (size_t)cv->stride[0] * cv->canvas_h);
    memset(cv->plane[1], 128, (size_t)cv->stride[1] * (cv->canvas_h >> cv->chroma_shift));
    memset(cv->plane[2], 128, (size_t)cv->stride[2] * (cv->canvas_h >> cv->chroma_shift));
}

static picture_kind kind_of(const lc_canvas *cv, const AVFrame *frame, int field, const char **peak_from)
{
    int full_range = frame->color_range == AVCOL_RANGE_JPEG;
    enum AVPixelFormat fmt = plain_format(frame->format, &full_range);
    const AVFrameSideData *cll = av_frame_get_side_data(frame, AV_FRAME_DATA_CONTENT_LIGHT_LEVEL);
    const AVFrameSideData *mdm = av_frame_get_side_data(frame, AV_FRAME_DATA_MASTERING_DISPLAY_METADATA);
    double peak = peak_of(cll ? cll->data : NULL, mdm ? mdm->data : NULL, peak_from);
    if (!(peak > 0)) {
        peak = cv->stream_peak;
        *peak_from = cv->stream_peak_from;
    }
    int trc = frame->color_trc != AVCOL_TRC_UNSPECIFIED ? (int)frame->color_trc : cv->stream_trc;
    int primaries = frame->color_primaries != AVCOL_PRI_UNSPECIFIED ? (int)frame->color_primaries
                                                                    : cv->stream_primaries;
    return (picture_kind){frame->width, frame->height, field, fmt, frame->colorspace, full_range, trc, primaries, peak};
}

/* An interlaced picture's two fields were taken 1/50 or 1/60 s apart: shown
 * together, anything that moved is combed. So a still is made of one field,
 * the top one (its even lines, in every plane: interlaced 4:2:0 alternates
 * chroma lines between the fields too), which the scaler brings to the full
 * height like any other source: a single-frame method, half the vertical
 * detail of a still scene, no combing. FFmpeg 7 moved the flag. */
static int is_interlaced(const AVFrame *f)
{
#ifdef AV_FRAME_FLAG_INTERLACED
    return !!(f->flags & AV_FRAME_FLAG_INTERLACED);
#else
    return f->interlaced_frame;
#endif
}

/* Rows of the picture the scaler reads: the top field's, or all of them. */
static int scaled_rows(const AVFrame *frame, int field)
{
    return field ? frame->height / 2 : frame->height;
}

static lc_status configure(lc_canvas *cv, const AVFrame *frame, int field, char err[LC_ERRMSG_SIZE])
{
    const char *peak_from = NULL;
    picture_kind k = kind_of(cv, frame, field, &peak_from);
    const picture_kind *o = &cv->kind;
    if (cv->configured && k.w == o->w && k.h == o->h && k.field == o->field && k.fmt == o->fmt && k.space == o->space &&
        k.range == o->range && k.trc == o->trc && k.primaries == o->primaries && k.peak == o->peak)
        return LC_OK;
    cv->configured = 0;

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

    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(k.fmt);
    int yuv = desc && !(desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BAYER)) &&
              k.fmt != AV_PIX_FMT_XYZ12LE && k.fmt != AV_PIX_FMT_XYZ12BE;
    int depth = 8;
    enum AVPixelFormat mid_fmt = yuv ? scaled_format(desc->comp[0].depth, !cv->chroma_shift, &depth) : cv->planes_fmt;

    sws_freeContext(cv->sws);
    cv->sws = NULL;
    lc_colour_free(cv->colour);
    cv->colour = NULL;
    cv->mapping[0] = 0;
    /* Scaling only (same format, matrix and range on both sides) for YCbCr;
     * the filter is the recipe's (Lanczos by default: docs/defaults.md
     * measured bilinear blurring fine detail by ~7 dB for only 2-4 % less CPU).
     * 8-bit results take swscale's fast vertical filter: on 2.7K and 4K
     * pictures it scales in 84-89 % of the time of SWS_ACCURATE_RND and
     * differs from it by at most 1 level (mean +0.006, PSNR 59 dB; see
     * docs/benchmarks.md). Deeper results keep the accurate rounding, which
     * the HDR mapping's extra bits are for. */
    int rounding = depth > 8 ? SWS_ACCURATE_RND : 0;
    if (!(yuv && !field && k.fmt == (int)mid_fmt && k.w == tw && k.h == th)) {
        cv->sws = sws_getContext(frame->width, scaled_rows(frame, field), k.fmt, tw, th, mid_fmt,
                                 cv->sws_filter | rounding, NULL, NULL, NULL);
        if (!cv->sws)
            return lc_fail(err, LC_ERR_UNSUPPORTED, "cannot convert pictures of format %s (%dx%d)",
                           av_get_pix_fmt_name(k.fmt) ? av_get_pix_fmt_name(k.fmt) : "unknown", frame->width,
                           frame->height);
        if (!yuv)
            sws_setColorspaceDetails(cv->sws, sws_getCoefficients(SWS_CS_ITU601), 1, sws_getCoefficients(SWS_CS_ITU601),
                                     1, 0, 1 << 16, 1 << 16);
        else /* one range on both sides: swscale takes grey for full range and would squeeze it */
            sws_setColorspaceDetails(cv->sws, sws_getCoefficients(SWS_CS_DEFAULT), 0,
                                     sws_getCoefficients(SWS_CS_DEFAULT), 0, 0, 1 << 16, 1 << 16);
    }
    if (yuv) {
        lc_colour_desc cd = {.depth = depth,
                             .full_range = k.range,
                             .transfer = transfer_of(k.trc),
                             .bt2020_primaries = k.primaries == AVCOL_PRI_BT2020,
                             .peak_nits = k.peak,
                             .peak_from = peak_from};
        matrix_coefficients(k.space, frame->height, &cd.kr, &cd.kb);
        if (!(cv->colour = lc_colour_new(&cd)))
            return lc_fail(err, LC_ERR_NOMEM, "out of memory");
        const char *mapping = lc_colour_mapping(cv->colour);
        if (mapping)
            snprintf(cv->mapping, sizeof cv->mapping, "%s%s%s", cv->dovi, cv->dovi[0] ? ", base layer: " : "", mapping);
    }

    av_freep(&cv->mid_buf);
    if (cv->sws && av_image_alloc(cv->mid_plane, cv->mid_stride, tw + 64, th + 2, mid_fmt, 64) < 0)
        return lc_fail(err, LC_ERR_NOMEM, "out of memory");
    cv->mid_buf = cv->sws ? cv->mid_plane[0] : NULL;
    av_freep(&cv->turn_buf);
    if ((cv->rotation || cv->hflip) && yuv &&
        av_image_alloc(cv->turn_plane, cv->turn_stride, tw, th, cv->planes_fmt, 64) < 0)
        return lc_fail(err, LC_ERR_NOMEM, "out of memory");
    cv->turn_buf = (cv->rotation || cv->hflip) && yuv ? cv->turn_plane[0] : NULL;
    cv->turn_w = tw;
    cv->turn_h = th;
    cv->kind = k;
    cv->configured = 1;
    fill_black(cv);
    return LC_OK;
}

/* Copies a w x h source plane into a destination rect, mirrored left-right if
 * `hflip` and then turned clockwise by `rotation`: extract.h's orientation
 * convention, which sourcefile.c's decomposition of the display matrix
 * follows. Each destination pixel (x, y) reads the
 * source at row r0 + x*rx + y*ry, column c0 + x*cx + y*cy. */
static void turn_plane(const uint8_t *src, int src_stride, int sw, int sh, uint8_t *dst, int dst_stride, int dw, int dh,
                       int rotation, int hflip)
{
    long r0 = 0, rx = 0, ry = 1, c0 = 0, cx = 1, cy = 0;
    if (rotation == 0 && !hflip) {
        for (int y = 0; y < dh; y++)
            memcpy(dst + (long)y * dst_stride, src + (long)y * src_stride, (size_t)dw);
        return;
    }
    switch (rotation) {
    case 90:
        r0 = sh - 1;
        rx = -1;
        ry = 0;
        c0 = 0;
        cx = 0;
        cy = 1;
        break;
    case 180:
        r0 = sh - 1;
        rx = 0;
        ry = -1;
        c0 = sw - 1;
        cx = -1;
        cy = 0;
        break;
    case 270:
        r0 = 0;
        rx = 1;
        ry = 0;
        c0 = sw - 1;
        cx = 0;
        cy = -1;
        break;
    default:
        break;
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
    /* A field needs at least two rows of its own in every plane. */
    const int field = is_interlaced(frame) && frame->height >= 8;
    lc_status status = configure(cv, frame, field, err);
    if (status != LC_OK)
        return status;
    const lc_rect r = cv->rect;
    uint8_t *dst[3] = {cv->plane[0] + (long)r.y * cv->stride[0] + r.x,
                       cv->plane[1] + (long)(r.y >> cv->chroma_shift) * cv->stride[1] + (r.x >> cv->chroma_shift),
                       cv->plane[2] + (long)(r.y >> cv->chroma_shift) * cv->stride[2] + (r.x >> cv->chroma_shift)};
    const uint8_t *const *scaled = (const uint8_t *const *)frame->data;
    const int *scaled_stride = frame->linesize;
    if (cv->sws) {
        /* The top field: every other row of each plane. */
        int linesize[AV_NUM_DATA_POINTERS];
        for (int p = 0; p < AV_NUM_DATA_POINTERS; p++)
            linesize[p] = frame->linesize[p] * (field ? 2 : 1);
        sws_scale(cv->sws, (const uint8_t *const *)frame->data, linesize, 0, scaled_rows(frame, field), cv->mid_plane,
                  cv->mid_stride);
        scaled = (const uint8_t *const *)cv->mid_plane;
        scaled_stride = cv->mid_stride;
    }
    const int turned = cv->rotation || cv->hflip;
    const uint8_t *const *jfif = scaled; /* RGB sources: swscale wrote JFIF planes */
    const int *jfif_stride = scaled_stride;
    if (cv->colour) {
        lc_colour_convert(cv->colour, scaled, scaled_stride, turned ? cv->turn_plane : dst,
                          turned ? cv->turn_stride : cv->stride, cv->turn_w, cv->turn_h, cv->chroma_shift);
        jfif = (const uint8_t *const *)cv->turn_plane;
        jfif_stride = cv->turn_stride;
    }
    if (!cv->colour || turned)
        for (int p = 0; p < 3; p++) {
            int shift = p ? cv->chroma_shift : 0;
            turn_plane(jfif[p], jfif_stride[p], cv->turn_w >> shift, cv->turn_h >> shift, dst[p], cv->stride[p],
                       r.width >> shift, r.height >> shift, cv->rotation, cv->hflip);
        }
    out->colour_mapping = cv->mapping[0] ? cv->mapping : NULL;
    out->content_x = r.x;
    out->content_y = r.y;
    out->content_width = r.width;
    out->content_height = r.height;
    out->source_width = frame->width;
    out->source_height = frame->height;
    out->deinterlaced = field;
    /* The luma as the JPEG gets it; a failure (out of memory) only leaves the row without signals. */
    lc_signals_compute(dst[0], cv->stride[0], r.width, r.height, &out->signals);
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
    if (tjCompressFromYUVPlanes(cv->tj, planes, cv->canvas_w, cv->stride, cv->canvas_h, samp, &cv->jpeg, &size,
                                cv->quality, TJFLAG_NOREALLOC) != 0)
        return lc_fail(err, LC_ERR_INTERNAL, "JPEG encoding failed: %s", tjGetErrorStr2(cv->tj));
    out->jpeg = cv->jpeg;
    out->jpeg_size = size;
    return LC_OK;
}
