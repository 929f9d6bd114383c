"""The benchmark panel: `extract` against what a user could run instead, shape by shape.

    python benchmarks/panel.py                 # the full panel (about 15 min on 2 cores)
    python benchmarks/panel.py --quick         # short clips, one pair: to check the benchmark itself
    python benchmarks/panel.py --write-docs    # also rewrite the tables in docs/benchmarks.md
    python benchmarks/panel.py --only gopro dashcam --competitors pyav floor

For each clip of panel_clips.py: one untimed `extract` makes the reference
bundle; each competitor runs once untimed and its output is checked against
that bundle (checks.py: same frame count, times within +/-0.5 s, same
pictures); a competitor whose first variant fails the check falls back to its
next (e.g. OpenCV seeking -> reading everything); one that fails every variant
is reported, not timed. Then runs are paired and interleaved, `extract`,
competitor, `extract`, competitor, ... (--repeat pairs; the slow competitors,
decord and OpenCV, --slow-repeat), every run its own process tree (measure.py:
wall, CPU of the tree, peak RSS of the tree). Reported per competitor: the
medians of both, the median of the per-pair ratios (competitor / extract:
above 1, we are faster), and peak memory. The floor (floor.py) is paired the
same way; its seconds are decoding alone (timed inside floor.py, without its
process start, imports and index pass) and its share is floor seconds /
extract seconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "competitors"))
import checks  # noqa: E402
import ffmpeg_cli  # noqa: E402
import measure  # noqa: E402
import panel_clips  # noqa: E402
import panel_report  # noqa: E402

PY = sys.executable
COMPETITORS = ("pyav", "ffmpeg", "floor", "decord", "opencv")
SLOW = {"decord", "opencv"}
NEEDS = {"pyav": ("av", "simplejpeg"), "floor": ("av",), "decord": ("decord", "cv2"), "opencv": ("cv2",)}


@dataclass
class Variant:
    """One way to run a competitor: the timed command and the check-run command."""

    label: str
    timed: list[str]
    checked: list[str]


@dataclass
class Result:
    """A competitor on one clip."""

    competitor: str
    variant: str = ""
    check: dict | None = None
    failed: str = ""  # every variant failed the check (or crashed)
    ours_s: list[float] = field(default_factory=list)
    theirs_s: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    ours_cpu_s: list[float] = field(default_factory=list)
    ours_peak_mb: int = 0
    theirs_peak_mb: int = 0
    theirs_cpu_s: list[float] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        med = lambda xs: round(statistics.median(xs), 3) if xs else None
        return {
            "competitor": self.competitor,
            "variant": self.variant,
            "failed": self.failed,
            "check": self.check,
            "pairs": len(self.ratios),
            "ours_s": med(self.ours_s),
            "theirs_s": med(self.theirs_s),
            "ratio": med(self.ratios),
            "ours_peak_mb": self.ours_peak_mb,
            "theirs_peak_mb": self.theirs_peak_mb,
            "ours_cpu_s": med(self.ours_cpu_s),
            "theirs_cpu_s": med(self.theirs_cpu_s),
            **self.extra,
        }


def ours_cmd(video: Path, out: Path) -> list[str]:
    return [PY, "-m", "lifelog_compression", "extract", "--quiet", str(video), str(out)]


def variants(name: str, shape: panel_clips.Shape, video: Path, out: Path, bundle: Path) -> list[Variant]:
    """Ways to run a competitor, best expected first."""
    v = str(video)
    comp = HERE / "competitors"
    if name == "pyav":
        cmd = [PY, str(comp / "pyav_sparse.py"), v, str(out), "--procs", "2", "--threads", "2"]
        return [Variant("sparse packets, 2 processes x 2 threads", cmd, cmd)]
    if name == "ffmpeg":
        recipes = ["nokey", "all"] if shape.gop_s <= 1.0 else ["noref", "all"]
        return [
            Variant(r, ffmpeg_cli.command(r, v, out), [PY, str(comp / "ffmpeg_cli.py"), r, v, str(out)])
            for r in recipes
        ]
    if name == "floor":
        cmd = [PY, str(HERE / "floor.py"), v, str(bundle), "--procs", "2", "--threads", "2"]
        return [Variant("decode only, 2 processes x 2 threads", cmd, cmd)]
    if name == "decord":
        cmd = [PY, str(comp / "decord_batch.py"), v, str(out)]
        return [Variant("get_batch", cmd, cmd)]
    if name == "opencv":
        modes = ["seek", "grab"] if shape.gop_s <= 1.0 else ["grab"]
        return [Variant(m, *[[PY, str(comp / "opencv_seek.py"), v, str(out), "--mode", m]] * 2) for m in modes]
    raise ValueError(name)


def _fresh(path: Path) -> Path:
    """An empty output folder (OUT/frames made: the ffmpeg CLI does not make folders)."""
    shutil.rmtree(path, ignore_errors=True)
    (path / "frames").mkdir(parents=True)
    return path


def run_competitor(name: str, shape, video: Path, bundle: Path, tmp: Path, pairs: int, timeout: float) -> Result:
    result = Result(name)
    missing = [m for m in NEEDS.get(name, ()) if importlib.util.find_spec(m) is None]
    if missing:
        result.failed = f"not installed ({', '.join(missing)}: pip install -e .[bench])"
        return result
    out = tmp / "theirs"
    chosen = None
    failures = []
    for variant in variants(name, shape, video, out, bundle):
        _fresh(out)
        try:
            run = measure.run(variant.checked, timeout=timeout)
        except RuntimeError as e:
            failures.append(f"{variant.label}: {e}")
            continue
        if name == "floor":
            result.check = {"ok": True, **json.loads(run.stdout.strip().splitlines()[-1])}
            chosen = variant
            break
        verdict = checks.check(out, bundle)
        if verdict.ok:
            result.check = asdict(verdict)
            chosen = variant
            break
        failures.append(f"{variant.label}: {verdict.reason}")
    if chosen is None:
        result.failed = "; ".join(failures)
        return result
    result.variant = chosen.label
    if failures:
        result.extra["rejected"] = failures
    for _ in range(pairs):
        shutil.rmtree(tmp / "ours", ignore_errors=True)
        ours = measure.run(ours_cmd(video, tmp / "ours"))
        _fresh(out)
        try:
            theirs = measure.run(chosen.timed, timeout=timeout)
        except RuntimeError as e:
            result.failed = f"timed run: {e}"
            break
        if name == "floor":
            # The floor is decoding alone, timed inside floor.py (no process start, import or index pass).
            decode_s = json.loads(theirs.stdout.strip().splitlines()[-1])["seconds"]
            result.extra.setdefault("process_s", []).append(round(theirs.seconds, 3))
            theirs = measure.Run(decode_s, theirs.cpu_seconds, theirs.peak_mb, theirs.stdout)
        result.ours_s.append(ours.seconds)
        result.theirs_s.append(theirs.seconds)
        result.ours_cpu_s.append(ours.cpu_seconds)
        result.theirs_cpu_s.append(theirs.cpu_seconds)
        result.ratios.append(theirs.seconds / ours.seconds)
        result.ours_peak_mb = max(result.ours_peak_mb, ours.peak_mb)
        result.theirs_peak_mb = max(result.theirs_peak_mb, theirs.peak_mb)
    return result


def bench_shape(shape, competitors, repeat: int, slow_repeat: int, tmp: Path) -> dict:
    video = panel_clips.make(shape)
    reference = tmp / "reference"
    shutil.rmtree(reference, ignore_errors=True)
    first = measure.run(ours_cmd(video, reference))  # warms the page cache too
    bundle_doc = json.loads((reference / "bundle.json").read_text())
    rows = checks.bundle_frames(reference)
    manifest = [json.loads(line) for line in (reference / "manifest.jsonl").read_text().splitlines()]
    entry = {
        "shape": asdict(shape) | {"path": str(video.name), "mb": round(video.stat().st_size / 1e6, 1)},
        "ours": {
            "frames": len(rows),
            "frames_decoded": sum(r.get("frames_decoded", 0) for r in manifest),
            "planner": bundle_doc["sampling"].get("planner"),
            "max_error_ms": max(abs(r["actual_ts_ms"] - r["requested_ts_ms"]) for r in manifest),
            "first_run_s": round(first.seconds, 3),
            "first_run_peak_mb": first.peak_mb,
        },
        "competitors": {},
    }
    if shape.memory_only:
        runs = [first]
        for _ in range(min(repeat, 2) - 1):  # memory, not speed: two runs are enough
            shutil.rmtree(tmp / "ours", ignore_errors=True)
            runs.append(measure.run(ours_cmd(video, tmp / "ours")))
        entry["ours"].update(
            seconds=round(statistics.median(r.seconds for r in runs), 3), peak_mb=max(r.peak_mb for r in runs)
        )
        return entry
    for name in competitors:
        pairs = slow_repeat if name in SLOW else repeat
        timeout = max(120.0, 60 * first.seconds)
        print(f"  {shape.key}: {name} ...", file=sys.stderr, flush=True)
        entry["competitors"][name] = run_competitor(name, shape, video, reference, tmp, pairs, timeout).summary()
    return entry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short clips, 1 pair per competitor")
    parser.add_argument("--repeat", type=int, help="pairs per competitor (default 3; --quick 1)")
    parser.add_argument("--slow-repeat", type=int, default=1, help="pairs for decord and OpenCV (default 1)")
    parser.add_argument("--only", nargs="*", help="clip keys (default: all)")
    parser.add_argument("--competitors", nargs="*", choices=COMPETITORS, default=list(COMPETITORS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="rewrite the panel tables in docs/benchmarks.md (and the fixed costs: overhead.py)",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="no runs: print (and with --write-docs write) the last saved results"
    )
    args = parser.parse_args()
    if args.report_only:
        report = json.loads((panel_clips.CACHE / ("panel-quick.json" if args.quick else "panel.json")).read_text())
        print(panel_report.markdown(report))
        if args.write_docs:
            panel_report.write_docs(report)
        return 0
    if not shutil.which("ffmpeg"):
        print("the ffmpeg command-line tool is needed (apt-get install ffmpeg)", file=sys.stderr)
        return 2
    repeat = args.repeat or (1 if args.quick else 3)
    shapes = panel_clips.quick_panel() if args.quick else panel_clips.full_panel()
    shapes = [s for s in shapes if not args.only or s.key in args.only]
    for shape in shapes:
        panel_clips.make(shape)
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "quick": args.quick,
        "cores": os.cpu_count(),
        "load_before": os.getloadavg(),
        "repeat": repeat,
        "slow_repeat": args.slow_repeat,
        "clips": {},
    }
    with tempfile.TemporaryDirectory(prefix="lifelog-panel-") as tmp:
        for shape in shapes:
            print(f"{shape.key} ({shape.path.name})", file=sys.stderr, flush=True)
            report["clips"][shape.key] = bench_shape(shape, args.competitors, repeat, args.slow_repeat, Path(tmp))
            report["load_after"] = os.getloadavg()
            # Saved after every clip: a run stopped early still leaves what it measured.
            save(report, args)
    print(panel_report.markdown(report))
    if args.write_docs and not args.quick:
        # The fixed costs belong to the same table set: one command regenerates them all.
        subprocess.run([PY, str(HERE / "overhead.py"), "--write-docs"], check=True)
    return 0


def save(report: dict, args) -> None:
    text = json.dumps(report, indent=1)
    (panel_clips.CACHE / ("panel-quick.json" if args.quick else "panel.json")).write_text(text)
    if args.json:
        args.json.write_text(text)
    if args.write_docs:
        panel_report.write_docs(report)


if __name__ == "__main__":
    sys.exit(main())
