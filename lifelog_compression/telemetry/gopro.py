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
"""

from __future__ import annotations

import math
import os
from datetime import datetime, timedelta, timezone
from typing import Any

from . import gpmf
from .mp4 import Movie
from .model import FIX_NAMES, Position, Telemetry

_GPS_EPOCH_2000 = datetime(2000, 1, 1, tzinfo=timezone.utc)
# Bytes of GPMF read at most (an hour of GoPro telemetry is ~25 MB), and
# samples kept at most (GPS5 at 18 Hz is 65 000 an hour, CORI at 60 fps
# 216 000): a forged track cannot make the reader take unbounded time or memory.
MAX_GPMF_BYTES = 256 * 1024 * 1024
MAX_POSITIONS = 1_000_000
MAX_ORIENTATIONS = 500_000
# The streams decoded; the others are counted, not unpacked.
DECODED = {"GPS5", "GPS9", "CORI"}


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
            if item.key not in DECODED:
                tel.streams[item.key] = tel.streams.get(item.key, 0) + item.repeat
                continue
            if len(tel.positions) >= MAX_POSITIONS or len(tel.orientation) >= MAX_ORIENTATIONS:
                if "sample limit" not in " ".join(tel.notes):
                    tel.notes.append(f"GPMF sample limit reached at {start_ms:.0f} ms: later samples are not read")
                return
            try:
                rows = gpmf.numbers(item, props)
                tel.streams[item.key] = tel.streams.get(item.key, 0) + len(rows)
                step = duration_ms / len(rows) if rows else 0.0
                if item.key == "GPS5":
                    _gps5(tel, rows, props, start_ms, step)
                elif item.key == "GPS9":
                    _gps9(tel, rows, start_ms, step)
                else:
                    tel.orientation.extend((start_ms + i * step, tuple(r[:4])) for i, r in enumerate(rows)
                                           if len(r) >= 4 and all(_finite(v) for v in r[:4]))
            except (gpmf.GpmfError, ValueError, TypeError, OverflowError) as e:
                # Values of the wrong type or range: this item is skipped, the rest is read.
                if len(tel.notes) < 20:
                    tel.notes.append(f"GPMF {item.key} at {start_ms:.0f} ms not decoded: {e}")


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _position(t_ms: float, lat: Any, lon: Any, alt: Any, s2: Any, s3: Any, fix: str, dop: Any,
              utc: datetime | None) -> Position | None:
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
    for sample, data in read_samples(path, samples, max_bytes=MAX_GPMF_BYTES):
        read_payload(data, sample.time_ms - video_start_ms, sample.duration_ms, devices)
    if not devices:
        tel = Telemetry(source="gpmf")
        tel.notes.append("GPMF track holds no device data")
        return tel
    return max(devices.values(), key=lambda t: (len(t.fixes), len(t.positions), len(t.orientation)))
