"""Beyond one machine: one Ray task per video, and Ray Data datasets of frames.

``extract_many`` runs ``extract_to_dir`` for each source as a Ray task that
asks for ``cpus_per_file`` CPUs and decodes with as many threads. A worker
that crashes or is killed costs a retry of that file only (Ray's
``max_retries``); a file whose error is in the input (an ``ExtractError``)
is not retried but reported with its error class and exit code. A bundle
already complete for the same source (size and modification time for a file,
size and ETag for an object) is skipped. The driver keeps one small record
per file and draws one aggregated progress line.

Sources and outputs may be local paths (on a cluster: a filesystem every node
mounts at the same path) or URLs (storage.py): ``s3://``/``gs://`` outputs are
published when complete, so a retried or killed task never leaves a bundle
that looks whole. Ray is an optional extra: ``pip install
'lifelog-compression[ray]'``; every node needs the package installed.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator, cast

from . import storage
from .batch import BatchProgress, BatchResult
from .discover import PROXY_EXTENSIONS, VIDEO_EXTENSIONS, BatchInput, discover
from .errors import ExtractError, MissingDependencyError
from .recipe import DEFAULT_RECIPE, Recipe

EXIT_INTERNAL = 1


@dataclass(frozen=True)
class FileTask:
    """One source and where its bundle goes (what the driver holds per file)."""

    source: str              # a local path or a URL
    relpath: str             # the source relative to the input root: the manifest's source_relpath
    bundle: str              # a local path or a URL
    extra: dict[str, Any] = field(default_factory=dict)   # bundle.json additions (batch, recording)


@dataclass(frozen=True)
class FileResult:
    """What happened to one source on the cluster."""

    relpath: str
    bundle: str
    status: str              # "extracted", "skipped" (complete already), "failed"
    error: str = ""          # the exception class, e.g. "DamagedSourceError"; "" when not failed
    exit_code: int = 0       # what `extract` would have exited with
    reason: str = ""
    frame_count: int = 0
    bytes_written: int = 0
    source_bytes_read: int = -1
    duration_ms: int = 0
    elapsed_s: float = 0.0
    node: str = ""           # host name of the worker that did it
    pid: int = 0


class DistributedResult(BatchResult):
    """The outcome of ``extract_many``: one FileResult per source, in input
    order (``output_root`` is the output as given, a path or a URL)."""


# ---- what to extract --------------------------------------------------------------------------

def plan(sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], output: str | os.PathLike[str]) -> list[FileTask]:
    """The tasks for ``sources``: a local folder (walked as ``batch`` does:
    proxies, chapters, mirrored tree), an ``s3://``/``gs://`` prefix (every
    video below it, mirrored), or a list of files and URLs (each to
    ``output/<stem>``)."""
    out = storage.location(output, output=True)
    if isinstance(sources, (str, os.PathLike)):
        root = storage.location(sources)
        if root.is_local and Path(root.text).is_dir():
            return [FileTask(str(i.path), i.relpath, out.child(i.bundle_relpath).text,
                             _batch_extra(i)) for i in discover(Path(root.text))]
        if root.is_object_store and not Path(root.name).suffix:
            return _plan_prefix(root, out)
        sources = [sources]
    tasks, used = [], set()
    for s in sources:
        loc = storage.location(s)
        stem = PurePosixPath(loc.name).stem or loc.name
        folder = stem if stem.lower() not in used else loc.name
        used.add(folder.lower())
        tasks.append(FileTask(loc.text, loc.name, out.child(folder).text))
    return tasks


def _batch_extra(item: BatchInput) -> dict[str, Any]:
    extra: dict[str, Any] = {"batch": {"input_relpath": item.relpath}}
    if item.proxy_relpath:
        extra["proxy"] = {"relpath": item.proxy_relpath, "decoded": False}
    if item.recording:
        extra["recording"] = item.recording.to_json()
    return extra


def _plan_prefix(root: storage.Location, out: storage.Location) -> list[FileTask]:
    fs = storage.filesystem(root)
    prefix = root.text.split("://", 1)[1].rstrip("/")
    tasks = []
    for key in sorted(fs.find(prefix + "/")):
        rel = key[len(prefix) + 1:]
        parts = PurePosixPath(rel)
        if any(p.startswith(".") for p in parts.parts) or parts.suffix.lower() not in VIDEO_EXTENSIONS \
                or parts.suffix.lower() in PROXY_EXTENSIONS:
            continue
        tasks.append(FileTask(f"{root.scheme}://{key}", rel, out.child(str(parts.with_suffix(""))).text,
                              {"batch": {"input_relpath": rel}}))
    return tasks


# ---- one file, on a worker ----------------------------------------------------------------------

def extract_file(task: FileTask, *, overwrite: bool = False, recipe: Recipe = DEFAULT_RECIPE,
                 workers: int = 1) -> FileResult:
    """Extracts one task where it runs (a Ray worker, or here); never raises
    for a bad source: the result carries the error class and exit code. The
    hidden folder of an attempt whose worker was killed is cleaned up by the
    retry's writer (workdir.py: its lock died with the worker)."""
    from .api import extract_to_dir

    started = time.monotonic()
    common: dict[str, Any] = dict(relpath=task.relpath, bundle=task.bundle, node=socket.gethostname(), pid=os.getpid())
    try:
        source = storage.location(task.source)
        bundle = storage.location(task.bundle, output=True)
        if not overwrite and storage.complete_for(bundle, source):
            return FileResult(status="skipped", reason="complete already", **common)
        r = extract_to_dir(source.text, bundle.text, overwrite=overwrite, recipe=recipe, workers=workers,
                           source_relpath=task.relpath, bundle_extra=task.extra or None)
        return FileResult(status="extracted", reason="; ".join(r.notes), frame_count=r.frame_count,
                          bytes_written=r.bytes_written, source_bytes_read=r.source_bytes_read,
                          duration_ms=r.duration_ms, elapsed_s=time.monotonic() - started, **common)
    except ExtractError as e:
        return FileResult(status="failed", error=type(e).__name__, exit_code=e.exit_code, reason=e.reason,
                          elapsed_s=time.monotonic() - started, **common)
    except Exception as e:   # a bug, not bad input: reported for this file, the run goes on
        return FileResult(status="failed", error=type(e).__name__, exit_code=EXIT_INTERNAL,
                          reason=f"internal error: {e}", elapsed_s=time.monotonic() - started, **common)


# ---- the driver ---------------------------------------------------------------------------------

def _ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise MissingDependencyError("Ray is not installed: pip install 'lifelog-compression[ray]'") from e
    return ray


def connect(address: str | None = None) -> Any:
    """Joins the Ray cluster at ``address`` (None: RAY_ADDRESS, or a local one
    started here), unless this process is connected already."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address or None, log_to_driver=False, configure_logging=False)
    return ray


def extract_many(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    address: str | None = None,
    cpus_per_file: float = 1,
    max_retries: int = 3,
    overwrite: bool = False,
    recipe: Recipe = DEFAULT_RECIPE,
    progress: Callable[[BatchProgress], None] | None = None,
) -> DistributedResult:
    """Extracts ``sources`` (a folder, an object-store prefix, or a list of
    files/URLs; see ``plan``) into bundles below ``output``, one Ray task per
    file on the cluster at ``address``.

    Each task asks for ``cpus_per_file`` CPUs and decodes with that many
    threads. A task whose worker dies is retried up to ``max_retries`` times
    (that file only); bad input is reported, not retried. Complete bundles of
    the same source are skipped unless ``overwrite``. ``progress`` is called
    on the driver about ten times a second. Failures are in the result, not
    raised.
    """
    ray = connect(address)
    tasks = plan(sources, output)
    remote = ray.remote(extract_file).options(num_cpus=cpus_per_file, max_retries=max_retries,
                                              retry_exceptions=False, name="lifelog_extract_file")
    threads = max(1, int(cpus_per_file))
    started = time.monotonic()
    pending = {remote.remote(t, overwrite=overwrite, recipe=recipe, workers=threads): i
               for i, t in enumerate(tasks)}
    results: dict[int, FileResult] = {}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0.1)
            for ref in done:
                i = pending.pop(ref)
                results[i] = _settle(ray, ref, tasks[i], max_retries)
            if progress:
                progress(_progress(results, len(tasks), started))
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    files: Any = [results[i] for i in range(len(tasks))]   # FileResult: BatchResult reads the same fields
    return DistributedResult(cast(Path, storage.location(output, output=True).text), files,
                             time.monotonic() - started)


def _settle(ray: Any, ref: Any, task: FileTask, max_retries: int) -> FileResult:
    try:
        return cast(FileResult, ray.get(ref))
    except ray.exceptions.RayError as e:   # the worker died on every attempt (or Ray lost the task)
        reason = f"the worker died {max_retries + 1} time(s): {type(e).__name__}"
        return FileResult(task.relpath, task.bundle, "failed", type(e).__name__, EXIT_INTERNAL, reason)


def _progress(results: dict[int, FileResult], total: int, started: float) -> BatchProgress:
    elapsed = time.monotonic() - started
    video_s = sum(r.duration_ms for r in results.values()) / 1000
    worked = sum(r.status != "skipped" for r in results.values())
    left = total - len(results)
    eta = elapsed / worked * left if worked else None
    return BatchProgress(len(results), total, video_s, elapsed, eta)


# ---- Ray Data -----------------------------------------------------------------------------------

def frames_dataset(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    address: str | None = None,
    cpus_per_file: float = 1,
    recipe: Recipe = DEFAULT_RECIPE,
) -> Any:
    """A Ray Dataset of the sampled frames of ``sources`` (as for ``plan``),
    one row per frame, for feeding models without writing bundles: ``source``
    (path or URL), ``source_relpath``, ``requested_ts_ms``, ``actual_ts_ms``,
    ``jpeg`` (bytes), ``content_hash`` and the manifest's other fields
    (``content_rect_*``, ``source_width``/``height``, ``obtained``,
    ``frames_decoded``, ``width``/``height`` of the canvas). Lazy: frames are
    decoded when the dataset is consumed, one file per task."""
    ray = connect(address)
    items = [{"source": t.source, "source_relpath": t.relpath} for t in plan(sources, "unused-output")]
    ds = ray.data.from_items(items, override_num_blocks=max(1, len(items)))
    return ds.flat_map(_FrameRows(recipe, max(1, int(cpus_per_file))), num_cpus=cpus_per_file)


class _FrameRows:
    """The flat_map function: one source row in, its frame rows out (streamed)."""

    def __init__(self, recipe: Recipe, workers: int):
        self.recipe = recipe
        self.workers = workers

    def __call__(self, item: dict[str, Any]) -> Iterator[dict[str, Any]]:
        import hashlib

        from .ingest import iter_frames

        for f in iter_frames(item["source"], recipe=self.recipe, workers=self.workers):
            x, y, w, h = f.content_rect
            yield {
                "source": item["source"],
                "source_relpath": item["source_relpath"],
                "requested_ts_ms": f.requested_ts_ms,
                "actual_ts_ms": f.actual_ts_ms,
                "jpeg": f.jpeg,
                "content_hash": "sha256:" + hashlib.sha256(f.jpeg or b"").hexdigest(),
                "width": self.recipe.canvas_width,
                "height": self.recipe.canvas_height,
                "content_rect_x": x,
                "content_rect_y": y,
                "content_rect_width": w,
                "content_rect_height": h,
                "source_width": f.source_size[0],
                "source_height": f.source_size[1],
                "obtained": f.obtained,
                "frames_decoded": f.frames_decoded,
            }


# ---- command line -------------------------------------------------------------------------------

def run_batch(args: Any, progress: Callable[[BatchProgress], None]) -> BatchResult:
    """``batch INPUT OUTPUT --ray [ADDRESS]`` (cli.py draws the progress line
    and prints the summary, as for a local batch)."""
    from .errors import SourceNotFoundError

    root = storage.location(args.input_dir)
    storage.location(args.output_root, output=True)
    if root.is_local and not Path(root.text).exists():
        raise SourceNotFoundError(f"{root.text}: no such folder", path=root.text)
    return extract_many(args.input_dir, args.output_root, address=args.ray or None,
                        cpus_per_file=args.cpus_per_file, overwrite=args.overwrite, progress=progress)
