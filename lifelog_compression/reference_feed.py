"""One decoding pass for every source frame a validation needs.

``validate`` compares each checked row with the source frame at its
``actual_ts_ms`` and that frame's two neighbours. Starting the ffmpeg CLI once
per row costs a process, a seek and a decode from the keyframe before it, for
every row: an hour of video took longer than the hour. Here one ffmpeg
process decodes the file once, from a keyframe before the first needed frame,
and hands over only the needed frames (a ``select`` filter on their
presentation times, written to a filter script: thousands of ranges do not
fit on a command line); ``showinfo`` names each frame's time, so a frame the
source could not give is missing rather than mistaken for the next. A reader
thread keeps a few frames ahead of the comparisons, so decoding and the
metrics run at once. Frames the pass did not deliver are left to the caller
(validate then renders them one row at a time, as before, and a frame that
does not decode there is UNCHECKED).
"""

from __future__ import annotations

import bisect
import os
import queue
import re
import subprocess
import tempfile
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, Protocol


class SourceReference(Protocol):
    """What the feed reads of validate's SourceReference (a protocol, so that
    this module does not import validate, which imports it)."""

    path: Path
    frame_times: list[Fraction]
    format_start: Fraction
    stream_index: int

    @property
    def geometry(self) -> Any: ...


# Frames decoded ahead of the comparisons (each 1080p frame is 12 MB as 16-bit RGB).
AHEAD = 6
_SHOWINFO = re.compile(r"\bn:\s*\d+\s+pts:\s*-?\d+\s+pts_time:\s*(-?[0-9.]+)")


def runs(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted unique indices as (first, last) runs of consecutive ones."""
    out: list[tuple[int, int]] = []
    for i in sorted(set(indices)):
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


class FrameFeed:
    """The source frames ``indices`` (into ``src.frame_times``), decoded in one
    pass, in presentation order; ``take`` hands them out as rows ask."""

    def __init__(self, src: "SourceReference", indices: list[int]):
        self.src = src
        self.wanted = sorted(set(indices))
        self.frames: dict[int, Any] = {}  # index -> 16-bit RGB, until taken past
        self.done = not self.wanted
        self.decoded = 0
        self._queue: "queue.Queue[tuple[int, Any] | None]" = queue.Queue(maxsize=AHEAD)
        self._proc: subprocess.Popen[bytes] | None = None
        self._script: str | None = None
        self._thread: threading.Thread | None = None
        if self.wanted:
            self._start()

    def _filter(self) -> str:
        src = self.src
        times = src.frame_times
        terms = []
        for first, last in runs(self.wanted):
            span = times[max(0, first - 1) : last + 2]
            eps = min([0.0005] + [float(b - a) / 4 for a, b in zip(span, span[1:])])
            terms.append(f"between(t\\,{float(times[first]) - eps:.6f}\\,{float(times[last]) + eps:.6f})")
        g = src.geometry
        return (
            f"select='{'+'.join(terms)}',showinfo,"
            f"scale=in_color_matrix={g.color_matrix}:in_range={'full' if g.full_range else 'limited'}"
            ":flags=bicubic+accurate_rnd+full_chroma_int,format=rgb48le"
        )

    def _start(self) -> None:
        src = self.src
        fd, self._script = tempfile.mkstemp(prefix="lifelog-validate-", suffix=".filter")
        with os.fdopen(fd, "w") as f:
            f.write(self._filter())
        seek = float(src.frame_times[self.wanted[0]] - src.format_start) - 1.0
        cmd = ["ffmpeg", "-hide_banner", "-nostats", "-loglevel", "info", "-nostdin"]
        if seek > 0:
            cmd += ["-noaccurate_seek", "-ss", f"{seek:.6f}"]
        cmd += [
            "-copyts",
            "-i",
            str(src.path),
            "-map",
            f"0:{src.stream_index}",
            "-an",
            "-sn",
            "-dn",
            "-filter_script:v",
            self._script,
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb48le",
            "pipe:1",
        ]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        """Pairs each raw frame on stdout with the time showinfo logged for it."""
        np = __import__("numpy")
        proc = self._proc
        assert proc is not None and proc.stdout is not None and proc.stderr is not None
        times: list[float] = []
        cond = threading.Condition()
        ended = [False]

        def log() -> None:
            assert proc.stderr is not None
            for line in iter(proc.stderr.readline, b""):
                m = _SHOWINFO.search(line.decode("utf-8", "replace"))
                if m:
                    with cond:
                        times.append(float(m.group(1)))
                        cond.notify_all()
            with cond:
                ended[0] = True
                cond.notify_all()

        logger = threading.Thread(target=log, daemon=True)
        logger.start()
        w, h = self.src.geometry.decoded_size
        size = w * h * 3 * 2
        k = 0
        try:
            while True:
                data = proc.stdout.read(size)
                if len(data) < size:
                    break
                with cond:
                    cond.wait_for(lambda: len(times) > k or ended[0])
                    if len(times) <= k:
                        break
                    t = times[k]
                k += 1
                index = self._index_of(t)
                if index is not None:
                    self._queue.put((index, np.frombuffer(data, dtype="<u2").reshape(h, w, 3)))
        finally:
            proc.stdout.close()
            self._queue.put(None)
            logger.join()

    def _index_of(self, t: float) -> int | None:
        times = self.src.frame_times
        target = Fraction(t).limit_denominator(10**7)
        i = bisect.bisect_left(times, target)
        best = min((j for j in (i - 1, i) if 0 <= j < len(times)), key=lambda j: abs(times[j] - target), default=None)
        return best if best is not None and abs(float(times[best] - target)) < 0.0006 else None

    def _next(self) -> bool:
        if self.done:
            return False
        item = self._queue.get()
        if item is None:
            self.done = True
            self.close()
            return False
        self.frames[item[0]] = item[1]
        self.decoded += 1
        return True

    def take(self, wanted: list[int]) -> dict[int, Any]:
        """The 16-bit RGB frames of ``wanted`` the pass delivered (missing
        ones left out), reading on as far as needed. Frames before
        ``min(wanted)`` are let go: rows come in time order."""
        last = max(wanted)
        while (not self.frames or max(self.frames) < last) and self._next():
            pass
        got = {i: self.frames[i] for i in wanted if i in self.frames}
        for i in [i for i in self.frames if i < min(wanted)]:
            del self.frames[i]
        return got

    def close(self) -> None:
        """Stops ffmpeg (if still running) and removes the filter script."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            # Drain so the reader thread ends (it may be blocked on a full queue).
            while self._thread is not None and self._thread.is_alive():
                try:
                    self._queue.get(timeout=0.1)
                except queue.Empty:
                    pass
        if self._proc is not None:
            self._proc.wait()
        if self._script:
            try:
                os.unlink(self._script)
            except OSError:
                pass
            self._script = None

    def __iter__(self) -> Iterator[int]:  # for tests: the indices delivered, in order
        while self._next():
            pass
        return iter(sorted(self.frames))
