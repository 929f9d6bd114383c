"""How long `validate` takes on a 1080p bundle, against the source's duration.

    python benchmarks/bench_validate.py                 # a 60 s 1080p30 clip
    python benchmarks/bench_validate.py --seconds 20    # shorter: quicker, same per-frame figures

The clip is generated with the ffmpeg CLI (testsrc2 with sensor-like noise,
H.264 High, a keyframe every second, as a phone records) and cached in
benchmarks/.cache; it is extracted once, then validated in full (every row,
with the time check's neighbours) by `python -m lifelog_compression validate`
in its own process. Reported: wall time, its share of the source's duration,
the same extrapolated linearly to a one-hour bundle (validate's costs grow
with the file: the sha256, the packet list, the decoding and the metrics
per row), and the decoding alone (reference_feed.FrameFeed over the same
frames, reading only the packets they need), so the share the metrics take
is visible. Not a test: no figure is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache"


def clip(seconds: int) -> Path:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"validate-1080p30-{seconds}s.mp4"
    if not path.exists():
        subprocess.run(
            [
                "ffmpeg",
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
                "-vf",
                "noise=alls=12:allf=t",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-profile:v",
                "high",
                "-g",
                "30",
                "-b:v",
                "12M",
                "-pix_fmt",
                "yuv420p",
                str(path),
            ],
            check=True,
        )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of the generated clip (default 60)")
    args = parser.parse_args()
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        LIFELOG_PROGRESS_INTERVAL="3600",
    )
    video = clip(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        subprocess.run(
            [sys.executable, "-m", "lifelog_compression", "extract", "--quiet", str(video), str(bundle)],
            check=True,
            env=env,
        )
        rows = len((bundle / "manifest.jsonl").read_text().splitlines())

        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "lifelog_compression", "validate", "--quiet", "--json", str(video), str(bundle)],
            capture_output=True,
            text=True,
            env=env,
        )
        wall = time.perf_counter() - started
        report = json.loads(out.stdout)

        sys.path.insert(0, str(ROOT))
        from lifelog_compression.reference_feed import FrameFeed
        from lifelog_compression.validate import SourceReference, row_frames

        started = time.perf_counter()
        src = SourceReference(video)
        needs = {}
        for r in report["frames"]:
            index = src.frame_near(r["actual_ts_ms"])
            if index is not None:
                needs.update(row_frames(src, index, True, False))
        planned = {i: span for i, span in needs.items() if span is not None}
        feed = FrameFeed(src, list(needs), planned if len(planned) == len(needs) else None)
        delivered = sum(1 for _ in feed)
        feed.close()
        decode = time.perf_counter() - started
        read = sum(b - a + 1 for p in feed.passes for a, b in (p.spans or [(0, len(src.frame_times) - 1)]))

    share = wall / args.seconds
    print(
        f"validate: {rows} rows of a {args.seconds} s 1080p30 clip ({video.stat().st_size / 1e6:.0f} MB), "
        f"ok={report['ok']}: {wall:.1f} s wall = {100 * share:.1f} % of the source's duration "
        f"({wall / rows:.2f} s per row)"
    )
    print(f"  one hour extrapolated: {share * 3600 / 60:.1f} min ({100 * share:.1f} % of 60 min; target < 10 %)")
    print(
        f"  the decoding alone ({delivered} frames: each row's and the neighbours that cost little; "
        f"{read} of {len(src.frame_times)} packets read): {decode:.1f} s = "
        f"{100 * decode / args.seconds:.1f} % of the duration; validate runs it beside the metrics in numpy/Pillow"
    )
    print(f"  machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
