/*
 * test_jpegfile.c: csrc/jpegfile.c. Without arguments: the calibration search
 * and malformed input. With `info FILE...`: prints "quality subsampling" per
 * file; with `strip IN OUT`: writes IN without its metadata. tests/test_plan_c.py
 * makes the files with libjpeg (Pillow) and checks the printed values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpegfile.h"

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

static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (f)
        fclose(f);
    *size = buf ? (size_t)n : 0;
    return buf;
}

/* An encoder whose quality rises in steps with the setting, like ImageIO's
 * might: libjpeg quality = 20 + 79 * setting, held flat over 0.3-0.4. */
static int fake_encoder(void *ctx, double s)
{
    int *calls = ctx;
    (*calls)++;
    if (s >= 0.3 && s <= 0.4)
        return 44;
    return 20 + (int)(79 * s);
}

static int failing_encoder(void *ctx, double s)
{
    (void)ctx;
    (void)s;
    return -1;
}

static void test_calibrate(void)
{
    int calls = 0, got;
    double s = lc_jpeg_calibrate(75, 0.99, fake_encoder, &calls, &got);
    CHECK(got == 75 && s > 0.69 && s < 0.71, "75 at %f (quality %d)", s, got);
    CHECK(calls <= 12, "%d probes", calls);
    s = lc_jpeg_calibrate(44, 0.99, fake_encoder, &calls, &got);
    CHECK(got == 44 && s >= 0.3 && s <= 0.31, "flat step: lowest setting with 44, got %f", s);
    s = lc_jpeg_calibrate(100, 0.99, fake_encoder, &calls, &got);
    CHECK(s == 0.99 && got == 98, "above what the cap reaches: the cap, %f %d", s, got);
    s = lc_jpeg_calibrate(5, 0.99, fake_encoder, &calls, &got);
    CHECK(got == 20 && s < 0.01, "below the lowest: the lowest, %f %d", s, got);
    s = lc_jpeg_calibrate(75, 0.99, failing_encoder, NULL, &got);
    CHECK(got == -1 && s == 0.75, "no probe: identity, %f", s);
}

static void test_malformed(void)
{
    unsigned char junk[] = {0xFF, 0xD8, 0xFF, 0xDB, 0xFF, 0xFF};
    uint16_t table[64];
    CHECK(lc_jpeg_luma_table(junk, sizeof junk, table) == -1, "cut DQT");
    CHECK(lc_jpeg_subsampling(junk, sizeof junk) == -1, "no SOF");
    CHECK(lc_jpeg_strip_metadata(junk, sizeof junk) == sizeof junk, "untouched");
    unsigned char text[] = "not a jpeg";
    CHECK(lc_jpeg_luma_table(text, sizeof text, table) == -1, "text");
    /* APP1 whose length runs past the end: nothing is cut. */
    unsigned char cut[] = {0xFF, 0xD8, 0xFF, 0xE1, 0x10, 0x00, 'E', 'x'};
    CHECK(lc_jpeg_strip_metadata(cut, sizeof cut) == sizeof cut, "cut APP1 untouched");
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "info")) {
        for (int i = 2; i < argc; i++) {
            size_t size;
            uint16_t table[64];
            unsigned char *jpeg = slurp(argv[i], &size);
            int q = jpeg && lc_jpeg_luma_table(jpeg, size, table) == 0 ? lc_jpeg_ijg_quality(table) : -1;
            printf("%d %d\n", q, jpeg ? lc_jpeg_subsampling(jpeg, size) : -1);
            free(jpeg);
        }
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "strip")) {
        size_t size;
        unsigned char *jpeg = slurp(argv[2], &size);
        FILE *out = fopen(argv[3], "wb");
        if (!jpeg || !out)
            return 2;
        size = lc_jpeg_strip_metadata(jpeg, size);
        fwrite(jpeg, 1, size, out);
        fclose(out);
        free(jpeg);
        return 0;
    }
    test_calibrate();
    test_malformed();
    if (failures)
        return 1;
    printf("ok\n");
    return 0;
}
