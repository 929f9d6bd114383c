/*
 * sourcefile.c: the plain-C facts about a source file that both backends use
 * (see sourcefile.h). Tested on Linux by tests/c/test_sourcefile.c.
 */
#include "sourcefile.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

lc_status lc_fail(char err[LC_ERRMSG_SIZE], lc_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, LC_ERRMSG_SIZE, fmt, ap);
    va_end(ap);
    for (char *p = err; *p; p++) /* library texts may carry line breaks */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return status;
}

lc_status lc_check_path(const char *path, char err[LC_ERRMSG_SIZE])
{
    struct stat sb;
    FILE *f;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return lc_fail(err, LC_ERR_NOT_FOUND, "no such file");
        return lc_fail(err, LC_ERR_IO, "cannot read the file: %s", strerror(errno));
    }
    if (S_ISDIR(sb.st_mode))
        return lc_fail(err, LC_ERR_IS_DIRECTORY, "is a folder, not a video file");
    /* Before fopen, which would wait for a writer. No size, no seeking, and
     * the planner seeks: say so rather than "empty". */
    if (S_ISFIFO(sb.st_mode) || S_ISCHR(sb.st_mode) || S_ISSOCK(sb.st_mode))
        return lc_fail(err, LC_ERR_NOT_MEDIA,
                       "is a pipe or a device, not a file: pipes are not "
                       "supported (frames are found by seeking); save the stream to a file first");
    if (sb.st_size == 0)
        return lc_fail(err, LC_ERR_EMPTY, "the file is empty (0 bytes)");
    if (!(f = fopen(path, "rb")))
        return lc_fail(err, LC_ERR_IO, "cannot read the file: %s", strerror(errno));
    fclose(f);
    return LC_OK;
}

static uint64_t big_endian(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

static int starts_movie(const unsigned char type[4])
{
    static const char *first[] = {"ftyp", "mdat", "moov", "wide", "free"};
    for (size_t i = 0; i < sizeof first / sizeof first[0]; i++)
        if (!memcmp(type, first[i], 4))
            return 1;
    return 0;
}

/* The child box of `type` in [pos, end) of f: its payload's start and end. */
static int find_child(FILE *f, uint64_t pos, uint64_t end, const char *type, uint64_t *start, uint64_t *stop)
{
    while (end - pos >= 8) {
        unsigned char h[8];
        if (fseeko(f, (off_t)pos, SEEK_SET) != 0 || fread(h, 1, 8, f) != 8)
            return 0;
        uint64_t len = big_endian(h, 4);
        if (len < 8 || len > end - pos) /* 64-bit sizes and "to the end" do not occur inside moov */
            return 0;
        if (!memcmp(h + 4, type, 4)) {
            *start = pos + 8;
            *stop = pos + len;
            return 1;
        }
        pos += len;
    }
    return 0;
}

/* What moov's cmov/cmvd says the index inflates to (0: not compressed). */
static uint64_t cmov_claim(FILE *f, uint64_t moov, uint64_t moov_end)
{
    uint64_t cmov, cmov_end, cmvd, cmvd_end;
    unsigned char n[4];
    if (!find_child(f, moov, moov_end, "cmov", &cmov, &cmov_end) ||
        !find_child(f, cmov, cmov_end, "cmvd", &cmvd, &cmvd_end) || cmvd_end - cmvd < 4 ||
        fseeko(f, (off_t)cmvd, SEEK_SET) != 0 || fread(n, 1, 4, f) != 4)
        return 0;
    return big_endian(n, 4);
}

int lc_cmov_bomb(const lc_mp4_boxes *b)
{
    return b->cmov_inflated_bytes > (uint64_t)LC_CMOV_MAX_RATIO * b->file_bytes + LC_CMOV_SLACK_BYTES;
}

lc_mp4_boxes lc_scan_mp4_boxes(const char *path)
{
    lc_mp4_boxes b;
    memset(&b, 0, sizeof b);
    FILE *f = fopen(path, "rb");
    off_t end;
    if (!f)
        return b;
    if (fseeko(f, 0, SEEK_END) != 0 || (end = ftello(f)) < 0)
        goto done;
    /* Invariant: pos <= size, so size - pos never wraps; every box size is
     * compared with what is left of the file before pos moves. */
    const uint64_t size = (uint64_t)end;
    uint64_t pos = 0;
    b.file_bytes = size;
    while (size - pos >= 8) {
        unsigned char h[16];
        if (fseeko(f, (off_t)pos, SEEK_SET) != 0 || fread(h, 1, 8, f) != 8)
            break;
        uint64_t len = big_endian(h, 4), header = 8;
        if (len == 1) { /* a 64-bit size follows the type */
            if (size - pos < 16 || fread(h + 8, 1, 8, f) != 8)
                break;
            len = big_endian(h + 8, 8);
            header = 16;
        }
        if (pos == 0) {
            if (!(b.is_iso = starts_movie(h + 4)))
                break;
            if (!memcmp(h + 4, "ftyp", 4) && (len == 0 || len >= header + 4) && size - pos >= header + 4 &&
                fseeko(f, (off_t)(pos + header), SEEK_SET) == 0 && fread(b.brand, 1, 4, f) == 4)
                b.brand[4] = 0;
            else
                b.brand[0] = 0;
        }
        if (!memcmp(h + 4, "moov", 4)) {
            b.has_moov = 1;
            b.moov_cut = len != 0 && len > size - pos;
            if (!b.moov_cut)
                b.cmov_inflated_bytes = cmov_claim(f, pos + header, len == 0 ? size : pos + len);
            break;
        }
        if (len == 0)
            break; /* "runs to the end of the file": nothing follows */
        if (len < header || len > size - pos)
            break; /* invalid, or cut off: no box can start after it */
        pos += len;
    }
done:
    fclose(f);
    return b;
}

void lc_orientation_from_matrix(double a, double b, double c, double d, int *rotation_degrees, int *hflip)
{
    *rotation_degrees = 0;
    *hflip = 0;
    double det = a * d - b * c;
    if (!isfinite(det) || det == 0)
        return;
    /* extract.h: displayed = turn(rotation) after mirror, i.e. (row vectors,
     * as ISO writes them) M = H * R with H = diag(-1, 1). Then R = H * M:
     * undoing the mirror negates the first row (a, b), not the first column. */
    if (det < 0) {
        *hflip = 1;
        a = -a;
        b = -b;
    }
    /* y points down, so the angle from +x towards +y is clockwise on screen. */
    long quarters = lround(atan2(b, a) / (3.14159265358979323846 / 2));
    *rotation_degrees = (int)(((quarters % 4) + 4) % 4) * 90;
}

int64_t lc_duration_ms_from_us(int64_t duration_us)
{
    if (duration_us <= 0)
        return 0;
    return duration_us / 1000 + (duration_us % 1000 != 0);
}
