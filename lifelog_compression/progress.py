"""A one-line progress bar for terminals; silent when output is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Redraws one status line at most ten times a second."""

    def __init__(self, label: str, stream: TextIO = sys.stderr, enabled: bool | None = None):
        self.label = label
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self._last_draw = 0.0
        self._drawn = False

    def update(self, done: int, total: int, video_s: float, elapsed_s: float, force: bool = False,
               eta_s: float | None = None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        width = 28
        filled = int(width * done / total) if total else width
        speed = video_s / elapsed_s if elapsed_s > 0 else 0.0
        if eta_s is None:
            eta_s = (elapsed_s / done) * (total - done) if done else 0.0
        line = (
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
            f"{video_s:.0f}s of video, {speed:.1f}x realtime, {eta_s:.0f}s left "
        )
        self.stream.write(line)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
