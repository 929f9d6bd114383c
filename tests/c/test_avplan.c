/*
 * test_avplan.c: unit tests of the AVFoundation backend's plain-C decisions
 * (csrc/avplan.c): callback matching, windows, the call's status, the
 * duration check, HDR and the watchdog. Run by tests/test_plan_c.py.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "avplan.h"

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

static lc_av_time t(int64_t value, int32_t timescale)
{
    return (lc_av_time){.value = value, .timescale = timescale, .numeric = 1};
}

static void test_time_equality_is_exact(void)
{
    CHECK(lc_av_time_equal(t(1, 30), t(2, 60)), "1/30 == 2/60");
    CHECK(lc_av_time_equal(t(1001, 1000), t(1001000, 1000000)), "same instant, other timescale");
    CHECK(!lc_av_time_equal(t(1001, 1000), t(1001001, 1000000)), "a microsecond apart");
    lc_av_time invalid = t(5, 1000);
    invalid.numeric = 0;
    CHECK(!lc_av_time_equal(invalid, invalid), "non-numeric equals nothing");
    CHECK(!lc_av_time_equal(t(5, 0), t(5, 0)), "timescale 0 is not a time");
    /* Large values: 10 hours at a 1 GHz timescale against ms. */
    CHECK(lc_av_time_equal(t(36000LL * 1000000000LL, 1000000000), t(36000000, 1000)), "no overflow");
}

static void test_match_by_chunk_and_time(void)
{
    /* Two chunks: requests 0-3 and 4-7, ms 0, 100, ... 700, start offset 1/3 s (timescale 600). */
    lc_av_time req[8];
    unsigned char done[8] = {0};
    for (int i = 0; i < 8; i++)
        req[i] = t(i * 100 * 600 / 1000 + 200, 600);
    /* Out of order, another timescale: still its own request. */
    CHECK(lc_av_match(req, done, 0, 4, t((2 * 100 * 600 / 1000 + 200) * 1000, 600000)) == 2, "exact time");
    /* A time of chunk 2 handed to chunk 1's handler does not land in chunk 1. */
    CHECK(lc_av_match(req, done, 0, 4, req[5]) == -1, "other chunk's time: unplaced");
    CHECK(lc_av_match(req, done, 4, 4, req[5]) == 5, "own chunk");
    /* A non-numeric requested time is never put in the first open slot... */
    lc_av_time bad = {0, 0, 0};
    CHECK(lc_av_match(req, done, 0, 4, bad) == -1, "non-numeric with 4 open: unplaced");
    /* ...unless it is the only request of its chunk still open. */
    done[0] = done[1] = done[3] = 1;
    CHECK(lc_av_match(req, done, 0, 4, bad) == 2, "non-numeric, one open: that one");
    /* A finished request is not matched twice (a repeated callback). */
    done[2] = 1;
    CHECK(lc_av_match(req, done, 0, 4, req[2]) == -1, "repeat ignored");
    /* A near but unequal time (rounded by the platform) is not matched by nearness. */
    memset(done, 0, sizeof done);
    CHECK(lc_av_match(req, done, 4, 4, t(req[4].value + 1, 600)) == -1, "near is not equal");
}

static void test_window(void)
{
    CHECK(lc_av_in_window(1500000, 1000, 500, 500), "edge after");
    CHECK(lc_av_in_window(500000, 1000, 500, 500), "edge before");
    CHECK(!lc_av_in_window(1500001, 1000, 500, 500), "past after");
    CHECK(!lc_av_in_window(499999, 1000, 500, 500), "before before");
    CHECK(lc_av_in_window(1000000, 1000, 0, 0), "exact with zero tolerance");
}

static void test_final_status_counts_rejected_and_failed(void)
{
    char err[LC_ERRMSG_SIZE] = "";
    lc_av_tally all_rejected = {.requests = 3, .rejected = 3};
    CHECK(lc_av_final_status(&all_rejected, NULL, err) == LC_ERR_DAMAGED, "every row empty is not OK");
    CHECK(strstr(err, "3 had only frames outside") != NULL, "%s", err);
    lc_av_tally mixed = {.requests = 3, .rejected = 1, .failed = 2, .damaged = 2};
    CHECK(lc_av_final_status(&mixed, "Decode failed", err) == LC_ERR_DAMAGED, "mixed failures");
    CHECK(strstr(err, "2 of 3 failed") && strstr(err, "Decode failed"), "%s", err);
    lc_av_tally one = {.requests = 3, .pictured = 1, .failed = 2};
    CHECK(lc_av_final_status(&one, NULL, err) == LC_OK, "one picture is a result");
    lc_av_tally none = {0};
    CHECK(lc_av_final_status(&none, NULL, err) == LC_OK, "no requests");
}

static void test_duration_check(void)
{
    int short_;
    CHECK(lc_av_checked_duration_us(10000000, 0, 0, &short_) == 10000000 && !short_, "unknown: the claim");
    CHECK(lc_av_checked_duration_us(10000000, 4000000, 1, &short_) == 4000000 && short_, "cut off: what is held");
    CHECK(lc_av_checked_duration_us(10000000, 10033000, 1, &short_) == 10000000 && !short_, "held more: the claim");
    CHECK(lc_av_checked_duration_us(10000000, -5, 1, &short_) == 0 && short_, "nothing held");
    CHECK(lc_av_checked_duration_us(-1, 0, 0, &short_) == 0, "negative claim");
    /* B-frames: the last in decode order is not the last shown. */
    int64_t pts[] = {9900000, 9833000, 9866000}, dur[] = {33000, 33000, 33000};
    CHECK(lc_av_held_end_us(pts, dur, 3, 0) == 9933000, "latest end");
    CHECK(lc_av_held_end_us(pts, dur, 3, 100000) == 9833000, "media start subtracted");
    CHECK(lc_av_held_end_us(pts, dur, 0, 0) == INT64_MIN, "none");
}

static void test_hdr(void)
{
    CHECK(lc_av_hdr_transfer("ITU_R_2100_HLG") == 1, "HLG");
    CHECK(lc_av_hdr_transfer("SMPTE_ST_2084_PQ") == 2, "PQ");
    CHECK(lc_av_hdr_transfer("ITU_R_709_2") == 0 && lc_av_hdr_transfer(NULL) == 0, "SDR");
    CHECK(lc_av_hdr_plan(0, 0) == LC_AV_HDR_NONE, "SDR on 11");
    CHECK(lc_av_hdr_plan(1, 1) == LC_AV_HDR_FORCE_SDR, "HLG on 15");
    CHECK(lc_av_hdr_plan(2, 0) == LC_AV_HDR_REFUSE, "PQ on 14: refuse, never silently wrong");
    CHECK(strstr(lc_av_hdr_note(2, LC_AV_HDR_REFUSE), "PQ") != NULL, "note names the transfer");
    CHECK(lc_av_hdr_note(0, LC_AV_HDR_NONE) == NULL, "no note for SDR");
}

static void test_watchdog(void)
{
    CHECK(!lc_av_stalled(0, 100, 0, 30), "nothing outstanding never stalls");
    CHECK(!lc_av_stalled(3, 29.9, 0, 30), "inside the limit");
    CHECK(lc_av_stalled(3, 30, 0, 30), "at the limit");
}

int main(void)
{
    test_time_equality_is_exact();
    test_match_by_chunk_and_time();
    test_window();
    test_final_status_counts_rejected_and_failed();
    test_duration_check();
    test_hdr();
    test_watchdog();
    if (failures)
        return 1;
    printf("ok\n");
    return 0;
}
