/*
 * plan.h: the request planner. Pure C over numbers; no FFmpeg, no Python, so
 * every backend that decodes for itself can share it and tests can reason about it.
 *
 * For each request t with window [t - before, t + after]:
 *   - a keyframe inside the window: decode that keyframe alone (the one nearest t);
 *   - otherwise: decode forward from the last keyframe before the window to the
 *     frame nearest t.
 * Requests that decode forward from the same keyframe form one chunk, so that a
 * GOP is never decoded twice; chunks are independent and may run in parallel.
 */
#ifndef LC_PLAN_H
#define LC_PLAN_H

#include <stddef.h>
#include <stdint.h>

typedef struct lc_keyframe {
    int64_t seek_ts;   /* what the demuxer seeks by (container index time stamp) */
    int64_t pts_us;    /* presentation time on the bundle timeline (may be an estimate) */
    int64_t ordinal;   /* position among the stream's packets, when found by a scan; else -1 */
} lc_keyframe;

typedef enum lc_plan_mode { LC_PLAN_KEYFRAME = 1, LC_PLAN_FORWARD = 2 } lc_plan_mode;

typedef struct lc_plan_item {
    int64_t t_us, lo_us, hi_us;   /* request and its window */
    lc_plan_mode mode;
    size_t keyframe;              /* the keyframe hit, or the one decoding starts from */
} lc_plan_item;

typedef struct lc_chunk { size_t first, end; } lc_chunk;   /* items [first, end) */

/* The last keyframe at or before us (the first keyframe if none is). */
size_t lc_keyframe_at_or_before(const lc_keyframe *kf, size_t n_kf, int64_t us);

/* Plans one item per request. n_kf may be 0: everything decodes forward from 0. */
void lc_plan_requests(const lc_keyframe *kf, size_t n_kf, const int64_t *requests_ms,
                      size_t n, int before_ms, int after_ms, lc_plan_item *items);

/* Splits items into chunks; returns how many. chunks must hold n entries. */
size_t lc_plan_chunks(const lc_plan_item *items, size_t n, lc_chunk *chunks);

#endif
