/*
 * ffsource.c: opening a source with libavformat: telling bad input apart,
 * reading geometry and timeline, and finding keyframes.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ffinternal.h"

/* Was the recording recognised as some container at all? Decides between
 * "not a video file" and "a damaged video file" when avformat_open_input fails. */
static const AVInputFormat *sniff_format(const char *path, const lc_recording *rec, int *score)
{
    unsigned char *buf = av_mallocz(65536 + AVPROBE_PADDING_SIZE);
    const AVInputFormat *fmt = NULL;
    *score = 0;
    FILE *f = buf ? fopen(path, "rb") : NULL;
    if (f && fseeko(f, (off_t)rec->offset, SEEK_SET) != 0) {
        fclose(f);
        f = NULL;
    }
    if (f) {
        size_t got = fread(buf, 1, rec->length < 65536 ? (size_t)rec->length : 65536, f);
        fclose(f);
        AVProbeData pd = {.filename = path, .buf = buf, .buf_size = (int)got};
        fmt = av_probe_input_format2(&pd, 1, score);
    }
    av_free(buf);
    return fmt;
}

/* Does the operating system really refuse to read the file? Demuxers also
 * return AVERROR(EIO) for a file that simply ends inside its headers (a WebM
 * cut to a few hundred bytes), which is damage, not a refusal. So ask the OS:
 * open it and read its first and last READ_CHECK bytes, the parts a demuxer
 * reads while opening. Returns the errno of a refusal, or 0. */
#define READ_CHECK (16 << 20)
static int os_refuses_read(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return errno;
    char *buf = malloc(1 << 20);
    int refusal = 0;
    struct stat st;
    if (!buf || fstat(fd, &st) != 0) {
        refusal = buf ? errno : 0;
        goto done;
    }
    off_t starts[2] = {0, st.st_size > READ_CHECK ? st.st_size - READ_CHECK : 0};
    for (int i = 0; i < 2 && !refusal; i++) {
        off_t at = starts[i], end = starts[i] + READ_CHECK;
        while (at < end) {
            ssize_t got = pread(fd, buf, 1 << 20, at);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                refusal = errno;
            if (got <= 0)
                break;
            at += got;
        }
    }
done:
    free(buf);
    close(fd);
    return refusal;
}

static lc_status index_cut_off(char err[LC_ERRMSG_SIZE])
{
    return lc_fail(err, LC_ERR_INDEX_MISSING,
                   "the recording's index (MP4 'moov' box) is cut off: the file "
                   "was probably cut short while being copied or recorded");
}

static lc_status classify_open_failure(const char *path, const lc_recording *rec, int averror, char err[LC_ERRMSG_SIZE])
{
    char ebuf[AV_ERROR_MAX_STRING_SIZE];
    int score = 0, refusal = 0;
    lc_status refused = lc_open_refusal(averror, err);
    if (refused != LC_OK)
        return refused;
    if (lc_is_url(path))
        return lc_url_open_failure(averror, err);
    if ((averror == AVERROR(EACCES) || averror == AVERROR(EIO)) && (refusal = os_refuses_read(path)))
        return lc_fail(err, LC_ERR_IO, "cannot read the file: %s", strerror(refusal));
    lc_mp4_boxes boxes = lc_scan_recording_boxes(path, rec);
    if (boxes.is_iso && !boxes.has_moov)
        return lc_fail(err, LC_ERR_INDEX_MISSING,
                       "the recording's index (MP4 'moov' box) is missing: the file was "
                       "probably cut off while recording");
    if (boxes.is_iso && boxes.moov_cut)
        return index_cut_off(err);
    const AVInputFormat *guess = sniff_format(path, rec, &score);
    if (guess && score >= AVPROBE_SCORE_EXTENSION)
        return lc_fail(err, LC_ERR_DAMAGED, "looks like %s but its structure is damaged: %s", guess->name,
                       averror == AVERROR(EIO) ? "its headers are cut off or corrupt" : lc_av_error(averror, ebuf));
    return lc_fail(err, LC_ERR_NOT_MEDIA, "not a video file (no known container format)");
}

/* Demuxers that turn text or still images into a "video"; a bundle of them is
 * never what the user meant. */
static int is_not_a_video_container(const AVInputFormat *f)
{
    static const char *names[] = {"tty", "image2", "bin", "idf", "adf", "xbin", NULL};
    for (int i = 0; names[i]; i++)
        if (!strcmp(f->name, names[i]))
            return 1;
    return strstr(f->name, "_pipe") != NULL;
}

/* Annex-B elementary streams: packets without times, only frame order. */
static int is_raw_elementary_stream(const AVInputFormat *f)
{
    static const char *names[] = {"h264", "hevc", "vvc", NULL};
    for (int i = 0; names[i]; i++)
        if (!strcmp(f->name, names[i]))
            return 1;
    return (f->flags & AVFMT_NOTIMESTAMPS) != 0;
}

lc_track lc_track_of(const AVStream *st)
{
    int still = st->nb_frames == 1;
#ifdef AV_DISPOSITION_STILL_IMAGE
    still |= !!(st->disposition & AV_DISPOSITION_STILL_IMAGE);
#endif
    int64_t duration_us = st->duration != AV_NOPTS_VALUE && st->duration > 0
                              ? av_rescale_q(st->duration, st->time_base, AV_TIME_BASE_Q)
                              : 0;
    return (lc_track){.cover_art = !!(st->disposition & AV_DISPOSITION_ATTACHED_PIC),
                      .still = still,
                      .duration_us = duration_us,
                      .frames = st->nb_frames,
                      .is_default = !!(st->disposition & AV_DISPOSITION_DEFAULT),
                      .pixels = (int64_t)st->codecpar->width * st->codecpar->height};
}

/* The video track that is the recording (tracks.h's rules), -1 if none. */
static int pick_video_stream(AVFormatContext *fmt)
{
    lc_track *tracks = fmt->nb_streams ? calloc(fmt->nb_streams, sizeof *tracks) : NULL;
    int *index = fmt->nb_streams ? calloc(fmt->nb_streams, sizeof *index) : NULL;
    int n = 0, best = -1;
    for (unsigned i = 0; tracks && index && i < fmt->nb_streams; i++) {
        if (fmt->streams[i]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO)
            continue;
        tracks[n] = lc_track_of(fmt->streams[i]);
        index[n++] = (int)i;
    }
    int k = lc_pick_track(tracks, n);
    if (k >= 0)
        best = index[k];
    free(tracks);
    free(index);
    return best;
}

static const int32_t *display_matrix(const AVStream *st)
{
#if LIBAVFORMAT_VERSION_INT >= AV_VERSION_INT(60, 15, 100)
    const AVPacketSideData *sd = av_packet_side_data_get(st->codecpar->coded_side_data,
                                                         st->codecpar->nb_coded_side_data, AV_PKT_DATA_DISPLAYMATRIX);
    return sd && sd->size >= 9 * 4 ? (const int32_t *)sd->data : NULL;
#else
    size_t size = 0;
    const uint8_t *data = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    return data && size >= 9 * 4 ? (const int32_t *)data : NULL;
#endif
}

/* Display matrix -> clockwise quarter turns and a mirror (extract.h's convention). */
static void read_orientation(const AVStream *st, int *rotation, int *hflip)
{
    const int32_t *m = display_matrix(st);
    *rotation = 0;
    *hflip = 0;
    if (m)
        lc_orientation_from_matrix(m[0], m[1], m[3], m[4], rotation, hflip);
}

static void fill_info(lc_source *src, AVStream *st)
{
    lc_source_info *info = &src->info;
    AVCodecParameters *par = st->codecpar;
    info->coded_width = par->width;
    info->coded_height = par->height;
    AVRational sar = av_guess_sample_aspect_ratio(src->fmt, st, NULL);
    src->sample_aspect = (sar.num > 0 && sar.den > 0) ? sar : (AVRational){0, 1};
    int dw = par->width, dh = par->height;
    if (src->sample_aspect.num && av_cmp_q(src->sample_aspect, (AVRational){1, 1}))
        dw = (int)lround(par->width * av_q2d(src->sample_aspect));
    read_orientation(st, &info->rotation_degrees, &info->hflip);
    if (info->rotation_degrees % 180) {
        int t = dw;
        dw = dh;
        dh = t;
    }
    info->display_width = dw;
    info->display_height = dh;

    src->start_pts = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
    info->start_offset_us = av_rescale_q(src->start_pts, st->time_base, (AVRational){1, 1000000});
    int64_t dur_us = -1;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
        dur_us = av_rescale_q(st->duration, st->time_base, (AVRational){1, 1000000});
    else if (src->fmt->duration != AV_NOPTS_VALUE && src->fmt->duration > 0) {
        int64_t fmt_start = src->fmt->start_time != AV_NOPTS_VALUE ? src->fmt->start_time : 0;
        dur_us = src->fmt->duration - (info->start_offset_us - fmt_start);
    }
    info->duration_ms = lc_duration_ms_from_us(dur_us);
}

static int cmp_us(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Takes over times[0..n) as the source's packet times, sorted. */
static void set_packet_times(lc_source *src, int64_t *times, size_t n)
{
    if (times && n > 0)
        qsort(times, n, sizeof *times, cmp_us);
    free(src->packet_us);
    src->packet_us = n > 0 ? times : NULL;
    src->n_packets = n > 0 ? n : 0;
    if (n == 0)
        free(times);
}

static int cmp_keyframe(const void *a, const void *b)
{
    const lc_keyframe *x = a, *y = b;
    return (x->pts_us > y->pts_us) - (x->pts_us < y->pts_us);
}

/* A video packet this far beyond every one read before it in the tail is a
 * jump in the clock (a forged or broken timestamp, recordings joined whose
 * clocks differ), not content: the end is taken before it. An hour: more than
 * any real gap between two pictures in file order. */
#define TIMELINE_JUMP_US (3600LL * 1000000)

/* The end of the last video packet the file holds, read from its tail
 * (INT64_MIN if nothing could be read there): a header's duration is a claim,
 * this is what decodes. Index-less files jump near the end by bytes; indexed
 * ones seek by time (the index makes that cheap), to claim_us when the index
 * cannot say more. Reads at most to the end of the file. */
static int64_t tail_end_us(lc_source *src, int64_t from_us)
{
    AVFormatContext *fmt = src->fmt;
    int64_t size = fmt->pb ? avio_size(fmt->pb) : -1, end_us = INT64_MIN;
    int ok;
    if (!src->info.keyframe_index && size > 0 && !(fmt->iformat->flags & AVFMT_NO_BYTE_SEEK))
        ok = av_seek_frame(fmt, -1, size > (4 << 20) ? size - (4 << 20) : 0, AVSEEK_FLAG_BYTE) >= 0;
    else
        ok = av_seek_frame(fmt, src->stream_index, lc_us_to_pts(src, from_us), AVSEEK_FLAG_BACKWARD) >= 0;
    AVPacket *pkt = ok ? av_packet_alloc() : NULL;
    while (pkt && av_read_frame(fmt, pkt) >= 0) {
        int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        if (ts != AV_NOPTS_VALUE && !(pkt->flags & AV_PKT_FLAG_DISCARD)) {
            int64_t end = ts + (pkt->duration > 0 ? pkt->duration : 0);
            if (pkt->stream_index == src->stream_index) {
                int64_t us = lc_pts_to_us(src, end);
                if (end_us != INT64_MIN && us > end_us + TIMELINE_JUMP_US) {
                    src->timeline_jump_us = us;
                    av_packet_unref(pkt);
                    break;
                }
                if (us > end_us)
                    end_us = us;
            }
            /* Pictures and sound only: a timecode track's one sample, a
             * data or subtitle packet, may span the whole clip whatever of
             * it the file still holds (a half-copied MOV with tmcd). */
            enum AVMediaType type = fmt->streams[pkt->stream_index]->codecpar->codec_type;
            int64_t any_us = av_rescale_q(end, fmt->streams[pkt->stream_index]->time_base, AV_TIME_BASE_Q) -
                             src->info.start_offset_us;
            if ((type == AVMEDIA_TYPE_VIDEO || type == AVMEDIA_TYPE_AUDIO) && any_us > src->streams_end_us)
                src->streams_end_us = any_us;
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    return end_us;
}

/* An index entry whose bytes lie past the end of the file (a copy or a
 * recording cut off after the index was written) promises what is not there. */
static int in_file(const AVIndexEntry *e, int64_t file_size)
{
    return file_size <= 0 || e->pos < 0 || e->pos + (e->size > 0 ? e->size : 1) <= file_size;
}

/* The index entry of the packet at byte pos, or NULL. The entries' times
 * are not always the packets' decode times (MP4 with an edit list: FFmpeg
 * shifts the index), so a packet is matched to its entry by position. */
static const AVIndexEntry *entry_at(AVStream *st, int64_t pos)
{
    int n = avformat_index_get_entries_count(st);
    for (int i = 0; pos >= 0 && i < n; i++) {
        const AVIndexEntry *e = avformat_index_get_entry(st, i);
        if (e->pos == pos)
            return e;
    }
    return NULL;
}

/* After a seek to ts (backward), the stream's first packet, or with `key`
 * its first keyframe packet (within 500 packets): how far its presentation
 * runs ahead of its index entry's time (*matched 1), or of its own decode
 * time where no entry is at its position (*matched 0). 0, or -1 when there
 * is no such packet or no time to tell. */
static int ahead_after_seek(lc_source *src, AVStream *st, int64_t ts, int key, int64_t *ahead, int *matched)
{
    AVFormatContext *fmt = src->fmt;
    int found = -1;
    if (av_seek_frame(fmt, src->stream_index, ts, AVSEEK_FLAG_BACKWARD) < 0)
        return -1;
    AVPacket *pkt = av_packet_alloc();
    for (int i = 0; pkt && i < 500 && av_read_frame(fmt, pkt) >= 0; i++) {
        int done = pkt->stream_index == src->stream_index && (!key || (pkt->flags & AV_PKT_FLAG_KEY));
        const AVIndexEntry *e = done ? entry_at(st, pkt->pos) : NULL;
        if (done && pkt->pts != AV_NOPTS_VALUE && (e || pkt->dts != AV_NOPTS_VALUE)) {
            *ahead = pkt->pts - (e ? e->timestamp : pkt->dts);
            *matched = e != NULL;
            found = 0;
        }
        av_packet_unref(pkt);
        if (done)
            break;
    }
    av_packet_free(&pkt);
    return found;
}

/* A keyframe of the index that is shown and whose bytes are in the file. */
static int shown_keyframe(const AVIndexEntry *e, int64_t file_size)
{
    return (e->flags & AVINDEX_KEYFRAME) && !(e->flags & AVINDEX_DISCARD_FRAME) && in_file(e, file_size);
}

/* Whether the index's keyframes are presented delta after they are decoded,
 * as the first keyframe is: read at three of them (the first one shown, the
 * middle one, the last). An edit list can hide a first keyframe whose
 * reordering differs from the rest (Media3's "iibbibb" files: the hidden one
 * runs 2 frames ahead, the others 4), and a single delta then places every
 * shown keyframe two frames early. An entry the seek does not land on says
 * nothing either way. */
static int delta_holds(lc_source *src, AVStream *st, int n, int64_t delta, int64_t file_size)
{
    int keys[3] = {-1, -1, -1}, holds = 1;
    for (int i = 0; i < n; i++) {
        if (!shown_keyframe(avformat_index_get_entry(st, i), file_size))
            continue;
        if (keys[0] < 0)
            keys[0] = i;
        keys[2] = i;
    }
    if (keys[0] < 0)
        return 1;
    for (int i = (keys[0] + keys[2]) / 2; i <= keys[2] && keys[1] < 0; i++)
        if (shown_keyframe(avformat_index_get_entry(st, i), file_size))
            keys[1] = i;
    for (int k = 0; holds && k < 3; k++) {
        int64_t ahead;
        int matched;
        if (k > 0 && keys[k] == keys[k - 1])
            continue;
        if (ahead_after_seek(src, st, avformat_index_get_entry(st, keys[k])->timestamp, 0, &ahead, &matched) == 0 &&
            matched)
            holds = ahead == delta;
    }
    return holds;
}

/* Trust the container index only where it is written on disk for the whole
 * file (MP4 sample tables, Matroska cues, AVI idx1). Demuxers with a generic
 * index only know what they have read so far. Also checks the duration the
 * header claims against what the file holds (see tail_end_us). */
static void keyframes_from_index(lc_source *src, AVStream *st)
{
    AVFormatContext *fmt = src->fmt;
    int64_t delta = 0;
    /* Containers whose index is written on disk for the whole file. Others
     * (MPEG-TS among them) gather index entries only for what they have read
     * so far, which would hide every later keyframe from the planner. */
    static const char *indexed[] = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "asf", "mxf", NULL};
    int trusted = 0;
    for (int i = 0; indexed[i]; i++)
        trusted |= !strcmp(fmt->iformat->name, indexed[i]);
    if (fmt->iformat->flags & AVFMT_GENERIC_INDEX)
        trusted = 0;
    /* Matroska reads its cues lazily, on the first seek. The first keyframe
     * packet after the seek also tells how far presentation runs ahead of
     * decoding (MP4 indexes decode times). */
    int matched;
    if (trusted)
        ahead_after_seek(src, st, st->start_time != AV_NOPTS_VALUE ? st->start_time : 0, 1, &delta, &matched);
    int n = trusted ? avformat_index_get_entries_count(st) : 0;
    int64_t claim_us = src->info.duration_ms > 0 ? src->info.duration_ms * 1000 : INT64_MAX;
    int64_t index_end_us = INT64_MIN, file_size = fmt->pb ? avio_size(fmt->pb) : -1;
    for (int i = 0; i < n; i++) {
        const AVIndexEntry *e = avformat_index_get_entry(st, i);
        if (!in_file(e, file_size))
            continue;
        int64_t us = lc_pts_to_us(src, e->timestamp + delta);
        if (us > index_end_us)
            index_end_us = us;
    }
    /* A claim within a second of the index's last entry is what the index
     * shows (MP4 lists every frame). Beyond that (Matroska cues list
     * keyframes only; a forged or broken header), read the tail. A tail that
     * adds index entries shows the index was not complete (Matroska without
     * cues indexes what it reads). */
    src->info.keyframe_index = n > 0;
    if (n == 0 || claim_us == INT64_MAX || claim_us > index_end_us + 1000000 ||
        !strcmp(fmt->iformat->name, "matroska,webm")) {
        int64_t end_us = tail_end_us(src, n > 0 ? index_end_us : claim_us);
        /* A tail before the start is no end (a clock that wrapped): keep the claim. */
        if (end_us > 0 && (claim_us == INT64_MAX || end_us < claim_us))
            src->info.duration_ms = lc_duration_ms_from_us(end_us);
        if (n > 0 && avformat_index_get_entries_count(st) > n)
            n = 0;
    }
    src->info.keyframe_index = 0;
    if (n <= 0 || !delta_holds(src, st, n, delta, file_size))
        return; /* the keyframes are found by reading the packets (lc_scan_keyframes) */
    int64_t dur_us = src->info.duration_ms * 1000;
    int64_t slack = dur_us / 4 > 10000000 ? dur_us / 4 : 10000000;
    if (dur_us > 0 && index_end_us < dur_us - slack)
        return; /* covers only the start: not an on-disk index */
    lc_keyframe *kf = malloc(sizeof *kf * (size_t)n);
    int64_t *times = malloc(sizeof *times * (size_t)n);
    if (!kf || !times) {
        free(kf);
        free(times);
        return;
    }
    size_t count = 0, n_times = 0;
    for (int i = 0; i < n; i++) {
        const AVIndexEntry *e = avformat_index_get_entry(st, i);
        if (!in_file(e, file_size))
            continue;
        if (!(e->flags & AVINDEX_DISCARD_FRAME))
            times[n_times++] = lc_pts_to_us(src, e->timestamp + delta);
        if (!(e->flags & AVINDEX_KEYFRAME))
            continue;
        /* A keyframe an edit list hides (a phone's trim) still starts the
         * decoding of the shown frames after it. */
        kf[count] = (lc_keyframe){.seek_ts = e->timestamp,
                                  .pts_us = lc_pts_to_us(src, e->timestamp + delta),
                                  .ordinal = -1,
                                  .pos = e->pos,
                                  .hidden = !!(e->flags & AVINDEX_DISCARD_FRAME)};
        count++;
    }
    if (count == 0) {
        free(kf);
        free(times);
        return;
    }
    set_packet_times(src, times, n_times);
    qsort(kf, count, sizeof *kf, cmp_keyframe);
    lc_keyframes_init_ready(kf, count);
    src->keyframes = kf;
    src->n_keyframes = count;
    src->info.keyframe_index = 1;
}

/* The library's own log lines would break "one line per error": errors reach
 * the user through the status and message. LIFELOG_FFMPEG_LOG=1 shows them. */
static void quiet_libraries(void)
{
    av_log_set_level(getenv("LIFELOG_FFMPEG_LOG") ? AV_LOG_WARNING : AV_LOG_QUIET);
}

lc_status lc_open(const char *path, lc_source **out, lc_poll_fn poll, void *ctx, char err[LC_ERRMSG_SIZE])
{
    (void)poll; /* nothing here waits on anything but the file (extract.h) */
    (void)ctx;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, quiet_libraries);
    lc_status status = LC_OK;
    char ebuf[AV_ERROR_MAX_STRING_SIZE];
    lc_source *src = NULL;
    int ret;
    *out = NULL;

    /* A URL has no stat: the http protocol says what is missing (ffio.c). */
    if (!lc_is_url(path) && (status = lc_check_path(path, err)) != LC_OK)
        return status;

    src = calloc(1, sizeof *src);
    if (!src || !(src->path = strdup(path))) {
        status = lc_fail(err, LC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    src->streams_end_us = src->timeline_jump_us = INT64_MIN;
    src->recording.length = UINT64_MAX; /* a URL: the whole object */
    if (!lc_is_url(path)) {
        /* Decided once: every reader below reads this range of the file. */
        if ((status = lc_find_recording(path, &src->recording, err)) != LC_OK)
            goto fail;
        lc_mp4_boxes boxes = lc_scan_recording_boxes(path, &src->recording);
        if (boxes.is_iso && lc_cmov_bomb(&boxes)) {
            status = lc_fail(err, LC_ERR_DAMAGED,
                             "its compressed index (MP4 'cmov') claims to inflate to %llu "
                             "bytes, more than %d times the file's %llu: refused as damaged",
                             (unsigned long long)boxes.cmov_inflated_bytes, LC_CMOV_MAX_RATIO,
                             (unsigned long long)boxes.file_bytes);
            goto fail;
        }
    }
    ret = lc_open_input(path, &src->recording, &src->fmt);
    if (ret < 0) {
        status = classify_open_failure(path, &src->recording, ret, err);
        goto fail;
    }
    if (is_not_a_video_container(src->fmt->iformat)) {
        status = lc_fail(err, LC_ERR_NOT_MEDIA, "not a video file (read as '%s')", src->fmt->iformat->name);
        goto fail;
    }
    ret = lc_read_streams(src, is_raw_elementary_stream(src->fmt->iformat), pick_video_stream);
    /* Over a URL a read that failed (too slow, cut short) explains what the
     * demuxer could not find: say that instead. */
    if ((ret < 0 || src->stream_index < 0) && lc_input_error(src->fmt)) {
        status = lc_url_open_failure(lc_input_error(src->fmt), err);
        goto fail;
    }
    if (ret < 0) {
        status = lc_fail(err, LC_ERR_DAMAGED, "cannot read the streams: %s", lc_av_error(ret, ebuf));
        goto fail;
    }
    if (src->stream_index < 0 && !lc_is_url(path) && lc_scan_recording_boxes(path, &src->recording).moov_cut) {
        status = index_cut_off(err); /* the tracks it would have listed are missing */
        goto fail;
    }
    if (src->stream_index < 0) {
        status = lc_fail(err, LC_ERR_NO_VIDEO, "has no video stream (%s with %u other stream%s)",
                         src->fmt->iformat->name, src->fmt->nb_streams, src->fmt->nb_streams == 1 ? "" : "s");
        goto fail;
    }
    AVStream *st = src->fmt->streams[src->stream_index];
    if (!avcodec_find_decoder(st->codecpar->codec_id)) {
        /* A codec this FFmpeg does not know at all is named by the file's own
         * tag (Dolby Vision AV1's 'dav1' sample entry), not as 'none'. */
        char tag[AV_FOURCC_MAX_STRING_SIZE] = "";
        if (st->codecpar->codec_id == AV_CODEC_ID_NONE && st->codecpar->codec_tag)
            av_fourcc_make_string(tag, st->codecpar->codec_tag);
        status = lc_fail(err, LC_ERR_UNSUPPORTED, "no decoder here for its video codec '%s'%s",
                         tag[0] ? tag : avcodec_get_name(st->codecpar->codec_id),
                         tag[0] ? " (a sample entry this FFmpeg does not know)" : "");
        goto fail;
    }
    if (st->codecpar->width <= 0 || st->codecpar->height <= 0) {
        status = lc_fail(err, LC_ERR_DAMAGED, "the video stream has no readable picture size");
        goto fail;
    }
    src->time_base = st->time_base;
    fill_info(src, st);
    if (is_raw_elementary_stream(src->fmt->iformat)) {
        /* A raw elementary stream (Annex-B .h264/.hevc from a DVR or dashcam)
         * has no container times: pictures are timed by their order at the
         * stream's frame rate (its VUI timing, else the demuxer's 25 fps),
         * and the scan that counts them gives the duration. */
        AVRational rate = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
        if (rate.num <= 0 || rate.den <= 0) {
            status = lc_fail(err, LC_ERR_UNSUPPORTED,
                             "a raw %s stream without a frame rate: its frames "
                             "cannot be timed",
                             avcodec_get_name(st->codecpar->codec_id));
            goto fail;
        }
        src->raw_frame_us = av_rescale(1000000, rate.den, rate.num);
        if (src->raw_frame_us <= 0)
            src->raw_frame_us = 1;
        src->start_pts = 0;
        src->info.start_offset_us = 0;
        if ((status = lc_scan_keyframes(src, NULL, NULL, err)) != LC_OK)
            goto fail;
    } else {
        keyframes_from_index(src, st);
    }
    *out = src;
    return LC_OK;

fail:
    lc_close(src);
    return status;
}

const lc_source_info *lc_info(const lc_source *src)
{
    return &src->info;
}

void lc_close(lc_source *src)
{
    if (!src)
        return;
    lc_close_demuxer(src, &src->fmt);
    av_frame_free(&src->first_picture);
    free(src->keyframes);
    free(src->packet_us);
    free(src->path);
    free(src);
}

void lc_free(void *p)
{
    free(p);
}

/* Makes room for one more element in the growing array *items holding n
 * of *cap (doubling, first_cap at first); 0 when out of memory (*items kept). */
static int room_for_one(void **items, size_t n, size_t *cap, size_t size, size_t first_cap)
{
    if (n < *cap)
        return 1;
    size_t grown_cap = *cap ? *cap * 2 : first_cap;
    void *grown = realloc(*items, grown_cap * size);
    if (!grown)
        return 0;
    *items = grown;
    *cap = grown_cap;
    return 1;
}

lc_status lc_scan_keyframes(lc_source *src, lc_poll_fn poll, void *ctx, char err[LC_ERRMSG_SIZE])
{
    AVFormatContext *fmt = NULL;
    AVPacket *pkt = av_packet_alloc();
    lc_keyframe *kf = NULL;
    int64_t *times = NULL;
    size_t count = 0, cap = 0, n_times = 0, times_cap = 0;
    int64_t ordinal = 0;
    lc_status status;
    if (!pkt)
        return lc_fail(err, LC_ERR_NOMEM, "out of memory");
    if ((status = lc_open_demuxer(src, &fmt, err)) != LC_OK)
        goto done;
    for (long n = 0; av_read_frame(fmt, pkt) >= 0; n++) {
        /* A long file without an index takes a while: keep Ctrl-C working. */
        if (poll && n % 2048 == 0 && poll(ctx)) {
            status = lc_fail(err, LC_ERR_CANCELLED, "stopped");
            goto done;
        }
        if (pkt->stream_index == src->stream_index) {
            int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
            int key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
            /* The first packet is where decoding can start even without a
             * flag. Raw streams are read from their first keyframe on, in
             * one pass: their pictures are counted, not timed. */
            int add = src->raw_frame_us ? key && count == 0 : ts != AV_NOPTS_VALUE && (key || ordinal == 0);
            if (add) {
                if (!room_for_one((void **)&kf, count, &cap, sizeof *kf, 256)) {
                    status = lc_fail(err, LC_ERR_NOMEM, "out of memory");
                    goto done;
                }
                kf[count] = (lc_keyframe){.seek_ts = ts,
                                          .ordinal = ordinal,
                                          .pos = pkt->pos,
                                          .pts_us = src->raw_frame_us ? ordinal * src->raw_frame_us
                                                                      : lc_pts_to_us(src, ts)};
                count++;
            }
            if (ts != AV_NOPTS_VALUE && !src->raw_frame_us && !(pkt->flags & AV_PKT_FLAG_DISCARD)) {
                if (!room_for_one((void **)&times, n_times, &times_cap, sizeof *times, 1024)) {
                    status = lc_fail(err, LC_ERR_NOMEM, "out of memory");
                    goto done;
                }
                times[n_times++] = lc_pts_to_us(src, ts);
            }
            ordinal++;
        }
        av_packet_unref(pkt);
    }
    if (src->raw_frame_us)
        src->info.duration_ms = lc_duration_ms_from_us(ordinal * src->raw_frame_us);
    /* Sorted by ordinal already; presentation order of keyframes is the same. */
    lc_keyframes_init_ready(kf, count);
    free(src->keyframes);
    src->keyframes = kf;
    src->n_keyframes = count;
    src->keyframes_scanned = 1;
    set_packet_times(src, times, n_times);
    times = NULL;
    kf = NULL;
    status = LC_OK;
done:
    free(kf);
    free(times);
    av_packet_free(&pkt);
    lc_close_demuxer(src, &fmt);
    return status;
}
