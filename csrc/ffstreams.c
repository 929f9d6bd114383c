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
 * its picture is kept for the first request of every extraction
 * (lc_take_first_picture). The source is then opened again and
 * find_stream_info, told those parameters, reads from the top as before
 * (times, frame rates, durations, the other streams) with its H.264 decoder
 * decoding nothing (skip_frame=all). Where the first keyframe gives no
 * picture on its own (a recovery point, damage), the streams are read the
 * ordinary way.
 */
#include "ffinternal.h"

/* How far to look for the first keyframe before reading the ordinary way. */
#define FIRST_KEYFRAME_PACKETS 600
/* How many of the stream's packets, from its first keyframe on, may go into
 * the decoder for its first picture: two fields, and the reorder delay of a
 * stream with B-frames (at most 16 pictures in H.264). */
#define FIRST_PICTURE_PACKETS 40

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

/* Sends the keyframe packet in pkt, then stream k's packets after it, until
 * the decoder gives a picture. A field-coded picture (interlaced AVCHD, PAFF:
 * each frame two field pictures) comes in two packets, and the keyframe's
 * first field alone gives none. 1 when `picture` holds one. */
static int first_picture(AVFormatContext *fmt, int k, AVCodecContext *dec, AVPacket *pkt, AVFrame *picture)
{
    for (int n = 0; n < FIRST_PICTURE_PACKETS; n++) {
        int sent = avcodec_send_packet(dec, pkt);
        av_packet_unref(pkt);
        if (sent < 0 && sent != AVERROR(EAGAIN))
            return 0;
        int ret = avcodec_receive_frame(dec, picture);
        if (ret == 0)
            return 1;
        if (ret != AVERROR(EAGAIN))
            return 0;
        int read;
        while ((read = av_read_frame(fmt, pkt)) >= 0 && pkt->stream_index != k)
            av_packet_unref(pkt);
        if (read < 0)
            break;
    }
    return avcodec_send_packet(dec, NULL) >= 0 && avcodec_receive_frame(dec, picture) == 0;
}

/* Decodes stream k's first keyframe alone (with `fields`, and the packets
 * after it until a picture comes: first_picture). On a picture, returns the
 * decoder's parameters (what find_stream_info would learn) and keeps the
 * picture; NULL if no picture came. *earliest is the earliest time among
 * stream k's packets up to the keyframe (AV_NOPTS_VALUE if none had one),
 * *shown the same of presentation times an edit list does not hide. */
static AVCodecParameters *decode_first_keyframe(lc_source *src, int k, int64_t *earliest, int64_t *shown, int fields)
{
    AVCodecParameters *par = avcodec_parameters_alloc();
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *picture = av_frame_alloc();
    char err[LC_ERRMSG_SIZE];
    int found = 0;
    src->stream_index = k; /* lc_open_decoder's stream */
    if (!par || !pkt || !picture || lc_open_decoder(src, &dec, err) != LC_OK)
        goto fail;
    *earliest = *shown = AV_NOPTS_VALUE;
    for (int n = 0; !found && n < FIRST_KEYFRAME_PACKETS && av_read_frame(src->fmt, pkt) >= 0; n++) {
        int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        if (pkt->stream_index == k && ts != AV_NOPTS_VALUE && (*earliest == AV_NOPTS_VALUE || ts < *earliest))
            *earliest = ts;
        if (pkt->stream_index == k && pkt->pts != AV_NOPTS_VALUE && !(pkt->flags & AV_PKT_FLAG_DISCARD) &&
            (*shown == AV_NOPTS_VALUE || pkt->pts < *shown))
            *shown = pkt->pts;
        found = pkt->stream_index == k && (pkt->flags & AV_PKT_FLAG_KEY);
        if (!found)
            av_packet_unref(pkt);
    }
    int got = found && (fields ? first_picture(src->fmt, k, dec, pkt, picture)
                               : avcodec_send_packet(dec, pkt) >= 0 && avcodec_send_packet(dec, NULL) >= 0 &&
                                     avcodec_receive_frame(dec, picture) == 0);
    if (!got || dec->pix_fmt == AV_PIX_FMT_NONE || avcodec_parameters_from_context(par, dec) < 0)
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
    return lc_open_input(src->path, &src->recording, &src->fmt);
}

int lc_read_streams(lc_source *src, int raw_stream, int (*pick)(AVFormatContext *))
{
    AVCodecParameters *learnt = NULL;
    int64_t earliest = AV_NOPTS_VALUE, shown = AV_NOPTS_VALUE;
    int k = raw_stream ? -1 : pick(src->fmt), ret;
    /* A raw stream's frame rate comes from decoding: it is read the ordinary way. */
    int probed = k >= 0 && src->fmt->streams[k]->codecpar->codec_id == AV_CODEC_ID_H264 &&
                 src->fmt->streams[k]->codecpar->format == AV_PIX_FMT_NONE;
    /* The keyframe packet alone, drained, is one picture for frame-coded
     * video; a field-coded one needs its second field (one reopen more). */
    if (probed && !(learnt = decode_first_keyframe(src, k, &earliest, &shown, 0)) && (ret = reopen(src)) >= 0)
        learnt = decode_first_keyframe(src, k, &earliest, &shown, 1);
    /* Whatever the probe decode gave, the streams are read from the top: left
     * where it stopped, find_stream_info would miss the parameters the
     * packets it consumed carried (an interlaced .MTS whose only keyframe,
     * with the stream's SPS, was read: 0x0, refused). */
    if (probed && (ret = reopen(src)) < 0)
        goto done;
    if (learnt) {
        if ((unsigned)k < src->fmt->nb_streams && src->fmt->streams[k]->codecpar->codec_id == AV_CODEC_ID_H264)
            ret = avcodec_parameters_copy(src->fmt->streams[k]->codecpar, learnt);
        else
            ret = AVERROR_INVALIDDATA; /* not the stream it was: cannot happen for a file that stays put */
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
    if (learnt &&
        (!st || st->start_time == AV_NOPTS_VALUE || (earliest != AV_NOPTS_VALUE && st->start_time < earliest))) {
        av_frame_free(&src->first_picture);
        if ((ret = reopen(src)) < 0 || (ret = find_stream_info(src->fmt, -1)) < 0)
            goto done;
        src->stream_index = pick(src->fmt);
    } else if (learnt && shown != AV_NOPTS_VALUE && shown < st->start_time) {
        /* The reverse: a start later than the stream's first shown packet (a
         * Matroska cut short gave 9 ms against a first frame at 0). The
         * timeline starts at the first frame, never after it. */
        src->fmt->streams[k]->start_time = shown;
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
