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
    if as_array:  # only this mode needs numpy (and Pillow where the backend hands over JPEG)
        np = require("numpy", "arrays", "iter_frames(as_array=True)")
    # Backends without raw canvases (AVFoundation) hand over JPEG: decode it here.
    raw = as_array and _core.backend == "ffmpeg"
    frames: queue.Queue[Any] = queue.Queue(maxsize=2)  # core frames, _DONE or an exception
    stop = threading.Event()
    started = time.monotonic()

    def on_frame(f: CoreFrame) -> None:
        if stop.is_set():
            raise _Stop
        # A request without a frame still goes through, for the progress callback.
        if (f["actual_us"] is not None or progress) and not _put_until_stopped(frames, stop, f):
            raise _Stop

    def produce() -> None:
        try:
            src.extract(requests, on_frame, workers=workers, raw_rgb=raw, **recipe.native_kwargs())
            frames.put(_DONE)
        except _Stop:
            pass
        except BaseException as e:  # handed to the consumer, raised there
            _put_until_stopped(frames, stop, e)

    src = storage.open_source(video)
    duration = src.info["duration_ms"]
    requests = recipe.request_times_ms(duration)
    # Time and place, read beside the frames as extract_to_dir does.
    telemetry = storage.start_telemetry(storage.location(video), src.info, json.loads(src.probe_json()).get("summary"))
    thread = threading.Thread(target=produce, name="lifelog-iter-frames", daemon=True)
    thread.start()
    _running.add((stop, thread))
    try:
        index = 0
        while True:
            item = frames.get()
            if item is _DONE:
                if index == 0:  # as extract_to_dir: a source with no frame is damaged, not empty
                    raise nothing_decoded(video)
                return
            if isinstance(item, BaseException):
                raise item
            has_frame = item["actual_us"] is not None
            if progress:
                progress(
                    Progress(
                        item["request_index"] + 1,
                        len(requests),
                        index + has_frame,
                        min(duration, item["requested_ms"] + 1000),
                        duration,
                        time.monotonic() - started,
                    )
                )
            if not has_frame:
                continue
            array = jpeg = None
            if raw:
                w, h = recipe.canvas_width, recipe.canvas_height
                array = np.frombuffer(item["rgb"], dtype=np.uint8).reshape(h, w, 3)
            elif as_array:
                Image = require("PIL.Image", "arrays", "iter_frames(as_array=True) on this backend")
                array = np.asarray(Image.open(io.BytesIO(item["jpeg"])).convert("RGB"))
            else:
                jpeg = item["jpeg"]
            actual_ms = round(item["actual_us"] / 1000)
            yield FrameRecord(
                index,
                item["requested_ms"],
                actual_ms,
                item["content_rect"],
                item["source_size"],
                item["obtained"],
                item["frames_decoded"],
                jpeg,
                array,
                **telemetry.row_fields(actual_ms),
                signals=row_fields(item.get("signals")) or None,
            )
            index += 1
    finally:
        stop.set()
        while thread.is_alive():
            try:  # unblock a producer waiting for room
                frames.get_nowait()
            except queue.Empty:
                pass
            thread.join(timeout=0.05)
        _running.discard((stop, thread))
        src.close()


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
