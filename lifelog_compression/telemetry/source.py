"""A source's telemetry read whole: the readers (GPMF, DJI, QuickTime tags),
the capture clock and the track, ready to annotate rows. Imported by the
TelemetryReader's own thread, beside the decoding, not by the extraction."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import dji, gopro
from .clock import CaptureClock, ClockReadings, capture_clock
from .location import clip_location
from .model import Telemetry, parse_time, rfc3339
from .mp4 import Movie, Mp4Error, read_movie
from .track import Track


@dataclass
class SourceTelemetry:
    """A source's telemetry, capture clock and track, ready to annotate rows."""

    telemetry: Telemetry
    clock: CaptureClock
    track: Track
    notes: list[str] = field(default_factory=list)

    def location_at(self, actual_ts_ms: float) -> dict[str, Any] | None:
        """SPEC.md's row ``location``: interpolated from the track, or the
        clip's single tagged point, or None."""
        if self.track.fixes:
            return self.track.at(actual_ts_ms)
        p = self.telemetry.clip_point
        if p is not None and p.has_fix:
            return {
                "lat": round(p.lat, 7),
                "lon": round(p.lon, 7),
                "alt_m": p.alt_m,
                "speed_mps": None,
                "fix": p.fix,
                "source": "quicktime",
                "sample_gap_ms": None,
            }
        return None

    def row_fields(self, actual_ts_ms: float) -> dict[str, Any]:
        """The time-and-place fields of one manifest row (SPEC 1.1, 1.2)."""
        return {
            "captured_at": self.clock.captured_at(actual_ts_ms),
            "captured_local": self.clock.captured_local(actual_ts_ms),
            "location": self.location_at(actual_ts_ms),
        }

    def track_summary(self) -> dict[str, Any] | None:
        """bundle.json ``track`` (None without positions)."""
        summary = self.track.summary(self.clock.start)
        if summary is None and self.telemetry.clip_point is not None and self.telemetry.clip_point.has_fix:
            p = self.telemetry.clip_point
            start = rfc3339(self.clock.start) if self.clock.start else None
            summary = {
                "samples": 1,
                "first_fix_utc": start,
                "last_fix_utc": start,
                "first_fix_ms": None,
                "last_fix_ms": None,
                "bbox": [p.lat, p.lon, p.lat, p.lon],
                "distance_m": None,
                "source": "quicktime",
                "scope": "clip",
            }
        return summary

    @property
    def has_samples(self) -> bool:
        t = self.telemetry
        return bool(t.positions or t.orientation or t.gps_times or t.camera_times or t.clip_point)

    def bundle_fields(self) -> dict[str, Any]:
        """bundle.json keys: ``capture_clock`` always, ``track`` with positions."""
        fields = {"capture_clock": self.clock.to_json()}
        summary = self.track_summary()
        if summary is not None:
            fields["track"] = summary
        return fields

    def jsonl(self) -> str:
        return "".join(line + "\n" for line in self.telemetry.jsonl_lines())

    def to_json(self) -> dict[str, Any]:
        """The summary ``probe`` prints."""
        t = self.telemetry
        return {
            **self.bundle_fields(),
            "telemetry": {
                "source": t.source,
                "device": t.device or None,
                "streams": t.streams,
                "positions": len(t.positions),
                "fixes": len(t.fixes),
                "orientation": len(t.orientation),
                "gps_time_readings": len(t.gps_times),
                "camera_time_readings": len(t.camera_times),
            },
            "notes": self.notes,
        }


def _camera_writes_local(movie: Movie | None) -> bool:
    """GoPro cameras write local time into creation_time."""
    return movie is not None and (
        movie.track("gpmd") is not None or any("gopro" in t.handler_name.lower() for t in movie.tracks)
    )


# Containers whose creation time is UTC by their specification: Matroska's
# DateUTC, MP4's mvhd (read here only when this package's own MP4 reader could
# not index the file). Any other container's time (an AVI IDIT is the
# camera's wall clock) counts as zoneless unless its text states an offset.
_UTC_CONTAINERS = ("matroska", "webm", "mp4", "mov")


def _summary_time(summary: dict[str, Any] | None) -> datetime | None:
    """The probe's creation time: aware only when its zone is known."""
    if not summary:
        return None
    text = str(summary.get("creation_time") or "")
    t = parse_time(text)
    if t is None:
        return None
    fmt = str(summary.get("container_format") or "")
    if any(name in fmt for name in _UTC_CONTAINERS):
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    states_offset = t.tzinfo is not None and not text.rstrip().endswith("Z")
    return t if states_offset else t.replace(tzinfo=None)


def read_source_telemetry(
    path: str | os.PathLike[str],
    *,
    video_start_ms: float = 0.0,
    duration_ms: int = 0,
    summary: dict[str, Any] | None = None,
) -> SourceTelemetry:
    """Reads everything time and place about ``path``. ``video_start_ms`` is
    the first video frame's time on the container's clock (bundle.json
    ``sampling.source_start_offset_ms``); ``summary`` is the probe summary
    (its creation time is used for containers this reader cannot index)."""
    path = Path(path)
    notes: list[str] = []
    movie = None
    try:
        movie = read_movie(path)
    except Mp4Error as e:
        notes.append(f"not read as MP4/QuickTime for telemetry: {e}")
    except OSError as e:
        notes.append(f"telemetry not read: {e.strerror or e}")

    candidates: list[Telemetry] = []
    if movie is not None:
        for reader in (gopro.read_gpmf, dji.read_text_track):
            tel = reader(path, movie, video_start_ms)
            if tel is not None:
                candidates.append(tel)
    srt = dji.sidecar_for(path)
    if srt is not None:
        tel = dji.read_srt(srt, duration_ms=duration_ms)
        if tel is not None:
            candidates.append(tel)
    # Positions with a fix win; then any telemetry at all.
    chosen = max(
        candidates,
        key=lambda t: (len(t.fixes), len(t.positions), len(t.gps_times), len(t.orientation)),
        default=Telemetry(),
    )
    for tel in candidates:
        notes.extend(tel.notes)
    tags = movie.tags if movie is not None else {}
    point = clip_location(tags) if not chosen.fixes else None
    if point is None and not chosen.fixes and summary and summary.get("location_iso6709"):
        point = clip_location({"location": summary["location_iso6709"]})
    if point is not None and not point[0].has_fix:
        notes.append(f"the {point[1]} tag says 0,0, which is no fix: location is null")
    elif point is not None:
        chosen.clip_point = point[0]
        notes.append(f"one location for the whole clip, from the {point[1]} tag: every row gets the same point")
    if chosen.position_stream:
        notes.append(f"positions from the GPMF {chosen.position_stream} stream")
    if chosen.source == "gpmf" and chosen.positions and not chosen.fixes:
        notes.append(f"GPMF has {len(chosen.positions)} GPS sample(s) but no fix: location is null")
    elif chosen.source == "gpmf" and not chosen.positions:
        notes.append("GPMF has no GPS stream (GPS off, or a camera without GPS)")
    camera_times = [c for t in candidates for c in t.camera_times]
    if camera_times:
        t0, local = camera_times[0]
        notes.append(
            f"DJI clock reads {local.isoformat(timespec='milliseconds')} at {t0:.0f} ms (local time without a zone)"
        )

    try:
        mtime = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    except OSError:
        mtime = None
    readings = ClockReadings(file_mtime=mtime)
    if movie is not None:
        readings.mvhd = movie.creation_time.replace(tzinfo=None) if movie.creation_time else None
        readings.mvhd_is_local = _camera_writes_local(movie)
        readings.apple_date = tags.get("com.apple.quicktime.creationdate")
        readings.day = tags.get("\u00a9day") or tags.get("date")
    else:
        readings.container = _summary_time(summary)
        if summary and summary.get("container_format"):
            readings.container_name = f"{summary['container_format']} container creation time"
    clock = capture_clock(readings, telemetry=chosen, duration_ms=duration_ms)
    return SourceTelemetry(chosen, clock, Track(chosen.positions), notes)
