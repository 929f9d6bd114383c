"""lifelog_compression: one video file in, one Visual Bundle out.

A Visual Bundle is a folder of JPEG frames sampled at 1 fps (each within
+/-0.5 s of its request time) on a fixed 1920x1080 black-padded canvas, a
JSON-lines manifest with requested and actual times, and the source's metadata.
Only the frames that are needed are decoded.
"""

__version__ = "0.1.0"

from .api import ExtractResult, Progress, extract_to_dir  # noqa: E402
from .batch import BatchInterrupted, BatchProgress, BatchResult, FileOutcome, extract_directory_to_dir  # noqa: E402
from .bundle import BundleMetadata, ManifestRow, load_bundle_metadata, load_manifest  # noqa: E402
from .errors import *  # noqa: E402,F401,F403
from .errors import ExtractError  # noqa: E402
from .ingest import FrameRecord, SourceSummary, iter_frames, probe  # noqa: E402
from .shards import pack, read_shards, unpack  # noqa: E402
from .recipe import DEFAULT_RECIPE, Recipe, spec  # noqa: E402

__all__ = [
    "extract_to_dir",
    "extract_directory_to_dir",
    "iter_frames",
    "pack",
    "unpack",
    "read_shards",
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
