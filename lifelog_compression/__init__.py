"""lifelog_compression: one video file in, one Visual Bundle out.

A Visual Bundle is a folder of JPEG frames sampled at 1 fps (each within
+/-0.5 s of its request time) on a fixed 1920x1080 black-padded canvas, a
JSON-lines manifest with requested and actual times, and the source's metadata.
Only the frames that are needed are decoded.
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any  # noqa: E402

from .errors import *  # noqa: E402,F401,F403
from .errors import ExtractError  # noqa: E402

# Public names -> the module that defines them, imported on first use (PEP 562):
# `python -m lifelog_compression extract` then loads only what extracting needs
# (each process of `batch` pays its imports once per file).
_LAZY = {
    "api": ("ExtractResult", "Progress", "extract_to_dir"),
    "batch": ("BatchInterrupted", "BatchProgress", "BatchResult", "FileOutcome", "extract_directory_to_dir"),
    "bundle": ("BundleMetadata", "load_bundle_metadata", "load_manifest"),
    "manifest": ("ManifestRow",),
    "ingest": ("FrameRecord", "SourceSummary", "iter_frames", "probe"),
    "parquet": ("export_parquet",),
    "info": ("BundleInfo", "bundle_info", "batch_info"),
    "view": ("write_viewer",),
    "shards": ("pack", "read_shards", "unpack"),
    "recipe": ("DEFAULT_RECIPE", "Recipe", "spec"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}


if TYPE_CHECKING:  # what the lazy imports give, for type checkers (mypy reads these)
    from .api import ExtractResult, Progress, extract_to_dir
    from .batch import BatchInterrupted, BatchProgress, BatchResult, FileOutcome, extract_directory_to_dir
    from .bundle import BundleMetadata, load_bundle_metadata, load_manifest
    from .info import BundleInfo, batch_info, bundle_info
    from .ingest import FrameRecord, SourceSummary, iter_frames, probe
    from .manifest import ManifestRow
    from .parquet import export_parquet
    from .recipe import DEFAULT_RECIPE, Recipe, spec
    from .shards import pack, read_shards, unpack
    from .view import write_viewer


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lifelog_compression' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "extract_to_dir",
    "extract_directory_to_dir",
    "iter_frames",
    "pack",
    "unpack",
    "read_shards",
    "export_parquet",
    "bundle_info",
    "batch_info",
    "BundleInfo",
    "write_viewer",
    "probe",
    "FrameRecord",
    "SourceSummary",
    "Progress",
    "BatchProgress",
    "BatchResult",
    "BatchInterrupted",
    "FileOutcome",
    "load_bundle_metadata",
    "load_manifest",
    "spec",
    "ExtractResult",
    "BundleMetadata",
    "ManifestRow",
    "Recipe",
    "DEFAULT_RECIPE",
    "ExtractError",
    "__version__",
]
