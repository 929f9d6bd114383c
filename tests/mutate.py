"""Deterministic damage for the fuzz test: bit flips, truncations, and
corruption aimed at container structure (MP4 boxes, Matroska/WebM EBML
elements, AVI RIFF chunks, MPEG-TS packets), including forged durations and
timescales. Every mutation is a pure function of (clip bytes, seed), so a
failing case can be made again from its name alone."""

from __future__ import annotations

import random
import struct
from typing import Callable, Iterator

# --- generic ------------------------------------------------------------------


def flip_bits(data: bytes, rnd: random.Random, count: int, near_ends: bool) -> bytes:
    """Flips ``count`` bits; with ``near_ends`` within the first and last 4 KiB,
    where containers keep their headers and indexes."""
    out = bytearray(data)
    for _ in range(count):
        if near_ends:
            span = min(4096, len(out))
            pos = rnd.randrange(span) if rnd.random() < 0.5 else len(out) - 1 - rnd.randrange(span)
        else:
            pos = rnd.randrange(len(out))
        out[pos] ^= 1 << rnd.randrange(8)
    return bytes(out)


def truncate_to(data: bytes, rnd: random.Random) -> bytes:
    """Cuts the file: anywhere, at a few hundred bytes, or just short of the end."""
    kind = rnd.randrange(3)
    if kind == 0:
        return data[: rnd.randrange(1, len(data))]
    if kind == 1:
        return data[: rnd.randrange(16, 1024)]
    return data[: len(data) - rnd.randrange(1, 2048)]


def _put(data: bytes, offset: int, raw: bytes) -> bytes:
    out = bytearray(data)
    out[offset : offset + len(raw)] = raw
    return bytes(out)


# --- MP4 / MOV boxes ------------------------------------------------------------

MP4_CONTAINERS = {
    b"moov",
    b"trak",
    b"mdia",
    b"minf",
    b"stbl",
    b"edts",
    b"dinf",
    b"udta",
    b"mvex",
    b"moof",
    b"traf",
    b"mfra",
}
# Full boxes whose first field after version/flags is an entry count.
MP4_COUNTED = {
    b"stsz": 16,
    b"stz2": 16,
    b"stco": 12,
    b"co64": 12,
    b"stts": 12,
    b"stss": 12,
    b"ctts": 12,
    b"stsc": 12,
    b"elst": 12,
    b"trun": 12,
    b"stsd": 12,
    b"dref": 12,
}


def mp4_boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, bytes, int]]:
    """(offset, size, type, header length) of every box, depth first."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1 and pos + 16 <= end:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield pos, size, kind, header
        if kind in MP4_CONTAINERS:
            yield from mp4_boxes(data, pos + header, pos + size)
        pos += size


def _forge_time_fields(data: bytes, pos: int, header: int, rnd: random.Random) -> bytes:
    """mvhd/mdhd/tkhd: timescale and/or duration set to absurd or zero values."""
    body = pos + header
    version = data[body]
    if data[pos + 4 : pos + 8] == b"tkhd":
        offset, width = (body + 28, 8) if version == 1 else (body + 20, 4)
        return _put(data, offset, rnd.choice([0, 1, 2 ** (8 * width) - 1]).to_bytes(width, "big"))
    timescale_at, duration_at, width = (body + 20, body + 24, 8) if version == 1 else (body + 12, body + 16, 4)
    old_scale = struct.unpack(">I", data[timescale_at : timescale_at + 4])[0]
    old_duration = int.from_bytes(data[duration_at : duration_at + width], "big")
    choice = rnd.randrange(4)
    if choice in (0, 2):
        data = _put(
            data, timescale_at, struct.pack(">I", rnd.choice([0, 1, 0xFFFFFFFF, old_scale * 1000 & 0xFFFFFFFF]))
        )
    if choice in (1, 2):
        value = rnd.choice([0, 1, 2 ** (8 * width) - 1, 2**32 - 1, old_duration * 1000])
        data = _put(data, duration_at, (value % 2 ** (8 * width)).to_bytes(width, "big"))
    if choice == 3:  # a duration claiming more than the samples hold, the timescale kept
        data = _put(data, duration_at, ((old_duration * 10**6) % 2 ** (8 * width)).to_bytes(width, "big"))
    return data


def mutate_mp4(data: bytes, rnd: random.Random) -> bytes:
    boxes = list(mp4_boxes(data))
    kind = rnd.randrange(4)
    timed = [b for b in boxes if b[2] in (b"mvhd", b"mdhd", b"tkhd")]
    counted = [b for b in boxes if b[2] in MP4_COUNTED]
    if kind == 0 and timed:
        pos, _, _, header = rnd.choice(timed)
        return _forge_time_fields(data, pos, header, rnd)
    if kind == 1 and counted:
        pos, size, box, header = rnd.choice(counted)
        at = pos + MP4_COUNTED[box] if box != b"stsz" else pos + rnd.choice([12, 16])
        old = struct.unpack(">I", data[at : at + 4])[0] if at + 4 <= pos + size else 0
        return _put(data, at, struct.pack(">I", rnd.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, old * 2 & 0xFFFFFFFF])))
    if kind == 2 and boxes:  # a box's size field
        pos, size, _, _ = rnd.choice(boxes)
        value = rnd.choice([0, 1, 7, 8, size - 1, size + 1, 0x7FFFFFFF, 0xFFFFFFFF])
        return _put(data, pos, struct.pack(">I", value & 0xFFFFFFFF))
    if boxes:  # random bytes inside one box's fields
        pos, size, _, header = rnd.choice([b for b in boxes if b[2] != b"mdat"] or boxes)
        if size > header:
            at = pos + header + rnd.randrange(min(size - header, 64))
            return _put(data, at, bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 9))))
    return flip_bits(data, rnd, 8, True)


# --- Matroska / WebM (EBML) ---------------------------------------------------------

EBML_MASTERS = {
    0x1A45DFA3,
    0x18538067,
    0x114D9B74,
    0x4DBB,
    0x1549A966,
    0x1654AE6B,
    0xAE,
    0xE0,
    0x1C53BB6B,
    0xBB,
    0xB7,
    0x1F43B675,
    0xA0,
    0x1254C367,
    0x7373,
    0x6D80,
    0x6240,
    0x5034,
}
EBML_DURATION, EBML_TIMECODE_SCALE, EBML_CLUSTER_TIME = 0x4489, 0x2AD7B1, 0xE7
EBML_DEFAULT_DURATION, EBML_CUE_TIME, EBML_CUE_POSITION = 0x23E383, 0xB3, 0xF1


def _vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int] | None:
    """(value, length) of the EBML variable-size integer at pos."""
    if pos >= len(data) or data[pos] == 0:
        return None
    length = 8 - data[pos].bit_length() + 1
    if pos + length > len(data):
        return None
    value = int.from_bytes(data[pos : pos + length], "big")
    if not keep_marker:
        value &= (1 << (7 * length)) - 1
    return value, length


def ebml_elements(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int, int, int]]:
    """(offset, id, size field offset, size field length, data offset, data size) depth first."""
    end = len(data) if end is None else end
    pos = start
    while pos < end:
        ident = _vint(data, pos, True)
        if not ident or ident[1] > 4:
            return
        size = _vint(data, pos + ident[1], False)
        if not size:
            return
        body = pos + ident[1] + size[1]
        length = size[0]
        if length == (1 << (7 * size[1])) - 1:  # unknown size: runs to the parent's end
            length = end - body
        length = min(length, end - body)
        yield pos, ident[0], pos + ident[1], size[1], body, length
        if ident[0] in EBML_MASTERS:
            yield from ebml_elements(data, body, body + length)
        pos = body + length


def mutate_ebml(data: bytes, rnd: random.Random) -> bytes:
    elements = list(ebml_elements(data))
    by_id = lambda *ids: [e for e in elements if e[1] in ids]  # noqa: E731
    kind = rnd.randrange(4)
    if kind == 0 and by_id(EBML_DURATION):  # forged Duration (float, in TimecodeScale units)
        _, _, _, _, body, length = by_id(EBML_DURATION)[0]
        value = rnd.choice([1e12, 1e15, 1e300, -1.0, 0.0, float("nan"), float("inf"), 2.5e9])
        return _put(data, body, struct.pack(">d" if length == 8 else ">f", value))
    if kind == 1:  # forged TimecodeScale or other timing integers
        targets = by_id(EBML_TIMECODE_SCALE, EBML_CLUSTER_TIME, EBML_DEFAULT_DURATION, EBML_CUE_TIME, EBML_CUE_POSITION)
        if targets:
            _, _, _, _, body, length = rnd.choice(targets)
            top = 2 ** (8 * length) - 1
            return _put(data, body, rnd.choice([0, 1, top, top // 2, 10**9 % (top + 1)]).to_bytes(length, "big"))
    if kind == 2 and elements:  # a size field: zero, unknown, huge, off by one
        _, _, at, width, _, length = rnd.choice(elements)
        top = (1 << (7 * width)) - 1
        value = rnd.choice([0, 1, top, top - 1, length + 1, max(0, length - 1), length * 2]) & top
        return _put(data, at, ((1 << (7 * width)) | value).to_bytes(width, "big"))
    if elements:  # an element ID's bytes
        pos = rnd.choice(elements)[0]
        return _put(data, pos, bytes([data[pos] ^ (1 << rnd.randrange(8))]))
    return flip_bits(data, rnd, 8, True)


# --- AVI (RIFF) -------------------------------------------------------------------------


def riff_chunks(data: bytes, start: int = 12, end: int | None = None) -> Iterator[tuple[int, bytes, int]]:
    """(offset, fourcc, size) of every chunk, LISTs entered."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        kind, size = struct.unpack("<4sI", data[pos : pos + 8])
        yield pos, kind, size
        if kind == b"LIST":
            yield from riff_chunks(data, pos + 12, min(end, pos + 8 + size))
        pos += 8 + size + (size & 1)


def mutate_avi(data: bytes, rnd: random.Random) -> bytes:
    chunks = list(riff_chunks(data))
    named = {k: [c for c in chunks if c[1] == k] for k in (b"avih", b"strh", b"idx1")}
    kind = rnd.randrange(3)
    huge = [0, 1, 0x7FFFFFFF, 0xFFFFFFFF]
    if kind == 0 and named[b"avih"]:  # dwMicroSecPerFrame, dwTotalFrames
        pos = named[b"avih"][0][0] + 8
        return _put(data, pos + rnd.choice([0, 16]), struct.pack("<I", rnd.choice(huge)))
    if kind == 1 and named[b"strh"]:  # dwScale, dwRate, dwStart, dwLength
        pos = named[b"strh"][0][0] + 8
        return _put(data, pos + rnd.choice([20, 24, 28, 32]), struct.pack("<I", rnd.choice(huge)))
    if chunks:  # a chunk's size, or an index entry
        if named[b"idx1"] and rnd.random() < 0.3:
            pos, _, size = named[b"idx1"][0]
            entry = pos + 8 + 16 * rnd.randrange(max(1, size // 16))
            return _put(data, entry + rnd.choice([8, 12]), struct.pack("<I", rnd.choice(huge)))
        pos, _, size = rnd.choice(chunks)
        return _put(data, pos + 4, struct.pack("<I", rnd.choice(huge + [size + 1, max(0, size - 1)])))
    return flip_bits(data, rnd, 8, True)


# --- MPEG-TS ----------------------------------------------------------------------------


def mutate_ts(data: bytes, rnd: random.Random) -> bytes:
    """Packet headers, PIDs, PES timestamps (forged PTS jumps)."""
    packets = len(data) // 188
    if packets == 0:
        return flip_bits(data, rnd, 8, False)
    out = bytearray(data)
    kind = rnd.randrange(3)
    for _ in range(rnd.choice([1, 4, 16])):
        p = rnd.randrange(packets) * 188
        if kind == 0:
            out[p] = rnd.randrange(256)  # sync byte
        elif kind == 1:
            out[p + 1] ^= 1 << rnd.randrange(5)  # PID / flags
            out[p + 2] = rnd.randrange(256)
        else:  # PES header: the PTS bytes when it starts one
            start = p + 4 + (1 + out[p + 4] if out[p + 3] & 0x20 else 0)
            if start + 14 <= len(out) and out[start : start + 3] == b"\x00\x00\x01":
                out[start + 9 : start + 14] = bytes(
                    rnd.choice([0x21, 0x3F, 0xFF]) if i == 0 else rnd.randrange(256) for i in range(5)
                )
            else:
                out[p + 4 + rnd.randrange(184)] ^= 0xFF
    return bytes(out)


STRUCTURE: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "mp4": mutate_mp4,
    "mkv": mutate_ebml,
    "webm": mutate_ebml,
    "avi": mutate_avi,
    "ts": mutate_ts,
}


def mutations(container: str, data: bytes, count: int) -> Iterator[tuple[str, bytes]]:
    """``count`` named mutations of ``data``: a quarter bit flips, a sixth
    truncations, the rest aimed at the container's structure."""
    for i in range(count):
        rnd = random.Random(f"{container}-{i}")
        share = i % 12
        if share < 3:
            n = rnd.choice([1, 8, 64])
            yield f"flip{n}-{i}", flip_bits(data, rnd, n, near_ends=share < 2)
        elif share < 5:
            yield f"cut-{i}", truncate_to(data, rnd)
        else:
            yield f"struct-{i}", STRUCTURE[container](data, rnd)
