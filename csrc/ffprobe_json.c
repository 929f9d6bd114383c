/*
 * ffprobe_json.c: the source's container, streams, chapters and a normalised
 * summary as JSON, read from libavformat itself (no ffprobe binary at run time).
 *
 * "format", "streams" and "chapters" use ffprobe's names and types
 * (`ffprobe -show_format -show_streams -show_chapters -of json`), so tools
 * written for ffprobe read source-probe.json: times and bit rates are strings
 * ("3.000000", "1916781"), aspect ratios "16:9", dispositions 0/1, and a field
 * ffprobe leaves out (unknown colour, no bit rate) is left out here too.
 * Fields ffprobe takes from an opened decoder (refs, closed_captions,
 * film_grain, is_avc, nal_length_size) or prints as hex dumps (displaymatrix)
 * are not written; README "source-probe.json" lists the differences.
 */
#include <string.h>

#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>

#include "ffinternal.h"
#include "jsonw.h"

/* "num<sep>den" as ffprobe's print_q writes it (0/0 included). */
static void rational(jsonw *w, const char *key, AVRational q, char sep)
{
    char text[48];
    snprintf(text, sizeof text, "%d%c%d", q.num, sep, q.den);
    jsonw_string(w, key, text);
}

/* The summary's own form: "num/den", or null when unknown. */
static void ratio_or_null(jsonw *w, const char *key, AVRational q)
{
    if (q.num == 0 || q.den == 0)
        jsonw_null(w, key);
    else
        rational(w, key, q, '/');
}

/* ffprobe's "%f" of ts * tb (six decimals), left out when unknown. Integer
 * arithmetic, not printf("%f"): the process locale may use a decimal comma. */
static void seconds(jsonw *w, const char *key, int64_t ts, AVRational tb)
{
    char text[48];
    if (ts == AV_NOPTS_VALUE || tb.den == 0)
        return;
    int64_t us = av_rescale_q_rnd(ts, tb, (AVRational){1, 1000000}, AV_ROUND_NEAR_INF | AV_ROUND_PASS_MINMAX);
    uint64_t mag = us < 0 ? (uint64_t)0 - (uint64_t)us : (uint64_t)us;
    snprintf(text, sizeof text, "%s%llu.%06llu", us < 0 ? "-" : "", (unsigned long long)(mag / 1000000),
             (unsigned long long)(mag % 1000000));
    jsonw_string(w, key, text);
}

/* ffprobe writes counts such as bit_rate and nb_frames as strings, and leaves
 * them out when zero (unknown). */
static void count_string(jsonw *w, const char *key, int64_t value)
{
    char text[32];
    if (value <= 0)
        return;
    snprintf(text, sizeof text, "%lld", (long long)value);
    jsonw_string(w, key, text);
}

/* A time in µs as whole ms, null for INT64_MIN (not known). */
static void ms_or_null(jsonw *w, const char *key, int64_t us)
{
    if (us != INT64_MIN)
        jsonw_int(w, key, us / 1000);
    else
        jsonw_null(w, key);
}

static void timestamp(jsonw *w, const char *key, int64_t ts)
{
    if (ts != AV_NOPTS_VALUE)
        jsonw_int(w, key, ts);
}

static void optional_string(jsonw *w, const char *key, const char *value)
{
    if (value)
        jsonw_string(w, key, value);
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
#if LIBAVFORMAT_VERSION_INT >= AV_VERSION_INT(60, 15, 100)
    const AVPacketSideData *list = st->codecpar->coded_side_data;
    int n = st->codecpar->nb_coded_side_data;
#else
    const AVPacketSideData *list = st->side_data;
    int n = st->nb_side_data;
#endif
    if (n == 0)
        return; /* ffprobe writes no empty list */
    jsonw_begin_array(w, "side_data_list");
    for (int i = 0; i < n; i++) {
        const AVPacketSideData *sd = &list[i];
        jsonw_begin_object(w, NULL);
        jsonw_string(w, "side_data_type", av_packet_side_data_name(sd->type));
        if (sd->type == AV_PKT_DATA_DISPLAYMATRIX && sd->size >= 36)
            /* ffprobe's int: the angle truncated toward zero, counter-clockwise */
            jsonw_int(w, "rotation", (int64_t)av_display_rotation_get((const int32_t *)sd->data));
        jsonw_end_object(w);
    }
    jsonw_end_array(w);
}

static void disposition(jsonw *w, int flags)
{
    jsonw_begin_object(w, "disposition");
    for (int bit = 0; bit < 31; bit++) {
        const char *name = av_disposition_to_string(1 << bit);
        if (name)
            jsonw_int(w, name, (flags >> bit) & 1);
    }
    jsonw_end_object(w);
}

static const char *field_order_name(enum AVFieldOrder order)
{
    switch (order) {
    case AV_FIELD_PROGRESSIVE:
        return "progressive";
    case AV_FIELD_TT:
        return "tt";
    case AV_FIELD_BB:
        return "bb";
    case AV_FIELD_TB:
        return "tb";
    case AV_FIELD_BT:
        return "bt";
    default:
        return NULL;
    }
}

static void video_fields(jsonw *w, const AVFormatContext *fmt, AVStream *st)
{
    const AVCodecParameters *par = st->codecpar;
    jsonw_int(w, "width", par->width);
    jsonw_int(w, "height", par->height);
    /* ffprobe asks an opened decoder; without decoding that is the coded size. */
    jsonw_int(w, "coded_width", par->width);
    jsonw_int(w, "coded_height", par->height);
    jsonw_int(w, "has_b_frames", par->video_delay);
    AVRational sar = av_guess_sample_aspect_ratio((AVFormatContext *)fmt, st, NULL);
    if (sar.num) {
        AVRational dar;
        rational(w, "sample_aspect_ratio", sar, ':');
        av_reduce(&dar.num, &dar.den, (int64_t)par->width * sar.num, (int64_t)par->height * sar.den, 1024 * 1024);
        rational(w, "display_aspect_ratio", dar, ':');
    }
    optional_string(w, "pix_fmt", av_get_pix_fmt_name(par->format));
    jsonw_int(w, "level", par->level);
    if (par->color_range != AVCOL_RANGE_UNSPECIFIED)
        optional_string(w, "color_range", av_color_range_name(par->color_range));
    if (par->color_space != AVCOL_SPC_UNSPECIFIED)
        optional_string(w, "color_space", av_color_space_name(par->color_space));
    if (par->color_trc != AVCOL_TRC_UNSPECIFIED)
        optional_string(w, "color_transfer", av_color_transfer_name(par->color_trc));
    if (par->color_primaries != AVCOL_PRI_UNSPECIFIED)
        optional_string(w, "color_primaries", av_color_primaries_name(par->color_primaries));
    if (par->chroma_location != AVCHROMA_LOC_UNSPECIFIED)
        optional_string(w, "chroma_location", av_chroma_location_name(par->chroma_location));
    optional_string(w, "field_order", field_order_name(par->field_order));
}

static void audio_fields(jsonw *w, const AVCodecParameters *par)
{
    const char *fmt = av_get_sample_fmt_name(par->format);
    char layout[128];
    jsonw_string(w, "sample_fmt", fmt ? fmt : "unknown");
    count_string(w, "sample_rate", par->sample_rate);
    jsonw_int(w, "channels", par->ch_layout.nb_channels);
    if (par->ch_layout.order != AV_CHANNEL_ORDER_UNSPEC &&
        av_channel_layout_describe(&par->ch_layout, layout, sizeof layout) > 0)
        jsonw_string(w, "channel_layout", layout);
    jsonw_int(w, "bits_per_sample", av_get_bits_per_sample(par->codec_id));
}

static void stream(jsonw *w, const AVFormatContext *fmt, AVStream *st)
{
    const AVCodecParameters *par = st->codecpar;
    const AVCodecDescriptor *desc = avcodec_descriptor_get(par->codec_id);
    const char *profile = avcodec_profile_name(par->codec_id, par->profile);
    char text[AV_FOURCC_MAX_STRING_SIZE + 16];

    jsonw_begin_object(w, NULL);
    jsonw_int(w, "index", st->index);
    if (desc) {
        jsonw_string(w, "codec_name", desc->name);
        optional_string(w, "codec_long_name", desc->long_name);
    }
    if (profile) {
        jsonw_string(w, "profile", profile);
    } else if (par->profile != FF_PROFILE_UNKNOWN) {
        snprintf(text, sizeof text, "%d", par->profile);
        jsonw_string(w, "profile", text);
    }
    optional_string(w, "codec_type", av_get_media_type_string(par->codec_type));
    av_fourcc_make_string(text, par->codec_tag);
    jsonw_string(w, "codec_tag_string", text);
    snprintf(text, sizeof text, "0x%04x", par->codec_tag);
    jsonw_string(w, "codec_tag", text);
    if (par->codec_type == AVMEDIA_TYPE_VIDEO)
        video_fields(w, fmt, st);
    else if (par->codec_type == AVMEDIA_TYPE_AUDIO)
        audio_fields(w, par);
    if (fmt->iformat->flags & AVFMT_SHOW_IDS) {
        snprintf(text, sizeof text, "0x%x", st->id);
        jsonw_string(w, "id", text);
    }
    rational(w, "r_frame_rate", st->r_frame_rate, '/');
    rational(w, "avg_frame_rate", st->avg_frame_rate, '/');
    rational(w, "time_base", st->time_base, '/');
    timestamp(w, "start_pts", st->start_time);
    seconds(w, "start_time", st->start_time, st->time_base);
    timestamp(w, "duration_ts", st->duration);
    seconds(w, "duration", st->duration, st->time_base);
    count_string(w, "bit_rate", par->bit_rate);
    count_string(w, "bits_per_raw_sample", par->bits_per_raw_sample);
    count_string(w, "nb_frames", st->nb_frames);
    jsonw_int(w, "extradata_size", par->extradata_size);
    disposition(w, st->disposition);
    tags(w, st->metadata);
    side_data(w, st);
    jsonw_end_object(w);
}

/* The other video tracks, and why the chosen one is the recording (tracks.h). */
static void passed_over(jsonw *w, const lc_source *src)
{
    const AVFormatContext *fmt = src->fmt;
    const lc_track chosen = lc_track_of(fmt->streams[src->stream_index]);
    jsonw_int(w, "video_stream_index", src->stream_index);
    jsonw_begin_array(w, "video_tracks_passed_over");
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *st = fmt->streams[i];
        if ((int)i == src->stream_index || st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO)
            continue;
        const lc_track t = lc_track_of(st);
        jsonw_begin_object(w, NULL);
        jsonw_int(w, "index", i);
        jsonw_string(w, "codec", avcodec_get_name(st->codecpar->codec_id));
        jsonw_int(w, "width", st->codecpar->width);
        jsonw_int(w, "height", st->codecpar->height);
        if (t.frames > 0)
            jsonw_int(w, "frames", t.frames);
        else
            jsonw_null(w, "frames");
        if (t.duration_us > 0)
            jsonw_int(w, "duration_ms", t.duration_us / 1000);
        else
            jsonw_null(w, "duration_ms");
        jsonw_string(w, "why", lc_track_passed_over(&chosen, &t));
        jsonw_end_object(w);
    }
    jsonw_end_array(w);
}

static void summary(jsonw *w, const lc_source *src)
{
    const AVFormatContext *fmt = src->fmt;
    const AVStream *st = fmt->streams[src->stream_index];
    const AVCodecParameters *par = st->codecpar;
    const lc_source_info *info = &src->info;
    int has_audio = 0;
    const char *timecode = tag(st->metadata, "timecode") ? tag(st->metadata, "timecode")
                                                         : tag(fmt->metadata, "timecode");
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *s = fmt->streams[i];
        has_audio |= s->codecpar->codec_type == AVMEDIA_TYPE_AUDIO;
        if (!timecode)
            timecode = tag(s->metadata, "timecode"); /* QuickTime tmcd track */
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
    ratio_or_null(w, "aspect_ratio", dar);
    ratio_or_null(w, "sample_aspect_ratio", src->sample_aspect);
    jsonw_double(w, "avg_frame_rate", st->avg_frame_rate.den ? av_q2d(st->avg_frame_rate) : NAN);
    jsonw_int(w, "rotation_degrees", info->rotation_degrees);
    jsonw_bool(w, "hflip", info->hflip);
    jsonw_string(w, "creation_time", created ? created : tag(st->metadata, "creation_time"));
    jsonw_string(w, "timecode", timecode);
    jsonw_bool(w, "has_audio", has_audio);
    jsonw_double(w, "video_start_time_ms", info->start_offset_us / 1000.0);
    ms_or_null(w, "streams_end_ms", src->streams_end_us);
    ms_or_null(w, "timeline_jump_ms", src->timeline_jump_us);
    if (d)
        jsonw_int(w, "bit_depth", d->comp[0].depth);
    else
        jsonw_null(w, "bit_depth");
    jsonw_string(w, "pix_fmt", av_get_pix_fmt_name(par->format));
    jsonw_string(w, "field_order", field_order_name(par->field_order));
    jsonw_string(w, "color_primaries", av_color_primaries_name(par->color_primaries));
    jsonw_string(w, "color_transfer", av_color_transfer_name(par->color_trc));
    jsonw_string(w, "color_matrix", av_color_space_name(par->color_space));
    jsonw_string(w, "color_range", av_color_range_name(par->color_range));
    jsonw_string(w, "location_iso6709", location);
    jsonw_int(w, "video_bit_rate", par->bit_rate);
    jsonw_int(w, "nb_frames", st->nb_frames);
    jsonw_bool(w, "keyframe_index", info->keyframe_index);
    passed_over(w, src);
    jsonw_end_object(w);
}

char *lc_build_probe_json(const lc_source *src)
{
    const AVFormatContext *fmt = src->fmt;
    const char *base = strrchr(src->path, '/');
    int64_t size = fmt->pb ? avio_size(fmt->pb) : -1;
    jsonw w = {0};
    jsonw_begin_object(&w, NULL);
    jsonw_begin_array(&w, "streams");
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        stream(&w, fmt, fmt->streams[i]);
    jsonw_end_array(&w);
    jsonw_begin_array(&w, "chapters");
    for (unsigned i = 0; i < fmt->nb_chapters; i++) {
        const AVChapter *c = fmt->chapters[i];
        jsonw_begin_object(&w, NULL);
        jsonw_int(&w, "id", c->id);
        rational(&w, "time_base", c->time_base, '/');
        jsonw_int(&w, "start", c->start);
        seconds(&w, "start_time", c->start, c->time_base);
        jsonw_int(&w, "end", c->end);
        seconds(&w, "end_time", c->end, c->time_base);
        tags(&w, c->metadata);
        jsonw_end_object(&w);
    }
    jsonw_end_array(&w);
    jsonw_begin_object(&w, "format");
    /* The file's name only: a bundle carries no path of the producing machine. */
    jsonw_string(&w, "filename", base ? base + 1 : src->path);
    jsonw_int(&w, "nb_streams", fmt->nb_streams);
    jsonw_int(&w, "nb_programs", fmt->nb_programs);
    jsonw_string(&w, "format_name", fmt->iformat->name);
    optional_string(&w, "format_long_name", fmt->iformat->long_name);
    seconds(&w, "start_time", fmt->start_time, AV_TIME_BASE_Q);
    seconds(&w, "duration", fmt->duration, AV_TIME_BASE_Q);
    count_string(&w, "size", size);
    count_string(&w, "bit_rate", fmt->bit_rate);
    jsonw_int(&w, "probe_score", fmt->probe_score);
    tags(&w, fmt->metadata);
    jsonw_end_object(&w);
    summary(&w, src);
    jsonw_end_object(&w);
    return jsonw_finish(&w);
}
