"""A user's script, type-checked by tests/test_typing.py with ``mypy --strict``
against the installed package: the public API must carry its types."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

import lifelog_compression as lc


def timestamps(video: str, out: Path) -> list[int]:
    result: lc.ExtractResult = lc.extract_to_dir(
        video, out / "bundle", overwrite=False, progress=lambda p: print(p.requests_done, p.frames_written)
    )
    print(result.frame_count, result.realtime_factor, result.notes)
    meta: lc.BundleMetadata = lc.load_bundle_metadata(out / "bundle")
    print(meta.bundle_id, meta.frame_count)
    rows: list[lc.ManifestRow] = lc.load_manifest(out / "bundle")
    widths: list[int | None] = [row.content_rect_width for row in rows]
    obtained: list[str | None] = [row.obtained for row in rows]
    print(widths, obtained, rows[0].source_content_hash)
    shards: list[Path] = lc.pack(out / "bundle", out / "shards", shard_bytes=64 << 20)
    print(shards)
    return [row.actual_ts_ms for row in rows]


def brightness(video: str) -> list[float]:
    summary: lc.SourceSummary = lc.probe(video)
    print(summary.duration_ms, summary.display_width, summary.video_codec)
    means: list[float] = []
    for frame in lc.iter_frames(video, as_array=True):
        array: NDArray[np.uint8] | None = frame.array
        if array is not None:
            means.append(float(array.mean()))
        jpeg: bytes | None = frame.jpeg
        assert jpeg is None
    return means


if __name__ == "__main__":
    print(timestamps(sys.argv[1], Path(sys.argv[2])), brightness(sys.argv[1]))
