/* The rules of tracks.h, checked alone. */
#include <stdio.h>
#include <string.h>

#include "tracks.h"

static int failures;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            failures++;                                               \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);               \
            printf(__VA_ARGS__);                                      \
            printf("\n");                                             \
        }                                                             \
    } while (0)

int main(void)
{
    /* A Pixel motion photo: the 2.1 s recording and a one-frame still four
     * times its size, both default. */
    lc_track motion[2] = {{.duration_us = 2101000, .frames = 58, .is_default = 1, .pixels = 1024 * 768},
                          {.still = 1, .duration_us = 467000, .frames = 1, .is_default = 1, .pixels = 2048 * 1536}};
    CHECK(lc_pick_track(motion, 2) == 0, "the recording, not the still");
    CHECK(!strcmp(lc_track_passed_over(&motion[0], &motion[1]), "a still picture (one frame)"), "reason");
    /* Equal length: the default, then the larger picture (a phone's preview). */
    lc_track preview[2] = {{.duration_us = 10000000, .frames = 300, .pixels = 640 * 360},
                           {.duration_us = 10033000, .frames = 301, .pixels = 1920 * 1080}};
    CHECK(lc_pick_track(preview, 2) == 1, "the larger of two equal tracks");
    preview[0].is_default = 1;
    CHECK(lc_pick_track(preview, 2) == 0, "the default of two equal tracks");
    /* A thumbnail track: as long, a frame every few seconds. */
    lc_track thumbs[2] = {{.duration_us = 60000000, .frames = 20, .is_default = 1, .pixels = 3840 * 2160},
                          {.duration_us = 60000000, .frames = 1800, .pixels = 1920 * 1080}};
    CHECK(lc_pick_track(thumbs, 2) == 1, "most frames");
    CHECK(!strcmp(lc_track_passed_over(&thumbs[1], &thumbs[0]), "fewer frames"), "reason");
    /* The longest, whatever its size or flags. */
    lc_track spans[3] = {{.duration_us = 5000000, .frames = 150, .is_default = 1, .pixels = 4000 * 3000},
                         {.duration_us = 30000000, .frames = 900, .pixels = 320 * 240},
                         {.cover_art = 1, .pixels = 8000 * 8000}};
    CHECK(lc_pick_track(spans, 3) == 1, "the longest");
    CHECK(!strcmp(lc_track_passed_over(&spans[1], &spans[0]), "shorter"), "reason");
    /* Nothing known (a stream before its packets are read): default, then size. */
    lc_track unknown[2] = {{.pixels = 100}, {.pixels = 200}};
    CHECK(lc_pick_track(unknown, 2) == 1, "the larger when nothing else is known");
    lc_track art[1] = {{.cover_art = 1}};
    CHECK(lc_pick_track(art, 1) == -1 && lc_pick_track(NULL, 0) == -1, "no recording");
    if (failures)
        return 1;
    printf("ok\n");
    return 0;
}
