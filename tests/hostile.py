"""Hostile files for tests/test_hostile.py: small files whose headers claim
far more work or memory than their bytes hold (issue 22). Each is made from
a clip of the ffmpeg CLI by rewriting boxes, reproducibly."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from fixtures import make_clip
from mutate import mp4_boxes


def _mdhd_timescale(data: bytes) -> int:
    at = data.find(b"mdhd")
    version = data[at + 4]
    return struct.unpack_from(">I", data, at + 4 + 4 + (16 if version == 1 else 8))[0]


def tfdt_jump(folder: Path, seconds: float = 65537.0) -> Path:
    """A fragmented MP4 (4 s, a fragment every 1.2 s) whose second fragment's
    ``tfdt`` claims ``seconds`` more: the timeline spans 18 hours, its bytes
    4 s. The later fragments go back to their own times, so the file's last
    bytes are not its latest pictures."""
    clip = make_clip(
        folder / "frag.mp4",
        width=320,
        height=240,
        fps=25,
        seconds=4.0,
        gop=30,
        extra_args=("-movflags", "frag_keyframe+empty_moov"),
    )
    data = bytearray(clip.path.read_bytes())
    add = int(seconds * _mdhd_timescale(data))
    at = data.find(b"tfdt", data.find(b"tfdt") + 4)
    if data[at + 4] == 1:
        (old,) = struct.unpack_from(">Q", data, at + 8)
        struct.pack_into(">Q", data, at + 8, old + add)
    else:
        (old,) = struct.unpack_from(">I", data, at + 8)
        struct.pack_into(">I", data, at + 8, (old + add) & 0xFFFFFFFF)
    out = folder / "tfdt-jump.mp4"
    out.write_bytes(bytes(data))
    return out


def _grow(data: bytearray, path: list[int], delta: int) -> None:
    """Adds ``delta`` to the 32-bit sizes of the boxes at the offsets ``path``."""
    for at in path:
        (size,) = struct.unpack_from(">I", data, at)
        struct.pack_into(">I", data, at, size + delta)


def _parents(data: bytes, target: int) -> list[int]:
    """Offsets of the boxes that enclose the box at ``target``."""
    return [pos for pos, size, kind, _ in mp4_boxes(data) if pos < target < pos + size]


def edit_list(folder: Path, entries: int = 10_000) -> Path:
    """A 3 s clip (index at the end) whose video edit list holds ``entries``
    edits, each showing the first 40 ms of the media again."""
    clip = make_clip(folder / "plain.mp4", width=160, height=90, fps=25, seconds=3.0, gop=25, bframes=0)
    data = bytearray(clip.path.read_bytes())
    trak = next(pos for pos, size, kind, _ in mp4_boxes(data) if kind == b"trak")
    (trak_size,) = struct.unpack_from(">I", data, trak)
    (movie_scale,) = struct.unpack_from(">I", data, data.find(b"mvhd") + 4 + 4 + 8)
    elst = b"".join(struct.pack(">IiHH", movie_scale * 40 // 1000, 0, 1, 0) for _ in range(entries))
    elst_box = struct.pack(">I4sII", 16 + len(elst), b"elst", 0, entries) + elst
    edts = struct.pack(">I4s", 8 + len(elst_box), b"edts") + elst_box
    old = data.find(b"edts", trak, trak + trak_size)
    if old >= 0:  # replace the muxer's own
        (old_size,) = struct.unpack_from(">I", data, old - 4)
        parents = _parents(bytes(data), old - 4)
        data[old - 4 : old - 4 + old_size] = edts
        _grow(data, parents, len(edts) - old_size)
    else:
        at = data.find(b"mdia", trak) - 4
        parents = _parents(bytes(data), at)
        data[at:at] = edts
        _grow(data, parents, len(edts))
    out = folder / "edit-list.mp4"
    out.write_bytes(bytes(data))
    return out


def cmov_bomb(folder: Path, inflated: int = 512 << 20) -> Path:
    """A 3 s clip whose index is a compressed moov (``cmov``) that inflates
    to ``inflated`` bytes (the real index and a 'free' box of zeros), a
    thousand times the file."""
    clip = make_clip(folder / "plain.mp4", width=160, height=90, fps=25, seconds=3.0, gop=25)
    data = clip.path.read_bytes()
    moov, moov_size = next((pos, size) for pos, size, kind, _ in mp4_boxes(data) if kind == b"moov")
    real = data[moov + 8 : moov + moov_size]
    pad = inflated - 8 - len(real) - 8
    inner_head = struct.pack(">I4s", inflated, b"moov") + real + struct.pack(">I4s", pad + 8, b"free")
    z = zlib.compressobj(9)
    parts = [z.compress(inner_head)]
    zeros = bytes(1 << 20)
    left = pad
    while left > 0:
        parts.append(z.compress(zeros[: min(left, len(zeros))]))
        left -= len(zeros)
    parts.append(z.flush())
    packed = b"".join(parts)
    cmvd = struct.pack(">I4sI", 12 + len(packed), b"cmvd", inflated) + packed
    dcom = struct.pack(">I4s4s", 12, b"dcom", b"zlib")
    cmov = struct.pack(">I4s", 8 + len(dcom) + len(cmvd), b"cmov") + dcom + cmvd
    new_moov = struct.pack(">I4s", 8 + len(cmov), b"moov") + cmov
    out = folder / "cmov-bomb.mov"
    out.write_bytes(data[:moov] + new_moov + data[moov + moov_size :])
    return out


def gpmd_claims(folder: Path, samples: int = 1 << 31) -> Path:
    """A clip with a GoPro telemetry (gpmd) track whose sample size table
    claims ``samples`` one-byte samples."""
    from telemetry_fixtures import device, gps5_stream, mux_gpmf

    clip = make_clip(folder / "v.mp4", width=160, height=90, fps=25, seconds=3.0, gop=25)
    payloads = [device(gps5_stream([(45.0, 7.0, 250.0, 1.0, 1.0)] * 18)) for _ in range(3)]
    path = mux_gpmf(clip.path, payloads, folder / "gpmd.mp4")
    data = bytearray(path.read_bytes())
    boxes = list(mp4_boxes(bytes(data)))
    gpmd = data.find(b"gpmd")
    trak = next(pos for pos, size, kind, _ in boxes if kind == b"trak" and pos < gpmd < pos + size)
    stsz = next(pos for pos, size, kind, _ in boxes if kind == b"stsz" and pos > trak)
    struct.pack_into(">II", data, stsz + 12, 1, samples)
    path.write_bytes(bytes(data))
    return path


def dji_sidecar(folder: Path, blocks: int = 600_000) -> Path:
    """A 3 s clip with a DJI ``.SRT`` sidecar of ``blocks`` blocks, all
    inside its 3 s."""
    clip = make_clip(folder / "DJI_0001.MP4", width=160, height=90, fps=25, seconds=3.0, gop=25)
    lines = []
    for i in range(blocks):
        ms = i * 3000 // blocks
        stamp = f"00:00:{ms // 1000:02d},{ms % 1000:03d}"
        lines.append(
            f'{i + 1}\n{stamp} --> {stamp}\n<font size="28">FrameCnt: {i + 1}\n'
            f"2021-09-05 15:34:09.186\n[latitude: 45.1234] [longitude: 7.6543] "
            f"[rel_alt: 1.2 abs_alt: 250.4]</font>\n"
        )
    (folder / "DJI_0001.SRT").write_text("\n".join(lines))
    return clip.path
