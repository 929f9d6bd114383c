"""A small, bounded reader of the MP4/QuickTime boxes telemetry needs.

Only the index is read: the movie header (creation time, time scale), each
track's handler, sample description, time-to-sample, sample sizes,
sample-to-chunk and chunk offsets, and the edit list; plus the location and
creation-date tags in ``udta`` and ``meta``. Sample bytes are read on demand.

A motion photo (a JPEG still with its recording appended) is read at the
recording's byte range, the one the extraction core decides and opens
(``_core.recording_range``): offsets in its index count from the MP4's start.

Every size comes from the file and is checked against what encloses it before
anything is allocated: a forged box or table count can make the reader give
up on that box, never read past the file or allocate more than the file holds.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import BinaryIO, Iterator

# moov is read into memory whole; a real one is a few MB even for hours of
# video. Anything larger is refused rather than trusted.
MAX_MOOV_BYTES = 256 * 1024 * 1024
# No telemetry track has more samples than this (one a frame for ~3 days).
MAX_SAMPLES = 8_000_000
# The smallest sample a telemetry track holds: a GPMF KLV header, a camm
# packet header, a tx3g length and a character.
MIN_SAMPLE_BYTES = 4
MAX_DEPTH = 12
_MP4_EPOCH = datetime(1904, 1, 1, tzinfo=timezone.utc)
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"udta", b"dinf"}


class Mp4Error(ValueError):
    """The file is not an MP4/QuickTime file this reader can index."""


@dataclass
class Sample:
    """One sample of a track: where its bytes are and when it plays (ms on the
    movie's presentation timeline, edit list applied)."""

    offset: int
    size: int
    time_ms: float
    duration_ms: float


@dataclass
class Track:
    """What the reader learned about one track."""

    track_id: int = 0
    handler: str = ""  # 'vide', 'soun', 'meta', 'sbtl', 'text', 'tmcd', ...
    handler_name: str = ""
    format: str = ""  # first sample description: 'avc1', 'gpmd', 'tx3g', ...
    timescale: int = 0
    duration: int = 0  # media duration (mdhd), in timescale units
    media_shift: int = 0  # media time that plays at the track's start (edit list)
    empty_lead: float = 0.0  # seconds of empty edit before it
    _stts: bytes = b""
    _stsz: bytes = b""
    _stsc: bytes = b""
    _stco: bytes = b""
    _co64: bool = False

    def samples(self, file_size: int) -> list[Sample]:
        """The track's samples in decode order; a table that contradicts
        itself or the file ends the list where it stops making sense."""
        if self.timescale <= 0 or len(self._stsz) < 8:
            return []
        const_size, count = struct.unpack_from(">II", self._stsz, 0)
        if const_size == 0:
            count = min(count, (len(self._stsz) - 8) // 4)
            sizes = struct.unpack_from(f">{count}I", self._stsz, 8)
        else:
            # Every sample's bytes are in the file, and none of the tracks
            # read here has a sample smaller than a few bytes (a GPMF KLV
            # header is 8): a table claiming 2^31 one-byte samples is cut to
            # what the bytes can hold.
            count = min(count, file_size // max(MIN_SAMPLE_BYTES, const_size))
            sizes = None
        count = min(count, MAX_SAMPLES)
        times = _expand_stts(self._stts, count)
        count = min(count, len(times))
        offsets = _sample_offsets(self._stsc, self._stco, self._co64, sizes, const_size, count)
        out = []
        scale = 1000.0 / self.timescale
        for i, offset in enumerate(offsets):
            size = sizes[i] if sizes is not None else const_size
            if offset + size > file_size:
                break
            start, duration = times[i]
            if self.duration and start < self.duration < start + duration:
                duration = self.duration - start  # the last sample ends with the track
            out.append(
                Sample(offset, size, (start - self.media_shift) * scale + self.empty_lead * 1000, duration * scale)
            )
        return out


@dataclass
class Movie:
    """The movie header, the tracks and the container tags."""

    file_size: int  # the recording's size (a motion photo's MP4 only)
    base: int = 0  # where the recording starts in the file; sample offsets count from it
    timescale: int = 0
    creation_time: datetime | None = None  # as written: UTC by the standard, local on GoPro
    tracks: list[Track] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)  # ISO6709 location, creation date, ...

    def track(self, *formats: str) -> Track | None:
        """The first track whose sample description is one of ``formats``."""
        return next((t for t in self.tracks if t.format in formats), None)


def _expand_stts(stts: bytes, limit: int) -> list[tuple[int, int]]:
    """(decode time, duration) per sample, at most ``limit``."""
    out: list[tuple[int, int]] = []
    if len(stts) < 8:
        return out
    (entries,) = struct.unpack_from(">I", stts, 4)
    entries = min(entries, (len(stts) - 8) // 8)
    t = 0
    for i in range(entries):
        n, delta = struct.unpack_from(">II", stts, 8 + 8 * i)
        n = min(n, limit - len(out))
        out.extend((t + k * delta, delta) for k in range(n))
        t += n * delta
        if len(out) >= limit:
            break
    return out


def _sample_offsets(
    stsc: bytes, stco: bytes, co64: bool, sizes: tuple[int, ...] | None, const_size: int, count: int
) -> list[int]:
    """File offset of each sample, from chunk offsets and samples per chunk."""
    if len(stsc) < 8 or len(stco) < 8:
        return []
    (runs,) = struct.unpack_from(">I", stsc, 4)
    runs = min(runs, (len(stsc) - 8) // 12)
    table = [struct.unpack_from(">III", stsc, 8 + 12 * i) for i in range(runs)]
    width = 8 if co64 else 4
    (chunks,) = struct.unpack_from(">I", stco, 4)
    chunks = min(chunks, (len(stco) - 8) // width)
    fmt = ">Q" if co64 else ">I"
    out: list[int] = []
    run = 0
    for chunk in range(1, chunks + 1):
        while run + 1 < len(table) and table[run + 1][0] <= chunk:
            run += 1
        per_chunk = table[run][1] if table and table[run][0] <= chunk else 0
        (pos,) = struct.unpack_from(fmt, stco, 8 + width * (chunk - 1))
        for _ in range(min(per_chunk, count - len(out))):
            out.append(pos)
            pos += sizes[len(out) - 1] if sizes is not None else const_size
        if len(out) >= count:
            break
    return out


def _boxes(buf: memoryview, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes in buf[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            (size,) = struct.unpack_from(">Q", buf, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return  # a forged or cut size: stop here, never trust it
        yield bytes(kind), pos + header, pos + size
        pos += size


def _find_moov(f: BinaryIO, base: int, file_size: int) -> bytes:
    pos = 0
    while pos + 8 <= file_size:
        f.seek(base + pos)
        head = f.read(16)
        if len(head) < 8:
            break
        size, kind = struct.unpack_from(">I4s", head, 0)
        header = 8
        if size == 1 and len(head) == 16:
            (size,) = struct.unpack_from(">Q", head, 8)
            header = 16
        elif size == 0:
            size = file_size - pos
        if size < header:
            break
        if kind == b"moov":
            length = min(size, file_size - pos) - header
            if length > MAX_MOOV_BYTES:
                raise Mp4Error(f"movie index (moov) of {length} bytes is larger than any real one")
            f.seek(base + pos + header)
            return f.read(length)
        pos += size
    raise Mp4Error("no movie index (moov)")


def _mp4_time(seconds: int) -> datetime | None:
    if seconds <= 0:
        return None
    try:
        return _MP4_EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return None


def _parse_trak(buf: memoryview, start: int, end: int, movie_timescale: int) -> Track:
    track = Track()
    stack = [(start, end, 0)]
    while stack:
        s, e, depth = stack.pop()
        for kind, ps, pe in _boxes(buf, s, e):
            if kind in _CONTAINERS and depth < MAX_DEPTH:
                stack.append((ps, pe, depth + 1))
            elif kind == b"tkhd" and pe - ps >= 24:
                v = buf[ps]
                track.track_id = struct.unpack_from(">I", buf, ps + (20 if v == 1 else 12))[0]
            elif kind == b"mdhd" and pe - ps >= 24:
                v = buf[ps]
                if v == 1 and pe - ps >= 32:
                    track.timescale, track.duration = struct.unpack_from(">IQ", buf, ps + 20)
                else:
                    track.timescale, track.duration = struct.unpack_from(">II", buf, ps + 12)
            elif kind == b"hdlr" and pe - ps >= 24 and not track.handler:
                # The media handler (mdia) comes before minf's data handler ('alis', 'url ').
                track.handler = bytes(buf[ps + 8 : ps + 12]).decode("latin-1")
                name = bytes(buf[ps + 24 : pe]).strip(b"\x00")
                # QuickTime writes a Pascal string (length byte first), MP4 a C string.
                if name and name[0] == len(name) - 1:
                    name = name[1:]
                track.handler_name = name.decode("utf-8", "replace").strip()
            elif kind == b"stsd" and pe - ps >= 16:
                track.format = bytes(buf[ps + 12 : ps + 16]).decode("latin-1")
            elif kind == b"stts":
                track._stts = bytes(buf[ps:pe])
            elif kind == b"stsz":
                track._stsz = bytes(buf[ps + 4 : pe])
            elif kind == b"stsc":
                track._stsc = bytes(buf[ps:pe])
            elif kind in (b"stco", b"co64"):
                track._stco, track._co64 = bytes(buf[ps:pe]), kind == b"co64"
            elif kind == b"elst" and pe - ps >= 8:
                _apply_edit_list(track, buf, ps, pe, movie_timescale)
    return track


def _apply_edit_list(track: Track, buf: memoryview, ps: int, pe: int, movie_timescale: int) -> None:
    """Leading empty edits delay the track; the first real edit says which
    media time plays first. Later edits (rare in cameras) are not modelled."""
    version = buf[ps]
    (entries,) = struct.unpack_from(">I", buf, ps + 4)
    width = 20 if version == 1 else 12
    entries = min(entries, (pe - ps - 8) // width)
    lead = 0.0
    for i in range(entries):
        at = ps + 8 + width * i
        if version == 1:
            duration, media_time = struct.unpack_from(">Qq", buf, at)
        else:
            duration, media_time = struct.unpack_from(">Ii", buf, at)
        if media_time == -1:
            lead += duration / movie_timescale if movie_timescale else 0.0
            continue
        track.media_shift = media_time
        break
    track.empty_lead = lead


def _qt_string(data: bytes) -> str:
    """A QuickTime udta text item: 16-bit length, 16-bit language, text."""
    if len(data) < 4:
        return ""
    (length,) = struct.unpack_from(">H", data, 0)
    return data[4 : 4 + length].decode("utf-8", "replace").strip("\x00 ")


def _parse_meta(buf: memoryview, ps: int, pe: int, tags: dict[str, str]) -> None:
    """QuickTime metadata: a ``keys`` table and ``ilst`` items that refer to it
    by 1-based index (``com.apple.quicktime.location.ISO6709``, ...)."""
    if pe - ps >= 8 and bytes(buf[ps + 4 : ps + 8]) != b"hdlr":
        ps += 4  # the MP4 flavour is a full box (version and flags first)
    keys: list[str] = []
    items: list[tuple[int, int, int]] = []
    for kind, s, e in _boxes(buf, ps, pe):
        if kind == b"keys" and e - s >= 8:
            # Each key is a box whose type is its namespace ('mdta') and whose payload is its name.
            for _, ks, ke in _boxes(buf, s + 8, e):
                keys.append(bytes(buf[ks:ke]).decode("utf-8", "replace"))
        elif kind == b"ilst":
            for item, s2, e2 in _boxes(buf, s, e):
                items.append((struct.unpack(">I", item)[0], s2, e2))
    for index, s, e in items:
        if keys:
            if not 1 <= index <= len(keys):
                continue
            name = keys[index - 1]
        else:
            # iTunes-style metadata (handler 'mdir'): the item's type is its name ('\xa9day').
            name = struct.pack(">I", index).decode("latin-1")
        for kind, ds, de in _boxes(buf, s, e):
            if kind == b"data" and de - ds >= 8:
                tags.setdefault(name, bytes(buf[ds + 8 : de]).decode("utf-8", "replace").strip("\x00"))
                break


def read_movie(path: str | os.PathLike[str]) -> Movie:
    """Reads the index of an MP4/QuickTime file (a motion photo's embedded
    one). Raises Mp4Error for a file without a usable index, OSError if it
    cannot be read."""
    base, length = recording_range(path)
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size if length is None else length
        moov = memoryview(_find_moov(f, base, file_size))
    movie = Movie(file_size=file_size, base=base)
    end = len(moov)
    for kind, ps, pe in _boxes(moov, 0, end):
        if kind == b"mvhd" and pe - ps >= 20:
            v = moov[ps]
            if v == 1 and pe - ps >= 32:
                created, _, movie.timescale = struct.unpack_from(">QQI", moov, ps + 4)
            else:
                created, _, movie.timescale = struct.unpack_from(">III", moov, ps + 4)
            movie.creation_time = _mp4_time(created)
    for kind, ps, pe in _boxes(moov, 0, end):
        if kind == b"trak":
            movie.tracks.append(_parse_trak(moov, ps, pe, movie.timescale))
        elif kind == b"meta":
            _parse_meta(moov, ps, pe, movie.tags)
        elif kind == b"udta":
            for item, s, e in _boxes(moov, ps, pe):
                if item in (b"\xa9xyz", b"\xa9day"):
                    movie.tags[item.decode("latin-1")] = _qt_string(bytes(moov[s:e]))
                elif item == b"meta":
                    _parse_meta(moov, s, e, movie.tags)
    return movie


def recording_range(path: str | os.PathLike[str]) -> tuple[int, int | None]:
    """Where the recording starts in the file and its length (None: to the
    file's end), as the extraction core decides it. Mp4Error for a motion
    photo whose metadata names no MP4."""
    from .. import _core
    from ..errors import ExtractError

    try:
        found = _core.recording_range(os.fspath(path))
    except ExtractError as e:
        raise Mp4Error(e.reason or str(e)) from None
    return (0, None) if found is None else (found["offset"], found["length"])


def read_samples(
    path: str | os.PathLike[str], samples: list[Sample], *, base: int = 0, max_bytes: int = 1 << 30
) -> Iterator[tuple[Sample, bytes]]:
    """Yields each sample with its bytes, reading them one at a time; stops
    once ``max_bytes`` have been read in total. ``base``: where the recording
    starts in the file (Movie.base)."""
    total = 0
    with open(path, "rb") as f:
        for s in samples:
            total += s.size
            if total > max_bytes:
                return
            f.seek(base + s.offset)
            data = f.read(s.size)
            if len(data) < s.size:
                return
            yield s, data
