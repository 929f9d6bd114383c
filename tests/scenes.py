"""Scenes for the near-duplicate rule (docs/signals.md), shared by
tests/test_signals.py (short clips of a generated picture) and
benchmarks/signals_set.py (the labelled set, from real footage).

Each builder takes a still RGB picture (float32, H x W x 3) and returns a
:class:`Scene`: the clean frames, which are the truth (what is in front of the
camera, before exposure and noise), and the frames as recorded (through the
camera's tone change and sensor noise), which are encoded.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass
class Scene:
    clean: list[np.ndarray]  # float32 RGB: what is there
    shown: list[np.ndarray]  # uint8 RGB: what the camera recorded


def record(
    clean: list[np.ndarray],
    rng: np.random.Generator,
    sigma: float,
    tone: Callable[[np.ndarray, int], np.ndarray] | None = None,
) -> Scene:
    """The camera: ``tone(frame, i)`` (exposure, a tone curve) then Gaussian
    noise of ``sigma`` levels, clipped to 0-255 as a sensor clips."""
    shown = []
    for i, f in enumerate(clean):
        f = f.astype(np.float32)
        toned = tone(f, i) if tone is not None else f
        noise = rng.normal(0, sigma, f.shape).astype(np.float32)
        shown.append(np.clip(toned + noise, 0, 255).astype(np.uint8))
    return Scene([f.astype(np.float32) for f in clean], shown)


def drift(n: int, end: float, flicker: float = 0.02) -> Callable[[np.ndarray, int], np.ndarray]:
    """Auto-exposure drifting from gain 1 to ``end`` over ``n`` frames, with
    flicker; highlights clip once the gain lifts them past 255."""
    return lambda f, i: f * (1.0 + (end - 1.0) * i / n + flicker * np.sin(i * 1.3))


def encode(frames: list[np.ndarray], path: Path, fps: int, crf: int = 23, gop: int = 20) -> Path:
    """H.264 (libx264, yuv420p) of RGB frames, with the ffmpeg CLI."""
    h, w = frames[0].shape[:2]
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps)]
    cmd += ["-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-g", str(gop)]
    cmd += ["-pix_fmt", "yuv420p", str(path)]
    data = b"".join(np.ascontiguousarray(np.clip(f, 0, 255).astype(np.uint8)).tobytes() for f in frames)
    subprocess.run(cmd, input=data, check=True)
    return path


def generated_still(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A textured picture: smooth blotches, a bright bar (which clips at a
    gain over 1.1) and a dark one."""
    from PIL import Image

    small = rng.integers(30, 220, (9, 16, 3)).astype(np.uint8)
    img = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC)).astype(np.float32)
    img[h * 2 // 9 : h // 3, w // 10 : w * 5 // 8] = 230
    img[h * 5 // 9 : h * 5 // 6, w * 25 // 32 : w * 13 // 16] = 25
    return img


def object_patch(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A textured object (stripes and blotches), unlike the scene behind it."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([200 + 40 * np.sin(x / 6.0), 60 + 50 * np.sin(y / 9.0), 40 + 30 * np.cos((x + y) / 7.0)], -1)
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.float32)


# ---- the scenes ---------------------------------------------------------------------------------


def static(still: np.ndarray, n: int, rng: np.random.Generator, gain_end: float, sigma: float = 4) -> Scene:
    """Nothing changes but the exposure: every row repeats the first."""
    return record([still] * n, rng, sigma, drift(n, gain_end))


def corner_object(
    still: np.ndarray,
    n: int,
    fps: int,
    rng: np.random.Generator,
    enter_s: float,
    slide_s: float,
    size: tuple[float, float] = (0.15, 0.20),
    gain_end: float = 1.0,
) -> Scene:
    """An object of ``size`` (fractions of the height and width: 3 % of the
    picture by default) slides into the bottom-right corner from ``enter_s``
    over ``slide_s`` and stays."""
    h, w = still.shape[:2]
    oh, ow = int(h * size[0]), int(w * size[1])
    patch = object_patch(oh, ow, rng)
    clean = []
    for i in range(n):
        f = still.copy()
        t = i / fps
        if t >= enter_s:
            shown_w = ow if slide_s <= 0 else min(ow, int(ow * (t - enter_s) / slide_s))
            if shown_w > 0:
                f[h - oh :, w - shown_w :] = patch[:, :shown_w]
        clean.append(f)
    return record(clean, rng, 4, drift(n, gain_end))


def pocket(h: int, w: int, n: int, rng: np.random.Generator) -> Scene:
    """Dark fabric (luma ~10) moving a little, heavy noise."""
    y, x = np.mgrid[0:h, 0:w]
    clean = []
    for i in range(n):
        fold = 10 + 5 * np.sin((x + 30 * np.sin(i / 7.0)) / (w / 16)) * np.cos(y / (h / 7))
        clean.append(np.repeat(fold[..., None], 3, -1).astype(np.float32))
    return record(clean, rng, 6)


def pan(still: np.ndarray, n: int, fps: int, rng: np.random.Generator, px_per_s: float) -> Scene:
    """The camera turns ``px_per_s`` pixels a second (the picture wraps round)."""
    return record([np.roll(still, int(i * px_per_s / fps), axis=1) for i in range(n)], rng, 4)


def tone_curve(still: np.ndarray, n: int, rng: np.random.Generator) -> Scene:
    """A camera's tone mapping lifting the shadows (gamma 1 -> 0.7) and the
    black level (+6), as a phone's HDR does when the light changes: monotone,
    but no single gain."""

    def tone(f: np.ndarray, i: int) -> np.ndarray:
        g = 1.0 - 0.3 * i / n
        return 6 * i / n + 255 * (f / 255) ** g

    return record([still] * n, rng, 4, tone)


def corner_light(still: np.ndarray, n: int, fps: int, rng: np.random.Generator, on_s: float) -> Scene:
    """A lamp switched on in the bottom-left corner at ``on_s``: the light
    falls off with distance, brightening about 4 % of the picture by more than
    16 levels. The exposure drifts as in the static scene."""
    h, w = still.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    r = np.hypot(x / h, (h - y) / h)  # distance from the corner, in picture heights
    lit = still * (1 + 2.0 * np.exp(-((r / 0.18) ** 2)))[..., None] + 30 * np.exp(-((r / 0.15) ** 2))[..., None]
    clean = [lit if i / fps >= on_s else still for i in range(n)]
    return record(clean, rng, 4, drift(n, 1.15))


def pale_object(
    still: np.ndarray, n: int, fps: int, rng: np.random.Generator, on_s: float, at: tuple[float, float]
) -> Scene:
    """A pale, thin object (a plastic bag: 2.5 % of the picture, 30 levels
    brighter than what shows through it) put on a bright area at ``at``
    (fractions of the height and width, top left) from ``on_s``. The exposure
    darkens a little, so nothing clips it away."""
    h, w = still.shape[:2]
    oh, ow = int(h * 0.15), int(w * 0.1667)
    y0, x0 = int(h * at[0]), int(w * at[1])
    obj = still.copy()
    behind = obj[y0 : y0 + oh, x0 : x0 + ow]
    obj[y0 : y0 + oh, x0 : x0 + ow] = np.clip(behind + 30 + rng.normal(0, 4, behind.shape), 0, 255)
    clean = [obj if i / fps >= on_s else still for i in range(n)]
    return record(clean, rng, 4, drift(n, 0.9))


def scene_cut(still: np.ndarray, n: int, fps: int, rng: np.random.Generator, cut_s: float) -> Scene:
    """A cut to a similar room: the same picture mirrored (the same histogram
    and brightness, only the places differ)."""
    other = still[:, ::-1].copy()
    return record([other if i / fps >= cut_s else still for i in range(n)], rng, 4, drift(n, 1.05))


def dark_face(still: np.ndarray, n: int, fps: int, rng: np.random.Generator, on_s: float) -> Scene:
    """A dark room (the picture at 6 % of its light, luma ~6) where a face lit
    by a phone (an ellipse, luma ~45, 3 % of the picture) appears at
    ``on_s``."""
    h, w = still.shape[:2]
    dark = still * 0.06
    y, x = np.mgrid[0:h, 0:w]
    ry, rx = h * 0.11, w * 0.087  # pi * ry * rx = 3 % of h * w
    inside = ((y - h * 0.45) / ry) ** 2 + ((x - w * 0.5) / rx) ** 2 <= 1
    face = dark.copy()
    shade = 45 + 10 * np.cos((y - h * 0.45) / ry * 2)
    face[inside] = (shade[..., None] * np.array([1.15, 0.95, 0.8], np.float32))[inside]
    clean = [face if i / fps >= on_s else dark for i in range(n)]
    return record(clean, rng, 5)
