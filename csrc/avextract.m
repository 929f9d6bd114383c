/*
 * avextract.m: the macOS backend of extract.h, on AVFoundation (decoding and
 * geometry), CoreGraphics (the canvas) and ImageIO (JPEG). Compiled with
 * -fobjc-arc. Compiled and linked against real Apple SDK files (12, 14, 15) on
 * Linux, never run on a Mac: see docs/macos-backend.md. What it shares with
 * the FFmpeg backend (path checks, box scan, display matrix, duration rule,
 * the error line) is plain C in sourcefile.c.
 *
 * Rules kept throughout:
 *   - every exported function wraps its work in @autoreleasepool and @try, so
 *     no Objective-C exception reaches Python;
 *   - Core Foundation objects live in a small struct owned by the exported
 *     function and are released by its one cleanup path, which also runs after
 *     an exception (ARC does not release on unwinding unless built with
 *     -fobjc-arc-exceptions, so nothing CF is left to ARC);
 *   - sink and poll run only on the thread that called lc_extract.
 */
#import <AVFoundation/AVFoundation.h>
#import <CoreGraphics/CoreGraphics.h>
#import <CoreMedia/CoreMedia.h>
#import <Foundation/Foundation.h>
#import <ImageIO/ImageIO.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "avplan.h"
#include "extract.h"
#include "jpegfile.h"
#include "sourcefile.h"

/* Requests handed to the generator per call. The handler keeps each decoded
 * CGImage until the calling thread has encoded it; issuing in chunks bounds that
 * backlog (two chunks of images no larger than the content rect, because
 * maximumSize is always set) when decoding outruns JPEG. */
#define LC_AV_CHUNK 8
/* The watchdog: with requests outstanding and no handler call for this long,
 * the call ends with LC_ERR_INTERNAL (docs/macos-backend.md). A 4K HEVC GOP
 * decodes in well under a second; 30 s is far past any honest wait. */
#define LC_AV_STALL_S 30.0
/* After a stop or a stall: how long to wait for the cancelled callbacks. Late
 * ones write into the batch object, which their block keeps alive. */
#define LC_AV_DRAIN_S 1.0
/* The duration check walks back from the last sample at most this far. */
#define LC_AV_TAIL_STEPS 100000

struct lc_source {
    lc_source_info info;
    char *path;
    CFTypeRef asset;  /* AVURLAsset, CFBridgingRetain'd: the struct is plain C */
    CFTypeRef track;  /* the video track the generator pictures */
    CMTime start;     /* that track's first presentation time on the asset timeline */
    int hdr_transfer; /* lc_av_hdr_transfer of the track's transfer function: 0 SDR, 1 HLG, 2 PQ */
};

/* ---- small helpers ---------------------------------------------------- */

static const char *utf8(NSString *s)
{
    const char *c = [s isKindOfClass:[NSString class]] ? s.UTF8String : NULL;
    return c ? c : "no details";
}

static lc_status from_exception(id e, char *err)
{
    NSString *why = [e isKindOfClass:[NSException class]] ? [(NSException *)e reason] : [e description];
    return lc_fail(err, LC_ERR_INTERNAL, "Objective-C exception: %s", utf8(why));
}

static NSString *fourcc(FourCharCode c)
{
    char s[5];
    for (int i = 0; i < 4; i++) {
        char ch = (char)((c >> (24 - 8 * i)) & 0xff);
        s[i] = (ch >= 32 && ch < 127) ? ch : '?';
    }
    s[4] = 0;
    return @(s);
}

static id or_null(id v)
{
    return v ? v : [NSNull null];
}
static id number_or_null(double v)
{
    return isfinite(v) ? @(v) : [NSNull null];
}
static double seconds(CMTime t)
{
    return CMTIME_IS_NUMERIC(t) ? CMTimeGetSeconds(t) : NAN;
}

static int64_t to_us(CMTime t)
{
    return CMTimeConvertScale(t, 1000000, kCMTimeRoundingMethod_RoundHalfAwayFromZero).value;
}

static NSString *container_name(const lc_mp4_boxes *b)
{
    if (!b->is_iso)
        return nil;
    if (!strcmp(b->brand, "qt  "))
        return @"mov";
    return strncmp(b->brand, "3g", 2) ? @"mp4" : @"3gp";
}

typedef enum load_result { LOADED, LOAD_FAILED, LOAD_CANCELLED } load_result;

/* Loads keys the documented way and reports the first failure. Waiting here is
 * fine (module.c released the GIL; the handler runs on a queue of
 * AVFoundation's, never on the runloop-less calling thread), but loading can
 * take long on a slow or network volume, so the wait is cut into 100 ms slices
 * and `poll` (Ctrl-C) is asked between them; a stop cancels an asset's loading. */
static load_result load_keys(id<AVAsynchronousKeyValueLoading> obj, NSArray<NSString *> *keys, lc_poll_fn poll,
                             void *ctx, NSError **error)
{
    dispatch_semaphore_t done = dispatch_semaphore_create(0);
    [obj loadValuesAsynchronouslyForKeys:keys
                       completionHandler:^{
                         dispatch_semaphore_signal(done); /* the block keeps the semaphore alive after a stop */
                       }];
    while (dispatch_semaphore_wait(done, dispatch_time(DISPATCH_TIME_NOW, 100 * NSEC_PER_MSEC)) != 0) {
        if (poll && poll(ctx) != 0) {
            if ([(id)obj isKindOfClass:[AVAsset class]])
                [(AVAsset *)obj cancelLoading];
            return LOAD_CANCELLED;
        }
    }
    for (NSString *key in keys)
        if ([obj statusOfValueForKey:key error:error] != AVKeyValueStatusLoaded)
            return LOAD_FAILED;
    return LOADED;
}

/* tracksWithMediaType: is deprecated for Objective-C at macOS 15; filtering
 * -tracks is not. The generator pictures the first *enabled* video track. */
static AVAssetTrack *first_track(AVAsset *asset, AVMediaType type)
{
    AVAssetTrack *any = nil;
    for (AVAssetTrack *t in asset.tracks) {
        if (![t.mediaType isEqualToString:type])
            continue;
        if (t.enabled)
            return t;
        if (!any)
            any = t;
    }
    return any;
}

/* The track's first sample description, borrowed (+0, no CFRetain): the track
 * keeps its loaded formatDescriptions array, and the source keeps the track,
 * for as long as any caller here uses the description. */
static CMFormatDescriptionRef first_description(AVAssetTrack *t)
{
    return (__bridge CMFormatDescriptionRef)t.formatDescriptions.firstObject;
}

static NSString *ext_string(CMFormatDescriptionRef desc, CFStringRef key)
{
    id v = (__bridge id)CMFormatDescriptionGetExtension(desc, key);
    return [v isKindOfClass:[NSString class]] ? v : nil;
}

static const char *utf8_or_null(NSString *s)
{
    return s ? s.UTF8String : NULL;
}

/* Where the last picture whose bytes lie inside the file ends, in µs on the
 * bundle timeline (1), or 0 when the platform cannot say: no sample cursors,
 * an edit list of more than one segment, samples stored in another file, or
 * more than LC_AV_TAIL_STEPS samples cut off. A sample cursor walks the
 * track's own index backwards from its last sample in decode order. */
static int held_end_us(AVAssetTrack *track, NSURL *file, const char *path, int64_t *end_us)
{
    struct stat st;
    AVAssetTrackSegment *only = nil;
    if (stat(path, &st) != 0 || !track.canProvideSampleCursors)
        return 0;
    for (AVAssetTrackSegment *seg in track.segments) {
        if (seg.empty)
            continue;
        if (only)
            return 0;
        only = seg;
    }
    AVSampleCursor *cursor = only ? [track makeSampleCursorAtLastSampleInDecodeOrder] : nil;
    if (!cursor)
        return 0;
    int64_t steps = 0;
    for (;; steps++) {
        NSURL *in = cursor.currentChunkStorageURL;
        AVSampleCursorStorageRange at = cursor.currentSampleStorageRange;
        if (in && ![in.path isEqualToString:file.path])
            return 0;
        if (at.offset >= 0 && at.length >= 0 && at.offset <= (int64_t)st.st_size - at.length)
            break;
        if (steps >= LC_AV_TAIL_STEPS)
            return 0;
        if ([cursor stepInDecodeOrderByCount:-1] != -1) {
            *end_us = 0; /* not one picture of the index is in the file */
            return 1;
        }
    }
    /* B-frames: the last in decode order need not be the last shown. Each
     * end is taken relative to the media start in CMTime arithmetic and
     * rounded once, as the header's duration is, so a complete file never
     * comes out a microsecond short. */
    CMTime media_start = only.timeMapping.source.start;
    int64_t ends[16], none[16] = {0};
    size_t n = 0;
    if (!CMTIME_IS_NUMERIC(media_start))
        return 0;
    do {
        CMTime p = cursor.presentationTimeStamp, d = cursor.currentSampleDuration;
        if (!CMTIME_IS_NUMERIC(p))
            return 0;
        ends[n++] = to_us(CMTimeSubtract(CMTIME_IS_NUMERIC(d) ? CMTimeAdd(p, d) : p, media_start));
    } while (n < 16 && [cursor stepInDecodeOrderByCount:-1] == -1);
    *end_us = lc_av_held_end_us(ends, none, n, 0);
    return 1;
}

/* ---- open ------------------------------------------------------------- */

static lc_status classify_failure(const char *path, NSError *error, char *err)
{
    lc_mp4_boxes b = lc_scan_mp4_boxes(path);
    const char *why = error ? utf8(error.localizedDescription) : "AVFoundation found no tracks";
    if (b.is_iso && !b.has_moov)
        return lc_fail(err, LC_ERR_INDEX_MISSING,
                       "the recording's index (MP4 'moov' box) is missing: "
                       "the file was probably cut off while recording");
    /* The FFmpeg core's outcome and line for the same file (ffsource.c). */
    if (b.is_iso && b.moov_cut)
        return lc_fail(err, LC_ERR_INDEX_MISSING,
                       "the recording's index (MP4 'moov' box) is cut off: the file "
                       "was probably cut short while being copied or recorded");
    if ([error.domain isEqualToString:AVFoundationErrorDomain] &&
        (error.code == AVErrorDecoderNotFound || error.code == AVErrorFormatUnsupported))
        return lc_fail(err, LC_ERR_UNSUPPORTED, "AVFoundation cannot decode this video: %s", why);
    if ([error.domain isEqualToString:NSPOSIXErrorDomain] ||
        ([error.domain isEqualToString:NSCocoaErrorDomain] && error.code == NSFileReadNoPermissionError))
        return lc_fail(err, LC_ERR_IO, "cannot read the file: %s", why);
    if (b.is_iso)
        return lc_fail(err, LC_ERR_DAMAGED, "looks like an MP4/QuickTime file but AVFoundation cannot read it: %s",
                       why);
    return lc_fail(err, LC_ERR_NOT_MEDIA, "not a video file AVFoundation recognises: %s", why);
}

static lc_status open_asset(lc_source *src, lc_poll_fn poll, void *ctx, char *err)
{
    NSURL *url = [NSURL fileURLWithFileSystemRepresentation:src->path isDirectory:NO relativeToURL:nil];
    AVURLAsset *asset = [AVURLAsset URLAssetWithURL:url options:@{AVURLAssetPreferPreciseDurationAndTimingKey : @YES}];
    NSError *error = nil;
    load_result loaded = asset ? load_keys(asset,
                                           @[ @"tracks", @"duration", @"hasProtectedContent", @"preferredTransform" ],
                                           poll, ctx, &error)
                               : LOAD_FAILED;
    if (loaded == LOAD_CANCELLED)
        return lc_fail(err, LC_ERR_CANCELLED, "stopped while opening");
    if (loaded != LOADED)
        return classify_failure(src->path, error, err);
    AVAssetTrack *video = first_track(asset, AVMediaTypeVideo);
    if (!video) {
        if (asset.tracks.count == 0)
            return classify_failure(src->path, nil, err);
        return lc_fail(err, LC_ERR_NO_VIDEO, "no video stream (%lu track(s), none of them video)",
                       (unsigned long)asset.tracks.count);
    }
    loaded = load_keys(
        video,
        @[ @"formatDescriptions", @"timeRange", @"naturalSize", @"preferredTransform", @"decodable", @"segments" ],
        poll, ctx, &error);
    if (loaded == LOAD_CANCELLED)
        return lc_fail(err, LC_ERR_CANCELLED, "stopped while opening");
    if (loaded != LOADED)
        return lc_fail(err, LC_ERR_DAMAGED, "the video track cannot be read: %s", utf8(error.localizedDescription));
    if (video.formatDescriptions.count == 0)
        return lc_fail(err, LC_ERR_DAMAGED, "the video track has no sample description");
    CMFormatDescriptionRef desc = first_description(video);
    if (asset.hasProtectedContent)
        return lc_fail(err, LC_ERR_UNSUPPORTED, "the video is protected (DRM) content");
    if (!video.decodable)
        return lc_fail(err, LC_ERR_UNSUPPORTED, "no decoder on this Mac for the video codec '%s'",
                       utf8(fourcc(CMFormatDescriptionGetMediaSubType(desc))));

    lc_source_info *info = &src->info;
    CMVideoDimensions coded = CMVideoFormatDescriptionGetDimensions(desc);
    info->coded_width = coded.width;
    info->coded_height = coded.height;
    /* The generator's default aperture mode (clean aperture) applies the pixel
     * aspect ratio and the clean aperture; this function is documented to give
     * exactly that size, naturalSize (the track header) is the fallback. */
    CGSize shown = CMVideoFormatDescriptionGetPresentationDimensions(desc, true, true);
    if (shown.width < 1 || shown.height < 1)
        shown = video.naturalSize;
    /* CGAffineTransform's a b c d are the matrix's, in ISO order and meaning.
     * The display matrix is the track's (tkhd) times the movie's (mvhd), as
     * FFmpeg's mov demuxer multiplies them: point * track * movie, which is
     * CGAffineTransformConcat(track, movie). */
    CGAffineTransform t = CGAffineTransformConcat(video.preferredTransform, asset.preferredTransform);
    lc_orientation_from_matrix(t.a, t.b, t.c, t.d, &info->rotation_degrees, &info->hflip);
    int dw = (int)lround(fabs(shown.width)), dh = (int)lround(fabs(shown.height));
    info->display_width = info->rotation_degrees % 180 ? dh : dw;
    info->display_height = info->rotation_degrees % 180 ? dw : dh;

    CMTimeRange range = video.timeRange;
    src->start = CMTIME_IS_NUMERIC(range.start) ? range.start : kCMTimeZero;
    info->start_offset_us = to_us(src->start);
    CMTime duration = CMTIME_IS_NUMERIC(range.duration) ? range.duration : CMTimeSubtract(asset.duration, src->start);
    /* extract.h: the header's claim, checked against what the file holds. */
    int64_t held_us = 0;
    int held_known = held_end_us(video, asset.URL, src->path, &held_us), shortened = 0;
    int64_t duration_us = lc_av_checked_duration_us(CMTIME_IS_NUMERIC(duration) ? to_us(duration) : 0, held_us,
                                                    held_known, &shortened);
    info->duration_ms = lc_duration_ms_from_us(duration_us);
    info->keyframe_index = 0; /* AVFoundation plans the decoding itself */
    src->hdr_transfer = lc_av_hdr_transfer(
        utf8_or_null(ext_string(desc, kCMFormatDescriptionExtension_TransferFunction)));

    /* lc_probe_json has no poll (extract.h), and the getters it reads may
     * block while AVFoundation loads them: load them here, where Ctrl-C is
     * asked every 100 ms. A key that fails to load is read as missing later. */
    if (load_keys(asset, @[ @"metadata", @"creationDate", @"providesPreciseDurationAndTiming" ], poll, ctx, &error) ==
        LOAD_CANCELLED)
        return lc_fail(err, LC_ERR_CANCELLED, "stopped while opening");
    for (AVAssetTrack *t in asset.tracks)
        if (load_keys(t,
                      @[
                          @"formatDescriptions", @"timeRange", @"nominalFrameRate", @"estimatedDataRate",
                          @"languageCode", @"enabled", @"naturalSize"
                      ],
                      poll, ctx, &error) == LOAD_CANCELLED)
            return lc_fail(err, LC_ERR_CANCELLED, "stopped while opening");

    src->asset = CFBridgingRetain(asset);
    src->track = CFBridgingRetain(video);
    return LC_OK;
}

lc_status lc_open(const char *path, lc_source **out, lc_poll_fn poll, void *ctx, char err[LC_ERRMSG_SIZE])
{
    lc_status status = lc_check_path(path, err);
    lc_source *src = NULL;
    *out = NULL;
    if (status != LC_OK)
        goto done;
    src = calloc(1, sizeof *src);
    if (!src || !(src->path = strdup(path))) {
        status = lc_fail(err, LC_ERR_NOMEM, "out of memory");
        goto done;
    }
    @autoreleasepool {
        @try {
            status = open_asset(src, poll, ctx, err);
        } @catch (id e) {
            status = from_exception(e, err);
        }
    }
done:
    if (status == LC_OK)
        *out = src;
    else
        lc_close(src);
    return status;
}

const lc_source_info *lc_info(const lc_source *src)
{
    return &src->info;
}

int64_t lc_bytes_read(const lc_source *src)
{
    (void)src;
    return -1; /* AVFoundation reads through its own caches and does not say */
}

void lc_close(lc_source *src)
{
    if (!src)
        return;
    @autoreleasepool { /* the last release of Objective-C objects may autorelease */
        if (src->track)
            CFRelease(src->track);
        if (src->asset)
            CFRelease(src->asset);
    }
    free(src->path);
    free(src);
}

void lc_free(void *p)
{
    free(p);
}

const char *lc_backend_name(void)
{
    return "avfoundation";
}

const char *lc_backend_versions(void)
{
    static char line[256] = "macOS (version unknown)";
    static dispatch_once_t once;
    dispatch_once(&once, ^{
      @autoreleasepool {
          @try {
              snprintf(line, sizeof line, "macOS %s", utf8([NSProcessInfo processInfo].operatingSystemVersionString));
          } @catch (id e) {
              (void)e;
          }
      }
    });
    return line;
}

/* ---- probe ------------------------------------------------------------ */

static id bit_depth(CMFormatDescriptionRef desc)
{
    /* The key is macOS 12.0 (CMFormatDescription.h of SDK 12: API_AVAILABLE
     * (macos(12.0))). The #if keeps an SDK 11 build compiling; @available
     * keeps macOS 11 from reading the symbol, which the compiler weak-links
     * for a deployment target below 12 (an address test would be flagged as
     * always true at target 12 and above). */
#if __MAC_OS_X_VERSION_MAX_ALLOWED >= 120000
    if (@available(macOS 12.0, *)) {
        id v = (__bridge id)CMFormatDescriptionGetExtension(desc, kCMFormatDescriptionExtension_BitsPerComponent);
        if ([v isKindOfClass:[NSNumber class]])
            return v;
    }
#else
    (void)desc;
#endif
    return [NSNull null];
}

static NSString *metadata_string(NSArray<AVMetadataItem *> *items, AVMetadataIdentifier identifier)
{
    for (AVMetadataItem *item in [AVMetadataItem metadataItemsFromArray:items filteredByIdentifier:identifier])
        if (item.stringValue.length)
            return item.stringValue;
    return nil;
}

/* SMPTE text of a QuickTime timecode sample: a big-endian frame number. */
static NSString *format_timecode(int64_t frame, uint32_t fps, uint32_t flags)
{
    int drop_frame = (flags & kCMTimeCodeFlag_DropFrame) && fps >= 30;
    int negative = frame < 0;
    if (fps == 0)
        return nil;
    if (negative)
        frame = -frame;
    if (drop_frame) { /* 29.97/59.94: skip 2 (4) numbers a minute except every tenth */
        int64_t drop = fps / 30 * 2, per_10min = fps * 600 - drop * 9, per_min = fps * 60 - drop;
        int64_t tens = frame / per_10min, rest = frame % per_10min;
        frame += drop * 9 * tens + (rest > drop ? drop * ((rest - drop) / per_min) : 0);
    }
    int64_t ff = frame % fps, s = frame / fps, hh = s / 3600;
    if (flags & kCMTimeCodeFlag_24HourMax)
        hh %= 24;
    return [NSString stringWithFormat:@"%s%02lld:%02lld:%02lld%c%02lld", negative ? "-" : "", hh, s / 60 % 60, s % 60,
                                      drop_frame ? ';' : ':', ff];
}

/* The first sample of the timecode track, read as Apple's TN2310 shows. The
 * sample buffer is handed to the caller, which releases it on every path. */
static NSString *read_timecode(AVAsset *asset, CMSampleBufferRef *sample)
{
    AVAssetTrack *track = first_track(asset, AVMediaTypeTimecode);
    unsigned char raw[8];
    int64_t frame;
    if (!track)
        return nil;
    AVAssetReader *reader = [AVAssetReader assetReaderWithAsset:asset error:NULL];
    AVAssetReaderTrackOutput *output = [AVAssetReaderTrackOutput assetReaderTrackOutputWithTrack:track
                                                                                  outputSettings:nil];
    if (!reader || ![reader canAddOutput:output])
        return nil;
    [reader addOutput:output];
    if (![reader startReading])
        return nil;
    *sample = [output copyNextSampleBuffer];
    [reader cancelReading];
    if (!*sample)
        return nil;
    CMFormatDescriptionRef desc = CMSampleBufferGetFormatDescription(*sample);
    CMBlockBufferRef data = CMSampleBufferGetDataBuffer(*sample);
    if (!desc || !data)
        return nil;
    FourCharCode type = CMFormatDescriptionGetMediaSubType(desc);
    size_t n = type == kCMTimeCodeFormatType_TimeCode64 ? 8 : type == kCMTimeCodeFormatType_TimeCode32 ? 4 : 0;
    if (n == 0 || CMBlockBufferGetDataLength(data) < n ||
        CMBlockBufferCopyDataBytes(data, 0, n, raw) != kCMBlockBufferNoErr)
        return nil;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | raw[i];
    frame = n == 4 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
    return format_timecode(frame, CMTimeCodeFormatDescriptionGetFrameQuanta(desc),
                           CMTimeCodeFormatDescriptionGetTimeCodeFlags(desc));
}

static NSDictionary *stream_object(AVAssetTrack *t, NSUInteger index)
{
    CMFormatDescriptionRef desc = first_description(t);
    CMTimeRange r = t.timeRange;
    NSMutableDictionary *s = [@{
        @"index" : @(index),
        @"track_id" : @(t.trackID),
        @"media_type" : t.mediaType,
        @"codec_tag" : desc ? fourcc(CMFormatDescriptionGetMediaSubType(desc)) : [NSNull null],
        @"start_time" : number_or_null(seconds(r.start)),
        @"duration" : number_or_null(seconds(r.duration)),
        @"nominal_frame_rate" : number_or_null(t.nominalFrameRate),
        @"estimated_data_rate" : number_or_null(t.estimatedDataRate),
        @"language" : or_null(t.languageCode),
        @"enabled" : @(t.enabled),
    } mutableCopy];
    if (t.naturalSize.width > 0 && t.naturalSize.height > 0) {
        s[@"natural_width"] = @(t.naturalSize.width);
        s[@"natural_height"] = @(t.naturalSize.height);
    }
    return s;
}

static long long gcd(long long a, long long b)
{
    while (b) {
        long long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static lc_status build_probe(lc_source *src, CMSampleBufferRef *sample, char **json_out, char *err)
{
    AVURLAsset *asset = (__bridge AVURLAsset *)src->asset;
    AVAssetTrack *video = (__bridge AVAssetTrack *)src->track;
    CMFormatDescriptionRef desc = first_description(video);
    const lc_source_info *info = &src->info;
    lc_mp4_boxes boxes = lc_scan_mp4_boxes(src->path);
    NSArray<AVMetadataItem *> *metadata = asset.metadata;

    NSMutableArray *streams = [NSMutableArray array];
    BOOL has_audio = NO;
    for (AVAssetTrack *t in asset.tracks) {
        [streams addObject:stream_object(t, streams.count)];
        has_audio |= [t.mediaType isEqualToString:AVMediaTypeAudio];
    }
    NSMutableDictionary *tags = [NSMutableDictionary dictionary];
    for (AVMetadataItem *item in metadata)
        if (item.identifier && item.stringValue)
            tags[item.identifier] = item.stringValue;

    AVMetadataItem *created = asset.creationDate;
    NSString *creation = created.dateValue ? [[NSISO8601DateFormatter new] stringFromDate:created.dateValue]
                                           : created.stringValue;
    NSString *location = metadata_string(metadata, AVMetadataIdentifierQuickTimeMetadataLocationISO6709);
    if (!location)
        location = metadata_string(metadata, AVMetadataIdentifierQuickTimeUserDataLocationISO6709);
    id full_range = (__bridge id)CMFormatDescriptionGetExtension(desc, kCMFormatDescriptionExtension_FullRangeVideo);
    long long g = gcd(info->display_width, info->display_height);

    NSDictionary *summary = @{
        @"container_format" : or_null(container_name(&boxes)),
        @"video_codec" : fourcc(CMFormatDescriptionGetMediaSubType(desc)),
        @"duration_ms" : @(info->duration_ms),
        @"coded_width" : @(info->coded_width),
        @"coded_height" : @(info->coded_height),
        @"display_width" : @(info->display_width),
        @"display_height" : @(info->display_height),
        @"aspect_ratio" : g
            ? [NSString stringWithFormat:@"%lld/%lld", info->display_width / g, info->display_height / g]
            : [NSNull null],
        @"avg_frame_rate" : number_or_null(video.nominalFrameRate),
        @"rotation_degrees" : @(info->rotation_degrees),
        @"hflip" : @((BOOL)(info->hflip != 0)),
        @"creation_time" : or_null(creation),
        @"timecode" : or_null(read_timecode(asset, sample)),
        @"has_audio" : @(has_audio),
        @"video_start_time_ms" : @(info->start_offset_us / 1000.0),
        @"bit_depth" : bit_depth(desc),
        @"color_primaries" : or_null(ext_string(desc, kCMFormatDescriptionExtension_ColorPrimaries)),
        @"color_transfer" : or_null(ext_string(desc, kCMFormatDescriptionExtension_TransferFunction)),
        @"color_matrix" : or_null(ext_string(desc, kCMFormatDescriptionExtension_YCbCrMatrix)),
        @"color_range" : [full_range isKindOfClass:[NSNumber class]] ? ([full_range boolValue] ? @"full" : @"limited")
                                                                     : [NSNull null],
        @"location_iso6709" : or_null(location),
        @"keyframe_index" : @NO,
    };
    NSDictionary *format = @{
        @"format_name" : or_null(container_name(&boxes)),
        @"major_brand" : boxes.brand[0] ? @(boxes.brand) : [NSNull null],
        @"duration" : number_or_null(seconds(asset.duration)),
        @"precise_timing" : @(asset.providesPreciseDurationAndTiming),
        @"nb_streams" : @(streams.count),
        @"tags" : tags,
    };
    NSDictionary *probe = @{@"format" : format, @"streams" : streams, @"chapters" : @[], @"summary" : summary};

    NSError *error = nil;
    NSData *json = [NSJSONSerialization isValidJSONObject:probe]
                       ? [NSJSONSerialization dataWithJSONObject:probe options:NSJSONWritingSortedKeys error:&error]
                       : nil;
    if (!json)
        return lc_fail(err, LC_ERR_INTERNAL, "cannot write the probe as JSON: %s",
                       error ? utf8(error.localizedDescription) : "invalid value");
    if (!(*json_out = malloc(json.length + 1)))
        return lc_fail(err, LC_ERR_NOMEM, "out of memory");
    memcpy(*json_out, json.bytes, json.length);
    (*json_out)[json.length] = 0;
    return LC_OK;
}

lc_status lc_probe_json(lc_source *src, char **json_out, char err[LC_ERRMSG_SIZE])
{
    lc_status status;
    CMSampleBufferRef sample = NULL; /* the only CF object this function owns */
    *json_out = NULL;
    @autoreleasepool {
        @try {
            status = build_probe(src, &sample, json_out, err);
        } @catch (id e) {
            status = from_exception(e, err);
        }
    }
    if (sample)
        CFRelease(sample);
    if (status != LC_OK) {
        free(*json_out);
        *json_out = NULL;
    }
    return status;
}

/* ---- extract ---------------------------------------------------------- */

/* One request's result, written by the generator's handler (any thread) under
 * the batch lock and read by the calling thread. */
typedef struct lc_av_slot {
    CGImageRef image; /* CGImageRetain'd by the handler; the generator keeps no reference */
    CMTime actual;
    AVAssetImageGeneratorResult result;
    int decode_failed; /* the error was AVErrorDecodeFailed: the picture is damaged */
    int unanswered;    /* its chunk's callbacks all came and none could be placed here */
} lc_av_slot;

/* State shared with the handler blocks. An object rather than a C struct so
 * the blocks keep it alive: a callback after lc_extract returned writes into
 * this object, never into freed memory. */
@interface LCAVExtractBatch : NSObject {
  @public
    NSLock *lock;
    dispatch_semaphore_t wakeup; /* one signal per handler call */
    lc_av_slot *slots;
    lc_av_time *requested; /* each request's time as handed to the generator */
    unsigned char *done;   /* done[i]: slot i is final */
    size_t *chunk_calls;   /* handler calls received, per chunk of LC_AV_CHUNK */
    size_t count, issued, finished, unplaced;
    NSString *first_error;
}
@end

@implementation LCAVExtractBatch
- (instancetype)initWithCount:(size_t)n
{
    if (!(self = [super init]))
        return nil;
    lock = [NSLock new];
    wakeup = dispatch_semaphore_create(0);
    slots = calloc(n, sizeof *slots);
    requested = calloc(n, sizeof *requested);
    done = calloc(n, 1);
    chunk_calls = calloc(n / LC_AV_CHUNK + 1, sizeof *chunk_calls);
    count = n;
    return (lock && wakeup && slots && requested && done && chunk_calls) ? self : nil;
}

- (void)dealloc
{
    for (size_t i = 0; slots && i < count; i++)
        if (slots[i].image)
            CGImageRelease(slots[i].image);
    free(slots);
    free(requested);
    free(done);
    free(chunk_calls);
}
@end

/* The handler of one generator call, for requests [first, first + n). The
 * chunk is captured, so a callback is matched only within its own call, by
 * exact time (lc_av_match); one that cannot be placed is counted, and once the
 * chunk's callbacks are all in, its unanswered requests are closed for the
 * per-request fallback. Never a guess by nearness or by position. */
static AVAssetImageGeneratorCompletionHandler chunk_handler(LCAVExtractBatch *batch, size_t first, size_t n)
{
    return ^(CMTime requested, CGImageRef image, CMTime actual, AVAssetImageGeneratorResult result, NSError *error) {
      lc_av_time got = {requested.value, requested.timescale, CMTIME_IS_NUMERIC(requested) ? 1 : 0};
      [batch->lock lock];
      ptrdiff_t i = lc_av_match(batch->requested, batch->done, first, n, got);
      if (i >= 0) {
          lc_av_slot *slot = &batch->slots[i];
          batch->done[i] = 1;
          slot->result = result;
          slot->actual = actual;
          slot->image = (result == AVAssetImageGeneratorSucceeded && image) ? CGImageRetain(image) : NULL;
          slot->decode_failed = [error.domain isEqualToString:AVFoundationErrorDomain] &&
                                error.code == AVErrorDecodeFailed;
          if (result != AVAssetImageGeneratorSucceeded && !batch->first_error)
              batch->first_error = error.localizedDescription;
          batch->finished++;
      } else {
          batch->unplaced++;
      }
      if (++batch->chunk_calls[first / LC_AV_CHUNK] >= n) {
          for (size_t k = first; k < first + n; k++) {
              if (batch->done[k])
                  continue;
              batch->done[k] = 1;
              batch->slots[k].result = AVAssetImageGeneratorFailed;
              batch->slots[k].unanswered = 1;
              batch->finished++;
          }
      }
      [batch->lock unlock];
      dispatch_semaphore_signal(batch->wakeup);
    };
}

/* Everything CF that lc_extract owns, released by extract_cleanup alone. */
typedef struct extract_res {
    CFTypeRef generator; /* AVAssetImageGenerator: the batch */
    CFTypeRef single;    /* AVAssetImageGenerator: the per-request fallback, made when needed */
    CFTypeRef batch;     /* LCAVExtractBatch */
    CGColorSpaceRef space;
    CGContextRef canvas;
    CGContextRef probe; /* a small picture for calibrating ImageIO's quality */
    CGImageRef image;   /* the decoded picture being delivered (taken from its slot) */
    CGImageRef drawn;   /* the canvas snapshot handed to ImageIO */
    CFMutableDataRef jpeg;
    CGImageDestinationRef dest;
} extract_res;

/* What one lc_extract call works with, read by every step. */
typedef struct extract_job {
    lc_source *src;
    const int64_t *requests_ms;
    size_t n;
    const lc_recipe *recipe;
    lc_rect rect;
    lc_frame_sink sink;
    lc_poll_fn poll;
    void *ctx;
    double quality;             /* ImageIO's setting with the recipe's libjpeg quality */
    const char *colour_mapping; /* the HDR note, NULL for SDR */
    lc_av_tally tally;
    extract_res *r;
} extract_job;

static void release_frame(extract_res *r)
{
    if (r->dest)
        CFRelease(r->dest);
    if (r->jpeg)
        CFRelease(r->jpeg);
    if (r->drawn)
        CGImageRelease(r->drawn);
    if (r->image)
        CGImageRelease(r->image);
    r->dest = NULL;
    r->jpeg = NULL;
    r->drawn = NULL;
    r->image = NULL;
}

static void extract_cleanup(extract_res *r)
{
    release_frame(r);
    if (r->canvas)
        CGContextRelease(r->canvas);
    if (r->probe)
        CGContextRelease(r->probe);
    if (r->space)
        CGColorSpaceRelease(r->space);
    @autoreleasepool { /* Objective-C work outside lc_extract's own pool */
        if (r->generator) {
            @try { /* a no-op after a normal run; stops decoding after an error */
                [(__bridge AVAssetImageGenerator *)r->generator cancelAllCGImageGeneration];
            } @catch (id e) {
                (void)e;
            }
            CFRelease(r->generator);
        }
        if (r->single)
            CFRelease(r->single);
        if (r->batch)
            CFRelease(r->batch);
    }
}

/* Both generators are set up alike, so the fallback keeps the batch's
 * tolerances, size and colour handling. */
static void configure_generator(AVAssetImageGenerator *g, const extract_job *job)
{
    /* The orientation is drawn here (draw_oriented), not by the generator:
     * Apple documents appliesPreferredTrackTransform for "rotation by 90, 180,
     * or 270 degrees" only, and mirrored matrices must come out exactly as the
     * FFmpeg backend draws them (extract.h's convention, from the same
     * decomposition in sourcefile.c). */
    g.appliesPreferredTrackTransform = NO;
    g.requestedTimeToleranceBefore = CMTimeMake(job->recipe->tolerance_before_ms, 1000);
    g.requestedTimeToleranceAfter = CMTimeMake(job->recipe->tolerance_after_ms, 1000);
    /* Always a maximumSize: without one a 4K source is decoded to full-size
     * images, up to two chunks of them (~33 MB each) waiting. The picture is
     * the stored one (no track transform): a square box as long as the content
     * rect's long side bounds it to the content rect's size, turned or not
     * (the aspect ratio is kept). The generator never scales up; CoreGraphics
     * does that when drawing. */
    CGFloat box = job->rect.width > job->rect.height ? job->rect.width : job->rect.height;
    g.maximumSize = CGSizeMake(box, box);
    /* dynamicRangePolicy exists only in the macOS 15 SDK (Xcode 16): @available
     * guards at run time only, so older SDKs (Xcode 15, the default on GitHub's
     * macos-14 image) need the compile-time test too. ForceSDR is the
     * documented default; setting it states the intent (PQ/HLG -> BT.709). */
#if __MAC_OS_X_VERSION_MAX_ALLOWED >= 150000
    if (@available(macOS 15.0, *))
        g.dynamicRangePolicy = AVAssetImageGeneratorDynamicRangePolicyForceSDR;
#endif
}

/* Whether this build on this system has dynamicRangePolicy. */
static int has_dynamic_range_policy(void)
{
#if __MAC_OS_X_VERSION_MAX_ALLOWED >= 150000
    if (@available(macOS 15.0, *))
        return 1;
#endif
    return 0;
}

/* Draws the decoded picture (as stored, track matrix not applied) into the
 * content rect, oriented by extract.h's convention: mirrored left-right if
 * hflip, then turned clockwise. CoreGraphics' bitmap space has y up, so a
 * clockwise turn on screen is a negative angle; the CTM call made last acts
 * first on the picture, so the mirror is the last call. */
static void draw_oriented(CGContextRef cg, CGImageRef image, CGRect dst, int rotation_degrees, int hflip)
{
    int quarter = rotation_degrees % 180 != 0;
    CGFloat w = quarter ? dst.size.height : dst.size.width; /* the picture's size before the turn */
    CGFloat h = quarter ? dst.size.width : dst.size.height;
    CGContextSaveGState(cg);
    CGContextTranslateCTM(cg, CGRectGetMidX(dst), CGRectGetMidY(dst));
    CGContextRotateCTM(cg, -rotation_degrees * M_PI / 180.0);
    if (hflip)
        CGContextScaleCTM(cg, -1, 1);
    CGContextDrawImage(cg, CGRectMake(-w / 2, -h / 2, w, h), image);
    CGContextRestoreGState(cg);
}

/* recipe.scale_filter as CoreGraphics' interpolation quality. Apple names
 * levels, not kernels, so this is the nearest reading, not an equivalence;
 * the generator's own downscale (maximumSize) has no choice at all. */
static CGInterpolationQuality interpolation(lc_scale_filter f)
{
    switch (f) {
    case LC_SCALE_BILINEAR:
        return kCGInterpolationLow;
    case LC_SCALE_BICUBIC:
        return kCGInterpolationMedium;
    case LC_SCALE_LANCZOS:
    case LC_SCALE_AREA:
        return kCGInterpolationHigh;
    }
    return kCGInterpolationDefault;
}

/* ImageIO's JPEG of `image` at `setting` into r->jpeg / r->dest (released by
 * release_frame). No metadata is passed; what ImageIO adds on its own (the
 * colour space's ICC profile, Exif) is cut out afterwards. */
static int encode_jpeg(extract_res *r, CGImageRef image, double setting)
{
    if (r->dest) {
        CFRelease(r->dest);
        r->dest = NULL;
    }
    if (r->jpeg) {
        CFRelease(r->jpeg);
        r->jpeg = NULL;
    }
    r->jpeg = CFDataCreateMutable(kCFAllocatorDefault, 0);
    r->dest = r->jpeg ? CGImageDestinationCreateWithData(r->jpeg, CFSTR("public.jpeg"), 1, NULL) : NULL;
    if (!r->dest)
        return 0;
    NSDictionary *options = @{(__bridge NSString *)kCGImageDestinationLossyCompressionQuality : @(setting)};
    CGImageDestinationAddImage(r->dest, image, (__bridge CFDictionaryRef)options);
    return CGImageDestinationFinalize(r->dest) ? 1 : 0;
}

/* lc_jpeg_calibrate's probe: the libjpeg quality of ImageIO's JPEG at a setting. */
static int quality_at(void *opaque, double setting)
{
    extract_res *r = opaque;
    int q = -1;
    @autoreleasepool {
        CGImageRef probe = CGBitmapContextCreateImage(r->probe);
        uint16_t table[64];
        if (probe && encode_jpeg(r, probe, setting) &&
            lc_jpeg_luma_table(CFDataGetBytePtr(r->jpeg), (size_t)CFDataGetLength(r->jpeg), table) == 0)
            q = lc_jpeg_ijg_quality(table);
        if (probe)
            CGImageRelease(probe);
        release_frame(r);
    }
    return q;
}

/* The ImageIO setting whose quantisation tables are libjpeg's at the recipe's
 * quality (docs/macos-backend.md: no published measurement of ImageIO's scale
 * was found, so it is measured here, on this Mac, on every call: a dozen
 * encodes of a 32x32 picture). Capped below 1.0 for 4:2:0: ImageIO is
 * reported to switch to 4:4:4 only at 1.0. */
static double calibrate_quality(extract_res *r, const lc_recipe *recipe)
{
    int got;
    r->probe = CGBitmapContextCreate(NULL, 32, 32, 8, 0, r->space,
                                     (uint32_t)kCGImageByteOrder32Little | (uint32_t)kCGImageAlphaNoneSkipFirst);
    if (!r->probe)
        return recipe->jpeg_quality / 100.0;
    for (int y = 0; y < 32; y++) /* tables do not depend on content; a gradient keeps ImageIO honest */
        for (int x = 0; x < 32; x++) {
            CGContextSetRGBFillColor(r->probe, x / 31.0, y / 31.0, (x ^ y) / 31.0, 1);
            CGContextFillRect(r->probe, CGRectMake(x, y, 1, 1));
        }
    return lc_jpeg_calibrate(recipe->jpeg_quality, recipe->chroma_444 ? 1.0 : 0.99, quality_at, r, &got);
}

static lc_status encode_frame(extract_job *job, char *err)
{
    extract_res *r = job->r;
    const lc_recipe *recipe = job->recipe;
    lc_rect rect = job->rect;
    /* CoreGraphics counts y from the bottom; the contract's content_y from the top. */
    CGRect dst = CGRectMake(rect.x, recipe->canvas_height - rect.y - rect.height, rect.width, rect.height);
    CGContextSetRGBFillColor(r->canvas, 0, 0, 0, 1); /* bitmap contents start undefined */
    CGContextFillRect(r->canvas, CGRectMake(0, 0, recipe->canvas_width, recipe->canvas_height));
    draw_oriented(r->canvas, r->image, dst, job->src->info.rotation_degrees, job->src->info.hflip);
    r->drawn = CGBitmapContextCreateImage(r->canvas);
    if (!r->drawn)
        return lc_fail(err, LC_ERR_NOMEM, "cannot snapshot the canvas");
    if (!encode_jpeg(r, r->drawn, job->quality))
        return lc_fail(err, LC_ERR_INTERNAL, "ImageIO could not encode the JPEG");
    unsigned char *bytes = CFDataGetMutableBytePtr(r->jpeg);
    size_t size = lc_jpeg_strip_metadata(bytes, (size_t)CFDataGetLength(r->jpeg));
    CFDataSetLength(r->jpeg, (CFIndex)size);
    int want = recipe->chroma_444 ? 444 : 420, got = lc_jpeg_subsampling(CFDataGetBytePtr(r->jpeg), size);
    if (got != want)
        return lc_fail(err, LC_ERR_UNSUPPORTED,
                       "ImageIO wrote a %d JPEG where the recipe asks for %d (at quality "
                       "%d, ImageIO setting %.3f); ImageIO has no public subsampling option: choose the other "
                       "chroma setting on this Mac",
                       got, want, recipe->jpeg_quality, job->quality);
    return LC_OK;
}

/* The per-request fallback (Gifski's answer to macOS 11's batch "decode
 * failed"): the synchronous call on a second generator set up alike. It
 * blocks this thread, between polls. copyCGImageAtTime: is deprecated at
 * macOS 15, not removed; the replacement is asynchronous and macOS 13+. */
static CGImageRef fallback_image(extract_job *job, CMTime at, CMTime *actual, int *decode_failed, NSError **error)
{
    extract_res *r = job->r;
    if (!r->single) {
        AVAssetImageGenerator *g = [AVAssetImageGenerator
            assetImageGeneratorWithAsset:(__bridge AVURLAsset *)job->src->asset];
        if (!g)
            return NULL;
        configure_generator(g, job);
        r->single = CFBridgingRetain(g);
    }
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
    CGImageRef image = [(__bridge AVAssetImageGenerator *)r->single copyCGImageAtTime:at actualTime:actual error:error];
#pragma clang diagnostic pop
    *decode_failed = !image && [(*error).domain isEqualToString:AVFoundationErrorDomain] &&
                     (*error).code == AVErrorDecodeFailed;
    return image;
}

/* Takes slot i out of the batch (answering it one by one if the batch could
 * not), encodes it if it pictures a frame inside the request's window, and
 * hands it to the sink. Every request ends counted: pictured, rejected or
 * failed. */
static lc_status deliver(extract_job *job, LCAVExtractBatch *batch, size_t i, int *stop, char *err)
{
    extract_res *r = job->r;
    lc_source *src = job->src;
    lc_frame frame;
    lc_status status = LC_OK;
    memset(&frame, 0, sizeof frame);
    frame.request_index = i;
    frame.requested_ms = job->requests_ms[i];
    frame.obtained = LC_OBTAINED_NONE;

    [batch->lock lock];
    lc_av_slot slot = batch->slots[i];
    batch->slots[i].image = NULL; /* ownership moves to r->image */
    [batch->lock unlock];
    r->image = slot.image;

    if (slot.result != AVAssetImageGeneratorSucceeded || !slot.image) {
        NSError *error = nil;
        CMTime at = CMTimeAdd(CMTimeMake(job->requests_ms[i], 1000), src->start);
        if (job->poll && job->poll(job->ctx) != 0) {
            *stop = 1;
            goto done;
        }
        r->image = fallback_image(job, at, &slot.actual, &slot.decode_failed, &error);
        [batch->lock lock]; /* late handler calls may still write it */
        if (!r->image && error && !batch->first_error)
            batch->first_error = error.localizedDescription;
        [batch->lock unlock];
    }
    if (!r->image) {
        job->tally.failed++;
        job->tally.damaged += slot.decode_failed ? 1 : 0;
        frame.damaged_pictures = slot.decode_failed ? 1 : 0; /* the platform's "decode failed" for this window */
    } else {
        int64_t actual_us = CMTIME_IS_NUMERIC(slot.actual) ? to_us(CMTimeSubtract(slot.actual, src->start)) : INT64_MIN;
        if (actual_us == INT64_MIN || !lc_av_in_window(actual_us, job->requests_ms[i], job->recipe->tolerance_before_ms,
                                                       job->recipe->tolerance_after_ms)) {
            job->tally.rejected++;
        } else {
            if ((status = encode_frame(job, err)) != LC_OK)
                goto done;
            job->tally.pictured++;
            frame.obtained = LC_OBTAINED_PLATFORM;
            frame.actual_us = actual_us;
            frame.frames_decoded = 1;
            frame.false_keyframes = 0; /* the generator does not say where it started */
            frame.content_x = job->rect.x;
            frame.content_y = job->rect.y;
            frame.content_width = job->rect.width;
            frame.content_height = job->rect.height;
            frame.source_width = (int)CGImageGetWidth(r->image);
            frame.source_height = (int)CGImageGetHeight(r->image);
            frame.jpeg = CFDataGetBytePtr(r->jpeg);
            frame.jpeg_size = (size_t)CFDataGetLength(r->jpeg);
            /* Content signals of the canvas as drawn (its B, G, R, X pixels,
             * top row first), the FFmpeg core's plain C on the same luma
             * weights; a failure only leaves the row without them. */
            const uint8_t *pixels = CGBitmapContextGetData(r->canvas);
            size_t row_bytes = CGBitmapContextGetBytesPerRow(r->canvas);
            if (pixels)
                lc_signals_from_bgrx(pixels + (size_t)job->rect.y * row_bytes + (size_t)job->rect.x * 4,
                                     (long)row_bytes, job->rect.width, job->rect.height, &frame.signals);
            frame.colour_mapping = job->colour_mapping;
        }
    }
    if (job->sink(job->ctx, &frame) != 0)
        *stop = 1;
done:
    release_frame(r); /* frame.jpeg was valid only during the sink call */
    return status;
}

static double now_seconds(void)
{
    return CFAbsoluteTimeGetCurrent(); /* paces poll() and the watchdog; a clock jump costs one early or late call */
}

/* Cancels what is outstanding and waits at most LC_AV_DRAIN_S for the
 * cancelled callbacks, so decoding does not run on after the call. */
static void drain(AVAssetImageGenerator *generator, LCAVExtractBatch *batch)
{
    [generator cancelAllCGImageGeneration];
    for (double until = now_seconds() + LC_AV_DRAIN_S; now_seconds() < until;) {
        [batch->lock lock];
        BOOL all = batch->finished >= batch->issued;
        [batch->lock unlock];
        if (all)
            break;
        dispatch_semaphore_wait(batch->wakeup, dispatch_time(DISPATCH_TIME_NOW, 100 * NSEC_PER_MSEC));
    }
}

/* Hands the next chunk of requests to the generator, in its own autorelease
 * pool so the NSValue array does not pile up in lc_extract's. */
static void issue_chunk(extract_job *job, AVAssetImageGenerator *generator, LCAVExtractBatch *batch)
{
    @autoreleasepool {
        size_t first = batch->issued, upto = first + LC_AV_CHUNK < job->n ? first + LC_AV_CHUNK : job->n;
        NSMutableArray<NSValue *> *times = [NSMutableArray arrayWithCapacity:upto - first];
        [batch->lock lock];
        for (size_t i = first; i < upto; i++) {
            CMTime t = CMTimeAdd(CMTimeMake(job->requests_ms[i], 1000), job->src->start);
            batch->requested[i] = (lc_av_time){t.value, t.timescale, CMTIME_IS_NUMERIC(t) ? 1 : 0};
            [times addObject:[NSValue valueWithCMTime:t]];
        }
        batch->issued = upto;
        [batch->lock unlock];
        /* never called with the lock held: the handler may run synchronously */
        [generator generateCGImagesAsynchronouslyForTimes:times
                                        completionHandler:chunk_handler(batch, first, upto - first)];
    }
}

static lc_status run_extract(extract_job *job, char *err)
{
    lc_source *src = job->src;
    const lc_recipe *recipe = job->recipe;
    extract_res *r = job->r;
    size_t next = 0, n = job->n;
    int stop = 0;
    lc_status status = LC_OK;

    lc_av_hdr_action hdr = lc_av_hdr_plan(src->hdr_transfer, has_dynamic_range_policy());
    if (hdr == LC_AV_HDR_REFUSE)
        return lc_fail(err, LC_ERR_UNSUPPORTED, "%s", lc_av_hdr_note(src->hdr_transfer, hdr));
    job->colour_mapping = lc_av_hdr_note(src->hdr_transfer, hdr);

    AVAssetImageGenerator *generator = [AVAssetImageGenerator
        assetImageGeneratorWithAsset:(__bridge AVURLAsset *)src->asset];
    LCAVExtractBatch *batch = [[LCAVExtractBatch alloc] initWithCount:n];
    if (!generator || !batch)
        return lc_fail(err, LC_ERR_NOMEM, "cannot create the image generator");
    r->generator = CFBridgingRetain(generator);
    r->batch = CFBridgingRetain(batch);
    configure_generator(generator, job);

    r->space = CGColorSpaceCreateWithName(kCGColorSpaceSRGB);
    r->canvas = r->space
                    ? CGBitmapContextCreate(NULL, (size_t)recipe->canvas_width, (size_t)recipe->canvas_height, 8, 0,
                                            r->space,
                                            (uint32_t)kCGImageByteOrder32Little | (uint32_t)kCGImageAlphaNoneSkipFirst)
                    : NULL;
    if (!r->canvas)
        return lc_fail(err, LC_ERR_NOMEM, "cannot allocate the %dx%d canvas", recipe->canvas_width,
                       recipe->canvas_height);
    CGContextSetInterpolationQuality(r->canvas, interpolation(recipe->scale_filter));
    job->quality = calibrate_quality(r, recipe);

    double last_poll = now_seconds(), last_progress = last_poll;
    size_t seen_finished = 0;
    while (next < n && !stop) {
        if (batch->issued < n && batch->issued - next < LC_AV_CHUNK) { /* issued is written only here */
            issue_chunk(job, generator, batch);
            last_progress = now_seconds(); /* the call itself may block for seconds */
        }
        long timed_out = dispatch_semaphore_wait(batch->wakeup, dispatch_time(DISPATCH_TIME_NOW, 100 * NSEC_PER_MSEC));
        double now = now_seconds();
        if (job->poll && (timed_out || now - last_poll >= 0.1)) {
            last_poll = now;
            if (job->poll(job->ctx) != 0) {
                stop = 1;
                break;
            }
        }
        [batch->lock lock];
        size_t finished = batch->finished, outstanding = batch->issued - batch->finished;
        [batch->lock unlock];
        if (finished != seen_finished) {
            seen_finished = finished;
            last_progress = now;
        }
        for (;;) {
            [batch->lock lock];
            BOOL ready = next < n && next < batch->issued && batch->done[next];
            [batch->lock unlock];
            if (!ready || stop)
                break;
            @autoreleasepool {
                status = deliver(job, batch, next, &stop, err);
            }
            next++;
            last_progress = now_seconds(); /* a fallback or a slow sink is not a stall */
            if (status != LC_OK)
                return status; /* extract_cleanup cancels the generator */
        }
        if (!stop && lc_av_stalled(outstanding, now_seconds(), last_progress, LC_AV_STALL_S)) {
            drain(generator, batch);
            return lc_fail(err, LC_ERR_INTERNAL,
                           "AVFoundation stopped answering: no image for %zu request(s) in "
                           "%.0f s (the next at %lld ms); %zu of %zu requests delivered",
                           outstanding, LC_AV_STALL_S, (long long)job->requests_ms[next], next, n);
        }
    }
    if (stop) {
        drain(generator, batch);
        return lc_fail(err, LC_ERR_CANCELLED, "cancelled");
    }
    char line[LC_ERRMSG_SIZE];
    [batch->lock lock];
    NSString *first_error = batch->first_error;
    [batch->lock unlock];
    status = lc_av_final_status(&job->tally, first_error ? utf8(first_error) : NULL, line);
    if (status != LC_OK)
        return lc_fail(err, status, "%s", line); /* lc_fail makes the library's text one line */
    return LC_OK;
}

lc_status lc_extract(lc_source *src, const int64_t *requests_ms, size_t n_requests, const lc_recipe *recipe,
                     lc_frame_sink sink, lc_poll_fn poll, void *ctx, char err[LC_ERRMSG_SIZE])
{
    lc_status status = LC_OK;
    extract_res res;
    memset(&res, 0, sizeof res);
    if (n_requests == 0)
        return LC_OK;
    if (recipe->raw_rgb) /* the contract allows it; ingest.py decodes the JPEG instead */
        return lc_fail(err, LC_ERR_UNSUPPORTED, "raw RGB output is not implemented on this backend");
    extract_job job = {.src = src,
                       .requests_ms = requests_ms,
                       .n = n_requests,
                       .recipe = recipe,
                       .sink = sink,
                       .poll = poll,
                       .ctx = ctx,
                       .r = &res};
    job.tally.requests = n_requests;
    job.rect = lc_fit_contain(src->info.display_width, src->info.display_height, recipe->canvas_width,
                              recipe->canvas_height);
    @autoreleasepool {
        @try {
            status = run_extract(&job, err);
        } @catch (id e) {
            status = from_exception(e, err);
        }
    }
    extract_cleanup(&res);
    return status;
}
