/*
 * ffsession.c: one worker's decoding session: a demuxer and a decoder that
 * start at a keyframe and hand out pictures in presentation order. Where to
 * start and what to skip is the planner's decision (plan.h); this file only
 * carries it out.
 */
#include <stdlib.h>
#include <string.h>

#include "ffinternal.h"

/* Read without a lock, between packets, so a stop (Ctrl-C, a sink that quits)
 * ends a long forward decode at once. */
static int stopping(const lc_session *s)
{
    return s->stop && __atomic_load_n(s->stop, __ATOMIC_RELAXED);
}

static void clear_pending(lc_session *s)
{
    while (s->n_pending > 0)
        av_frame_free(&s->pending[--s->n_pending]);
}

static int64_t packet_ts(const AVPacket *p)
{
    return p->pts != AV_NOPTS_VALUE ? p->pts : p->dts;
}

lc_status lc_session_open(lc_session *s, lc_source *src, lc_keyframe *kf, const int *stop, char err[LC_ERRMSG_SIZE])
{
    memset(s, 0, sizeof *s);
    s->src = src;
    s->kf = kf;
    s->learnt_lo = 1; /* nothing learnt: lo > hi */
    s->stop = stop;
    s->keyframe = LC_PLAN_NONE;
    lc_status status = lc_open_demuxer(src, &s->fmt, err);
    if (status == LC_OK)
        status = lc_open_decoder(src, &s->dec, err);
    if (status == LC_OK && !(s->pkt = av_packet_alloc()))
        status = lc_fail(err, LC_ERR_NOMEM, "out of memory");
    return status;
}

void lc_session_close(lc_session *s)
{
    clear_pending(s);
    av_packet_free(&s->pkt);
    avcodec_free_context(&s->dec);
    lc_close_demuxer(s->src, &s->fmt);
}

void lc_session_end(lc_session *s)
{
    av_packet_unref(s->pkt);
    clear_pending(s);
    s->held = 0;
    s->keyframe = LC_PLAN_NONE;
}

/* Next packet of the video stream. 1 at the true end of the file, -1 on a
 * read error (a damaged or truncated file simply ends there). */
static int read_video_packet(lc_session *s)
{
    for (;;) {
        int ret = av_read_frame(s->fmt, s->pkt);
        if (ret < 0)
            return ret == AVERROR_EOF ? 1 : -1;
        if (s->pkt->stream_index == s->src->stream_index) {
            if (s->read_ordinal >= 0)
                s->read_ordinal++;
            return 0;
        }
        av_packet_unref(s->pkt);
    }
}

static lc_status reopen(lc_session *s, char err[LC_ERRMSG_SIZE])
{
    lc_close_demuxer(s->src, &s->fmt);
    s->read_ordinal = 0;
    return lc_open_demuxer(s->src, &s->fmt, err);
}

/* Index-less files: jump to the keyframe's byte position (recorded by the
 * packet scan) and find its packet there. 0 if the demuxer cannot land on it. */
static int seek_by_byte(lc_session *s, const lc_keyframe *kf)
{
    if (kf->pos < 0 || (s->fmt->iformat->flags & AVFMT_NO_BYTE_SEEK))
        return 0;
    /* From here on the packet count is unknown until a packet is matched:
     * a forward skip after a failed jump starts over from the top. */
    s->read_ordinal = -1;
    if (av_seek_frame(s->fmt, -1, kf->pos, AVSEEK_FLAG_BYTE) < 0)
        return 0;
    /* A few packets may come before it (a demuxer resyncing); past it, the
     * demuxer did not land where the scan saw the packet. */
    for (int n = 0; n < 64 && !stopping(s); n++) {
        if (read_video_packet(s) != 0)
            return 0;
        if (s->pkt->pos == kf->pos && (s->pkt->flags & AV_PKT_FLAG_KEY || kf->ordinal == 0) &&
            packet_ts(s->pkt) == kf->seek_ts) {
            s->read_ordinal = kf->ordinal + 1;
            return 1;
        }
        int passed = s->pkt->pos > kf->pos;
        av_packet_unref(s->pkt);
        if (passed)
            return 0;
    }
    return 0;
}

/* Forward only: skip packets up to the keyframe's ordinal, or start over from
 * the top when it lies behind us. 1 when pkt holds the keyframe. */
static lc_status skip_to_ordinal(lc_session *s, const lc_keyframe *kf, int *found, char err[LC_ERRMSG_SIZE])
{
    lc_status status;
    *found = 0;
    if ((s->read_ordinal < 0 || s->read_ordinal > kf->ordinal) && (status = reopen(s, err)) != LC_OK)
        return status;
    while (s->read_ordinal <= kf->ordinal) {
        if (stopping(s) || read_video_packet(s) != 0)
            return LC_OK;
        if (s->read_ordinal - 1 == kf->ordinal) {
            *found = 1;
            return LC_OK;
        }
        av_packet_unref(s->pkt);
    }
    return LC_OK;
}

/* Files with a trusted index: seek by time and take the keyframe's packet.
 * 1 when pkt holds it, 0 if it cannot be reached, -1 when its packet is no
 * key packet: the demuxer's parser read the picture (H.264, HEVC) and it is
 * a predicted one the index calls a keyframe (*status set when reopening
 * the demuxer failed). */
static int seek_by_index(lc_session *s, size_t k, lc_status *status, char err[LC_ERRMSG_SIZE])
{
    const lc_source *src = s->src;
    const lc_keyframe *kf = &s->kf[k];
    /* Demuxers differ in whether they seek by decode or presentation time
     * (MP4 indexes decode times, but seeks by presentation time), so seek by
     * the presentation time and skip whatever comes before the keyframe: a
     * key packet nearer to it than to the previous one. */
    int64_t lower_us = k > 0 ? kf[-1].pts_us + (kf->pts_us - kf[-1].pts_us) / 2 : INT64_MIN;
    for (int fresh = 0;; fresh = 1) {
        if (av_seek_frame(s->fmt, src->stream_index, lc_us_to_pts(src, kf->pts_us), AVSEEK_FLAG_BACKWARD) < 0 &&
            av_seek_frame(s->fmt, src->stream_index, kf->seek_ts, AVSEEK_FLAG_BACKWARD) < 0)
            return 0;
        for (;;) {
            if (stopping(s) || read_video_packet(s) != 0)
                return 0;
            int64_t ts = packet_ts(s->pkt);
            if (s->pkt->pos == kf->pos && kf->pos >= 0 && !(s->pkt->flags & AV_PKT_FLAG_KEY))
                return -1;
            if ((s->pkt->flags & AV_PKT_FLAG_KEY) && (ts == AV_NOPTS_VALUE || lc_pts_to_us(src, ts) >= lower_us))
                break;
            av_packet_unref(s->pkt);
        }
        /* A damaged index (an MP4's composition offsets) can give the same
         * packet another time depending on what the demuxer read before: a
         * keyframe that lands away from its index time is sought again from
         * a freshly opened demuxer, so that every worker, whatever it
         * decoded before, gets the same times. */
        int64_t ts = packet_ts(s->pkt);
        if (fresh || ts == AV_NOPTS_VALUE || s->src->raw_frame_us || llabs(lc_pts_to_us(src, ts) - kf->pts_us) <= 1000)
            return 1;
        av_packet_unref(s->pkt);
        s->reseeks++;
        if ((*status = reopen(s, err)) != LC_OK)
            return 0;
    }
}

void lc_session_learnt(lc_session *s, size_t k)
{
    if (s->learnt_lo > s->learnt_hi) {
        s->learnt_lo = s->learnt_hi = k;
    } else {
        s->learnt_lo = k < s->learnt_lo ? k : s->learnt_lo;
        s->learnt_hi = k > s->learnt_hi ? k : s->learnt_hi;
    }
}

void lc_session_forget(lc_session *s)
{
    if (s->learnt_lo <= s->learnt_hi)
        lc_keyframes_init_ready(&s->kf[s->learnt_lo], s->learnt_hi - s->learnt_lo + 1);
    s->learnt_lo = 1;
    s->learnt_hi = 0;
}

/* The index called keyframe k one, and it is none. Counted once per
 * extraction, by the first worker to mark it in the source's keyframes,
 * which no worker plans by while it runs. */
static void found_false(lc_session *s, size_t k)
{
    lc_keyframe_learn_false(&s->kf[k]);
    lc_session_learnt(s, k);
    s->false_keyframes += lc_keyframe_learn_false(&s->src->keyframes[k]);
    s->index_lied = 1;
}

lc_status lc_session_start(lc_session *s, size_t k, char err[LC_ERRMSG_SIZE])
{
    const lc_keyframe *kf = &s->kf[k];
    lc_status status = LC_OK;
    int found = 0;
    lc_session_end(s);
    s->started = k;
    /* A new decoder, not a flushed one: a flush keeps what the decoder
     * learnt from earlier packets (H.264's and HEVC's parameter sets), and a
     * keyframe whose own are damaged would then decode with those this
     * worker happened to read before, so its picture would depend on which
     * requests the worker ran first. */
    avcodec_free_context(&s->dec);
    if ((status = lc_open_decoder(s->src, &s->dec, err)) != LC_OK)
        return status;
    s->drained = s->eof = s->at_end = s->tainted = s->start_checked = s->withholding = 0;
    s->first_us = LC_PLAN_NEVER;
    s->consumed_us = s->undo_consumed_us = INT64_MIN;
    s->last_us = INT64_MIN;
    s->sent_before_t_us = INT64_MIN;
    s->pictures = 0;
    s->passing = k + 1;
    if (!s->src->info.keyframe_index) {
        found = seek_by_byte(s, kf);
        if (!found && (status = skip_to_ordinal(s, kf, &found, err)) != LC_OK)
            return status;
    } else if ((found = seek_by_index(s, k, &status, err)) < 0) {
        found_false(s, k);
        /* Nothing lies before the file's start to decode from instead:
         * decode on from it, and picture only what an intra picture starts. */
        found = s->withholding = k == 0;
    }
    if (status != LC_OK)
        return status;
    if (!found) {
        av_packet_unref(s->pkt);
        s->eof = 1;
        s->own_us = kf->pts_us;
        return LC_OK;
    }
    s->held = 1;
    s->keyframe = s->started = k;
    s->first_ordinal = kf->ordinal;
    int64_t ts = packet_ts(s->pkt);
    /* Raw streams have no times: the keyframe's place gives them. */
    s->own_us = ts == AV_NOPTS_VALUE || s->src->raw_frame_us ? kf->pts_us : lc_pts_to_us(s->src, ts);
    return LC_OK;
}

int64_t lc_session_frame_us(const lc_session *s, const AVFrame *f)
{
    if (s->src->raw_frame_us)
        return f->opaque ? (int64_t)(intptr_t)f->opaque - 1 : INT64_MIN;
    int64_t ts = f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp : f->pts;
    return ts == AV_NOPTS_VALUE ? INT64_MIN : lc_pts_to_us(s->src, ts);
}

static int key_picture(const AVFrame *f)
{
#ifdef AV_FRAME_FLAG_KEY
    return !!(f->flags & AV_FRAME_FLAG_KEY);
#else
    return f->key_frame;
#endif
}

/* Damage travels: a picture predicted from a damaged one shows its damage
 * although the decoder reports nothing (H.264 flags only the picture it
 * concealed). So every picture after a damaged one is marked damaged too,
 * until the next keyframe. In presentation order, which is all a decoder
 * tells: a B-picture shown before the damaged reference it was predicted
 * from is not caught. */
static void carry_damage(lc_session *s, AVFrame *f)
{
    if (key_picture(f))
        s->tainted = 0;
    if (lc_picture_damaged(f))
        s->tainted = 1;
    else if (s->tainted)
        f->flags |= AV_FRAME_FLAG_CORRUPT;
}

/* A picture decoded without references to earlier ones. Decoders that do
 * not say leave key_frame at its default, 1; H.264's I-pictures without a
 * recovery point are intra but not "key". */
static int intra_picture(const AVFrame *f)
{
    return key_picture(f) || f->pict_type == AV_PICTURE_TYPE_I;
}

/* The keyframe's own picture must be intra: a predicted one (an index that
 * calls P-frames keyframes) is predicted from whatever the decoder had, and
 * everything decoded on from it too. 0 when the session must end: decoding
 * starts again from an earlier keyframe. At the file's start there is none:
 * pictures are withheld until an intra one comes. A first picture later
 * than the keyframe's time is not judged: H.264 withholds its pictures
 * itself until a recovery point's refresh completes, and an edit list may
 * hide the keyframe's own. */
static int check_start(lc_session *s, const AVFrame *f, int64_t us)
{
    if (!s->start_checked && us != INT64_MIN && us >= s->own_us) {
        s->start_checked = 1;
        if (lc_plan_false_keyframe(s->own_us, us, intra_picture(f))) {
            found_false(s, s->started);
            if (s->started > 0)
                return 0;
            s->withholding = 1;
        }
    }
    if (s->withholding && intra_picture(f))
        s->withholding = 0;
    return 1;
}

/* Once the index lied, a predicted picture at a later keyframe's time shows
 * that keyframe false too, at no cost: decoding goes on through false
 * keyframes (lc_plan_continue) and learns them before anyone seeks there.
 * Not before: an H.264 recovery point's picture decoded on from the IDR is
 * a predicted one (its refresh is spread over the pictures after it), yet
 * decoding from it does give whole pictures later. */
static void check_passing(lc_session *s, const AVFrame *f, int64_t us)
{
    const lc_keyframe *kf = s->kf;
    size_t n = s->src->n_keyframes, k = s->passing;
    if (!s->index_lied || us == INT64_MIN)
        return;
    while (k < n && kf[k].pts_us < us && !lc_plan_false_keyframe(kf[k].pts_us, us, 0))
        k++;
    s->passing = k;
    if (k < n && !kf[k].hidden && lc_plan_false_keyframe(kf[k].pts_us, us, intra_picture(f)))
        found_false(s, k);
}

/* The decoder produced a picture: note its time for the planner. 1 to hand
 * it out, 0 to drop it: predicted from nothing, withheld (and the session
 * ends if it is no longer withholding: see check_start). */
static int got_picture(lc_session *s, AVFrame *f)
{
    s->decoded++;
    carry_damage(s, f);
    if (s->src->raw_frame_us) {
        /* Raw streams: pictures come in presentation order at the stream's
         * rate, numbered from the keyframe's place among the packets. */
        int64_t us = (s->first_ordinal + s->pictures) * s->src->raw_frame_us;
        f->opaque = (void *)(intptr_t)(us + 1);
    }
    s->pictures++;
    int64_t us = lc_session_frame_us(s, f);
    if (!check_start(s, f, us)) {
        s->keyframe = LC_PLAN_NONE;
        return 0;
    }
    check_passing(s, f, us);
    if (s->withholding)
        return 0;
    if (s->first_us == LC_PLAN_NEVER)
        s->first_us = us;
    if (us > s->last_us)
        s->last_us = us;
    return 1;
}

AVFrame *lc_session_next(lc_session *s, const lc_plan_item *item, int more_packets)
{
    AVFrame *f = NULL;
    if (s->n_pending > 0) {
        f = s->pending[0];
        memmove(&s->pending[0], &s->pending[1], sizeof(AVFrame *) * --s->n_pending);
        goto out;
    }
    if (s->keyframe == LC_PLAN_NONE || !(f = av_frame_alloc()))
        return NULL;
    for (;;) {
        if (stopping(s))
            break;
        int ret = avcodec_receive_frame(s->dec, f);
        if (ret == 0) {
            if (got_picture(s, f))
                goto out;
            av_frame_unref(f);
            if (s->keyframe == LC_PLAN_NONE)
                break;
            continue;
        }
        if (ret == AVERROR_EOF || (ret != AVERROR(EAGAIN) && s->drained))
            break;
        if (ret != AVERROR(EAGAIN))
            continue; /* a damaged frame: the decoder goes on with the next */
        if (s->drained)
            break;
        if (!s->held) {
            int read = (!more_packets || s->eof) ? -1 : read_video_packet(s);
            if (read != 0) {
                if (more_packets) {
                    s->eof = 1;
                    s->at_end |= read == 1;
                }
                avcodec_send_packet(s->dec, NULL);
                s->drained = 1;
                continue;
            }
        }
        s->held = 0;
        /* Frames that cannot be pictured: let the decoder skip those nothing
         * references. */
        int64_t ts = packet_ts(s->pkt);
        int64_t us = ts == AV_NOPTS_VALUE || s->src->raw_frame_us ? INT64_MIN : lc_pts_to_us(s->src, ts);
        int skip = us != INT64_MIN && !(s->pkt->flags & AV_PKT_FLAG_KEY) &&
                   lc_plan_may_skip(item, us, s->sent_before_t_us);
        if (!skip && us != INT64_MIN && us <= item->t_us && us > s->sent_before_t_us)
            s->sent_before_t_us = us;
        s->dec->skip_frame = skip ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
        avcodec_send_packet(s->dec, s->pkt); /* errors: damaged packet, go on */
        av_packet_unref(s->pkt);
    }
    av_frame_free(&f);
    s->keyframe = LC_PLAN_NONE;
    return NULL;
out:
    s->undo_consumed_us = s->consumed_us;
    s->consumed_us = lc_session_frame_us(s, f);
    return f;
}

void lc_session_push_back(lc_session *s, AVFrame *f)
{
    s->consumed_us = s->undo_consumed_us;
    if (s->n_pending == LC_SESSION_PENDING_MAX) {
        av_frame_free(&f);
        return;
    }
    memmove(&s->pending[1], &s->pending[0], sizeof(AVFrame *) * s->n_pending);
    s->pending[0] = f;
    s->n_pending++;
}
