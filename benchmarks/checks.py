"""Is a competitor's output the same product as the bundle's? Checked before timing.

Same number of frames as the bundle, each a 1920x1080 JPEG within +/-0.5 s of
its request, and where a competitor chose the same picture as the bundle
(actual times within 5 ms), the pictures agree: PSNR of the two frames in
grey, downscaled to 480x270, at least MIN_PSNR_DB (scalers and JPEG settings
differ; a wrong frame, a shifted or stretched picture scores far lower).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MIN_PSNR_DB = 28.0
SAME_PICTURE_S = 0.005
TOLERANCE_S = 0.5


@dataclass(frozen=True)
class Check:
    ok: bool
    reason: str
    frames: int
    compared: int
    min_psnr_db: float | None
    max_error_s: float


def _grey(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        if im.size != (1920, 1080):
            raise ValueError(f"{path.name} is {im.size[0]}x{im.size[1]}, not 1920x1080")
        return np.asarray(im.convert("L").resize((480, 270), Image.BILINEAR), dtype=np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def bundle_frames(bundle: Path) -> list[tuple[float, float, Path]]:
    """(requested s, actual s, jpeg path) per manifest row."""
    rows = [json.loads(line) for line in (bundle / "manifest.jsonl").read_text().splitlines() if line.strip()]
    return [(r["requested_ts_ms"] / 1000, r["actual_ts_ms"] / 1000, bundle / r["frame_relpath"]) for r in rows]


def check(out: Path, bundle: Path) -> Check:
    """Compares OUT/frames + OUT/times.json with the bundle."""
    ours = bundle_frames(bundle)
    try:
        times = json.loads((out / "times.json").read_text())
    except (OSError, ValueError) as e:
        return Check(False, f"no readable times.json: {e}", 0, 0, None, math.inf)
    frames = sorted((out / "frames").glob("*.jpg"))
    actual = times["actual_s"]
    if len(frames) != len(ours) or len(actual) != len(ours) or any(a is None for a in actual):
        return Check(
            False,
            f"{len(frames)} frames ({sum(a is not None for a in actual)} with times), the bundle has {len(ours)}",
            len(frames),
            0,
            None,
            math.inf,
        )
    errors = [abs(a - r) for a, (r, _, _) in zip(actual, ours)]
    worst, compared, scores = max(errors), 0, []
    if worst > TOLERANCE_S + 1e-3:
        i = errors.index(worst)
        return Check(
            False,
            f"frame {i + 1} at {actual[i]:.3f} s for the request at {ours[i][0]:.0f} s",
            len(frames),
            0,
            None,
            worst,
        )
    try:
        for a, (_, ours_t, ours_path), path in zip(actual, ours, frames):
            if abs(a - ours_t) <= SAME_PICTURE_S:
                scores.append(psnr(_grey(path), _grey(ours_path)))
                compared += 1
            else:
                _grey(path)  # still a 1920x1080 JPEG
    except (OSError, ValueError) as e:
        return Check(False, str(e), len(frames), compared, None, worst)
    low = min(scores) if scores else None
    if low is not None and low < MIN_PSNR_DB:
        return Check(
            False, f"a frame differs from ours (PSNR {low:.1f} dB < {MIN_PSNR_DB})", len(frames), compared, low, worst
        )
    return Check(True, "", len(frames), compared, low, worst)
