/* plan.c: the request planner (see plan.h). */
#include "plan.h"

void lc_keyframes_init_ready(lc_keyframe *kf, size_t n_kf)
{
    for (size_t k = 0; k < n_kf; k++) {
        kf[k].ready_us = kf[k].pts_us;
        kf[k].false_key = 0;
    }
}

int64_t lc_keyframe_ready(const lc_keyframe *kf)
{
    return __atomic_load_n(&kf->ready_us, __ATOMIC_RELAXED);
}

/* Pictures up to this much after the keyframe's own time count as its own:
 * presentation times from an index are estimates rounded to microseconds. */
#define READY_SLACK_US 1000

void lc_keyframe_learn(lc_keyframe *kf, int64_t own_us, int64_t first_picture_us)
{
    /* A hidden keyframe's own picture is never shown: its first picture is
     * later by design and it stays a good starting point. */
    if (kf->hidden || first_picture_us <= own_us + READY_SLACK_US)
        return;
    /* Workers may learn the same keyframe at once; the later (more
     * pessimistic) value wins. */
    int64_t seen = lc_keyframe_ready(kf);
    while (first_picture_us > seen && !__atomic_compare_exchange_n(&kf->ready_us, &seen, first_picture_us, 0,
                                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

int lc_keyframe_learn_false(lc_keyframe *kf)
{
    /* Ready never: neither lc_plan_start nor a keyframe hit takes it again.
     * Decoding from it does give sound pictures after the next real
     * keyframe, but that one starts them as well. */
    __atomic_store_n(&kf->ready_us, LC_PLAN_NEVER, __ATOMIC_RELAXED);
    return __atomic_exchange_n(&kf->false_key, 1, __ATOMIC_RELAXED) == 0;
}

int lc_plan_false_keyframe(int64_t own_us, int64_t picture_us, int intra)
{
    return !intra && picture_us >= own_us && picture_us <= own_us + READY_SLACK_US;
}

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

static int64_t distance(int64_t a, int64_t b)
{
    return a > b ? a - b : b - a;
}

void lc_keyframe_learn_late(lc_keyframe *kf, int64_t own_us)
{
    lc_keyframe_learn(kf, own_us, own_us + READY_SLACK_US + 1);
}

int lc_keyframe_pictures_itself(const lc_keyframe *k)
{
    return !k->hidden && lc_keyframe_ready(k) <= k->pts_us + READY_SLACK_US;
}

/* The nearest usable keyframe inside the item's window, earlier on a tie;
 * n_kf if none. A hidden one can win: then decoding goes forward from it
 * (the shown frames after it lie in the window too). */
static size_t nearest_in_window(const lc_keyframe *kf, size_t n_kf, const lc_plan_item *it)
{
    size_t best = n_kf;
    for (size_t k = lc_keyframe_at_or_before(kf, n_kf, it->lo_us); k < n_kf && kf[k].pts_us <= it->hi_us; k++) {
        if (kf[k].pts_us < it->lo_us || (!kf[k].hidden && !lc_keyframe_pictures_itself(&kf[k])))
            continue;
        if (best == n_kf || distance(kf[k].pts_us, it->t_us) < distance(kf[best].pts_us, it->t_us))
            best = k;
    }
    return best;
}

static void plan_forward(const lc_keyframe *kf, size_t n_kf, lc_plan_item *it)
{
    it->mode = LC_PLAN_FORWARD;
    size_t start = lc_plan_start(kf, n_kf, it, n_kf);
    it->keyframe = start == LC_PLAN_NONE ? 0 : start;
}

void lc_plan_requests(const lc_keyframe *kf, size_t n_kf, const int64_t *requests_ms, size_t n, int before_ms,
                      int after_ms, lc_plan_item *items)
{
    for (size_t i = 0; i < n; i++) {
        lc_plan_item *it = &items[i];
        it->t_us = requests_ms[i] * 1000;
        it->lo_us = it->t_us - (int64_t)before_ms * 1000;
        it->hi_us = it->t_us + (int64_t)after_ms * 1000;
        it->keyframe = 0;
        it->mode = LC_PLAN_FORWARD;
        if (n_kf == 0)
            continue;
        size_t best = nearest_in_window(kf, n_kf, it);
        if (best == n_kf || kf[best].hidden) {
            plan_forward(kf, n_kf, it);
            continue;
        }
        it->mode = LC_PLAN_KEYFRAME;
        it->keyframe = best;
        /* A keyframe serves one request. Requests are ascending, so the only
         * rival is the latest earlier request that hit it: the nearer keeps
         * it; on a tie (the edge both windows share) neither does, and both
         * decode forward to their own nearest frames. */
        for (size_t j = i; j-- > 0 && items[j].hi_us >= kf[best].pts_us;) {
            lc_plan_item *prev = &items[j];
            if (prev->mode != LC_PLAN_KEYFRAME || prev->keyframe != best)
                continue;
            int64_t mine = distance(kf[best].pts_us, it->t_us), theirs = distance(kf[best].pts_us, prev->t_us);
            if (mine <= theirs)
                plan_forward(kf, n_kf, prev);
            if (mine >= theirs)
                plan_forward(kf, n_kf, it);
            break;
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

size_t lc_plan_start(const lc_keyframe *kf, size_t n_kf, const lc_plan_item *it, size_t before)
{
    if (n_kf == 0 || before == 0)
        return LC_PLAN_NONE;
    size_t k = lc_keyframe_at_or_before(kf, n_kf, it->t_us);
    if (k >= before)
        k = before - 1;
    /* Hidden keyframes are fine starting points: only shown frames are pictured. */
    for (;; k--) {
        int64_t ready = lc_keyframe_ready(&kf[k]);
        if (ready <= it->lo_us || ready <= kf[k].pts_us + READY_SLACK_US)
            return k;
        if (k == 0)
            return LC_PLAN_NONE;
    }
}

int lc_plan_start_failed(const lc_plan_item *it, int64_t first_picture_us)
{
    return first_picture_us > it->lo_us;
}

size_t lc_plan_next_in_window(const lc_keyframe *kf, size_t n_kf, const lc_plan_item *it, size_t from)
{
    if (n_kf == 0)
        return LC_PLAN_NONE;
    size_t k = lc_keyframe_at_or_before(kf, n_kf, it->lo_us);
    for (k = k > from ? k : from; k < n_kf && kf[k].pts_us <= it->hi_us; k++)
        if (kf[k].pts_us >= it->lo_us && lc_keyframe_ready(&kf[k]) <= it->hi_us)
            return k;
    return LC_PLAN_NONE;
}

size_t lc_plan_retry_before(size_t failed, unsigned attempt)
{
    if (failed == 0)
        return 0; /* the first keyframe failed: nothing lies before it */
    size_t step = attempt >= 8 * sizeof(size_t) - 1 ? failed : ((size_t)1 << attempt) - 1;
    /* A step past the start ends at the first keyframe, which may not have
     * been tried yet (failures 7, 3 step 1 then 4: keyframe 0 is next). */
    return step >= failed ? 1 : failed - step;
}

int lc_plan_continue(const lc_keyframe *kf, size_t session_kf, int64_t consumed_us, size_t start,
                     const lc_plan_item *it, int index_lied)
{
    if (session_kf == LC_PLAN_NONE || start == LC_PLAN_NONE || session_kf > start || consumed_us >= it->lo_us)
        return 0;
    /* From an earlier keyframe: worth it once past the planned start point. */
    return session_kf == start || consumed_us >= kf[start].pts_us || index_lied;
}

int lc_plan_past_end(const lc_plan_item *it, int64_t end_us)
{
    return it->lo_us > end_us;
}

/* The first of the sorted packet times at or after from (n: none). */
static size_t first_packet_from(const int64_t *packet_us, size_t n, int64_t from)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (packet_us[mid] < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int lc_plan_window_empty(const int64_t *packet_us, size_t n, const lc_plan_item *it)
{
    if (!packet_us || n == 0)
        return 0;
    size_t first = first_packet_from(packet_us, n, it->lo_us - LC_PLAN_GAP_SLACK_US);
    return first == n || packet_us[first] > it->hi_us + LC_PLAN_GAP_SLACK_US;
}

int lc_plan_tail_lost(const int64_t *packet_us, size_t n, const lc_plan_item *it, int at_end)
{
    if (!at_end || !packet_us || n == 0)
        return 0;
    size_t first = first_packet_from(packet_us, n, it->lo_us);
    return first < n && packet_us[first] <= it->hi_us;
}

int lc_plan_may_skip(const lc_plan_item *it, int64_t frame_us, int64_t sent_before_t_us)
{
    return frame_us < it->lo_us || (frame_us <= it->t_us && frame_us < sent_before_t_us);
}
