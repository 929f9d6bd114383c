"""When and where: capture time and camera position for every frame.

Reads the telemetry a source carries (GoPro GPMF, DJI subtitles, the
QuickTime location tag), decides the capture clock, and gives each manifest
row ``captured_at`` and ``location`` (SPEC.md, Visual Bundle 1.1) and
bundle.json ``capture_clock``, ``track`` and the ``metadata/telemetry.jsonl``
artifact. Pure Python, read from the container itself, so it behaves the
same under every backend; bounded in time and memory on hostile input.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import dji, gopro
from .clock import CaptureClock, capture_clock
from .location import clip_location
from .model import Position, Telemetry, rfc3339
from .mp4 import Movie, Mp4Error, read_movie
from .track import Track

TELEMETRY_ARTIFACT = "metadata/telemetry.jsonl"

__all__ = ["SourceTelemetry", "TelemetryReader", "read_source_telemetry", "CaptureClock", "Position", "Telemetry",
           "TELEMETRY_ARTIFACT"]


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
        if p is not None:
            return {"lat": round(p.lat, 7), "lon": round(p.lon, 7), "alt_m": p.alt_m, "speed_mps": None,
                    "fix": p.fix, "source": "quicktime", "sample_gap_ms": None}
        return None

    def row_fields(self, actual_ts_ms: float) -> dict[str, Any]:
        """The 1.1 fields of one manifest row."""
        return {"captured_at": self.clock.captured_at(actual_ts_ms), "location": self.location_at(actual_ts_ms)}

    def track_summary(self) -> dict[str, Any] | None:
        """bundle.json ``track`` (None without positions)."""
        summary = self.track.summary(self.clock.start)
        if summary is None and self.telemetry.clip_point is not None:
            p = self.telemetry.clip_point
            start = rfc3339(self.clock.start) if self.clock.start else None
            summary = {"samples": 1, "first_fix_utc": start, "last_fix_utc": start, "first_fix_ms": None,
                       "last_fix_ms": None, "bbox": [p.lat, p.lon, p.lat, p.lon], "distance_m": None,
                       "source": "quicktime", "scope": "clip"}
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
            "telemetry": {"source": t.source, "device": t.device or None, "streams": t.streams,
                          "positions": len(t.positions), "fixes": len(t.fixes), "orientation": len(t.orientation),
                          "gps_time_readings": len(t.gps_times), "camera_time_readings": len(t.camera_times)},
            "notes": self.notes,
        }


def _camera_writes_local(movie: Movie | None) -> bool:
    """GoPro cameras write local time into creation_time."""
    return movie is not None and (movie.track("gpmd") is not None
                                  or any("gopro" in t.handler_name.lower() for t in movie.tracks))


def _parse_summary_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def read_source_telemetry(path: str | os.PathLike[str], *, video_start_ms: float = 0.0, duration_ms: int = 0,
                          summary: dict[str, Any] | None = None) -> SourceTelemetry:
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
        tel = dji.read_srt(srt)
        if tel is not None:
            candidates.append(tel)
    # Positions with a fix win; then any telemetry at all.
    chosen = max(candidates, key=lambda t: (len(t.fixes), len(t.positions), len(t.gps_times), len(t.orientation)),
                 default=Telemetry())
    for tel in candidates:
        notes.extend(tel.notes)
    tags = movie.tags if movie is not None else {}
    point = clip_location(tags) if not chosen.fixes else None
    if point is None and not chosen.fixes and summary and summary.get("location_iso6709"):
        point = clip_location({"location": summary["location_iso6709"]})
    if point is not None:
        chosen.clip_point = point[0]
        notes.append(f"one location for the whole clip, from the {point[1]} tag: every row gets the same point")
    if chosen.source == "gpmf" and chosen.positions and not chosen.fixes:
        notes.append(f"GPMF has {len(chosen.positions)} GPS sample(s) but no fix: location is null")
    elif chosen.source == "gpmf" and not chosen.positions:
        notes.append("GPMF has no GPS stream (GPS off, or a camera without GPS)")
    camera_times = [c for t in candidates for c in t.camera_times]
    if camera_times:
        t0, local = camera_times[0]
        notes.append(f"DJI clock reads {local.isoformat(timespec='milliseconds')} at {t0:.0f} ms "
                     "(local time without a zone)")

    creation = movie.creation_time if movie is not None else None
    if creation is None and summary:
        creation = _parse_summary_time(summary.get("creation_time"))
    try:
        mtime = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    except OSError:
        mtime = None
    clock = capture_clock(telemetry=chosen, creation_time=creation,
                          apple_date=tags.get("com.apple.quicktime.creationdate"),
                          camera_writes_local=_camera_writes_local(movie), file_mtime=mtime,
                          duration_ms=duration_ms)
    return SourceTelemetry(chosen, clock, Track(chosen.positions), notes)


class TelemetryReader(threading.Thread):
    """Reads a source's telemetry beside the extraction (the native core holds
    no GIL while decoding), and annotates rows and bundle.json. Telemetry never
    makes a bundle fail: an error becomes a note and null fields."""

    def __init__(self, path: str | os.PathLike[str], *, video_start_ms: float, duration_ms: int, summary: dict[str, Any] | None):
        super().__init__(name="lifelog-telemetry", daemon=True)
        self._args = (path, video_start_ms, duration_ms, summary)
        self.result: SourceTelemetry | None = None
        self.error: str | None = None
        self.jsonl = ""
        self._read = threading.Event()   # rows can be annotated; the artifact may still be in the making

    def run(self) -> None:
        path, start, duration, summary = self._args
        try:
            self.result = self.read(path, video_start_ms=start, duration_ms=duration, summary=summary)
        except Exception as e:   # a reader bug must not cost the user the bundle
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self._read.set()
        if self.result is not None and self.result.has_samples:
            try:
                self.jsonl = self.result.jsonl()   # beside the extraction too, not after it
            except Exception as e:
                self.result.notes.append(f"telemetry.jsonl not written: {type(e).__name__}: {e}")

    def read(self, path: str | os.PathLike[str], **kwargs: Any) -> SourceTelemetry:
        """The reading itself; a subclass for sources that are not local files
        (storage.NoTelemetry) raises here instead."""
        return read_source_telemetry(path, **kwargs)

    def row_fields(self, actual_ts_ms: float) -> dict[str, Any]:
        """``captured_at`` and ``location`` for one row (waits for the reader once)."""
        self._read.wait()
        if self.result is None:
            return {"captured_at": None, "location": None}
        return self.result.row_fields(actual_ts_ms)

    def finish(self, writer: Any, bundle: dict[str, Any]) -> None:   # a BundleWriter or ShardWriter
        """Adds ``capture_clock``/``track`` to bundle.json and writes the
        full-rate telemetry artifact when there is any."""
        self.join()
        if self.result is None:
            bundle["capture_clock"] = {"start_utc": None, "source": None, "camera_offset_s": None,
                                       "notes": [f"telemetry not read: {self.error}"]}
            return
        bundle.update(self.result.bundle_fields())
        bundle["capture_clock"]["notes"] = self.result.clock.notes + self.result.notes
        if self.jsonl:
            writer.write_text(TELEMETRY_ARTIFACT, self.jsonl)
            bundle.setdefault("metadata_artifacts", {})["telemetry"] = TELEMETRY_ARTIFACT
