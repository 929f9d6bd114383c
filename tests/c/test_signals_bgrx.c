/* The macOS canvas's pixels (B, G, R, X in memory) give the signals of the
 * luma the JPEG encoder makes of them: channel order, stride and the
 * content rect's offset, checked without a Mac. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signals.h"

static int failures;
#define CHECK(cond, ...)                                        \
    do {                                                        \
        if (!(cond)) {                                          \
            failures++;                                         \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);         \
            printf(__VA_ARGS__);                                \
            printf("\n");                                      \
        }                                                       \
    } while (0)

int main(void)
{
    enum { W = 96, H = 64, STRIDE = (W + 8) * 4 };
    static uint8_t bgrx[STRIDE * H], luma[W * H];
    /* A left half of pure red and a right half of pure blue, a stride with
     * padding that must not be read. */
    memset(bgrx, 0xEE, sizeof bgrx);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *px = bgrx + y * STRIDE + x * 4;
            int red = x < W / 2;
            px[0] = red ? 0 : 255;   /* B */
            px[1] = 0;               /* G */
            px[2] = red ? 255 : 0;   /* R */
            px[3] = 0x55;            /* X: ignored */
            luma[y * W + x] = red ? 76 : 29;   /* JFIF: 0.299 * 255, 0.114 * 255 */
        }
    lc_signals a, b;
    CHECK(lc_signals_from_bgrx(bgrx, STRIDE, W, H, &a) == 0 && a.valid, "computed");
    CHECK(lc_signals_compute(luma, W, W, H, &b) == 0 && b.valid, "reference computed");
    CHECK(a.phash == b.phash, "phash %016llx vs %016llx", (unsigned long long)a.phash, (unsigned long long)b.phash);
    CHECK(a.luma_mean == b.luma_mean && a.luma_mean == (76.0 + 29.0) / 2, "luma_mean %f", a.luma_mean);
    CHECK(a.sharpness == b.sharpness && a.luma_clipped == b.luma_clipped, "sharpness, clipped");
    CHECK(!memcmp(a.thumb, b.thumb, sizeof a.thumb), "thumbnail");
    CHECK(lc_signals_from_bgrx(bgrx, STRIDE, 0, H, &a) == -1 && !a.valid, "an empty rect has none");
    if (failures)
        return 1;
    printf("ok\n");
    return 0;
}
