"""Telemetry fixtures written by the tests themselves: GPMF payloads (KLV
built byte by byte), muxed as a ``gpmd`` data track into a real MP4 with the
ffmpeg CLI; DJI SRT text; QuickTime location tags."""

from __future__ import annotations

import json
import struct
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

_CODES = {
    "b": "b",
    "B": "B",
    "c": "c",
    "d": "d",
    "f": "f",
    "F": "4s",
    "j": "q",
    "J": "Q",
    "l": "l",
    "L": "L",
    "s": "h",
    "S": "H",
    "U": "16s",
}


def klv(key: str, type_char: str, size: int, repeat: int, data: bytes) -> bytes:
    """One KLV item, padded to 32 bits."""
    assert len(data) == size * repeat, (key, len(data), size, repeat)
    head = (
        key.encode("ascii")
        + (type_char.encode("latin-1") if type_char != "\0" else b"\0")
        + struct.pack(">BH", size, repeat)
    )
    return head + data + b"\0" * (-len(data) % 4)


def nest(key: str, *children: bytes) -> bytes:
    body = b"".join(children)
    return klv(key, "\0", 4, len(body) // 4, body)


def text(key: str, value: str) -> bytes:
    raw = value.encode("latin-1")
    return klv(key, "c", 1, len(raw), raw)


def numbers(key: str, type_chars: str, rows: list[tuple]) -> bytes:
    """Samples of a fixed layout; ``type_chars`` is one char per element
    (the item's type is the first char if all are equal, else '?')."""
    fmt = ">" + "".join(_CODES[t] for t in type_chars)
    size = struct.calcsize(fmt)
    data = b"".join(struct.pack(fmt, *r) for r in rows)
    kind = type_chars[0] if len(set(type_chars)) == 1 else "?"
    return klv(key, kind, size, len(rows), data)


def device(*streams: bytes, name: str = "Test Camera") -> bytes:
    return nest("DEVC", numbers("DVID", "L", [(1,)]), text("DVNM", name), *streams)


def gps5_stream(
    points: list[tuple[float, float, float, float, float]],
    *,
    fix: int = 3,
    dop: float = 1.5,
    gpsu: datetime | None = None,
) -> bytes:
    """A GPS5 stream: SCAL per element, GPSF, GPSP, GPSU, values as int32."""
    scal = (10_000_000, 10_000_000, 1000, 1000, 100)
    rows = [tuple(round(v * s) for v, s in zip(p, scal)) for p in points]
    items = [text("STNM", "GPS (Lat., Long., Alt., 2D speed, 3D speed)"), numbers("GPSF", "L", [(fix,)])]
    if gpsu is not None:
        stamp = gpsu.strftime("%y%m%d%H%M%S") + f".{gpsu.microsecond // 1000:03d}"
        items.append(klv("GPSU", "U", 16, 1, stamp.encode("ascii")))
    items += [
        numbers("GPSP", "S", [(round(dop * 100),)]),
        numbers("SCAL", "l", [(s,) for s in scal]),
        numbers("GPS5", "lllll", rows),
    ]
    return nest("STRM", *items)


def gps9_stream(samples: list[tuple[float, float, float, float, float, datetime, float, int]]) -> bytes:
    """A GPS9 stream (HERO11+): TYPE "lllllllSS" with per-element SCAL;
    sample = (lat, lon, alt, speed2d, speed3d, utc, dop, fix)."""
    scal = (10_000_000, 10_000_000, 1000, 1000, 100, 1, 1000, 100, 1)
    epoch = datetime(2000, 1, 1, tzinfo=timezone.utc)
    rows = []
    for lat, lon, alt, s2, s3, utc, dop, fix in samples:
        since = utc - epoch
        days, secs = since.days, since.seconds + since.microseconds / 1e6
        values = (lat, lon, alt, s2, s3, days, secs, dop, fix)
        rows.append(tuple(round(v * s) for v, s in zip(values, scal)))
    fmt = ">lllllllHH"
    data = b"".join(struct.pack(fmt, *r) for r in rows)
    return nest(
        "STRM",
        text("STNM", "GPS (9 values)"),
        text("TYPE", "lllllllSS"),
        numbers("SCAL", "l", [(s,) for s in scal]),
        klv("GPS9", "?", 32, len(rows), data),
    )


def cori_stream(quats: list[tuple[float, float, float, float]]) -> bytes:
    rows = [tuple(round(v * 32767) for v in q) for q in quats]
    return nest(
        "STRM", text("STNM", "CameraOrientation"), numbers("SCAL", "s", [(32767,)]), numbers("CORI", "ssss", rows)
    )


def typed_stream(key: str, type_string: str, layout: str, rows: list[tuple], scal: tuple | None = None) -> bytes:
    """A complex structure described by TYPE (e.g. ``"f[2]LB"`` with layout ``"ffLB"``)."""
    fmt = ">" + "".join(_CODES[t] for t in layout)
    size = struct.calcsize(fmt)
    items = [text("STNM", f"{key} structure"), text("TYPE", type_string)]
    if scal:
        items.append(numbers("SCAL", "l", [(s,) for s in scal]))
    items.append(klv(key, "?", size, len(rows), b"".join(struct.pack(fmt, *r) for r in rows)))
    return nest("STRM", *items)


def mux_gpmf(
    video: Path, payloads: list[bytes], out: Path, *, payload_s: float = 1.0, metadata: dict[str, str] | None = None
) -> Path:
    """Muxes ``payloads`` (one every ``payload_s`` seconds from 0) as a
    ``gpmd`` data track beside the video's own streams, copying the video.

    FFmpeg's raw ``data`` demuxer cuts packets of a fixed size, so payloads
    are zero-padded (GPMF readers stop at a zero key) to a power of two: the
    demuxer reads partial packets at its 32 KiB buffer's edge, which then
    falls between packets. The ``setts`` bitstream filter times them; the MOV
    muxer accepts the ``gpmd`` tag for such a stream, and a second copy makes
    the MP4."""
    size = 256
    while size < max(len(p) for p in payloads):
        size *= 2
    assert size <= 32768, "payloads larger than the demuxer's buffer would be cut"
    raw = out.with_suffix(".gpmf.bin")
    raw.write_bytes(b"".join(p + b"\0" * (size - len(p)) for p in payloads))
    mov = out.with_suffix(".tmp.mov")
    meta = [arg for k, v in (metadata or {}).items() for arg in ("-metadata", f"{k}={v}")]
    step = f"{payload_s}/TB"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(video),
            "-f",
            "data",
            "-raw_packet_size",
            str(size),
            "-i",
            str(raw),
            "-map",
            "0:v",
            "-map",
            "1:0",
            "-c",
            "copy",
            "-bsf:d",
            f"setts=pts=N*{step}:dts=N*{step}:duration={step}",
            "-tag:d",
            "gpmd",
            "-strict",
            "-2",
            "-f",
            "mov",
            str(mov),
        ],
        check=True,
    )
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(mov), "-map", "0", "-c", "copy", *meta, str(out)], check=True
    )
    mov.unlink()
    raw.unlink()
    return out


def ffprobe_data_packets(path: Path) -> tuple[dict, list[dict]]:
    """The first data stream and its packets, as the ffmpeg CLI reads them."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "d", "-show_streams", "-show_packets", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    doc = json.loads(out)
    return doc["streams"][0], doc["packets"]


def srt_time(ms: int) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, milli = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{milli:03d}"


def dji_srt(entries: list[tuple[int, int, str]]) -> str:
    """SRT text from (start ms, end ms, body) entries."""
    return "".join(f"{i}\n{srt_time(a)} --> {srt_time(b)}\n{body}\n\n" for i, (a, b, body) in enumerate(entries, 1))


def dji_mini_body(frame: int, local: datetime, lat: float, lon: float, abs_alt: float) -> str:
    """A Mini 2 / Air 2S style block body."""
    return (
        f'<font size="28">FrameCnt: {frame}, DiffTime: 33ms\n'
        f"{local.strftime('%Y-%m-%d %H:%M:%S')}.{local.microsecond // 1000:03d}\n"
        f"[iso: 100] [shutter: 1/1000.0] [fnum: 2.8] [ev: 0] [ct: 5500] [color_md: default] "
        f"[focal_len: 24.00] [latitude: {lat:.6f}] [longitude: {lon:.6f}] "
        f"[rel_alt: 1.200 abs_alt: {abs_alt:.3f}] </font>"
    )


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


__all__ = [
    "klv",
    "nest",
    "text",
    "numbers",
    "device",
    "gps5_stream",
    "gps9_stream",
    "cori_stream",
    "typed_stream",
    "mux_gpmf",
    "ffprobe_data_packets",
    "dji_srt",
    "dji_mini_body",
    "srt_time",
    "utc",
    "timedelta",
]
