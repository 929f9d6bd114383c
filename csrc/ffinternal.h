/*
 * ffinternal.h: what the FFmpeg backend's files share. Not part of the contract.
 */
#ifndef LC_FFINTERNAL_H
#define LC_FFINTERNAL_H

#include <stdarg.h>
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <turbojpeg.h>

#include "extract.h"
#include "plan.h"
#include "sourcefile.h"
#include "tracks.h"

struct lc_source {
    char *path;
    lc_recording recording; /* the recording's bytes in the file (a motion photo's MP4); sourcefile.h */
    AVFormatContext *fmt;   /* the probing context; workers open their own */
    int stream_index;
    AVRational time_base;
    int64_t start_pts;        /* first presentation time, stream time base */
    AVRational sample_aspect; /* 0/1 when unknown or square */
    lc_source_info info;
    /* Keyframes on the bundle timeline. From the container index when it can be
     * trusted (keyframe_index = 1), else from a packet scan done lazily by the
     * first extraction (then every seek is a forward skip over packets). */
    lc_keyframe *keyframes;
    size_t n_keyframes;
    int keyframes_scanned;
    int64_t bytes_read; /* by demuxers already closed (workers, scans); see ffio.c */
    /* Raw elementary streams (Annex-B .h264/.hevc) carry no times: pictures
     * are timed by their order at the stream's frame rate, this long each. */
    int64_t raw_frame_us;
    /* The first keyframe's picture, when opening decoded it (ffstreams.c):
     * the first request's keyframe need not be decoded again. Kept until the
     * source is closed: a second extraction decoding that keyframe itself
     * could picture its request otherwise (a damaged file's keyframe that
     * gives its picture only with the packets after it). */
    AVFrame *first_picture;
    /* Where the last packet of any stream ends, on the bundle timeline, when
     * the file's tail was read (INT64_MIN if not): a file whose audio runs
     * past its video is not cut short where its video ends. */
    int64_t streams_end_us;
    /* Where the video's clock jumped to, more than an hour past everything
     * before it, near the end (INT64_MIN: no jump): the end is taken before it. */
    int64_t timeline_jump_us;
    /* Every shown video packet's time on the bundle timeline, sorted (from
     * the index, or the packet scan; NULL if neither): where the timeline
     * has gaps that no request need decode to find empty (plan.h). */
    int64_t *packet_us;
    size_t n_packets;
};

/* A video stream as tracks.h weighs it. */
lc_track lc_track_of(const AVStream *st);

/* The library's own words for an AVERROR code. */
const char *lc_av_error(int averror, char buf[AV_ERROR_MAX_STRING_SIZE]);

/* Stream time stamps <-> bundle timeline (microseconds from the first frame). */
int64_t lc_pts_to_us(const lc_source *src, int64_t pts);
int64_t lc_us_to_pts(const lc_source *src, int64_t us);

/* Opens the source file again for one worker, with every other stream
 * discarded so the demuxer skips their bytes. */
lc_status lc_open_demuxer(const lc_source *src, AVFormatContext **out, char err[LC_ERRMSG_SIZE]);
/* A decoder for the source's video stream, on the calling thread only. */
lc_status lc_open_decoder(const lc_source *src, AVCodecContext **out, char err[LC_ERRMSG_SIZE]);
/* ffstreams.c: the streams' parameters (avformat_find_stream_info), and the
 * video stream chosen by pick; H.264's first keyframe is decoded once and
 * kept. An AVERROR when the streams cannot be read. */
int lc_read_streams(lc_source *src, int raw_stream, int (*pick)(AVFormatContext *));
/* A copy of the kept first picture when it is keyframe k's, else NULL. */
AVFrame *lc_take_first_picture(lc_source *src, size_t k);

/* Reads every video packet once to find keyframes where no index exists. */
lc_status lc_scan_keyframes(lc_source *src, lc_poll_fn poll, void *ctx, char err[LC_ERRMSG_SIZE]);

/* ffio.c: local files and http(s) URLs, and the bytes read from them. */
int lc_is_url(const char *path);
/* rec: the recording's byte range in a local file (NULL, or not embedded: the whole file). */
int lc_open_input(const char *path, const lc_recording *rec, AVFormatContext **fmt);
/* The read error a URL's reader met for good (0: none, or a local file). */
int lc_input_error(const AVFormatContext *fmt);
lc_status lc_url_open_failure(int averror, char err[LC_ERRMSG_SIZE]);
/* lc_open_input's refusal of a format that reads other resources, said; LC_OK for another error. */
lc_status lc_open_refusal(int averror, char err[LC_ERRMSG_SIZE]);
/* Closes a demuxer opened on src and adds what it read to src's count. */
void lc_close_demuxer(const lc_source *src, AVFormatContext **fmt);
/* ffsession.c: one worker's decoding session, started at a keyframe. */
#define LC_SESSION_PENDING_MAX 4
typedef struct lc_session {
    lc_source *src;
    /* The worker's own copy of the source's keyframes, and the range of those
     * it learnt about (lc_session_learnt) since lc_session_forget: shared,
     * what one worker learnt changed where another started decoding, so a
     * damaged file's rows depended on which got there first. */
    lc_keyframe *kf;
    size_t learnt_lo, learnt_hi;
    const int *stop; /* read between packets: non-zero ends the work */
    AVFormatContext *fmt;
    AVCodecContext *dec; /* opened anew at each start (lc_session_start) */
    AVPacket *pkt;
    int held;                                 /* pkt holds the keyframe packet, not yet sent */
    AVFrame *pending[LC_SESSION_PENDING_MAX]; /* decoded, not yet consumed, in time order */
    int n_pending;
    size_t keyframe;                       /* LC_PLAN_NONE: no session running */
    size_t started;                        /* the keyframe the last session started at (kept after its end) */
    int64_t own_us;                        /* that keyframe packet's own presentation time */
    int64_t first_ordinal;                 /* its place among the packets (raw streams) */
    int64_t first_us;                      /* the session's first picture, LC_PLAN_NEVER before one */
    int64_t last_us;                       /* its latest picture */
    int64_t consumed_us, undo_consumed_us; /* latest picture handed out and not pushed back */
    int64_t sent_before_t_us;              /* latest frame sent whole, at or before the request */
    int64_t pictures;                      /* pictures since the start */
    int drained, eof;
    int at_end;           /* eof was the true end of the file, not a read error */
    int64_t read_ordinal; /* video packets read so far; -1 after a jump, until known */
    int decoded;          /* pictures produced for the current request */
    int damaged;          /* of those in its window, the ones the decoder reported damaged */
    int tainted;          /* a damaged picture came since the last keyframe (carry_damage) */
    int start_checked;    /* a picture at or after the keyframe's own time came */
    int withholding;      /* started at a false keyframe at the file's start: pictures
                                    predicted from nothing are dropped until an intra one */
    int false_keyframes;  /* keyframes found false for the current request (first finder) */
    int index_lied;       /* this worker found a false keyframe: kept across sessions */
    size_t passing;       /* the next keyframe after the latest picture (check_passing) */
    int64_t reseeks;      /* seeks made again from a fresh demuxer (seek_by_index) */
} lc_session;

/* kf: the worker's copy of src's keyframes, for the session to learn into. */
lc_status lc_session_open(lc_session *s, lc_source *src, lc_keyframe *kf, const int *stop, char err[LC_ERRMSG_SIZE]);
/* Keyframe k of s->kf was learnt about (late, false): lc_session_forget undoes it. */
void lc_session_learnt(lc_session *s, size_t k);
/* Before each chunk: what the session learnt about keyframes is forgotten, so
 * that a chunk's rows do not depend on which chunks its worker ran before.
 * The session itself may go on into the chunk (lc_plan_continue): a lying
 * index is then still decoded in one pass. */
void lc_session_forget(lc_session *s);
/* Positions at keyframe k, decoder empty. If k cannot be reached, or its
 * packet is no key packet (the index lied: lc_keyframe_learn_false), the
 * session is at its end at once (eof set, keyframe LC_PLAN_NONE). */
lc_status lc_session_start(lc_session *s, size_t k, char err[LC_ERRMSG_SIZE]);
/* The next picture in presentation order; NULL when the session ends,
 * which it does at once when the keyframe's own picture is a predicted one
 * (the index lied; keyframe 0 instead decodes on, dropping pictures until
 * an intra one). With
 * more_packets = 0 the decoder gets nothing beyond what it holds: it is
 * drained. item decides which frames the decoder may skip. */
AVFrame *lc_session_next(lc_session *s, const lc_plan_item *item, int more_packets);
/* Gives back the picture lc_session_next just returned: the next call returns it again. */
void lc_session_push_back(lc_session *s, AVFrame *f);
/* A picture's time on the bundle timeline (INT64_MIN when unknown). */
int64_t lc_session_frame_us(const lc_session *s, const AVFrame *f);
/* The decoder reported the picture damaged (bitstream errors, concealment, a
 * missing reference): parts of it may show another moment, from whatever its
 * buffer held before. Never pictured. */
int lc_picture_damaged(const AVFrame *f);
void lc_session_end(lc_session *s);
void lc_session_close(lc_session *s);

/* ffcanvas.c: one picture onto the canvas and out as JPEG. */
typedef struct lc_canvas lc_canvas;
lc_canvas *lc_canvas_new(const lc_recipe *recipe, const lc_source *src);
lc_status lc_canvas_encode(lc_canvas *cv, const AVFrame *frame, lc_frame *out, char err[LC_ERRMSG_SIZE]);
void lc_canvas_free(lc_canvas *cv);
/* LC_ERR_UNSUPPORTED for sources whose colours cannot be pictured right
 * (Dolby Vision profile 5): reported instead of mis-rendered. */
lc_status lc_canvas_check(const lc_source *src, char err[LC_ERRMSG_SIZE]);

/* ffprobe_json.c */
char *lc_build_probe_json(const lc_source *src);

#endif
