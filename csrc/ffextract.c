/*
 * ffextract.c: the FFmpeg backend's extraction: planned decoding in worker
 * threads, results handed to the sink in request order on the calling thread.
 *
 * Each worker owns a demuxer, a decoder, a canvas and a JPEG handle, and takes
 * whole chunks of the plan (plan.h), so no GOP is decoded by two workers.
 * A worker runs at most LOOKAHEAD requests ahead of what the sink has taken,
 * which bounds memory whatever the video's length.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/avutil.h>
#include <libswscale/version.h>

#include "cpus.h"
#include "ffinternal.h"

#define LOOKAHEAD 32
#define MAX_WORKERS 16
#define PENDING_MAX 4

typedef struct slot {
    int ready;
    lc_frame frame;
    unsigned char *jpeg;   /* owned copy of the JPEG or RGB bytes, freed once the sink had it */
    char *colour_mapping;  /* owned copy: the canvas that wrote it may be gone by delivery */
} slot;

typedef struct job {
    lc_source *src;
    const lc_recipe *recipe;
    lc_plan_item *items;
    size_t n_items;
    lc_chunk *chunks;
    size_t n_chunks;
    slot *slots;
    int sequential;          /* no trustworthy index: skip forward over packets instead of seeking */
    int decoder_threads;
    size_t lookahead;        /* requests a worker may run ahead of the sink */
    pthread_mutex_t mu;
    pthread_cond_t changed;
    size_t next_chunk, delivered;
    int stop, workers_running;
    lc_status status;
    char err[LC_ERRMSG_SIZE];
} job;

/* A worker's decoding session: which keyframe it decodes forward from. */
typedef struct worker {
    job *job;
    pthread_t thread;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    int held;                /* pkt holds the keyframe packet, not yet sent */
    AVFrame *pending[PENDING_MAX];   /* decoded but not yet consumed, in time order */
    int n_pending;
    lc_canvas *canvas;
    long session_keyframe;   /* -1: no session (after a drain or an error) */
    int64_t floor_us;        /* frames before the keyframe are leading pictures: dropped */
    int drained, eof;
    int64_t read_ordinal;    /* video packets read so far (sequential mode) */
    int decoded;             /* frames the decoder produced for the current request */
} worker;

/* Read without the lock, between packets, so a stop (Ctrl-C, a sink that
 * quits) ends a long forward decode at once instead of after the request. */
static int stopping(const job *j)
{
    return __atomic_load_n(&j->stop, __ATOMIC_RELAXED);
}

static void clear_pending(worker *w)
{
    while (w->n_pending > 0)
        av_frame_free(&w->pending[--w->n_pending]);
}

static void push_pending_front(worker *w, AVFrame *f)
{
    if (w->n_pending == PENDING_MAX) {
        av_frame_free(&f);
        return;
    }
    memmove(&w->pending[1], &w->pending[0], sizeof(AVFrame *) * w->n_pending);
    w->pending[0] = f;
    w->n_pending++;
}

static int64_t frame_us(const worker *w, const AVFrame *f)
{
    int64_t ts = f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp : f->pts;
    return ts == AV_NOPTS_VALUE ? INT64_MIN : lc_pts_to_us(w->job->src, ts);
}

static int64_t packet_ts(const AVPacket *p)
{
    return p->pts != AV_NOPTS_VALUE ? p->pts : p->dts;
}

/* Next packet of the video stream; AVERROR_EOF at the end or on a read error
 * (a truncated file simply ends there). */
static int read_video_packet(worker *w)
{
    for (;;) {
        int ret = av_read_frame(w->fmt, w->pkt);
        if (ret < 0)
            return ret == AVERROR(EAGAIN) ? ret : AVERROR_EOF;
        if (w->pkt->stream_index == w->job->src->stream_index) {
            w->read_ordinal++;
            return 0;
        }
        av_packet_unref(w->pkt);
    }
}

static lc_status reopen(worker *w, char err[LC_ERRMSG_SIZE])
{
    avformat_close_input(&w->fmt);
    w->read_ordinal = 0;
    return lc_open_demuxer(w->job->src, &w->fmt, err);
}

/* Starts a session at keyframe k: the demuxer positioned so that pkt holds
 * the keyframe's packet, the decoder empty. */
static lc_status start_session(worker *w, size_t k, char err[LC_ERRMSG_SIZE])
{
    const lc_source *src = w->job->src;
    const lc_keyframe *kf = &src->keyframes[k];
    lc_status status;
    av_packet_unref(w->pkt);
    w->held = 0;
    clear_pending(w);
    avcodec_flush_buffers(w->dec);
    w->session_keyframe = -1;
    w->drained = w->eof = 0;
    if (w->job->sequential) {
        /* Forward only: skip packets up to the keyframe's position, or start
         * over from the top when it lies behind us. */
        if (w->read_ordinal > kf->ordinal && (status = reopen(w, err)) != LC_OK)
            return status;
        while (w->read_ordinal <= kf->ordinal) {
            if (stopping(w->job) || read_video_packet(w) < 0) {
                w->eof = 1;
                return LC_OK;
            }
            if (w->read_ordinal - 1 == kf->ordinal)
                break;
            av_packet_unref(w->pkt);
        }
    } else {
        /* Demuxers differ in whether they seek by decode or presentation
         * time (MP4 indexes decode times, but seeks by presentation time), so
         * seek by the presentation time and skip over whatever comes before
         * the keyframe: a key packet nearer to it than to the previous one. */
        int64_t lower_us = k > 0 ? kf[-1].pts_us + (kf->pts_us - kf[-1].pts_us) / 2 : INT64_MIN;
        if (av_seek_frame(w->fmt, src->stream_index, lc_us_to_pts(src, kf->pts_us), AVSEEK_FLAG_BACKWARD) < 0 &&
            av_seek_frame(w->fmt, src->stream_index, kf->seek_ts, AVSEEK_FLAG_BACKWARD) < 0) {
            w->eof = 1;
            return LC_OK;
        }
        for (;;) {
            if (read_video_packet(w) < 0) {
                w->eof = 1;
                return LC_OK;
            }
            int64_t ts = packet_ts(w->pkt);
            if ((w->pkt->flags & AV_PKT_FLAG_KEY) && (ts == AV_NOPTS_VALUE || lc_pts_to_us(src, ts) >= lower_us))
                break;
            av_packet_unref(w->pkt);
        }
    }
    w->held = 1;
    w->session_keyframe = (long)k;
    int64_t ts = packet_ts(w->pkt);
    w->floor_us = ts == AV_NOPTS_VALUE ? kf->pts_us : lc_pts_to_us(src, ts);
    return LC_OK;
}

/* The next decoded frame of the session, in presentation order; NULL at the
 * end. With more_packets = 0 the decoder gets nothing beyond the keyframe:
 * it is drained instead, and the session ends. */
static AVFrame *next_frame(worker *w, const lc_plan_item *item, int more_packets)
{
    if (w->n_pending > 0) {
        AVFrame *f = w->pending[0];
        memmove(&w->pending[0], &w->pending[1], sizeof(AVFrame *) * --w->n_pending);
        return f;
    }
    AVFrame *f = av_frame_alloc();
    if (!f)
        return NULL;
    for (;;) {
        if (stopping(w->job))
            break;
        int ret = avcodec_receive_frame(w->dec, f);
        if (ret == 0) {
            w->decoded++;
            return f;
        }
        if (ret == AVERROR_EOF || (ret != AVERROR(EAGAIN) && w->drained))
            break;
        if (ret != AVERROR(EAGAIN))
            continue;   /* a damaged frame: the decoder goes on with the next */
        if (w->drained)
            break;
        if (!w->held && (!more_packets || w->eof || read_video_packet(w) < 0)) {
            if (more_packets)
                w->eof = 1;
            avcodec_send_packet(w->dec, NULL);
            w->drained = 1;
            continue;
        }
        w->held = 0;
        /* Frames before the window are never pictured: let the decoder skip
         * those that nothing references. */
        int64_t ts = packet_ts(w->pkt);
        int early = ts != AV_NOPTS_VALUE && lc_pts_to_us(w->job->src, ts) < item->lo_us &&
                    !(w->pkt->flags & AV_PKT_FLAG_KEY);
        w->dec->skip_frame = early ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
        avcodec_send_packet(w->dec, w->pkt);   /* errors: damaged packet, go on */
        av_packet_unref(w->pkt);
    }
    av_frame_free(&f);
    w->session_keyframe = -1;
    return NULL;
}

static int64_t distance(int64_t a, int64_t b) { return a > b ? a - b : b - a; }

/* The frame nearest the request inside its window, decoding forward in the
 * current session; a frame past the request stays pending for the next one. */
static AVFrame *decode_forward(worker *w, const lc_plan_item *item)
{
    AVFrame *best = NULL, *f;
    int64_t best_us = 0;
    while ((f = next_frame(w, item, 1)) != NULL) {
        int64_t us = frame_us(w, f);
        if (us < w->floor_us || us < item->lo_us) {
            av_frame_free(&f);
            continue;
        }
        if (us > item->hi_us) {
            push_pending_front(w, f);
            break;
        }
        if (!best || distance(us, item->t_us) < distance(best_us, item->t_us)) {
            av_frame_free(&best);
            best = av_frame_clone(f);
            best_us = us;
        }
        if (us >= item->t_us) {
            push_pending_front(w, f);
            break;
        }
        av_frame_free(&f);
    }
    return best;
}

/* Decodes the keyframe alone, unless the next item goes on from it. */
static AVFrame *decode_keyframe(worker *w, const lc_plan_item *item, int continues)
{
    AVFrame *f;
    while ((f = next_frame(w, item, continues)) != NULL) {
        int64_t us = frame_us(w, f);
        if (us >= w->floor_us)
            break;
        av_frame_free(&f);
    }
    if (f && (frame_us(w, f) < item->lo_us || frame_us(w, f) > item->hi_us)) {
        push_pending_front(w, f);
        f = NULL;
    }
    return f;
}

static void publish(job *j, size_t i, const lc_frame *frame, unsigned char *jpeg_copy, char *mapping_copy)
{
    pthread_mutex_lock(&j->mu);
    j->slots[i].frame = *frame;
    j->slots[i].jpeg = jpeg_copy;
    j->slots[i].colour_mapping = mapping_copy;
    j->slots[i].frame.colour_mapping = mapping_copy;
    if (frame->rgb)
        j->slots[i].frame.rgb = jpeg_copy;
    else
        j->slots[i].frame.jpeg = jpeg_copy;
    j->slots[i].ready = 1;
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->mu);
}

static lc_status run_item(worker *w, size_t i, int continues, char err[LC_ERRMSG_SIZE])
{
    job *j = w->job;
    lc_plan_item item = j->items[i];
    lc_status status;
    AVFrame *picture = NULL;
    lc_frame out = {.request_index = i, .requested_ms = item.t_us / 1000};
    w->decoded = 0;

    if (item.mode == LC_PLAN_KEYFRAME) {
        if (w->session_keyframe != (long)item.keyframe &&
            (status = start_session(w, item.keyframe, err)) != LC_OK)
            return status;
        /* The index time was an estimate: trust the packet's own time. */
        if (!w->eof && w->floor_us >= item.lo_us && w->floor_us <= item.hi_us) {
            picture = decode_keyframe(w, &item, continues);
            /* An edit list can hide the keyframe itself (MP4 trimmed without
             * re-encoding): then the first shown frame came from decoding on. */
            if (picture)
                out.obtained = frame_us(w, picture) == w->floor_us ? LC_OBTAINED_KEYFRAME : LC_OBTAINED_FORWARD;
        }
        if (!picture) {
            item.mode = LC_PLAN_FORWARD;
            item.keyframe = lc_keyframe_at_or_before(j->src->keyframes, j->src->n_keyframes,
                                                     w->floor_us > item.hi_us && item.keyframe > 0
                                                         ? j->src->keyframes[item.keyframe - 1].pts_us
                                                         : item.lo_us);
        }
    }
    if (item.mode == LC_PLAN_FORWARD) {
        if (w->session_keyframe != (long)item.keyframe &&
            (status = start_session(w, item.keyframe, err)) != LC_OK)
            return status;
        picture = decode_forward(w, &item);
        out.obtained = picture ? LC_OBTAINED_FORWARD : LC_OBTAINED_NONE;
    }

    unsigned char *copy = NULL;
    char *mapping = NULL;
    out.frames_decoded = w->decoded;
    if (picture) {
        out.actual_us = frame_us(w, picture);
        status = lc_canvas_encode(w->canvas, picture, &out, err);
        av_frame_free(&picture);
        if (status != LC_OK)
            return status;
        const unsigned char *bytes = out.rgb ? out.rgb : out.jpeg;
        size_t size = out.rgb ? out.rgb_size : out.jpeg_size;
        if (!(copy = malloc(size)))
            return lc_fail(err, LC_ERR_NOMEM, "out of memory");
        memcpy(copy, bytes, size);
        if (out.colour_mapping && !(mapping = strdup(out.colour_mapping))) {
            free(copy);
            return lc_fail(err, LC_ERR_NOMEM, "out of memory");
        }
    }
    publish(j, i, &out, copy, mapping);
    return LC_OK;
}

static void fail_job(job *j, lc_status status, const char *err)
{
    pthread_mutex_lock(&j->mu);
    if (j->status == LC_OK) {
        j->status = status;
        memcpy(j->err, err, LC_ERRMSG_SIZE);
    }
    __atomic_store_n(&j->stop, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->mu);
}

static void worker_close(worker *w)
{
    clear_pending(w);
    av_packet_free(&w->pkt);
    avcodec_free_context(&w->dec);
    avformat_close_input(&w->fmt);
    lc_canvas_free(w->canvas);
    w->canvas = NULL;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    job *j = w->job;
    char err[LC_ERRMSG_SIZE] = "";
    lc_status status = lc_open_demuxer(j->src, &w->fmt, err);
    if (status == LC_OK)
        status = lc_open_decoder(j->src, j->decoder_threads, &w->dec, err);
    if (status == LC_OK && (!(w->pkt = av_packet_alloc()) || !(w->canvas = lc_canvas_new(j->recipe, j->src))))
        status = lc_fail(err, LC_ERR_NOMEM, "out of memory");
    w->session_keyframe = -1;

    while (status == LC_OK) {
        pthread_mutex_lock(&j->mu);
        if (j->stop || j->next_chunk >= j->n_chunks) {
            pthread_mutex_unlock(&j->mu);
            break;
        }
        lc_chunk c = j->chunks[j->next_chunk++];
        pthread_mutex_unlock(&j->mu);
        for (size_t i = c.first; i < c.end && status == LC_OK; i++) {
            pthread_mutex_lock(&j->mu);
            while (!j->stop && i >= j->delivered + j->lookahead)
                pthread_cond_wait(&j->changed, &j->mu);
            int stop = j->stop;
            pthread_mutex_unlock(&j->mu);
            if (stop)
                break;
            int continues = i + 1 < c.end && j->items[i + 1].keyframe == j->items[i].keyframe;
            status = run_item(w, i, continues, err);
        }
    }
    if (status != LC_OK)
        fail_job(j, status, err);
    worker_close(w);
    pthread_mutex_lock(&j->mu);
    j->workers_running--;
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* Hands finished slots to the sink in request order, polling while it waits. */
static lc_status deliver(job *j, lc_frame_sink sink, lc_poll_fn poll, void *ctx, char err[LC_ERRMSG_SIZE])
{
    lc_status status = LC_OK;
    pthread_mutex_lock(&j->mu);
    while (j->delivered < j->n_items && j->status == LC_OK) {
        slot *s = &j->slots[j->delivered];
        if (s->ready) {
            lc_frame frame = s->frame;
            int adopted = 0;   /* a raw canvas handed over whole: no copy into Python */
            frame.rgb_adopted = frame.rgb ? &adopted : NULL;
            pthread_mutex_unlock(&j->mu);
            int stop = sink(ctx, &frame);
            if (!adopted)
                free(s->jpeg);
            s->jpeg = NULL;
            free(s->colour_mapping);
            s->colour_mapping = NULL;
            pthread_mutex_lock(&j->mu);
            j->delivered++;
            pthread_cond_broadcast(&j->changed);
            if (stop) {
                status = lc_fail(err, LC_ERR_CANCELLED, "stopped");
                break;
            }
            continue;
        }
        if (j->workers_running == 0) {
            status = lc_fail(err, LC_ERR_INTERNAL, "request %zu was never planned", j->delivered);
            break;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&j->changed, &j->mu, &until);
        pthread_mutex_unlock(&j->mu);
        int stop = poll && poll(ctx);
        pthread_mutex_lock(&j->mu);
        if (stop) {
            status = lc_fail(err, LC_ERR_CANCELLED, "stopped");
            break;
        }
    }
    if (status == LC_OK && j->status != LC_OK) {
        status = j->status;
        memcpy(err, j->err, LC_ERRMSG_SIZE);
    }
    __atomic_store_n(&j->stop, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->mu);
    return status;
}

lc_status lc_extract(lc_source *src, const int64_t *requests_ms, size_t n_requests,
                     const lc_recipe *recipe, lc_frame_sink sink, lc_poll_fn poll, void *ctx,
                     char err[LC_ERRMSG_SIZE])
{
    job j = {.src = src, .recipe = recipe, .n_items = n_requests, .status = LC_OK};
    worker workers[MAX_WORKERS];
    int started = 0;
    lc_status status = LC_OK;
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.changed, NULL);
    memset(workers, 0, sizeof workers);

    if (n_requests == 0 || (status = lc_canvas_check(src, err)) != LC_OK)
        goto done;
    j.sequential = !src->info.keyframe_index;
    if (j.sequential && !src->keyframes_scanned && (status = lc_scan_keyframes(src, poll, ctx, err)) != LC_OK)
        goto done;
    if (src->n_keyframes == 0) {
        status = lc_fail(err, LC_ERR_DAMAGED, "no decodable video packets");
        goto done;
    }
    j.items = calloc(n_requests, sizeof *j.items);
    j.chunks = calloc(n_requests, sizeof *j.chunks);
    j.slots = calloc(n_requests, sizeof *j.slots);
    if (!j.items || !j.chunks || !j.slots) {
        status = lc_fail(err, LC_ERR_NOMEM, "out of memory");
        goto done;
    }
    lc_plan_requests(src->keyframes, src->n_keyframes, requests_ms, n_requests,
                     recipe->tolerance_before_ms, recipe->tolerance_after_ms, j.items);
    j.n_chunks = lc_plan_chunks(j.items, n_requests, j.chunks);

    /* recipe->workers is the thread budget: workers first, since they keep
     * whole frames apart; what no worker can use goes to slice threads inside
     * each decoder. A batch running files side by side gives each file 1. */
    int budget = recipe->workers > 0 ? recipe->workers : lc_usable_cpus();
    int n_workers = j.sequential ? 1 : budget;   /* sequential: one forward pass over the file */
    if ((size_t)n_workers > j.n_chunks)
        n_workers = (int)j.n_chunks;
    if (n_workers > MAX_WORKERS)
        n_workers = MAX_WORKERS;
    j.decoder_threads = budget / n_workers;
    /* Raw canvases are 6 MB each: keep only a few in flight. */
    j.lookahead = recipe->raw_rgb ? (size_t)(4 * n_workers) : LOOKAHEAD;
    if (j.decoder_threads < 1)
        j.decoder_threads = 1;

    j.workers_running = n_workers;
    for (started = 0; started < n_workers; started++) {
        workers[started].job = &j;
        if (pthread_create(&workers[started].thread, NULL, worker_main, &workers[started]) != 0) {
            pthread_mutex_lock(&j.mu);
            j.workers_running -= n_workers - started;
            j.stop = 1;
            pthread_mutex_unlock(&j.mu);
            status = lc_fail(err, LC_ERR_INTERNAL, "cannot start a worker thread");
            break;
        }
    }
    if (status == LC_OK)
        status = deliver(&j, sink, poll, ctx, err);
    else {
        pthread_mutex_lock(&j.mu);
        j.stop = 1;
        pthread_cond_broadcast(&j.changed);
        pthread_mutex_unlock(&j.mu);
    }
    for (int i = 0; i < started; i++)
        pthread_join(workers[i].thread, NULL);

done:
    if (j.slots)
        for (size_t i = 0; i < n_requests; i++) {
            free(j.slots[i].jpeg);
            free(j.slots[i].colour_mapping);
        }
    free(j.slots);
    free(j.chunks);
    free(j.items);
    pthread_cond_destroy(&j.changed);
    pthread_mutex_destroy(&j.mu);
    return status;
}

lc_status lc_probe_json(lc_source *src, char **json_out, char err[LC_ERRMSG_SIZE])
{
    *json_out = lc_build_probe_json(src);
    return *json_out ? LC_OK : lc_fail(err, LC_ERR_NOMEM, "out of memory");
}

const char *lc_backend_name(void) { return "ffmpeg"; }

const char *lc_backend_versions(void)
{
    static char line[256];
    unsigned f = avformat_version(), c = avcodec_version(), s = swscale_version();
    snprintf(line, sizeof line, "FFmpeg %s (libavformat %u.%u.%u, libavcodec %u.%u.%u, libswscale %u.%u.%u), libturbojpeg",
             av_version_info(), f >> 16, (f >> 8) & 255, f & 255, c >> 16, (c >> 8) & 255, c & 255,
             s >> 16, (s >> 8) & 255, s & 255);
    return line;
}
