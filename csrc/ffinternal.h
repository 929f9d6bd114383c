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

struct lc_source {
    char *path;
    AVFormatContext *fmt;        /* the probing context; workers open their own */
    int stream_index;
    AVRational time_base;
    int64_t start_pts;           /* first presentation time, stream time base */
    AVRational sample_aspect;    /* 0/1 when unknown or square */
    lc_source_info info;
    /* Keyframes on the bundle timeline. From the container index when it can be
     * trusted (keyframe_index = 1), else from a packet scan done lazily by the
     * first extraction (then every seek is a forward skip over packets). */
    lc_keyframe *keyframes;
    size_t n_keyframes;
    int keyframes_scanned;
};

/* The library's own words for an AVERROR code. */
const char *lc_av_error(int averror, char buf[AV_ERROR_MAX_STRING_SIZE]);

/* Stream time stamps <-> bundle timeline (microseconds from the first frame). */
int64_t lc_pts_to_us(const lc_source *src, int64_t pts);
int64_t lc_us_to_pts(const lc_source *src, int64_t us);

/* Opens the source file again for one worker, with every other stream
 * discarded so the demuxer skips their bytes. */
lc_status lc_open_demuxer(const lc_source *src, AVFormatContext **out, char err[LC_ERRMSG_SIZE]);
/* A decoder for the source's video stream. */
lc_status lc_open_decoder(const lc_source *src, int threads, AVCodecContext **out,
                          char err[LC_ERRMSG_SIZE]);
/* Reads every video packet once to find keyframes where no index exists. */
lc_status lc_scan_keyframes(lc_source *src, lc_poll_fn poll, void *ctx, char err[LC_ERRMSG_SIZE]);

/* ffcanvas.c: one picture onto the canvas and out as JPEG. */
typedef struct lc_canvas lc_canvas;
lc_canvas *lc_canvas_new(const lc_recipe *recipe, const lc_source *src);
lc_status lc_canvas_encode(lc_canvas *cv, const AVFrame *frame, lc_frame *out,
                           char err[LC_ERRMSG_SIZE]);
void lc_canvas_free(lc_canvas *cv);
/* LC_ERR_UNSUPPORTED for sources whose colours cannot be pictured right
 * (Dolby Vision profile 5): reported instead of mis-rendered. */
lc_status lc_canvas_check(const lc_source *src, char err[LC_ERRMSG_SIZE]);

/* ffprobe_json.c */
char *lc_build_probe_json(const lc_source *src);

#endif
