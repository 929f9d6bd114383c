"""The benchmark panel: camera shapes users record every day, made from real footage.

    python benchmarks/panel_clips.py [--quick]    # generate (once) and list the clips

Each clip is the real GoPro recording in /work/shared/data (848x480 H.264,
10.5 s, looped) scaled to the camera's size, resampled to its frame rate, with
temporal sensor-like noise added at full resolution, so the encoder has to
spend the camera's real bitrate (a clean upscale would compress to almost
nothing and decode unrealistically fast). Without that file, ffmpeg's
``testsrc2`` pattern stands in (said on stderr). Encoders keep the features a
camera's hardware encoder uses (CABAC, B-frames where the camera has them,
HEVC with SAO), because they set what decoding costs.

Clips longer than a few seconds are one segment encoded once and repeated
(joined without re-encoding, see _join). Clips are cached in benchmarks/.cache
(gitignored) under names that carry every setting, so changing a setting
makes a new clip.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
FOOTAGE_NAME = "gopro-max-heromode.mp4"
NOISE = "noise=alls=12:allf=t+u"


def footage() -> Path | None:
    """The real recording: ../shared/data beside the checkout (as CI has it), else /work/shared/data."""
    for candidate in (HERE.parent.parent / "shared" / "data" / FOOTAGE_NAME, Path("/work/shared/data") / FOOTAGE_NAME):
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class Shape:
    """One camera shape of the panel."""

    key: str  # short name used in tables and on the command line
    title: str  # what the row says
    width: int
    height: int
    fps: int
    seconds: int
    codec: str  # "hevc" or "h264"
    bitrate: str
    gop_s: float  # keyframe interval in seconds
    bframes: int = 0
    container: str = "mp4"  # "mp4" or "mts" (MPEG-TS with 192-byte packets, as AVCHD)
    memory_only: bool = False  # only `extract` runs (peak memory against duration)

    @property
    def keyint(self) -> int:
        return max(1, round(self.gop_s * self.fps))

    @property
    def family(self) -> str:
        """What the file name says: the memory clips are one shape at two lengths."""
        return "mem" if self.memory_only else self.key

    @property
    def segment_s(self) -> int:
        """Long clips are this many seconds encoded once and joined without re-encoding."""
        return 20 if self.gop_s >= 10 else 30 if self.memory_only else 4

    @property
    def path(self) -> Path:
        ext = "MTS" if self.container == "mts" else "mp4"
        name = (
            f"panel-{self.family}-{self.width}x{self.height}-{self.fps}fps-{self.codec}-{self.bitrate}"
            f"-g{self.keyint}-b{self.bframes}-{self.seconds}s"
        )
        return CACHE / f"{name}.{ext}"

    def shortened(self, seconds: int) -> "Shape":
        return Shape(**{**self.__dict__, "seconds": seconds})


PANEL = [
    # GoPro HERO 2.7K 4:3 at 120 fps, HEVC 60 Mbit/s, a keyframe every 0.5 s,
    # with x265's default keyframe sizes (the cheap-keyframe case: fixed costs show).
    Shape("gopro", "GoPro-like 2.7K/120 HEVC, 0.5 s keyframes", 2704, 2028, 120, 20, "hevc", "60M", 0.5, bframes=3),
    # Phones: H.264 1080p30 (Android's default), HEVC 4K30 (iPhone's), 1 s keyframes, no B-frames.
    Shape("phone1080", "phone 1080p30 H.264, 1 s keyframes", 1920, 1080, 30, 20, "h264", "17M", 1.0),
    Shape("phone4k", "phone 4K30 HEVC, 1 s keyframes", 3840, 2160, 30, 20, "hevc", "40M", 1.0),
    # AVCHD camcorder: 1080p50 H.264 in MPEG-TS (.MTS), 0.5 s GOP with 2 B-frames (M=3).
    Shape(
        "avchd",
        "AVCHD 1080p50 .MTS (MPEG-TS H.264), 0.5 s GOP",
        1920,
        1080,
        50,
        20,
        "h264",
        "24M",
        0.5,
        bframes=2,
        container="mts",
    ),
    # Dashcam: 1080p30 H.264 with a 10 s GOP, 60 s per file, B-frames (the
    # non-reference frames inside a long GOP are what a smart decoder skips).
    Shape("dashcam", "dashcam 1080p30 H.264, 10 s GOP, 60 s", 1920, 1080, 30, 60, "h264", "12M", 10.0, bframes=2),
]
MEMORY = [
    Shape("mem1min", "phone 1080p30 H.264, 1 minute", 1920, 1080, 30, 60, "h264", "8M", 1.0, memory_only=True),
    Shape("mem10min", "phone 1080p30 H.264, 10 minutes", 1920, 1080, 30, 600, "h264", "8M", 1.0, memory_only=True),
]


def quick_panel() -> list[Shape]:
    """The same shapes, short: for building and checking the benchmark itself."""
    short = {"dashcam": 20, "mem1min": 6, "mem10min": 30}
    return [s.shortened(short.get(s.key, 4)) for s in PANEL + MEMORY]


def full_panel() -> list[Shape]:
    return PANEL + MEMORY


def _encoder_args(shape: Shape) -> list[str]:
    rate = ["-b:v", shape.bitrate, "-maxrate", shape.bitrate, "-bufsize", shape.bitrate]
    if shape.codec == "hevc":
        params = (
            f"keyint={shape.keyint}:min-keyint={shape.keyint}:scenecut=0:bframes={shape.bframes}:sao=1:log-level=error"
        )
        return ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", params, *rate]
    return [
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-profile:v",
        "high",
        "-g",
        str(shape.keyint),
        "-keyint_min",
        str(shape.keyint),
        "-sc_threshold",
        "0",
        "-bf",
        str(shape.bframes),
        *rate,
    ]


def _muxer_args(shape: Shape) -> list[str]:
    if shape.container == "mts":
        return ["-f", "mpegts", "-mpegts_m2ts_mode", "1"]
    return [*(["-tag:v", "hvc1"] if shape.codec == "hevc" else []), "-movflags", "+faststart"]


def _join(shape: Shape, part: Path) -> None:
    """The clip as copies of one encoded segment, joined by the concat demuxer (no re-encoding).

    Encoding 20 s of 2.7K/120 HEVC with noise takes the better part of an hour
    on a busy 2-core machine; the decoder's work is the same either way (every
    segment starts with a keyframe, keyframe spacing and bitrate are kept).
    """
    segment = make(shape.shortened(shape.segment_s))
    copies = -(-shape.seconds // shape.segment_s)
    listing = part.with_suffix(".txt")
    listing.write_text("".join(f"file '{segment}'\n" for _ in range(copies)))
    cmd = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(listing),
        "-t",
        str(shape.seconds),
        "-c",
        "copy",
        *_muxer_args(shape),
        str(part),
    ]
    try:
        subprocess.run(cmd, check=True)
    finally:
        listing.unlink()


def make(shape: Shape) -> Path:
    """Generates the clip once (written aside, renamed when complete); returns its path."""
    if shape.path.exists():
        return shape.path
    CACHE.mkdir(parents=True, exist_ok=True)
    part = shape.path.with_name(shape.path.stem + ".part" + shape.path.suffix)
    if shape.seconds > shape.segment_s:
        _join(shape, part)
        os.replace(part, shape.path)
        return shape.path
    real = footage()
    if real is not None:
        source = ["-stream_loop", "-1", "-i", str(real)]
        picture = (
            f"[0:v:0]scale={shape.width}:{shape.height}:force_original_aspect_ratio=increase,"
            f"crop={shape.width}:{shape.height},fps={shape.fps},{NOISE},format=yuv420p[v]"
        )
    else:
        print(f"{FOOTAGE_NAME} not found: testsrc2 stands in for real footage", file=sys.stderr)
        source = ["-f", "lavfi", "-i", f"testsrc2=size={shape.width}x{shape.height}:rate={shape.fps}"]
        picture = f"[0:v:0]{NOISE},format=yuv420p[v]"
    cmd = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        *source,
        "-filter_complex",
        picture,
        "-map",
        "[v]",
        "-t",
        str(shape.seconds),
        *_encoder_args(shape),
        *_muxer_args(shape),
        str(part),
    ]
    print(f"generating {shape.path.name} (once; cached in {CACHE}) ...", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)
    os.replace(part, shape.path)
    return shape.path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the short versions")
    parser.add_argument("--only", nargs="*", help="shape keys to make (default: all)")
    args = parser.parse_args()
    for shape in quick_panel() if args.quick else full_panel():
        if args.only and shape.key not in args.only:
            continue
        path = make(shape)
        print(f"{shape.key:10} {path.stat().st_size / 1e6:8.1f} MB  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
