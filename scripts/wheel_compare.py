"""Compares two runs of scripts/wheel_exercise.py (the reference build against
the system FFmpeg, and the wheel): every file must give the same probe
summary, the same manifest rows (requested and actual times, content rects),
the same iter_frames records and batch outcomes, and every frame must match
its reference at PSNR >= 45 dB. Needs numpy and Pillow.

    python wheel_compare.py REFERENCE_OUT WHEEL_OUT
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

MIN_PSNR_DB = 45.0
# Fields that name the build, not the video.
_BUILD_FIELDS = {"elapsed_s", "file_size_bytes"}


def psnr(a: Path, b: Path) -> float:
    x = np.asarray(Image.open(a).convert("RGB"), dtype=np.float64)
    y = np.asarray(Image.open(b).convert("RGB"), dtype=np.float64)
    if x.shape != y.shape:
        return -1.0
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _BUILD_FIELDS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _diff(a.get(key, "<missing>"), b.get(key, "<missing>"), f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from _diff(x, y, f"{path}[{i}]")
    elif a != b:
        yield f"{path}: {str(a)[:120]} != {str(b)[:120]}"


def main(ref_dir: Path, wheel_dir: Path) -> int:
    ref = json.loads((ref_dir / "results.json").read_text())
    got = json.loads((wheel_dir / "results.json").read_text())
    problems: list[str] = []
    worst = math.inf
    frames = 0
    for name, expected in sorted(ref["files"].items()):
        actual = got["files"].get(name)
        if actual is None:
            problems.append(f"{name}: not run with the wheel")
            continue
        problems += [f"{name}{d}" for d in _diff(_strip(expected), _strip(actual))]
        for kind, folder in (("bundle", Path("bundles") / name / "frames"), ("iter_frames", Path("frames") / name)):
            for picture in sorted((ref_dir / folder).glob("*.jpg")) if (ref_dir / folder).is_dir() else []:
                other = wheel_dir / folder / picture.name
                if not other.is_file():
                    problems.append(f"{name}: {kind} {picture.name} missing from the wheel's run")
                    continue
                value = psnr(picture, other)
                frames += 1
                worst = min(worst, value)
                if value < MIN_PSNR_DB:
                    problems.append(f"{name}: {kind} {picture.name} PSNR {value:.1f} dB < {MIN_PSNR_DB}")
    problems += [f"batch{d}" for d in _diff(_strip(ref.get("batch")), _strip(got.get("batch")))]
    print(
        f"compared {len(ref['files'])} files, {frames} frames, worst PSNR "
        f"{'identical' if worst == math.inf else f'{worst:.1f} dB'}; reference {ref['elapsed_s']} s, "
        f"wheel {got['elapsed_s']} s"
    )
    for problem in problems:
        print("DIFF", problem)
    bad = {p.split(":")[0].split(".")[0] for p in problems}
    print(f"{len(ref['files']) + 1 - len(bad)} passed, {len(bad)} failed")  # the files and the batch
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
