"""Bundles to look at (info, view): one with a DJI GPS track and a camera
clock, and a batch output root of bundles whose capture order is not their
path order. Made from generated clips (fixtures.make_clip)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from fixtures import make_clip
from telemetry_fixtures import dji_mini_body, dji_srt

DJI_LOCAL = datetime(2021, 9, 5, 15, 34, 9)


def gps_card(folder: Path, seconds: int = 6) -> Path:
    """A DJI clip with its .SRT sidecar: a track that moves north-east, a
    position for every frame. Returns the video."""
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / "DJI_0001.MP4"
    make_clip(video, seconds=seconds, gop=30, bframes=2)
    entries = [
        (
            k * 100,
            k * 100 + 100,
            dji_mini_body(
                k + 1,
                DJI_LOCAL + timedelta(milliseconds=k * 100),
                45.0 + k * 2e-5,
                7.0 + k * 1e-5 + (k % 20) * 5e-6,
                250.0,
            ),
        )
        for k in range(seconds * 10)
    ]
    (folder / "DJI_0001.SRT").write_text(dji_srt(entries), encoding="utf-8")
    return video


def batch_card(folder: Path) -> Path:
    """A card of three clips whose capture clocks (their modification times)
    run opposite to their names: c.mp4 was recorded first."""
    folder.mkdir(parents=True, exist_ok=True)
    base = datetime(2024, 5, 1, 9, 0, 0).timestamp()
    for i, name in enumerate(["a.mp4", "b.mp4", "c.mp4"]):
        make_clip(folder / name, seconds=3, fps=10)
        t = base + (2 - i) * 3600
        os.utime(folder / name, (t, t))
    return folder


def copy_bundle(bundle: Path, dest: Path) -> Path:
    shutil.copytree(bundle, dest)
    return dest
