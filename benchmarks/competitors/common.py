"""What every competitor script shares: the requests, the canvas, the output.

A competitor writes what `extract` writes, so that the work compared is the
same: one 1920x1080 JPEG per request, the picture fitted inside and padded
black, into OUT/frames/00000001.jpg ... in request order, and OUT/times.json
with the requested and actual times (seconds from the first video frame) that
the panel checks before it times anything.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

CANVAS_W, CANVAS_H = 1920, 1080
INTERVAL_S = 1.0
TOLERANCE_S = 0.5
JPEG_QUALITY = 80


def request_times(duration_s: float) -> list[float]:
    """0, 1, 2, ... s while < duration (as the recipe: at least one)."""
    count = max(1, math.ceil(round(duration_s * 1000) / (INTERVAL_S * 1000)))
    return [i * INTERVAL_S for i in range(count)]


def fit(width: int, height: int) -> tuple[int, int, int, int]:
    """Content rectangle (x, y, w, h) of a width x height picture on the canvas, even sizes."""
    scale = min(CANVAS_W / width, CANVAS_H / height)
    w = min(CANVAS_W, max(2, round(width * scale / 2) * 2))
    h = min(CANVAS_H, max(2, round(height * scale / 2) * 2))
    return (CANVAS_W - w) // 4 * 2, (CANVAS_H - h) // 4 * 2, w, h


def canvas_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray, rect) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-range 4:2:0 planes of the canvas with the content planes placed in ``rect``."""
    x0, y0, w, h = rect
    cy = np.zeros((CANVAS_H, CANVAS_W), np.uint8)
    cu = np.full((CANVAS_H // 2, CANVAS_W // 2), 128, np.uint8)
    cv = np.full((CANVAS_H // 2, CANVAS_W // 2), 128, np.uint8)
    cy[y0 : y0 + h, x0 : x0 + w] = y[:h, :w]
    cu[y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2] = u[: h // 2, : w // 2]
    cv[y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2] = v[: h // 2, : w // 2]
    return cy, cu, cv


def canvas_bgr(bgr: np.ndarray, rect) -> np.ndarray:
    """The canvas (BGR) with an already scaled picture placed in ``rect``."""
    x0, y0, w, h = rect
    canvas = np.zeros((CANVAS_H, CANVAS_W, 3), np.uint8)
    canvas[y0 : y0 + h, x0 : x0 + w] = bgr[:h, :w]
    return canvas


class Output:
    """OUT/frames/%08d.jpg by request index, and OUT/times.json at the end."""

    def __init__(self, out: str | Path, requests: list[float]):
        self.out = Path(out)
        (self.out / "frames").mkdir(parents=True, exist_ok=True)
        self.requested = list(requests)
        self.actual: list[float | None] = [None] * len(requests)

    def write(self, index: int, actual_s: float, jpeg: bytes) -> None:
        (self.out / "frames" / f"{index + 1:08d}.jpg").write_bytes(jpeg)
        self.actual[index] = actual_s

    def finish(self, actual: list[float | None] | None = None) -> None:
        doc = {"requested_s": self.requested, "actual_s": actual if actual is not None else self.actual}
        (self.out / "times.json").write_text(json.dumps(doc))
