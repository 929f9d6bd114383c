/*
 * test_plan.c: unit tests of the request planner (csrc/plan.c), no FFmpeg.
 * Built with gcc and run by tests/test_plan_c.py; prints one line per check
 * that fails and exits non-zero if any did.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static int failures;

#define CHECK(cond, ...)                                                 \
    do {                                                                 \
        if (!(cond)) {                                                   \
            failures++;                                                  \
            printf("FAIL %s:%d: %s: ", __func__, __LINE__, #cond);       \
            printf(__VA_ARGS__);                                         \
            printf("\n");                                                \
        }                                                                \
    } while (0)

/* Keyframes at the given milliseconds (shown, not learnt). */
static size_t keyframes(lc_keyframe *kf, const int64_t *ms, size_t n)
{
    for (size_t k = 0; k < n; k++)
        kf[k] = (lc_keyframe){.seek_ts = ms[k], .pts_us = ms[k] * 1000, .ordinal = -1, .pos = -1};
    lc_keyframes_init_ready(kf, n);
    return n;
}

static void plan(const lc_keyframe *kf, size_t n_kf, const int64_t *req, size_t n, lc_plan_item *items)
{
    lc_plan_requests(kf, n_kf, req, n, 500, 500, items);
}

/* No keyframe pictures two requests. */
static void check_each_keyframe_serves_one(const lc_plan_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            CHECK(!(items[i].mode == LC_PLAN_KEYFRAME && items[j].mode == LC_PLAN_KEYFRAME &&
                    items[i].keyframe == items[j].keyframe),
                  "requests %zu and %zu both picture keyframe %zu", i, j, items[i].keyframe);
}

static void test_keyframe_on_shared_window_edge(void)
{
    /* torchcodec's var_fps_video.mp4: a keyframe at exactly 12.5 s. */
    lc_keyframe kf[3];
    int64_t ms[] = {0, 10000, 12500}, req[] = {11000, 12000, 13000, 14000};
    lc_plan_item it[4];
    size_t n_kf = keyframes(kf, ms, 3);
    plan(kf, n_kf, req, 4, it);
    check_each_keyframe_serves_one(it, 4);
    /* A tie: neither request takes it; each decodes forward to its own frame. */
    CHECK(it[1].mode == LC_PLAN_FORWARD && it[1].keyframe == 1, "12 s: mode %d from %zu", it[1].mode, it[1].keyframe);
    CHECK(it[2].mode == LC_PLAN_FORWARD && it[2].keyframe == 2, "13 s: mode %d from %zu", it[2].mode, it[2].keyframe);
    CHECK(it[3].mode == LC_PLAN_FORWARD && it[3].keyframe == 2, "14 s from %zu", it[3].keyframe);
    CHECK(it[0].mode == LC_PLAN_FORWARD && it[0].keyframe == 1, "11 s from %zu", it[0].keyframe);
}

static void test_nearer_request_keeps_the_keyframe(void)
{
    lc_keyframe kf[2];
    int64_t ms[] = {0, 12400}, req[] = {12000, 13000};
    lc_plan_item it[2];
    plan(kf, keyframes(kf, ms, 2), req, 2, it);
    CHECK(it[0].mode == LC_PLAN_KEYFRAME && it[0].keyframe == 1, "12 s keeps 12.4 s");
    CHECK(it[1].mode == LC_PLAN_FORWARD && it[1].keyframe == 1, "13 s decodes forward from 12.4 s");

    int64_t later[] = {0, 12600};
    plan(kf, keyframes(kf, later, 2), req, 2, it);
    CHECK(it[0].mode == LC_PLAN_FORWARD && it[0].keyframe == 0, "12 s decodes forward from 0");
    CHECK(it[1].mode == LC_PLAN_KEYFRAME && it[1].keyframe == 1, "13 s keeps 12.6 s");
}

static void test_keyframes_on_both_edges_of_a_window(void)
{
    /* Request 1 s sees keyframes at 0.5 and 1.5 s on its edges, each shared
     * with a neighbour that has a nearer keyframe of its own. */
    lc_keyframe kf[5];
    int64_t ms[] = {0, 500, 1500, 2000, 2500}, req[] = {0, 1000, 2000};
    lc_plan_item it[3];
    plan(kf, keyframes(kf, ms, 5), req, 3, it);
    check_each_keyframe_serves_one(it, 3);
    CHECK(it[0].mode == LC_PLAN_KEYFRAME && it[0].keyframe == 0, "0 s hits 0");
    /* The earlier of the two equally near keyframes. */
    CHECK(it[1].mode == LC_PLAN_KEYFRAME && it[1].keyframe == 1, "1 s hits 0.5 s (mode %d kf %zu)",
          it[1].mode, it[1].keyframe);
    CHECK(it[2].mode == LC_PLAN_KEYFRAME && it[2].keyframe == 3, "2 s hits 2 s");

    /* Only the edges. For 1 s both are nearest: the earlier, 0.5 s, which it
     * ties with 0 s, so neither takes it; 1.5 s is nearest for 2 s alone. */
    int64_t edges[] = {500, 1500}, req2[] = {0, 1000, 2000};
    plan(kf, keyframes(kf, edges, 2), req2, 3, it);
    check_each_keyframe_serves_one(it, 3);
    CHECK(it[0].mode == LC_PLAN_FORWARD && it[1].mode == LC_PLAN_FORWARD, "0 s and 1 s decode forward");
    CHECK(it[2].mode == LC_PLAN_KEYFRAME && it[2].keyframe == 1, "2 s hits 1.5 s");
}

static void test_keyframes_every_half_second_offset(void)
{
    /* Keyframes every 0.5 s starting at 0.25 s: each request lies halfway
     * between two, each keyframe on one window edge or inside one window. */
    lc_keyframe kf[40];
    int64_t ms[40], req[10];
    lc_plan_item it[10];
    for (int k = 0; k < 40; k++)
        ms[k] = 250 + 500 * k;
    for (int i = 0; i < 10; i++)
        req[i] = 1000 * i;
    plan(kf, keyframes(kf, ms, 40), req, 10, it);
    check_each_keyframe_serves_one(it, 10);
    for (int i = 0; i < 10; i++) {
        CHECK(it[i].mode == LC_PLAN_KEYFRAME, "request %d: mode %d", i, it[i].mode);
        /* Equally near keyframes: the earlier one. */
        int64_t want = i == 0 ? 250 : 1000 * i - 250;
        CHECK(kf[it[i].keyframe].pts_us == want * 1000, "request %d hits %lld ms", i,
              (long long)(kf[it[i].keyframe].pts_us / 1000));
    }
    /* Keyframes every 0.5 s from 0.5 s: the ones at whole seconds are hits,
     * the ones between are nobody's. */
    for (int k = 0; k < 40; k++)
        ms[k] = 500 + 500 * k;
    plan(kf, keyframes(kf, ms, 40), req, 10, it);
    check_each_keyframe_serves_one(it, 10);
    CHECK(it[0].mode == LC_PLAN_FORWARD || kf[it[0].keyframe].pts_us == 500000, "0 s: keyframe at 0.5 s or forward");
    for (int i = 1; i < 10; i++)
        CHECK(it[i].mode == LC_PLAN_KEYFRAME && kf[it[i].keyframe].pts_us == 1000000 * i, "request %d", i);
}

static void test_hidden_keyframe_starts_but_is_never_pictured(void)
{
    /* A phone trim: the GOP's keyframe at -0.3 s is hidden by the edit list. */
    lc_keyframe kf[3];
    int64_t ms[] = {-300, 700, 1700}, req[] = {0, 1000, 2000};
    lc_plan_item it[3];
    size_t n_kf = keyframes(kf, ms, 3);
    kf[0].hidden = 1;
    plan(kf, n_kf, req, 3, it);
    CHECK(it[0].mode == LC_PLAN_FORWARD && it[0].keyframe == 0, "0 s decodes forward from the hidden keyframe");
    CHECK(it[1].mode == LC_PLAN_KEYFRAME && it[1].keyframe == 1, "1 s hits 0.7 s");
    /* Nearest is the hidden one, on a tie with a shown one: decode forward. */
    int64_t tie[] = {-500, 500};
    n_kf = keyframes(kf, tie, 2);
    kf[0].hidden = 1;
    plan(kf, n_kf, req, 1, it);
    CHECK(it[0].mode == LC_PLAN_FORWARD && it[0].keyframe == 0, "0 s: forward from the hidden keyframe");
    /* Learning never spoils a hidden keyframe. */
    lc_keyframe_learn(&kf[0], -500000, 0);
    CHECK(lc_keyframe_ready(&kf[0]) == -500000, "hidden keyframe learnt %lld", (long long)lc_keyframe_ready(&kf[0]));
}

static void test_start_point_without_picture_in_time(void)
{
    /* Intra refresh: keyframes every 2 s, only the first decodes at once;
     * the others give pictures 0.6 s late. */
    lc_keyframe kf[5];
    int64_t ms[] = {0, 2000, 4000, 6000, 8000}, req[] = {8000};
    lc_plan_item it[1];
    size_t n_kf = keyframes(kf, ms, 5);
    plan(kf, n_kf, req, 1, it);
    CHECK(it[0].mode == LC_PLAN_KEYFRAME && it[0].keyframe == 4, "8 s hits 8 s before anything is learnt");
    lc_keyframe_learn(&kf[4], 8000000, 8600000);
    CHECK(lc_keyframe_ready(&kf[4]) == 8600000, "learnt %lld", (long long)lc_keyframe_ready(&kf[4]));
    plan(kf, n_kf, req, 1, it);
    CHECK(it[0].mode == LC_PLAN_FORWARD && it[0].keyframe == 3, "then forward from 6 s (%zu)", it[0].keyframe);
    /* A request after the recovery may start at the late keyframe itself. */
    lc_plan_item late = {.t_us = 9200000, .lo_us = 8700000, .hi_us = 9700000, .mode = LC_PLAN_FORWARD};
    CHECK(lc_plan_start(kf, n_kf, &late, n_kf) == 4, "9.2 s starts at 8 s");
    lc_plan_item early = {.t_us = 8800000, .lo_us = 8300000, .hi_us = 9300000, .mode = LC_PLAN_FORWARD};
    CHECK(lc_plan_start(kf, n_kf, &early, n_kf) == 3, "8.8 s starts at 6 s");
    /* A start whose first picture came after the window's start failed... */
    CHECK(lc_plan_start_failed(&early, 9000000), "late first picture");
    CHECK(lc_plan_start_failed(&early, LC_PLAN_NEVER), "no picture at all");
    /* ...one that pictured earlier frames did not (a real gap in the video). */
    CHECK(!lc_plan_start_failed(&early, 6000000), "a gap is not the start's fault");
    /* Retries step back 1, 2, 4 ... keyframes and end at the first. */
    CHECK(lc_plan_retry_before(4, 0) == 4 && lc_plan_retry_before(4, 1) == 3 && lc_plan_retry_before(4, 2) == 1 &&
          lc_plan_retry_before(0, 3) == 0, "retry steps");
    /* A step past the start still tries the first keyframe. */
    CHECK(lc_plan_retry_before(7, 3) == 1 && lc_plan_retry_before(4, 70) == 1, "retry ends at the first");
    CHECK(lc_plan_start(kf, n_kf, &early, 0) == LC_PLAN_NONE, "nothing before the first keyframe");
    /* Drained after its packet alone with nothing out: later than its own
     * time, so no longer pictured alone, but still a start for later windows. */
    lc_keyframe_learn_late(&kf[2], 4000000);
    CHECK(!lc_keyframe_pictures_itself(&kf[2]), "late keyframe is not a hit");
    lc_plan_item after = {.t_us = 5000000, .lo_us = 4500000, .hi_us = 5500000, .mode = LC_PLAN_FORWARD};
    CHECK(lc_plan_start(kf, n_kf, &after, n_kf) == 2, "late keyframe still starts a later window");
    /* A keyframe that gave nothing at all is never a start again. */
    lc_keyframe_learn(&kf[3], 6000000, LC_PLAN_NEVER);
    CHECK(lc_plan_start(kf, n_kf, &early, n_kf) == 2, "skips the dead keyframe (%zu)", lc_plan_start(kf, n_kf, &early, n_kf));
}

static void test_keyframes_inside_the_window_are_the_last_resort(void)
{
    /* A split .MTS: the scan's start point at 0 (the file's first packet)
     * decodes to nothing; the first real keyframe is at 440 ms. */
    lc_keyframe kf[3];
    int64_t ms[] = {0, 440, 1440};
    size_t n_kf = keyframes(kf, ms, 3);
    lc_plan_item first = {.t_us = 0, .lo_us = -500000, .hi_us = 500000, .mode = LC_PLAN_KEYFRAME};
    CHECK(lc_plan_next_in_window(kf, n_kf, &first, 0) == 0, "the hit itself first");
    lc_keyframe_learn(&kf[0], 0, LC_PLAN_NEVER);
    CHECK(lc_plan_next_in_window(kf, n_kf, &first, 0) == 1, "then the keyframe after the request");
    CHECK(lc_plan_next_in_window(kf, n_kf, &first, 2) == LC_PLAN_NONE, "nothing past the window");
    lc_keyframe_learn(&kf[1], 440000, 900000);
    CHECK(lc_plan_next_in_window(kf, n_kf, &first, 0) == LC_PLAN_NONE, "one ready after the window is no help");
    CHECK(lc_plan_next_in_window(kf, 0, &first, 0) == LC_PLAN_NONE, "no keyframes");
}

static void test_false_keyframes_are_never_starts(void)
{
    /* Sync samples every 2 s, but only the first is a real keyframe. */
    lc_keyframe kf[4];
    int64_t ms[] = {0, 2000, 4000, 6000}, req[] = {4000};
    lc_plan_item it[1];
    size_t n_kf = keyframes(kf, ms, 4);
    /* Only the keyframe's own picture tells: an intra one, or one later
     * (a recovery point's refresh, a hidden keyframe), is no lie. */
    CHECK(lc_plan_false_keyframe(4000000, 4000000, 0), "predicted picture at its own time");
    CHECK(!lc_plan_false_keyframe(4000000, 4000000, 1), "intra picture at its own time");
    CHECK(!lc_plan_false_keyframe(4000000, 4600000, 0), "predicted picture later");
    CHECK(lc_keyframe_learn_false(&kf[2]) == 1 && lc_keyframe_learn_false(&kf[2]) == 0, "counted once");
    CHECK(!lc_keyframe_pictures_itself(&kf[2]), "a false keyframe is no hit");
    plan(kf, n_kf, req, 1, it);
    CHECK(it[0].mode == LC_PLAN_FORWARD && it[0].keyframe == 1, "4 s forward from 2 s (%zu)", it[0].keyframe);
    lc_plan_item later = {.t_us = 5000000, .lo_us = 4500000, .hi_us = 5500000, .mode = LC_PLAN_FORWARD};
    CHECK(lc_plan_start(kf, n_kf, &later, n_kf) == 1, "not even for a window after it");
    lc_keyframe_learn_false(&kf[1]);
    CHECK(lc_plan_start(kf, n_kf, &later, n_kf) == 0, "back to the file's start");
    /* Learning later pictures never brings it back. */
    lc_keyframe_learn(&kf[1], 2000000, 2500000);
    CHECK(lc_keyframe_ready(&kf[1]) == LC_PLAN_NEVER, "still never ready");
}

static void test_sessions_continue_only_when_cheaper(void)
{
    lc_keyframe kf[3];
    int64_t ms[] = {0, 2000, 4000};
    keyframes(kf, ms, 3);
    lc_plan_item it = {.t_us = 5000000, .lo_us = 4500000, .hi_us = 5500000, .mode = LC_PLAN_FORWARD, .keyframe = 2};
    CHECK(lc_plan_continue(kf, 2, 3000000, 2, &it, 0), "same start point, not yet in the window");
    CHECK(!lc_plan_continue(kf, 2, 4600000, 2, &it, 0), "already past the window's start");
    CHECK(lc_plan_continue(kf, 1, 4100000, 2, &it, 0), "an earlier session past the start point");
    CHECK(!lc_plan_continue(kf, 1, 2500000, 2, &it, 0), "an earlier session far behind: seek instead");
    CHECK(lc_plan_continue(kf, 1, 2500000, 2, &it, 1), "far behind, but the index lied: go on");
    CHECK(!lc_plan_continue(kf, 2, 4600000, 2, &it, 1), "the index lied, and the session is past the window");
    CHECK(!lc_plan_continue(kf, LC_PLAN_NONE, INT64_MIN, 2, &it, 0), "no session");
    CHECK(!lc_plan_continue(kf, 2, INT64_MIN, 1, &it, 0), "a later session cannot go back");
}

static void test_end_and_skipping(void)
{
    lc_plan_item it = {.t_us = 5000000, .lo_us = 4500000, .hi_us = 5500000};
    CHECK(lc_plan_past_end(&it, 4400000), "window after the last picture");
    CHECK(!lc_plan_past_end(&it, 4500000), "last picture on the window's start");
    CHECK(lc_plan_may_skip(&it, 4000000, INT64_MIN), "before the window");
    CHECK(!lc_plan_may_skip(&it, 4600000, INT64_MIN), "in the window, nothing nearer sent");
    CHECK(lc_plan_may_skip(&it, 4600000, 4700000), "a nearer frame before t was sent");
    CHECK(!lc_plan_may_skip(&it, 5100000, 5000000), "after t: could be the nearest");
    CHECK(!lc_plan_may_skip(&it, 4700000, 4700000), "the sent frame itself");
}

static void test_a_lost_tail_is_told_from_an_end(void)
{
    /* An open GOP's tail: the file shows frames at 9, 10 and 11 s; a session
     * from the last keyframe (9 s) reached the end after 10 s. */
    int64_t packets[] = {9000000, 10000000, 11000000};
    lc_plan_item last = {.t_us = 11000000, .lo_us = 10500000, .hi_us = 11500000};
    lc_plan_item after = {.t_us = 12000000, .lo_us = 11500000, .hi_us = 12500000};
    CHECK(lc_plan_tail_lost(packets, 3, &last, 1), "a frame of the file lies in the window");
    CHECK(!lc_plan_tail_lost(packets, 3, &last, 0), "not at the end: decoding was not over");
    CHECK(!lc_plan_tail_lost(packets, 3, &after, 1), "nothing of the file lies in the window");
    CHECK(!lc_plan_tail_lost(NULL, 0, &last, 1), "packet times unknown");
}

static void test_chunks_group_by_start(void)
{
    lc_keyframe kf[3];
    int64_t ms[] = {0, 5000, 10000}, req[] = {0, 1000, 2000, 5000, 6000, 10000};
    lc_plan_item it[6];
    lc_chunk ch[6];
    plan(kf, keyframes(kf, ms, 3), req, 6, it);
    size_t n = lc_plan_chunks(it, 6, ch);
    CHECK(n == 3 && ch[0].first == 0 && ch[0].end == 3 && ch[1].end == 5 && ch[2].end == 6, "%zu chunks", n);
    plan(NULL, 0, req, 6, it);
    CHECK(lc_plan_chunks(it, 6, ch) == 1 && it[5].mode == LC_PLAN_FORWARD, "no keyframes: one forward chunk");
}

int main(void)
{
    test_keyframe_on_shared_window_edge();
    test_nearer_request_keeps_the_keyframe();
    test_keyframes_on_both_edges_of_a_window();
    test_keyframes_every_half_second_offset();
    test_hidden_keyframe_starts_but_is_never_pictured();
    test_start_point_without_picture_in_time();
    test_keyframes_inside_the_window_are_the_last_resort();
    test_false_keyframes_are_never_starts();
    test_sessions_continue_only_when_cheaper();
    test_end_and_skipping();
    test_a_lost_tail_is_told_from_an_end();
    test_chunks_group_by_start();
    printf("%s (%d failure%s)\n", failures ? "FAILED" : "ok", failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
