"""Checks that a bundle tells the truth about its source clip."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from fixtures import read_index
from PIL import Image

CANVAS = (1920, 1080)


def load_rows(bundle: Path) -> list[dict]:
    return [json.loads(line) for line in (bundle / "manifest.jsonl").read_text().splitlines()]


def decode(bundle: Path, row: dict) -> np.ndarray:
    with Image.open(bundle / row["frame_relpath"]) as im:
        assert im.format == "JPEG"
        assert im.size == CANVAS
        return np.asarray(im.convert("RGB"))


def rect_of(row: dict) -> tuple[int, int, int, int]:
    return (row["content_rect_x"], row["content_rect_y"], row["content_rect_width"], row["content_rect_height"])


def assert_true_to_source(bundle: Path, clip, *, tolerance_ms: float = 500) -> list[dict]:
    """Every frame pictures exactly the source frame its actual_ts_ms names,
    within the window of its request; hashes match the files."""
    rows = load_rows(bundle)
    assert rows, "no frames"
    times = clip.times_by_index
    for row in rows:
        assert abs(row["actual_ts_ms"] - row["requested_ts_ms"]) <= tolerance_ms, row
        data = (bundle / row["frame_relpath"]).read_bytes()
        assert row["content_hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
        index = read_index(decode(bundle, row), rect_of(row))
        assert index in times, f"{row['frame_relpath']}: no readable frame index (wrong geometry?)"
        assert abs(times[index] - row["actual_ts_ms"]) <= 1.0, (
            f"{row['frame_relpath']} pictures frame {index} at {times[index]:.1f} ms, "
            f"manifest says {row['actual_ts_ms']} ms"
        )
    return rows


def nearest_frame_ms(clip, t_ms: float) -> float:
    return min(clip.frame_times_ms, key=lambda t: (abs(t - t_ms), t))
