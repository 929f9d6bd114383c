/*
 * ffcommon.c: what the FFmpeg backend's files share above the input layer
 * (ffio.c) and below the rest: the bundle timeline's time conversions, a
 * worker's demuxer and decoder, and what counts as a damaged picture. Kept
 * apart so ffsource.c, ffstreams.c and ffsession.c call down to it and never
 * to each other in a circle.
 */
#include "ffinternal.h"

int64_t lc_pts_to_us(const lc_source *src, int64_t pts)
{
    return av_rescale_q(pts - src->start_pts, src->time_base, (AVRational){1, 1000000});
}

int64_t lc_us_to_pts(const lc_source *src, int64_t us)
{
    return src->start_pts + av_rescale_q(us, (AVRational){1, 1000000}, src->time_base);
}

int lc_picture_damaged(const AVFrame *f)
{
    return f->decode_error_flags != 0 || (f->flags & AV_FRAME_FLAG_CORRUPT);
}

lc_status lc_open_demuxer(const lc_source *src, AVFormatContext **out, char err[LC_ERRMSG_SIZE])
{
    char ebuf[AV_ERROR_MAX_STRING_SIZE];
    AVFormatContext *fmt = NULL;
    int ret = lc_open_input(src->path, &src->recording, &fmt);
    if (ret < 0)
        return lc_fail(err, LC_ERR_IO, "cannot open the file again: %s", lc_av_error(ret, ebuf));
    /* Streams only appear after find_stream_info in headerless containers. */
    if ((unsigned)src->stream_index >= fmt->nb_streams && (ret = avformat_find_stream_info(fmt, NULL)) < 0) {
        lc_close_demuxer(src, &fmt);
        return lc_fail(err, LC_ERR_DAMAGED, "cannot read the streams: %s", lc_av_error(ret, ebuf));
    }
    if ((unsigned)src->stream_index >= fmt->nb_streams) {
        lc_close_demuxer(src, &fmt);
        return lc_fail(err, LC_ERR_DAMAGED, "the video stream vanished on reopening");
    }
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        fmt->streams[i]->discard = (int)i == src->stream_index ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
    *out = fmt;
    return LC_OK;
}

lc_status lc_open_decoder(const lc_source *src, AVCodecContext **out, char err[LC_ERRMSG_SIZE])
{
    char ebuf[AV_ERROR_MAX_STRING_SIZE];
    const AVStream *st = src->fmt->streams[src->stream_index];
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    AVCodecContext *dec = avcodec_alloc_context3(codec);
    int ret;
    if (!dec)
        return lc_fail(err, LC_ERR_NOMEM, "out of memory");
    if ((ret = avcodec_parameters_to_context(dec, st->codecpar)) < 0)
        goto fail;
    dec->pkt_timebase = st->time_base;
    /* One thread: the decoder's own threads conceal a damaged stream
     * differently. Frame threads differ from run to run, as the threads
     * happen to wait on each other's references; slice threads differ with
     * their number (H.264 conceals by another path with more than one). And
     * the worker count decided how many a decoder got, so the same file gave
     * another picture, or none, for another --workers. Workers, one per
     * chunk of requests, are where the cores go. */
    dec->thread_count = 1;
    dec->thread_type = FF_THREAD_SLICE;
    if ((ret = avcodec_open2(dec, codec, NULL)) < 0)
        goto fail;
    *out = dec;
    return LC_OK;
fail:
    avcodec_free_context(&dec);
    return lc_fail(err, LC_ERR_UNSUPPORTED, "cannot open the %s decoder: %s", codec->name, lc_av_error(ret, ebuf));
}
