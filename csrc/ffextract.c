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

typedef struct slot {
    int ready;
    lc_frame frame;
    unsigned char *jpeg;  /* owned copy of the JPEG or RGB bytes, freed once the sink had it */
    char *colour_mapping; /* owned copy: the canvas that wrote it may be gone by delivery */
} slot;

typedef struct job {
    lc_source *src;
    const lc_recipe *recipe;
    lc_plan_item *items;
    size_t n_items;
    lc_chunk *chunks;
    size_t n_chunks;
    slot *slots;
    size_t lookahead; /* requests a worker may run ahead of the sink */
    pthread_mutex_t mu;
    pthread_cond_t changed;
    size_t next_chunk, delivered;
    int stop, workers_running;
    int64_t end_us; /* the last picture of the file, once a worker decoded to its end */
    lc_status status;
    char err[LC_ERRMSG_SIZE];
} job;

typedef struct worker {
    job *job;
    lc_keyframe *kf; /* its copy of the source's keyframes (lc_session_open) */
    pthread_t thread;
    lc_session session;
    lc_canvas *canvas;
} worker;

/* lc_extract keeps its workers on the stack (of a Python thread, or of
 * iter_frames' producer thread): a bound on what that costs. */
_Static_assert(sizeof(worker) * LC_MAX_WORKERS <= 64 * 1024, "lc_extract's workers outgrow the stack: allocate them");

static int64_t distance(int64_t a, int64_t b)
{
    return a > b ? a - b : b - a;
}

/* The frame nearest the request inside its window, decoding forward in the
 * current session; a frame past the request stays pending for the next one. */
static AVFrame *decode_forward(lc_session *s, const lc_plan_item *item)
{
    AVFrame *best = NULL, *f;
    int64_t best_us = 0;
    while ((f = lc_session_next(s, item, 1)) != NULL) {
        int64_t us = lc_session_frame_us(s, f);
        /* Before the keyframe: leading pictures of an open GOP, not ours. */
        if (us < s->own_us || us < item->lo_us) {
            av_frame_free(&f);
            continue;
        }
        if (us > item->hi_us) {
            lc_session_push_back(s, f);
            break;
        }
        if (lc_picture_damaged(f)) { /* not a candidate: look on for a sound one */
            s->damaged++;
            av_frame_free(&f);
            continue;
        }
        if (!best || distance(us, item->t_us) < distance(best_us, item->t_us)) {
            av_frame_free(&best);
            best = av_frame_clone(f);
            best_us = us;
        }
        if (us >= item->t_us) {
            lc_session_push_back(s, f);
            break;
        }
        av_frame_free(&f);
    }
    return best;
}

/* Decodes the keyframe alone, unless the next item goes on from it. */
static AVFrame *decode_keyframe(lc_session *s, const lc_plan_item *item, int continues)
{
    AVFrame *f;
    while ((f = lc_session_next(s, item, continues)) != NULL) {
        if (lc_session_frame_us(s, f) >= s->own_us)
            break;
        av_frame_free(&f);
    }
    if (f && (lc_session_frame_us(s, f) < item->lo_us || lc_session_frame_us(s, f) > item->hi_us)) {
        lc_session_push_back(s, f);
        f = NULL;
    }
    if (f && lc_picture_damaged(f)) { /* decoding on may find a sound picture in the window */
        s->damaged++;
        av_frame_free(&f);
    }
    return f;
}

/* A session that ran to the true end of the file knows where decodable
 * content ends: later requests need no decoding to find nothing. */
static void note_end(job *j, const lc_session *s)
{
    /* Only a session that decoded past the last keyframe knows the end: a
     * file whose times are not in file order (a fragment's clock jumping
     * ahead) ends, in bytes, before its latest pictures, and which worker
     * got there first must not decide which requests get a frame. */
    const lc_source *src = j->src;
    if (!s->at_end || s->first_us == LC_PLAN_NEVER || src->n_keyframes == 0 ||
        s->last_us < src->keyframes[src->n_keyframes - 1].pts_us)
        return;
    /* Pictures the file has shortly after the last one decoded were lost
     * (lc_plan_tail_lost), not absent: this session knows no end. */
    if (src->n_packets > 0 && src->packet_us[src->n_packets - 1] > s->last_us &&
        src->packet_us[src->n_packets - 1] - s->last_us <= LC_PLAN_TAIL_US)
        return;
    pthread_mutex_lock(&j->mu);
    if (s->last_us < j->end_us)
        j->end_us = s->last_us;
    pthread_mutex_unlock(&j->mu);
}

static int64_t known_end(job *j)
{
    pthread_mutex_lock(&j->mu);
    int64_t end = j->end_us;
    pthread_mutex_unlock(&j->mu);
    return end;
}

/* What decoding from keyframe k gave first, learnt by this worker's session. */
static void learn(lc_session *s, size_t k, int64_t first_us)
{
    lc_keyframe_learn(&s->kf[k], s->own_us, first_us);
    lc_session_learnt(s, k);
}

/* Decodes forward for the item, starting again from earlier keyframes while
 * the start point gives no picture in time (the planner decides where). */
static lc_status picture_forward(worker *w, const lc_plan_item *item, AVFrame **picture, char err[LC_ERRMSG_SIZE])
{
    lc_session *s = &w->session;
    lc_keyframe *kf = s->kf;
    size_t n_kf = w->job->src->n_keyframes, before = n_kf;
    lc_status status;
    for (unsigned attempt = 0;; attempt++) {
        size_t start = lc_plan_start(kf, n_kf, item, before);
        if (start == LC_PLAN_NONE)
            return LC_OK;
        if (!lc_plan_continue(kf, s->keyframe, s->consumed_us, start, item, s->index_lied) &&
            (status = lc_session_start(s, start, err)) != LC_OK)
            return status;
        *picture = decode_forward(s, item);
        if (s->keyframe == LC_PLAN_NONE)
            note_end(w->job, s);
        if (*picture || __atomic_load_n(&w->job->stop, __ATOMIC_RELAXED))
            return LC_OK;
        learn(s, s->started, s->first_us);
        const lc_source *src = w->job->src;
        if (!lc_plan_start_failed(item, s->first_us) &&
            !(attempt == 0 && lc_plan_tail_lost(src->packet_us, src->n_packets, item, s->at_end)))
            return LC_OK;
        before = lc_plan_retry_before(s->started, attempt);
    }
}

/* The last resort for a window still without a picture: decode forward from
 * each keyframe inside it in turn, earliest first, also those after the
 * request (the planner picks them: lc_plan_next_in_window). Sets *obtained. */
static lc_status picture_from_window(worker *w, const lc_plan_item *item, AVFrame **picture, lc_obtained *obtained,
                                     char err[LC_ERRMSG_SIZE])
{
    lc_session *s = &w->session;
    lc_keyframe *kf = s->kf;
    size_t n_kf = w->job->src->n_keyframes;
    lc_status status;
    for (size_t k = lc_plan_next_in_window(kf, n_kf, item, 0); k != LC_PLAN_NONE;
         k = lc_plan_next_in_window(kf, n_kf, item, k + 1)) {
        if (__atomic_load_n(&w->job->stop, __ATOMIC_RELAXED))
            return LC_OK;
        if ((status = lc_session_start(s, k, err)) != LC_OK)
            return status;
        if ((*picture = decode_forward(s, item))) {
            *obtained = lc_session_frame_us(s, *picture) == s->own_us ? LC_OBTAINED_KEYFRAME : LC_OBTAINED_FORWARD;
            return LC_OK;
        }
        if (s->keyframe == LC_PLAN_NONE)
            note_end(w->job, s);
        learn(s, s->started, s->first_us);
    }
    return LC_OK;
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
    lc_session *s = &w->session;
    const lc_plan_item *item = &j->items[i];
    lc_status status;
    AVFrame *picture = NULL;
    lc_frame out = {.request_index = i, .requested_ms = item->t_us / 1000};
    s->decoded = s->damaged = s->false_keyframes = 0;

    if (lc_plan_past_end(item, known_end(j)) || lc_plan_window_empty(j->src->packet_us, j->src->n_packets, item)) {
        publish(j, i, &out, NULL, NULL);
        return LC_OK;
    }
    lc_keyframe *kf = &s->kf[item->keyframe];
    /* Decoded alone when the source was opened (ffstreams.c); not when the
     * next request decodes on from this keyframe, which needs it decoded in
     * this session anyway. */
    if (item->mode == LC_PLAN_KEYFRAME && !continues && (picture = lc_take_first_picture(j->src, item->keyframe))) {
        out.obtained = LC_OBTAINED_KEYFRAME;
        s->decoded = 1;
    } else if (item->mode == LC_PLAN_KEYFRAME && lc_keyframe_pictures_itself(kf) &&
               !lc_plan_continue(s->kf, s->keyframe, s->consumed_us, item->keyframe, item, s->index_lied)) {
        if ((s->keyframe != item->keyframe || !s->held) && (status = lc_session_start(s, item->keyframe, err)) != LC_OK)
            return status;
        /* The index time was an estimate: trust the packet's own time. */
        if (s->held && s->own_us >= item->lo_us && s->own_us <= item->hi_us) {
            picture = decode_keyframe(s, item, continues);
            /* An edit list can hide the keyframe itself (MP4 trimmed without
             * re-encoding): then the first shown frame came from decoding on. */
            if (picture)
                out.obtained = lc_session_frame_us(s, picture) == s->own_us ? LC_OBTAINED_KEYFRAME
                                                                            : LC_OBTAINED_FORWARD;
            else if (s->first_us != LC_PLAN_NEVER) /* a recovery point: its pictures come later */
                learn(s, item->keyframe, s->first_us);
            else { /* drained after its packet alone, nothing came: later, or damaged */
                lc_keyframe_learn_late(kf, s->own_us);
                lc_session_learnt(s, item->keyframe);
            }
        }
    }
    if (!picture) {
        if ((status = picture_forward(w, item, &picture, err)) != LC_OK)
            return status;
        out.obtained = picture ? LC_OBTAINED_FORWARD : LC_OBTAINED_NONE;
    }
    if (!picture && (status = picture_from_window(w, item, &picture, &out.obtained, err)) != LC_OK)
        return status;

    unsigned char *copy = NULL;
    char *mapping = NULL;
    out.frames_decoded = s->decoded;
    out.damaged_pictures = s->damaged;
    out.false_keyframes = s->false_keyframes;
    if (picture) {
        out.actual_us = lc_session_frame_us(s, picture);
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
    lc_session_close(&w->session);
    lc_canvas_free(w->canvas);
    w->canvas = NULL;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    job *j = w->job;
    char err[LC_ERRMSG_SIZE] = "";
    lc_status status = lc_session_open(&w->session, j->src, w->kf, &j->stop, err);
    if (status == LC_OK && !(w->canvas = lc_canvas_new(j->recipe, j->src)))
        status = lc_fail(err, LC_ERR_NOMEM, "out of memory");

    while (status == LC_OK) {
        pthread_mutex_lock(&j->mu);
        if (j->stop || j->next_chunk >= j->n_chunks) {
            pthread_mutex_unlock(&j->mu);
            break;
        }
        lc_chunk c = j->chunks[j->next_chunk++];
        pthread_mutex_unlock(&j->mu);
        /* What the worker learnt in its last chunk is forgotten: rows must
         * not depend on how the chunks were shared out. */
        lc_session_forget(&w->session);
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
            int adopted = 0; /* a raw canvas handed over whole: no copy into Python */
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

lc_status lc_extract(lc_source *src, const int64_t *requests_ms, size_t n_requests, const lc_recipe *recipe,
                     lc_frame_sink sink, lc_poll_fn poll, void *ctx, char err[LC_ERRMSG_SIZE])
{
    job j = {.src = src, .recipe = recipe, .n_items = n_requests, .status = LC_OK, .end_us = INT64_MAX};
    worker workers[LC_MAX_WORKERS];
    int started = 0;
    lc_status status = LC_OK;
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.changed, NULL);
    memset(workers, 0, sizeof workers);

    if (n_requests == 0 || (status = lc_canvas_check(src, err)) != LC_OK)
        goto done;
    if (!src->info.keyframe_index && !src->keyframes_scanned &&
        (status = lc_scan_keyframes(src, poll, ctx, err)) != LC_OK)
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
    /* What an earlier extraction learnt about the keyframes (late, false) is
     * forgotten: learnt by whichever requests it had, it would plan these
     * ones otherwise than a freshly opened source does (the first keyframe
     * pictured forward instead of alone), and the rows must depend on the
     * file and the requests only. */
    lc_keyframes_init_ready(src->keyframes, src->n_keyframes);
    lc_plan_requests(src->keyframes, src->n_keyframes, requests_ms, n_requests, recipe->tolerance_before_ms,
                     recipe->tolerance_after_ms, j.items);
    j.n_chunks = lc_plan_chunks(j.items, n_requests, j.chunks);

    /* recipe->workers is the thread budget, spent on workers only: a
     * decoder's own threads would make a damaged file's pictures depend on
     * how many it got (lc_open_decoder). A batch running files side by side
     * gives each file 1. */
    int budget = recipe->workers > 0 ? recipe->workers : lc_usable_cpus();
    /* Index-less files seek by the byte positions the scan found, so they
     * split across workers like indexed ones. Raw streams are timed by their
     * order from the top: one forward pass. */
    int n_workers = src->raw_frame_us ? 1 : budget;
    if ((size_t)n_workers > j.n_chunks)
        n_workers = (int)j.n_chunks;
    if (n_workers > LC_MAX_WORKERS)
        n_workers = LC_MAX_WORKERS;
    /* Raw canvases are 6 MB each: keep only a few in flight. */
    j.lookahead = recipe->raw_rgb ? (size_t)(4 * n_workers) : LOOKAHEAD;
    /* Copied before any worker runs: workers mark false keyframes in the
     * source's own (counted once), and learn the rest in their copies. */
    for (int i = 0; i < n_workers; i++) {
        if (!(workers[i].kf = malloc(src->n_keyframes * sizeof *src->keyframes))) {
            status = lc_fail(err, LC_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(workers[i].kf, src->keyframes, src->n_keyframes * sizeof *src->keyframes);
    }

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
    for (int i = 0; i < LC_MAX_WORKERS; i++)
        free(workers[i].kf);
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

const char *lc_backend_name(void)
{
    return "ffmpeg";
}

const char *lc_backend_versions(void)
{
    static char line[256];
    unsigned f = avformat_version(), c = avcodec_version(), s = swscale_version();
    snprintf(line, sizeof line,
             "FFmpeg %s (libavformat %u.%u.%u, libavcodec %u.%u.%u, libswscale %u.%u.%u), libturbojpeg",
             av_version_info(), f >> 16, (f >> 8) & 255, f & 255, c >> 16, (c >> 8) & 255, c & 255, s >> 16,
             (s >> 8) & 255, s & 255);
    return line;
}
