"""The capture clock: when the first video frame was recorded, in UTC.

In order of trust:
1. ``gps``: GPS time from the telemetry (GoPro ``GPSU`` once a payload,
   ``GPS9`` per sample). Each reading pairs a video time with a UTC time; the
   start is their median difference, so one late reading cannot move it.
2. ``container``: the file's creation time. Phones write real UTC (iPhones
   also write ``com.apple.quicktime.creationdate`` with the zone); GoPro
   writes the camera's local time without a zone, which is said in the notes.
3. ``file_mtime``: the file's modification time minus the video's duration
   (a camera closes the file when the recording ends; a copy may not keep it).

Where GPS time and a camera clock both exist, ``camera_offset_s`` is the
camera clock minus GPS time: the camera's zone plus its drift.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .model import Telemetry, rfc3339

# Clocks that were never set read 1904, 1970, 2000-01-01 or similar.
EARLIEST_PLAUSIBLE = datetime(2001, 1, 1, tzinfo=timezone.utc)
_APPLE_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2}:?\d{2}|Z)?$")


@dataclass
class CaptureClock:
    """bundle.json's ``capture_clock``; ``start`` is the datetime behind it."""

    start: datetime | None = None
    source: str | None = None
    camera_offset_s: float | None = None
    utc_offset_min: int | None = None    # the camera's zone, where it is known
    notes: list[str] = field(default_factory=list)

    def captured_at(self, actual_ts_ms: float) -> str | None:
        """RFC 3339 UTC with milliseconds of the frame at ``actual_ts_ms``."""
        if self.start is None:
            return None
        return rfc3339(self.start + timedelta(milliseconds=actual_ts_ms))

    def to_json(self) -> dict[str, Any]:
        return {
            "start_utc": rfc3339(self.start) if self.start else None,
            "source": self.source,
            "camera_offset_s": self.camera_offset_s,
            "utc_offset_min": self.utc_offset_min,
            "notes": self.notes,
        }


def _plausible(t: datetime | None) -> bool:
    return t is not None and EARLIEST_PLAUSIBLE <= t <= datetime.now(timezone.utc) + timedelta(days=2)


def parse_apple_date(text: str) -> datetime | None:
    """``2023-05-06T14:32:10+0200`` (QuickTime creationdate) -> aware datetime."""
    m = _APPLE_DATE.match(text.strip())
    if not m or not m.group(2):
        return None
    zone = m.group(2).replace(":", "")
    try:
        local = datetime.fromisoformat(m.group(1))
    except ValueError:
        return None
    if zone == "Z":
        return local.replace(tzinfo=timezone.utc)
    sign = 1 if zone[0] == "+" else -1
    return local.replace(tzinfo=timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))))


def gps_start(telemetry: Telemetry | None) -> datetime | None:
    """UTC of video time 0 by GPS, or None."""
    if telemetry is None or not telemetry.gps_times:
        return None
    diffs = sorted(utc.timestamp() - t / 1000 for t, utc in telemetry.gps_times)
    return datetime.fromtimestamp(statistics.median(diffs), timezone.utc)


def _round_zone(offset_s: float) -> int:
    """Minutes of a plausible zone (whole quarter hours) nearest the offset."""
    return int(round(offset_s / 900.0)) * 15


def capture_clock(*, telemetry: Telemetry | None, creation_time: datetime | None, apple_date: str | None,
                  camera_writes_local: bool, file_mtime: datetime | None, duration_ms: int) -> CaptureClock:
    """Decides the capture clock from what the source offers (see the module doc)."""
    clock = CaptureClock()
    gps = gps_start(telemetry)
    zoned = parse_apple_date(apple_date) if apple_date else None
    camera = creation_time if _plausible(creation_time) else None
    if creation_time is not None and camera is None:
        clock.notes.append(f"container creation time {creation_time.isoformat()} is not plausible (clock not set)")
    if zoned is not None and _plausible(zoned):
        offset = zoned.utcoffset()
        clock.utc_offset_min = int(offset.total_seconds() // 60) if offset is not None else None
    if gps is not None and _plausible(gps):
        clock.start, clock.source = gps, "gps"
        readings = len(telemetry.gps_times) if telemetry is not None else 0   # gps implies telemetry
        clock.notes.append(f"start from {readings} GPS time reading(s) in the telemetry")
        if camera is not None:
            # The camera's clock as written, read as if it were UTC.
            naive = camera.replace(tzinfo=timezone.utc)
            clock.camera_offset_s = round((naive - gps).total_seconds(), 3)
            if camera_writes_local and clock.utc_offset_min is None:
                clock.utc_offset_min = _round_zone(clock.camera_offset_s)
            why = " (camera local time, so this is its zone plus drift)" if camera_writes_local else ""
            clock.notes.append(f"camera clock (container creation time) minus GPS time: {clock.camera_offset_s} s{why}")
        return clock
    if zoned is not None and _plausible(zoned):
        clock.start, clock.source = zoned.astimezone(timezone.utc), "container"
        clock.notes.append("start from the QuickTime creation date, which carries the zone")
        return clock
    if camera is not None:
        clock.start, clock.source = camera, "container"
        if camera_writes_local:
            clock.notes.append("no GPS time: start is the container creation time, which this camera (GoPro) "
                               "writes in its local time without a zone, so captured_at is off by its UTC offset")
        else:
            clock.notes.append("start from the container creation time (UTC)")
        return clock
    if file_mtime is not None and _plausible(file_mtime):
        clock.start, clock.source = file_mtime - timedelta(milliseconds=duration_ms), "file_mtime"
        clock.notes.append("no GPS or container time: start is the file's modification time minus the duration "
                           "(right only if the file was not modified or copied without its time)")
        return clock
    clock.notes.append("no source of capture time: captured_at is null")
    return clock
