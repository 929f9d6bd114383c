/*
 * sourcefile.c: the plain-C facts about a source file that both backends use
 * (see sourcefile.h). Tested on Linux by tests/c/test_sourcefile.c.
 */
#include "sourcefile.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The child box of `type` in [pos, end) of the recording at `base` in f: its
 * payload's start and end (recording offsets). */
static int find_child(FILE *f, uint64_t base, uint64_t pos, uint64_t end, const char *type, uint64_t *start,
                      uint64_t *stop)
{
    while (end - pos >= 8) {
        unsigned char h[8];
        if (fseeko(f, (off_t)(base + pos), SEEK_SET) != 0 || fread(h, 1, 8, f) != 8)
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
static uint64_t cmov_claim(FILE *f, uint64_t base, uint64_t moov, uint64_t moov_end)
{
    uint64_t cmov, cmov_end, cmvd, cmvd_end;
    unsigned char n[4];
    if (!find_child(f, base, moov, moov_end, "cmov", &cmov, &cmov_end) ||
        !find_child(f, base, cmov, cmov_end, "cmvd", &cmvd, &cmvd_end) || cmvd_end - cmvd < 4 ||
        fseeko(f, (off_t)(base + cmvd), SEEK_SET) != 0 || fread(n, 1, 4, f) != 4)
        return 0;
    return big_endian(n, 4);
}

int lc_cmov_bomb(const lc_mp4_boxes *b)
{
    return b->cmov_inflated_bytes > (uint64_t)LC_CMOV_MAX_RATIO * b->file_bytes + LC_CMOV_SLACK_BYTES;
}

/* The box walk over [base, base + length) of f (length clipped to the file). */
static lc_mp4_boxes scan_boxes(FILE *f, uint64_t base, uint64_t length)
{
    lc_mp4_boxes b;
    memset(&b, 0, sizeof b);
    off_t end;
    if (fseeko(f, 0, SEEK_END) != 0 || (end = ftello(f)) < 0 || (uint64_t)end < base)
        return b;
    /* Invariant: pos <= size, so size - pos never wraps; every box size is
     * compared with what is left of the recording before pos moves. */
    const uint64_t size = length < (uint64_t)end - base ? length : (uint64_t)end - base;
    uint64_t pos = 0;
    b.file_bytes = size;
    while (size - pos >= 8) {
        unsigned char h[16];
        if (fseeko(f, (off_t)(base + pos), SEEK_SET) != 0 || fread(h, 1, 8, f) != 8)
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
                fseeko(f, (off_t)(base + pos + header), SEEK_SET) == 0 && fread(b.brand, 1, 4, f) == 4)
                b.brand[4] = 0;
            else
                b.brand[0] = 0;
        }
        if (!memcmp(h + 4, "moov", 4)) {
            b.has_moov = 1;
            b.moov_cut = len != 0 && len > size - pos;
            if (!b.moov_cut)
                b.cmov_inflated_bytes = cmov_claim(f, base, pos + header, len == 0 ? size : pos + len);
            break;
        }
        if (len == 0)
            break; /* "runs to the end of the file": nothing follows */
        if (len < header || len > size - pos)
            break; /* invalid, or cut off: no box can start after it */
        pos += len;
    }
    return b;
}

lc_mp4_boxes lc_scan_mp4_boxes(const char *path)
{
    lc_recording whole = {0, UINT64_MAX, 0, ""};
    return lc_scan_recording_boxes(path, &whole);
}

lc_mp4_boxes lc_scan_recording_boxes(const char *path, const lc_recording *rec)
{
    lc_mp4_boxes b;
    memset(&b, 0, sizeof b);
    FILE *f = fopen(path, "rb");
    if (!f)
        return b;
    b = scan_boxes(f, rec->offset, rec->length);
    fclose(f);
    return b;
}

/* Motion photos. A JPEG's header segments are walked by their lengths up to
 * the first scan; the XMP packet (one APP1 segment, at most 64 KB) is
 * searched as text for the few properties that place the recording: XMP
 * writers differ in namespace prefixes and layout, so names are matched by
 * their local part and values as attributes (Name="v") or elements
 * (<Name>v</Name>). */
#define XMP_SIGNATURE "http://ns.adobe.com/xap/1.0/"
#define SCAN_CHUNK 65536

/* Reads n bytes at off; 1 if all came. */
static int read_at(FILE *f, uint64_t off, void *buf, size_t n)
{
    return fseeko(f, (off_t)off, SEEK_SET) == 0 && fread(buf, 1, n, f) == n;
}

/* The byte count in the value at [s, s + n) that ends at `close`: decimal
 * digits, with spaces around them (XML allows them). -1 for anything else,
 * rather than the digits it starts with: "7980abc", "0x1f2c", "+7980", "-5",
 * "" or a value the text ends in. A number of 10^18 or more is no real
 * file's byte count: INT64_MAX (outside any file), never its first digits. */
static int64_t xmp_count(const char *s, size_t n, char close)
{
    size_t i = 0;
    int64_t v = -1;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        v = v < 0 ? s[i] - '0' : v >= 100000000000000000 ? INT64_MAX : v * 10 + (s[i] - '0');
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i < n && s[i] == close ? v : -1;
}

/* Is there a property with local name `name` (":name" in the text) in
 * [text, text + n)? Its value as a byte count goes to *value (-1 if not one). */
static int xmp_property(const char *text, size_t n, const char *name, int64_t *value)
{
    size_t len = strlen(name);
    for (size_t i = 0; i + len + 2 < n; i++) {
        if (text[i] != ':' || memcmp(text + i + 1, name, len) != 0)
            continue;
        size_t j = i + 1 + len;
        char close;
        if (j + 1 < n && text[j] == '=' && (text[j + 1] == '"' || text[j + 1] == '\'')) {
            close = text[j + 1]; /* an attribute: Name="v" */
            j += 2;
        } else if (text[j] == '>') {
            close = '<'; /* an element: <Name>v</Name> */
            j += 1;
        } else {
            continue; /* a longer name that starts with this one (MicroVideoOffset after MicroVideo) */
        }
        *value = xmp_count(text + j, n - j, close);
        return 1;
    }
    return 0;
}

/* The Motion Photo 1.0 directory's video item: the tag around the
 * Semantic="MotionPhoto" attribute (either quote, as XML allows), and its
 * Length. */
static int directory_video_length(const char *text, size_t n, int64_t *length)
{
    static const char semantic[] = ":Semantic=", value[] = "MotionPhoto";
    size_t len = sizeof semantic - 1, vlen = sizeof value - 1;
    for (size_t i = 0; i + len + vlen + 2 <= n; i++) {
        const char *q = text + i + len;
        if (memcmp(text + i, semantic, len) != 0 || (q[0] != '"' && q[0] != '\'') || memcmp(q + 1, value, vlen) != 0 ||
            q[1 + vlen] != q[0])
            continue;
        size_t start = i, stop = i + len + vlen + 2;
        while (start > 0 && text[start] != '<')
            start--;
        while (stop < n && text[stop] != '>')
            stop++;
        return xmp_property(text + start, stop - start, "Length", length) && *length >= 0;
    }
    return 0;
}

/* What a JPEG's XMP says about a recording. */
typedef struct motion_claims {
    int flagged;          /* GCamera:MotionPhoto=1 or GCamera:MicroVideo=1 */
    int64_t item_length;  /* Motion Photo 1.0: the video item's Item:Length (-1: none) */
    int64_t micro_offset; /* MicroVideo: GCamera:MicroVideoOffset, from the end (-1: none) */
    uint64_t jpeg_end;    /* just after the JPEG's EOI marker (0: not found) */
} motion_claims;

static void read_xmp_claims(const char *text, size_t n, motion_claims *c)
{
    int64_t v;
    if ((xmp_property(text, n, "MotionPhoto", &v) && v == 1) || (xmp_property(text, n, "MicroVideo", &v) && v == 1))
        c->flagged = 1;
    if (c->item_length < 0 && directory_video_length(text, n, &v))
        c->item_length = v;
    if (c->micro_offset < 0 && xmp_property(text, n, "MicroVideoOffset", &v) && v >= 0)
        c->micro_offset = v;
}

/* Past a scan's entropy-coded data from pos: the next marker that is not a
 * stuffed byte (FF 00) or a restart (FF D0-D7). 0 if the file ends first.
 * The reads start small and double: a file of thousands of empty scans (a
 * marker right after each) would otherwise cost a 64 KB read per scan, 16 GB
 * for 1 MB of them. */
static uint64_t after_entropy_data(FILE *f, uint64_t pos, uint64_t size, unsigned char *buf)
{
    size_t chunk = 256;
    while (pos < size) {
        size_t want = size - pos < chunk ? (size_t)(size - pos) : chunk;
        if (chunk < SCAN_CHUNK)
            chunk *= 2;
        if (!read_at(f, pos, buf, want))
            return 0;
        for (size_t i = 0; i + 1 < want; i++)
            if (buf[i] == 0xFF && buf[i + 1] != 0 && buf[i + 1] != 0xFF && (buf[i + 1] < 0xD0 || buf[i + 1] > 0xD7))
                return pos + i;
        pos += want > 1 ? want - 1 : 1; /* the last byte may be the FF of a marker */
    }
    return 0;
}

/* Walks the JPEG's segments from its SOI to its EOI, reading the XMP. */
static void read_jpeg(FILE *f, uint64_t size, unsigned char *buf, motion_claims *c)
{
    uint64_t pos = 2;
    while (size - pos >= 2) {
        unsigned char m[4];
        if (!read_at(f, pos, m, 2) || m[0] != 0xFF)
            return;
        if (m[1] == 0xFF) { /* fill byte before a marker */
            pos++;
            continue;
        }
        if (m[1] == 0xD9) {
            c->jpeg_end = pos + 2;
            return;
        }
        if (m[1] == 0x01 || (m[1] >= 0xD0 && m[1] <= 0xD7)) { /* no length follows */
            pos += 2;
            continue;
        }
        if (size - pos < 4 || !read_at(f, pos + 2, m + 2, 2))
            return;
        uint64_t len = big_endian(m + 2, 2);
        if (len < 2 || len > size - pos - 2)
            return;
        uint64_t payload = pos + 4, payload_len = len - 2;
        if (m[1] == 0xE1 && payload_len > sizeof XMP_SIGNATURE && read_at(f, payload, buf, (size_t)payload_len) &&
            !memcmp(buf, XMP_SIGNATURE, sizeof XMP_SIGNATURE)) /* the signature's NUL included */
            read_xmp_claims((const char *)buf + sizeof XMP_SIGNATURE, (size_t)payload_len - sizeof XMP_SIGNATURE, c);
        pos += 2 + len;
        if (m[1] == 0xDA && !(pos = after_entropy_data(f, pos, size, buf)))
            return;
    }
}

static uint32_t little_endian(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Samsung's SEF trailer: "SEFH", version, count, then 12-byte entries
 * (2 zero bytes, a 2-byte type, the data's distance back from SEFH, its
 * length), then the trailer's size and "SEFT" as the file's last 8 bytes, all
 * little-endian. Each data block starts with its type, its name's length and
 * its name; the one named "MotionPhoto_Data" holds the MP4. *sefh is where
 * the trailer starts (0: none); *mp4 and *mp4_end the MP4's range (0: none). */
static void read_sef(FILE *f, uint64_t size, unsigned char *buf, uint64_t *sefh, uint64_t *mp4, uint64_t *mp4_end)
{
    static const char name[] = "MotionPhoto_Data";
    unsigned char t[8];
    *sefh = *mp4 = *mp4_end = 0;
    if (size < 8 + 12 || !read_at(f, size - 8, t, 8) || memcmp(t + 4, "SEFT", 4) != 0)
        return;
    uint64_t sef_len = little_endian(t);
    if (sef_len < 12 || sef_len > size - 8 || sef_len > SCAN_CHUNK)
        return;
    uint64_t at = size - 8 - sef_len;
    if (!read_at(f, at, buf, (size_t)sef_len) || memcmp(buf, "SEFH", 4) != 0)
        return;
    *sefh = at;
    uint64_t count = little_endian(buf + 8);
    for (uint64_t i = 0; i < count && 12 + 12 * (i + 1) <= sef_len; i++) {
        const unsigned char *e = buf + 12 + 12 * i;
        uint64_t back = little_endian(e + 4), len = little_endian(e + 8);
        unsigned char head[8 + sizeof name - 1];
        if (back > at || len < sizeof head || len > back || !read_at(f, at - back, head, sizeof head) ||
            little_endian(head + 4) != sizeof name - 1 || memcmp(head + 8, name, sizeof name - 1) != 0)
            continue;
        *mp4 = at - back + sizeof head;
        *mp4_end = at - back + len;
        return;
    }
}

/* Does an MP4 start at off, its first box an 'ftyp' that fits before end? */
static int ftyp_at(FILE *f, uint64_t off, uint64_t end)
{
    unsigned char h[8];
    if (off >= end || end - off < 16 || !read_at(f, off, h, 8) || memcmp(h + 4, "ftyp", 4) != 0)
        return 0;
    uint64_t len = big_endian(h, 4);
    return len >= 16 && len <= end - off;
}

lc_status lc_find_recording(const char *path, lc_recording *rec, char err[LC_ERRMSG_SIZE])
{
    lc_status status = LC_OK;
    unsigned char *buf = NULL, soi[2];
    motion_claims c = {0, -1, -1, 0};
    uint64_t sefh = 0, sef_mp4 = 0, sef_mp4_end = 0, start = 0, end = 0;
    const char *said = NULL;
    off_t fsize;
    memset(rec, 0, sizeof *rec);
    FILE *f = fopen(path, "rb");
    if (!f) /* the path checks and the demuxer say why */
        return LC_OK;
    if (fseeko(f, 0, SEEK_END) != 0 || (fsize = ftello(f)) < 0)
        goto done;
    const uint64_t size = (uint64_t)fsize;
    rec->length = size;
    if (size < 4 || !read_at(f, 0, soi, 2) || soi[0] != 0xFF || soi[1] != 0xD8)
        goto done; /* not a JPEG: the recording is the file */
    if (!(buf = malloc(SCAN_CHUNK))) {
        status = lc_fail(err, LC_ERR_NOMEM, "out of memory");
        goto done;
    }
    read_jpeg(f, size, buf, &c);
    read_sef(f, size, buf, &sefh, &sef_mp4, &sef_mp4_end);
    /* The file's own metadata first, most specific first; a range it names
     * must hold an MP4 or the file is damaged (no guessing past a lie). */
    /* Both Google layouts count the recording's start back from the file's end. */
    const char *property = c.item_length >= 0 ? "Item:Length" : c.micro_offset >= 0 ? "GCamera:MicroVideoOffset" : NULL;
    int64_t from_end = c.item_length >= 0 ? c.item_length : c.micro_offset;
    if (property) {
        said = c.item_length >= 0 ? "Google Motion Photo 1.0" : "Google MicroVideo";
        if ((uint64_t)from_end > size) {
            status = lc_fail(err, LC_ERR_DAMAGED,
                             "a motion photo whose XMP (%s) says its recording starts %lld bytes before the end "
                             "of a file of %llu: outside the file; refused as damaged",
                             property, (long long)from_end, (unsigned long long)size);
            goto done;
        }
        start = size - (uint64_t)from_end;
        end = size;
    } else if (sef_mp4) {
        said = "Samsung MotionPhoto_Data";
        start = sef_mp4;
        end = sef_mp4_end;
    } else if (c.jpeg_end && ftyp_at(f, c.jpeg_end, sefh ? sefh : size)) {
        said = "MP4 after the JPEG";
        start = c.jpeg_end;
        end = sefh ? sefh : size;
    } else {
        if (c.flagged)
            status = lc_fail(err, LC_ERR_DAMAGED,
                             "a motion photo (its XMP says GCamera:MotionPhoto or MicroVideo) that names no "
                             "recording, and no MP4 follows the JPEG: refused as damaged");
        goto done; /* a plain JPEG: the demuxer's refusal stands */
    }
    /* A Samsung trailer after the MP4 is not part of it. */
    if (sefh > start && sefh < end)
        end = sefh;
    if (!ftyp_at(f, start, end)) {
        status = lc_fail(err, LC_ERR_DAMAGED,
                         "a motion photo whose metadata (%s) places its recording at byte %llu of %llu, where "
                         "no MP4 starts (no 'ftyp' box): refused as damaged",
                         said, (unsigned long long)start, (unsigned long long)size);
        goto done;
    }
    rec->offset = start;
    rec->length = end - start;
    rec->embedded = 1;
    snprintf(rec->container, sizeof rec->container, "motion photo (%s)", said);
done:
    free(buf);
    fclose(f);
    return status;
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
