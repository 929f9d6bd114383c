"""The extraction recipe: the few numbers every bundle is made with.

They are deliberately not knobs on the command line: bundles are only
comparable if they are made the same way. bundle.json records them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from . import __version__
from .errors import ArgumentTypeError, UsageError
from .limits import MAX_CANVAS_PIXELS, MAX_CANVAS_SIDE, MAX_RECIPE_MS, MAX_REQUESTS

BUNDLE_FORMAT = "visual-bundle"
BUNDLE_FORMAT_VERSION = 1
CHROMA = {"4:2:0", "4:4:4"}
# Names -> the native contract's lc_scale_filter values (csrc/extract.h).
SCALE_FILTERS = {"bilinear": 0, "bicubic": 1, "lanczos": 2, "area": 3}


@dataclass(frozen=True)
class Recipe:
    """How frames are sampled and drawn."""

    interval_ms: int = 1000
    tolerance_before_ms: int = 500
    tolerance_after_ms: int = 500
    canvas_width: int = 1920
    canvas_height: int = 1080
    # Chosen by measurement (docs/defaults.md, benchmarks/measure_defaults.py):
    # quality 80 with the Lanczos scaler gives fewer bytes than quality 85 with
    # bilinear on every clip measured (95-345 KB per frame, against 365-425 KB
    # in the predecessor) and higher PSNR (+0.5-0.7 dB on camera-like noise,
    # +6.9 dB on text and fine detail, which bilinear blurs), for 3-10 % more
    # CPU (bicubic at q80 is the cheaper fallback).
    jpeg_quality: int = 80
    # 4:4:4 costs 18-64 % more bytes for +0-0.2 dB PSNR-Y (+0.4-3 dB PSNR-RGB).
    chroma_subsampling: str = "4:2:0"
    scale_filter: str = "lanczos"

    def __post_init__(self) -> None:
        """A bad recipe is a usage error here, not a crash deep in the extraction
        (interval 0 divided by zero, a huge canvas ran out of memory)."""
        for name in (
            "interval_ms",
            "tolerance_before_ms",
            "tolerance_after_ms",
            "canvas_width",
            "canvas_height",
            "jpeg_quality",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ArgumentTypeError(f"{name} must be a whole number, not {value!r}")
        for name in ("chroma_subsampling", "scale_filter"):
            if not isinstance(getattr(self, name), str):
                raise ArgumentTypeError(f"{name} must be a str, not {getattr(self, name)!r}")
        if self.chroma_subsampling not in CHROMA:
            raise UsageError(f"chroma_subsampling must be one of {sorted(CHROMA)}")
        if self.scale_filter not in SCALE_FILTERS:
            raise UsageError(f"scale_filter must be one of {list(SCALE_FILTERS)}")
        if not 1 <= self.jpeg_quality <= 100:
            raise UsageError("jpeg_quality must be 1..100")
        if not 1 <= self.interval_ms <= MAX_RECIPE_MS:
            raise UsageError(f"interval_ms must be 1..{MAX_RECIPE_MS}, not {self.interval_ms}")
        for name in ("tolerance_before_ms", "tolerance_after_ms"):
            if not 0 <= getattr(self, name) <= MAX_RECIPE_MS:
                raise UsageError(f"{name} must be 0..{MAX_RECIPE_MS}, not {getattr(self, name)}")
        if self.canvas_width % 2 or self.canvas_height % 2 or min(self.canvas_width, self.canvas_height) < 2:
            raise UsageError("canvas sizes must be even and >= 2")
        if (
            max(self.canvas_width, self.canvas_height) > MAX_CANVAS_SIDE
            or self.canvas_width * self.canvas_height > MAX_CANVAS_PIXELS
        ):
            raise UsageError(
                f"the canvas may be at most {MAX_CANVAS_SIDE} pixels a side and {MAX_CANVAS_PIXELS} "
                f"pixels in all, not {self.canvas_width}x{self.canvas_height}"
            )

    def sampling_doc(self) -> dict[str, Any]:
        """bundle.json's ``sampling`` object (also in ``spec``)."""
        return {
            "requested_interval_ms": self.interval_ms,
            "tolerance_before_ms": self.tolerance_before_ms,
            "tolerance_after_ms": self.tolerance_after_ms,
            "timeline_origin": "presentation time of the first video frame",
        }

    def image_doc(self) -> dict[str, Any]:
        """bundle.json's ``image`` object (also in ``spec``)."""
        return {
            "format": "jpeg",
            "canvas_width": self.canvas_width,
            "canvas_height": self.canvas_height,
            "fit_mode": "contain",
            "padding": "black",
            "jpeg_quality": self.jpeg_quality,
            "chroma_subsampling": self.chroma_subsampling,
            "scale_filter": self.scale_filter,
            "color": "JFIF YCbCr (BT.601 full range), converted from the source's own matrix and range",
        }

    def native_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the native ``Source.extract`` for this recipe."""
        return {
            "canvas_width": self.canvas_width,
            "canvas_height": self.canvas_height,
            "tolerance_before_ms": self.tolerance_before_ms,
            "tolerance_after_ms": self.tolerance_after_ms,
            "jpeg_quality": self.jpeg_quality,
            "chroma_444": self.chroma_subsampling == "4:4:4",
            "scale_filter": SCALE_FILTERS[self.scale_filter],
        }

    def request_times_ms(self, duration_ms: int) -> list[int]:
        """Request times: 0, interval, 2*interval, ... while < duration; at
        least one, at most limits.MAX_REQUESTS (timeline.py notes the cut)."""
        count = min(MAX_REQUESTS, max(1, -(-max(0, duration_ms) // self.interval_ms)))
        return [i * self.interval_ms for i in range(count)]


DEFAULT_RECIPE = Recipe()


def spec(recipe: Recipe = DEFAULT_RECIPE) -> dict[str, Any]:
    """The recipe and output format as a JSON-ready dict (``lifelog_compression spec``)."""
    return {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "producer": {"name": "lifelog_compression", "version": __version__},
        "sampling": recipe.sampling_doc(),
        "image": recipe.image_doc(),
        "layout": {
            "bundle": "bundle.json",
            "manifest": "manifest.jsonl",
            "frames": "frames/%08d.jpg",
            "metadata": [
                "metadata/source-metadata.json",
                "metadata/source-probe.json",
                "metadata/source-mdls.txt",
                "metadata/source-xattrs.txt",
            ],
        },
        "recipe": asdict(recipe),
    }
