"""Batch throughput with 1 and 2 files at a time, on a folder of clips.

    python benchmarks/bench_batch.py [--files 6]

The folder holds hard links to the cached 1920x1440 24 fps HEVC benchmark clip
(made by bench_extract.py). Rows:
- 1 file at a time x 1 decoding thread, and 2 files x 1 thread: how batch
  parallelism scales with the cores (the issue's 1.8x target);
- 1 file x 2 threads (what a single `extract` uses) against 2 files x 1 thread
  (batch's default on 2 cores): which way of using the cores is faster.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_extract import CACHE, CLIPS, make_clip  # noqa: E402

import lifelog_compression as lc  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=6)
    args = parser.parse_args()
    clip = make_clip(CLIPS[1])
    folder = CACHE / f"batch-{args.files}"
    folder.mkdir(exist_ok=True)
    for i in range(args.files):
        link = folder / f"VID_{i:04d}.mp4"
        if not link.exists():
            os.link(clip, link)
    video_s = args.files * CLIPS[1].seconds
    rows = []
    for workers, threads in ((1, 1), (2, 1), (1, 2)):
        with tempfile.TemporaryDirectory(prefix="lifelog-batch-bench-") as out:
            start = time.perf_counter()
            result = lc.extract_directory_to_dir(folder, Path(out) / "bundles", workers=workers, decode_threads=threads)
            elapsed = time.perf_counter() - start
        assert not result.failed, result.failed
        rows.append((workers, threads, elapsed))
    base = rows[0][2]
    print(f"{args.files} files x {CLIPS[1].seconds} s ({CLIPS[1].name}), {os.cpu_count()} cores")
    print(f"{'files at once':>13} {'threads/file':>12} {'seconds':>8} {'x realtime':>10} {'throughput vs 1x1':>18}")
    for workers, threads, elapsed in rows:
        print(f"{workers:13d} {threads:12d} {elapsed:8.2f} {video_s / elapsed:10.1f} {base / elapsed:18.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
