"""Cost of the colour pipeline (issues 14 and 15).

    python benchmarks/bench_colour.py hdr --repeat 5
        extract on an HDR (HLG) clip against the same clip encoded SDR, 1080p and 4K
    python benchmarks/bench_colour.py sdr --repeat 5 --before DIR
        SDR clips (1080p H.264 8-bit, 4K HEVC 10-bit) with this build against the package in DIR
        (a folder holding an older build's lifelog_compression/, e.g. a worktree
        built with `python setup.py build_ext --inplace`)
    python benchmarks/bench_colour.py micro
        one 1920x1080 picture through each colour conversion (own code, swscale,
        libjpeg-turbo, zscale + tonemap), ms per picture (benchmarks/colour_micro.c)

The machine is shared: runs are paired and interleaved (A, B, A, B, ...) so
load changes hit both sides alike, and medians are reported. Clips are made
once with the ffmpeg CLI (testsrc2 with noise, so bitrates are real) and
cached in benchmarks/.cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
SECONDS, FPS = 20, 10
X265 = "keyint={k}:min-keyint={k}:scenecut=0:log-level=error"
HLG = ["-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc", "-color_range", "tv"]
SDR = ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv"]


def clip(name: str, size: str, kind: str, bitrate: str) -> Path:
    """kind: hlg10 (HEVC 10-bit HLG BT.2020), sdr10 (HEVC 10-bit BT.709),
    sdr8 (HEVC 8-bit BT.709), h264 (H.264 8-bit BT.709)."""
    path = CACHE / f"{name}.mp4"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    source = f"testsrc2=size={size}:rate={FPS},noise=alls=14:allf=t+u"
    if kind == "hlg10":
        vf = (
            "format=gbrp,zscale=rin=full:tin=bt709:pin=bt709:t=arib-std-b67:p=2020:m=2020_ncl:r=limited:npl=203,"
            "format=yuv420p10le"
        )
        tags, params = HLG, ":colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc"
    else:
        vf = f"scale=out_color_matrix=bt709:out_range=tv,format={'yuv420p10le' if kind == 'sdr10' else 'yuv420p'}"
        tags, params = SDR, ""
    if kind == "h264":
        codec = ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS), "-sc_threshold", "0"]
    else:
        codec = [
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-tag:v",
            "hvc1",
            "-x265-params",
            X265.format(k=FPS) + params,
        ]
    tmp = path.with_suffix(".part.mp4")
    print(f"generating {name} (once) ...", file=sys.stderr, flush=True)
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
            source,
            "-t",
            str(SECONDS),
            "-vf",
            vf,
            *codec,
            "-b:v",
            bitrate,
            "-maxrate",
            bitrate,
            "-bufsize",
            bitrate,
            *tags,
            str(tmp),
        ],
        check=True,
    )
    tmp.rename(path)
    return path


def extract_seconds(video: Path, package_dir: Path | None = None) -> tuple[float, float]:
    """Wall time and CPU time (user + system, from the kernel) of one
    `extract` process (default recipe). CPU time is the steadier measure on a
    shared machine: it does not grow while other processes hold the cores."""
    env = dict(os.environ)
    if package_dir is not None:
        env["PYTHONPATH"] = str(package_dir)
    with tempfile.TemporaryDirectory(prefix="lifelog-bench-") as tmp:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "lifelog_compression", "extract", "--quiet", str(video), str(Path(tmp) / "b")],
            env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"extract failed on {video}")
        return wall, usage.ru_utime + usage.ru_stime


def paired(label_a: str, run_a, label_b: str, run_b, repeat: int) -> dict:
    """Interleaved runs of two commands; medians (wall and CPU) and their ratios."""
    a, b = [], []
    run_a(), run_b()  # warm the page cache and the import
    for _ in range(repeat):
        a.append(run_a())
        b.append(run_b())
    wa, wb = (statistics.median(x[0] for x in runs) for runs in (a, b))
    ca, cb = (statistics.median(x[1] for x in runs) for runs in (a, b))
    return {
        label_a: round(wa, 3),
        label_b: round(wb, 3),
        "ratio": round(wa / wb, 3),
        "cpu": {label_a: round(ca, 3), label_b: round(cb, 3), "ratio": round(ca / cb, 3)},
        "runs": {label_a: [round(x[0], 3) for x in a], label_b: [round(x[0], 3) for x in b]},
    }


def bench_hdr(repeat: int, only: str | None) -> None:
    for size, rate, tag in (("1920x1080", "10M", "1080p"), ("3840x2160", "40M", "4k")):
        if only and only != tag:
            continue
        hlg = clip(f"colour-{tag}-hlg10", size, "hlg10", rate)
        # 4K: 10-bit SDR only (each 4K clip takes many minutes to encode here).
        for kind in ("sdr10", "sdr8") if tag == "1080p" else ("sdr10",):
            sdr = clip(f"colour-{tag}-{kind}", size, kind, rate)
            r = paired("hlg", lambda: extract_seconds(hlg), kind, lambda: extract_seconds(sdr), repeat)
            print(
                f"{tag} HEVC, {SECONDS} frames: wall HLG 10-bit {r['hlg']:.3f} s, {kind} {r[kind]:.3f} s "
                f"({100 * (r['ratio'] - 1):+.1f} %); CPU {r['cpu']['hlg']:.3f} s vs {r['cpu'][kind]:.3f} s "
                f"({100 * (r['cpu']['ratio'] - 1):+.1f} %)  wall runs {r['runs']}",
                flush=True,
            )


def bench_sdr(repeat: int, before: Path, only: str | None) -> None:
    for name, size, kind, rate in (
        ("colour-1080p-h264", "1920x1080", "h264", "10M"),
        ("colour-4k-sdr10", "3840x2160", "sdr10", "40M"),
    ):
        if only and only not in name:
            continue
        video = clip(name, size, kind, rate)
        r = paired("after", lambda: extract_seconds(video), "before", lambda: extract_seconds(video, before), repeat)
        print(
            f"{name}: wall this build {r['after']:.3f} s, before {r['before']:.3f} s "
            f"({100 * (r['ratio'] - 1):+.1f} %); CPU {r['cpu']['after']:.3f} s vs {r['cpu']['before']:.3f} s "
            f"({100 * (r['cpu']['ratio'] - 1):+.1f} %)  wall runs {r['runs']}",
            flush=True,
        )


def bench_micro() -> None:
    exe = CACHE / "colour_micro"
    CACHE.mkdir(parents=True, exist_ok=True)
    flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "libswscale", "libavutil", "libturbojpeg"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    subprocess.run(
        [
            "cc",
            "-O3",
            "-std=c11",
            "-D_GNU_SOURCE",
            f"-I{ROOT / 'csrc'}",
            str(HERE / "colour_micro.c"),
            str(ROOT / "csrc" / "colour.c"),
            str(ROOT / "csrc" / "tonemap.c"),
            "-o",
            str(exe),
            *flags,
            "-lm",
        ],
        check=True,
    )
    subprocess.run([str(exe)], check=True)
    # libavfilter's zscale + tonemap (the same documented mapping) on 1080p HLG
    # pictures: CPU time of decoding with the filters minus decoding alone.
    hlg = clip("colour-1080p-hlg10", "1920x1080", "hlg10", "10M")
    recipe = (
        "zscale=t=linear:npl=203,format=gbrpf32le,zscale=p=bt709,tonemap=mobius:param=0.8:desat=0,"
        "zscale=t=bt709:m=bt709:r=full,format=yuv420p"
    )
    frames, times = 20, []
    for vf in ([], ["-vf", recipe]):
        cmd = [
            "ffmpeg",
            "-hide_banner",
            "-nostdin",
            "-threads",
            "1",
            "-i",
            str(hlg),
            "-frames:v",
            str(frames),
            *vf,
            "-f",
            "null",
            "-",
            "-benchmark",
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
        line = next(line for line in out.splitlines() if line.startswith("bench: utime"))
        times.append(float(line.split("utime=")[1].split("s")[0]))
    print(
        f"{'zscale + tonemap (HLG 10-bit -> SDR yuv420p)':55s} {1000 * (times[1] - times[0]) / frames:8.2f} "
        "ms CPU per picture"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["hdr", "sdr", "micro"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", type=Path, help="folder with an older build's lifelog_compression/ (sdr)")
    parser.add_argument("--only", choices=["1080p", "4k"], help="one picture size only")
    args = parser.parse_args()
    if args.what == "hdr":
        bench_hdr(args.repeat, args.only)
    elif args.what == "sdr":
        if not args.before:
            parser.error("sdr needs --before DIR")
        bench_sdr(args.repeat, args.before, args.only)
    else:
        bench_micro()
    return 0


if __name__ == "__main__":
    sys.exit(main())
