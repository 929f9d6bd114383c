"""The decode-only floor: decode exactly the pictures a bundle shows, and nothing else.

    python benchmarks/floor.py VIDEO BUNDLE_DIR [--procs 2] [--threads 1]

Reads the bundle's manifest (actual times of the frames `extract` pictured)
and decodes those pictures with PyAV the cheapest way the bitstream allows:
a picture that is a keyframe alone; otherwise its GOP's keyframe, the
reference pictures up to it and itself, each GOP once however many pictures
it holds (the packet selection of competitors/pyav_sparse.py). The work is
split between processes on all cores. No scaling, no colour conversion, no
JPEG, no files written: what is left of `extract`'s wall time above this is
overhead. Prints {"frames_decoded", "seconds"} (seconds: inside the process,
after the index pass) as JSON.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "competitors"))
from pyav_sparse import index_packets, plan_jobs, run_parallel  # noqa: E402


def pictured_targets(info, manifest: Path) -> list[int]:
    """Decode-order index of the packet whose picture each manifest row shows."""
    order = sorted(range(len(info.pts)), key=info.pts.__getitem__)
    times = [info.pts[i] for i in order]
    targets = []
    for line in manifest.read_text().splitlines():
        row = json.loads(line)
        t = info.start_pts + row["actual_ts_ms"] / 1000 / info.time_base
        j = bisect.bisect_left(times, t)
        near = min((k for k in (j - 1, j) if 0 <= k < len(times)), key=lambda k: abs(times[k] - t))
        targets.append(order[near])
    return targets


class _Discard:
    """Decoded frames go nowhere (the floor has no output)."""

    def __call__(self, frame, request: int) -> None:
        pass

    def result(self) -> dict:
        return {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video")
    parser.add_argument("bundle")
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=1, help="decoder threads per process (0: auto)")
    args = parser.parse_args()
    info = index_packets(args.video)
    jobs = plan_jobs(info, pictured_targets(info, Path(args.bundle) / "manifest.jsonl"))
    started = time.perf_counter()
    results = run_parallel(args.video, info, jobs, args.procs, args.threads, _Discard)
    print(json.dumps({"frames_decoded": sum(r[0] for r in results), "seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
