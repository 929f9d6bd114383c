"""How long `import lifelog_compression._core` takes (the package's __init__,
the extension and every shared library it loads), in a fresh interpreter each
run: median of --runs, for each Python given, and the ratio to the first.

    python benchmarks/import_time.py PYTHON [PYTHON ...] [--runs 20] [--limit-ms 15]

scripts/test-wheel.sh runs it with the wheel's environment against the
system-FFmpeg build; --limit-ms makes it exit 1 when the first one's median is over.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

# cwd "/": a source tree in the current folder must not shadow the installed package.
# The whole statement, and the extension alone (its shared libraries) once the
# package's Python __init__ is in.
_CHILD = (
    "import time; t0 = time.perf_counter(); import lifelog_compression; t1 = time.perf_counter(); "
    "import lifelog_compression._core; t2 = time.perf_counter(); print((t2 - t0) * 1000, (t2 - t1) * 1000)"
)


def median_import_ms(python: list[str], runs: int) -> tuple[float, float, float]:
    """Median and minimum of the whole import and median of the extension's
    own part, in milliseconds, one fresh process per run."""
    runs_ms = [
        tuple(
            map(
                float,
                subprocess.run(
                    [*python, "-c", _CHILD], check=True, capture_output=True, text=True, cwd="/"
                ).stdout.split(),
            )
        )
        for _ in range(runs)
    ]
    whole = [r[0] for r in runs_ms]
    return statistics.median(whole), min(whole), statistics.median(r[1] for r in runs_ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pythons", nargs="+", help="interpreters (a command with spaces: 'chroot ROOT python')")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--limit-ms", type=float, default=None, help="limit for the first interpreter's median")
    args = parser.parse_args()
    first = None
    over = False
    for python in args.pythons:
        median, fastest, extension = median_import_ms(python.split(), args.runs)
        first = first or median
        over |= args.limit_ms is not None and python == args.pythons[0] and median > args.limit_ms
        print(
            f"import lifelog_compression._core: median {median:6.1f} ms (min {fastest:5.1f}, extension alone "
            f"{extension:5.1f}, {args.runs} runs, x{median / first:.2f}) {python}"
        )
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
