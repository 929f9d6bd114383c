/*
 * avplan.h: the AVFoundation backend's decisions that need no Apple API,
 * written in plain C so tests/c/test_avplan.c checks them on Linux: which
 * request a generator callback belongs to, whether a picture lies in its
 * window, whether the call failed as a whole, what duration to report when the
 * header and the file disagree, whether a colour transfer is HDR, and when the
 * callbacks have stopped coming. avextract.m only reads CMTime fields into
 * these structs and acts on the answers.
 */
#ifndef LC_AVPLAN_H
#define LC_AVPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "extract.h"

/* A CMTime's value and timescale, as plain numbers. numeric: CMTIME_IS_NUMERIC. */
typedef struct lc_av_time {
    int64_t value;
    int32_t timescale;
    int numeric;
} lc_av_time;

/* Exact equality of two numeric times as rationals (1/30 == 2/60); a
 * non-numeric time equals nothing. No rounding, so two requests a microsecond
 * apart never match each other's callback. */
int lc_av_time_equal(lc_av_time a, lc_av_time b);

/* The request a handler call belongs to. Each generator call is one chunk of
 * requests [first, first + count) and its handler knows which chunk it serves
 * (the block captures it), so only times inside the chunk are compared:
 *   - the unfinished request whose time equals `got` exactly;
 *   - else, when exactly one request of the chunk is unfinished, that one
 *     (Apple promises one callback per requested time);
 *   - else -1: the call cannot be placed. The caller counts it, and when every
 *     callback of the chunk is in, the requests left unfinished are answered
 *     one by one (the per-request fallback), never guessed.
 * done[i] != 0 marks request i finished. */
ptrdiff_t lc_av_match(const lc_av_time *requested, const unsigned char *done, size_t first, size_t count,
                      lc_av_time got);

/* The recipe's window: requested - before <= actual <= requested + after. */
int lc_av_in_window(int64_t actual_us, int64_t requested_ms, int before_ms, int after_ms);

/* How each request ended, counted by the caller. */
typedef struct lc_av_tally {
    size_t requests;
    size_t pictured; /* a frame inside the window was delivered */
    size_t rejected; /* the platform answered with a frame outside the window */
    size_t failed;   /* no frame: the generator and the per-request fallback both failed */
    size_t damaged;  /* of the failed: the decoder said the picture could not be decoded */
} lc_av_tally;

/* The call's status once every request was delivered: LC_OK when at least one
 * request was pictured or some request had no frame in its window only
 * because there is none there (rejected); LC_ERR_DAMAGED when every request
 * failed to decode (the FFmpeg backend's "no decodable video packets"). The
 * line written to err says how many were rejected and failed. */
lc_status lc_av_final_status(const lc_av_tally *t, const char *first_error, char err[LC_ERRMSG_SIZE]);

/* extract.h's duration rule, the check half: the header claims claim_us (µs on
 * the bundle timeline); held_end_us is where the last picture whose bytes lie
 * inside the file ends, or held_known = 0 when the platform cannot say. The
 * smaller is reported; *shortened is set when the file holds less than it
 * claims. A negative claim counts as unknown (0). */
int64_t lc_av_checked_duration_us(int64_t claim_us, int64_t held_end_us, int held_known, int *shortened);

/* The end of the last picture held in the file, in µs on the bundle timeline,
 * from the pictures the backend looked at (presentation start and duration,
 * µs, media timeline; B-frames make the last in decode order not always the
 * last shown, so several are given): the latest end among them, minus
 * media_start_us (the media time shown at bundle time 0). INT64_MIN when n is 0. */
int64_t lc_av_held_end_us(const int64_t *pts_us, const int64_t *duration_us, size_t n, int64_t media_start_us);

/* CoreMedia's transfer function names (kCMFormatDescriptionTransferFunction_*)
 * that carry HDR: ITU_R_2100_HLG and SMPTE_ST_2084_PQ. 1 for HLG, 2 for PQ, 0
 * otherwise (NULL included). */
int lc_av_hdr_transfer(const char *transfer);

/* What to do with an HDR video: the generator converts it to SDR BT.709 only
 * where dynamicRangePolicy exists (macOS 15, built with the macOS 15 SDK).
 * Elsewhere what it returns is undocumented, so the call refuses. */
typedef enum lc_av_hdr_action {
    LC_AV_HDR_NONE = 0,  /* SDR: nothing to do */
    LC_AV_HDR_FORCE_SDR, /* set ForceSDR and say so in colour_mapping */
    LC_AV_HDR_REFUSE     /* LC_ERR_UNSUPPORTED with lc_av_hdr_refusal's line */
} lc_av_hdr_action;
lc_av_hdr_action lc_av_hdr_plan(int hdr_transfer, int has_dynamic_range_policy);
/* The colour_mapping line (FORCE_SDR) or the error line (REFUSE) for a transfer. */
const char *lc_av_hdr_note(int hdr_transfer, lc_av_hdr_action action);

/* The watchdog: requests are outstanding and no callback has come for
 * limit_s seconds. */
int lc_av_stalled(size_t outstanding, double now_s, double last_callback_s, double limit_s);

#endif
