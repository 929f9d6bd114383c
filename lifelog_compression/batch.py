"""extract_directory_to_dir: a whole camera folder, in parallel, resumable.

Files are extracted in child processes (batch_child.py), one file at a time
each, so a file that crashes or hangs the decoder costs only that file: its
child is stopped after a time limit proportional to the video's duration, or
dies, and a fresh child takes the next file. Children are kept from file to
file, since starting one costs more CPU than extracting a short clip. Complete bundles for the same
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

from .batch_child import JOB_END
from .bundle import is_bundle
from .workdir import remove_abandoned
from .discover import BatchInput, discover
from .limits import MAX_FILES_AT_ONCE, MAX_WORKERS, check_workers
from .errors import NotAFolderError, OutputError, SourceNotFoundError, output_os_errors


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
    with output_os_errors(output_root, "cannot be used as the output root"):
        a, b = input_root.resolve(), output_root.resolve()
        if a == b or a in b.parents or b in a.parents:
            raise OutputError(f"{output_root}: the output root must be outside the input root and not contain it")
        if output_root.exists() and not output_root.is_dir():
            raise OutputError(f"{output_root}: exists and is not a folder")


# The fewest bytes a second of video takes, for the time limit: 128 kbit/s,
# below what cameras and phones write (a static scene at 160x90 still
# costs more per second in time than in bytes).
BYTES_PER_VIDEO_S_AT_LEAST = 16 * 1024


class _Job:
    """One file handed to a child, and what the child has said of it so far."""

    def __init__(self, item: BatchInput, argv: list[str], out_dir: Path):
        self.item = item
        self.argv = argv
        self.out_dir = out_dir
        self.partials_before = set(out_dir.parent.glob(f".{out_dir.name}.partial-*")) if out_dir.parent.exists() else set()
        self.started = time.monotonic()
        self.duration_ms = 0
        self.requests_done = 0
        self.requests_total = 0
        self.result: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.stderr = ""
        self.exit_code: int | None = None   # set last, by the child's job_end line

    def video_s_held(self) -> float:
        """Seconds of video the time limit allows for: the duration, but no
        more than the file's bytes can hold (a clock that claims 18 hours in
        287 KB gets the time its bytes take, not 18 hours)."""
        return min(self.duration_ms / 1000, self.item.size / BYTES_PER_VIDEO_S_AT_LEAST)

    def take(self, msg: dict[str, Any]) -> None:
        if "progress" in msg:
            p = msg["progress"]
            self.duration_ms = p["duration_ms"]
            self.requests_done, self.requests_total = p["requests_done"], p["requests_total"]
        elif JOB_END in msg:
            self.stderr = msg.get("stderr", "")
            self.exit_code = msg[JOB_END]
        elif "error" in msg:
            self.error = msg
        elif "frame_count" in msg:
            self.result = msg

    def remove_own_partials(self) -> None:
        """A child killed mid-file cannot clean up: its half-written folder is
        this run's own, so remove it (and only it)."""
        import shutil

        if not self.out_dir.parent.exists():
            return
        remove_abandoned(self.out_dir)   # also puts back a bundle it had moved aside
        for p in set(self.out_dir.parent.glob(f".{self.out_dir.name}.partial-*")) - self.partials_before:
            shutil.rmtree(p, ignore_errors=True)


class _Child:
    """A child process that extracts the files it is handed, one at a time
    (batch_child.py): the interpreter and FFmpeg's libraries load once per
    child, not once per file. A child that crashes or hangs on a file is
    replaced for the next one."""

    def __init__(self, python: str, wake: threading.Event):
        self.wake = wake   # set when a file ends or the child dies: the batch loop looks then
        self.proc = subprocess.Popen([python, "-m", "lifelog_compression.batch_child"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr   # all pipes
        self.job: _Job | None = None
        self.files = 0
        self._stderr_tail: list[str] = []   # what the child said outside any file's own stderr
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for r in self._readers:
            r.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and self.job is not None:
                self.job.take(msg)
                if JOB_END in msg:
                    self.wake.set()
        self.wake.set()   # the child is gone

    def _read_stderr(self) -> None:
        assert self.proc.stderr
        for line in self.proc.stderr:
            self._stderr_tail = (self._stderr_tail + [line])[-20:]

    def start(self, job: _Job) -> None:
        assert self.proc.stdin
        self.job = job
        self.files += 1
        try:
            self.proc.stdin.write(json.dumps(job.argv) + "\n")
            self.proc.stdin.flush()
        except OSError:   # it died before reading: settled as a crash
            pass

    def job_ended(self) -> bool:
        return self.job is not None and self.job.exit_code is not None

    def died(self) -> bool:
        return self.proc.poll() is not None

    def stderr_tail(self) -> str:
        return "".join(self._stderr_tail)

    def close(self, signal_to_send: int | None = None, wait_s: float = 10) -> None:
        """Ends the child: closes its input (it leaves after its file), or
        signals it first; kills it if it does not leave within wait_s."""
        if signal_to_send is not None and self.proc.poll() is None:
            self.proc.send_signal(signal_to_send)
        try:
            assert self.proc.stdin
            self.proc.stdin.close()
        except OSError:   # it is gone already: a broken pipe
            pass
        try:
            self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for r in self._readers:
            r.join()
        assert self.proc.stdout and self.proc.stderr
        self.proc.stdout.close()
        self.proc.stderr.close()


# A child is retired after this many files: a bound on whatever a long-lived
# process might accumulate, at one process start per this many files.
FILES_PER_CHILD = 256


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
    drop_duplicates: bool = False,
) -> BatchResult:
    """Extracts every video below ``input_root`` into a bundle below
    ``output_root``, mirroring the folder tree (``DCIM/100GOPRO/GX010046.MP4``
    -> ``OUTPUT_ROOT/DCIM/100GOPRO/GX010046/``).

    ``workers`` files run at once (default: the CPUs this process may use), in
    as many child processes, reused from file to file. A file is stopped once it has run ``min_timeout_s`` plus
    ``timeout_per_video_s`` per second of its video (at most one second per
    16 KB of the file: a duration is a claim, the bytes are what is there). Complete bundles of the
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
    ``drop_duplicates`` is extract_to_dir's, for every file.
    """
    for name, value, most in (("workers", workers, MAX_FILES_AT_ONCE), ("decode_threads", decode_threads, MAX_WORKERS)):
        if value is not None:
            check_workers(name, value, most)
    input_root, output_root = Path(input_root), Path(output_root)
    _check_roots(input_root, output_root)
    items = discover(input_root)
    from . import _core, storage   # the parent needs them; children import their own

    cores = _core.usable_cpus()   # affinity and cgroup quota, not the machine's count
    workers = max(1, workers or cores)
    decode_threads = decode_threads or min(MAX_WORKERS, max(1, cores // workers))
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
        elif not overwrite and is_bundle(out_dir):
            # A bundle of an earlier version of the file (edited, re-copied):
            # kept, and the reason said, rather than "exists and is not empty".
            outcomes[item.relpath] = FileOutcome(
                item.relpath, item.bundle_relpath, "failed",
                f"{out_dir}: its bundle was made from another version of the file (its size or its bytes "
                "differ); --overwrite replaces it", error="OutputError", exit_code=OutputError.exit_code)
            emit("failed", **asdict(outcomes[item.relpath]))
        else:
            pending.append(item)
    done_bytes = sum(i.size for i in items if i.relpath in outcomes)
    running: list[_Job] = []
    children: list[_Child] = []   # alive; at most `workers`
    wake = threading.Event()
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

    def launch(item: BatchInput) -> _Job:
        out_dir = output_root / item.bundle_relpath
        extra: dict[str, Any] = {"batch": {"input_relpath": item.relpath}}
        if item.proxy_relpath:
            extra["proxy"] = {"relpath": item.proxy_relpath, "decoded": False}
        if item.recording:
            # Chapters' bundles (and so their telemetry tracks), in recording order.
            extra["recording"] = {**item.recording.to_json(),
                                  "chapter_bundles": [bundle_of[c] for c in item.recording.chapters if c in bundle_of]}
        cmd = ["extract", "--json", "--quiet", "--progress-jsonl",
               "--workers", str(decode_threads), "--source-relpath", item.relpath]
        if prefer_proxy and item.proxy_relpath and _durations_agree(item.path, input_root / item.proxy_relpath):
            extra["proxy"]["decoded"] = True
            cmd += ["--decode-from", str(input_root / item.proxy_relpath)]
        if overwrite:
            cmd.append("--overwrite")
        if drop_duplicates:
            cmd.append("--drop-duplicates")
        cmd += ["--bundle-extra", json.dumps(extra), str(item.path), str(out_dir)]
        job = _Job(item, cmd, out_dir)
        for gone in [c for c in children if c.job is None and c.died()]:   # killed from outside while idle
            gone.close()
            children.remove(gone)
        child = next((c for c in children if c.job is None), None)
        if child is None:
            child = _Child(python, wake)
            children.append(child)
        child.start(job)
        emit("started", relpath=item.relpath, bundle_relpath=item.bundle_relpath)
        return job

    def settle(child: _Child, timed_out: bool) -> None:
        nonlocal done_bytes
        job = child.job
        assert job is not None
        ended = child.job_ended() and not timed_out
        if not ended or child.files >= FILES_PER_CHILD:
            # Dead, hung or retired: it goes. Closing it reads all it said, so a
            # child that died right after its last line still counts as ended.
            child.close(wait_s=10)
            children.remove(child)
            ended = child.job_ended() and not timed_out
        child.job = None
        running.remove(job)
        item = job.item
        code = job.exit_code if ended else child.proc.returncode
        if job.result is not None and code == 0:
            r = job.result
            outcome = FileOutcome(item.relpath, item.bundle_relpath, "extracted", "; ".join(r.get("notes", [])),
                                  r["frame_count"], r["bytes_written"], r["duration_ms"], r["elapsed_s"])
        else:
            error = None
            if timed_out:
                reason = f"stopped after {time.monotonic() - job.started:.0f} s (time limit for its duration)"
                error = "Timeout"
            elif code is not None and code < 0:
                reason = f"the extractor crashed ({signal.Signals(-code).name})"
                error = "Crash"
            elif job.error is not None:
                reason = job.error["message"].removeprefix(str(item.path) + ": ")
                error = job.error["error"]
            else:
                said = job.stderr if ended else child.stderr_tail()
                reason = (said.strip().splitlines() or [f"exit code {code}"])[-1]
                error = "InternalError"
            job.remove_own_partials()
            outcome = FileOutcome(item.relpath, item.bundle_relpath, "failed", reason,
                                  elapsed_s=time.monotonic() - job.started, error=error,
                                  exit_code=code if code is not None else -signal.SIGKILL)
        outcomes[item.relpath] = outcome
        emit("done" if outcome.status == "extracted" else "failed", **asdict(outcome))
        done_bytes += item.size

    try:
        while pending or running:
            while pending and len(running) < workers:
                running.append(launch(pending.pop(0)))
            # Woken when a file ends; else every 50 ms for time limits and progress.
            wake.wait(0.05)
            wake.clear()
            for child in [c for c in children if c.job is not None]:
                job = child.job
                assert job is not None
                limit = min_timeout_s + timeout_per_video_s * job.video_s_held()
                timed_out = not child.job_ended() and time.monotonic() - job.started > limit
                if timed_out:
                    child.proc.kill()
                if timed_out or child.job_ended() or child.died():
                    settle(child, timed_out)
            report()
    except BaseException as e:
        # Ctrl-C reaches the children too (same process group); SIGTERM makes
        # sure, and each cleans up its own unfinished folder before exiting.
        busy = [c for c in children if c.job is not None and not c.job_ended()]
        for child in children:
            child.close(signal.SIGTERM if child in busy else None, wait_s=10)
        for child in busy:
            assert child.job is not None
            child.job.remove_own_partials()
        if not isinstance(e, KeyboardInterrupt):
            raise
        finished = [outcomes[i.relpath] for i in items if i.relpath in outcomes]
        unfinished = [i.relpath for i in items if i.relpath not in outcomes]
        result = BatchResult(output_root, finished, time.monotonic() - started, True, unfinished)
        emit("summary", **result.to_json(files=False))
        raise BatchInterrupted(result) from None
    for child in children:
        child.close()
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
