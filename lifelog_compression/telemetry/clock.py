"""The capture clock: when the first video frame was recorded, and whether
that time's relation to UTC is known (SPEC 1.2: a zone is never invented).

In order of trust:
1. ``gps``: GPS time from the telemetry (GoPro ``GPSU`` once a payload,
   ``GPS9`` per sample). Each reading pairs a video time with a UTC time; the
   start is their median difference, so one late reading cannot move it.
   Zone ``"utc"``.
2. ``container``, a time stored with its zone or offset:
   ``com.apple.quicktime.creationdate`` (iPhones), then a zoned ``©day``
   (Android phones). Zone ``"offset"``, the offset recorded.
3. ``container``, a time UTC by its format: MP4/QuickTime ``mvhd`` (phones
   write UTC there), Matroska's ``DateUTC``. Zone ``"utc"``. GoPro writes its
   local wall clock into ``mvhd`` instead, so its time counts as zoneless.
4. ``container``, a zoneless time: GoPro's ``mvhd``, an AVI ``IDIT``, a
   zoneless ``©day``. Zone ``"unknown"``: only the local wall clock is known.
5. ``file_mtime``: the file's modification time minus the video's duration
   (a camera closes the file when the recording ends). A card's times are the
   camera's wall clock read in this computer's zone: zone ``"unknown"``.

Where GPS time and a camera clock both exist, ``camera_offset_s`` is the
camera clock minus GPS time: the camera's zone plus its drift.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .model import Telemetry, local_text, rfc3339

# Clocks that were never set read 1904, 1970, 2000-01-01 or similar.
EARLIEST_PLAUSIBLE = datetime(2001, 1, 1, tzinfo=timezone.utc)
_APPLE_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2}:?\d{2}|Z)?$")
# Times within this of each other agree (a phone's several stamps differ by
# the recording's length at most; that is still reported, this is rounding).
_AGREE_S = 1.0


@dataclass
class CaptureClock:
    """bundle.json's ``capture_clock``. ``start`` is the UTC instant of video
    time 0 (None unless the relation to UTC is known); ``start_local`` the
    camera's wall clock then (naive; None if unknown)."""

    start: datetime | None = None
    source: str | None = None
    zone: str = "unknown"  # "utc", "offset" or "unknown"
    start_local: datetime | None = None
    camera_offset_s: float | None = None
    utc_offset_min: int | None = None  # the camera's zone, where it is known
    notes: list[str] = field(default_factory=list)

    def captured_at(self, actual_ts_ms: float) -> str | None:
        """RFC 3339 UTC with milliseconds of the frame at ``actual_ts_ms``,
        or None when the clock's relation to UTC is unknown."""
        if self.start is None:
            return None
        return rfc3339(self.start + timedelta(milliseconds=actual_ts_ms))

    def captured_local(self, actual_ts_ms: float) -> str | None:
        """The camera's wall-clock time of the frame, RFC 3339 without an
        offset (``2012-09-10T20:52:00.000``), or None."""
        if self.start_local is None:
            return None
        return local_text(self.start_local + timedelta(milliseconds=actual_ts_ms))

    def to_json(self) -> dict[str, Any]:
        return {
            "start_utc": rfc3339(self.start) if self.start else None,
            "start_local": local_text(self.start_local) if self.start_local else None,
            "zone": self.zone,
            "source": self.source,
            "camera_offset_s": self.camera_offset_s,
            "utc_offset_min": self.utc_offset_min,
            "notes": self.notes,
        }


@dataclass
class ClockReadings:
    """Every time a source states about its recording, as written."""

    mvhd: datetime | None = None  # MP4 movie header, read as written (naive)
    mvhd_is_local: bool = False  # GoPro: the camera's wall clock, not UTC
    apple_date: str | None = None  # com.apple.quicktime.creationdate
    day: str | None = None  # ©day (udta or ilst)
    container: datetime | None = None  # another container's time (probe); aware only if its format is UTC
    container_name: str = "container creation time"
    file_mtime: datetime | None = None  # aware UTC instant of the file's modification time


def _plausible(t: datetime | None) -> bool:
    if t is None:
        return False
    aware = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    return EARLIEST_PLAUSIBLE <= aware <= datetime.now(timezone.utc) + timedelta(days=2)


def parse_zoned_date(text: str | None) -> datetime | None:
    """``2023-05-06T14:32:10+0200`` (QuickTime creationdate, a zoned ``©day``)
    -> aware datetime; a time without a zone -> naive; anything else None."""
    if not text:
        return None
    m = _APPLE_DATE.match(text.strip())
    if not m:
        return None
    try:
        local = datetime.fromisoformat(m.group(1))
    except ValueError:
        return None
    zone = (m.group(2) or "").replace(":", "")
    if not zone:
        return local
    if zone == "Z":
        return local.replace(tzinfo=timezone.utc)
    minutes = int(zone[1:3]) * 60 + int(zone[3:5])
    if minutes >= 24 * 60:
        return None
    return local.replace(tzinfo=timezone(timedelta(minutes=minutes if zone[0] == "+" else -minutes)))


def parse_apple_date(text: str) -> datetime | None:
    """A zoned QuickTime creation date -> aware datetime; None without a zone."""
    t = parse_zoned_date(text)
    return t if t is not None and t.tzinfo else None


def gps_start(telemetry: Telemetry | None) -> datetime | None:
    """UTC of video time 0 by GPS, or None."""
    if telemetry is None or not telemetry.gps_times:
        return None
    diffs = sorted(utc.timestamp() - t / 1000 for t, utc in telemetry.gps_times)
    return datetime.fromtimestamp(statistics.median(diffs), timezone.utc)


def _round_zone(offset_s: float) -> int:
    """Minutes of a plausible zone (whole quarter hours) nearest the offset."""
    return int(round(offset_s / 900.0)) * 15


def _offset_min(t: datetime) -> int | None:
    offset = t.utcoffset()
    return None if offset is None else int(offset.total_seconds() // 60)


def _naive(t: datetime) -> datetime:
    return t.replace(tzinfo=None)


def _zoned_times(r: ClockReadings) -> list[tuple[str, datetime, bool]]:
    """(name, aware time, states an offset) of the stated times that name
    their relation to UTC, most trusted first. A 'Z' says UTC and nothing of
    the local zone; '+0000' states a zone."""
    out = []
    for name, text in (("QuickTime creation date", r.apple_date), ("\u00a9day", r.day)):
        t = parse_zoned_date(text)
        if t is not None and t.tzinfo and _plausible(t):
            out.append((f"{name} {(text or '').strip()}", t, not (text or "").strip().endswith("Z")))
    if r.mvhd is not None and not r.mvhd_is_local and _plausible(r.mvhd):
        out.append(("MP4 creation time (mvhd, UTC by the format)", r.mvhd.replace(tzinfo=timezone.utc), False))
    if r.container is not None and r.container.tzinfo and _plausible(r.container):
        out.append((r.container_name + " (UTC by the format)", r.container, False))
    return out


def _local_times(r: ClockReadings) -> list[tuple[str, datetime]]:
    """(name, naive wall-clock time) of the stated times without a zone."""
    out = []
    if r.mvhd is not None and r.mvhd_is_local and _plausible(r.mvhd):
        out.append(("MP4 creation time (mvhd, the camera's local time: GoPro)", _naive(r.mvhd)))
    day = parse_zoned_date(r.day)
    if day is not None and not day.tzinfo and _plausible(day):
        out.append(("\u00a9day (no zone)", day))
    if r.container is not None and not r.container.tzinfo and _plausible(r.container):
        out.append((r.container_name + " (no zone)", r.container))
    return out


def _disagreements(clock: CaptureClock, chosen: str, others: list[tuple[str, datetime, bool]]) -> None:
    """Notes how far each other stated time is from the chosen start."""
    if clock.start is None:
        return
    for name, t, _ in others:
        if name == chosen:
            continue
        diff = (t - clock.start).total_seconds()
        if abs(diff) < _AGREE_S:
            clock.notes.append(f"{name} ({rfc3339(t)}) agrees with it")
        else:
            clock.notes.append(f"{name} ({rfc3339(t)}) is {diff:+.3f} s from it: not used")


def capture_clock(readings: ClockReadings, *, telemetry: Telemetry | None, duration_ms: int) -> CaptureClock:
    """Decides the capture clock from what the source offers (see the module doc)."""
    clock = CaptureClock()
    r = readings
    if r.mvhd is not None and not _plausible(r.mvhd):
        clock.notes.append(f"container creation time {r.mvhd.isoformat()} is not plausible (clock not set)")
    if r.container is not None and not _plausible(r.container):
        clock.notes.append(f"{r.container_name} {r.container.isoformat()} is not plausible (clock not set)")
    zoned, local = _zoned_times(r), _local_times(r)
    stated = next((z for z in zoned if z[2]), None)  # a time with its offset: the camera's zone
    gps = gps_start(telemetry)
    if gps is not None and _plausible(gps):
        clock.start, clock.source, clock.zone = gps, "gps", "utc"
        n = len(telemetry.gps_times) if telemetry is not None else 0  # gps implies telemetry
        clock.notes.append(f"start from {n} GPS time reading(s) in the telemetry")
        if stated is not None:
            clock.utc_offset_min = _offset_min(stated[1])
            clock.notes.append(f"UTC offset {clock.utc_offset_min} min from the {stated[0]}")
        camera = r.mvhd if r.mvhd is not None and _plausible(r.mvhd) else None
        if camera is not None:
            # The camera's clock as written, read as if it were UTC.
            clock.camera_offset_s = round((camera.replace(tzinfo=timezone.utc) - gps).total_seconds(), 3)
            if r.mvhd_is_local and clock.utc_offset_min is None:
                clock.utc_offset_min = _round_zone(clock.camera_offset_s)
            why = " (camera local time, so this is its zone plus drift)" if r.mvhd_is_local else ""
            clock.notes.append(f"camera clock (container creation time) minus GPS time: {clock.camera_offset_s} s{why}")
        if clock.utc_offset_min is not None:
            clock.start_local = _naive(gps + timedelta(minutes=clock.utc_offset_min))
        _disagreements(clock, "", zoned)
        return clock
    if zoned:
        name, t, states_offset = stated if stated is not None else zoned[0]
        clock.start, clock.source = t.astimezone(timezone.utc), "container"
        if states_offset:
            clock.zone, clock.utc_offset_min, clock.start_local = "offset", _offset_min(t), _naive(t)
            clock.notes.append(f"start from the {name}, which states its UTC offset ({clock.utc_offset_min:+d} min)")
        else:
            clock.zone = "utc"
            clock.notes.append(f"start from the {name}")
        _disagreements(clock, name, zoned)
        for other, lt in local:
            clock.notes.append(f"{other} {local_text(lt)}: not used")
        return clock
    if local:
        name, t = local[0]
        clock.source, clock.zone, clock.start_local = "container", "unknown", t
        clock.notes.append(
            f"start from the {name}: the camera's wall clock without a zone, so captured_at is "
            "null and captured_local gives the local time"
        )
        for other, lt in local[1:]:
            diff = (lt - t).total_seconds()
            clock.notes.append(f"{other} {local_text(lt)} is {diff:+.3f} s from it (not used)")
        return clock
    if r.file_mtime is not None and _plausible(r.file_mtime):
        # A card's file times are the camera's wall clock, shown in this computer's zone.
        end_local = r.file_mtime.astimezone().replace(tzinfo=None)
        clock.source, clock.zone = "file_mtime", "unknown"
        clock.start_local = end_local - timedelta(milliseconds=duration_ms)
        clock.notes.append(
            "no GPS or container time: start is the file's modification time (as this computer's "
            "clock shows it) minus the duration; its zone is unknown, so captured_at is null "
            "(right only if the file was not modified or copied without its time)"
        )
        return clock
    clock.notes.append("no source of capture time: captured_at and captured_local are null")
    return clock
