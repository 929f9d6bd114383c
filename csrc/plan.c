/* plan.c: the request planner (see plan.h). */
#include "plan.h"

size_t lc_keyframe_at_or_before(const lc_keyframe *kf, size_t n_kf, int64_t us)
{
    /* Binary search: keyframes are sorted by presentation time. */
    size_t lo = 0, hi = n_kf;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kf[mid].pts_us <= us)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? 0 : lo - 1;
}

static int64_t distance(int64_t a, int64_t b) { return a > b ? a - b : b - a; }

void lc_plan_requests(const lc_keyframe *kf, size_t n_kf, const int64_t *requests_ms,
                      size_t n, int before_ms, int after_ms, lc_plan_item *items)
{
    for (size_t i = 0; i < n; i++) {
        lc_plan_item *it = &items[i];
        it->t_us = requests_ms[i] * 1000;
        it->lo_us = it->t_us - (int64_t)before_ms * 1000;
        it->hi_us = it->t_us + (int64_t)after_ms * 1000;
        it->mode = LC_PLAN_FORWARD;
        it->keyframe = lc_keyframe_at_or_before(kf, n_kf, it->lo_us);
        if (n_kf == 0)
            continue;
        /* The nearest keyframe inside the window, earlier one on a tie. */
        size_t best = n_kf;
        for (size_t k = it->keyframe; k < n_kf && kf[k].pts_us <= it->hi_us; k++) {
            if (kf[k].pts_us < it->lo_us)
                continue;
            if (best == n_kf || distance(kf[k].pts_us, it->t_us) < distance(kf[best].pts_us, it->t_us))
                best = k;
        }
        if (best != n_kf) {
            it->mode = LC_PLAN_KEYFRAME;
            it->keyframe = best;
        }
    }
}

size_t lc_plan_chunks(const lc_plan_item *items, size_t n, lc_chunk *chunks)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        /* A new chunk wherever decoding would start from another keyframe; a
         * forward item after a keyframe hit on the same keyframe continues it. */
        if (count == 0 || items[i].keyframe != items[i - 1].keyframe) {
            chunks[count].first = i;
            count++;
        }
        chunks[count - 1].end = i + 1;
    }
    return count;
}
