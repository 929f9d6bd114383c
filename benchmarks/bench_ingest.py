"""iter_frames against extract_to_dir on the same clip, same decode path.

    python benchmarks/bench_ingest.py [--repeat 3]

Rows: extract_to_dir (writes a bundle folder), iter_frames (JPEG bytes in
memory), iter_frames(as_array=True) (raw RGB canvases, no JPEG encoding).
In-process, best of --repeat, on the cached benchmark clips of bench_extract.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_extract import CLIPS, make_clip  # noqa: E402

import lifelog_compression as lc  # noqa: E402


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'clip':34} {'path':28} {'seconds':>8} {'x realtime':>10} {'vs extract_to_dir':>18}")
    for clip in CLIPS:
        path = make_clip(clip)

        def to_dir():
            with tempfile.TemporaryDirectory() as tmp:
                lc.extract_to_dir(path, Path(tmp) / "b")

        def frames(as_array: bool):
            return lambda: sum(1 for _ in lc.iter_frames(path, as_array=as_array))

        rows = [
            ("extract_to_dir", best(to_dir, args.repeat)),
            ("iter_frames (JPEG)", best(frames(False), args.repeat)),
            ("iter_frames (as_array)", best(frames(True), args.repeat)),
        ]
        base = rows[0][1]
        for name, seconds in rows:
            print(f"{clip.name:34} {name:28} {seconds:8.2f} {clip.seconds / seconds:10.1f} {seconds / base:18.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
