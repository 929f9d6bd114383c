/*
 * tracks.h: which video track is the recording. Plain C over numbers, no
 * FFmpeg, so backends share it and tests/c/test_tracks.c checks it alone.
 *
 * A file may hold several video tracks: a Pixel motion photo's 2.1 s
 * recording beside a one-frame full-size still (both marked default), a
 * phone's low-resolution preview, a camera's thumbnail track, cover art.
 * The recording is, in this order of precedence:
 *   1. not cover art, and moving (more than one frame) rather than a still;
 *   2. the longest, where durations differ by more than a second;
 *   3. the one with the most frames, where one has over twice the other's;
 *   4. the one marked default;
 *   5. the largest picture.
 * A number the container does not give (0 or negative) decides nothing.
 */
#ifndef LC_TRACKS_H
#define LC_TRACKS_H

#include <stdint.h>

typedef struct lc_track {
    int cover_art;       /* an attached picture, not part of the recording */
    int still;           /* one frame, or marked a still image */
    int64_t duration_us; /* <= 0: unknown */
    int64_t frames;      /* <= 0: unknown */
    int is_default;
    int64_t pixels;
} lc_track;

/* The index of the recording among n tracks, -1 if every one is cover art
 * (or n is 0). */
int lc_pick_track(const lc_track *tracks, int n);

/* Why track t was passed over for the chosen one, in a few words ("a still
 * picture (one frame)", "shorter", ...). */
const char *lc_track_passed_over(const lc_track *chosen, const lc_track *t);

#endif
