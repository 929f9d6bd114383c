"""For ingest services: frames streamed straight from the native core (no
folder written and read back), and a fast look at a source from its headers.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

from . import _core, storage
from .api import Progress
from .errors import nothing_decoded
from .limits import check_workers
from .manifest import frame_fields
from .optional import require
from .recipe import DEFAULT_RECIPE, Recipe
from .signals import row_fields

if TYPE_CHECKING:  # numpy is optional at run time; CoreFrame exists only in _core.pyi
    import numpy
    from numpy.typing import NDArray

    from ._core import CoreFrame


@dataclass(frozen=True)
class FrameRecord:
    """One sample of the video: its times, where the picture sits on the
    canvas, how it was decoded, and either the JPEG bytes or an RGB array."""

    index: int  # 0-based position among the frames yielded
    requested_ts_ms: int
    actual_ts_ms: int
    content_rect: tuple[int, int, int, int]
    source_size: tuple[int, int]
    obtained: str
    frames_decoded: int
    jpeg: bytes | None = None
    array: NDArray[numpy.uint8] | None = None  # (H, W, 3) RGB with as_array=True
    # When and where (Visual Bundle 1.1, 1.2), as in a manifest row: the UTC
    # recording time ("...Z", None where the camera's zone is unknown), the
    # camera's local time (no offset) and the interpolated GPS position.
    captured_at: str | None = None
    captured_local: str | None = None  # SPEC 1.2: wall-clock time without a zone, where that is all we know
    location: dict[str, Any] | None = None
    # SPEC 1.2 content signals of the picture (phash, sharpness, luma_mean,
    # luma_clipped, as in a manifest row; signals.py), None where the backend has none.
    signals: dict[str, Any] | None = None
    # The picture's manifest-row fields (manifest.frame_fields: times, canvas,
    # content rect, source size, how obtained), as a bundle's row has them.
    fields: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        # The pixels are megabytes: show their size, not their bytes.
        if self.jpeg is not None:
            payload = f"jpeg=<{len(self.jpeg)} bytes>"
        elif self.array is not None:
            payload = f"array=<{'x'.join(map(str, self.array.shape))} {self.array.dtype}>"
        else:
            payload = "no pixels"
        return (
            f"FrameRecord(index={self.index}, requested_ts_ms={self.requested_ts_ms}, "
            f"actual_ts_ms={self.actual_ts_ms}, content_rect={self.content_rect}, "
            f"source_size={self.source_size}, obtained={self.obtained!r}, "
            f"frames_decoded={self.frames_decoded}, captured_at={self.captured_at!r}, {payload})"
        )


@dataclass(frozen=True)
class SourceSummary:
    """SPEC.md's summary of a source video (``probe``); ``fields`` has them all."""

    duration_ms: int
    display_width: int
    display_height: int
    video_codec: str
    container_format: str
    rotation_degrees: int
    has_audio: bool
    fields: dict[str, Any] = field(default_factory=dict, repr=False)


def probe(video: str | os.PathLike[str]) -> SourceSummary:
    """The source's summary read from its container headers (an H.264 stream's
    first keyframe is decoded for its pixel format and colour, as ffprobe does)."""
    with storage.open_source(video) as src:
        summary = json.loads(src.probe_json())["summary"]
    summary["file_size_bytes"] = storage.identity(storage.location(video))["size"]
    return SourceSummary(
        duration_ms=summary["duration_ms"],
        display_width=summary["display_width"],
        display_height=summary["display_height"],
        video_codec=summary["video_codec"],
        container_format=summary["container_format"],
        rotation_degrees=summary["rotation_degrees"],
        has_audio=summary["has_audio"],
        fields=summary,
    )


class _Stop(Exception):
    """Raised inside the frame callback to stop the native work early."""


_DONE = object()


def iter_frames(
    video: str | os.PathLike[str],
    *,
    as_array: bool = False,
    progress: Callable[[Progress], None] | None = None,
    recipe: Recipe = DEFAULT_RECIPE,
    workers: int = 0,
) -> Iterator[FrameRecord]:
    """Yields one FrameRecord per sample time that has a frame, in time order,
    straight from the native core: JPEG bytes, or with ``as_array`` a
    (canvas_height, canvas_width, 3) uint8 RGB numpy array (no JPEG encoding).

    The core runs in a background thread with the GIL released and stays at
    most a few frames ahead of the consumer, so memory does not grow with the
    video's length. Stopping early (``break``, ``close()``, an exception in the
    consumer) stops the native work and joins the thread before returning.
    Errors about the source are raised from the first ``next()``, including
    the DamagedSourceError ``extract_to_dir`` raises when no frame decodes.

    ``progress`` is called in the consumer's own thread (the one iterating),
    once per request, just before that request's frame is yielded;
    ``frames_written`` counts the frames yielded so far, this one included.
    A generator still open when the interpreter exits is stopped cleanly then.
    """
    check_workers("workers", workers)
    pixels = _Pixels(recipe, as_array)
    started = time.monotonic()
    src = storage.open_source(video)
    duration = src.info["duration_ms"]
    requests = recipe.request_times_ms(duration)
    # Time and place, read beside the frames as extract_to_dir does.
    telemetry = storage.start_telemetry(storage.location(video), src.info, json.loads(src.probe_json()).get("summary"))
    # A request without a frame still comes through when progress wants it.
    feed = _Feed(src, requests, recipe, workers, raw_rgb=pixels.raw, every_request=progress is not None)
    try:
        index = 0
        for item in feed:
            has_frame = item["actual_us"] is not None
            if progress:
                progress(Progress.at(item, len(requests), index + has_frame, duration, started))
            if has_frame:
                yield _record(index, item, recipe, pixels, telemetry.row_fields)
                index += 1
        if index == 0:  # as extract_to_dir: a source with no frame is damaged, not empty
            raise nothing_decoded(video)
    finally:
        feed.close()
        src.close()


def _record(
    index: int, item: CoreFrame, recipe: Recipe, pixels: _Pixels, annotate: Callable[[int], dict[str, Any]]
) -> FrameRecord:
    """The FrameRecord of one frame: its manifest fields (manifest.frame_fields,
    the mapping a bundle's rows use), pixels, time and place, and signals."""
    fields = frame_fields(item, (recipe.canvas_width, recipe.canvas_height))
    jpeg, array = pixels.of(item)
    return FrameRecord(
        index,
        fields["requested_ts_ms"],
        fields["actual_ts_ms"],
        item["content_rect"],
        item["source_size"],
        fields["obtained"],
        fields["frames_decoded"],
        jpeg,
        array,
        **annotate(fields["actual_ts_ms"]),
        signals=row_fields(item.get("signals")) or None,
        fields=fields,
    )


class _Pixels:
    """A frame's pixels as the caller asked: JPEG bytes, or an RGB array
    (from the core's raw canvas, or decoded from its JPEG on backends
    without raw canvases, AVFoundation)."""

    def __init__(self, recipe: Recipe, as_array: bool):
        self.as_array = as_array
        self.raw = as_array and _core.backend == "ffmpeg"
        self.shape = (recipe.canvas_height, recipe.canvas_width, 3)
        if as_array:  # only this mode needs numpy (and Pillow where the backend hands over JPEG)
            self.np = require("numpy", "arrays", "iter_frames(as_array=True)")

    def of(self, item: CoreFrame) -> tuple[bytes | None, NDArray[numpy.uint8] | None]:
        if self.raw:
            return None, self.np.frombuffer(item["rgb"], dtype=self.np.uint8).reshape(self.shape)
        if self.as_array:
            Image = require("PIL.Image", "arrays", "iter_frames(as_array=True) on this backend")
            return None, self.np.asarray(Image.open(io.BytesIO(item["jpeg"] or b"")).convert("RGB"))
        return item["jpeg"], None


class _Feed:
    """The core's frames from a background thread, at most a few ahead of
    the consumer: iterate for them (a source error is raised there), and
    ``close`` to stop the native work and join the thread."""

    def __init__(
        self, src: Any, requests: list[int], recipe: Recipe, workers: int, *, raw_rgb: bool, every_request: bool
    ):
        self.frames: queue.Queue[Any] = queue.Queue(maxsize=2)  # core frames, _DONE or an exception
        self.stop = threading.Event()
        self.every_request = every_request
        run = dict(workers=workers, raw_rgb=raw_rgb, **recipe.native_kwargs())
        self.thread = threading.Thread(
            target=self._produce, args=(src, requests, run), name="lifelog-iter-frames", daemon=True
        )
        self.thread.start()
        _running.add((self.stop, self.thread))

    def _on_frame(self, f: CoreFrame) -> None:
        if self.stop.is_set():
            raise _Stop
        if (f["actual_us"] is not None or self.every_request) and not _put_until_stopped(self.frames, self.stop, f):
            raise _Stop

    def _produce(self, src: Any, requests: list[int], run: dict[str, Any]) -> None:
        try:
            src.extract(requests, self._on_frame, **run)
            self.frames.put(_DONE)
        except _Stop:
            pass
        except BaseException as e:  # handed to the consumer, raised there
            _put_until_stopped(self.frames, self.stop, e)

    def __iter__(self) -> Iterator[CoreFrame]:
        while True:
            item = self.frames.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stop.set()
        while self.thread.is_alive():
            try:  # unblock a producer waiting for room
                self.frames.get_nowait()
            except queue.Empty:
                pass
            self.thread.join(timeout=0.05)
        _running.discard((self.stop, self.thread))


# Producers of generators still open. At interpreter exit they are stopped
# while threads still run normally: later, when module teardown closes the
# generator, the thread would be frozen mid-extraction.
_running: set[tuple[threading.Event, threading.Thread]] = set()


@atexit.register
def _stop_running() -> None:
    for stop, _ in list(_running):
        stop.set()
    for _, thread in list(_running):
        thread.join(timeout=10)


def _put_until_stopped(q: queue.Queue[Any], stop: threading.Event, item: object) -> bool:
    """Puts item, waiting for room; False if the consumer stopped first."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
