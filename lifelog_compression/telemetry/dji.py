"""DJI: the per-frame telemetry DJI drones and cameras write as subtitles,
either a ``.SRT`` file beside the video or a text track inside it.

Each subtitle block has a time range on the video and a few lines whose layout
changed between models; the values are found by name rather than by position:

- Mini/Air/Mavic 3 style: ``2021-09-05 15:34:09.186`` and
  ``[latitude: 45.1234] [longitude: 7.6543] [rel_alt: 1.2 abs_alt: 250.4]``
  (some firmwares spell ``longtitude``, some write ``[altitude: 12.3]``);
- Phantom 4 / Mavic Pro style: ``HOME(lon,lat) 2017.08.05 14:11:51`` and
  ``GPS(lon,lat,alt)`` (longitude first);
- Spark / Mavic Air style: ``GPS (lon, lat, n), D 4.41m, H 2.10m, H.S 1.2m/s``.

The date and time are the drone's clock, local time without a zone: they are
kept as camera-clock readings, not as UTC. A position of (0, 0) means no fix.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

from .model import Position, Telemetry
from .mp4 import Movie

MAX_SRT_BYTES = 256 * 1024 * 1024
MAX_BLOCK_CHARS = 4096
# A DJI line is under 300 characters. Longer ones are cut before any pattern
# runs: a search for "digits:" over a line of n digits costs n^2 (a 200 KB
# line took 4 minutes, holding the GIL through Ctrl-C).
MAX_LINE_CHARS = 1024
MAX_POSITIONS = 1_000_000  # 9 hours at 30 fps
# One block a frame: no camera writes more than 240 frames a second.
MAX_BLOCKS_PER_S = 240

# A start with a sign or more than two hour digits is no time of a recording
# (a "-00:00:05" was read as +5 s, "99999:59:59" put a fix in 2034): the
# block is skipped.
_RANGE = re.compile(r"(?<![-\d])(\d{1,2}):(\d{2}):(\d{2})[,.](\d{1,3})\s*-->\s*(\d+):(\d{2}):(\d{2})[,.](\d{1,3})")
_NUM = r"(-?\d+(?:\.\d+)?)"
_LAT = re.compile(r"latitude\s*:\s*" + _NUM, re.IGNORECASE)
_LON = re.compile(r"longt?itude\s*:\s*" + _NUM, re.IGNORECASE)
_ABS_ALT = re.compile(r"abs_alt\s*:\s*" + _NUM, re.IGNORECASE)
_ALT = re.compile(r"\baltitude\s*:\s*" + _NUM, re.IGNORECASE)
_REL_ALT = re.compile(r"rel_alt\s*:\s*" + _NUM, re.IGNORECASE)
_GPS_TUPLE = re.compile(r"GPS\s*\(\s*" + _NUM + r"\s*,\s*" + _NUM + r"(?:\s*,\s*" + _NUM + r")?\s*\)")
_HEIGHT = re.compile(r"\bH\s+" + _NUM + r"\s*m\b")
_HSPEED = re.compile(r"H\.S\s+" + _NUM + r"\s*m/s")
_DATETIME = re.compile(r"(\d{4})[-.](\d{2})[-.](\d{2})[ T]+(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,3}))?")
_TAGS = re.compile(r"<[^>]{0,200}>")


def _ms(h: str, m: str, s: str, frac: str) -> int:
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(frac.ljust(3, "0")[:3])


def parse_block(text: str, start_ms: float, telemetry: Telemetry) -> None:
    """Adds what one subtitle block's text says at ``start_ms``."""
    if len(telemetry.positions) >= MAX_POSITIONS or len(telemetry.camera_times) >= MAX_POSITIONS:
        return
    text = _TAGS.sub(" ", text[:MAX_BLOCK_CHARS])
    m = _DATETIME.search(text)
    if m:
        y, mo, d, hh, mm, ss, frac = m.groups()
        try:
            micro = int((frac or "0").ljust(3, "0")) * 1000
            local = datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss), micro)
            telemetry.camera_times.append((start_ms, local))
        except ValueError:
            pass
    lat = lon = alt = speed = None
    la, lo = _LAT.search(text), _LON.search(text)
    if la and lo:
        lat, lon = float(la.group(1)), float(lo.group(1))
        for pattern in (_ABS_ALT, _ALT, _REL_ALT):
            a = pattern.search(text)
            if a:
                alt = float(a.group(1))
                break
    else:
        # GPS(lon, lat[, alt]): longitude first (HOME(lon, lat) is the take-off point).
        for g in _GPS_TUPLE.finditer(text):
            lon, lat = float(g.group(1)), float(g.group(2))
            third = g.group(3)
            h = _HEIGHT.search(text)
            if h:
                alt = float(h.group(1))
            elif third is not None and "." in third:
                alt = float(third)  # Phantom: altitude; Spark writes a satellite count (no decimals)
            break
    s = _HSPEED.search(text)
    if s:
        speed = float(s.group(1))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return
    fix = "none" if lat == 0 and lon == 0 else ("3d" if alt is not None else "2d")
    telemetry.positions.append(Position(start_ms, lat, lon, alt, speed, None, fix, None, None, "dji"))


def _blocks(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(start ms, text) of each SRT block, read line by line."""
    start: int | None = None
    text: list[str] = []
    chars = 0
    for line in lines:
        line = line[:MAX_LINE_CHARS]
        m = _RANGE.search(line) if "-->" in line else None  # the pattern costs more than the test
        if m:
            if start is not None:
                yield start, "\n".join(text)
            start, text, chars = _ms(*m.groups()[:4]), [], 0
        elif start is not None and chars < MAX_BLOCK_CHARS:
            text.append(line.rstrip("\r\n"))
            chars += len(text[-1])
    if start is not None:
        yield start, "\n".join(text)


def read_srt(path: str | Path, video_start_ms: float = 0.0, duration_ms: int = 0) -> Telemetry | None:
    """The telemetry of a DJI ``.SRT`` file; None if it holds no DJI data.
    With the video's ``duration_ms``, blocks beyond it are not parsed and at
    most MAX_BLOCKS_PER_S a second of video are: a sidecar of 600,000 blocks
    beside a 3 s clip costs its reading, not 600,000 positions."""
    path = Path(path)
    if path.stat().st_size > MAX_SRT_BYTES:
        tel = Telemetry()
        tel.notes.append(f"{path.name}: larger than {MAX_SRT_BYTES >> 20} MB, not read")
        return tel
    tel = Telemetry(source="dji")
    limit = MAX_POSITIONS if duration_ms <= 0 else min(MAX_POSITIONS, 100 + MAX_BLOCKS_PER_S * duration_ms // 1000)
    parsed = skipped = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for start, text in _blocks(f):
            at = start - video_start_ms
            if duration_ms > 0 and (parsed >= limit or not -1000 <= at <= duration_ms + 1000):
                skipped += 1
                continue
            parsed += 1
            parse_block(text, at, tel)
    if not tel.positions and not tel.camera_times:
        return None
    tel.notes.append(f"DJI telemetry from the sidecar {path.name}")
    if skipped:
        tel.notes.append(
            f"{path.name}: {skipped} block(s) outside the video's {duration_ms} ms or beyond "
            f"{MAX_BLOCKS_PER_S} a second, not read"
        )
    return tel


def sidecar_for(video: str | Path) -> Path | None:
    """``DJI_0001.SRT`` (or ``.srt``) beside ``DJI_0001.MP4``."""
    video = Path(video)
    for suffix in (".SRT", ".srt", ".Srt"):
        candidate = video.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def read_text_track(path: str | os.PathLike[str], movie: Movie, video_start_ms: float) -> Telemetry | None:
    """DJI telemetry in a subtitle text track (``tx3g``) of the MP4 itself."""
    from .mp4 import read_samples

    track = movie.track("tx3g", "text")
    if track is None:
        return None
    tel = Telemetry(source="dji")
    samples = [s for s in track.samples(movie.file_size) if s.size <= MAX_BLOCK_CHARS + 2]
    for sample, data in read_samples(path, samples, base=movie.base, max_bytes=MAX_SRT_BYTES):
        if len(data) < 2:
            continue
        length = int.from_bytes(data[:2], "big")
        parse_block(data[2 : 2 + length].decode("utf-8", "replace"), sample.time_ms - video_start_ms, tel)
    if not tel.positions and not tel.camera_times:
        return None
    tel.notes.append("DJI telemetry from the video's subtitle track")
    return tel
