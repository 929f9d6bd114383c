"""A `batch` child that extracts file after file: ``python -m
lifelog_compression.batch_child``.

A process per file cost about 150 ms of CPU before any work (the interpreter,
FFmpeg's ~130 shared libraries, the package), more than extracting a short
clip. So `batch` keeps one child per worker and hands it files one at a time.
Isolation is kept where it matters: a file that crashes or hangs the decoder
kills this process, and the parent starts a fresh one for the next file.

Protocol, one JSON object per line:
- stdin: one file's job: ``{"task": FileTask, "overwrite": bool, "workers":
  int, "drop_duplicates": bool}`` (jobs.py);
- stdout: ``{"progress": Progress}`` lines while it runs, then
  ``{"outcome": FileOutcome, "job_end": EXIT_CODE}`` once the file is done
  (``{"job_end": 130}`` alone when it was interrupted).
The child leaves when stdin closes (the parent retires a child after a
number of files, which bounds whatever a long-lived process might
accumulate) or after an interrupted file (exit code 130: Ctrl-C or the
parent's SIGTERM).
"""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import asdict
from typing import Any

from .errors import EXIT_INTERRUPTED
from .jobs import FileTask, extract_file

JOB_END = "job_end"


def job_message(task: FileTask, *, overwrite: bool, workers: int, drop_duplicates: bool) -> str:
    """The line that hands one file to a child."""
    return json.dumps(
        {"task": task.to_json(), "overwrite": overwrite, "workers": workers, "drop_duplicates": drop_duplicates}
    )


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Runs one job here, printing its progress; returns the line that ends it."""
    from . import metadata

    task = FileTask.from_json(job["task"])
    # The source's hash starts before the extraction's modules (FFmpeg's
    # libraries among them) are imported: one core imports, the other hashes.
    metadata.hash_early(task.source)
    try:
        outcome = extract_file(
            task,
            overwrite=job["overwrite"],
            workers=job["workers"],
            drop_duplicates=job["drop_duplicates"],
            progress=lambda p: print(json.dumps({"progress": asdict(p)}), flush=True),
        )
    finally:
        metadata.cancel_early()
    return {"outcome": outcome.to_json(), JOB_END: outcome.exit_code}


def serve() -> int:
    """Reads jobs from stdin until it closes; returns the exit code."""
    # A SIGTERM (the parent stopping the batch) is a Ctrl-C: the file's
    # writer cleans up its unfinished folder, and the child leaves.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(run_one(json.loads(line))), flush=True)
    except KeyboardInterrupt:
        print(json.dumps({JOB_END: EXIT_INTERRUPTED}), flush=True)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(serve())
