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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Protocol

from .batch_child import JOB_END, job_message
from .bundle import is_bundle
from .discover import discover
from .errors import NotAFolderError, OutputError, SourceNotFoundError, output_os_errors
from .jobs import FileOutcome, FileTask, bundle_extra
from .limits import MAX_FILES_AT_ONCE, MAX_WORKERS, check_workers
from .workdir import remove_abandoned

__all__ = ["BatchInterrupted", "BatchProgress", "BatchResult", "ChildPool", "FileOutcome", "extract_directory_to_dir"]


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


@dataclass
class Running:
    """A file an executor is running, and what it has said of it so far
    (what the progress line draws). Both pools hand these out."""

    task: FileTask
    size: int  # the source's bytes (1 where unknown): progress and estimates go by them
    started: float = field(default_factory=time.monotonic)
    duration_ms: int = 0
    requests_done: int = 0
    requests_total: int = 0


class Executor(Protocol):
    """What a batch needs of whatever runs its files: local children
    (:class:`ChildPool`) or Ray tasks (``distributed.RayPool``). Each runs
    ``jobs.extract_file`` on a :class:`FileTask` and settles it as a
    :class:`FileOutcome`."""

    def running(self) -> list[Running]: ...
    def has_room(self) -> bool: ...
    def submit(self, task: FileTask, size: int) -> None: ...
    def poll(self, wait_s: float) -> list[FileOutcome]: ...
    def close(self) -> None: ...
    def stop(self) -> None: ...


class _Job(Running):
    """One file handed to a child, and what the child has said of it so far."""

    def __init__(self, task: FileTask, size: int):
        super().__init__(task, size)
        self.out_dir = Path(task.bundle)
        parent = self.out_dir.parent
        self.partials_before = set(parent.glob(f".{self.out_dir.name}.partial-*")) if parent.exists() else set()
        self.outcome: FileOutcome | None = None
        self.exit_code: int | None = None  # set last, by the child's job_end line

    def video_s_held(self) -> float:
        """Seconds of video the time limit allows for: the duration, but no
        more than the file's bytes can hold (a clock that claims 18 hours in
        287 KB gets the time its bytes take, not 18 hours)."""
        return min(self.duration_ms / 1000, self.size / BYTES_PER_VIDEO_S_AT_LEAST)

    def take(self, msg: dict[str, Any]) -> None:
        if "progress" in msg:
            p = msg["progress"]
            self.duration_ms = p["duration_ms"]
            self.requests_done, self.requests_total = p["requests_done"], p["requests_total"]
        elif JOB_END in msg:
            if "outcome" in msg:
                self.outcome = FileOutcome(**msg["outcome"])
            self.exit_code = msg[JOB_END]

    def remove_own_partials(self) -> None:
        """A child killed mid-file cannot clean up: its half-written folder is
        this run's own, so remove it (and only it)."""
        import shutil

        if not self.out_dir.parent.exists():
            return
        remove_abandoned(self.out_dir)  # also puts back a bundle it had moved aside
        for p in set(self.out_dir.parent.glob(f".{self.out_dir.name}.partial-*")) - self.partials_before:
            shutil.rmtree(p, ignore_errors=True)


# ---- the scheduler's decisions, as plain functions (tests/test_scheduler.py) ----------------------


def time_limit_s(min_timeout_s: float, timeout_per_video_s: float, video_s_held: float) -> float:
    """How long a file may run: a floor, plus a share per second of its video."""
    return min_timeout_s + timeout_per_video_s * video_s_held


def next_step(*, job_ended: bool, died: bool, ran_s: float, limit_s: float) -> str | None:
    """What the batch loop does with a busy child: None (let it run),
    "settle" (its file ended, or it died) or "kill" (over its time limit:
    kill it, then settle the file as timed out). A file that has ended is
    never timed out, however late the loop looks."""
    if job_ended:
        return "settle"
    if ran_s > limit_s:
        return "kill"
    return "settle" if died else None


def settled_outcome(
    task: FileTask,
    *,
    outcome: FileOutcome | None,
    code: int | None,
    timed_out: bool,
    ran_s: float,
    said: str,
    bundle: str = "",
) -> FileOutcome:
    """The outcome of a file whose child is done with it: the child's own
    when it ended with exit code 0; else a failure that says why, first
    of all a time limit, then a crash (a negative code: the signal), then
    the child's reported error, then the last line it wrote on stderr."""
    if outcome is not None and code == 0 and not timed_out:
        return outcome
    if timed_out:
        reason, error = f"stopped after {ran_s:.0f} s (time limit for its duration)", "Timeout"
    elif code is not None and code < 0:
        reason, error = f"the extractor crashed ({signal.Signals(-code).name})", "Crash"
    elif outcome is not None and outcome.error:
        reason, error = outcome.reason, outcome.error
    else:
        reason, error = (said.strip().splitlines() or [f"exit code {code}"])[-1], "InternalError"
    return FileOutcome(
        task.relpath,
        task.bundle_relpath,
        "failed",
        reason,
        elapsed_s=ran_s,
        error=error,
        exit_code=code if code is not None else -signal.SIGKILL,
        bundle=bundle,
    )


def interrupted_result(
    output_root: Path, tasks: list[FileTask], outcomes: dict[str, FileOutcome], elapsed_s: float
) -> BatchResult:
    """What a stopped batch reports: the files that finished, in input
    order, and those that were running or waiting."""
    finished = [outcomes[t.relpath] for t in tasks if t.relpath in outcomes]
    unfinished = [t.relpath for t in tasks if t.relpath not in outcomes]
    return BatchResult(output_root, finished, elapsed_s, True, unfinished)


class _Child:
    """A child process that extracts the files it is handed, one at a time
    (batch_child.py): the interpreter and FFmpeg's libraries load once per
    child, not once per file. A child that crashes or hangs on a file is
    replaced for the next one."""

    def __init__(self, python: str, wake: threading.Event):
        self.wake = wake  # set when a file ends or the child dies: the batch loop looks then
        self.proc = subprocess.Popen(
            [python, "-m", "lifelog_compression.batch_child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr  # all pipes
        self.job: _Job | None = None
        self.files = 0
        self._stderr_tail: list[str] = []  # what the child said on stderr, last lines
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
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
        self.wake.set()  # the child is gone

    def _read_stderr(self) -> None:
        assert self.proc.stderr
        for line in self.proc.stderr:
            self._stderr_tail = (self._stderr_tail + [line])[-20:]

    def start(self, job: _Job, message: str) -> None:
        assert self.proc.stdin
        self.job = job
        self.files += 1
        try:
            self.proc.stdin.write(message + "\n")
            self.proc.stdin.flush()
        except OSError:  # it died before reading: settled as a crash
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
        except OSError:  # it is gone already: a broken pipe
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


class ChildPool:
    """Runs files in up to ``workers`` child processes, reused from file to
    file: ``submit`` a job, ``poll`` for the files that are done (settled:
    ended, crashed or over their time limit), ``close`` when the run ends or
    ``stop`` when it is interrupted."""

    def __init__(
        self,
        workers: int,
        python: str,
        *,
        min_timeout_s: float,
        timeout_per_video_s: float,
        overwrite: bool,
        decode_threads: int,
        drop_duplicates: bool,
    ):
        self.workers = workers
        self.python = python
        self.min_timeout_s, self.timeout_per_video_s = min_timeout_s, timeout_per_video_s
        self.overwrite, self.decode_threads, self.drop_duplicates = overwrite, decode_threads, drop_duplicates
        self.children: list[_Child] = []  # alive; at most `workers`
        self.wake = threading.Event()

    def running(self) -> list[Running]:
        return [c.job for c in self.children if c.job is not None]

    def has_room(self) -> bool:
        return len(self.running()) < self.workers

    def submit(self, task: FileTask, size: int) -> None:
        job = _Job(task, size)
        for gone in [c for c in self.children if c.job is None and c.died()]:  # killed from outside while idle
            gone.close()
            self.children.remove(gone)
        child = next((c for c in self.children if c.job is None), None)
        if child is None:
            child = _Child(self.python, self.wake)
            self.children.append(child)
        child.start(
            job,
            job_message(
                task, overwrite=self.overwrite, workers=self.decode_threads, drop_duplicates=self.drop_duplicates
            ),
        )

    def poll(self, wait_s: float) -> list[FileOutcome]:
        """Waits up to ``wait_s`` for a file to end (a child wakes it), then
        settles every file that is done."""
        self.wake.wait(wait_s)
        self.wake.clear()
        done = []
        for child in [c for c in self.children if c.job is not None]:
            job = child.job
            assert job is not None
            step = next_step(
                job_ended=child.job_ended(),
                died=child.died(),
                ran_s=time.monotonic() - job.started,
                limit_s=time_limit_s(self.min_timeout_s, self.timeout_per_video_s, job.video_s_held()),
            )
            if step == "kill":
                child.proc.kill()
            if step is not None:
                done.append(self._settle(child, timed_out=step == "kill"))
        return done

    def _settle(self, child: _Child, timed_out: bool) -> FileOutcome:
        job = child.job
        assert job is not None
        ended = child.job_ended() and not timed_out
        if not ended or child.files >= FILES_PER_CHILD:
            # Dead, hung or retired: it goes. Closing it reads all it said, so a
            # child that died right after its last line still counts as ended.
            child.close(wait_s=10)
            self.children.remove(child)
            ended = child.job_ended() and not timed_out
        child.job = None
        code = job.exit_code if ended else child.proc.returncode
        outcome = settled_outcome(
            job.task,
            outcome=job.outcome,
            code=code,
            timed_out=timed_out,
            ran_s=time.monotonic() - job.started,
            said=child.stderr_tail(),
            bundle=str(job.out_dir),
        )
        if outcome.status == "failed":
            job.remove_own_partials()
        return outcome

    def close(self) -> None:
        for child in self.children:
            child.close()

    def stop(self) -> None:
        """Interrupted: Ctrl-C reaches the children too (same process group);
        SIGTERM makes sure, and each cleans up its own unfinished folder
        before exiting; what a killed one left is removed here."""
        busy = [c for c in self.children if c.job is not None and not c.job_ended()]
        for child in self.children:
            child.close(signal.SIGTERM if child in busy else None, wait_s=10)
        for child in busy:
            assert child.job is not None
            child.job.remove_own_partials()


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
    from . import _core  # the parent needs it; children import their own

    cores = _core.usable_cpus()  # affinity and cgroup quota, not the machine's count
    workers = max(1, workers or cores)
    pool = ChildPool(
        workers,
        python_executable or sys.executable,
        min_timeout_s=min_timeout_s,
        timeout_per_video_s=timeout_per_video_s,
        overwrite=overwrite,
        decode_threads=decode_threads or min(MAX_WORKERS, max(1, cores // workers)),
        drop_duplicates=drop_duplicates,
    )
    bundle_of = {i.relpath: i.bundle_relpath for i in items}
    by_relpath = {i.relpath: i for i in items}

    def with_proxy(task: FileTask) -> FileTask:
        # Decided when the file starts, not for all at once: it opens both videos.
        item = by_relpath[task.relpath]
        proxy = input_root / item.proxy_relpath if item.proxy_relpath else None
        if not prefer_proxy or proxy is None or not _durations_agree(item.path, proxy):
            return task
        return replace(task, decode_from=str(proxy), extra=bundle_extra(item, bundle_of, proxy_decoded=True))

    tasks = [
        FileTask(
            str(i.path),
            i.relpath,
            str(output_root / i.bundle_relpath),
            bundle_extra(i, bundle_of),
            None,
            i.bundle_relpath,
        )
        for i in items
    ]
    sizes = [i.size for i in items]
    return run_pool(
        tasks, sizes, output_root, pool, overwrite=overwrite, progress=progress, on_event=on_event, prepare=with_proxy
    )


def run_pool(
    tasks: list[FileTask],
    sizes: list[int],
    output_root: Path,
    pool: Executor,
    *,
    overwrite: bool = False,
    progress: Callable[[BatchProgress], None] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    prepare: Callable[[FileTask], FileTask] | None = None,
) -> BatchResult:
    """Runs ``tasks`` (``sizes``: their sources' bytes) on ``pool``, the
    executor the caller chose: complete bundles skipped, the rest handed to
    the pool as it has room, progress and events reported, as
    :func:`extract_directory_to_dir` describes. ``prepare`` may change a
    task just before it starts. Ctrl-C stops the pool and raises
    :class:`BatchInterrupted`."""
    run = _Run(tasks, sizes, pool, progress, on_event)
    run.triage(overwrite)
    try:
        run.drive(prepare or (lambda t: t))
    except BaseException as e:
        pool.stop()
        if not isinstance(e, KeyboardInterrupt):
            raise
        result = interrupted_result(output_root, tasks, run.outcomes, time.monotonic() - run.started)
        run.emit("summary", **result.to_json(files=False))
        raise BatchInterrupted(result) from None
    pool.close()
    result = BatchResult(output_root, [run.outcomes[t.relpath] for t in tasks], time.monotonic() - run.started)
    run.emit("summary", **result.to_json(files=False))
    return result


# The --jsonl event that reports a settled file (an executor's task may
# find its bundle complete already, when another run made it meanwhile).
EVENT_OF_STATUS = {"extracted": "done", "skipped": "skipped", "failed": "failed"}


class _Run:
    """One batch in progress: its tasks, their outcomes so far, and the
    pool that runs the files."""

    def __init__(
        self,
        tasks: list[FileTask],
        sizes: list[int],
        pool: Executor,
        progress: Callable[[BatchProgress], None] | None,
        on_event: Callable[[dict[str, Any]], None] | None,
    ):
        self.tasks, self.pool = tasks, pool
        self.size = {t.relpath: n for t, n in zip(tasks, sizes)}
        self.progress, self.on_event = progress, on_event
        self.started = time.monotonic()
        self.outcomes: dict[str, FileOutcome] = {}
        self.pending: list[FileTask] = []
        self.total_bytes = sum(sizes) or 1
        self.done_bytes = 0

    def emit(self, event: str, **fields: Any) -> None:
        if self.on_event:
            self.on_event({"event": event, **fields, "elapsed_s": round(time.monotonic() - self.started, 3)})

    def triage(self, overwrite: bool) -> None:
        """Complete bundles are skipped; a bundle of another version of the
        file is kept, and reported; the rest waits for the pool."""
        from . import storage

        for task in self.tasks:
            bundle = storage.location(task.bundle, output=True)
            if not overwrite and storage.complete_for(bundle, storage.location(task.source)):
                self._record(
                    FileOutcome(task.relpath, task.bundle_relpath, "skipped", "complete already", bundle=task.bundle),
                    "skipped",
                )
            elif not overwrite and bundle.is_local and is_bundle(Path(bundle.text)):
                # A bundle of an earlier version of the file (edited, re-copied):
                # kept, and the reason said, rather than "exists and is not empty".
                self._record(
                    FileOutcome(
                        task.relpath,
                        task.bundle_relpath,
                        "failed",
                        f"{bundle.text}: its bundle was made from another version of the file (its size or its "
                        "bytes differ); --overwrite replaces it",
                        error="OutputError",
                        exit_code=OutputError.exit_code,
                        bundle=task.bundle,
                    ),
                    "failed",
                )
            else:
                self.pending.append(task)
        self.done_bytes = sum(self.size[r] for r in self.outcomes)

    def _record(self, outcome: FileOutcome, event: str) -> None:
        self.outcomes[outcome.relpath] = outcome
        self.emit(event, **asdict(outcome))

    def drive(self, prepare: Callable[[FileTask], FileTask]) -> None:
        """Hands files to the pool as it has room, until every one is settled."""
        while self.pending or self.pool.running():
            while self.pending and self.pool.has_room():
                task = prepare(self.pending.pop(0))
                self.pool.submit(task, self.size[task.relpath])
                self.emit("started", relpath=task.relpath, bundle_relpath=task.bundle_relpath)
            # Woken when a file ends; else every 50 ms for time limits and progress.
            for outcome in self.pool.poll(0.05):
                self._record(outcome, EVENT_OF_STATUS[outcome.status])
                self.done_bytes += self.size[outcome.relpath]
            self.report()

    def report(self) -> None:
        if not self.progress:
            return
        running = self.pool.running()
        elapsed = time.monotonic() - self.started
        video_s = sum(o.duration_ms for o in self.outcomes.values() if o.status == "extracted") / 1000
        video_s += sum(c.duration_ms / 1000 * c.requests_done / max(1, c.requests_total) for c in running)
        bytes_now = self.done_bytes + sum(c.size * c.requests_done / max(1, c.requests_total) for c in running)
        skipped = sum(self.size[r] for r, o in self.outcomes.items() if o.status == "skipped")
        worked = bytes_now - skipped
        eta = elapsed / worked * (self.total_bytes - bytes_now) if worked > 0 else None
        self.progress(
            BatchProgress(
                len(self.outcomes),
                len(self.tasks),
                video_s,
                elapsed,
                eta,
                [c.task.relpath for c in running],
                self.video_total(running),
            )
        )

    def video_total(self, running: list[Running]) -> float | None:
        known = {o.relpath: o.duration_ms for o in self.outcomes.values() if o.status == "extracted"}
        known.update({c.task.relpath: c.duration_ms for c in running if c.duration_ms})
        if not known:
            return None
        known_bytes = sum(self.size[r] for r in known) or 1
        unknown_bytes = sum(c.size for c in running if not c.duration_ms) + sum(
            self.size[t.relpath] for t in self.pending
        )
        return (sum(known.values()) + sum(known.values()) / known_bytes * unknown_bytes) / 1000


def _durations_agree(original: Path, proxy: Path) -> bool:
    from . import _core

    try:
        with _core.Source(str(original)) as a, _core.Source(str(proxy)) as b:
            return abs(a.info["duration_ms"] - b.info["duration_ms"]) <= 1000
    except Exception:  # an unreadable proxy is simply not used
        return False
