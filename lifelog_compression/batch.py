"""extract_directory_to_dir: a whole camera folder, in parallel, resumable.

Each file is extracted by a child process of its own (``python -m
lifelog_compression extract``), so a file that crashes or hangs the decoder
costs only that file: the child is stopped after a time limit proportional to
the video's duration, and the batch goes on. Complete bundles for the same
source (same size and modification time) are skipped on a rerun. Nothing in
the output root is deleted but what this run itself created and the hidden
leftovers of killed writers (workdir.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .workdir import remove_abandoned
from .discover import BatchInput, discover
from .errors import NotAFolderError, OutputError, SourceNotFoundError, UsageError


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one input."""

    relpath: str
    bundle_relpath: str
    status: str                  # "extracted", "skipped" (complete already), "failed"
    reason: str = ""
    frame_count: int = 0
    bytes_written: int = 0
    duration_ms: int = 0
    elapsed_s: float = 0.0
    # For failures: the error class (as ``extract --json`` names it:
    # "NotAVideoError", ...; "Timeout" when the time limit stopped it, "Crash"
    # when the extractor died of a signal) and the extractor's exit code
    # (negative: the signal that ended it). 0 for the others.
    error: str | None = None
    exit_code: int = 0


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands; handed to the ``progress`` callback."""

    files_done: int
    files_total: int
    video_s_done: float
    elapsed_s: float
    eta_s: float | None
    running: list[str] = field(default_factory=list)
    # Seconds of video this run has to extract: what the children reported,
    # plus an estimate by file size for those not started yet (None until
    # one file has told its duration).
    video_s_total: float | None = None

    @property
    def realtime_factor(self) -> float:
        return self.video_s_done / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class BatchResult:
    """The outcome of a batch: one entry per input, in input order."""

    output_root: Path
    files: list[FileOutcome]
    elapsed_s: float
    # Set when Ctrl-C (or SIGTERM) stopped the run: ``files`` then holds only
    # the files that finished, ``unfinished`` the ones that were running or
    # waiting (their bundles were not made; a rerun resumes them).
    interrupted: bool = False
    unfinished: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def frame_count(self) -> int:
        return sum(f.frame_count for f in self.files)

    @property
    def bytes_written(self) -> int:
        return sum(f.bytes_written for f in self.files)

    @property
    def video_s(self) -> float:
        return sum(f.duration_ms for f in self.files if f.status == "extracted") / 1000

    def to_json(self, files: bool = True) -> dict[str, Any]:
        """The result as ``batch --json`` prints it (``files=False``: the
        totals only, as in the ``summary`` event of ``--jsonl``)."""
        counts = {s: sum(f.status == s for f in self.files) for s in ("extracted", "skipped", "failed")}
        return {
            "output_root": str(self.output_root),
            **({"files": [asdict(f) for f in self.files]} if files else {}),
            **counts,
            "frame_count": self.frame_count,
            "bytes_written": self.bytes_written,
            "video_s": round(self.video_s, 3),
            "elapsed_s": round(self.elapsed_s, 3),
            "realtime_factor": round(self.video_s / self.elapsed_s, 2) if self.elapsed_s > 0 else 0.0,
            "interrupted": self.interrupted,
            "unfinished": self.unfinished,
        }


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a batch; ``result`` says what was done.
    A KeyboardInterrupt, so code that catches that keeps working."""

    def __init__(self, result: BatchResult):
        super().__init__("batch interrupted")
        self.result = result


def _check_roots(input_root: Path, output_root: Path) -> None:
    if not input_root.exists():
        raise SourceNotFoundError(f"{input_root}: no such folder")
    if not input_root.is_dir():
        raise NotAFolderError(f"{input_root}: is a file, not a folder (use `extract` for one file)")
    a, b = input_root.resolve(), output_root.resolve()
    if a == b or a in b.parents or b in a.parents:
        raise OutputError(f"{output_root}: the output root must be outside the input root and not contain it")
    if output_root.exists() and not output_root.is_dir():
        raise OutputError(f"{output_root}: exists and is not a folder")


class _Child:
    """One running ``extract`` child process and what it has said so far."""

    def __init__(self, item: BatchInput, cmd: list[str], out_dir: Path):
        self.item = item
        self.out_dir = out_dir
        self.partials_before = set(out_dir.parent.glob(f".{out_dir.name}.partial-*")) if out_dir.parent.exists() else set()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stderr is not None   # both are pipes
        self._stdout, self._stderr = self.proc.stdout, self.proc.stderr
        self.duration_ms = 0
        self.requests_done = 0
        self.requests_total = 0
        self.result: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "progress" in msg:
                p = msg["progress"]
                self.duration_ms = p["duration_ms"]
                self.requests_done, self.requests_total = p["requests_done"], p["requests_total"]
            elif "error" in msg:
                self.error = msg
            elif "frame_count" in msg:
                self.result = msg
        self.stderr = self._stderr.read()

    def finish(self) -> None:
        self._reader.join()
        self._stdout.close()
        self._stderr.close()

    def remove_own_partials(self) -> None:
        """A child killed mid-file cannot clean up: its half-written folder is
        this run's own, so remove it (and only it)."""
        import shutil

        if not self.out_dir.parent.exists():
            return
        remove_abandoned(self.out_dir)   # also puts back a bundle it had moved aside
        for p in set(self.out_dir.parent.glob(f".{self.out_dir.name}.partial-*")) - self.partials_before:
            shutil.rmtree(p, ignore_errors=True)


def extract_directory_to_dir(
    input_root: str | os.PathLike[str],
    output_root: str | os.PathLike[str],
    *,
    workers: int | None = None,
    overwrite: bool = False,
    progress: Callable[[BatchProgress], None] | None = None,
    prefer_proxy: bool = False,
    min_timeout_s: float = 60.0,
    timeout_per_video_s: float = 1.0,
    python_executable: str | None = None,
    decode_threads: int | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> BatchResult:
    """Extracts every video below ``input_root`` into a bundle below
    ``output_root``, mirroring the folder tree (``DCIM/100GOPRO/GX010046.MP4``
    -> ``OUTPUT_ROOT/DCIM/100GOPRO/GX010046/``).

    ``workers`` files run at once (default: the CPUs this process may use), each in its
    own process. A file is stopped once it has run ``min_timeout_s`` plus
    ``timeout_per_video_s`` per second of its video. Complete bundles of the
    same source are skipped unless ``overwrite``. ``prefer_proxy`` decodes a
    camera's low-resolution proxy (LRV/LRF) instead of the original when their
    durations agree within a second. ``python_executable`` runs the children
    (default: this interpreter). ``decode_threads`` per file defaults to the
    cores left to each worker. Failures are reported in the result, not
    raised; bad roots raise.

    ``on_event`` receives one JSON-ready dict per event, as ``batch --jsonl``
    prints them: ``started`` (relpath, bundle_relpath), ``done``, ``failed``
    and ``skipped`` (the file's FileOutcome fields), and ``summary`` (the
    totals of :meth:`BatchResult.to_json`) last; each has ``event`` and
    ``elapsed_s``. Both callbacks run in the calling thread. Ctrl-C raises
    :class:`BatchInterrupted`, whose ``result`` holds what was finished.
    """
    for name, value in (("workers", workers), ("decode_threads", decode_threads)):
        if value is not None and (not isinstance(value, int) or value < 0):
            raise UsageError(f"{name} must be 0 (one per usable CPU) or more, not {value!r}")
    input_root, output_root = Path(input_root), Path(output_root)
    _check_roots(input_root, output_root)
    items = discover(input_root)
    from . import _core, storage   # the parent needs them; children import their own

    cores = _core.usable_cpus()   # affinity and cgroup quota, not the machine's count
    workers = max(1, workers or cores)
    decode_threads = decode_threads or max(1, cores // workers)
    python = python_executable or sys.executable
    started = time.monotonic()
    outcomes: dict[str, FileOutcome] = {}
    pending: list[BatchInput] = []
    total_bytes = sum(i.size for i in items) or 1

    def emit(event: str, **fields: Any) -> None:
        if on_event:
            on_event({"event": event, **fields, "elapsed_s": round(time.monotonic() - started, 3)})

    for item in items:
        out_dir = output_root / item.bundle_relpath
        if not overwrite and storage.complete_for(storage.location(out_dir), storage.location(item.path)):
            outcomes[item.relpath] = FileOutcome(item.relpath, item.bundle_relpath, "skipped", "complete already")
            emit("skipped", **asdict(outcomes[item.relpath]))
        else:
            pending.append(item)
    done_bytes = sum(i.size for i in items if i.relpath in outcomes)
    running: list[_Child] = []
    bundle_of = {i.relpath: i.bundle_relpath for i in items}

    def report() -> None:
        if not progress:
            return
        elapsed = time.monotonic() - started
        video_s = sum(o.duration_ms for o in outcomes.values() if o.status == "extracted") / 1000
        video_s += sum(c.duration_ms / 1000 * c.requests_done / max(1, c.requests_total) for c in running)
        bytes_now = done_bytes + sum(c.item.size * c.requests_done / max(1, c.requests_total) for c in running)
        skipped = sum(i.size for i in items if outcomes.get(i.relpath, None) and outcomes[i.relpath].status == "skipped")
        worked = bytes_now - skipped
        eta = elapsed / worked * (total_bytes - bytes_now) if worked > 0 else None
        progress(BatchProgress(len(outcomes), len(items), video_s, elapsed, eta, [c.item.relpath for c in running],
                               video_total()))

    def video_total() -> float | None:
        known = {o.relpath: o.duration_ms for o in outcomes.values() if o.status == "extracted"}
        known.update({c.item.relpath: c.duration_ms for c in running if c.duration_ms})
        if not known:
            return None
        sizes = {i.relpath: i.size for i in items}
        known_bytes = sum(sizes[r] for r in known) or 1
        unknown_bytes = sum(c.item.size for c in running if not c.duration_ms) + sum(i.size for i in pending)
        return (sum(known.values()) + sum(known.values()) / known_bytes * unknown_bytes) / 1000

    def launch(item: BatchInput) -> _Child:
        out_dir = output_root / item.bundle_relpath
        extra: dict[str, Any] = {"batch": {"input_relpath": item.relpath}}
        if item.proxy_relpath:
            extra["proxy"] = {"relpath": item.proxy_relpath, "decoded": False}
        if item.recording:
            # Chapters' bundles (and so their telemetry tracks), in recording order.
            extra["recording"] = {**item.recording.to_json(),
                                  "chapter_bundles": [bundle_of[c] for c in item.recording.chapters if c in bundle_of]}
        cmd = [python, "-m", "lifelog_compression", "extract", "--json", "--quiet", "--progress-jsonl",
               "--workers", str(decode_threads), "--source-relpath", item.relpath]
        if prefer_proxy and item.proxy_relpath and _durations_agree(item.path, input_root / item.proxy_relpath):
            extra["proxy"]["decoded"] = True
            cmd += ["--decode-from", str(input_root / item.proxy_relpath)]
        if overwrite:
            cmd.append("--overwrite")
        cmd += ["--bundle-extra", json.dumps(extra), str(item.path), str(out_dir)]
        emit("started", relpath=item.relpath, bundle_relpath=item.bundle_relpath)
        return _Child(item, cmd, out_dir)

    def settle(child: _Child, timed_out: bool) -> None:
        nonlocal done_bytes
        child.finish()
        item = child.item
        code = child.proc.returncode
        if child.result is not None and code == 0:
            r = child.result
            outcome = FileOutcome(item.relpath, item.bundle_relpath, "extracted", "; ".join(r.get("notes", [])),
                                  r["frame_count"], r["bytes_written"], r["duration_ms"], r["elapsed_s"])
        else:
            error = None
            if timed_out:
                reason = f"stopped after {time.monotonic() - child.started:.0f} s (time limit for its duration)"
                error = "Timeout"
            elif code is not None and code < 0:
                reason = f"the extractor crashed ({signal.Signals(-code).name})"
                error = "Crash"
            elif child.error is not None:
                reason = child.error["message"].removeprefix(str(item.path) + ": ")
                error = child.error["error"]
            else:
                reason = (child.stderr.strip().splitlines() or [f"exit code {code}"])[-1]
                error = "InternalError"
            child.remove_own_partials()
            outcome = FileOutcome(item.relpath, item.bundle_relpath, "failed", reason,
                                  elapsed_s=time.monotonic() - child.started, error=error,
                                  exit_code=code if code is not None else -signal.SIGKILL)
        outcomes[item.relpath] = outcome
        emit("done" if outcome.status == "extracted" else "failed", **asdict(outcome))
        done_bytes += item.size

    try:
        while pending or running:
            while pending and len(running) < workers:
                running.append(launch(pending.pop(0)))
            time.sleep(0.05)
            for child in list(running):
                limit = min_timeout_s + timeout_per_video_s * child.duration_ms / 1000
                timed_out = child.proc.poll() is None and time.monotonic() - child.started > limit
                if timed_out:
                    child.proc.kill()
                    child.proc.wait()
                if child.proc.poll() is not None:
                    running.remove(child)
                    settle(child, timed_out)
            report()
    except BaseException as e:
        # Ctrl-C reaches the children too (same process group); SIGTERM makes
        # sure, and each cleans up its own unfinished folder before exiting.
        for child in running:
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in running:
            try:
                child.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
            child.finish()
            child.remove_own_partials()
        if not isinstance(e, KeyboardInterrupt):
            raise
        finished = [outcomes[i.relpath] for i in items if i.relpath in outcomes]
        unfinished = [i.relpath for i in items if i.relpath not in outcomes]
        result = BatchResult(output_root, finished, time.monotonic() - started, True, unfinished)
        emit("summary", **result.to_json(files=False))
        raise BatchInterrupted(result) from None
    result = BatchResult(output_root, [outcomes[i.relpath] for i in items], time.monotonic() - started)
    emit("summary", **result.to_json(files=False))
    return result


def _durations_agree(original: Path, proxy: Path) -> bool:
    from . import _core

    try:
        with _core.Source(str(original)) as a, _core.Source(str(proxy)) as b:
            return abs(a.info["duration_ms"] - b.info["duration_ms"]) <= 1000
    except Exception:   # an unreadable proxy is simply not used
        return False
