"""A `batch` child that extracts file after file: ``python -m
lifelog_compression.batch_child``.

A process per file cost about 150 ms of CPU before any work (the interpreter,
FFmpeg's ~130 shared libraries, the package), more than extracting a short
clip. So `batch` keeps one child per worker and hands it files one at a time.
Isolation is kept where it matters: a file that crashes or hangs the decoder
kills this process, and the parent starts a fresh one for the next file.

Protocol, one JSON value per line:
- stdin: the ``extract`` command line of one file (a list of strings);
- stdout: what that ``extract --json --progress-jsonl`` prints (progress
  lines, then its result or error), then ``{"job_end": EXIT_CODE, "stderr":
  "..."}`` once the file is done.
The child leaves when stdin closes (the parent retires a child after a
number of files, which bounds whatever a long-lived process might
accumulate) or after an interrupted file (exit code 130: Ctrl-C or the
parent's SIGTERM).
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import sys

from .cli import EXIT_INTERRUPTED, main as cli_main

JOB_END = "job_end"


def run_one(argv: list[str]) -> tuple[int, str]:
    """Runs one ``extract`` command line here; returns its exit code and what it wrote to stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = cli_main(argv)
        except SystemExit as e:   # argparse: a usage error
            code = e.code if isinstance(e.code, int) else 2
    return code, err.getvalue()


def serve() -> int:
    """Reads command lines from stdin until it closes; returns the exit code."""
    # Until a file starts, a SIGTERM (the parent stopping the batch) ends the
    # wait for the next line; cli.main takes it over during each file.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            code, err = run_one(json.loads(line))
            print(json.dumps({JOB_END: code, "stderr": err}), flush=True)
            if code == EXIT_INTERRUPTED:
                return code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(serve())
