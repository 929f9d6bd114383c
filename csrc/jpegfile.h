/*
 * jpegfile.h: reading and trimming the JPEG an encoder wrote, in plain C (no
 * libjpeg, no Apple headers), for the macOS backend whose encoder (ImageIO)
 * exposes only a 0.0-1.0 "quality" and no subsampling or metadata switches.
 * What the encoder did is read back from its output instead:
 *   - the luma quantisation table, as the libjpeg (IJG) quality whose table is
 *     nearest: the scale the recipe's jpeg_quality means on the FFmpeg core
 *     (libjpeg-turbo);
 *   - the chroma subsampling in the frame header;
 *   - per-frame metadata (Exif, ICC profile, XMP, comments) is cut out, so a
 *     frame carries what the FFmpeg core's does: JFIF, tables, the scan.
 * Tested on Linux by tests/c/test_jpegfile.c against libjpeg's own output.
 */
#ifndef LC_JPEGFILE_H
#define LC_JPEGFILE_H

#include <stddef.h>
#include <stdint.h>

/* The luma (first) quantisation table of a JPEG, in natural (row-major) order.
 * 0 on success, -1 if the data holds none before the first scan. */
int lc_jpeg_luma_table(const unsigned char *jpeg, size_t size, uint16_t table[64]);

/* The libjpeg quality 1..100 whose luma table (jpeg_set_quality with
 * force_baseline, ITU T.81 table K.1 scaled) is nearest to `table`, by the
 * sum of absolute differences; ties go to the higher quality. */
int lc_jpeg_ijg_quality(const uint16_t table[64]);

/* Chroma subsampling of a 3-component JPEG: 444, 422, 420, 440, 411 (luma
 * sampling factors over chroma's), 0 if not a 3-component frame with 1x1
 * chroma, -1 if no frame header was found. */
int lc_jpeg_subsampling(const unsigned char *jpeg, size_t size);

/* Cuts APP1..APP15 and COM segments (Exif, ICC profile, XMP, Photoshop,
 * comments) out of the JPEG in place, keeping APP0 (JFIF) and everything the
 * decoder needs. Returns the new size; the data is left unchanged and `size`
 * returned when the marker structure before the first scan is not as
 * expected. */
size_t lc_jpeg_strip_metadata(unsigned char *jpeg, size_t size);

/* Finds the encoder setting (0..max_setting) whose output has the libjpeg
 * quality `target`: `quality_at(ctx, s)` encodes a probe at setting s and
 * returns lc_jpeg_ijg_quality of the result (or -1 on failure). Bisection
 * over at most 12 probes, assuming quality does not fall as the setting
 * rises; returns the setting whose quality is nearest to target (the lower
 * setting on a tie), and its quality in *got (-1 if every probe failed; the
 * return value is then target / 100, capped at max_setting). */
double lc_jpeg_calibrate(int target, double max_setting, int (*quality_at)(void *ctx, double setting), void *ctx,
                         int *got);

#endif
