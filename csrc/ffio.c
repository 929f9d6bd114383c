/*
 * ffio.c: where the FFmpeg backend's bytes come from (a local file or an
 * http(s) URL), and how many it read.
 *
 * A URL is read through bounded range requests, so sparse extraction stays
 * sparse over the network. Handing the URL straight to libavformat's http
 * protocol is not enough: it asks for open-ended ranges ("bytes=N-") on every
 * seek and the server pushes megabytes into the socket buffers before the
 * seek closes the connection (measured here: 10x the file's size sent for a
 * 1 fps extraction that needed 12% of it). So the demuxer reads from an
 * AVIOContext of ours that fetches windows [pos, pos + n) with the http
 * protocol's offset/end_offset options: after a seek a window is the packet
 * the demuxer asks for (or 32 KB for header reads), and it doubles while
 * reading stays sequential (decoding forward through a GOP), so what is sent
 * is at most about twice what is used plus a little per seek. All of it is C on libavformat: no Python runs on the read
 * path and the GIL stays released for the whole extraction (module.c).
 *
 * Object storage (s3://, gs://) reaches this file as a presigned https URL
 * made by the Python layer (storage.py).
 *
 * Only the named file (or the URL's object) is ever read. A local path never
 * reaches libavformat's protocol parser: the file is opened here as
 * "file:PATH", so a file named "concat:a.mp4|b.mp4" or "pipe:0" is that file.
 * Demuxers that read other resources than the one they are given (playlists,
 * manifests, concat scripts, image patterns, session descriptions) are
 * refused before they read a header, and the demuxer's own io_open refuses
 * every nested open (mov's external tracks, 'dref' aliases, are off by
 * default, enable_drefs = 0; this is the second lock on that door).
 *
 * A motion photo's recording (an MP4 inside a JPEG, sourcefile.h) is read
 * through the subfile protocol over that same "file:PATH": the whitelist is
 * exactly "subfile,file" and the URL is built here, so the demuxer sees the
 * MP4's bytes as a file of their own (its offsets are relative to its start)
 * and still nothing but the named file is opened.
 */
#include <string.h>

#include <libavutil/avstring.h>
#include <libavutil/mem.h>
#include <libavutil/time.h>

#include "ffinternal.h"

const char *lc_av_error(int averror, char buf[AV_ERROR_MAX_STRING_SIZE])
{
    av_strerror(averror, buf, AV_ERROR_MAX_STRING_SIZE);
    return buf;
}

#define FIRST_WINDOW (32 * 1024)
#define LARGEST_WINDOW (8 * 1024 * 1024)
/* Small, so that avio_read hands a packet read (larger than this) straight
 * to read_packet with its exact size: after a seek the window is then just
 * the packet the demuxer wants. */
#define AVIO_BUFFER (4 * 1024)
/* A forward seek this close is read through instead of a new request. */
#define READ_THROUGH (64 * 1024)
/* rw_timeout ends a server that stops answering; one that trickles (a byte
 * every 50 ms never waits 30 s) is ended when a window has delivered less
 * than MIN_RATE bytes a second over SLOW_AFTER_US: it would otherwise hold an
 * extraction for hours. */
#define SLOW_AFTER_US (30 * 1000000LL)
#define MIN_RATE 1024

/* A window's answer (status line and headers) must come within this: a
 * server that trickles them a byte every 2 s never trips rw_timeout, and
 * would be read as an empty object half a minute later. */
#define ANSWER_WITHIN_US (10 * 1000000LL)
#define SLOW_ANSWER FFERRTAG('L', 'C', 'S', 'A')
/* A server that says it takes ranges but sends the object from its start. */
#define RANGES_IGNORED FFERRTAG('L', 'C', 'R', 'I')
#define RANGE_PROBE 16

typedef struct range_reader {
    int64_t answer_by; /* while a window opens: when its answer is overdue (INT64_MAX after) */
    char *url;
    AVIOContext *win;      /* the open window, or NULL */
    int64_t win_pos;       /* next byte the window will deliver */
    int64_t win_end;       /* end of the window (exclusive) */
    int64_t next_len;      /* length of the next window if reading goes on sequentially */
    int64_t pos;           /* next byte the demuxer wants */
    int64_t size;          /* the resource's size, from the first response (-1 unknown) */
    int64_t requested;     /* bytes asked for in all windows: what the server sends */
    int64_t win_opened_us; /* when the open window was asked for (av_gettime_relative) */
    int64_t win_got;       /* bytes it has delivered */
    int error;             /* a read that failed for good (too slow, cut short): every read after
                                it fails the same way, and an open names it */
} range_reader;

int lc_is_url(const char *path)
{
    return !strncmp(path, "http://", 7) || !strncmp(path, "https://", 8);
}

/* Demuxers that read what their input names rather than only their input:
 * refused, whatever the file is called. Of those with AVFMT_NOFILE (which
 * open their own resource by name) only image2 is probed on an open file;
 * any other that a future FFmpeg probes is refused as "opens its own input". */
static const struct {
    const char *name, *what;
} elsewhere[] = {
    {"concat", "a concat script, which names other files"},
    {"hls", "an HLS playlist, which names other files"},
    {"applehttp", "an HLS playlist, which names other files"},
    {"dash", "a DASH manifest, which names other files"},
    {"imf", "an IMF composition, which names other files"},
    {"image2", "still images"},
    {"vobsub", "subtitles that read another file"},
    {"sdp", "a session description, which names network streams"},
    {"rtsp", "a network stream"},
    {"rtp", "a network stream"},
    {"sap", "a network stream"},
    {"avisynth", "a script"},
    {"vapoursynth", "a script"},
    {NULL, "a format that opens its own input"},
};
#define ELSEWHERE_COUNT (int)(sizeof elsewhere / sizeof elsewhere[0])
/* The refusal's AVERROR carries its row of the table. */
#define ELSEWHERE_ERROR(i) FFERRTAG('L', 'C', 'E', 'A' + (i))

static int refers_elsewhere(const AVInputFormat *f)
{
    for (int i = 0; elsewhere[i].name; i++)
        if (!strcmp(f->name, elsewhere[i].name))
            return i;
    return f->flags & AVFMT_NOFILE ? ELSEWHERE_COUNT - 1 : -1;
}

lc_status lc_open_refusal(int averror, char err[LC_ERRMSG_SIZE])
{
    for (int i = 0; i < ELSEWHERE_COUNT; i++)
        if (averror == ELSEWHERE_ERROR(i))
            return elsewhere[i].name
                       ? lc_fail(err, LC_ERR_NOT_MEDIA,
                                 "not a video file (read as '%s': %s; "
                                 "only the named file is ever read)",
                                 elsewhere[i].name, elsewhere[i].what)
                       : lc_fail(err, LC_ERR_NOT_MEDIA, "not a video file (read as %s)", elsewhere[i].what);
    return LC_OK;
}

/* The demuxer's io_open: nothing besides the input itself may be opened. */
static int refuse_io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags, AVDictionary **options)
{
    (void)s;
    (void)url;
    (void)flags;
    (void)options;
    *pb = NULL;
    return AVERROR(EPERM);
}

static void url_options(AVDictionary **opts)
{
    /* Bounded time: a server that stops answering fails the read after 30 s
     * instead of hanging the extraction. Only network protocols: a redirect
     * must not turn into a local file or a subprocess. */
    av_dict_set(opts, "rw_timeout", "30000000", 0);
    av_dict_set(opts, "protocol_whitelist", "http,https,tcp,tls", 0);
}

static int answer_overdue(void *opaque)
{
    const range_reader *r = opaque;
    return av_gettime_relative() > r->answer_by;
}

static int open_window(range_reader *r, int64_t len)
{
    AVDictionary *opts = NULL;
    int64_t end = r->size >= 0 && r->pos + len > r->size ? r->size : r->pos + len;
    int ret;
    avio_closep(&r->win);
    url_options(&opts);
    av_dict_set_int(&opts, "offset", r->pos, 0);
    av_dict_set_int(&opts, "end_offset", end, 0);
    r->answer_by = av_gettime_relative() + ANSWER_WITHIN_US;
    AVIOInterruptCB overdue = {answer_overdue, r};
    ret = avio_open2(&r->win, r->url, AVIO_FLAG_READ, &overdue, &opts);
    av_dict_free(&opts);
    int late = av_gettime_relative() > r->answer_by;
    r->answer_by = INT64_MAX; /* the callback stays with the window: reads have their own bound */
    if (ret < 0 && late)
        ret = r->error = SLOW_ANSWER;
    if (ret < 0)
        return ret;
    if (r->size < 0)
        r->size = avio_size(r->win);
    if (r->size >= 0 && end > r->size)
        end = r->size;
    r->win_pos = r->pos;
    r->win_end = end;
    r->requested += end - r->pos;
    r->win_opened_us = av_gettime_relative();
    r->win_got = 0;
    return 0;
}

static int too_slow(const range_reader *r)
{
    int64_t elapsed = av_gettime_relative() - r->win_opened_us;
    return elapsed > SLOW_AFTER_US && r->win_got < elapsed / 1000000 * MIN_RATE;
}

static int read_packet(void *opaque, uint8_t *buf, int buf_size)
{
    range_reader *r = opaque;
    if (r->error)
        return r->error;
    if (r->size >= 0 && r->pos >= r->size)
        return AVERROR_EOF;
    /* Read through a short gap rather than asking again. */
    if (r->win && r->pos > r->win_pos && r->pos - r->win_pos <= READ_THROUGH && r->pos < r->win_end) {
        int ret = avio_skip(r->win, r->pos - r->win_pos);
        if (ret < 0)
            avio_closep(&r->win);
        else
            r->win_pos = r->pos;
    }
    if (!r->win || r->pos != r->win_pos || r->pos >= r->win_end) {
        int sequential = r->win && r->pos == r->win_end;
        /* A read larger than the buffer is exact demand; a buffered one is not. */
        int64_t len = sequential ? r->next_len : buf_size > AVIO_BUFFER ? 0 : FIRST_WINDOW;
        if (len < buf_size)
            len = buf_size;
        int ret = open_window(r, len);
        if (ret < 0)
            return ret;
        r->next_len = len * 2 > LARGEST_WINDOW ? LARGEST_WINDOW : len * 2;
    }
    int want = r->win_end - r->pos < buf_size ? (int)(r->win_end - r->pos) : buf_size;
    int n = avio_read_partial(r->win, buf, want);
    /* The window promised more (want > 0): an end here is the server closing
     * the connection early, and any error a failed read. */
    if (n == 0 || n == AVERROR_EOF)
        n = AVERROR(ECONNRESET);
    if (n < 0) {
        if (n != AVERROR_EXIT)
            r->error = n;
        avio_closep(&r->win);
        return n;
    }
    r->pos += n;
    r->win_pos += n;
    r->win_got += n;
    if (too_slow(r)) {
        avio_closep(&r->win);
        return r->error = AVERROR(ETIMEDOUT);
    }
    return n;
}

static int64_t seek(void *opaque, int64_t offset, int whence)
{
    range_reader *r = opaque;
    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE)
        return r->size >= 0 ? r->size : AVERROR(ENOSYS);
    if (whence == SEEK_CUR)
        offset += r->pos;
    else if (whence == SEEK_END) {
        if (r->size < 0)
            return AVERROR(ENOSYS);
        offset += r->size;
    } else if (whence != SEEK_SET)
        return AVERROR(EINVAL);
    if (offset < 0)
        return AVERROR(EINVAL);
    r->pos = offset; /* the next read opens a window there if it must */
    return offset;
}

static int reader_error(const AVIOContext *pb)
{
    return pb ? ((const range_reader *)pb->opaque)->error : 0;
}

static void free_reader(AVIOContext **pb)
{
    if (!*pb)
        return;
    range_reader *r = (*pb)->opaque;
    avio_closep(&r->win);
    av_free(r->url);
    av_free(r);
    av_freep(&(*pb)->buffer);
    avio_context_free(pb);
}

/* Reads len bytes of url from off in one range request of its own; what
 * avio_read gives (fewer at the end, a negative AVERROR). */
static int read_range(const char *url, int64_t off, int len, unsigned char *buf)
{
    AVDictionary *opts = NULL;
    AVIOContext *pb = NULL;
    url_options(&opts);
    av_dict_set_int(&opts, "offset", off, 0);
    av_dict_set_int(&opts, "end_offset", off + len, 0);
    int ret = avio_open2(&pb, url, AVIO_FLAG_READ, NULL, &opts);
    av_dict_free(&opts);
    if (ret < 0)
        return ret;
    ret = avio_read(pb, buf, len);
    avio_closep(&pb);
    return ret;
}

/* Does the server send the bytes asked for? One that announces ranges but
 * answers every request with the object from byte 0 (a misconfigured proxy)
 * would hand the demuxer the wrong bytes after every seek, and the file would
 * be called no video at all. Bytes 1-16 asked for alone must be bytes 1-16 of
 * 0-16. Two tiny requests; a server that cannot answer them says nothing here. */
static int ignores_ranges(range_reader *r)
{
    unsigned char head[RANGE_PROBE + 1], later[RANGE_PROBE];
    int first = read_range(r->url, 0, RANGE_PROBE + 1, head);
    r->requested += first > 0 ? first : 0; /* what the server sent counts as read */
    if (first != RANGE_PROBE + 1)
        return 0;
    int got = read_range(r->url, 1, RANGE_PROBE, later);
    r->requested += got > 0 ? got : 0;
    /* FFmpeg's http fails a request whose answer starts elsewhere than asked
     * (no Content-Range) with a bare -1; a server that does send one but
     * from the wrong place is caught by the comparison. */
    if (got < 0)
        return got == -1;
    return got == RANGE_PROBE && memcmp(head + 1, later, RANGE_PROBE) != 0;
}

/* A range reader over url; its first window tells the size and whether the
 * server honours ranges at all. */
static int new_reader(const char *url, AVIOContext **out)
{
    range_reader *r = av_mallocz(sizeof *r);
    unsigned char *buffer = av_malloc(AVIO_BUFFER);
    int ret;
    *out = NULL;
    if (!r || !buffer || !(r->url = av_strdup(url))) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    r->size = -1;
    if ((ret = open_window(r, FIRST_WINDOW)) < 0)
        goto fail;
    r->next_len = 2 * FIRST_WINDOW;
    if (r->size == 0) {
        ret = AVERROR_EOF;
        goto fail;
    }
    if (!(r->win->seekable & AVIO_SEEKABLE_NORMAL)) {
        ret = AVERROR(ESPIPE); /* no Range support: the planner could not seek */
        goto fail;
    }
    if (r->size > RANGE_PROBE && ignores_ranges(r)) {
        ret = RANGES_IGNORED;
        goto fail;
    }
    *out = avio_alloc_context(buffer, AVIO_BUFFER, 0, r, read_packet, NULL, seek);
    if (!*out) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    return 0;
fail:
    if (r) {
        avio_closep(&r->win);
        av_free(r->url);
    }
    av_free(r);
    av_free(buffer);
    return ret;
}

lc_status lc_url_open_failure(int averror, char err[LC_ERRMSG_SIZE])
{
    char ebuf[AV_ERROR_MAX_STRING_SIZE];
    switch (averror) {
    case AVERROR_HTTP_NOT_FOUND:
        return lc_fail(err, LC_ERR_NOT_FOUND, "no such object (HTTP 404)");
    case AVERROR_HTTP_UNAUTHORIZED:
    case AVERROR_HTTP_FORBIDDEN:
        return lc_fail(err, LC_ERR_IO, "access refused (%s)", lc_av_error(averror, ebuf));
    case AVERROR(ESPIPE):
        return lc_fail(err, LC_ERR_IO,
                       "the server does not answer range requests, and frames "
                       "are found by seeking");
    case AVERROR_INVALIDDATA:
        /* The file checks (moov walk, sniffing) would read the object again;
         * over the network say only what libavformat found. */
        return lc_fail(err, LC_ERR_NOT_MEDIA,
                       "not a video file, or a damaged one (no container "
                       "format could be read)");
    case AVERROR_EOF:
        return lc_fail(err, LC_ERR_EMPTY, "the object is empty (0 bytes)");
    case AVERROR(ETIMEDOUT):
        return lc_fail(err, LC_ERR_IO, "the server sends too slowly (under %d bytes a second for %d s)", MIN_RATE,
                       (int)(SLOW_AFTER_US / 1000000));
    case RANGES_IGNORED:
        return lc_fail(err, LC_ERR_IO,
                       "the server says it answers range requests but sends the object from "
                       "its start, and frames are found by seeking");
    case SLOW_ANSWER:
        return lc_fail(err, LC_ERR_IO, "the server did not answer a request within %d s",
                       (int)(ANSWER_WITHIN_US / 1000000));
    case AVERROR(ECONNRESET):
        return lc_fail(err, LC_ERR_IO, "the server closed the connection before sending what it promised");
    default:
        return lc_fail(err, LC_ERR_IO, "cannot read the URL: %s", lc_av_error(averror, ebuf));
    }
}

/* The local file at path, through the file protocol alone: "file:" first,
 * so that nothing in the name is read as a protocol. An embedded recording:
 * its byte range of that file, through subfile (start and end as options,
 * never parsed from the name). */
static int open_file(const char *path, const lc_recording *rec, AVIOContext **out)
{
    AVDictionary *opts = NULL;
    int embedded = rec && rec->embedded;
    char *url = av_asprintf("%sfile:%s", embedded ? "subfile:" : "", path);
    int ret;
    *out = NULL;
    if (!url)
        return AVERROR(ENOMEM);
    av_dict_set(&opts, "protocol_whitelist", embedded ? "subfile,file" : "file", 0);
    if (embedded) {
        av_dict_set_int(&opts, "start", (int64_t)rec->offset, 0);
        av_dict_set_int(&opts, "end", (int64_t)(rec->offset + rec->length), 0);
    }
    ret = avio_open2(out, url, AVIO_FLAG_READ, NULL, &opts);
    av_dict_free(&opts);
    av_free(url);
    return ret;
}

int lc_open_input(const char *path, const lc_recording *rec, AVFormatContext **fmt)
{
    AVIOContext *pb = NULL;
    AVDictionary *opts = NULL;
    const AVInputFormat *format = NULL;
    int url = lc_is_url(path), ret, refused, score;
    *fmt = NULL;
    if ((ret = url ? new_reader(path, &pb) : open_file(path, rec, &pb)) < 0)
        return ret;
    if (!(*fmt = avformat_alloc_context())) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    (*fmt)->pb = pb;
    (*fmt)->flags |= AVFMT_FLAG_CUSTOM_IO;
    (*fmt)->io_open = refuse_io_open;
    /* The format is chosen here, as avformat_open_input would (the name's
     * extension counts), so that one that reads elsewhere never reads a header. */
    if ((ret = score = av_probe_input_buffer2(pb, &format, path, *fmt, 0, 0)) < 0)
        goto fail;
    if ((refused = refers_elsewhere(format)) >= 0) {
        ret = ELSEWHERE_ERROR(refused);
        goto fail;
    }
    /* For what a demuxer opens past io_open (network protocols of its own). */
    av_dict_set(&opts, "protocol_whitelist", url ? "http,https,tcp,tls" : "file", 0);
    av_dict_set(&opts, "enable_drefs", "0", 0);
    ret = avformat_open_input(fmt, path, format, &opts); /* frees *fmt on failure, not pb */
    av_dict_free(&opts);
    if (ret < 0)
        goto fail;
    (*fmt)->probe_score = score; /* what avformat_open_input says when it probes itself */
    /* A local file's context is ordinary from here: avformat_close_input
     * closes it, and only a URL's reader is ours to free (lc_close_demuxer). */
    if (!url)
        (*fmt)->flags &= ~AVFMT_FLAG_CUSTOM_IO;
    return 0;
fail:
    avformat_free_context(*fmt);
    *fmt = NULL;
    if (url) {
        /* A demuxer that met a read error says only that it found no format. */
        int error = reader_error(pb);
        if (error)
            ret = error;
        free_reader(&pb);
    } else {
        avio_closep(&pb);
    }
    return ret;
}

int lc_input_error(const AVFormatContext *fmt)
{
    return fmt && (fmt->flags & AVFMT_FLAG_CUSTOM_IO) ? reader_error(fmt->pb) : 0;
}

/* What a demuxer cost: the bytes the server was asked for over a URL (all of
 * them are sent), the bytes read from a file. */
static int64_t cost(const AVFormatContext *fmt)
{
    if (!fmt || !fmt->pb)
        return 0;
    if (fmt->flags & AVFMT_FLAG_CUSTOM_IO)
        return ((const range_reader *)fmt->pb->opaque)->requested;
    return fmt->pb->bytes_read;
}

void lc_close_demuxer(const lc_source *src, AVFormatContext **fmt)
{
    AVIOContext *custom = *fmt && ((*fmt)->flags & AVFMT_FLAG_CUSTOM_IO) ? (*fmt)->pb : NULL;
    /* Workers hold the source as const; the counter is the one field they
     * update, atomically (the source itself was allocated writable). */
    __atomic_fetch_add((int64_t *)&src->bytes_read, cost(*fmt), __ATOMIC_RELAXED);
    avformat_close_input(fmt);
    free_reader(&custom);
}

int64_t lc_bytes_read(const lc_source *src)
{
    return __atomic_load_n(&src->bytes_read, __ATOMIC_RELAXED) + cost(src->fmt);
}
