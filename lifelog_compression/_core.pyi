"""Types of the native core (csrc/module.c). Most callers want the Python
layer (extract_to_dir, iter_frames, probe); these are its building blocks."""

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Literal, TypedDict, final

from typing_extensions import Buffer, NotRequired

backend: str  # "ffmpeg" or "avfoundation"
backend_versions: str  # the libraries' versions, for --version and bundle.json
MAX_WORKERS: int  # the most threads Source.extract takes (extract.h's LC_MAX_WORKERS)

def usable_cpus() -> int:
    """CPUs this process may use (affinity, cgroup quota)."""

class CoreSignals(TypedDict):
    """Content signals of a picture's luma (csrc/signals.h)."""

    phash: int
    sharpness: float
    luma_mean: float
    luma_clipped: float
    thumb: bytes  # 32x32 area means, row-major

class EmbeddedRecording(TypedDict):
    """A motion photo's recording inside the file (csrc/sourcefile.h)."""

    offset: int
    length: int
    container: str  # e.g. "motion photo (Google Motion Photo 1.0)"

def recording_range(path: str) -> EmbeddedRecording | None:
    """The recording's byte range in a local file; None when the file is the recording."""

def signals_of(luma: Buffer, width: int, height: int, stride: int = ...) -> CoreSignals:
    """The signals the backends compute per frame, of one luma plane."""

def block_difference(kept: Buffer, thumb: Buffer, group: int = ...) -> int:
    """The duplicate rule's block test on two 32x32 thumbnails (luma levels)."""

class SourceInfo(TypedDict):
    duration_ms: int
    start_offset_us: int
    coded_width: int
    coded_height: int
    display_width: int
    display_height: int
    rotation_degrees: int
    hflip: bool
    keyframe_index: bool

class CoreFrame(TypedDict):
    """What ``on_frame`` receives, once per request in request order.
    ``actual_us`` is None when no frame lies in the request's window."""

    request_index: int
    requested_ms: int
    actual_us: int | None
    obtained: Literal["keyframe", "decoded_forward", "platform"] | None
    frames_decoded: int
    # Pictures in the request's window the decoder reported damaged (bitstream
    # errors, concealment): passed over; with actual_us None, why nothing came.
    damaged_pictures: int
    # Keyframes of the container's index this request found to be none (sync
    # samples on predicted pictures): never started from; each counted once.
    false_keyframes: int
    content_rect: tuple[int, int, int, int]
    source_size: tuple[int, int]
    jpeg: bytes | None
    rgb: Pixels | bytes | None
    # Frames only: what was done to the colours beyond matrix and range (an
    # HDR tone map, csrc/tonemap.h), or None.
    colour_mapping: NotRequired[str | None]
    # Frames only: an interlaced picture, pictured from its top field scaled to
    # the full height (csrc/ffcanvas.c); absent from backends that do not say.
    deinterlaced: NotRequired[bool]
    # The content signals of the picture as encoded, None without a picture or
    # from a backend that has none (AVFoundation, for now).
    signals: NotRequired[CoreSignals | None]

@final
class Pixels(Buffer):
    """A read-only buffer owning one raw RGB canvas (numpy.frombuffer wraps it)."""

    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __len__(self) -> int: ...

@final
class Source:
    """An opened video file: timeline, geometry and keyframes, read once."""

    path: object
    def __init__(self, path: str | bytes) -> None: ...
    @property
    def info(self) -> SourceInfo: ...
    def probe_json(self) -> str: ...
    def extract(
        self,
        requests_ms: Sequence[int],
        on_frame: Callable[[CoreFrame], object],
        *,
        canvas_width: int = ...,
        canvas_height: int = ...,
        tolerance_before_ms: int = ...,
        tolerance_after_ms: int = ...,
        jpeg_quality: int = ...,
        workers: int = ...,
        chroma_444: bool = ...,
        scale_filter: int = ...,
        raw_rgb: bool = ...,
    ) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> Source: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
