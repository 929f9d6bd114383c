"""Fixture videos that carry their own truth, generated at test time.

Every frame is drawn by `draw_frame`: a 4 x 4 grid of large grey cells in which
12 cells spell the frame's index in binary and the 4 corner cells form an
orientation anchor. The cells are big enough to survive downscaling to a few
dozen pixels, JPEG at quality 50, chroma subsampling and non-square stretching,
so `read_index` can look at any extracted JPEG and say exactly which source
frame it pictures -- or say None when the picture is turned, mirrored, or not
ours at all.

`make_clip` pipes those frames (rgb24) into the ffmpeg command-line tool and
returns a `Clip` that records what a correct reader must see: the presentation
time of every frame (0 = the first frame) and the display size after sample
aspect ratio and rotation.

Conventions (each is proved by tests/test_fixtures.py with ffmpeg/ffprobe):

- Index = ordinal of the frame among the frames kept in the file. With
  ``drop_pattern`` (variable frame rate) dropped frames leave a gap in time but
  not in the index, so ``clip.frame_times_ms[index]`` is always the time of the
  frame whose picture says ``index``.
- ``width``/``height`` are the coded (stored) size. The display size is the
  coded width times the sample aspect ratio, then swapped for 90/270 rotation.
  What a viewer should see is ``draw_frame(i, display_width, display_height)``;
  the stored frames are that picture with the display transform undone.
- ``rotate`` is the clockwise rotation a player must apply, the meaning a phone's
  ``rotate=90`` tag has. It is written straight into the MP4/MOV track header
  matrix per ISO/IEC 14496-12 (``rotate=90`` -> a=0, b=1, c=-1, d=0, as an iPhone
  portrait clip has). FFmpeg reports that matrix as ``rotation=-90`` (its display
  matrix angle is counter-clockwise) and ``ffmpeg`` autorotates it with
  ``transpose=clock``. We do not use ``-metadata:s:v:0 rotate=N``: FFmpeg 5.1
  ignores it when encoding, and with ``-c copy`` it writes the *inverse*
  matrix (a picture turned N degrees counter-clockwise).
- ``hflip`` adds a mirror: a player mirrors the stored picture left-right
  first, then turns it by ``rotate`` (csrc/extract.h's convention), so the 8
  combinations give all 8 matrices (``hflip`` + 270 is the transpose, ``hflip``
  + 90 the anti-transpose, ``hflip`` + 180 a vertical flip).
- ``start_offset_s`` uses ``-output_ts_offset``. MP4 then starts at exactly
  that time (ffprobe's first pts_time == start_offset_s). MPEG-TS always adds
  the muxer's own 1.4 s on top (so a TS file starts at 1.4 s even without an
  offset). ``frame_times_ms`` are relative to the first frame in both cases.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Sequence, Union

import numpy as np
from PIL import Image

# --- the picture ---------------------------------------------------------------

GRID = 4
INDEX_BITS = 12
MAX_INDEX = (1 << INDEX_BITS) - 1

# Levels are neither 0 nor 255: black canvas padding (RGB 0) must never read as
# a "black" cell, and a limited/full range mix-up (48 -> 37 or 57, 208 -> 224 or
# 195) must still classify correctly. They are 80 apart, so the +/-30 acceptance
# bands never touch.
BLACK = 48
GREY = 128
WHITE = 208
LEVEL_TOLERANCE = 30

# A muted purple frame marks the picture's edge: distinct from the black
# padding and from every cell, yet dark and nearly neutral so that it adds
# little JPEG ringing (luma or chroma) to the padding beside it.
BORDER_RGB = (96, 72, 96)

# Corner cells (row, col) -> level. With only white/black corners some flip
# (e.g. the transpose, which keeps the top-left corner in place) always leaves
# the corners unchanged; a grey top-right against a black bottom-left breaks
# every one of the 7 non-identity rotations/mirrors of the square.
ANCHOR = {(0, 0): WHITE, (0, GRID - 1): GREY, (GRID - 1, 0): BLACK, (GRID - 1, GRID - 1): BLACK}
# The other 12 cells in row-major order carry the index, most significant bit first.
DATA_CELLS = [(r, c) for r in range(GRID) for c in range(GRID) if (r, c) not in ANCHOR]
assert len(DATA_CELLS) == INDEX_BITS


def _edges(size: int) -> list[int]:
    """Cell boundaries along one axis; the same rounding in draw and read."""
    return [round(k * size / GRID) for k in range(GRID + 1)]


def draw_frame(index: int, width: int, height: int) -> np.ndarray:
    """The picture for frame `index` at `width` x `height`: an H x W x 3 uint8 RGB array.

    A 4 x 4 grid of grey cells fills the picture: the four corners are the
    orientation anchor (top-left white, top-right grey, bottom corners black)
    and the other twelve are the bits of `index` (white 1, black 0), read
    row-major, most significant first. A thin `BORDER_RGB` frame marks the edge.
    Cells scale with the picture, so any size and aspect ratio works.
    """
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"frame index {index} outside 0..{MAX_INDEX}")
    if width < GRID or height < GRID:
        raise ValueError(f"picture {width}x{height} too small for a {GRID}x{GRID} grid")
    levels = dict(ANCHOR)
    for bit, cell in enumerate(DATA_CELLS):
        levels[cell] = WHITE if (index >> (INDEX_BITS - 1 - bit)) & 1 else BLACK
    xs, ys = _edges(width), _edges(height)
    picture = np.empty((height, width, 3), np.uint8)
    for (r, c), level in levels.items():
        picture[ys[r] : ys[r + 1], xs[c] : xs[c + 1]] = level
    border = max(2, round(min(width, height) / 48))
    picture[:border], picture[-border:] = BORDER_RGB, BORDER_RGB
    picture[:, :border], picture[:, -border:] = BORDER_RGB, BORDER_RGB
    return picture


def _as_rgb(image: Union[str, os.PathLike, np.ndarray, Image.Image]) -> np.ndarray:
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            return np.repeat(image[:, :, None], 3, axis=2)
        return image[:, :, :3]
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    with Image.open(image) as im:
        return np.asarray(im.convert("RGB"))


def read_index(image, rect: tuple[int, int, int, int] | None = None) -> int | None:
    """The frame index pictured in `image`, or None if it is not a correctly
    oriented `draw_frame` picture.

    `image` is a path (any format Pillow reads, e.g. an extracted JPEG), a PIL
    image or an RGB ndarray. `rect` = (x, y, w, h) is the content rect: where the
    picture sits on a padded canvas; None means the whole image is the picture.
    The middle of each cell (the central 40 % each way, averaged) must be grey
    and within `LEVEL_TOLERANCE` of black, grey or white; the corners must match
    the anchor. Padding, foreign pictures and any rotation or mirror of the
    picture give None rather than a wrong number.
    """
    pixels = _as_rgb(image)
    if rect is not None:
        x, y, w, h = (int(v) for v in rect)
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > pixels.shape[1] or y + h > pixels.shape[0]:
            raise ValueError(f"content rect {rect} outside the {pixels.shape[1]}x{pixels.shape[0]} image")
        pixels = pixels[y : y + h, x : x + w]
    height, width = pixels.shape[:2]
    if width < GRID or height < GRID:
        return None
    xs, ys = _edges(width), _edges(height)
    levels = {}
    for r in range(GRID):
        for c in range(GRID):
            cy, cx = (ys[r] + ys[r + 1]) / 2, (xs[c] + xs[c + 1]) / 2
            hy, hx = max(0.5, 0.2 * (ys[r + 1] - ys[r])), max(0.5, 0.2 * (xs[c + 1] - xs[c]))
            patch = pixels[round(cy - hy) : round(cy + hy), round(cx - hx) : round(cx + hx)]
            mean = patch.reshape(-1, 3).astype(np.float64).mean(axis=0)
            # Our cells are grey; a coloured patch means this is not our picture.
            if mean.max() - mean.min() > 48:
                return None
            level = _classify(mean.mean())
            if level is None:
                return None
            levels[(r, c)] = level
    if any(levels[cell] != want for cell, want in ANCHOR.items()):
        return None
    index = 0
    for cell in DATA_CELLS:
        if levels[cell] == GREY:
            return None
        index = (index << 1) | (levels[cell] == WHITE)
    return index


def _classify(value: float) -> int | None:
    for level in (BLACK, GREY, WHITE):
        if abs(value - level) <= LEVEL_TOLERANCE:
            return level
    return None


# --- clips ---------------------------------------------------------------------

CONTAINER_BY_SUFFIX = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".ts": "mpegts",
    ".m2ts": "mpegts",
    ".avi": "avi",
}

DropPattern = Union[Callable[[int], bool], Iterable[int], None]


@dataclass
class Clip:
    """A generated fixture video and the truth about it.

    `frame_times_ms[i]` is the presentation time of the frame whose picture
    reads `i`, on a timeline where the first frame is at 0 (container start
    offsets excluded). `times_by_index` is the same as a dict. The display size
    is what a viewer sees: coded size x sample aspect ratio, then rotation.
    `duration_s` runs from the first frame to the end of the last one.
    """

    path: Path
    frame_times_ms: list[float]
    times_by_index: dict[int, float]
    display_width: int
    display_height: int
    fps: float
    duration_s: float
    codec: str
    args: list[str]
    width: int = 0
    height: int = 0
    pix_fmt: str = "yuv420p"
    container: str = ""
    rotate: int = 0
    sar: tuple[int, int] | None = None
    start_offset_s: float = 0.0
    gop: int | None = None
    bframes: int | None = None
    hflip: bool = False
    # Position of each kept frame on the constant-rate grid it was drawn on.
    grid_positions: list[int] = field(default_factory=list)

    @property
    def frame_count(self) -> int:
        return len(self.frame_times_ms)


def _codec_args(codec: str, pix_fmt: str, gop: int | None, bframes: int | None) -> list[str]:
    """Encoder options: fast, deterministic GOPs (no scene-cut keyframes), quiet."""
    g = [] if gop is None else ["-g", str(gop)]
    bf = [] if bframes is None else ["-bf", str(bframes)]
    if codec == "libx264":
        # ultrafast turns B-frames off; an explicit -bf turns them back on.
        return ["-preset", "ultrafast", *g, *(["-sc_threshold", "0"] if gop else []), *bf]
    if codec == "libx265":
        params = ["log-level=error"]
        if gop is not None:
            params += [f"keyint={gop}", f"min-keyint={gop}", "scenecut=0"]
        if bframes is not None:
            params.append(f"bframes={bframes}")
        return ["-preset", "ultrafast", "-x265-params", ":".join(params)]
    if bframes:
        if codec not in ("mpeg2video", "mpeg4"):
            raise ValueError(f"{codec}: B-frames are not an option of this encoder")
    if codec == "libvpx-vp9":
        kf = [] if gop is None else ["-keyint_min", str(gop)]
        return ["-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-crf", "32", "-b:v", "0", *g, *kf]
    if codec == "libaom-av1":
        kf = [] if gop is None else ["-keyint_min", str(gop)]
        return ["-usage", "realtime", "-cpu-used", "8", "-row-mt", "1", "-crf", "35", "-b:v", "0", *g, *kf]
    if codec == "libsvtav1":
        return ["-preset", "12", "-crf", "40", *g]
    if codec == "mpeg2video":
        return ["-q:v", "3", *g, *bf]
    if codec == "mjpeg":
        if gop is not None:
            raise ValueError("mjpeg: every frame is a keyframe; gop does not apply")
        return ["-q:v", "3"]
    return [*g, *bf]


def _encoder_pix_fmt(codec: str, pix_fmt: str) -> str:
    # FFmpeg 5.1's MJPEG encoder wants the full-range "yuvj" formats.
    if codec == "mjpeg" and pix_fmt in ("yuv420p", "yuv422p", "yuv444p"):
        return "yuvj" + pix_fmt[3:]
    return pix_fmt


def _dropped(drop_pattern: DropPattern, total: int) -> set[int]:
    if drop_pattern is None:
        return set()
    if callable(drop_pattern):
        return {n for n in range(total) if drop_pattern(n)}
    return {int(n) for n in drop_pattern if 0 <= int(n) < total}


def _runs(positions: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted positions -> inclusive (first, last) runs, to keep the select expression short."""
    runs: list[tuple[int, int]] = []
    for n in positions:
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def _stored_picture(
    index: int,
    display: tuple[int, int],
    pre_rotation: tuple[int, int],
    coded: tuple[int, int],
    rotate: int,
    hflip: bool = False,
) -> np.ndarray:
    """The coded frame whose display (stretch by SAR, mirror if hflip, then
    rotate clockwise) is draw_frame(index, *display)."""
    picture = draw_frame(index, *display)
    # np.rot90 turns counter-clockwise: that undoes a clockwise display rotation.
    picture = np.rot90(picture, k=rotate // 90)
    if hflip:
        picture = picture[:, ::-1]  # a left-right mirror is its own inverse
    if pre_rotation != coded:
        shrink = pre_rotation[0] > coded[0]
        resample = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
        picture = np.asarray(Image.fromarray(np.ascontiguousarray(picture)).resize(coded, resample))
    return np.ascontiguousarray(picture)


def make_clip(
    path: Union[str, os.PathLike],
    *,
    codec: str = "libx264",
    container: str | None = None,
    width: int = 320,
    height: int = 240,
    fps: Union[int, float, str, Fraction] = 30,
    seconds: float = 5.0,
    pix_fmt: str = "yuv420p",
    gop: int | None = None,
    bframes: int | None = None,
    rotate: int = 0,
    hflip: bool = False,
    sar: tuple[int, int] | None = None,
    start_offset_s: float = 0.0,
    drop_pattern: DropPattern = None,
    extra_args: Sequence[str] = (),
) -> Clip:
    """Encode a clip of `draw_frame` pictures with the ffmpeg CLI and return its truth.

    `width` x `height` is the coded size; `fps` the frame grid rate (an int,
    float, "30000/1001" or Fraction); round(seconds * fps) frames are drawn.
    `gop` is the keyframe interval in frames (scene-cut keyframes are turned
    off so the GOP is exact), `bframes` the B-frame count (x264, x265,
    MPEG-2). `rotate` (0/90/180/270, clockwise, MP4/MOV only) and `hflip` (a
    left-right mirror before the turn) are written as the track matrix; `sar` = (num, den) marks non-square pixels (display width =
    width * num / den); the stored frames are pre-squeezed and pre-rotated so
    that a correct player shows draw_frame at the display size.
    `start_offset_s` shifts every timestamp (-output_ts_offset). `drop_pattern`
    (a predicate on grid position, or the positions themselves) removes frames
    while keeping the others' timestamps: variable frame rate. `extra_args`
    go to the output just before the file name (e.g. "-movflags +faststart").
    The file is written beside `path` and renamed into place, so a failed
    encode never leaves a half-written fixture in a cache.
    """
    path = Path(path)
    container = container or CONTAINER_BY_SUFFIX.get(path.suffix.lower())
    if container is None:
        raise ValueError(f"{path}: cannot tell the container from the suffix; pass container=")
    rotate %= 360
    if rotate not in (0, 90, 180, 270):
        raise ValueError(f"rotate={rotate}: only multiples of 90 degrees")
    if (rotate or hflip) and container not in ("mp4", "mov"):
        raise ValueError(f"rotate/hflip: the track matrix is an MP4/MOV feature, not {container}")
    rate = Fraction(fps) if not isinstance(fps, float) else Fraction(fps).limit_denominator(1001)
    total = max(1, round(seconds * rate))

    sar_ratio = Fraction(*sar) if sar else Fraction(1)
    pre_rotation = (round(width * sar_ratio), height)
    display = pre_rotation if rotate in (0, 180) else pre_rotation[::-1]

    dropped = _dropped(drop_pattern, total)
    kept = [n for n in range(total) if n not in dropped]
    if not kept:
        raise ValueError("drop_pattern drops every frame")
    ordinal = {n: i for i, n in enumerate(kept)}

    filters = []
    if dropped:
        terms = "+".join(f"between(n,{a},{b})" for a, b in _runs(sorted(dropped)))
        filters.append(f"select='not({terms})'")
    if sar:
        filters.append(f"setsar={sar[0]}/{sar[1]}")

    tmp = path.with_name(f".{path.name}.partial")
    args = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-video_size",
        f"{width}x{height}",
        "-framerate",
        f"{rate.numerator}/{rate.denominator}",
        "-i",
        "pipe:0",
        "-an",
        "-c:v",
        codec,
        *_codec_args(codec, pix_fmt, gop, bframes),
        "-pix_fmt",
        _encoder_pix_fmt(codec, pix_fmt),
        *(["-vf", ",".join(filters)] if filters else []),
        # Keep the input timestamps as they are: no frames duplicated to fill
        # the gaps a drop_pattern leaves, none dropped.
        "-fps_mode",
        "passthrough",
        *(["-output_ts_offset", f"{start_offset_s:.6f}"] if start_offset_s else []),
        *map(str, extra_args),
        "-f",
        container,
        str(tmp),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    # stderr goes to a file, not a pipe: a chatty encoder (SVT-AV1 prints its own
    # banner) must never block while we are still writing frames to stdin.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
        try:
            for n in range(total):
                if n in ordinal:
                    frame = _stored_picture(ordinal[n], display, pre_rotation, (width, height), rotate, hflip)
                else:
                    # Dropped positions get a blank picture read_index rejects,
                    # so a frame that slips through the filter cannot pass as another.
                    frame = np.full((height, width, 3), GREY, np.uint8)
                proc.stdin.write(frame.tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        code = proc.wait()
        log.seek(0)
        message = log.read().decode(errors="replace").strip()
    if code != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg failed ({code}) making {path.name}: {message}\n{' '.join(args)}")
    if rotate or hflip:
        _write_track_matrix(tmp, rotate, pre_rotation, hflip)
    os.replace(tmp, path)

    step_ms = 1000 / rate
    times = [float((n - kept[0]) * step_ms) for n in kept]
    return Clip(
        path=path,
        frame_times_ms=times,
        times_by_index=dict(enumerate(times)),
        display_width=display[0],
        display_height=display[1],
        fps=float(rate),
        duration_s=float((kept[-1] - kept[0] + 1) / rate),
        codec=codec,
        args=args,
        width=width,
        height=height,
        pix_fmt=pix_fmt,
        container=container,
        rotate=rotate,
        hflip=hflip,
        sar=sar,
        start_offset_s=start_offset_s,
        gop=gop,
        bframes=bframes,
        grid_positions=kept,
    )


def frame_at(clip: Clip, time_ms: float) -> int:
    """The index of the frame of `clip` presented at `time_ms` (within 1 ms).

    Raises ValueError when no frame is there, naming the nearest ones, so a
    test that asks for a time between frames fails loudly instead of rounding.
    """
    for index, t in enumerate(clip.frame_times_ms):
        if abs(t - time_ms) <= 1.0:
            return index
    near = sorted(clip.frame_times_ms, key=lambda t: abs(t - time_ms))[:2]
    raise ValueError(f"{clip.path.name}: no frame at {time_ms} ms (nearest: {near})")


# --- the track header matrix -------------------------------------------------


def _boxes(data: bytes | memoryview, start: int, end: int):
    """(type, payload start, box end) of each ISO BMFF box in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"malformed box {kind!r} at {pos}")
        yield kind.decode("latin-1"), pos + header, pos + size
        pos += size


def track_matrix(rotate: int, hflip: bool = False) -> tuple[int, int, int, int]:
    """(a, b, c, d) of the display matrix that mirrors left-right (if `hflip`)
    and then turns clockwise by `rotate`.

    ISO/IEC 14496-12 maps (x, y) to (a*x + c*y + tx, b*x + d*y + ty), y down:
    the row vector (x, y) times [[a, b], [c, d]]. A clockwise turn by theta is
    a = d = cos, b = sin, c = -sin; the mirror is diag(-1, 1), and applied
    first it is the left factor of the product.
    """
    cos, sin = {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}[rotate]
    turn = ((cos, sin), (-sin, cos))
    first = ((-1, 0), (0, 1)) if hflip else ((1, 0), (0, 1))
    (a, b), (c, d) = [[sum(first[i][k] * turn[k][j] for k in range(2)) for j in range(2)] for i in range(2)]
    return a, b, c, d


def _write_track_matrix(path: Path, rotate: int, size: tuple[int, int], hflip: bool = False) -> None:
    """Overwrite the video track's tkhd matrix with `track_matrix(rotate, hflip)`.

    The translation moves the transformed picture back into positive
    coordinates, as cameras write it (`size` is the un-rotated display size of
    the tkhd).
    """
    w, h = size
    a, b, c, d = track_matrix(rotate, hflip)
    corners = [(x, y) for x in (0, w) for y in (0, h)]
    tx = -min(a * x + c * y for x, y in corners)
    ty = -min(b * x + d * y for x, y in corners)
    fixed = lambda v: int(v * 65536) & 0xFFFFFFFF  # 16.16, two's complement
    matrix = struct.pack(">9I", fixed(a), fixed(b), 0, fixed(c), fixed(d), 0, fixed(tx), fixed(ty), 0x40000000)
    data = bytearray(path.read_bytes())
    patched = 0
    for kind, moov, moov_end in _boxes(data, 0, len(data)):
        if kind != "moov":
            continue
        for kind, trak, trak_end in _boxes(data, moov, moov_end):
            if kind != "trak":
                continue
            children = {k: (s, e) for k, s, e in _boxes(data, trak, trak_end)}
            if "tkhd" not in children or "mdia" not in children or not _is_video(data, *children["mdia"]):
                continue
            tkhd = children["tkhd"][0]
            version = data[tkhd]
            # version/flags, then times, track id, reserved, duration, reserved
            # (8), layer, alternate group, volume, reserved: the matrix follows.
            offset = tkhd + 4 + (32 if version == 1 else 20) + 8 + 8
            data[offset : offset + 36] = matrix
            patched += 1
    if patched != 1:
        raise RuntimeError(f"{path}: expected one video track header, patched {patched}")
    path.write_bytes(data)


def _is_video(data: bytes | memoryview, mdia: int, mdia_end: int) -> bool:
    for kind, start, _ in _boxes(data, mdia, mdia_end):
        if kind == "hdlr":
            return bytes(data[start + 8 : start + 12]) == b"vide"
    return False


# --- the sync sample table ------------------------------------------------------


def _video_stbl(data: bytes | memoryview) -> tuple[list[tuple[int, int]], int, int]:
    """The (start, end) of every box from moov down to the video track's stbl,
    outermost first (their headers hold sizes), and the stbl's payload span."""
    for kind, moov, moov_end in _boxes(data, 0, len(data)):
        if kind != "moov":
            continue
        for kind, trak, trak_end in _boxes(data, moov, moov_end):
            children = {k: (s, e) for k, s, e in _boxes(data, trak, trak_end)} if kind == "trak" else {}
            if "mdia" not in children or not _is_video(data, *children["mdia"]):
                continue
            path = [(moov, moov_end), (trak, trak_end)]
            start, end = children["mdia"]
            for name in ("minf", "stbl"):
                path.append((start, end))
                start, end = next((s, e) for k, s, e in _boxes(data, start, end) if k == name)
            return path, start, end
    raise ValueError("no video track")


def _sample_count(data: bytes | memoryview, stbl: int, stbl_end: int) -> int:
    stsz = next(s for k, s, _ in _boxes(data, stbl, stbl_end) if k == "stsz")
    return struct.unpack_from(">I", data, stsz + 8)[0]


def sync_samples(path: Union[str, os.PathLike]) -> list[int] | None:
    """The video track's sync samples (stss, numbered from 1); None when the
    table is absent (then every sample is one, ISO/IEC 14496-12 8.6.2)."""
    data = Path(path).read_bytes()
    _, stbl, stbl_end = _video_stbl(data)
    for kind, start, _ in _boxes(data, stbl, stbl_end):
        if kind == "stss":
            count = struct.unpack_from(">I", data, start + 4)[0]
            return list(struct.unpack_from(f">{count}I", data, start + 8))
    return None


def rewrite_sync_samples(source: Union[str, os.PathLike], dest: Union[str, os.PathLike], every: int | None) -> Path:
    """Copy an MP4/3GP to `dest` with the video track's sync sample table
    lying, as old phones' muxers and some remuxers write it: with `every` = n,
    sample 1 and every n-th after it are marked sync whatever the pictures
    are (P-frames among them); with None the table is removed, which per the
    spec marks every sample a sync sample. The pictures are left as they are.
    The moov must follow the media data (ffmpeg's default): its size changes,
    no chunk offset does. `source` is never modified."""
    data = bytearray(Path(source).read_bytes())
    path, stbl, stbl_end = _video_stbl(data)
    stss = next(((s - 8, e) for k, s, e in _boxes(data, stbl, stbl_end) if k == "stss"), None)
    moov_start = path[0][0] - 8
    if any(k == "mdat" and s > moov_start for k, s, _ in _boxes(data, 0, len(data))):
        raise ValueError(f"{source}: the moov comes before the media data (faststart): offsets would move")
    if every is None:
        new = b""
    else:
        marked = list(range(1, _sample_count(data, stbl, stbl_end) + 1, every))
        new = struct.pack(f">I4sII{len(marked)}I", 16 + 4 * len(marked), b"stss", 0, len(marked), *marked)
    at, old_end = stss if stss else (stbl_end, stbl_end)
    delta = len(new) - (old_end - at)
    data[at:old_end] = new
    for start, _ in path + [(stbl, stbl_end)]:
        header = start - 8  # 32-bit sizes: ffmpeg writes no 64-bit moov for clips this small
        size = struct.unpack_from(">I", data, header)[0]
        struct.pack_into(">I", data, header, size + delta)
    dest = Path(dest)
    dest.write_bytes(bytes(data))
    return dest


# --- bad inputs ----------------------------------------------------------------


def make_audio_only(path: Union[str, os.PathLike], seconds: float = 2.0) -> Path:
    """A valid media file with one AAC audio stream and no video (for .m4a,
    .mp4, .mkv ...: the container follows the suffix)."""
    path = Path(path)
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=48000:duration={seconds}",
            "-c:a",
            "aac",
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    return path


def make_text_file(path: Union[str, os.PathLike]) -> Path:
    """A plain text file, whatever its suffix claims."""
    path = Path(path)
    path.write_text("These are notes from a walk, not a video.\n" * 40)
    return path


def truncate(source: Union[str, os.PathLike], dest: Union[str, os.PathLike], keep_fraction: float) -> Path:
    """Copy the first `keep_fraction` of `source`'s bytes to `dest`, as an
    interrupted copy or recording would leave it. `source` is never modified."""
    if not 0 <= keep_fraction <= 1:
        raise ValueError(f"keep_fraction {keep_fraction} outside 0..1")
    data = Path(source).read_bytes()
    dest = Path(dest)
    dest.write_bytes(data[: int(len(data) * keep_fraction)])
    return dest


def flip_bytes(
    source: Union[str, os.PathLike], dest: Union[str, os.PathLike], offset_fraction: float, count: int, seed: int = 0
) -> Path:
    """Copy `source` to `dest` with `count` consecutive bytes from
    `offset_fraction` of the way in XOR-ed with non-zero random masks (every
    one of them changes), reproducibly for a given `seed`. A burst, like a bad
    storage sector. `source` is never modified."""
    data = bytearray(Path(source).read_bytes())
    start = min(int(len(data) * offset_fraction), max(0, len(data) - count))
    rng = random.Random(seed)
    for i in range(start, min(start + count, len(data))):
        data[i] ^= rng.randrange(1, 256)
    dest = Path(dest)
    dest.write_bytes(bytes(data))
    return dest


def probe(path: Union[str, os.PathLike], *entries: str, extra: Sequence[str] = ()) -> dict:
    """ffprobe's JSON for the first video stream's ``entries`` (``-show_entries``
    terms such as "packet=pts,pos"), with ``extra`` options before them."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            *extra,
            "-select_streams",
            "v:0",
            "-show_entries",
            ":".join(entries),
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    doc: dict = json.loads(out)
    return doc


def video_packets(path: Union[str, os.PathLike], entries: str = "pts,pos,flags") -> list[dict]:
    """The first video stream's packets as ffprobe lists them (file order),
    each a dict of the ``entries`` asked for (strings, as ffprobe writes them)."""
    return probe(path, f"packet={entries}").get("packets", [])
