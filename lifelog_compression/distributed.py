"""Beyond one machine: one Ray task per video, and Ray Data datasets of frames.

``extract_many`` runs ``jobs.extract_file`` for each source as a Ray task that
asks for ``cpus_per_file`` CPUs and decodes with as many threads: Ray is the
other executor (``RayPool``) behind the pool interface a local batch's
children implement, driven by the same loop (``batch.run_pool``). A worker
that crashes or is killed costs a retry of that file only (Ray's
``max_retries``); a file whose error is in the input (an ``ExtractError``)
is not retried but reported with its error class and exit code. A bundle
already complete for the same source (size and modification time for a file,
size and ETag for an object) is skipped. The driver keeps one FileOutcome
per file and draws one aggregated progress line.

Sources and outputs may be local paths (on a cluster: a filesystem every node
mounts at the same path) or URLs (storage.py): ``s3://``/``gs://`` outputs are
published when complete, so a retried or killed task never leaves a bundle
that looks whole. Ray is an optional extra: ``pip install
'lifelog-compression[ray]'``; every node needs the package installed.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator, cast

from . import storage
from .batch import BatchProgress, BatchResult, Running, run_pool
from .discover import PROXY_EXTENSIONS, VIDEO_EXTENSIONS, discover
from .errors import EXIT_INTERNAL, MissingDependencyError, SourceNotFoundError
from .jobs import FileOutcome, FileTask, bundle_extra, extract_file
from .recipe import DEFAULT_RECIPE, Recipe

# One record per file for every way of running (jobs.py); the old name stays.
FileResult = FileOutcome


class DistributedResult(BatchResult):
    """The outcome of ``extract_many``: one FileOutcome per source, in input
    order (``output_root`` is the output as given, a path or a URL)."""


# ---- what to extract --------------------------------------------------------------------------


def plan(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], output: str | os.PathLike[str]
) -> list[FileTask]:
    """The tasks for ``sources``: a local folder (walked as ``batch`` does:
    proxies, chapters, mirrored tree), an ``s3://``/``gs://`` prefix (every
    video below it, mirrored), or a list of files and URLs (each to
    ``output/<stem>``)."""
    out = storage.location(output, output=True)
    if isinstance(sources, (str, os.PathLike)):
        root = storage.location(sources)
        if root.is_local and Path(root.text).is_dir():
            items = discover(Path(root.text))
            bundle_of = {i.relpath: i.bundle_relpath for i in items}
            return [
                FileTask(
                    str(i.path),
                    i.relpath,
                    out.child(i.bundle_relpath).text,
                    bundle_extra(i, bundle_of),
                    bundle_relpath=i.bundle_relpath,
                )
                for i in items
            ]
        if root.is_object_store and not Path(root.name).suffix:
            return _plan_prefix(root, out)
        sources = [sources]
    tasks, used = [], set()
    for s in sources:
        loc = storage.location(s)
        stem = PurePosixPath(loc.name).stem or loc.name
        folder = stem if stem.lower() not in used else loc.name
        used.add(folder.lower())
        tasks.append(FileTask(loc.text, loc.name, out.child(folder).text, bundle_relpath=folder))
    return tasks


def _plan_prefix(root: storage.Location, out: storage.Location) -> list[FileTask]:
    fs = storage.filesystem(root)
    prefix = root.text.split("://", 1)[1].rstrip("/")
    tasks = []
    for key in sorted(fs.find(prefix + "/")):
        rel = key[len(prefix) + 1 :]
        parts = PurePosixPath(rel)
        if (
            any(p.startswith(".") for p in parts.parts)
            or parts.suffix.lower() not in VIDEO_EXTENSIONS
            or parts.suffix.lower() in PROXY_EXTENSIONS
        ):
            continue
        bundle_relpath = str(parts.with_suffix(""))
        tasks.append(
            FileTask(
                f"{root.scheme}://{key}",
                rel,
                out.child(bundle_relpath).text,
                {"batch": {"input_relpath": rel}},
                bundle_relpath=bundle_relpath,
            )
        )
    return tasks


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
    drop_duplicates: bool = False,
    progress: Callable[[BatchProgress], None] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> DistributedResult:
    """Extracts ``sources`` (a folder, an object-store prefix, or a list of
    files/URLs; see ``plan``) into bundles below ``output``, one Ray task per
    file on the cluster at ``address``.

    Each task asks for ``cpus_per_file`` CPUs and decodes with that many
    threads. A task whose worker dies is retried up to ``max_retries`` times
    (that file only); bad input is reported, not retried. Complete bundles of
    the same source are skipped unless ``overwrite``. ``drop_duplicates`` is
    extract_to_dir's, for every file. ``progress`` and
    ``on_event`` are called on the driver as a local batch calls them (the
    same loop, batch.run_pool, drives both). Failures are in the result, not
    raised; Ctrl-C raises ``BatchInterrupted``.
    """
    ray = connect(address)
    tasks = plan(sources, output)
    pool = RayPool(
        ray,
        cpus_per_file=cpus_per_file,
        max_retries=max_retries,
        overwrite=overwrite,
        recipe=recipe,
        drop_duplicates=drop_duplicates,
    )
    out = cast(Path, storage.location(output, output=True).text)
    r = run_pool(tasks, _sizes(tasks), out, pool, overwrite=overwrite, progress=progress, on_event=on_event)
    return DistributedResult(r.output_root, r.files, r.elapsed_s, r.interrupted, r.unfinished)


def _sizes(tasks: list[FileTask]) -> list[int]:
    """The local sources' sizes, for progress; an object or a URL counts as
    1 (sizing it costs a request per file)."""
    sizes = []
    for t in tasks:
        try:
            sizes.append(os.path.getsize(t.source) if storage.location(t.source).is_local else 1)
        except OSError:  # missing: its task reports it
            sizes.append(1)
    return sizes


class RayPool:
    """Ray as the other executor behind batch's pool interface (batch.Executor):
    one task per file runs ``jobs.extract_file`` on a worker of the cluster,
    as many at once as the cluster has CPUs for. A worker that dies is
    Ray's to retry (``max_retries``); a file that fails on every attempt is
    settled as failed with the error Ray gave."""

    def __init__(
        self,
        ray: Any,
        *,
        cpus_per_file: float,
        max_retries: int,
        overwrite: bool,
        recipe: Recipe,
        drop_duplicates: bool,
    ):
        self.ray = ray
        self.max_retries = max_retries
        self.remote = ray.remote(extract_file).options(
            num_cpus=cpus_per_file, max_retries=max_retries, retry_exceptions=False, name="lifelog_extract_file"
        )
        self.kwargs = dict(
            overwrite=overwrite,
            recipe=recipe,
            workers=max(1, int(cpus_per_file)),
            drop_duplicates=drop_duplicates,
        )
        # Tasks beyond what the cluster can run would wait in Ray's queue; kept
        # here instead, so that "running" on the progress line is true.
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_file))
        self.jobs: dict[Any, Running] = {}

    def running(self) -> list[Running]:
        return list(self.jobs.values())

    def has_room(self) -> bool:
        return len(self.jobs) < self.slots

    def submit(self, task: FileTask, size: int) -> None:
        self.jobs[self.remote.remote(task, **self.kwargs)] = Running(task, size)

    def poll(self, wait_s: float) -> list[FileOutcome]:
        if not self.jobs:
            return []
        done, _ = self.ray.wait(list(self.jobs), num_returns=len(self.jobs), timeout=wait_s)
        return [self._settle(ref, self.jobs.pop(ref).task) for ref in done]

    def _settle(self, ref: Any, task: FileTask) -> FileOutcome:
        try:
            return cast(FileOutcome, self.ray.get(ref))
        except self.ray.exceptions.RayError as e:  # the worker died on every attempt (or Ray lost the task)
            return FileOutcome(
                task.relpath,
                task.bundle_relpath,
                "failed",
                f"the worker died {self.max_retries + 1} time(s): {type(e).__name__}",
                error=type(e).__name__,
                exit_code=EXIT_INTERNAL,
                bundle=task.bundle,
            )

    def close(self) -> None:
        """Nothing to end: the workers are the cluster's."""

    def stop(self) -> None:
        for ref in self.jobs:
            self.ray.cancel(ref, force=True)
        self.jobs.clear()


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
            yield {
                "source": item["source"],
                "source_relpath": item["source_relpath"],
                **f.fields,
                "jpeg": f.jpeg,
                "content_hash": "sha256:" + hashlib.sha256(f.jpeg or b"").hexdigest(),
            }


# ---- command line -------------------------------------------------------------------------------


def run_batch(
    input_dir: str,
    output_root: str,
    *,
    address: str | None,
    cpus_per_file: float,
    overwrite: bool,
    progress: Callable[[BatchProgress], None],
    on_event: Callable[[dict[str, Any]], None] | None = None,
    drop_duplicates: bool = False,
) -> BatchResult:
    """``batch INPUT OUTPUT --ray [ADDRESS]``: ``extract_many`` after the
    checks a local batch makes (cli.py draws the progress line and prints the
    summary, as for a local batch)."""
    root = storage.location(input_dir)
    storage.location(output_root, output=True)
    if root.is_local and not Path(root.text).exists():
        raise SourceNotFoundError(f"{root.text}: no such folder", path=root.text)
    return extract_many(
        input_dir,
        output_root,
        address=address or None,
        cpus_per_file=cpus_per_file,
        overwrite=overwrite,
        drop_duplicates=drop_duplicates,
        progress=progress,
        on_event=on_event,
    )
