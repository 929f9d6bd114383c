/*
 * ffprobe_json.c: the source's container, streams, chapters and a normalised
 * summary as JSON, read from libavformat itself (no ffprobe binary at run time).
 */
#include <string.h>

#include <libavutil/display.h>
#include <libavutil/pixdesc.h>

#include "ffinternal.h"
#include "jsonw.h"

static double seconds(int64_t ts, AVRational tb)
{
    return ts == AV_NOPTS_VALUE ? NAN : ts * av_q2d(tb);
}

static void rational(jsonw *w, const char *key, AVRational q)
{
    char text[48];
    if (q.den == 0 || q.num == 0) {
        jsonw_null(w, key);
        return;
    }
    snprintf(text, sizeof text, "%d/%d", q.num, q.den);
    jsonw_string(w, key, text);
}

static void tags(jsonw *w, const AVDictionary *dict)
{
    const AVDictionaryEntry *e = NULL;
    jsonw_begin_object(w, "tags");
    while ((e = av_dict_get(dict, "", e, AV_DICT_IGNORE_SUFFIX)))
        jsonw_string(w, e->key, e->value);
    jsonw_end_object(w);
}

static const char *tag(const AVDictionary *dict, const char *key)
{
    const AVDictionaryEntry *e = av_dict_get(dict, key, NULL, 0);
    return e ? e->value : NULL;
}

static void side_data(jsonw *w, const AVStream *st)
{
    jsonw_begin_array(w, "side_data");
#if LIBAVFORMAT_VERSION_INT >= AV_VERSION_INT(60, 15, 100)
    const AVPacketSideData *list = st->codecpar->coded_side_data;
    int n = st->codecpar->nb_coded_side_data;
#else
    const AVPacketSideData *list = st->side_data;
    int n = st->nb_side_data;
#endif
    for (int i = 0; i < n; i++) {
        const AVPacketSideData *sd = &list[i];
        jsonw_begin_object(w, NULL);
        jsonw_string(w, "type", av_packet_side_data_name(sd->type));
        jsonw_int(w, "size", (int64_t)sd->size);
        if (sd->type == AV_PKT_DATA_DISPLAYMATRIX && sd->size >= 36)
            jsonw_double(w, "rotation_ccw_degrees", av_display_rotation_get((const int32_t *)sd->data));
        jsonw_end_object(w);
    }
    jsonw_end_array(w);
}

static void stream(jsonw *w, const AVStream *st)
{
    const AVCodecParameters *par = st->codecpar;
    jsonw_begin_object(w, NULL);
    jsonw_int(w, "index", st->index);
    jsonw_string(w, "codec_type", av_get_media_type_string(par->codec_type));
    jsonw_string(w, "codec_name", avcodec_get_name(par->codec_id));
    jsonw_string(w, "profile", avcodec_profile_name(par->codec_id, par->profile));
    char fourcc[AV_FOURCC_MAX_STRING_SIZE] = "";
    av_fourcc_make_string(fourcc, par->codec_tag);
    jsonw_string(w, "codec_tag", fourcc);
    rational(w, "time_base", st->time_base);
    jsonw_double(w, "start_time", seconds(st->start_time, st->time_base));
    jsonw_double(w, "duration", seconds(st->duration, st->time_base));
    jsonw_int(w, "nb_frames", st->nb_frames);
    jsonw_int(w, "bit_rate", par->bit_rate);
    if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
        jsonw_int(w, "width", par->width);
        jsonw_int(w, "height", par->height);
        const char *pix = av_get_pix_fmt_name(par->format);
        jsonw_string(w, "pix_fmt", pix);
        const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(par->format);
        if (d)
            jsonw_int(w, "bits_per_component", d->comp[0].depth);
        rational(w, "sample_aspect_ratio", par->sample_aspect_ratio);
        rational(w, "r_frame_rate", st->r_frame_rate);
        rational(w, "avg_frame_rate", st->avg_frame_rate);
        jsonw_string(w, "color_range", av_color_range_name(par->color_range));
        jsonw_string(w, "color_space", av_color_space_name(par->color_space));
        jsonw_string(w, "color_transfer", av_color_transfer_name(par->color_trc));
        jsonw_string(w, "color_primaries", av_color_primaries_name(par->color_primaries));
        jsonw_string(w, "chroma_location", av_chroma_location_name(par->chroma_location));
        jsonw_int(w, "has_b_frames", par->video_delay);
    } else if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
        jsonw_int(w, "sample_rate", par->sample_rate);
        jsonw_int(w, "channels", par->ch_layout.nb_channels);
        jsonw_string(w, "sample_fmt", av_get_sample_fmt_name(par->format));
    }
    jsonw_begin_object(w, "disposition");
    jsonw_bool(w, "default", st->disposition & AV_DISPOSITION_DEFAULT);
    jsonw_bool(w, "attached_pic", st->disposition & AV_DISPOSITION_ATTACHED_PIC);
    jsonw_end_object(w);
    tags(w, st->metadata);
    side_data(w, st);
    jsonw_end_object(w);
}

static void summary(jsonw *w, const lc_source *src)
{
    const AVFormatContext *fmt = src->fmt;
    const AVStream *st = fmt->streams[src->stream_index];
    const AVCodecParameters *par = st->codecpar;
    const lc_source_info *info = &src->info;
    int has_audio = 0;
    const char *timecode = tag(st->metadata, "timecode") ? tag(st->metadata, "timecode") : tag(fmt->metadata, "timecode");
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *s = fmt->streams[i];
        has_audio |= s->codecpar->codec_type == AVMEDIA_TYPE_AUDIO;
        if (!timecode)
            timecode = tag(s->metadata, "timecode");   /* QuickTime tmcd track */
    }
    const char *created = tag(fmt->metadata, "creation_time");
    const char *location = tag(fmt->metadata, "location");
    if (!location)
        location = tag(fmt->metadata, "com.apple.quicktime.location.ISO6709");
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(par->format);

    jsonw_begin_object(w, "summary");
    jsonw_string(w, "container_format", fmt->iformat->name);
    jsonw_string(w, "video_codec", avcodec_get_name(par->codec_id));
    jsonw_string(w, "video_profile", avcodec_profile_name(par->codec_id, par->profile));
    jsonw_int(w, "duration_ms", info->duration_ms);
    jsonw_int(w, "coded_width", info->coded_width);
    jsonw_int(w, "coded_height", info->coded_height);
    jsonw_int(w, "display_width", info->display_width);
    jsonw_int(w, "display_height", info->display_height);
    AVRational dar;
    av_reduce(&dar.num, &dar.den, info->display_width, info->display_height, 1 << 20);
    rational(w, "aspect_ratio", dar);
    rational(w, "sample_aspect_ratio", src->sample_aspect);
    jsonw_double(w, "avg_frame_rate", st->avg_frame_rate.den ? av_q2d(st->avg_frame_rate) : NAN);
    jsonw_int(w, "rotation_degrees", info->rotation_degrees);
    jsonw_bool(w, "hflip", info->hflip);
    jsonw_string(w, "creation_time", created ? created : tag(st->metadata, "creation_time"));
    jsonw_string(w, "timecode", timecode);
    jsonw_bool(w, "has_audio", has_audio);
    jsonw_double(w, "video_start_time_ms", info->start_offset_us / 1000.0);
    if (d)
        jsonw_int(w, "bit_depth", d->comp[0].depth);
    else
        jsonw_null(w, "bit_depth");
    jsonw_string(w, "pix_fmt", av_get_pix_fmt_name(par->format));
    jsonw_string(w, "color_primaries", av_color_primaries_name(par->color_primaries));
    jsonw_string(w, "color_transfer", av_color_transfer_name(par->color_trc));
    jsonw_string(w, "color_matrix", av_color_space_name(par->color_space));
    jsonw_string(w, "color_range", av_color_range_name(par->color_range));
    jsonw_string(w, "location_iso6709", location);
    jsonw_int(w, "video_bit_rate", par->bit_rate);
    jsonw_int(w, "nb_frames", st->nb_frames);
    jsonw_bool(w, "keyframe_index", info->keyframe_index);
    jsonw_end_object(w);
}

char *lc_build_probe_json(const lc_source *src)
{
    const AVFormatContext *fmt = src->fmt;
    jsonw w = {0};
    jsonw_begin_object(&w, NULL);
    jsonw_begin_object(&w, "format");
    jsonw_string(&w, "format_name", fmt->iformat->name);
    jsonw_string(&w, "format_long_name", fmt->iformat->long_name);
    jsonw_int(&w, "nb_streams", fmt->nb_streams);
    jsonw_int(&w, "nb_chapters", fmt->nb_chapters);
    jsonw_double(&w, "start_time", seconds(fmt->start_time, AV_TIME_BASE_Q));
    jsonw_double(&w, "duration", seconds(fmt->duration, AV_TIME_BASE_Q));
    jsonw_int(&w, "bit_rate", fmt->bit_rate);
    tags(&w, fmt->metadata);
    jsonw_end_object(&w);
    jsonw_begin_array(&w, "streams");
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        stream(&w, fmt->streams[i]);
    jsonw_end_array(&w);
    jsonw_begin_array(&w, "chapters");
    for (unsigned i = 0; i < fmt->nb_chapters; i++) {
        const AVChapter *c = fmt->chapters[i];
        jsonw_begin_object(&w, NULL);
        jsonw_int(&w, "id", c->id);
        jsonw_double(&w, "start_time", seconds(c->start, c->time_base));
        jsonw_double(&w, "end_time", seconds(c->end, c->time_base));
        tags(&w, c->metadata);
        jsonw_end_object(&w);
    }
    jsonw_end_array(&w);
    summary(&w, src);
    jsonw_end_object(&w);
    return jsonw_finish(&w);
}
