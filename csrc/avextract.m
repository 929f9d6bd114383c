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

#include "extract.h"
#include "sourcefile.h"

/* Requests handed to the generator per call. The handler keeps each decoded
 * CGImage until the calling thread has encoded it; issuing in chunks bounds that
 * backlog (two chunks of content-size images) when decoding outruns JPEG. */
#define LC_AV_CHUNK 8
/* maximumSize makes the generator scale while decoding (cheaper), but Gifski
 * saw off-by-one sizes and a green edge with it (sindresorhus/Gifski#278).
 * Build with -DLC_AV_MAXIMUM_SIZE=0 to let CoreGraphics do all the scaling. */
#ifndef LC_AV_MAXIMUM_SIZE
#define LC_AV_MAXIMUM_SIZE 1
#endif

struct lc_source {
    lc_source_info info;
    char *path;
    CFTypeRef asset;   /* AVURLAsset, CFBridgingRetain'd: the struct is plain C */
    CFTypeRef track;   /* the video track the generator pictures */
    CMTime start;      /* that track's first presentation time on the asset timeline */
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

static id or_null(id v) { return v ? v : [NSNull null]; }
static id number_or_null(double v) { return isfinite(v) ? @(v) : [NSNull null]; }
static double seconds(CMTime t) { return CMTIME_IS_NUMERIC(t) ? CMTimeGetSeconds(t) : NAN; }

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
    [obj loadValuesAsynchronouslyForKeys:keys completionHandler:^{
        dispatch_semaphore_signal(done);   /* the block keeps the semaphore alive after a stop */
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

/* ---- open ------------------------------------------------------------- */

static lc_status classify_failure(const char *path, NSError *error, char *err)
{
    lc_mp4_boxes b = lc_scan_mp4_boxes(path);
    const char *why = error ? utf8(error.localizedDescription) : "AVFoundation found no tracks";
    if (b.is_iso && !b.has_moov)
        return lc_fail(err, LC_ERR_INDEX_MISSING, "the recording's index (MP4 'moov' box) is missing: "
                    "the file was probably cut off while recording");
    if ([error.domain isEqualToString:AVFoundationErrorDomain] &&
        (error.code == AVErrorDecoderNotFound || error.code == AVErrorFormatUnsupported))
        return lc_fail(err, LC_ERR_UNSUPPORTED, "AVFoundation cannot decode this video: %s", why);
    if ([error.domain isEqualToString:NSPOSIXErrorDomain] ||
        ([error.domain isEqualToString:NSCocoaErrorDomain] && error.code == NSFileReadNoPermissionError))
        return lc_fail(err, LC_ERR_IO, "cannot read the file: %s", why);
    if (b.is_iso)
        return lc_fail(err, LC_ERR_DAMAGED, "looks like an MP4/QuickTime file but AVFoundation cannot read it: %s", why);
    return lc_fail(err, LC_ERR_NOT_MEDIA, "not a video file AVFoundation recognises: %s", why);
}

static lc_status open_asset(lc_source *src, lc_poll_fn poll, void *ctx, char *err)
{
    NSURL *url = [NSURL fileURLWithFileSystemRepresentation:src->path isDirectory:NO relativeToURL:nil];
    AVURLAsset *asset = [AVURLAsset URLAssetWithURL:url
                                            options:@{AVURLAssetPreferPreciseDurationAndTimingKey : @YES}];
    NSError *error = nil;
    load_result loaded = asset ? load_keys(asset, @[ @"tracks", @"duration", @"hasProtectedContent" ], poll, ctx,
                                           &error)
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
    loaded = load_keys(video, @[ @"formatDescriptions", @"timeRange", @"naturalSize", @"preferredTransform",
                                 @"decodable" ], poll, ctx, &error);
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
    /* CGAffineTransform's a b c d are the track matrix's, in ISO order and meaning. */
    CGAffineTransform t = video.preferredTransform;
    lc_orientation_from_matrix(t.a, t.b, t.c, t.d, &info->rotation_degrees, &info->hflip);
    int dw = (int)lround(fabs(shown.width)), dh = (int)lround(fabs(shown.height));
    info->display_width = info->rotation_degrees % 180 ? dh : dw;
    info->display_height = info->rotation_degrees % 180 ? dw : dh;

    CMTimeRange range = video.timeRange;
    src->start = CMTIME_IS_NUMERIC(range.start) ? range.start : kCMTimeZero;
    info->start_offset_us = to_us(src->start);
    CMTime duration = CMTIME_IS_NUMERIC(range.duration) ? range.duration : CMTimeSubtract(asset.duration, src->start);
    info->duration_ms = CMTIME_IS_NUMERIC(duration) ? lc_duration_ms_from_us(to_us(duration)) : 0;
    info->keyframe_index = 0;   /* AVFoundation plans the decoding itself */

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
    return -1;   /* AVFoundation reads through its own caches and does not say */
}

void lc_close(lc_source *src)
{
    if (!src)
        return;
    @autoreleasepool {   /* the last release of Objective-C objects may autorelease */
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
                snprintf(line, sizeof line, "macOS %s",
                         utf8([NSProcessInfo processInfo].operatingSystemVersionString));
            } @catch (id e) {
                (void)e;
            }
        }
    });
    return line;
}

/* ---- probe ------------------------------------------------------------ */

static NSString *ext_string(CMFormatDescriptionRef desc, CFStringRef key)
{
    id v = (__bridge id)CMFormatDescriptionGetExtension(desc, key);
    return [v isKindOfClass:[NSString class]] ? v : nil;
}

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
    if (drop_frame) {   /* 29.97/59.94: skip 2 (4) numbers a minute except every tenth */
        int64_t drop = fps / 30 * 2, per_10min = fps * 600 - drop * 9, per_min = fps * 60 - drop;
        int64_t tens = frame / per_10min, rest = frame % per_10min;
        frame += drop * 9 * tens + (rest > drop ? drop * ((rest - drop) / per_min) : 0);
    }
    int64_t ff = frame % fps, s = frame / fps, hh = s / 3600;
    if (flags & kCMTimeCodeFlag_24HourMax)
        hh %= 24;
    return [NSString stringWithFormat:@"%s%02lld:%02lld:%02lld%c%02lld", negative ? "-" : "", hh, s / 60 % 60,
                                      s % 60, drop_frame ? ';' : ':', ff];
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
    if (n == 0 || CMBlockBufferGetDataLength(data) < n || CMBlockBufferCopyDataBytes(data, 0, n, raw) != kCMBlockBufferNoErr)
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
        @"aspect_ratio" : g ? [NSString stringWithFormat:@"%lld/%lld", info->display_width / g,
                                                         info->display_height / g]
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
    CMSampleBufferRef sample = NULL;   /* the only CF object this function owns */
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
    CGImageRef image;   /* CGImageRetain'd by the handler; the generator keeps no reference */
    CMTime actual;
    AVAssetImageGeneratorResult result;
    int done;
} lc_av_slot;

/* State shared with the handler block. An object rather than a C struct so the
 * block keeps it alive: if the generator were to call back after lc_extract
 * returned, it writes into this object, never into freed memory. */
@interface LCAVExtractBatch : NSObject {
@public
    NSLock *lock;
    dispatch_semaphore_t wakeup;   /* one signal per handler call */
    lc_av_slot *slots;
    int64_t *requested_us;         /* request times on the asset timeline, ascending */
    size_t count, issued, finished;
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
    requested_us = calloc(n, sizeof *requested_us);
    count = n;
    return (lock && wakeup && slots && requested_us) ? self : nil;
}

- (void)dealloc
{
    for (size_t i = 0; slots && i < count; i++)
        if (slots[i].image)
            CGImageRelease(slots[i].image);
    free(slots);
    free(requested_us);
}

/* The slot a handler call belongs to: the issued request nearest in time, so a
 * requested time handed back in another timescale still finds its slot. */
- (size_t)slotForTime:(CMTime)t
{
    size_t lo = 0, hi = issued;
    int64_t us = CMTIME_IS_NUMERIC(t) ? to_us(t) : INT64_MIN;
    if (issued == 0)
        return 0;
    if (us == INT64_MIN) {
        for (size_t i = 0; i < issued; i++)
            if (!slots[i].done)
                return i;
        return issued - 1;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (requested_us[mid] < us)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == issued || (lo > 0 && us - requested_us[lo - 1] < requested_us[lo] - us))
        lo--;
    return lo;
}
@end

/* Everything CF that lc_extract owns, released by extract_cleanup alone. */
typedef struct extract_res {
    CFTypeRef generator;         /* AVAssetImageGenerator */
    CFTypeRef batch;             /* LCAVExtractBatch */
    CGColorSpaceRef space;
    CGContextRef canvas;
    CGImageRef image;            /* the decoded picture being delivered (taken from its slot) */
    CGImageRef drawn;            /* the canvas snapshot handed to ImageIO */
    CFMutableDataRef jpeg;
    CGImageDestinationRef dest;
} extract_res;

static void release_frame(extract_res *r)
{
    if (r->dest) CFRelease(r->dest);
    if (r->jpeg) CFRelease(r->jpeg);
    if (r->drawn) CGImageRelease(r->drawn);
    if (r->image) CGImageRelease(r->image);
    r->dest = NULL;
    r->jpeg = NULL;
    r->drawn = NULL;
    r->image = NULL;
}

static void extract_cleanup(extract_res *r)
{
    release_frame(r);
    if (r->canvas) CGContextRelease(r->canvas);
    if (r->space) CGColorSpaceRelease(r->space);
    @autoreleasepool {   /* Objective-C work outside lc_extract's own pool */
        if (r->generator) {
            @try {   /* a no-op after a normal run; stops decoding after an error */
                [(__bridge AVAssetImageGenerator *)r->generator cancelAllCGImageGeneration];
            } @catch (id e) {
                (void)e;
            }
            CFRelease(r->generator);
        }
        if (r->batch) CFRelease(r->batch);
    }
}

/* Draws the decoded picture (as stored, track matrix not applied) into the
 * content rect, oriented by extract.h's convention: mirrored left-right if
 * hflip, then turned clockwise. CoreGraphics' bitmap space has y up, so a
 * clockwise turn on screen is a negative angle; the CTM call made last acts
 * first on the picture, so the mirror is the last call. */
static void draw_oriented(CGContextRef cg, CGImageRef image, CGRect dst, int rotation_degrees, int hflip)
{
    int quarter = rotation_degrees % 180 != 0;
    CGFloat w = quarter ? dst.size.height : dst.size.width;   /* the picture's size before the turn */
    CGFloat h = quarter ? dst.size.width : dst.size.height;
    CGContextSaveGState(cg);
    CGContextTranslateCTM(cg, CGRectGetMidX(dst), CGRectGetMidY(dst));
    CGContextRotateCTM(cg, -rotation_degrees * M_PI / 180.0);
    if (hflip)
        CGContextScaleCTM(cg, -1, 1);
    CGContextDrawImage(cg, CGRectMake(-w / 2, -h / 2, w, h), image);
    CGContextRestoreGState(cg);
}

static lc_status encode_frame(extract_res *r, const lc_source_info *info, lc_rect rect, const lc_recipe *recipe,
                              char *err)
{
    /* CoreGraphics counts y from the bottom; the contract's content_y from the top. */
    CGRect dst = CGRectMake(rect.x, recipe->canvas_height - rect.y - rect.height, rect.width, rect.height);
    CGContextSetRGBFillColor(r->canvas, 0, 0, 0, 1);   /* bitmap contents start undefined */
    CGContextFillRect(r->canvas, CGRectMake(0, 0, recipe->canvas_width, recipe->canvas_height));
    draw_oriented(r->canvas, r->image, dst, info->rotation_degrees, info->hflip);
    r->drawn = CGBitmapContextCreateImage(r->canvas);
    r->jpeg = CFDataCreateMutable(kCFAllocatorDefault, 0);
    r->dest = r->jpeg ? CGImageDestinationCreateWithData(r->jpeg, CFSTR("public.jpeg"), 1, NULL) : NULL;
    if (!r->drawn || !r->dest)
        return lc_fail(err, LC_ERR_NOMEM, "cannot allocate the JPEG encoder");
    NSDictionary *options = @{(__bridge NSString *)kCGImageDestinationLossyCompressionQuality :
                                  @(recipe->jpeg_quality / 100.0)};
    CGImageDestinationAddImage(r->dest, r->drawn, (__bridge CFDictionaryRef)options);
    if (!CGImageDestinationFinalize(r->dest))
        return lc_fail(err, LC_ERR_INTERNAL, "ImageIO could not encode the JPEG");
    return LC_OK;
}

/* Takes slot i out of the batch, encodes it if it pictures a frame inside the
 * request's window, and hands it to the sink. */
static lc_status deliver(const lc_source *src, LCAVExtractBatch *batch, size_t i, const int64_t *requests_ms,
                         const lc_recipe *recipe, lc_rect rect, extract_res *r, lc_frame_sink sink, void *ctx,
                         size_t *failures, int *stop, char *err)
{
    lc_frame frame;
    lc_status status = LC_OK;
    memset(&frame, 0, sizeof frame);
    frame.request_index = i;
    frame.requested_ms = requests_ms[i];
    frame.obtained = LC_OBTAINED_NONE;

    [batch->lock lock];
    lc_av_slot slot = batch->slots[i];
    batch->slots[i].image = NULL;   /* ownership moves to r->image */
    [batch->lock unlock];
    r->image = slot.image;

    if (slot.result != AVAssetImageGeneratorSucceeded || !slot.image) {
        (*failures)++;
    } else if (CMTIME_IS_NUMERIC(slot.actual)) {
        int64_t actual_us = to_us(CMTimeSubtract(slot.actual, src->start));
        int64_t t_us = requests_ms[i] * 1000;
        if (actual_us >= t_us - recipe->tolerance_before_ms * 1000LL &&
            actual_us <= t_us + recipe->tolerance_after_ms * 1000LL) {
            if ((status = encode_frame(r, &src->info, rect, recipe, err)) != LC_OK)
                goto done;
            frame.obtained = LC_OBTAINED_PLATFORM;
            frame.actual_us = actual_us;
            frame.frames_decoded = 1;
            frame.false_keyframes = 0;   /* the generator does not say where it started */
            frame.content_x = rect.x;
            frame.content_y = rect.y;
            frame.content_width = rect.width;
            frame.content_height = rect.height;
            frame.source_width = (int)CGImageGetWidth(slot.image);
            frame.source_height = (int)CGImageGetHeight(slot.image);
            frame.jpeg = CFDataGetBytePtr(r->jpeg);
            frame.jpeg_size = (size_t)CFDataGetLength(r->jpeg);
        }
    }
    if (sink(ctx, &frame) != 0)
        *stop = 1;
done:
    release_frame(r);   /* frame.jpeg was valid only during the sink call */
    return status;
}

static double now_seconds(void)
{
    return CFAbsoluteTimeGetCurrent();   /* only paces poll(); a clock jump costs one early or late call */
}

static lc_status run_extract(lc_source *src, const int64_t *requests_ms, size_t n, const lc_recipe *recipe,
                             lc_frame_sink sink, lc_poll_fn poll, void *ctx, extract_res *r, char *err)
{
    const lc_source_info *info = &src->info;
    lc_rect rect = lc_fit_contain(info->display_width, info->display_height, recipe->canvas_width,
                                  recipe->canvas_height);
    size_t next = 0, failures = 0;
    int stop = 0;
    lc_status status = LC_OK;

    AVAssetImageGenerator *generator =
        [AVAssetImageGenerator assetImageGeneratorWithAsset:(__bridge AVURLAsset *)src->asset];
    LCAVExtractBatch *batch = [[LCAVExtractBatch alloc] initWithCount:n];
    if (!generator || !batch)
        return lc_fail(err, LC_ERR_NOMEM, "cannot create the image generator");
    r->generator = CFBridgingRetain(generator);
    r->batch = CFBridgingRetain(batch);
    /* The orientation is drawn here (draw_oriented), not by the generator:
     * Apple documents appliesPreferredTrackTransform for "rotation by 90, 180,
     * or 270 degrees" only, and mirrored matrices must come out exactly as the
     * FFmpeg backend draws them (extract.h's convention, from the same
     * decomposition in sourcefile.c). */
    generator.appliesPreferredTrackTransform = NO;
    generator.requestedTimeToleranceBefore = CMTimeMake(recipe->tolerance_before_ms, 1000);
    generator.requestedTimeToleranceAfter = CMTimeMake(recipe->tolerance_after_ms, 1000);
#if LC_AV_MAXIMUM_SIZE
    /* The generator's picture is the stored one (no track transform): a square
     * box as long as the content rect's long side bounds it to the content
     * rect's size, turned or not (the aspect ratio is kept). The generator
     * never scales up; CoreGraphics does that when drawing. */
    CGFloat box = rect.width > rect.height ? rect.width : rect.height;
    generator.maximumSize = CGSizeMake(box, box);
#endif
    /* dynamicRangePolicy exists only in the macOS 15 SDK (Xcode 16): @available
     * guards at run time only, so older SDKs (Xcode 15, the default on GitHub's
     * macos-14 image) need the compile-time test too. ForceSDR is the
     * documented default; setting it states the intent (PQ/HLG -> BT.709). */
#if __MAC_OS_X_VERSION_MAX_ALLOWED >= 150000
    if (@available(macOS 15.0, *))
        generator.dynamicRangePolicy = AVAssetImageGeneratorDynamicRangePolicyForceSDR;
#endif

    r->space = CGColorSpaceCreateWithName(kCGColorSpaceSRGB);
    r->canvas = r->space ? CGBitmapContextCreate(NULL, (size_t)recipe->canvas_width, (size_t)recipe->canvas_height,
                                                 8, 0, r->space,
                                                 (uint32_t)kCGImageByteOrder32Little | (uint32_t)kCGImageAlphaNoneSkipFirst)
                         : NULL;
    if (!r->canvas)
        return lc_fail(err, LC_ERR_NOMEM, "cannot allocate the %dx%d canvas", recipe->canvas_width,
                    recipe->canvas_height);
    for (size_t i = 0; i < n; i++)
        batch->requested_us[i] = requests_ms[i] * 1000 + info->start_offset_us;

    AVAssetImageGeneratorCompletionHandler handler =
        ^(CMTime requested, CGImageRef image, CMTime actual, AVAssetImageGeneratorResult result, NSError *error) {
            [batch->lock lock];
            lc_av_slot *slot = &batch->slots[[batch slotForTime:requested]];
            if (!slot->done) {   /* a repeated callback for a request is ignored */
                slot->done = 1;
                slot->result = result;
                slot->actual = actual;
                slot->image = (result == AVAssetImageGeneratorSucceeded && image) ? CGImageRetain(image) : NULL;
                if (result != AVAssetImageGeneratorSucceeded && !batch->first_error)
                    batch->first_error = error.localizedDescription;
                batch->finished++;
            }
            [batch->lock unlock];
            dispatch_semaphore_signal(batch->wakeup);
        };

    double last_poll = now_seconds();
    while (next < n && !stop) {
        size_t issued = batch->issued;   /* written only by this thread */
        if (issued < n && issued - next < LC_AV_CHUNK) {
            size_t upto = issued + LC_AV_CHUNK < n ? issued + LC_AV_CHUNK : n;
            NSMutableArray<NSValue *> *times = [NSMutableArray arrayWithCapacity:upto - issued];
            for (size_t i = issued; i < upto; i++)
                [times addObject:[NSValue valueWithCMTime:CMTimeAdd(CMTimeMake(requests_ms[i], 1000), src->start)]];
            [batch->lock lock];
            batch->issued = upto;
            [batch->lock unlock];
            /* never called with the lock held: the handler may run synchronously */
            [generator generateCGImagesAsynchronouslyForTimes:times completionHandler:handler];
        }
        long timed_out = dispatch_semaphore_wait(batch->wakeup, dispatch_time(DISPATCH_TIME_NOW, 100 * NSEC_PER_MSEC));
        if (poll && (timed_out || now_seconds() - last_poll >= 0.1)) {
            last_poll = now_seconds();
            if (poll(ctx) != 0) {
                stop = 1;
                break;
            }
        }
        for (;;) {
            [batch->lock lock];
            BOOL ready = next < n && next < batch->issued && batch->slots[next].done;
            [batch->lock unlock];
            if (!ready || stop)
                break;
            @autoreleasepool {
                status = deliver(src, batch, next, requests_ms, recipe, rect, r, sink, ctx, &failures, &stop, err);
            }
            next++;
            if (status != LC_OK)
                return status;   /* extract_cleanup cancels the generator */
        }
    }

    if (stop) {
        [generator cancelAllCGImageGeneration];
        /* Cancelled requests still call back; wait for them so no decode runs on
         * after we return. Bounded: the batch object outlives us if it must. */
        for (int tick = 0; tick < 100; tick++) {
            [batch->lock lock];
            BOOL all = batch->finished >= batch->issued;
            [batch->lock unlock];
            if (all)
                break;
            dispatch_semaphore_wait(batch->wakeup, dispatch_time(DISPATCH_TIME_NOW, 100 * NSEC_PER_MSEC));
        }
        return lc_fail(err, LC_ERR_CANCELLED, "cancelled");
    }
    if (failures == n)
        return lc_fail(err, LC_ERR_DAMAGED, "no frame could be decoded: %s", utf8(batch->first_error));
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
    if (recipe->raw_rgb)   /* the contract allows it; ingest.py decodes the JPEG instead */
        return lc_fail(err, LC_ERR_UNSUPPORTED, "raw RGB output is not implemented on this backend");
    @autoreleasepool {
        @try {
            status = run_extract(src, requests_ms, n_requests, recipe, sink, poll, ctx, &res, err);
        } @catch (id e) {
            status = from_exception(e, err);
        }
    }
    extract_cleanup(&res);
    return status;
}
