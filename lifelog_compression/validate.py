"""``validate``: prove a bundle against its source video.

For every manifest row the frame file must exist, decode as a JPEG of the
canvas size and match its ``content_hash``; the source frame named by
``actual_ts_ms`` must exist, lie inside the request's window, and be the frame
the JPEG pictures. The last point is measured, not assumed: the source frame is
decoded again through an independent path -- the ffmpeg command-line tool,
seeking and selecting by presentation time, applying the display rotation,
converting to RGB with the source's own colour matrix at 16 bits -- and then
resampled in floating point (Pillow's Lanczos) into the content rect the
source's display geometry calls for. Against that reference the JPEG gets
PSNR (luma and RGB) and SSIM (luma), and must resemble the frame at
``actual_ts_ms`` more than the frames one before and one after it. An HDR
source whose bundle records a tone mapping (bundle.json ``colour.mapping``) is
mapped to SDR the same documented way, computed again in numpy from the
standards' formulas (``tonemap_reference.py``), after resampling.

Nothing here uses the native core, so a bug there cannot hide itself. numpy and
Pillow are needed (``pip install 'lifelog-compression[validate]'``); they are
imported only when a validation runs, so the rest of the package works without
them.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
import os
import shutil
import subprocess
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .bundle import frame_file, load_bundle_metadata, load_manifest
from .colour import HDR_TRANSFERS
from .errors import (
    EXIT_VALIDATION_FAILED,
    BundleError,
    DamagedSourceError,
    ExtractError,
    MissingDependencyError,
    SourceMismatchError,
    SourceNotFoundError,
    UnsupportedCodecError,
)
from .manifest import ManifestRow
from .optional import require
from .packet_plan import Packet, PacketIndex, Span, extra_cost
from .reference_feed import PIXEL_FORMAT, RGB_PLANES, FrameFeed, rgb48, select, to_rgb
from .telemetry.checks import capture_time_problem
from .tonemap_reference import hdr_to_sdr

if TYPE_CHECKING:  # numpy is optional: only the type checker sees it here
    import numpy as np
    from numpy import ndarray  # for annotations inside functions, where np is the imported module

# Why a frame fails.
MISSING = "missing"  # the frame file is not there
CORRUPT = "corrupt"  # it is there but does not decode as a JPEG of the canvas size
HASH = "hash"  # its bytes do not match content_hash
TIME = "time"  # actual_ts_ms names no source frame, lies outside the window,
# or a neighbouring source frame matches the picture better
PICTURE = "picture"  # the picture does not resemble the source frame at all
GEOMETRY = "geometry"  # canvas size or content rect differ from the source's display geometry
COLOUR = "colour"  # the right picture in the wrong colours (range or matrix mix-up)
UNCHECKED = "unchecked"  # the source does not decode there (ffmpeg CLI): nothing to compare with
COUNT = "count"  # the manifest does not hold the rows bundle.json counts (bundle-level)
REASONS = (MISSING, CORRUPT, HASH, TIME, PICTURE, GEOMETRY, COLOUR, UNCHECKED, COUNT)

# Below this PSNR-Y the JPEG is not a picture of that source frame. A faithful
# frame scores 30-50 dB even on noisy footage at low quality; a different frame
# of the same scene scores 8-20 dB.
MIN_PSNR_Y = 22.0
# Colour is judged on 16 x 16 block means, which JPEG keeps almost exactly (the
# DC coefficients), whatever the quality: a faithful frame is off by well under
# one level on average, a limited/full range mix-up by 5-15, a BT.601/BT.709
# mix-up by several levels on coloured content.
COLOUR_BLOCK = 16
MAX_COLOUR_ERROR = 3.0
# A neighbouring source frame counts for the time check only if it differs from
# the frame at actual_ts_ms by more than this (PSNR-Y between the two): static
# footage has identical neighbours, and no picture can tell those apart.
NEIGHBOUR_DIFFERS_BELOW_DB = 50.0
# A neighbour must resemble the picture this much better than the frame at
# actual_ts_ms to count as the one pictured: between near-identical frames the
# picture's own error (JPEG, an HDR tone map) decides by a fraction of a dB
# (0.7 dB on static 10-bit PQ footage), while a picture of the wrong frame
# wins by 1.8 dB even where the two frames differ by only 45 dB.
TIME_MARGIN_DB = 1.0
# A neighbour joins the time check when decoding it costs at most this many
# packets more than the row's own frame (validate --all-neighbours: always).
# The frame after a keyframe costs one to a few (B-frames); the frame before
# it, the whole GOP before.
NEIGHBOUR_BUDGET = 8
# Rows compared at once (numpy lets go of the GIL in the array work).
METRIC_THREADS = max(1, min(2, os.cpu_count() or 1))


def _imports() -> tuple[Any, Any]:
    return require("numpy", "validate", "validate"), require("PIL.Image", "validate", "validate")


# --- metrics -------------------------------------------------------------------

# The measures live in picture_metrics.py, which needs numpy: loaded when a
# validation runs (or a caller asks for one of them here), so that the rest
# of the package works without numpy.
_METRICS = ("luma", "psnr", "ssim", "ssim_viewed", "colour_error", "PSNR_CAP_DB")


def _metrics() -> Any:
    _imports()
    from . import picture_metrics

    return picture_metrics


def __getattr__(name: str) -> Any:
    if name in _METRICS:
        return getattr(_metrics(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- the source, read independently -------------------------------------------


def _need_ffmpeg() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        if not shutil.which(tool):
            raise MissingDependencyError(f"validate needs the {tool} command-line tool (apt-get install ffmpeg)")


def _matrix_name(color_space: str | None, coded_height: int) -> str:
    """vf_scale's in_color_matrix for a stream: its tag, else the rule the core
    follows for untagged video (BT.709 from 720 lines up, BT.601 below).
    ffmpeg's own default for untagged video is BT.601 at every size."""
    tagged = {
        "bt709": "bt709",
        "smpte170m": "bt601",
        "bt470bg": "bt601",
        "fcc": "fcc",
        "smpte240m": "smpte240m",
        "bt2020nc": "bt2020",
        "bt2020c": "bt2020",
    }
    return tagged.get(color_space or "", "bt709" if coded_height >= 720 else "bt601")


def fit_contain(
    display_width: int, display_height: int, canvas_width: int, canvas_height: int
) -> tuple[int, int, int, int]:
    """The content rect (x, y, w, h) of a display-size picture on the canvas:
    scaled by the smaller factor (never cropped), sizes rounded to even, centred
    at even offsets -- SPEC.md's contain fit, written down a second time so the
    core's geometry is checked rather than copied."""
    if display_width <= 0 or display_height <= 0:
        return 0, 0, canvas_width, canvas_height
    scale = min(canvas_width / display_width, canvas_height / display_height)

    def even(v: float) -> int:
        return max(2, int(v / 2.0 + 0.5) * 2)

    w = min(canvas_width, even(display_width * scale))
    h = min(canvas_height, even(display_height * scale))
    return ((canvas_width - w) // 2) & ~1, ((canvas_height - h) // 2) & ~1, w, h


@dataclass(frozen=True)
class SourceGeometry:
    """The source's video stream as ffprobe reads it."""

    coded_width: int
    coded_height: int
    sample_aspect: Fraction
    rotation: int  # clockwise degrees a player turns the picture
    color_matrix: str  # vf_scale's in_color_matrix name
    full_range: bool
    transfer: str | None = None  # FFmpeg's name of the transfer characteristics
    primaries: str | None = None

    @property
    def display_size(self) -> tuple[int, int]:
        """Coded width x sample aspect ratio, then swapped for a quarter turn."""
        w = self.coded_width
        if self.sample_aspect > 0 and self.sample_aspect != 1:
            w = int(self.coded_width * self.sample_aspect + Fraction(1, 2))
        return (self.coded_height, w) if self.rotation % 180 else (w, self.coded_height)

    @property
    def decoded_size(self) -> tuple[int, int]:
        """Size of the frames ffmpeg hands over: coded size, autorotated, SAR not applied."""
        w, h = self.coded_width, self.coded_height
        return (h, w) if self.rotation % 180 else (w, h)


def check_source_identity(video: Path, source_video: dict[str, Any]) -> None:
    """SourceMismatchError unless ``video`` is the file bundle.json's
    ``source_video`` describes: its size first (free), then its sha256
    (``content_hash``). A bundle that records neither is not checked."""
    size, digest = source_video.get("file_size_bytes"), source_video.get("content_hash")
    actual = video.stat().st_size
    if isinstance(size, int) and size != actual:
        raise SourceMismatchError(
            f"{video}: not the source this bundle was made from ({actual} bytes, the bundle's source had {size})",
            "another source",
            str(video),
        )
    if isinstance(digest, str) and digest.startswith("sha256:"):
        h = hashlib.sha256()
        with open(video, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        if "sha256:" + h.hexdigest() != digest:
            raise SourceMismatchError(
                f"{video}: not the source this bundle was made from (same size, but its "
                f"sha256 differs from the bundle's {digest[:19]}...)",
                "another source",
                str(video),
            )


class SourceReference:
    """The source video's frames as an independent decoder sees them.

    ``frame_times`` are the presentation times of every frame the decoder
    outputs (packets marked for discard by an edit list excluded), in seconds
    on the stream's own clock; the bundle timeline's 0 is the first of them.
    ``render`` returns frames resampled into a content rect, as float32 RGB in
    0..255, with Pillow's ``resample`` kernel ("lanczos", the default: the
    closest to an ideal band limit; "bicubic" or "box" to see how much a
    comparison of scale filters owes to the reference's own kernel). With
    ``cache=True`` rendered frames are kept, for callers that check many
    bundles of one source (benchmarks/measure_defaults.py).
    """

    KERNELS = ("lanczos", "bicubic", "box")

    def __init__(
        self,
        video: str | os.PathLike[str],
        *,
        cache: bool = False,
        resample: str = "lanczos",
        stream_index: int | None = None,
        made_from: dict[str, Any] | None = None,
    ):
        if resample not in self.KERNELS:
            raise ValueError(f"resample must be one of {self.KERNELS}")
        _need_ffmpeg()
        self.resample = resample
        self.path = Path(video)
        if not self.path.is_file():
            raise SourceNotFoundError(f"{self.path}: no such file", "no such file", str(self.path))
        self.cache: dict[tuple[int, tuple[int, int], bool, float | None], Any] | None = {} if cache else None
        # Set by validate_bundle when the bundle says its HDR frames were tone
        # mapped: the reference is then mapped the same documented way.
        self.tone_map = False
        self.peak_cd_m2: float | None = None
        # The stream the bundle was made from (bundle.json video_stream_index);
        # None: the first video stream that is not cover art.
        self.wanted_stream = stream_index
        self._classify()
        self.input = self._input()
        if made_from is not None:
            check_source_identity(self.path, made_from)
        self._probe()

    def _classify(self) -> None:
        """A file the native core refuses is refused here the same way (not a
        video, its index missing, damaged): one line and its exit code,
        rather than the ffmpeg CLI's own words."""
        from . import _core

        with _core.Source(str(self.path)):
            pass

    def _input(self) -> list[str]:
        """How the ffmpeg CLI and ffprobe are to read the recording: the file
        itself ("file:", so that nothing in its name reads as a protocol) or,
        for a motion photo, the byte range the native core found the MP4 in
        (the subfile protocol, its bounds as options, never in the name)."""
        from . import _core

        embedded = _core.recording_range(str(self.path))
        if not embedded:
            return [f"file:{self.path}"]
        end = embedded["offset"] + embedded["length"]
        return ["-start", str(embedded["offset"]), "-end", str(end), f"subfile:file:{self.path}"]

    def _ffprobe(self, *args: str) -> dict[str, Any]:
        out = subprocess.run(
            ["ffprobe", "-v", "error", *args, "-of", "json", *self.input], capture_output=True, text=True
        )
        if out.returncode != 0:
            raise ExtractError(
                f"{self.path}: ffprobe cannot read it: {' '.join(out.stderr.split())[-300:]}",
                "unreadable",
                str(self.path),
            )
        doc: dict[str, Any] = json.loads(out.stdout)
        return doc

    def _probe(self) -> None:
        doc = self._ffprobe(
            "-show_entries",
            "stream=index,codec_type,width,height,sample_aspect_ratio,time_base,pix_fmt,"
            "color_space,color_range,color_transfer,color_primaries:stream_disposition=attached_pic:stream_side_data=rotation:format=start_time",
        )
        # The recording, not cover art: a still marked attached_pic is also a
        # "video" stream, and may even come first.
        videos = [
            st
            for st in doc.get("streams", [])
            if st.get("codec_type") == "video" and not st.get("disposition", {}).get("attached_pic")
        ]
        if not videos:
            raise ExtractError(f"{self.path}: no video stream", "no video stream", str(self.path))
        st = next((v for v in videos if v.get("index") == self.wanted_stream), videos[0])
        self.stream_index = int(st["index"])
        sar = st.get("sample_aspect_ratio", "1:1")
        try:
            num, den = (int(v) for v in sar.split(":"))
            sample_aspect = Fraction(num, den) if num > 0 and den > 0 else Fraction(1)
        except ValueError:
            sample_aspect = Fraction(1)
        rotation = 0
        for side in st.get("side_data_list", []):
            if "rotation" in side:
                # FFmpeg's display-matrix angle is counter-clockwise.
                rotation = int(-round(float(side["rotation"]))) % 360
        pix_fmt = st.get("pix_fmt", "")
        self.geometry = SourceGeometry(
            coded_width=int(st["width"]),
            coded_height=int(st["height"]),
            sample_aspect=sample_aspect,
            rotation=rotation,
            color_matrix=_matrix_name(st.get("color_space"), int(st["height"])),
            full_range=st.get("color_range") == "pc" or pix_fmt.startswith("yuvj"),
            transfer=st.get("color_transfer"),
            primaries=st.get("color_primaries"),
        )
        tb = Fraction(st["time_base"].replace(":", "/")) if "time_base" in st else Fraction(1, 90000)
        packets = self._ffprobe("-select_streams", str(self.stream_index), "-show_entries", "packet=pts,flags,pos")
        times = set()
        unstamped = 0
        listed: list[Packet] | None = []  # every packet, for the decoding plan; None: some cannot be named
        for pkt in packets.get("packets", []):
            ts, pos = pkt.get("pts"), pkt.get("pos")
            timed = ts not in (None, "N/A")
            if listed is not None and timed and pos not in (None, "N/A"):
                listed.append(Packet(Fraction(int(ts)) * tb, int(pos), "K" in pkt.get("flags", "")))
            else:
                listed = None
            if "D" in pkt.get("flags", ""):
                continue
            if not timed:
                unstamped += 1
                continue
            times.add(Fraction(int(ts)) * tb)
        self.packet_index = PacketIndex.of(listed) if listed and not unstamped else None
        if unstamped:
            # MPEG program streams stamp only some packets: the decoder's
            # best-effort times (what extraction uses) come from decoding.
            frames = self._ffprobe(
                "-select_streams", str(self.stream_index), "-show_entries", "frame=best_effort_timestamp"
            )
            stamped = {
                Fraction(int(f["best_effort_timestamp"])) * tb
                for f in frames.get("frames", [])
                if f.get("best_effort_timestamp") not in (None, "N/A")
            }
            if len(stamped) > len(times):
                times = stamped
        if not times:
            raise UnsupportedCodecError(
                f"{self.path}: its video carries no timestamps (a raw elementary stream?): validate cannot "
                "tell which source frame a row names",
                "no timestamps",
                str(self.path),
            )
        self.frame_times: list[Fraction] = sorted(times)
        self.origin = self.frame_times[0]
        try:
            self.format_start = Fraction(doc.get("format", {}).get("start_time", "0"))
        except ValueError:
            self.format_start = Fraction(0)

    def times_ms(self) -> list[float]:
        """Every frame's time in ms on the bundle timeline (0 = first frame)."""
        return [float((t - self.origin) * 1000) for t in self.frame_times]

    def frame_near(self, ts_ms: float, tolerance_ms: float = 1.0) -> int | None:
        """Index of the frame whose time is within ``tolerance_ms`` of ``ts_ms``
        (manifest times are rounded to whole ms), else None."""
        target = self.origin + Fraction(ts_ms) / 1000
        i = bisect.bisect_left(self.frame_times, target)
        best = min(
            (j for j in (i - 1, i) if 0 <= j < len(self.frame_times)),
            key=lambda j: abs(self.frame_times[j] - target),
            default=None,
        )
        if best is None or abs(float(self.frame_times[best] - target) * 1000) > tolerance_ms:
            return None
        return best

    def _decode(self, first: int, last: int) -> list["np.ndarray"]:
        """Frames first..last (presentation order) as 16-bit RGB, autorotated."""
        np, _ = _imports()
        times = self.frame_times[first : last + 1]
        # -ss is relative to the container's start; start 1 s early so the seek
        # lands on a keyframe before the first wanted frame even for demuxers
        # that seek by bytes (MPEG-TS). -noaccurate_seek and -copyts keep every
        # decoded frame on the stream's own clock, so select picks by true pts.
        seek = float(times[0] - self.format_start) - 1.0
        w, h = self.geometry.decoded_size
        frames: list["ndarray"] = []
        for attempt_seek in ([seek] if seek > 0 else []) + [None]:
            cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"]
            if attempt_seek is not None:
                cmd += ["-noaccurate_seek", "-ss", f"{attempt_seek:.6f}"]
            vf = f"{select(self.frame_times, list(range(first, last + 1)))},{to_rgb(self.geometry)}"
            cmd += [
                "-copyts",
                *self.input[:-1],
                "-i",
                self.input[-1],
                "-map",
                f"0:{self.stream_index}",
                "-an",
                "-sn",
                "-dn",
                "-vf",
                vf,
                "-fps_mode",
                "passthrough",
                "-frames:v",
                str(len(times)),
                "-f",
                "rawvideo",
                "-pix_fmt",
                PIXEL_FORMAT,
                "pipe:1",
            ]
            out = subprocess.run(cmd, capture_output=True)
            size = w * h * 3 * 2
            if out.returncode == 0 and len(out.stdout) == size * len(times):
                frames = [rgb48(out.stdout[i * size : (i + 1) * size], w, h) for i in range(len(times))]
                break
        if not frames:
            raise DamagedSourceError(
                f"{self.path}: ffmpeg could not decode the source frames at "
                f"{float((times[0] - self.origin) * 1000):.1f}-"
                f"{float((times[-1] - self.origin) * 1000):.1f} ms",
                "undecodable",
                str(self.path),
            )
        return frames

    def render(self, indices: list[int], rect_size: tuple[int, int]) -> list["np.ndarray"]:
        """Frames ``indices`` (consecutive, ascending) resampled to ``rect_size``
        (w, h) as float32 RGB 0..255: resampled in floating point, per channel,
        so the reference adds no rounding of its own."""

        def key(i: int) -> tuple[int, tuple[int, int], bool, float | None]:
            return i, rect_size, self.tone_map, self.peak_cd_m2

        wanted = [i for i in indices if self.cache is None or key(i) not in self.cache]
        rendered: dict[int, ndarray] = {}
        if wanted:
            for i, rgb16 in zip(range(wanted[0], wanted[-1] + 1), self._decode(wanted[0], wanted[-1])):
                if i not in wanted:
                    continue
                rgb = self.finish(rgb16, rect_size)
                rendered[i] = rgb
                if self.cache is not None:
                    self.cache[key(i)] = rgb
        return [rendered[i] if i in rendered else (self.cache or {})[key(i)] for i in indices]

    def finish(self, planes: "np.ndarray", rect_size: tuple[int, int]) -> "np.ndarray":
        """One decoded frame (16-bit planes, reference_feed.rgb48) resampled
        to ``rect_size`` and, for a tone-mapped HDR bundle, mapped: float32
        H x W x 3 RGB 0..255."""
        np, Image = _imports()
        kernel = {
            "lanczos": Image.Resampling.LANCZOS,
            "bicubic": Image.Resampling.BICUBIC,
            "box": Image.Resampling.BOX,
        }[self.resample]
        w, h = rect_size
        resampled = (planes.shape[2], planes.shape[1]) != (w, h)
        rgb = np.empty((h, w, 3), np.float32)
        for c, p in enumerate(RGB_PLANES):
            plane = planes[p]
            if resampled:
                plane = np.asarray(Image.fromarray(plane.astype(np.float32)).resize((w, h), kernel))
            rgb[:, :, c] = plane
        rgb *= np.float32(255 / 65535)
        if resampled:
            np.clip(rgb, 0, 255, out=rgb)  # Lanczos and bicubic overshoot at edges
        if self.tone_map:
            # After resampling, as the core maps the scaled picture.
            rgb = (
                hdr_to_sdr(
                    rgb / 255.0, self.geometry.transfer or "", self.geometry.primaries == "bt2020", self.peak_cd_m2
                )
                * 255
            ).astype(np.float32)
        out: ndarray = rgb
        return out

    def finish_luma(self, planes: "np.ndarray", rect_size: tuple[int, int]) -> "np.ndarray":
        """``luma(finish(planes, rect_size))``, in one pass over the planes
        where nothing is resampled or mapped: what a neighbour in the time
        check needs (it is compared by luma alone)."""
        np, _ = _imports()
        if self.tone_map or (planes.shape[2], planes.shape[1]) != tuple(rect_size):
            luma: ndarray = _metrics().luma(self.finish(planes, rect_size))
            return luma
        (wr, wg, wb), scale = _metrics().BT601, 255 / 65535
        r, g, b = (planes[p] for p in RGB_PLANES)
        y: ndarray = r * np.float32(wr * scale)
        y += g * np.float32(wg * scale)
        y += b * np.float32(wb * scale)
        return y

    def canvas(
        self, index: int, rect: tuple[int, int, int, int], canvas_size: tuple[int, int] = (1920, 1080)
    ) -> "np.ndarray":
        """Frame ``index`` on a black canvas in ``rect`` (x, y, w, h): the
        lossless picture a bundle frame approximates, float32 RGB."""
        np, _ = _imports()
        x, y, w, h = rect
        out: ndarray = np.zeros((canvas_size[1], canvas_size[0], 3), np.float32)
        out[y : y + h, x : x + w] = self.render([index], (w, h))[0]
        return out


# --- the report ----------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """One reason a frame (or the bundle) fails (``reason`` is one of ``REASONS``)."""

    reason: str
    message: str


@dataclass
class FrameCheck:
    """The verdict on one manifest row. Metrics compare the JPEG with the
    source frame at ``actual_ts_ms`` inside the content rect (the padding
    would only inflate them); None where they could not be measured."""

    frame_id: str
    frame_relpath: str
    requested_ts_ms: int
    actual_ts_ms: int
    bytes: int | None = None
    psnr_y: float | None = None
    psnr_rgb: float | None = None
    ssim_y: float | None = None
    colour_error: float | None = None
    # PSNR-Y of the JPEG against the source frames one before and one after
    # (None: no such frame, or identical to the frame at actual_ts_ms).
    psnr_y_previous: float | None = None
    psnr_y_next: float | None = None
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, reason: str, message: str) -> None:
        self.failures.append(Failure(reason, message))

    def merge(self, measured: "FrameCheck") -> None:
        """Takes the metrics and failures of a comparison of the picture."""
        for name in ("psnr_y", "psnr_rgb", "ssim_y", "colour_error", "psnr_y_previous", "psnr_y_next"):
            setattr(self, name, getattr(measured, name))
        self.failures += measured.failures


@dataclass(frozen=True)
class Summary:
    """min / mean / max of one figure over the frames that have it."""

    min: float | None
    mean: float | None
    max: float | None
    count: int

    @classmethod
    def of(cls, values: list[float | None]) -> "Summary":
        got = [v for v in values if v is not None]
        if not got:
            return cls(None, None, None, 0)
        return cls(min(got), sum(got) / len(got), max(got), len(got))


@dataclass
class ValidationReport:
    """``validate_bundle``'s answer: one FrameCheck per checked manifest row
    and the summaries over them."""

    video: str
    bundle_dir: str
    frames_total: int
    frames: list[FrameCheck]
    psnr_y: Summary
    psnr_rgb: Summary
    ssim_y: Summary
    colour_error: Summary
    bytes_per_frame: Summary
    problems: list[Failure] = field(default_factory=list)  # about the bundle as a whole

    @property
    def ok(self) -> bool:
        return not self.problems and all(f.ok for f in self.frames)

    @property
    def failed(self) -> list[FrameCheck]:
        return [f for f in self.frames if not f.ok]

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict (``validate --json``)."""
        d = asdict(self)
        d["ok"] = self.ok
        d["frames_checked"] = len(self.frames)
        d["frames_failed"] = len(self.failed)
        for frame, f in zip(d["frames"], self.frames):
            frame["ok"] = f.ok
        return d


# --- validation ----------------------------------------------------------------


def _decode_jpeg(data: bytes) -> "np.ndarray":
    np, Image = _imports()
    with Image.open(io.BytesIO(data)) as im:
        if im.format != "JPEG":
            raise ValueError(f"not a JPEG but {im.format}")
        im.load()  # a truncated file fails here, not later
        rgb: ndarray = np.asarray(im if im.mode == "RGB" else im.convert("RGB"))  # no copy of an RGB one
        return rgb


def _references(
    src: SourceReference, wanted: list[int], index: int, size: tuple[int, int]
) -> "dict[int, np.ndarray] | DamagedSourceError":
    """The source frames ``wanted`` rendered at ``size``; where a neighbour
    does not decode (a file cut off just after the frame), the frame at
    ``index`` alone (no time check); the error when not even that decodes."""
    try:
        return dict(zip(wanted, src.render(wanted, size)))
    except DamagedSourceError as e:
        if wanted == [index]:
            return e
        try:
            return {index: src.render([index], size)[0]}
        except DamagedSourceError:
            return e


def _row_rect(row: ManifestRow) -> tuple[int, int, int, int] | None:
    x, y, w, h = row.content_rect_x, row.content_rect_y, row.content_rect_width, row.content_rect_height
    if x is None or y is None or w is None or h is None:
        return None
    return x, y, w, h


def sample_rows(total: int, n: int) -> list[int]:
    """``n`` row positions spread over ``total`` rows: the middle of each of
    ``n`` equal stretches (the same every run, the whole span covered)."""
    if n >= total:
        return list(range(total))
    return [(2 * i + 1) * total // (2 * n) for i in range(max(0, n))]


@dataclass
class _Checking:
    """What every row's check reads: the bundle, the source and the feed of
    its frames, the geometry and window the bundle promises."""

    bundle_dir: Path
    src: SourceReference
    feed: FrameFeed
    canvas: tuple[int, int]
    expected_rect: tuple[int, int, int, int]
    before: float
    after: float
    min_psnr_y: float
    capture_clock: Any


def row_frames(src: SourceReference, index: int, time_check: bool, all_neighbours: bool) -> dict[int, Span | None]:
    """The source frames a row pictured at frame ``index`` is compared with,
    each with the packets that decode it (None: not planned, decoded in a
    whole pass). With ``time_check`` the neighbours are among them, but
    only those costing at most NEIGHBOUR_BUDGET packets more than the frame
    itself unless ``all_neighbours``: the frame before a keyframe needs the
    whole GOP before it, and for a bundle sampled at keyframes that alone
    would be a decode of the whole file."""
    neighbours = [i for i in (index - 1, index + 1) if 0 <= i < len(src.frame_times)] if time_check else []
    plan = src.packet_index
    packets = {i: plan.packet_of(src.frame_times[i]) if plan else None for i in [index, *neighbours]}
    if plan is None or any(p is None for p in packets.values()):
        return dict.fromkeys(sorted([index, *neighbours]))
    spans = {i: plan.needs(p) for i, p in packets.items() if p is not None}
    kept = [i for i in neighbours if all_neighbours or extra_cost(spans[i], [spans[index]]) <= NEIGHBOUR_BUDGET]
    return {i: spans[i] for i in sorted([index, *kept])}


def validate_bundle(
    video: str | os.PathLike[str],
    bundle_dir: str | os.PathLike[str],
    *,
    limit: int | None = None,
    reference: SourceReference | None = None,
    time_check: bool = True,
    min_psnr_y: float = MIN_PSNR_Y,
    sample: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    check_source: bool = True,
    all_neighbours: bool = False,
) -> ValidationReport:
    """Checks every manifest row of the bundle at ``bundle_dir`` (the first
    ``limit`` rows if given) against ``video``; see the module docstring.

    A frame fails for a missing file, a file that is not a decodable JPEG of
    the canvas size, a content_hash mismatch, an actual_ts_ms that names no
    source frame or lies outside the request's window, a neighbouring source
    frame that matches the picture better (``time_check``: the neighbours
    that cost a few packets to decode, or all with ``all_neighbours``; see
    ``row_frames``), PSNR-Y under ``min_psnr_y``, or a content rect that
    differs from the source's display geometry. ``reference`` reuses a
    SourceReference (and its cache) across bundles of one source. ``sample``
    checks that many rows spread over the whole bundle (``sample_rows``);
    ``progress(done, total)`` is called as rows are checked. The source
    frames are decoded by the ffmpeg CLI reading only the packets they need
    (reference_feed.py) on the stream the bundle was made from
    (``video_stream_index``). Before any decoding the video must be the
    bundle's source (``check_source``: size, then sha256):
    SourceMismatchError otherwise. Raises BundleError for a folder that is
    not a bundle, SourceNotFoundError for a missing video,
    MissingDependencyError without numpy, Pillow or the ffmpeg CLI.
    """
    _imports()
    bundle_dir = Path(bundle_dir)
    meta = load_bundle_metadata(bundle_dir)
    rows = load_manifest(bundle_dir)
    total = len(rows)
    problems = []
    if total != meta.frame_count:
        problems.append(
            Failure(
                COUNT,
                f"manifest.jsonl holds {total} rows, bundle.json counts frame_count "
                f"{meta.frame_count}: rows were lost or added",
            )
        )
    if limit is not None:
        rows = rows[: max(0, limit)]
    if sample is not None:
        rows = [rows[i] for i in sample_rows(len(rows), sample)]
    stream = (meta.source_video or {}).get("video_stream_index")
    src = reference or SourceReference(
        video,
        stream_index=stream if isinstance(stream, int) else None,
        made_from=meta.source_video if check_source else None,
    )
    colour = meta.raw.get("colour") or {}
    if src.geometry.transfer in HDR_TRANSFERS and colour.get("mapping"):
        src.tone_map = True
        src.peak_cd_m2 = colour.get("peak_cd_m2")
    image = meta.image or {}
    sampling = meta.sampling or {}
    canvas = (int(image.get("canvas_width", 1920)), int(image.get("canvas_height", 1080)))
    # The source frames each row is compared with, decided once: the feed
    # decodes their union, the checks take them row by row.
    frames: list[dict[int, Span | None]] = []
    for row in rows:
        index = src.frame_near(row.actual_ts_ms)
        frames.append({} if index is None else row_frames(src, index, time_check, all_neighbours))
    feed = _feed_for(frames, src)
    job = _Checking(
        bundle_dir=bundle_dir,
        src=src,
        feed=feed,
        canvas=canvas,
        expected_rect=fit_contain(*src.geometry.display_size, *canvas),
        before=float(sampling.get("tolerance_before_ms", 500)),
        after=float(sampling.get("tolerance_after_ms", 500)),
        min_psnr_y=min_psnr_y,
        capture_clock=meta.raw.get("capture_clock"),
    )
    try:
        checks = _check_rows(rows, frames, job, progress)
    finally:
        feed.close()
    return ValidationReport(
        video=str(video),
        bundle_dir=str(bundle_dir),
        frames_total=total,
        frames=checks,
        psnr_y=Summary.of([c.psnr_y for c in checks]),
        psnr_rgb=Summary.of([c.psnr_rgb for c in checks]),
        ssim_y=Summary.of([c.ssim_y for c in checks]),
        colour_error=Summary.of([c.colour_error for c in checks]),
        bytes_per_frame=Summary.of([c.bytes for c in checks]),
        problems=problems,
    )


def _feed_for(frames: list[dict[int, Span | None]], src: SourceReference) -> FrameFeed:
    """The feed of every source frame the rows are compared with."""
    needs: dict[int, Span | None] = {}
    for wanted in frames:
        needs.update(wanted)
    planned = {i: span for i, span in needs.items() if span is not None}
    return FrameFeed(src, list(needs), planned if len(planned) == len(needs) else None)


def _check_rows(
    rows: list[ManifestRow],
    frames: list[dict[int, Span | None]],
    job: _Checking,
    progress: Callable[[int, int], None] | None,
) -> list[FrameCheck]:
    """Every row's verdict, in order. The feed hands frames out in row order
    here; the comparisons (numpy, which lets go of the GIL) run on
    METRIC_THREADS threads, a few rows in flight at most (each holds its
    source frames: 12 MB each at 1080p)."""
    checks: list[FrameCheck] = []
    owners: dict[str, ManifestRow] = {}  # frame_relpath -> the first row naming it
    pending: deque[Future[FrameCheck]] = deque()
    with ThreadPoolExecutor(max_workers=METRIC_THREADS) as pool:

        def settle(most: int) -> None:
            while len(pending) > most or (pending and pending[0].done()):
                checks.append(pending.popleft().result())
                if progress is not None:
                    progress(len(checks), len(rows))

        for row, wanted in zip(rows, frames):
            owner = owners.setdefault(row.frame_relpath, row)
            if owner is not row:
                pending.append(pool.submit(_check_repeat, row, owner))
            else:
                delivered = job.feed.take(list(wanted)) if wanted else {}
                pending.append(pool.submit(_check_row, row, job, list(wanted), delivered))
            settle(METRIC_THREADS)
        settle(0)
    return checks


def _check_repeat(row: ManifestRow, owner: ManifestRow) -> FrameCheck:
    """A row naming a frame an earlier row owns (duplicates dropped, SPEC
    1.2): it must be marked a duplicate of that row and carry its hash; the
    picture itself is checked at the owner's row."""
    check = FrameCheck(row.frame_id, row.frame_relpath, row.requested_ts_ms, row.actual_ts_ms)
    if row.duplicate_of != owner.frame_id:
        check.fail(
            CORRUPT,
            f"{row.frame_relpath}: named by {owner.frame_id} already, and {row.frame_id} is not "
            "marked as its duplicate (duplicate_of)",
        )
    elif row.content_hash != owner.content_hash:
        check.fail(HASH, f"{row.frame_relpath}: {row.frame_id} repeats {owner.frame_id} but its content_hash differs")
    return check


def _check_file(row: ManifestRow, job: _Checking, check: FrameCheck) -> "np.ndarray | None":
    """The row's JPEG as RGB, once its file, hash and size are checked;
    None when there is no picture to compare."""
    try:
        path = frame_file(job.bundle_dir, row)
    except BundleError as e:
        check.fail(CORRUPT, str(e))
        return None
    if not path.is_file():
        check.fail(MISSING, f"{row.frame_relpath}: no such file")
        return None
    data = path.read_bytes()
    check.bytes = len(data)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if digest != row.content_hash:
        check.fail(HASH, f"{row.frame_relpath}: content_hash says {row.content_hash}, the file is {digest}")
    try:
        picture = _decode_jpeg(data)
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError... for bad data
        check.fail(CORRUPT, f"{row.frame_relpath}: does not decode as a JPEG: {e}")
        return None
    if (picture.shape[1], picture.shape[0]) != job.canvas or (row.width, row.height) != job.canvas:
        check.fail(
            CORRUPT if (picture.shape[1], picture.shape[0]) != job.canvas else GEOMETRY,
            f"{row.frame_relpath}: {picture.shape[1]}x{picture.shape[0]} picture, manifest says "
            f"{row.width}x{row.height}, canvas is {job.canvas[0]}x{job.canvas[1]}",
        )
        return None
    rect = _row_rect(row)
    if rect is not None and rect != job.expected_rect:
        check.fail(
            GEOMETRY,
            f"{row.frame_relpath}: content rect {rect}, but the source's display size "
            f"{job.src.geometry.display_size} fits the canvas as {job.expected_rect}",
        )
    return picture


def _check_time(row: ManifestRow, job: _Checking, check: FrameCheck) -> int | None:
    """The source frame the row names, once its time is checked against the
    window; None when no source frame lies there."""
    if not -job.before <= row.actual_ts_ms - row.requested_ts_ms <= job.after:
        check.fail(
            TIME,
            f"{row.frame_relpath}: actual {row.actual_ts_ms} ms lies outside the window "
            f"-{job.before:g}/+{job.after:g} ms of request {row.requested_ts_ms} ms",
        )
    index = job.src.frame_near(row.actual_ts_ms)
    if index is None:
        times = job.src.times_ms()
        near = min(times, key=lambda t: abs(t - row.actual_ts_ms))
        check.fail(TIME, f"{row.frame_relpath}: no source frame at {row.actual_ts_ms} ms (nearest at {near:.1f} ms)")
    return index


def _check_row(row: ManifestRow, job: _Checking, wanted: list[int], delivered: "dict[int, ndarray]") -> FrameCheck:
    """The verdict on one row (see validate_bundle), given the source frames
    it is compared with (``wanted``: row_frames) and those the feed
    ``delivered``."""
    check = FrameCheck(row.frame_id, row.frame_relpath, row.requested_ts_ms, row.actual_ts_ms)
    picture = _check_file(row, job, check)
    if picture is None:
        return check
    index = _check_time(row, job, check)
    if index is None:
        return check
    x, y, w, h = job.expected_rect
    shown = picture[y : y + h, x : x + w].astype("float32")
    verdict = _picture_verdict(row, job, shown, index, wanted, delivered)
    if isinstance(verdict, DamagedSourceError):
        check.fail(UNCHECKED, f"{row.frame_relpath}: cannot be checked: {verdict}")
        return check
    check.merge(verdict)
    # Visual Bundle 1.1/1.2: captured_at (captured_local) is the capture clock's start (start_local) + actual_ts_ms.
    clock_problem = capture_time_problem(row, job.capture_clock)
    if clock_problem:
        check.fail(TIME, clock_problem)
    return check


def _picture_verdict(
    row: ManifestRow,
    job: _Checking,
    shown: "np.ndarray",
    index: int,
    wanted: list[int],
    delivered: "dict[int, ndarray]",
) -> "FrameCheck | DamagedSourceError":
    """The comparison of the picture with the source frames the feed
    ``delivered``; where it did not deliver the frame, or the comparison
    fails on frames from packets the feed chose (``FrameFeed.planned``),
    with the frames decoded again from a seek, one row at a time: the plan
    rests on the file's keyframe flags, and a picture is not called wrong
    on that alone."""
    w, h = job.expected_rect[2:]
    verdict = None
    if index in delivered:
        refs = {
            i: job.src.finish(planes, (w, h)) if i == index else job.src.finish_luma(planes, (w, h))
            for i, planes in delivered.items()
        }
        verdict = _compare(row, shown, refs, index, job)
        if verdict.ok or not job.feed.planned:
            return verdict
    decoded = _references(job.src, wanted, index, (w, h))
    if isinstance(decoded, DamagedSourceError):
        return verdict or decoded
    return _compare(row, shown, decoded, index, job)


def _compare(
    row: ManifestRow, shown: "np.ndarray", refs: "dict[int, np.ndarray]", index: int, job: _Checking
) -> FrameCheck:
    """The picture measured against the source frame at ``index`` (RGB) and
    its neighbours in ``refs`` (RGB or their luma alone): PICTURE, TIME or
    COLOUR failures and the metrics."""
    m = _metrics()
    check = FrameCheck(row.frame_id, row.frame_relpath, row.requested_ts_ms, row.actual_ts_ms)
    shown_y, target = m.luma(shown), refs[index]
    target_y = m.luma(target)
    check.psnr_y = m.psnr(shown_y, target_y)
    check.psnr_rgb = m.psnr(shown, target)
    check.ssim_y = m.ssim_viewed(shown_y, target_y)
    check.colour_error = m.colour_error(shown, target, COLOUR_BLOCK)
    better = None  # the neighbour the picture resembles more, if any
    for neighbour, attr, word in ((index - 1, "psnr_y_previous", "before"), (index + 1, "psnr_y_next", "after")):
        if neighbour not in refs:
            continue
        other = refs[neighbour]
        other_y = other if other.ndim == 2 else m.luma(other)
        if m.psnr(other_y, target_y) >= NEIGHBOUR_DIFFERS_BELOW_DB:
            continue  # identical neighbour: the picture cannot tell them apart
        value = m.psnr(shown_y, other_y)
        setattr(check, attr, value)
        if value >= check.psnr_y + TIME_MARGIN_DB and (better is None or value > better[1]):
            better = (neighbour, value, word)
    # One reason per frame: a picture of a neighbouring frame is a wrong
    # time, not a wrong picture, unless it resembles none of them.
    if max(check.psnr_y, better[1] if better else 0.0) < job.min_psnr_y:
        check.fail(
            PICTURE,
            f"{row.frame_relpath}: does not picture the source frame at "
            f"{row.actual_ts_ms} ms or its neighbours (PSNR-Y {check.psnr_y:.1f} dB < {job.min_psnr_y:g} dB)",
        )
    elif better is not None:
        neighbour, value, word = better
        t = float((job.src.frame_times[neighbour] - job.src.origin) * 1000)
        check.fail(
            TIME,
            f"{row.frame_relpath}: pictures the source frame {word} ({t:.1f} ms, "
            f"PSNR-Y {value:.1f} dB) better than the one at {row.actual_ts_ms} ms "
            f"({check.psnr_y:.1f} dB)",
        )
    elif check.colour_error > MAX_COLOUR_ERROR:
        check.fail(
            COLOUR,
            f"{row.frame_relpath}: colours differ from the source frame by "
            f"{check.colour_error:.1f} levels on average (> {MAX_COLOUR_ERROR:g}): "
            "a range or matrix mix-up",
        )
    return check


# --- command line --------------------------------------------------------------


def register(sub: Any) -> None:
    """Adds ``validate VIDEO BUNDLE_DIR [--limit N] [--json]`` to the CLI."""
    p = sub.add_parser(
        "validate",
        help="prove a bundle against its source video",
        description="Check every frame of a bundle against its source video: the file exists, decodes "
        "and matches its content_hash; the source frame at actual_ts_ms exists, lies in the request's "
        "window and is the one pictured (better than its neighbours that cost a few packets to decode, or "
        "all with --all-neighbours); PSNR and SSIM against the source frame decoded independently by the "
        "ffmpeg CLI, which reads only the packets those frames need. Needs numpy, Pillow and ffmpeg.",
        epilog=f"exit codes: 0 every frame passes; {EXIT_VALIDATION_FAILED} some frame fails (missing, corrupt, "
        "hash mismatch, wrong time, wrong picture or geometry, a source that does not decode there to compare "
        "with), the manifest lost rows, or VIDEO is not the bundle's source (size or sha256, checked first); 3 no video at that path; 10 a source without timestamps (a raw "
        ".h264/.hevc stream), whose frames validate cannot name; 13 not a bundle.",
    )
    p.add_argument("video", metavar="VIDEO", help="the source video the bundle was made from")
    p.add_argument("bundle_dir", metavar="BUNDLE_DIR", help="the bundle folder")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--limit", type=int, metavar="N", help="check only the first N frames")
    which.add_argument(
        "--sample",
        type=_positive,
        metavar="N",
        help="check N frames spread over the whole bundle (the same N frames every run)",
    )
    p.add_argument(
        "--all-neighbours",
        action="store_true",
        help="compare every frame with both its source neighbours, whatever they cost to decode (by default a "
        f"neighbour needing more than {NEIGHBOUR_BUDGET} extra packets, such as the frame before a keyframe, "
        "is left out of the time check)",
    )
    p.add_argument("--json", action="store_true", help="print the whole report as one JSON object")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_cmd_validate)


def _fmt(s: Summary, digits: int, unit: str = "") -> str:
    if s.count == 0:
        return "n/a"
    return f"min {s.min:.{digits}f}  mean {s.mean:.{digits}f}  max {s.max:.{digits}f}{unit}"


def _positive(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _cmd_validate(args: Any) -> int:
    import time

    from .progress import ProgressBar

    bar = ProgressBar("validate", enabled=None if not args.quiet else False, unit="frames")
    started = time.monotonic()

    def on_progress(done: int, total: int) -> None:
        bar.update(done, total, float(done), time.monotonic() - started, force=done == total)

    try:
        report = validate_bundle(
            args.video,
            args.bundle_dir,
            limit=args.limit,
            sample=args.sample,
            progress=on_progress,
            all_neighbours=args.all_neighbours,
        )
    finally:
        bar.close()
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        verdict = "all pass" if report.ok else f"{len(report.failed) + len(report.problems)} FAIL"
        print(
            f"validated {len(report.frames)} of {report.frames_total} frames of {report.bundle_dir} "
            f"against {report.video}: {verdict}"
        )
        print(f"  PSNR-Y    {_fmt(report.psnr_y, 2, ' dB')}")
        print(f"  PSNR-RGB  {_fmt(report.psnr_rgb, 2, ' dB')}")
        print(f"  SSIM-Y    {_fmt(report.ssim_y, 4)}")
        print(f"  colour    {_fmt(report.colour_error, 2, ' levels off (16x16 block means)')}")
        if report.bytes_per_frame.count:
            print(f"  KB/frame  {_fmt(Summary.of([v / 1024 for v in (f.bytes for f in report.frames) if v]), 1)}")
        for failure in report.problems:
            print(f"FAIL {failure.reason}: {failure.message}")
        for frame in report.failed:
            for failure in frame.failures:
                print(f"FAIL {failure.reason}: {failure.message}")
    return 0 if report.ok else EXIT_VALIDATION_FAILED
