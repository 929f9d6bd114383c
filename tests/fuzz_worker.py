"""Runs fuzz cases for test_fuzz.py: ``python fuzz_worker.py CASES.json``.

Each case is extracted by a child forked from this process (the package is
imported once, here), under a memory bound (RLIMIT_AS) and a time bound
(SIGALRM, whose default action ends the child whatever its threads do). The
outcome is then judged here and printed as one JSON line per case:

- ``ok``: exit 0 and a true bundle (every row's JPEG decodes to the canvas,
  hashes match, times within the window, no hidden folders left);
- ``error``: one line on stderr naming the file, with a documented exit code
  for bad input;
- anything else (``crash``, ``timeout``, ``internal``, ``bad-bundle``,
  ``bad-error``) is a failure, with the detail in ``why``.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import sys
import time
from pathlib import Path

from PIL import Image

import lifelog_compression.cli as cli

# Bad input may be: not media, no video, no index, damaged, unsupported codec.
INPUT_ERRORS = {6, 7, 8, 9, 10}
CANVAS = (1920, 1080)
# Under AddressSanitizer (scripts/sanitize.sh) the address space is mostly
# shadow memory: RLIMIT_AS would stop every child at start.
SANITIZED = "libasan" in os.environ.get("LD_PRELOAD", "")


def run_child(case: dict, memory_bytes: int, seconds: int) -> tuple[int, float, int]:
    """Forks, extracts, returns (wait status, elapsed s, max RSS in KiB)."""
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            if not SANITIZED:  # ASan bounds memory itself (hard_rss_limit_mb, scripts/sanitize.sh)
                resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
            signal.alarm(seconds)
            err = os.open(case["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(err, 2)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            code = cli.main(["extract", "-q", case["path"], case["out"]])
            sys.stderr.flush()
            os._exit(code)
        except BaseException:
            os._exit(99)
    _, status, usage = os.wait4(pid, 0)
    return status, time.monotonic() - started, usage.ru_maxrss


def judge_bundle(out: Path) -> str | None:
    """None if the bundle is whole and true to itself, else why not."""
    bundle = json.loads((out / "bundle.json").read_text())
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    if bundle.get("frame_count") != len(rows) or not rows:
        return f"frame_count {bundle.get('frame_count')} but {len(rows)} rows"
    previous = None
    for row in rows:
        data = (out / row["frame_relpath"]).read_bytes()
        if row["content_hash"] != "sha256:" + hashlib.sha256(data).hexdigest():
            return f"{row['frame_relpath']}: hash mismatch"
        if abs(row["actual_ts_ms"] - row["requested_ts_ms"]) > 500:
            return (
                f"{row['frame_relpath']}: actual {row['actual_ts_ms']} outside the window of {row['requested_ts_ms']}"
            )
        if previous is not None and row["requested_ts_ms"] <= previous:
            return "requests not ascending"
        previous = row["requested_ts_ms"]
        x, y, w, h = (row[k] for k in ("content_rect_x", "content_rect_y", "content_rect_width", "content_rect_height"))
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > CANVAS[0] or y + h > CANVAS[1]:
            return f"{row['frame_relpath']}: content rect {x},{y},{w},{h} off the canvas"
        with Image.open(out / row["frame_relpath"]) as im:
            im.load()  # decodes the whole JPEG
            if im.format != "JPEG" or im.size != CANVAS:
                return f"{row['frame_relpath']}: {im.format} {im.size}"
    return None


def judge(case: dict, status: int) -> tuple[str, int | None, str]:
    out, path = Path(case["out"]), case["path"]
    if os.WIFSIGNALED(status):  # killed: its hidden folder stays, as after any SIGKILL
        sig = os.WTERMSIG(status)
        return ("timeout" if sig == signal.SIGALRM else "crash"), None, signal.Signals(sig).name
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    if leftovers:
        return "bad-bundle", None, f"hidden leftovers {leftovers}"
    code = os.WEXITSTATUS(status)
    lines = Path(case["stderr"]).read_text(errors="replace").strip().splitlines()
    if code == 0:
        why = judge_bundle(out)
        return ("bad-bundle" if why else "ok"), 0, why or ""
    if out.exists():
        return "bad-error", code, "failed but left a bundle folder"
    line = lines[-1] if lines else ""
    if code in INPUT_ERRORS and len(lines) == 1 and path in line and line.startswith("lifelog_compression: error:"):
        return "error", code, line
    return ("internal" if code in (1, 99) else "bad-error"), code, " | ".join(lines[-3:])


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    for case in spec["cases"]:
        status, elapsed, rss_kib = run_child(case, spec["memory_bytes"], spec["seconds"])
        verdict, code, why = judge(case, status)
        print(
            json.dumps(
                {
                    "name": case["name"],
                    "verdict": verdict,
                    "code": code,
                    "why": why,
                    "elapsed_s": round(elapsed, 2),
                    "max_rss_mb": rss_kib // 1024,
                }
            ),
            flush=True,
        )
        shutil.rmtree(case["out"], ignore_errors=True)
        os.unlink(case["path"])


if __name__ == "__main__":
    main()
