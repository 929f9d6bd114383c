/* tracks.c: which video track is the recording (see tracks.h). */
#include <stddef.h>

#include "tracks.h"

#define DURATION_SLACK_US 1000000

/* Why `a` loses to `b` (NULL when it does not), by tracks.h's precedence. */
static const char *loses_to(const lc_track *a, const lc_track *b)
{
    if (a->cover_art != b->cover_art)
        return a->cover_art ? "cover art" : NULL;
    if (a->still != b->still)
        return a->still ? "a still picture (one frame)" : NULL;
    if (a->duration_us > 0 && b->duration_us > 0) {
        if (a->duration_us + DURATION_SLACK_US < b->duration_us)
            return "shorter";
        if (b->duration_us + DURATION_SLACK_US < a->duration_us)
            return NULL;
    }
    if (a->frames > 0 && b->frames > 0) {
        if (a->frames * 2 < b->frames)
            return "fewer frames";
        if (b->frames * 2 < a->frames)
            return NULL;
    }
    if (a->is_default != b->is_default)
        return a->is_default ? NULL : "not the default track";
    if (a->pixels < b->pixels)
        return "a smaller picture";
    return NULL;
}

int lc_pick_track(const lc_track *tracks, int n)
{
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (tracks[i].cover_art)
            continue;
        if (best < 0 || loses_to(&tracks[best], &tracks[i]))
            best = i;
    }
    return best;
}

const char *lc_track_passed_over(const lc_track *chosen, const lc_track *t)
{
    const char *why = loses_to(t, chosen);
    return why ? why : "an equal track that came later";
}
