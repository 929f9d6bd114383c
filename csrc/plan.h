/*
 * plan.h: the request planner. Pure C over numbers; no FFmpeg, no Python, so
 * every backend that decodes for itself can share it and tests can reason
 * about it alone (tests/c/test_plan.c). Every decision about where decoding
 * starts, and what to do when a start point yields nothing, is made here.
 *
 * For each request t with window [lo, hi] = [t - before, t + after]:
 *   - a keyframe hit: the nearest shown keyframe inside the window (the
 *     earlier on a tie) is decoded alone and pictured;
 *   - otherwise: decode forward from the last start point at or before t to
 *     the frame nearest t.
 * A keyframe serves at most one request, the nearer one: when two requests
 * have the same nearest keyframe in their windows, the request nearer to it keeps
 * it and the other decodes forward to its own nearest frame. On a tie (the
 * keyframe on the edge both windows share, e.g. at 12.5 s for requests at 12
 * and 13 s) neither keeps it and both decode forward, so two rows never
 * picture moments a frame apart ("collapsed rows") and each pictures its own
 * nearest frame.
 * Hidden keyframes (an edit list discards them: a phone's trim) are start
 * points, never pictured themselves: when one is the nearest keyframe in a
 * window, decoding goes forward from it.
 *
 * Requests that decode from the same keyframe form one chunk, so that a GOP
 * is never decoded twice; chunks are independent and may run in parallel.
 *
 * A start point can yield no picture in time: an intra-refresh recovery
 * point, an open GOP's leading frames, a damaged keyframe. Its "ready" time
 * (the first picture decoding from it gave) is then learnt, and decoding
 * starts again from an earlier point whose pictures are ready by the window.
 *
 * An index can lie: old phones' muxers and some remuxers mark predicted
 * pictures as sync samples (or write no sync sample table, which makes every
 * sample one). Decoding from such a "keyframe" gives pictures predicted from
 * nothing. One found out (its packet is no key packet to the demuxer's
 * parser, or its own picture decodes as a predicted one) is never a start
 * point or pictured again, and decoding starts from an earlier keyframe as
 * above.
 */
#ifndef LC_PLAN_H
#define LC_PLAN_H

#include <stddef.h>
#include <stdint.h>

#define LC_PLAN_NONE ((size_t)-1)
#define LC_PLAN_NEVER INT64_MAX /* a ready time: decoding from there gave no picture at all */

typedef struct lc_keyframe {
    int64_t seek_ts; /* what the demuxer seeks by (container index time stamp) */
    int64_t pts_us;  /* presentation time on the bundle timeline (may be an estimate) */
    int64_t ordinal; /* position among the stream's packets, when found by a scan; else -1 */
    int64_t pos;     /* byte position of its packet (from the scan or the index), -1 if unknown */
    int hidden;      /* an edit list hides it: a start point, never pictured */
    /* The first picture decoding from here gave, once learnt (read and written
     * with lc_keyframe_ready / lc_keyframe_learn, atomically).
     * Until then assumed to be pts_us. */
    int64_t ready_us;
    int false_key; /* 1 once found to be no keyframe (lc_keyframe_learn_false) */
} lc_keyframe;

typedef enum lc_plan_mode { LC_PLAN_KEYFRAME = 1, LC_PLAN_FORWARD = 2 } lc_plan_mode;

typedef struct lc_plan_item {
    int64_t t_us, lo_us, hi_us; /* request and its window */
    lc_plan_mode mode;
    size_t keyframe; /* the keyframe hit, or the one decoding starts from */
} lc_plan_item;

typedef struct lc_chunk {
    size_t first, end;
} lc_chunk; /* items [first, end) */

/* Sets every keyframe's ready time to "not learnt yet" (its own time). */
void lc_keyframes_init_ready(lc_keyframe *kf, size_t n_kf);
/* The learnt ready time (thread-safe). */
int64_t lc_keyframe_ready(const lc_keyframe *kf);
/* Records what decoding from kf gave first: own_us is its packet's own time,
 * first_picture_us the first picture (LC_PLAN_NEVER: none; own_us + 1 ms + 1
 * when only "later" is known). Hidden keyframes learn nothing. Thread-safe. */
void lc_keyframe_learn(lc_keyframe *kf, int64_t own_us, int64_t first_picture_us);

/* The index called kf a keyframe, but it is none (a sync sample on a
 * P-frame): it is never a start point or pictured again. 1 for the first
 * caller only, so that each is counted once. Thread-safe. */
int lc_keyframe_learn_false(lc_keyframe *kf);

/* Decoding from a keyframe whose packet's own time is own_us gave a picture
 * at picture_us, the first at or after own_us: is it the keyframe's own
 * picture and predicted (intra = 0), so that the index lied? */
int lc_plan_false_keyframe(int64_t own_us, int64_t picture_us, int intra);

/* Decoding from kf gave no picture of its own (it was drained after its
 * packet alone): it is ready later than its own time, how much later unknown. */
void lc_keyframe_learn_late(lc_keyframe *kf, int64_t own_us);
/* A shown keyframe that gives its own picture when decoded alone (nothing
 * learnt against it): one a request may picture. */
int lc_keyframe_pictures_itself(const lc_keyframe *kf);

/* The last keyframe at or before us (the first keyframe if none is). */
size_t lc_keyframe_at_or_before(const lc_keyframe *kf, size_t n_kf, int64_t us);

/* Plans one item per request (requests ascending). n_kf may be 0: everything
 * decodes forward from 0. */
void lc_plan_requests(const lc_keyframe *kf, size_t n_kf, const int64_t *requests_ms, size_t n, int before_ms,
                      int after_ms, lc_plan_item *items);

/* Splits items into chunks; returns how many. chunks must hold n entries. */
size_t lc_plan_chunks(const lc_plan_item *items, size_t n, lc_chunk *chunks);

/* Where decoding for a forward item starts: the last keyframe before index
 * `before` (n_kf for the first try), at or before t, whose pictures are ready
 * by the window's start or by its own time. LC_PLAN_NONE if there is none. */
size_t lc_plan_start(const lc_keyframe *kf, size_t n_kf, const lc_plan_item *it, size_t before);

/* An item decoded from `start` got no picture, and the session's first
 * picture came at first_picture_us (LC_PLAN_NEVER: none): was the start
 * point at fault (it gave nothing before the window's start), so that an
 * earlier one can still picture the window? */
int lc_plan_start_failed(const lc_plan_item *it, int64_t first_picture_us);

/* The first keyframe at or after index `from` that lies inside the item's
 * window and has not shown that it gives no picture in it: the last resort
 * when neither a hit nor the start points before the request gave a picture.
 * A stream cut inside a GOP starts with packets that decode to nothing and
 * has its first decodable keyframe after them; when a window holds it, it
 * is pictured, even after the request. LC_PLAN_NONE if there is none. */
size_t lc_plan_next_in_window(const lc_keyframe *kf, size_t n_kf, const lc_plan_item *it, size_t from);

/* After the `attempt`-th failure (0, 1, ...) starting at `failed`: the index
 * to pass as `before` to lc_plan_start. Steps back 1, 2, 4, ... keyframes, so
 * a file whose keyframes are all damaged costs log(n) retries, not n; the
 * last step is to the first keyframe (0 once that failed: nothing is left). */
size_t lc_plan_retry_before(size_t failed, unsigned attempt);

/* A worker's running session (started at keyframe session_kf, every picture
 * up to consumed_us already handed on or dropped) can serve an item planned
 * to start (or hit) at `start` instead of seeking: it began no later, it has
 * not passed the window, and going on costs no more than starting again.
 * Once the index lied (index_lied), going on is always preferred: a later
 * keyframe may be false too, and each false one costs a seek, a picture and
 * a decode again from an earlier real keyframe (so many false keyframes
 * between real ones would cost quadratic time); going on costs one pass. */
int lc_plan_continue(const lc_keyframe *kf, size_t session_kf, int64_t consumed_us, size_t start,
                     const lc_plan_item *it, int index_lied);

/* Once decoding reached the end of the file with the last picture at
 * end_us, items whose window starts later get no frame without decoding. */
int lc_plan_past_end(const lc_plan_item *it, int64_t end_us);

/* Packets farther than this from a window cannot picture it: an index time
 * is a decode time, and a picture is shown at most a few frames after it is
 * decoded (B-frame reordering), far less than this. */
#define LC_PLAN_GAP_SLACK_US (10LL * 1000000)

/* The window holds no packet the file has, by the packets' times (sorted;
 * from the index or the packet scan; n = 0: not known): a gap in the
 * timeline (a fragment's clock that jumps ahead, a recording paused). Such
 * a request gets no frame without seeking or decoding, so the work is
 * bounded by the packets present, not by the span the times claim. */
int lc_plan_window_empty(const int64_t *packet_us, size_t n, const lc_plan_item *it);

/* A session reached the end of the file (at_end) without a picture for
 * the item, yet a packet of the file is shown inside its window (packet
 * times sorted, n = 0: not known): the picture was lost, not missing. An
 * open GOP's tail does this: FFmpeg's H.264 decoder started at the last
 * keyframe drops, at the flush, the pictures that follow its leading
 * B-frames, so they need decoding from the keyframe before (one step back;
 * the caller tries it once, so a damaged tail costs one more GOP, not a
 * walk back through the file). */
int lc_plan_tail_lost(const int64_t *packet_us, size_t n, const lc_plan_item *it, int at_end);

/* How far before the file's last packet time a session's last picture may
 * lie and still be taken for the end of what decodes: a lost open-GOP tail
 * is a GOP at most; a damaged tail farther than this is the end. */
#define LC_PLAN_TAIL_US (2LL * 1000000)

/* A frame the decoder may skip if nothing references it (AVDISCARD_NONREF):
 * one before the window, or one before a frame already sent to the decoder
 * (sent_before_t_us, INT64_MIN if none) that lies nearer to t. */
int lc_plan_may_skip(const lc_plan_item *it, int64_t frame_us, int64_t sent_before_t_us);

#endif
