"""One file of a run: the task record, the outcome record, and extract_file.

A local batch child (batch_child.py), a Ray task (distributed.py) and a caller
of the API alike run one file through :func:`extract_file`: it takes a
:class:`FileTask` (plain JSON, so it crosses a pipe or a cluster) and returns
a :class:`FileOutcome`, never raising for a bad source. What a folder's
layout adds to a bundle.json (the batch input, the proxy, a GoPro
recording's chapters and their bundles) is made here once, by
:func:`bundle_extra`, so that every way of running writes the same document.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Callable

from . import storage
from .errors import EXIT_INTERNAL, ExtractError, InterruptedAfterCommit
from .recipe import DEFAULT_RECIPE, Recipe

if TYPE_CHECKING:
    from .api import Progress
    from .discover import BatchInput


@dataclass(frozen=True)
class FileTask:
    """One source and where its bundle goes."""

    source: str  # a local path or a URL
    relpath: str  # the source relative to the input root: the manifest's source_relpath
    bundle: str  # a local path or a URL
    extra: dict[str, Any] = field(default_factory=dict)  # bundle.json additions (batch, proxy, recording)
    decode_from: str | None = None  # a camera's proxy, decoded instead of the source (same timeline)
    bundle_relpath: str = ""  # the bundle relative to the output root ("" : the bundle's own name)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "FileTask":
        return cls(**doc)


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one input."""

    relpath: str
    bundle_relpath: str
    status: str  # "extracted", "skipped" (complete already), "failed"
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
    bundle: str = ""  # the bundle's location (a path or a URL)
    source_bytes_read: int = -1  # what the core read (over a URL: what the server sent); -1 unknown
    node: str = ""  # host name of the process that did it
    pid: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def bundle_extra(item: BatchInput, bundle_of: dict[str, str], proxy_decoded: bool = False) -> dict[str, Any]:
    """bundle.json's additions for one input of a folder: the batch input,
    its proxy, and its recording with the chapters' bundles (``bundle_of``:
    input relpath -> bundle relpath, for every input of the run)."""
    extra: dict[str, Any] = {"batch": {"input_relpath": item.relpath}}
    if item.proxy_relpath:
        extra["proxy"] = {"relpath": item.proxy_relpath, "decoded": proxy_decoded}
    if item.recording:
        # Chapters' bundles (and so their telemetry tracks), in recording order.
        extra["recording"] = {
            **item.recording.to_json(),
            "chapter_bundles": [bundle_of[c] for c in item.recording.chapters if c in bundle_of],
        }
    return extra


def extract_file(
    task: FileTask,
    *,
    overwrite: bool = False,
    recipe: Recipe = DEFAULT_RECIPE,
    workers: int = 1,
    drop_duplicates: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> FileOutcome:
    """Extracts one task where it runs (a batch child, a Ray worker, or here);
    never raises for a bad source or a bug: the outcome carries the error
    class and exit code. Ctrl-C still raises KeyboardInterrupt, unless the
    bundle was already whole (then it is reported as made). A bundle complete
    for the same source is skipped unless ``overwrite``."""
    from .api import extract_to_dir

    started = time.monotonic()
    common: dict[str, Any] = dict(
        relpath=task.relpath,
        bundle=task.bundle,
        node=socket.gethostname(),
        pid=os.getpid(),
        bundle_relpath=task.bundle_relpath or PurePosixPath(task.bundle).name,
    )
    try:
        source = storage.location(task.source)
        bundle = storage.location(task.bundle, output=True)
        if not overwrite and storage.complete_for(bundle, source):
            return FileOutcome(status="skipped", reason="complete already", **common)
        try:
            r = extract_to_dir(
                source.text,
                bundle.text,
                overwrite=overwrite,
                recipe=recipe,
                workers=workers,
                source_relpath=task.relpath,
                decode_from=task.decode_from,
                bundle_extra=task.extra or None,
                progress=progress,
                drop_duplicates=drop_duplicates,
            )
        except InterruptedAfterCommit as e:  # the bundle is whole and in place: it was made
            r = e.result
        return FileOutcome(
            status="extracted",
            reason="; ".join(r.notes),
            frame_count=r.frame_count,
            bytes_written=r.bytes_written,
            source_bytes_read=r.source_bytes_read,
            duration_ms=r.duration_ms,
            elapsed_s=time.monotonic() - started,
            **common,
        )
    except ExtractError as e:
        reason = e.message.removeprefix(f"{task.source}: ")
        return FileOutcome(
            status="failed",
            error=type(e).__name__,
            exit_code=e.exit_code,
            reason=reason,
            elapsed_s=time.monotonic() - started,
            **common,
        )
    except Exception as e:  # a bug, not bad input: reported for this file, the run goes on
        return FileOutcome(
            status="failed",
            error=type(e).__name__,
            exit_code=EXIT_INTERNAL,
            reason=f"internal error: {e}",
            elapsed_s=time.monotonic() - started,
            **common,
        )
