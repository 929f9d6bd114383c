"""What bundle.json's notes say about the source's timeline: a start that
cannot be decoded, requests without a frame, a header that claims more than
the file holds. The timeline itself never moves: 0 is the video stream's
first presentation time (SPEC.md)."""

from __future__ import annotations

from typing import Any

from .limits import MAX_REQUESTS
from .recipe import Recipe


def timeline_notes(
    missing: list[int],
    requests: list[int],
    first_actual_ms: int | None,
    last_actual_ms: int | None,
    recipe: Recipe,
    probe: dict[str, Any],
    duration_ms: int,
    damaged: list[int] | None = None,
    damaged_pictures: int = 0,
    false_keyframes: int = 0,
) -> list[str]:
    """Notes for bundle.json: an undecodable lead, a tail that could not be
    read, gaps between, damage the decoder reported, an index that calls
    predicted pictures keyframes, and a header duration the file does not
    hold.

    ``missing`` are the request times without a frame, ``first_actual_ms`` /
    ``last_actual_ms`` the first and last pictured frames' times (None if
    none), ``probe`` the core's probe, ``duration_ms`` the checked duration
    the requests were made from. ``damaged`` are the missing requests whose
    window held only pictures the decoder reported damaged, and
    ``damaged_pictures`` counts every such picture passed over.
    ``false_keyframes`` counts the keyframes of the container's index found
    to be predicted pictures.
    """
    notes = _jump_notes(probe) or _claim_notes(probe, duration_ms)
    notes += _raw_stream_notes(probe) + _cap_notes(requests, duration_ms, recipe)
    notes += _false_keyframe_notes(false_keyframes)
    damaged_set = set(damaged or [])
    notes += _damage_notes(sorted(damaged_set & set(missing)), damaged_pictures)
    missing = [t for t in missing if t not in damaged_set]
    if not missing:
        return notes
    missing_set = set(missing)
    lead = [t for t in requests if first_actual_ms is not None and t < first_actual_ms and t in missing_set]
    lead = lead if lead and lead == [t for t in requests[: len(lead)]] else []
    if lead:
        notes.append(
            f"the video stream starts without a decodable keyframe (as a file cut or split by size does): "
            f"its first {first_actual_ms} ms cannot be decoded, so the {len(lead)} request(s) before it have no "
            f"frame; rows keep the stream's own timeline (0 = its first presentation time)"
        )
    tail = []
    for t in reversed(requests):
        if t not in missing_set or t in lead:
            break
        tail.append(t)
    if tail and last_actual_ms is not None:
        notes.append(
            f"source truncated or unreadable after {last_actual_ms} ms: no frame could be read for the "
            f"{len(tail)} request(s) from {min(tail)} ms on; the bundle covers what decodes"
        )
    inner = sorted(missing_set - set(tail) - set(lead))
    if inner:
        notes.append(
            f"no frame within -{recipe.tolerance_before_ms}/+{recipe.tolerance_after_ms} ms of "
            f"{len(inner)} request(s) (gaps in the source): {inner[:20]}{' ...' if len(inner) > 20 else ''}"
        )
    return notes


def _jump_notes(probe: dict[str, Any]) -> list[str]:
    """The clock jumped more than an hour past every picture before it near
    the end of the file (csrc/ffsource.c): the end was taken before the jump."""
    jump_ms = probe.get("summary", {}).get("timeline_jump_ms")
    if not isinstance(jump_ms, int):
        return []
    return [
        f"the video's timestamps jump to {jump_ms} ms near the end of the file, more than an hour past "
        "every picture before them (a broken or forged timestamp, or recordings joined whose clocks "
        "differ): the bundle stops before the jump"
    ]


def _cap_notes(requests: list[int], duration_ms: int, recipe: Recipe) -> list[str]:
    """Requests stop at MAX_REQUESTS, whatever the timeline claims."""
    if len(requests) < MAX_REQUESTS or len(requests) * recipe.interval_ms >= duration_ms:
        return []
    return [
        f"the timeline runs {duration_ms} ms; requests stop at the first {MAX_REQUESTS} "
        f"({MAX_REQUESTS * recipe.interval_ms // 3_600_000} hours), which bound the work and memory of one file"
    ]


def _damage_notes(damaged: list[int], pictures: int) -> list[str]:
    """Pictures the decoder reported damaged (bitstream errors, concealed
    slices, a missing reference) are never pictured: parts of them may show
    another moment, whatever their buffer held before."""
    if not pictures:
        return []
    note = (
        f"source damaged: {pictures} picture(s) near the requests had bitstream errors, or were predicted "
        "from a picture that had, as the decoder reported; none is pictured"
    )
    if damaged:
        note += (
            f", and {len(damaged)} request(s) had no sound picture in their window: "
            f"{damaged[:20]}{' ...' if len(damaged) > 20 else ''}"
        )
    return [note]


def _false_keyframe_notes(count: int) -> list[str]:
    """The container's index marks predicted pictures as keyframes (sync
    samples): old phones' muxers and some remuxers do, and an MP4 without a
    sync sample table makes every sample one. Decoded alone they would show
    a picture predicted from nothing (csrc/ffsession.c)."""
    if not count:
        return []
    return [
        f"the source's index lied: {count} of the pictures it marks as keyframes (sync samples) decode as "
        "predicted pictures, which alone would show a picture predicted from nothing; none was a start "
        "point or pictured alone: decoding started from earlier real keyframes instead"
    ]


# How far a header's duration may run past what the file holds before the
# file counts as cut short. Where the file's tail was read, what it holds is
# where its last packet of any stream ends (audio may run on past the video;
# a stream's duration may be the file's, as Matroska states only that).
CLAIM_SLACK_MS = 250
# Where it was not, only the video's end is known, and the claim may cover
# audio that runs on past it.
UNSEEN_STREAMS_SLACK_MS = 1000


def _claim_notes(probe: dict[str, Any], duration_ms: int) -> list[str]:
    """A header duration beyond what the file holds (a forged or broken
    header, a file cut off while recording or copying)."""
    video = [s for s in probe.get("streams", []) if s.get("codec_type") == "video" and s.get("duration")]
    summary = probe.get("summary", {})
    # Durations are ffprobe's strings ("3.000000"), as in source-probe.json.
    if video:
        claimed_ms = round(max(float(s["duration"]) for s in video) * 1000)
    else:
        # The file's duration runs from its earliest stream: the video may
        # start later (Matroska whose audio leads), and rows count from it.
        fmt = probe.get("format", {})
        end_ms = (float(fmt.get("start_time") or 0) + float(fmt.get("duration") or 0)) * 1000
        start_ms = summary.get("video_start_time_ms")
        claimed_ms = round(end_ms - start_ms) if isinstance(start_ms, (int, float)) else round(end_ms)
    streams_end_ms = summary.get("streams_end_ms")
    if isinstance(streams_end_ms, int):
        slack_ms, held_ms = CLAIM_SLACK_MS, max(duration_ms, streams_end_ms)
    else:
        slack_ms, held_ms = UNSEEN_STREAMS_SLACK_MS, duration_ms
    if claimed_ms <= held_ms + slack_ms:
        return []
    return [
        f"source truncated or its header wrong: the header claims {claimed_ms} ms but the file holds video "
        f"up to {duration_ms} ms; requests stop at what the file holds"
    ]


# Annex-B elementary streams: no container, no times (csrc/ffsource.c).
RAW_STREAM_FORMATS = {"h264", "hevc", "vvc"}


def _raw_stream_notes(probe: dict[str, Any]) -> list[str]:
    """A raw stream's frame times are its frame order at its frame rate."""
    if probe.get("format", {}).get("format_name") not in RAW_STREAM_FORMATS:
        return []
    rate = probe.get("summary", {}).get("avg_frame_rate")
    return [
        f"a raw {probe['format']['format_name']} elementary stream carries no times: each frame's time is "
        f"its place in presentation order at the stream's frame rate ({rate} fps)"
    ]
