"""GoPro: positions, GPS time and orientation from the GPMF track.

Each MP4 sample of the ``gpmd`` track is one payload (about one second);
its time and duration come from the track's sample table, and the samples of
a stream inside it are spread evenly across that span (GPMF itself carries no
per-sample time: the MP4 index is the clock).

- ``GPS5`` (HERO5-HERO10, MAX): latitude, longitude, altitude, 2D and 3D
  speed per sample; ``GPSF`` (fix: 0, 2, 3), ``GPSP`` (DOP x 100) and
  ``GPSU`` (UTC, ``yymmddhhmmss.sss``) once per payload.
- ``GPS9`` (HERO11 and later): a TYPE-described structure with the same five
  values plus days since 2000, seconds since midnight, DOP and fix per sample.
- ``CORI``: camera orientation quaternions, one per video frame.
- Any other TYPE-described (``?``) structure whose fields include a latitude
  and a longitude: the Karma drone's ``GPRI`` (its GPS receiver, MAVLink's
  GPS_RAW_INT: time, lat, lon, alt, eph, epv, speed, course, fix, satellites)
  and ``GLPI`` (its fused position, GLOBAL_POSITION_INT: time, lat, lon, alt,
  relative alt, vx, vy, vz, heading). Fields are named by the stream's name
  (``STNM`` "GPS (Lat., Long., ...)") where it lists them, else by ``UNIT``/
  ``SIUN``: the first two ``deg`` fields are latitude and longitude, the next
  ``m`` the altitude, an ``s`` before them the structure's own time. Used
  only where a device has no GPS5/GPS9; ``GPRI`` before ``GLPI`` (a receiver's
  fix before a filter's estimate), never ``BPOS`` (the remote controller's
  position, not the camera's).
"""

from __future__ import annotations

import math
import os
import statistics
from datetime import datetime, timedelta, timezone
from typing import Any

from . import gpmf
from .model import FIX_NAMES, Position, Telemetry
from .mp4 import Movie

_GPS_EPOCH_2000 = datetime(2000, 1, 1, tzinfo=timezone.utc)
# Bytes of GPMF read at most (an hour of GoPro telemetry is ~25 MB), and
# samples kept at most (GPS5 at 18 Hz is 65 000 an hour, CORI at 60 fps
# 216 000): a forged track cannot make the reader take unbounded time or memory.
MAX_GPMF_BYTES = 256 * 1024 * 1024
MAX_POSITIONS = 1_000_000
MAX_ORIENTATIONS = 500_000
# The streams decoded; the others are counted, not unpacked (TYPE-described
# ones are decoded when their fields include a latitude and a longitude).
DECODED = {"GPS5", "GPS9", "CORI"}
# TYPE-described position streams, most trusted first; others after these.
TYPED_PREFERENCE = ("GPRI", "GLPI")
# Positions that are not the camera's: the Karma controller (the pilot).
NOT_THE_CAMERA = {"BPOS"}
# Known layouts where a field has no unit to name it: index of the fix type.
_FIX_FIELD = {"GPRI": 8}


def parse_gpsu(text: str) -> datetime | None:
    """``"191118234514.000"`` -> 2019-11-18 23:45:14 UTC; None if malformed."""
    text = text.strip("\0 ")
    try:
        base = datetime.strptime(text[:12], "%y%m%d%H%M%S").replace(tzinfo=timezone.utc)
        frac = float("0" + text[12:]) if len(text) > 12 else 0.0
    except ValueError:
        return None
    return base + timedelta(seconds=frac)


def _fix_of(props: dict[str, Any]) -> tuple[int | None, float | None]:
    fix = dop = None
    if "GPSF" in props:
        try:
            fix = int(gpmf.values(props["GPSF"])[0][0])
        except (gpmf.GpmfError, IndexError, ValueError):
            pass
    if "GPSP" in props:
        try:
            dop = gpmf.values(props["GPSP"])[0][0] / 100.0
        except (gpmf.GpmfError, IndexError, TypeError):
            pass
    return fix, dop


def read_payload(payload: bytes, start_ms: float, duration_ms: float, out: dict[str, Telemetry]) -> None:
    """Adds one payload's samples to ``out`` (one Telemetry per device name)."""
    for stream in gpmf.streams(payload):
        tel = out.setdefault(stream.device, Telemetry(source="gpmf", device=stream.device))
        for item, props in stream.data:
            layout = None
            if item.key not in DECODED:
                layout = _typed_layout(item, props, stream.name)
                if layout is None:
                    tel.streams[item.key] = tel.streams.get(item.key, 0) + item.repeat
                    continue
            typed = sum(len(v) for v in tel.typed_positions.values())
            if len(tel.positions) + typed >= MAX_POSITIONS or len(tel.orientation) >= MAX_ORIENTATIONS:
                if "sample limit" not in " ".join(tel.notes):
                    tel.notes.append(f"GPMF sample limit reached at {start_ms:.0f} ms: later samples are not read")
                return
            try:
                rows = gpmf.numbers(item, props)
                tel.streams[item.key] = tel.streams.get(item.key, 0) + len(rows)
                step = duration_ms / len(rows) if rows else 0.0
                if layout is not None:
                    _typed(tel, item.key, rows, layout, start_ms, step)
                elif item.key == "GPS5":
                    _gps5(tel, rows, props, start_ms, step)
                elif item.key == "GPS9":
                    _gps9(tel, rows, start_ms, step)
                else:
                    tel.orientation.extend(
                        (start_ms + i * step, tuple(r[:4]))
                        for i, r in enumerate(rows)
                        if len(r) >= 4 and all(_finite(v) for v in r[:4])
                    )
            except (gpmf.GpmfError, ValueError, TypeError, OverflowError) as e:
                # Values of the wrong type or range: this item is skipped, the rest is read.
                if len(tel.notes) < 20:
                    tel.notes.append(f"GPMF {item.key} at {start_ms:.0f} ms not decoded: {e}")


def _field_names(stream_name: str, count: int) -> list[str]:
    """Field names a stream's name lists, ``"GPS (Lat., Long., Alt., ...)"``,
    lower-case without dots, when it lists exactly ``count`` of them; else []."""
    if "(" not in stream_name or not stream_name.rstrip().endswith(")"):
        return []
    names = [n.strip().rstrip(".").lower() for n in stream_name[stream_name.index("(") + 1 : -1].split(",")]
    return names if len(names) == count else []


def _units(props: dict[str, Any], count: int) -> list[str]:
    """The per-field units (``UNIT``, else ``SIUN``), '' where none; [] if they do not fit."""
    for key in ("UNIT", "SIUN"):
        item = props.get(key)
        if item is None or item.type != "c":
            continue
        try:
            units = [str(row[0]).strip() for row in gpmf.values(item)]
        except gpmf.GpmfError:
            continue
        if len(units) == count:
            return units
    return []


def _typed_layout(item: Any, props: dict[str, Any], stream_name: str) -> dict[str, Any] | None:
    """Which fields of a TYPE-described structure are time, latitude,
    longitude, altitude, speed and fix; None unless it has latitude and
    longitude (or it is not the camera's position)."""
    if item.type != "?" or item.key in NOT_THE_CAMERA or "TYPE" not in props:
        return None
    try:
        count = len(gpmf.expand_type(props["TYPE"].text()))
    except gpmf.GpmfError:
        return None
    layout: dict[str, Any] = {}
    names = _field_names(stream_name, count)
    if names:
        for i, n in enumerate(names):
            role = (
                "lat"
                if n in ("lat", "latitude")
                else "lon"
                if n in ("lon", "long", "longitude")
                else "alt"
                if n in ("alt", "altitude")
                else "speed"
                if n in ("2d speed", "speed")
                else "fix"
                if n == "fix"
                else None
            )
            if role is not None and role not in layout:
                layout[role] = i
    units = _units(props, count)
    if "lat" not in layout and units:
        deg = [i for i, u in enumerate(units) if u == "deg"]
        if len(deg) >= 2 and deg[1] == deg[0] + 1:
            layout["lat"], layout["lon"] = deg[0], deg[1]
            after = range(deg[1] + 1, count)
            alt = next((i for i in after if units[i] == "m"), None)
            if alt is not None:
                layout["alt"] = alt
            speeds = [i for i in after if units[i] == "m/s"]
            if len(speeds) == 1:
                layout["speed"] = speeds[0]
            elif len(speeds) == 3 and speeds[2] == speeds[0] + 2:
                layout["velocity"] = speeds[0]  # north, east, down (MAVLink): speed over ground
            if units[0] == "s" and deg[0] > 0:
                layout["time"] = 0
    if "lat" not in layout or "lon" not in layout:
        return None
    if "fix" not in layout and item.key in _FIX_FIELD and _FIX_FIELD[item.key] < count:
        layout["fix"] = _FIX_FIELD[item.key]
    return layout


def _typed(
    tel: Telemetry, key: str, rows: list[tuple[Any, ...]], layout: dict[str, Any], start_ms: float, step: float
) -> None:
    """Positions of a TYPE-described structure, kept per stream until the
    whole track is read (the best stream is chosen then)."""
    kept = tel.typed_positions.setdefault(key, [])

    def get(r: tuple[Any, ...], role: str) -> Any:
        i = layout.get(role)
        return r[i] if i is not None and i < len(r) else None

    for i, r in enumerate(rows):
        fix = get(r, "fix")
        fix_name = (
            FIX_NAMES.get(int(fix), "3d" if int(fix) > 3 else "none")
            if _finite(fix)
            else "3d"
            if layout.get("alt") is not None
            else "2d"
        )
        speed = get(r, "speed")
        if "velocity" in layout:
            north, east = get(r, "velocity"), r[layout["velocity"] + 1]
            speed = math.hypot(north, east) if _finite(north) and _finite(east) else None
        p = _position(
            start_ms + i * step, get(r, "lat"), get(r, "lon"), get(r, "alt"), speed, None, fix_name, None, None
        )
        if p is not None:
            t = get(r, "time")
            kept.append((float(t) if _finite(t) else None, p))


def _fit_struct_times(kept: list[tuple[float | None, Position]]) -> list[Position]:
    """The positions on the video timeline. Where the structure carries its
    own time (the drone's seconds since boot), samples keep their true spacing:
    that clock is tied to the video by the median of (even-spread time - own
    time) over the whole track, so no single payload's timing moves it."""
    timed = [(t, p) for t, p in kept if t is not None]
    if len(timed) < 2 or len(timed) != len(kept) or any(b[0] < a[0] for a, b in zip(timed, timed[1:])):
        return [p for _, p in kept]
    shift = statistics.median(p.t_ms - t * 1000 for t, p in timed)
    for t, p in timed:
        p.t_ms = t * 1000 + shift
    return [p for _, p in timed]


def finish_typed(tel: Telemetry) -> None:
    """Positions from the best TYPE-described stream for a device without
    GPS5/GPS9 positions; the structures are freed either way."""
    streams, tel.typed_positions = tel.typed_positions, {}
    if tel.positions or not streams:
        return
    order = sorted(
        streams,
        key=lambda k: (
            TYPED_PREFERENCE.index(k) if k in TYPED_PREFERENCE else len(TYPED_PREFERENCE),
            -sum(p.has_fix for _, p in streams[k]),
        ),
    )
    best = next((k for k in order if any(p.has_fix for _, p in streams[k])), order[0])
    tel.positions = _fit_struct_times(streams[best])
    tel.position_stream = best


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _position(
    t_ms: float, lat: Any, lon: Any, alt: Any, s2: Any, s3: Any, fix: str, dop: Any, utc: datetime | None
) -> Position | None:
    """A Position from decoded values, or None for coordinates that cannot be."""
    if not (_finite(lat) and _finite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    alt, s2, s3, dop = (v if _finite(v) else None for v in (alt, s2, s3, dop))
    return Position(t_ms, lat, lon, alt, s2, s3, fix, dop, utc, "gpmf")


def _gps5(tel: Telemetry, rows: list[tuple[Any, ...]], props: dict[str, Any], start_ms: float, step: float) -> None:
    fix, dop = _fix_of(props)
    fix_name = FIX_NAMES.get(fix, "none") if fix is not None else "3d"
    for i, r in enumerate(rows):
        if len(r) < 5:
            continue
        p = _position(start_ms + i * step, r[0], r[1], r[2], r[3], r[4], fix_name, dop, None)
        if p is not None:
            tel.positions.append(p)
    if "GPSU" in props and fix_name != "none":
        # GPSU is read once a payload; taken as the time of its first sample.
        try:
            utc = parse_gpsu(gpmf.values(props["GPSU"])[0][0].decode("latin-1"))
        except (gpmf.GpmfError, IndexError, AttributeError):
            utc = None
        if utc is not None:
            tel.gps_times.append((start_ms, utc))


def _gps9(tel: Telemetry, rows: list[tuple[Any, ...]], start_ms: float, step: float) -> None:
    for i, r in enumerate(rows):
        if len(r) < 9:
            continue
        lat, lon, alt, s2, s3, days, secs, dop, fix = r[:9]
        fix_name = FIX_NAMES.get(int(fix), "none") if _finite(fix) else "none"
        utc = None
        if fix_name != "none" and _finite(days) and _finite(secs) and 0 < days < 100 * 366 and 0 <= secs < 86401:
            utc = _GPS_EPOCH_2000 + timedelta(days=int(days), seconds=float(secs))
        p = _position(start_ms + i * step, lat, lon, alt, s2, s3, fix_name, dop, utc)
        if p is not None:
            tel.positions.append(p)
            if utc is not None:
                tel.gps_times.append((p.t_ms, utc))


def read_gpmf(path: str | os.PathLike[str], movie: Movie, video_start_ms: float) -> Telemetry | None:
    """The GPMF telemetry of an MP4 with a ``gpmd`` track, on the video
    timeline; None without such a track. Of several devices (a camera on a
    Karma drone) the one with the most position fixes is kept."""
    from .mp4 import read_samples

    track = movie.track("gpmd")
    if track is None:
        return None
    samples = track.samples(movie.file_size)
    devices: dict[str, Telemetry] = {}
    for sample, data in read_samples(path, samples, base=movie.base, max_bytes=MAX_GPMF_BYTES):
        read_payload(data, sample.time_ms - video_start_ms, sample.duration_ms, devices)
    for tel in devices.values():
        finish_typed(tel)
    if not devices:
        tel = Telemetry(source="gpmf")
        tel.notes.append("GPMF track holds no device data")
        return tel
    return max(devices.values(), key=lambda t: (len(t.fixes), len(t.positions), len(t.orientation)))
