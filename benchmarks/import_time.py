"""How long `import lifelog_compression._core` takes (the package's __init__,
the extension and every shared library it loads), in a fresh interpreter each
run: median of --runs, for each Python given, and the ratio to the first.

    python benchmarks/import_time.py PYTHON [PYTHON ...] [--runs 20] [--limit-ms 15]

scripts/test-wheel.sh runs it with the wheel's environment against the
system-FFmpeg build; --limit-ms makes it exit 1 when a median is over.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

# cwd "/": a source tree in the current folder must not shadow the installed package.
_CHILD = ("import time; t = time.perf_counter(); import lifelog_compression._core; "
          "print((time.perf_counter() - t) * 1000)")


def median_import_ms(python: list[str], runs: int) -> tuple[float, float]:
    """Median and minimum import time in milliseconds, one fresh process per run."""
    times = [float(subprocess.run([*python, "-c", _CHILD], check=True, capture_output=True, text=True, cwd="/").stdout)
             for _ in range(runs)]
    return statistics.median(times), min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pythons", nargs="+", help="interpreters (a command with spaces: 'chroot ROOT python')")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--limit-ms", type=float, default=None)
    args = parser.parse_args()
    first = None
    over = False
    for python in args.pythons:
        median, fastest = median_import_ms(python.split(), args.runs)
        first = first or median
        over |= args.limit_ms is not None and median > args.limit_ms
        print(f"import lifelog_compression._core: median {median:6.1f} ms (min {fastest:5.1f}, "
              f"{args.runs} runs, x{median / first:.2f}) {python}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
