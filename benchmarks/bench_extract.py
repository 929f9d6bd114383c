"""Speed and memory of `extract`, side by side with the ffmpeg command line.

    python benchmarks/bench_extract.py            # 2.7K/120 fps and 1440p/24 fps clips
    python benchmarks/bench_extract.py --memory   # also peak RSS on a 1- and a 10-minute clip
    python benchmarks/bench_extract.py --repeat 3 # best of 3

Clips are generated once with the ffmpeg CLI (sensor-like noise, so the bitrate
is real) and cached in benchmarks/.cache. Every recipe runs as its own process
in the same run, so the peak RSS of each comes from the kernel (wait4).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
CANVAS = "scale=1920:1080:force_original_aspect_ratio=decrease,pad=1920:1080:(ow-iw)/2:(oh-ih)/2"


@dataclass(frozen=True)
class Clip:
    name: str
    width: int
    height: int
    fps: int
    seconds: int
    codec: str
    bitrate: str
    keyint: int
    # x265's ipratio: how much bigger a keyframe is than a P-frame. Cameras'
    # hardware encoders spend far more on keyframes than x265's default 1.4
    # (GoPro keyframes at 60 Mbit/s are around 1 MB), and keyframes are what
    # sparse extraction decodes, so the GoPro-like clip uses 3.
    ipratio: float = 1.4

    @property
    def path(self) -> Path:
        return CACHE / f"{self.name}.mp4"


CLIPS = [
    # GoPro-like: 2.7K 4:3, 120 fps HEVC, 60 Mbit/s, a keyframe every 0.5 s.
    Clip("gopro-2704x2028-120fps-hevc-ip3", 2704, 2028, 120, 20, "libx265", "60M", 60, ipratio=3.0),
    # Phone-like: 1920x1440, 24 fps HEVC, 20 Mbit/s, 1 s keyframes.
    Clip("phone-1920x1440-24fps-hevc", 1920, 1440, 24, 20, "libx265", "20M", 24),
]
MEMORY_CLIPS = [
    Clip("long-1min-1280x720-30fps-h264", 1280, 720, 30, 60, "libx264", "8M", 60),
    Clip("long-10min-1280x720-30fps-h264", 1280, 720, 30, 600, "libx264", "8M", 60),
]


def make_clip(clip: Clip) -> Path:
    if clip.path.exists():
        return clip.path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = clip.path.with_suffix(".part.mp4")
    source = f"testsrc2=size={clip.width}x{clip.height}:rate={clip.fps},noise=alls=14:allf=t+u"
    if clip.codec == "libx265":
        codec = [
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-tag:v",
            "hvc1",
            "-x265-params",
            f"keyint={clip.keyint}:min-keyint={clip.keyint}:scenecut=0:ipratio={clip.ipratio}:log-level=error",
        ]
    else:
        codec = ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(clip.keyint), "-sc_threshold", "0"]
    cmd = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        source,
        "-t",
        str(clip.seconds),
        *codec,
        "-b:v",
        clip.bitrate,
        "-maxrate",
        clip.bitrate,
        "-bufsize",
        clip.bitrate,
        "-pix_fmt",
        "yuv420p",
        str(tmp),
    ]
    print(f"generating {clip.name} (once; cached in {CACHE}) ...", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)
    tmp.rename(clip.path)
    return clip.path


def run_measured(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd[0]} failed: {stderr.strip()[-500:]}")
    return elapsed, usage.ru_maxrss // 1024


def recipes(clip_path: Path, out: Path) -> dict[str, list[str]]:
    jpg = str(out / "%08d.jpg")
    return {
        "lifelog_compression": [
            sys.executable,
            "-m",
            "lifelog_compression",
            "extract",
            "--quiet",
            str(clip_path),
            str(out / "bundle"),
        ],
        # The best command-line recipe: keyframes only, first keyframe of each second.
        "ffmpeg skip_frame nokey+select": [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-skip_frame",
            "nokey",
            "-i",
            str(clip_path),
            "-vf",
            f"select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,1)',{CANVAS}",
            "-fps_mode",
            "vfr",
            "-q:v",
            "3",
            jpg,
        ],
        # The naive recipe: decodes every frame.
        "ffmpeg fps=1": [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(clip_path),
            "-vf",
            f"fps=1,{CANVAS}",
            "-q:v",
            "3",
            jpg,
        ],
    }


def accuracy(bundle: Path) -> dict:
    rows = [json.loads(line) for line in (bundle / "manifest.jsonl").read_text().splitlines()]
    errors = [abs(r["actual_ts_ms"] - r["requested_ts_ms"]) for r in rows]
    sizes = [(bundle / r["frame_relpath"]).stat().st_size for r in rows]
    return {
        "frames": len(rows),
        "max_err_ms": max(errors),
        "mean_err_ms": round(sum(errors) / len(errors), 1),
        "keyframe_hits": sum(r.get("obtained") == "keyframe" for r in rows),
        "mean_kb": round(sum(sizes) / len(sizes) / 1024),
    }


def bench_clip(clip: Clip, repeat: int, only_ours: bool = False) -> dict:
    path = make_clip(clip)
    results = {}
    for name, _ in recipes(path, Path("/nonexistent")).items():
        if only_ours and name != "lifelog_compression":
            continue
        best = None
        for _ in range(repeat):
            with tempfile.TemporaryDirectory(prefix="lifelog-bench-") as tmp:
                cmd = recipes(path, Path(tmp))[name]
                elapsed, rss = run_measured(cmd)
                extra = (
                    accuracy(Path(tmp) / "bundle")
                    if name == "lifelog_compression"
                    else {"frames": len(list(Path(tmp).glob("*.jpg")))}
                )
            if best is None or elapsed < best[0]:
                best = (elapsed, rss, extra)
        results[name] = {
            "seconds": round(best[0], 3),
            "x_realtime": round(clip.seconds / best[0], 2),
            "peak_rss_mb": best[1],
            **best[2],
        }
    ours = results["lifelog_compression"]["seconds"]
    for r in results.values():
        r["ours_faster_by"] = round(r["seconds"] / ours, 2)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="runs per recipe; the fastest counts")
    parser.add_argument("--memory", action="store_true", help="also peak RSS on a 1- and a 10-minute clip")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()
    if not shutil.which("ffmpeg"):
        print("the ffmpeg command-line tool is needed (apt-get install ffmpeg)", file=sys.stderr)
        return 2
    report = {"cores": os.cpu_count(), "clips": {}}
    for clip in CLIPS:
        report["clips"][clip.name] = bench_clip(clip, args.repeat)
    if args.memory:
        for clip in MEMORY_CLIPS:
            report["clips"][clip.name] = bench_clip(clip, 1, only_ours=True)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'clip':34} {'recipe':32} {'seconds':>8} {'x realtime':>10} {'ratio':>6} {'RSS MB':>7}  notes")
    for clip_name, results in report["clips"].items():
        for name, r in results.items():
            notes = ", ".join(
                f"{k}={v}" for k, v in r.items() if k not in ("seconds", "x_realtime", "peak_rss_mb", "ours_faster_by")
            )
            print(
                f"{clip_name:34} {name:32} {r['seconds']:8.2f} {r['x_realtime']:10.1f} "
                f"{r['ours_faster_by']:6.2f} {r['peak_rss_mb']:7d}  {notes}"
            )
    print("ratio = that recipe's seconds / lifelog_compression's seconds (higher: we are faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
