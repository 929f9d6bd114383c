"""Progress on stderr that fits where it runs.

On a terminal: one status line redrawn in place (``\\r``), never wider than the
terminal (asked again at every redraw, so resizing works), at most ten times a
second. Elsewhere (a pipe, a log file, systemd, CI): a plain line every
``LIFELOG_PROGRESS_INTERVAL`` seconds (default 15) and one at the end, so a
long run is never silent and a log never fills with redraws. A run that ends
before its first plain line prints none (its summary says it all).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Sequence, TextIO

DEFAULT_INTERVAL_S = 15.0
_REDRAW_S = 0.1
_MIN_BAR = 6


def _interval_s() -> float:
    try:
        return max(0.0, float(os.environ.get("LIFELOG_PROGRESS_INTERVAL", DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


def _columns(stream: TextIO) -> int:
    """The terminal's width: the stream's own terminal first (stderr may be a
    terminal while stdout is piped), then COLUMNS, then 80."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        try:
            return int(os.environ.get("COLUMNS", "")) or 80
        except ValueError:
            return 80


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def format_duration(seconds: float) -> str:
    """``8s``, ``5m10s``, ``1h02m``: short enough for a status line."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _shorten(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[: max(0, width - 3)] + "..." if width > 3 else text[:width]


class ProgressBar:
    """Reports progress on ``stream`` (default stderr): a redrawn line on a
    terminal, periodic plain lines elsewhere, nothing when ``enabled`` is False.

    ``enabled=None`` chooses by whether the stream is a terminal; ``True``
    forces the terminal line. ``interval_s`` (plain lines) defaults to
    ``LIFELOG_PROGRESS_INTERVAL`` or 15 s.
    """

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        interval_s: float | None = None,
        unit: str = "",
    ):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if enabled is False:
            self.mode = "off"
        elif enabled or _isatty(self.stream):
            self.mode = "tty"
        else:
            self.mode = "plain"
        self.interval_s = _interval_s() if interval_s is None else interval_s
        self.unit = unit
        self._started = time.monotonic()
        # Plain lines start one interval in: a short run stays quiet.
        self._last_draw = float("-inf") if self.mode == "tty" else self._started
        self._drawn = False
        self._last_plain: str | None = None
        self._pending_plain: str | None = None

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def update(
        self,
        done: int,
        total: int,
        video_s: float,
        elapsed_s: float,
        force: bool = False,
        eta_s: float | None = None,
        video_total_s: float | None = None,
        running: Sequence[str] = (),
    ) -> None:
        """``done``/``total`` count the units (files, requests); the bar fills
        by seconds of video when ``video_total_s`` is known; ``running`` names
        what is being worked on now."""
        if self.mode == "off":
            return
        if eta_s is None and done and total:
            eta_s = elapsed_s / done * (total - done)
        speed = video_s / elapsed_s if elapsed_s > 0 else 0.0
        if video_total_s:
            fraction = min(1.0, video_s / video_total_s)
        else:
            fraction = done / total if total else 1.0
        now = time.monotonic()
        if self.mode == "tty":
            if force or now - self._last_draw >= _REDRAW_S:
                self._last_draw = now
                self._draw(self._tty_line(done, total, video_s, video_total_s, speed, eta_s, fraction, running))
            return
        line = self._plain_line(done, total, video_s, video_total_s, speed, eta_s, fraction, running)
        if now - self._last_draw >= self.interval_s and line != self._last_plain:
            self._last_draw = now
            self._emit_plain(line)
            self._pending_plain = None
        else:
            self._pending_plain = line

    def _counts(self, done: int, total: int) -> str:
        return f"{done}/{total}{' ' + self.unit if self.unit else ''}"

    def _tty_line(
        self,
        done: int,
        total: int,
        video_s: float,
        video_total_s: float | None,
        speed: float,
        eta_s: float | None,
        fraction: float,
        running: Sequence[str],
    ) -> str:
        width = _columns(self.stream) - 1  # the last column would wrap on some terminals
        video = f"{video_s:.0f}/{video_total_s:.0f}s" if video_total_s else f"{video_s:.0f}s"
        head = f"{self.label} {self._counts(done, total)}"
        stats = f"{video} {speed:.1f}x" + (f" {format_duration(eta_s)} left" if eta_s is not None else "")
        names = ", ".join(os.path.basename(r) for r in running)
        # The names come before the bar: the bar gets what the text leaves
        # (at most 28 columns), or goes.
        fixed = len(head) + 1 + len(stats) + (len(names) + 1 if names else 0) + 3
        bar_width = min(28, width - fixed)
        if bar_width >= _MIN_BAR:
            filled = int(bar_width * fraction)
            line = f"{head} [{'#' * filled}{'.' * (bar_width - filled)}] {stats}"
        else:
            line = f"{head} {stats}"
        if names and len(line) + 4 < width:
            line += " " + _shorten(names, width - len(line) - 1)
        return _shorten(line, width)

    def _plain_line(
        self,
        done: int,
        total: int,
        video_s: float,
        video_total_s: float | None,
        speed: float,
        eta_s: float | None,
        fraction: float,
        running: Sequence[str],
    ) -> str:
        video = f"{video_s:.0f}/{video_total_s:.0f} s of video" if video_total_s else f"{video_s:.0f} s of video"
        line = f"{self.label}: {self._counts(done, total)}, {video} ({fraction * 100:.0f}%), {speed:.1f}x realtime"
        if eta_s is not None:
            line += f", {format_duration(eta_s)} left"
        if running:
            line += f"; running: {', '.join(running)}"
        return line

    def _draw(self, line: str) -> None:
        self.stream.write("\r" + line + "\033[K")
        self.stream.flush()
        self._drawn = True

    def _emit_plain(self, line: str) -> None:
        self.stream.write(f"{line} [{format_duration(time.monotonic() - self._started)}]\n")
        self.stream.flush()
        self._last_plain = line
        self._drawn = True

    def close(self) -> None:
        """Clears the terminal line, or prints the last plain line if the run
        printed any (so a log ends with where the run got to)."""
        if self.mode == "tty" and self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
        elif self.mode == "plain" and self._drawn and self._pending_plain is not None:
            self._emit_plain(self._pending_plain)
        self._drawn = False
