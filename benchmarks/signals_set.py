"""The labelled set for the content signals and the near-duplicate rule
(docs/signals.md), made from real footage with added noise, and the rule's
results on it.

    python benchmarks/signals_set.py              # make the clips, extract, report
    python benchmarks/signals_set.py --json out.json

Clips (960x540, 10 fps, H.264, built from the GoPro MAX clip in ../shared/data
and the Karma clip in ../shared/data/real, written to benchmarks/.cache/signals;
the scenes are tests/scenes.py's, which test_signals.py also uses):

- ``static_drift``: one real frame, sensor noise (sigma 4) and a slow exposure
  drift (gain 1.0 -> 1.3) with flicker: every row but the first repeats it.
- ``corner_object``: the same scene; from 4 s a textured object covering 3 %
  of the picture slides into the bottom-right corner (over 2 s) and stays.
- ``stopped_moving``: a still real frame for 5 s, then the real clip plays.
- ``pocket``: dark (luma ~10), heavy noise (sigma 6), fabric moving a little.
- ``slow_pan``: a real frame panned 6 px (0.6 %) per second.
- ``walk``: the GoPro MAX clip as recorded, with noise.
- ``drone``: the Karma clip as recorded, with noise.
- ``tone_curve``: the still through a tone curve lifting the shadows (gamma
  1 -> 0.7, black +6): every row repeats the first.
- ``corner_light``: a lamp switched on in a corner at 6 s (about 2 % of the
  picture brighter by > 16 levels) while the exposure drifts.
- ``pale_object``: a pale, thin object 30 levels over a bright wall from 6 s
  (2.5 % of the picture) while the exposure darkens a little.
- ``scene_cut``: a cut at 6 s to a similar room (the picture mirrored: the
  same histogram).
- ``dark_face``: a dark room (luma ~6) where a face (3 %, luma ~45) appears
  at 6 s.

Every clip keeps its clean frames (before noise and exposure), so the truth is
measured, not assumed: the content change between two rows is the fraction of
pixels whose clean luma differs by more than 16 levels. A row marked as a
duplicate of a row it differs from by >= 2 % is *wrong*; a row not marked
although it differs from the last kept row by < 0.5 % is *missed*.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # scenes.py: the scenes, shared with test_signals.py
import scenes  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
if not DATA.is_dir():
    DATA = Path("/work/shared/data")
CACHE = Path(__file__).resolve().parent / ".cache" / "signals"
W, H, FPS = 960, 540, 10


def decode(path: Path, seconds: float) -> np.ndarray:
    """RGB frames of a real clip at W x H, FPS."""
    out = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-t",
            str(seconds),
            "-vf",
            f"fps={FPS},scale={W}:{H}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, H, W, 3)


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def make_clips(seconds: int = 12) -> dict[str, list[np.ndarray]]:
    """name -> clean luma frames (what the clip shows before noise and
    exposure); the clips are encoded into CACHE unless there already."""
    rng = np.random.default_rng(25)
    walk = decode(DATA / "gopro-max-heromode.mp4", seconds).astype(np.float32)
    drone = decode(DATA / "real" / "gopro_karma.mp4", seconds).astype(np.float32)
    n = seconds * FPS
    still = walk[20]
    clips = {
        "static_drift": scenes.static(still, n, rng, gain_end=1.3),
        "corner_object": scenes.corner_object(still, n, FPS, rng, enter_s=4, slide_s=2, gain_end=1.0),
        "stopped_moving": scenes.record([still] * (5 * FPS) + list(walk[20 : 20 + n - 5 * FPS]), rng, 4),
        "pocket": scenes.pocket(H, W, n, rng),
        "slow_pan": scenes.pan(still, n, FPS, rng, px_per_s=6),
        "walk": scenes.record(list(walk[:n]), rng, 4),
        "drone": scenes.record(list(drone[:n]), rng, 4),
        "tone_curve": scenes.tone_curve(still, n, rng),
        "corner_light": scenes.corner_light(still, n, FPS, rng, on_s=6),
        "pale_object": scenes.pale_object(still, n, FPS, rng, on_s=6, at=(0.2, 0.2)),
        "scene_cut": scenes.scene_cut(still, n, FPS, rng, cut_s=6),
        "dark_face": scenes.dark_face(still, n, FPS, rng, on_s=6),
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    for name, scene in clips.items():
        path = CACHE / f"{name}.mp4"
        if not path.exists():
            scenes.encode(scene.shown, path, FPS)
    return {name: [luma(c) for c in scene.clean] for name, scene in clips.items()}


def changed(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a - b) > 16).mean())


def evaluate(name: str, clean: list[np.ndarray], work: Path) -> dict[str, object]:
    from lifelog_compression import _core, extract_to_dir
    from lifelog_compression.bundle import load_manifest

    clip = CACHE / f"{name}.mp4"
    t0 = time.process_time()
    extract_to_dir(clip, work / name, workers=1)
    extract_cpu = time.process_time() - t0
    rows = load_manifest(work / name)
    dropped_dir = work / (name + "-dropped")
    extract_to_dir(clip, dropped_dir, workers=1, drop_duplicates=True)
    size = lambda d: sum(p.stat().st_size for p in (d / "frames").iterdir())  # noqa: E731
    saved = size(work / name) - size(dropped_dir)

    # signals' own cost: the same computation on this clip's content rect, timed alone
    r = rows[0]
    w, h = r.content_rect_width, r.content_rect_height
    plane = np.random.default_rng(0).integers(0, 256, (h, w), dtype=np.uint8).tobytes()
    t0 = time.process_time()
    for _ in range(50):
        _core.signals_of(plane, w, h)
    per_frame = (time.process_time() - t0) / 50
    index = {row.frame_id: i for i, row in enumerate(rows)}
    frame_of = [min(len(clean) - 1, round(row.actual_ts_ms * FPS / 1000)) for row in rows]
    marked = wrong = missed = 0
    kept = 0
    worst_wrong = 0.0
    for i, row in enumerate(rows):
        dup = row.duplicate_of
        if dup is not None:
            marked += 1
            c = changed(clean[frame_of[i]], clean[frame_of[index[dup]]])
            worst_wrong = max(worst_wrong, c)
            wrong += c >= 0.02
        else:
            if i > 0 and changed(clean[frame_of[i]], clean[frame_of[kept]]) < 0.005:
                missed += 1
            kept = i
    sig = lambda k: [getattr(row, k) for row in rows]  # noqa: E731
    return {
        "clip": name,
        "rows": len(rows),
        "marked": marked,
        "wrong": wrong,
        "missed": missed,
        "largest_change_marked": round(worst_wrong, 4),
        "jpeg_bytes_saved": saved,
        "jpeg_bytes": size(work / name),
        "signals_ms_per_frame": round(per_frame * 1000, 3),
        "extract_cpu_ms_per_frame": round(extract_cpu * 1000 / len(rows), 1),
        "signals_share": round(per_frame * len(rows) / extract_cpu, 4),
        "sharpness": _spread(sig("sharpness")),
        "luma_mean": _spread(sig("luma_mean")),
        "luma_clipped": _spread(sig("luma_clipped")),
    }


def _spread(values: list[float]) -> list[float]:
    v = np.array(values, dtype=float)
    return [round(float(v.min()), 3), round(float(np.median(v)), 3), round(float(v.max()), 3)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args()
    clips = make_clips()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, clean in clips.items():
            results.append(evaluate(name, clean, Path(tmp)))
    print("| clip | rows | marked | wrong | missed | largest change marked | JPEG bytes saved | signals CPU |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['clip']} | {r['rows']} | {r['marked']} | {r['wrong']} | {r['missed']} | "
            f"{100 * r['largest_change_marked']:.2f} % | {r['jpeg_bytes_saved']} of {r['jpeg_bytes']} "
            f"({100 * r['jpeg_bytes_saved'] / r['jpeg_bytes']:.0f} %) | {r['signals_ms_per_frame']} ms of "
            f"{r['extract_cpu_ms_per_frame']} ms ({100 * r['signals_share']:.2f} %) |"
        )
    print()
    print("| clip | sharpness min/median/max | luma_mean | luma_clipped |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r['clip']} | {r['sharpness']} | {r['luma_mean']} | {r['luma_clipped']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
