"""The source frames a validation needs, decoded by the ffmpeg CLI in as few
passes as possible.

``validate`` compares each checked row with the source frame at its
``actual_ts_ms`` (and, for the time check, neighbours). Starting the ffmpeg
CLI once per row costs a process, a seek and a decode from the keyframe
before it, for every row; decoding the whole file once costs a full decode.
Here, where the source's packets can be named (packet_plan.PacketIndex), a
first ffmpeg process copies only the packets the wanted frames need (the
``noise`` bitstream filter's ``drop`` expression, by byte offset) into a NUT
stream, and a second decodes just those: a keyframe and a frame or two per
row instead of every frame. Long bundles are cut into chunks, each its own
pair of processes seeking near its first packet, so that the expression
stays short. Where the packets cannot be named the whole file is decoded in
one pass, as before.

The decoder hands over only the wanted frames (a ``select`` filter on their
presentation times, written to a filter script: thousands of ranges do not
fit on a command line); ``showinfo`` names each frame's time (after
``settb`` to microseconds, so that the time is exact at any length), so a
frame the source could not give is missing rather than mistaken for the
next. A reader thread keeps a few frames ahead of the comparisons, so
decoding and the metrics run at once. Frames the feed did not deliver are
left to the caller (validate then renders them one row at a time, and a
frame that does not decode there is UNCHECKED).
"""

from __future__ import annotations

import bisect
import os
import queue
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, Protocol

from .packet_plan import PacketIndex, Span, chunks, drop_expression, merge


class SourceReference(Protocol):
    """What the feed reads of validate's SourceReference (a protocol, so that
    this module does not import validate, which imports it)."""

    path: Path
    input: list[str]  # the ffmpeg CLI's input options, then its input
    frame_times: list[Fraction]
    format_start: Fraction
    stream_index: int
    packet_index: PacketIndex | None

    @property
    def geometry(self) -> Any: ...


# Frames decoded ahead of the comparisons (each 1080p frame is 12 MB as 16-bit RGB).
AHEAD = 6
# Spans per pair of processes: the drop expression is evaluated on every
# packet the first process reads, so its length is the cost per packet.
SPANS_PER_CHUNK = 150
_SHOWINFO = re.compile(r"\bn:\s*\d+\s+pts:\s*(-?\d+)\s+pts_time:")
_MICROSECONDS = 1_000_000


# The 16-bit RGB swscale hands over, as planes (G, B, R): bit for bit what
# it gives packed (rgb48le), at a fifth of the conversion's cost there
# (~6 against ~27 ms a 1080p frame, accurate_rnd + full_chroma_int).
PIXEL_FORMAT = "gbrp16le"


# Where R, G and B lie among PIXEL_FORMAT's planes.
RGB_PLANES = (2, 0, 1)


def rgb48(data: bytes, w: int, h: int) -> Any:
    """One PIXEL_FORMAT frame as its three uint16 planes (a 3 x H x W view
    of ``data``, planes as PIXEL_FORMAT orders them: see RGB_PLANES): no
    copy; the caller makes the float picture it compares in one pass."""
    np = __import__("numpy")
    return np.frombuffer(data, dtype="<u2").reshape(3, h, w)


def runs(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted unique indices as (first, last) runs of consecutive ones."""
    return merge([(i, i) for i in indices])


def select(times: list[Fraction], wanted: list[int]) -> str:
    """A ``select`` filter passing the frames ``wanted`` (indices into
    ``times``) by presentation time: half a millisecond around each run,
    less where frames are closer."""
    terms = []
    for first, last in runs(wanted):
        span = times[max(0, first - 1) : last + 2]
        eps = min([0.0005] + [float(b - a) / 4 for a, b in zip(span, span[1:])])
        terms.append(f"between(t\\,{float(times[first]) - eps:.6f}\\,{float(times[last]) + eps:.6f})")
    return f"select='{'+'.join(terms)}'"


def to_rgb(geometry: Any) -> str:
    """The conversion to PIXEL_FORMAT with the source's own matrix and range:
    full_chroma_int + accurate_rnd interpolate chroma rather than repeat it
    and round exactly; 16 bits keep 10-bit sources whole."""
    g = geometry
    return (
        f"scale=in_color_matrix={g.color_matrix}:in_range={'full' if g.full_range else 'limited'}"
        f":flags=bicubic+accurate_rnd+full_chroma_int,format={PIXEL_FORMAT}"
    )


@dataclass
class _Pass:
    """One decoder run: the frames it must deliver and, when the packets
    are planned, the packet spans it reads."""

    wanted: list[int]
    spans: list[Span] | None = None


class FrameFeed:
    """The source frames ``indices`` (into ``src.frame_times``), decoded in
    presentation order; ``take`` hands them out as rows ask. ``needs`` maps
    each wanted frame to the packet span it decodes from, when the source's
    packets are planned (``src.packet_index``); without it the whole file
    is decoded from a keyframe before the first wanted frame."""

    def __init__(self, src: SourceReference, indices: list[int], needs: dict[int, Span] | None = None):
        self.src = src
        self.wanted = sorted(set(indices))
        self.frames: dict[int, Any] = {}  # index -> 16-bit RGB, until taken past
        self.done = not self.wanted
        self.decoded = 0
        self.passes = self._plan(needs or {})
        self.planned = any(p.spans is not None for p in self.passes)  # only chosen packets are decoded
        self._queue: "queue.Queue[tuple[int, Any] | None]" = queue.Queue(maxsize=AHEAD)
        self._procs: list[subprocess.Popen[bytes]] = []
        self._scripts: list[str] = []
        self._lock = threading.Lock()
        self._closing = False
        self._thread: threading.Thread | None = None
        if self.wanted:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _plan(self, needs: dict[int, Span]) -> list[_Pass]:
        index = self.src.packet_index
        if index is None or not self.wanted or any(i not in needs for i in self.wanted):
            return [_Pass(self.wanted)]
        out = []
        for group in chunks([needs[i] for i in self.wanted], SPANS_PER_CHUNK):
            first, last = group[0][0], group[-1][1]
            out.append(_Pass([i for i in self.wanted if first <= needs[i][1] <= last], group))
        return out

    def _filter(self, wanted: list[int]) -> str:
        return f"{select(self.src.frame_times, wanted)},settb=1/{_MICROSECONDS},showinfo,{to_rgb(self.src.geometry)}"

    def _seek(self, first_time: Fraction) -> list[str]:
        # -ss is relative to the container's start; 1 s early so the seek
        # lands on a keyframe before the first wanted packet even for
        # demuxers that seek by bytes (MPEG-TS). -noaccurate_seek and
        # -copyts keep every packet on the stream's own clock.
        seek = float(first_time - self.src.format_start) - 1.0
        return ["-noaccurate_seek", "-ss", f"{seek:.6f}"] if seek > 0 else []

    def _decoder(self, p: _Pass, source: list[str]) -> list[str]:
        fd, script = tempfile.mkstemp(prefix="lifelog-validate-", suffix=".filter")
        self._scripts.append(script)
        with os.fdopen(fd, "w") as f:
            f.write(self._filter(p.wanted))
        return [
            "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "info", "-nostdin", "-copyts", *source,
            "-an", "-sn", "-dn", "-filter_script:v", script, "-fps_mode", "passthrough",
            "-f", "rawvideo", "-pix_fmt", PIXEL_FORMAT, "pipe:1",
        ]  # fmt: skip

    def _start(self, p: _Pass) -> subprocess.Popen[bytes] | None:
        """The processes of one pass; the decoder's, or None once closing."""
        src = self.src
        with self._lock:
            if self._closing:
                return None
            if p.spans is None or src.packet_index is None:
                first = src.frame_times[p.wanted[0]]
                cmd = self._decoder(
                    p, [*self._seek(first), *src.input[:-1], "-i", src.input[-1], "-map", f"0:{src.stream_index}"]
                )
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                self._procs.append(proc)
                return proc
            index = src.packet_index
            copier = subprocess.Popen(
                [
                    "ffmpeg",
                    "-hide_banner",
                    "-nostats",
                    "-loglevel",
                    "error",
                    "-nostdin",
                    *self._seek(index.packets[p.spans[0][0]].pts),
                    "-copyts",
                    *src.input[:-1],
                    "-i",
                    src.input[-1],
                    "-map",
                    f"0:{src.stream_index}",
                    "-c",
                    "copy",
                    "-copyinkf",
                    "-bsf:v",
                    f"noise=drop={drop_expression(index, p.spans)}",
                    "-avoid_negative_ts",
                    "disabled",
                    "-f",
                    "nut",
                    "pipe:1",
                ],  # fmt: skip
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            cmd = self._decoder(p, ["-f", "nut", "-i", "pipe:0", "-map", "0:0"])
            proc = subprocess.Popen(cmd, stdin=copier.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert copier.stdout is not None
            copier.stdout.close()  # the decoder holds it now: the copier sees its end
            self._procs += [copier, proc]
            return proc

    def _run(self) -> None:
        try:
            for p in self.passes:
                proc = self._start(p)
                if proc is None:
                    break
                self._read(proc, set(p.wanted))
        finally:
            self._end_pass()
            self._queue.put(None)

    def _read(self, proc: subprocess.Popen[bytes], wanted: set[int]) -> None:
        """Pairs each raw frame on stdout with the time showinfo logged for
        it; returns once every frame of ``wanted`` came, or the decoder ended."""
        assert proc.stdout is not None and proc.stderr is not None
        times: list[Fraction] = []
        cond = threading.Condition()
        ended = [False]

        def log() -> None:
            assert proc.stderr is not None
            for line in iter(proc.stderr.readline, b""):
                m = _SHOWINFO.search(line.decode("utf-8", "replace"))
                if m:
                    with cond:
                        times.append(Fraction(int(m.group(1)), _MICROSECONDS))
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
            while wanted:
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
                    wanted.discard(index)
                    self._queue.put((index, rgb48(data, w, h)))
        finally:
            self._kill()  # the logger then reads to the end of stderr
            logger.join()
            self._end_pass()

    def _index_of(self, t: Fraction) -> int | None:
        times = self.src.frame_times
        i = bisect.bisect_left(times, t)
        best = min((j for j in (i - 1, i) if 0 <= j < len(times)), key=lambda j: abs(times[j] - t), default=None)
        return best if best is not None and abs(float(times[best] - t)) < 0.0006 else None

    def _kill(self) -> None:
        """Stops this pass's processes; their pipes stay open for the reader
        thread, which owns them (closing them under its read would fail it)."""
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()

    def _end_pass(self) -> None:
        """Reaps this pass's processes and closes their pipes (reader thread)."""
        with self._lock:
            procs, self._procs = self._procs, []
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()

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
        """The 16-bit RGB frames of ``wanted`` the feed delivered (missing
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
        """Stops ffmpeg (if still running) and removes the filter scripts."""
        with self._lock:
            self._closing = True
        self._kill()
        # Drain so the reader thread ends (it may be blocked on a full queue).
        while self._thread is not None and self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                pass
            self._kill()
        self._end_pass()
        for script in self._scripts:
            try:
                os.unlink(script)
            except OSError:
                pass
        self._scripts = []

    def __iter__(self) -> Iterator[int]:  # for tests: the indices delivered, in order
        while self._next():
            pass
        return iter(sorted(self.frames))
