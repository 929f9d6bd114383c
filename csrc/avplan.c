/*
 * avplan.c: the AVFoundation backend's plain-C decisions (see avplan.h).
 * Tested on Linux by tests/c/test_avplan.c.
 */
#include "avplan.h"

#include <stdio.h>
#include <string.h>

int lc_av_time_equal(lc_av_time a, lc_av_time b)
{
    if (!a.numeric || !b.numeric || a.timescale <= 0 || b.timescale <= 0)
        return 0;
    /* a.value / a.timescale == b.value / b.timescale, cross-multiplied in 128
     * bits: |value| < 2^63 and timescale < 2^31 cannot overflow there. */
    return (__int128)a.value * b.timescale == (__int128)b.value * a.timescale;
}

ptrdiff_t lc_av_match(const lc_av_time *requested, const unsigned char *done, size_t first, size_t count,
                      lc_av_time got)
{
    ptrdiff_t only = -1;
    size_t open = 0;
    for (size_t i = first; i < first + count; i++) {
        if (done[i])
            continue;
        if (lc_av_time_equal(requested[i], got))
            return (ptrdiff_t)i;
        open++;
        only = (ptrdiff_t)i;
    }
    return open == 1 ? only : -1;
}

int lc_av_in_window(int64_t actual_us, int64_t requested_ms, int before_ms, int after_ms)
{
    int64_t t_us = requested_ms * 1000;
    return actual_us >= t_us - (int64_t)before_ms * 1000 && actual_us <= t_us + (int64_t)after_ms * 1000;
}

lc_status lc_av_final_status(const lc_av_tally *t, const char *first_error, char err[LC_ERRMSG_SIZE])
{
    if (t->requests == 0 || t->pictured > 0)
        return LC_OK;
    /* snprintf, not sourcefile.c's lc_fail: this file stands alone in its test. */
    snprintf(err, LC_ERRMSG_SIZE,
             "no request could be pictured: %zu of %zu failed to decode (%zu reported damaged), %zu had "
             "only frames outside their window%s%s",
             t->failed, t->requests, t->damaged, t->rejected, first_error ? "; first error: " : "",
             first_error ? first_error : "");
    return LC_ERR_DAMAGED;
}

int64_t lc_av_checked_duration_us(int64_t claim_us, int64_t held_end_us, int held_known, int *shortened)
{
    *shortened = 0;
    if (claim_us < 0)
        claim_us = 0;
    if (!held_known)
        return claim_us;
    if (held_end_us < 0)
        held_end_us = 0;
    if (held_end_us < claim_us) {
        *shortened = 1;
        return held_end_us;
    }
    return claim_us;
}

int64_t lc_av_held_end_us(const int64_t *pts_us, const int64_t *duration_us, size_t n, int64_t media_start_us)
{
    int64_t end = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        int64_t e = pts_us[i] + (duration_us[i] > 0 ? duration_us[i] : 0);
        if (e > end)
            end = e;
    }
    return n ? end - media_start_us : INT64_MIN;
}

int lc_av_hdr_transfer(const char *transfer)
{
    if (!transfer)
        return 0;
    if (!strcmp(transfer, "ITU_R_2100_HLG"))
        return 1;
    if (!strcmp(transfer, "SMPTE_ST_2084_PQ"))
        return 2;
    return 0;
}

lc_av_hdr_action lc_av_hdr_plan(int hdr_transfer, int has_dynamic_range_policy)
{
    if (!hdr_transfer)
        return LC_AV_HDR_NONE;
    return has_dynamic_range_policy ? LC_AV_HDR_FORCE_SDR : LC_AV_HDR_REFUSE;
}

const char *lc_av_hdr_note(int hdr_transfer, lc_av_hdr_action action)
{
    int pq = hdr_transfer == 2;
    if (action == LC_AV_HDR_FORCE_SDR)
        return pq ? "PQ to SDR BT.709 by AVFoundation (dynamicRangePolicy ForceSDR; Apple's own mapping, "
                    "not the FFmpeg core's ITU-R BT.2408 tables)"
                  : "HLG to SDR BT.709 by AVFoundation (dynamicRangePolicy ForceSDR; Apple's own mapping, "
                    "not the FFmpeg core's ITU-R BT.2408 tables)";
    if (action == LC_AV_HDR_REFUSE)
        return pq ? "PQ (HDR) video needs macOS 15 and a build with the macOS 15 SDK here: before that "
                    "AVFoundation's conversion to SDR is undocumented, so no frame is made rather than a "
                    "wrong one"
                  : "HLG (HDR) video needs macOS 15 and a build with the macOS 15 SDK here: before that "
                    "AVFoundation's conversion to SDR is undocumented, so no frame is made rather than a "
                    "wrong one";
    return NULL;
}

int lc_av_stalled(size_t outstanding, double now_s, double last_callback_s, double limit_s)
{
    return outstanding > 0 && now_s - last_callback_s >= limit_s;
}
