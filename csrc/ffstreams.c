/*
 * ffstreams.c: the streams' parameters at open, without decoding a picture
 * twice.
 *
 * avformat_find_stream_info decodes video until it has guessed the stream's
 * reorder delay. For H.264 without B-frames (every phone) that is 7 pictures,
 * 45-70 ms of one core at 1080p before any worker starts, and the first of
 * them, the first keyframe, is decoded again for the first request. So for
 * H.264 the parameters only a decoder knows (pixel format, colour, field
 * order, reorder delay) come from decoding the first keyframe here, once, and
 * its picture is kept for the first request (lc_take_first_picture). The
 * source is then opened again and find_stream_info, told those parameters,
 * reads from the top as before (times, frame rates, durations, the other
 * streams) with its H.264 decoder decoding nothing (skip_frame=all). Where
 * the first keyframe gives no picture on its own (a recovery point, damage),
 * the streams are read the ordinary way.
 */
#include "ffinternal.h"

/* How far to look for the first keyframe before reading the ordinary way. */
#define FIRST_KEYFRAME_PACKETS 600

/* The probing decoders of stream `quiet` (-1: none) decode nothing. */
static int find_stream_info(AVFormatContext *fmt, int quiet)
{
    unsigned n = fmt->nb_streams;
    AVDictionary **options = n ? calloc(n, sizeof *options) : NULL;
    if (n && !options)
        return AVERROR(ENOMEM);
    if (quiet >= 0 && (unsigned)quiet < n)
        av_dict_set(&options[quiet], "skip_frame", "all", 0);
    int ret = avformat_find_stream_info(fmt, options);
    for (unsigned i = 0; i < n; i++)
        av_dict_free(&options[i]);
    free(options);
    return ret;
}

/* Decodes stream k's first keyframe alone. On a picture, returns the
 * decoder's parameters (what find_stream_info would learn) and keeps the
 * picture; NULL if no picture came. *earliest is the earliest time among
 * stream k's packets up to the keyframe (AV_NOPTS_VALUE if none had one). */
static AVCodecParameters *decode_first_keyframe(lc_source *src, int k, int64_t *earliest)
{
    AVCodecParameters *par = avcodec_parameters_alloc();
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *picture = av_frame_alloc();
    char err[LC_ERRMSG_SIZE];
    int found = 0;
    src->stream_index = k;   /* lc_open_decoder's stream */
    if (!par || !pkt || !picture || lc_open_decoder(src, 1, &dec, err) != LC_OK)
        goto fail;
    *earliest = AV_NOPTS_VALUE;
    for (int n = 0; !found && n < FIRST_KEYFRAME_PACKETS && av_read_frame(src->fmt, pkt) >= 0; n++) {
        int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        if (pkt->stream_index == k && ts != AV_NOPTS_VALUE && (*earliest == AV_NOPTS_VALUE || ts < *earliest))
            *earliest = ts;
        found = pkt->stream_index == k && (pkt->flags & AV_PKT_FLAG_KEY);
        if (!found)
            av_packet_unref(pkt);
    }
    if (!found || avcodec_send_packet(dec, pkt) < 0 || avcodec_send_packet(dec, NULL) < 0 ||
        avcodec_receive_frame(dec, picture) < 0 || dec->pix_fmt == AV_PIX_FMT_NONE ||
        avcodec_parameters_from_context(par, dec) < 0)
        goto fail;
    src->first_picture = picture;
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    return par;
fail:
    avcodec_parameters_free(&par);
    av_frame_free(&picture);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    return NULL;
}

/* Closes and opens the source again: reading starts over from the top. */
static int reopen(lc_source *src)
{
    lc_close_demuxer(src, &src->fmt);
    return lc_open_input(src->path, &src->fmt);
}

int lc_read_streams(lc_source *src, int raw_stream, int (*pick)(AVFormatContext *))
{
    AVCodecParameters *learnt = NULL;
    int64_t earliest = AV_NOPTS_VALUE;
    int k = raw_stream ? -1 : pick(src->fmt), ret;
    /* A raw stream's frame rate comes from decoding: it is read the ordinary way. */
    if (k >= 0 && src->fmt->streams[k]->codecpar->codec_id == AV_CODEC_ID_H264 &&
        src->fmt->streams[k]->codecpar->format == AV_PIX_FMT_NONE &&
        (learnt = decode_first_keyframe(src, k, &earliest))) {
        if ((ret = reopen(src)) < 0)
            goto done;
        if ((unsigned)k < src->fmt->nb_streams && src->fmt->streams[k]->codecpar->codec_id == AV_CODEC_ID_H264)
            ret = avcodec_parameters_copy(src->fmt->streams[k]->codecpar, learnt);
        else
            ret = AVERROR_INVALIDDATA;   /* not the stream it was: cannot happen for a file that stays put */
        if (ret < 0)
            goto done;
    }
    if ((ret = find_stream_info(src->fmt, learnt ? k : -1)) < 0)
        goto done;
    src->stream_index = pick(src->fmt);
    /* find_stream_info may stop before the stream's first packet when its
     * parameters are known and the other streams' come first (Matroska whose
     * video starts seconds after its audio): the stream then gets the file's
     * start time, earlier than any of its packets. Read the ordinary way then,
     * and also where find_stream_info found another stream to prefer. */
    const AVStream *st = learnt && src->stream_index == k ? src->fmt->streams[k] : NULL;
    if (learnt && (!st || st->start_time == AV_NOPTS_VALUE ||
                   (earliest != AV_NOPTS_VALUE && st->start_time < earliest))) {
        av_frame_free(&src->first_picture);
        if ((ret = reopen(src)) < 0 || (ret = find_stream_info(src->fmt, -1)) < 0)
            goto done;
        src->stream_index = pick(src->fmt);
    }
    ret = 0;
done:
    avcodec_parameters_free(&learnt);
    return ret;
}

AVFrame *lc_take_first_picture(lc_source *src, size_t k)
{
    const AVFrame *f = src->first_picture;
    if (!f || k >= src->n_keyframes)
        return NULL;
    int64_t ts = f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp : f->pts;
    if (ts == AV_NOPTS_VALUE || lc_pts_to_us(src, ts) != src->keyframes[k].pts_us || lc_picture_damaged(f))
        return NULL;
    return av_frame_clone(f);
}
