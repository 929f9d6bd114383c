"""extract_to_dir: one video file in, one Visual Bundle folder out."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import __version__, _core, storage
from .bundle import ARTIFACTS, BundleWriter, new_bundle_id
from .colour import colour_doc
from .errors import ArgumentTypeError, InterruptedAfterCommit, UsageError, nothing_decoded
from .interlace import interlace_notes
from .limits import MAX_WORKERS, check_workers
from .manifest import frame_fields, frame_ms
from .metadata import SourceHasher, hasher_for, mdls_text, probe_document, source_metadata, xattrs_text
from .recipe import BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, DEFAULT_RECIPE, Recipe
from .signals import DEFAULT_RULE, DuplicateTracker, bundle_doc, row_fields
from .timeline import timeline_notes

if TYPE_CHECKING:
    from ._core import CoreFrame
    from .shards import ShardWriter


@dataclass(frozen=True)
class Progress:
    """Where an extraction stands; handed to the ``progress`` callback."""

    requests_done: int
    requests_total: int
    frames_written: int
    source_ms_done: int
    duration_ms: int
    elapsed_s: float

    @classmethod
    def at(
        cls, frame: CoreFrame, requests_total: int, frames_written: int, duration_ms: int, started: float
    ) -> "Progress":
        """Where a run stands once the core has handed over ``frame`` (a
        bundle's writer and iter_frames alike report by it)."""
        return cls(
            requests_done=frame["request_index"] + 1,
            requests_total=requests_total,
            frames_written=frames_written,
            source_ms_done=min(duration_ms, frame["requested_ms"] + 1000),
            duration_ms=duration_ms,
            elapsed_s=time.monotonic() - started,
        )


@dataclass(frozen=True)
class ExtractResult:
    """What ``extract_to_dir`` made."""

    bundle_dir: Path | str  # a str for a bundle published to object storage
    bundle_id: str
    frame_count: int
    request_count: int
    duration_ms: int
    elapsed_s: float
    bytes_written: int
    keyframe_hits: int
    frames_decoded: int
    decode_threads: int = 0
    missing_requests_ms: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source_bytes_read: int = -1  # what the core read (over a URL: what the server sent); -1 unknown

    def with_bundle_dir(self, bundle_dir: Path | str) -> "ExtractResult":
        return replace(self, bundle_dir=bundle_dir)

    @property
    def realtime_factor(self) -> float:
        """Seconds of video per second of work."""
        return (self.duration_ms / 1000) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["bundle_dir"] = str(self.bundle_dir)
        d["realtime_factor"] = round(self.realtime_factor, 2)
        return d


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def extract_to_dir(
    input: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: Callable[[Progress], None] | None = None,
    recipe: Recipe = DEFAULT_RECIPE,
    workers: int = 0,
    source_relpath: str | None = None,
    decode_from: str | os.PathLike[str] | None = None,
    bundle_extra: dict[str, Any] | None = None,
    shards: bool = False,
    shard_bytes: int | None = None,
    drop_duplicates: bool = False,
) -> ExtractResult:
    """Turns one video file into a Visual Bundle folder at ``output_dir``.

    Frames are sampled every ``recipe.interval_ms`` from the first video frame,
    each within the tolerance window of its request, drawn on the canvas and
    written as JPEG. The bundle is written aside and moved into place when
    complete; an existing non-empty ``output_dir`` is refused unless
    ``overwrite`` is true and it is a bundle. ``progress`` is called after each
    request. ``workers`` is the number of decoding threads; 0 uses one per
    CPU this process may use (affinity mask and cgroup quota respected).

    For batch use: ``source_relpath`` names the source in the manifest
    (default: its file name); ``decode_from`` decodes another file with the
    same timeline instead (a camera's low-resolution proxy), while metadata,
    hash and request times come from ``input``; ``bundle_extra`` adds
    top-level fields to bundle.json (recording, proxy).

    With ``shards`` the bundle is written straight into upload shards
    (``output_dir/shard-0001.tar``, ... of at most ``shard_bytes``, default
    192 MiB; see shards.py) instead of a folder.

    Every row carries content signals and ``duplicate_of`` (signals.py);
    with ``drop_duplicates`` a duplicate row gets no JPEG of its own: its
    ``frame_relpath`` and ``content_hash`` are the kept row's. Raises an
    :class:`~lifelog_compression.errors.ExtractError` subclass naming the file
    and the reason; Ctrl-C raises KeyboardInterrupt and leaves no bundle,
    except during the final move into place: that is finished first and
    :class:`~lifelog_compression.errors.InterruptedAfterCommit` (a
    KeyboardInterrupt carrying the ``result``) is raised.

    ``input`` may be an ``http(s)://``, ``s3://`` or ``gs://`` URL (read in
    byte ranges) and ``output_dir`` an ``s3://`` or ``gs://`` prefix (published
    when complete); see storage.py. Another scheme raises
    UnsupportedLocationError before anything is created.
    """
    job = _Job(
        recipe=recipe,
        progress=progress,
        source_relpath=source_relpath,
        decode_from=decode_from,
        bundle_extra=bundle_extra,
        drop_duplicates=drop_duplicates,
        workers=workers,
        overwrite=overwrite,
        shards=shards,
        shard_bytes=shard_bytes,
    )
    job.check()
    # URLs and object storage (storage.py): checked before anything is created.
    source = storage.location(input)
    output = storage.location(output_dir, output=True)
    if not output.is_local:
        return _extract_to_remote(source, output, job)
    return _extract_here(source, Path(output.text), job)


@dataclass(frozen=True)
class _Job:
    """What extract_to_dir was asked for, beyond the source and the output."""

    recipe: Recipe
    progress: Callable[[Progress], None] | None
    source_relpath: str | None
    decode_from: str | os.PathLike[str] | None
    bundle_extra: dict[str, Any] | None
    drop_duplicates: bool
    workers: int
    overwrite: bool
    shards: bool
    shard_bytes: int | None

    def check(self) -> None:
        """Caller mistakes are usage errors, never a silent default."""
        check_workers("workers", self.workers)
        if self.progress is not None and not callable(self.progress):
            raise ArgumentTypeError(f"progress must be a function or None, not {self.progress!r}")
        if self.source_relpath is not None and not isinstance(self.source_relpath, str):
            raise ArgumentTypeError(f"source_relpath must be a str or None, not {self.source_relpath!r}")
        if self.decode_from is not None and not isinstance(self.decode_from, (str, os.PathLike)):
            raise ArgumentTypeError(f"decode_from must be a path or None, not {self.decode_from!r}")
        _check_bundle_extra(self.bundle_extra)
        for name in ("overwrite", "shards", "drop_duplicates"):
            flag = getattr(self, name)
            if not isinstance(flag, bool):  # "no" is true, and would replace a bundle
                raise UsageError(f"{name} must be True or False, not {flag!r}")
        if not isinstance(self.recipe, Recipe):
            raise UsageError(f"recipe must be a lifelog_compression Recipe, not {self.recipe!r}")
        if self.shards and self.overwrite:
            raise UsageError(
                "overwrite cannot be combined with shards: shards are only written into a new or empty folder"
            )
        if self.shard_bytes is not None and (not isinstance(self.shard_bytes, int) or self.shard_bytes <= 0):
            raise UsageError(f"the shard size must be positive, not {self.shard_bytes!r}")


def _extract_here(source: storage.Location, output_dir: Path, job: _Job) -> ExtractResult:
    """Into a local folder (the writer's hidden folder, moved into place)."""
    started = time.monotonic()
    # Decided here, not left to the core, so that bundle.json can say it.
    threads = job.workers if job.workers > 0 else min(_core.usable_cpus(), MAX_WORKERS)
    # The hash starts first: opening a source is one core's work (FFmpeg
    # decodes a picture to learn the stream's parameters), and on a spare
    # core the hash costs no wall time. A source that fails to open cancels it.
    hasher = hasher_for(Path(source.text)) if source.is_local else storage.NoHash(source)
    hasher.start()
    try:
        with storage.open_source(source) as src:
            result, interrupted = _extract_opened(src, source, output_dir, job, hasher, threads, started)
    except BaseException:
        hasher.cancel()
        raise
    if interrupted is not None:
        interrupted.result = result
        raise interrupted
    return result


def _extract_to_remote(source: storage.Location, output: storage.Location, job: _Job) -> ExtractResult:
    """Into object storage: extract into a local temporary folder, then
    publish it (storage.publish: the bundle appears whole or not at all)."""
    storage.check_remote_output(output, job.overwrite)
    tmp = Path(tempfile.mkdtemp(prefix="lifelog-bundle-"))
    try:
        result = _extract_here(source, tmp / "bundle", replace(job, overwrite=False))  # a new folder
        try:
            storage.publish(tmp / "bundle", output, overwrite=job.overwrite)
        except InterruptedAfterCommit as e:  # published whole, then the interrupt: say both
            e.result = result.with_bundle_dir(output.text)
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result.with_bundle_dir(output.text)


def _new_writer(
    output_dir: Path, *, overwrite: bool, shards: bool, shard_bytes: int | None
) -> BundleWriter | ShardWriter:
    if shards:
        from .shards import DEFAULT_SHARD_BYTES, ShardWriter

        return ShardWriter(output_dir, shard_bytes=DEFAULT_SHARD_BYTES if shard_bytes is None else shard_bytes)
    return BundleWriter(output_dir, overwrite=overwrite)


def _extract_opened(
    src: Any,
    source: storage.Location,
    output_dir: Path,
    job: _Job,
    hasher: SourceHasher | storage.NoHash,
    threads: int,
    started: float,
) -> tuple[ExtractResult, InterruptedAfterCommit | None]:
    """The extraction of an opened source (storage.open_source) into a new writer: the result, and
    the interrupt that arrived once the bundle was whole (or None). Any
    other failure abandons the writer's hidden folder and is raised."""
    info = src.info
    probe = json.loads(src.probe_json())
    # The core names a URL with its query (a signature), and a file name
    # that is not UTF-8 with U+FFFD: the name as bundles record it instead.
    probe.get("format", {})["filename"] = source.name if source.is_local else source.shown
    requests = job.recipe.request_times_ms(info["duration_ms"])
    writer = _new_writer(output_dir, overwrite=job.overwrite, shards=job.shards, shard_bytes=job.shard_bytes)
    # Time and place (Visual Bundle 1.1), read beside the frames like the hash.
    telemetry = storage.start_telemetry(source, info, probe.get("summary"))
    decoder = src
    interrupted: InterruptedAfterCommit | None = None
    try:
        if job.decode_from is not None:
            decoder = _core.Source(os.fspath(job.decode_from))
        state = _collect(
            decoder, writer, source, job, requests, info["duration_ms"], started, threads, telemetry.row_fields
        )
        hasher.join()
        notes = _notes(state, writer, requests, probe, info, hasher, job.recipe)
        bundle = _bundle_document(writer, source, probe, info, job.recipe, notes, hasher, threads)
        bundle["colour"] = state.colour
        bundle["source_bytes_read"] = src.bytes_read
        if state.with_signals:
            bundle["signals"] = bundle_doc(DEFAULT_RULE, job.drop_duplicates, state.duplicates.duplicates)
        telemetry.finish(writer, bundle)
        # The writer's fields stay its own (checked above; this keeps it so
        # for a field added to the writer and not yet to BUNDLE_FIELDS).
        bundle.update({k: v for k, v in (job.bundle_extra or {}).items() if k not in bundle})
        try:
            writer.commit(bundle, {"source_content_hash": hasher.digest} if hasher.digest else {})
        except InterruptedAfterCommit as e:  # the bundle is whole and in place: said by the caller
            interrupted = e
    except BaseException:
        writer.abandon()
        raise
    finally:
        if decoder is not src:
            decoder.close()
    result = ExtractResult(
        bundle_dir=output_dir,
        bundle_id=bundle["bundle_id"],
        frame_count=len(writer.rows),
        request_count=len(requests),
        duration_ms=info["duration_ms"],
        elapsed_s=time.monotonic() - started,
        bytes_written=writer.bytes_written,
        keyframe_hits=state.keyframe_hits,
        frames_decoded=state.frames_decoded,
        decode_threads=threads,
        missing_requests_ms=state.missing,
        notes=notes,
        source_bytes_read=bundle["source_bytes_read"],
    )
    return result, interrupted


def _collect(
    decoder: _core.Source,
    writer: BundleWriter | ShardWriter,
    source: storage.Location,
    job: _Job,
    requests: list[int],
    duration_ms: int,
    started: float,
    threads: int,
    annotate: Callable[[float], dict[str, Any]],
) -> _Collector:
    """Decodes the requests into the writer; the collector holds what was seen."""
    state = _Collector(
        writer, job.recipe, job.source_relpath or source.name, requests, duration_ms, started, job.progress
    )
    state.annotate = annotate
    state.drop_duplicates = job.drop_duplicates
    if job.decode_from is not None:
        state.decoded_relpath = (
            Path(job.decode_from).name
            if job.source_relpath is None
            else str(Path(job.source_relpath).parent / Path(job.decode_from).name)
        )
    decoder.extract(requests, state.on_frame, workers=threads, **job.recipe.native_kwargs())
    if not writer.rows:
        raise nothing_decoded(source.shown)
    return state


def _notes(
    state: _Collector,
    writer: BundleWriter | ShardWriter,
    requests: list[int],
    probe: dict[str, Any],
    info: _core.SourceInfo,
    hasher: SourceHasher | storage.NoHash,
    recipe: Recipe,
) -> list[str]:
    """bundle.json's notes: the timeline's, the colour's, interlacing's, the
    hash's; sets ``state.colour`` (bundle.json's colour document) on the way."""
    notes = timeline_notes(
        state.missing,
        requests,
        writer.rows[0]["actual_ts_ms"],
        state.last_actual_ms,
        recipe,
        probe,
        info["duration_ms"],
        state.damaged,
        state.damaged_pictures,
        state.false_keyframes,
    )
    state.colour, colour_notes = colour_doc(probe.get("summary", {}), state.colour_mappings, _core.backend)
    notes.extend(colour_notes)
    notes.extend(interlace_notes(probe.get("summary", {}), state.deinterlaced, len(writer.rows)))
    if hasher.error:
        notes.append(f"source hash not computed: {hasher.error}")
    return notes


# bundle.json's fields that the bundle writer owns (_bundle_document, colour,
# the byte count, telemetry's, a shard's own): bundle_extra may not set them.
BUNDLE_FIELDS = frozenset(
    {
        "format",
        "format_version",
        "bundle_id",
        "created_at",
        "producer",
        "sampling",
        "image",
        "source_video",
        "metadata_artifacts",
        "request_count",
        "frame_count",
        "notes",
        "colour",
        "source_bytes_read",
        "capture_clock",
        "track",
        "shard",
        "signals",
    }
)


def _check_bundle_extra(extra: object) -> None:
    """bundle_extra is JSON (no NaN or infinity, which json.dumps writes but
    no JSON reader takes) and names none of the writer's fields."""
    if extra is None:
        return
    if not isinstance(extra, dict) or not all(isinstance(k, str) for k in extra):
        raise ArgumentTypeError(f"bundle_extra must be a dict with str keys, not {extra!r:.200}")
    owned = sorted(BUNDLE_FIELDS.intersection(extra))
    if owned:
        raise UsageError(f"bundle_extra may not set the bundle writer's own fields: {', '.join(owned)}")
    try:
        json.dumps(extra, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        cls = ArgumentTypeError if isinstance(e, TypeError) else UsageError
        raise cls(f"bundle_extra must be plain JSON (dicts, lists, str, int, finite float, bool, None): {e}") from None


class _Collector:
    """Receives frames from the core (in request order) and writes them."""

    def __init__(
        self,
        writer: BundleWriter | ShardWriter,
        recipe: Recipe,
        source_relpath: str,
        requests: list[int],
        duration_ms: int,
        started: float,
        progress: Callable[[Progress], None] | None,
    ):
        self.writer = writer
        self.recipe = recipe
        self.source_relpath = source_relpath
        self.requests = requests
        self.duration_ms = duration_ms
        self.started = started
        self.progress = progress
        self.missing: list[int] = []
        self.last_actual_ms: int | None = None
        self.keyframe_hits = 0
        self.frames_decoded = 0
        self.damaged: list[int] = []  # missing requests whose window held only damaged pictures
        self.damaged_pictures = 0
        self.deinterlaced = 0  # frames pictured from one field of an interlaced picture
        self.false_keyframes = 0  # index keyframes that decode as predicted pictures
        self.colour_mappings: list[str] = []  # distinct lines, in order of first appearance
        self.colour: dict[str, Any] = {}  # bundle.json's colour document, once the frames are in
        self.extractor = f"lifelog_compression/{_core.backend}"
        self.decoded_relpath: str | None = None
        self.annotate: Callable[[float], dict[str, Any]] = lambda actual_ms: {}  # captured_at, location
        self.duplicates = DuplicateTracker(DEFAULT_RULE)
        self.drop_duplicates = False
        self.with_signals = 0
        self._kept: tuple[dict[str, Any], bytes] | None = None  # the last row written with its own JPEG

    def on_frame(self, f: CoreFrame) -> None:
        self.frames_decoded += f["frames_decoded"]
        self.damaged_pictures += f.get("damaged_pictures", 0)
        self.deinterlaced += bool(f.get("deinterlaced"))
        self.false_keyframes += f.get("false_keyframes", 0)
        mapping = f.get("colour_mapping")
        if mapping and mapping not in self.colour_mappings:
            self.colour_mappings.append(mapping)
        actual_us = f["actual_us"]
        if f["jpeg"] is None or actual_us is None:
            self.missing.append(f["requested_ms"])
            if f.get("damaged_pictures"):
                self.damaged.append(f["requested_ms"])
        else:
            actual_ms = frame_ms(f)
            self.last_actual_ms = actual_ms
            self.keyframe_hits += f["obtained"] == "keyframe"
            signals = f.get("signals")
            self.with_signals += signals is not None
            duplicate_of = self.duplicates.check(f"frame_{len(self.writer.rows) + 1:08d}", signals, f["content_rect"])
            row = {
                "source_relpath": self.source_relpath,
                **frame_fields(
                    f,
                    (self.recipe.canvas_width, self.recipe.canvas_height),
                    {"extractor": self.extractor, "extractor_version": __version__},
                ),
                **({"decoded_relpath": self.decoded_relpath} if self.decoded_relpath else {}),
                **self.annotate(actual_ms),
                **row_fields(signals),
                **({"duplicate_of": duplicate_of} if signals is not None else {}),
            }
            if duplicate_of is not None and self.drop_duplicates and self._kept is not None:
                self.writer.add_repeat(row, *self._kept)
            else:
                full = self.writer.add_frame(f["jpeg"], row)
                self._kept = (full, f["jpeg"])
        if self.progress:
            self.progress(Progress.at(f, len(self.requests), len(self.writer.rows), self.duration_ms, self.started))


def _bundle_document(
    writer: BundleWriter | ShardWriter,
    source: storage.Location,
    probe: dict[str, Any],
    info: _core.SourceInfo,
    recipe: Recipe,
    notes: list[str],
    hasher: SourceHasher | storage.NoHash,
    threads: int,
) -> dict[str, Any]:
    if source.is_local:
        source_path = Path(source.text)
        summary = source_metadata(source_path, probe)
        # A motion photo: the file (named, sized and hashed whole) carries the
        # recording the frames come from at this byte range.
        embedded = _core.recording_range(os.fspath(source_path))
        if embedded is not None:
            summary["embedded_recording"] = embedded
            notes.append(
                f"the recording is the MP4 embedded in this {embedded['container']}: "
                f"{embedded['length']} bytes from byte {embedded['offset']}; the still photo is not a frame"
            )
        # Read by the hasher's thread while frames were decoded (here only if it could not).
        mdls, mdls_available = hasher.mdls or mdls_text(source_path)
        xattrs = hasher.xattrs if hasher.xattrs is not None else xattrs_text(source_path)
    else:
        summary, mdls, xattrs = storage.remote_source_files(source, probe, storage.identity(source))
        mdls_available = False
    if hasher.digest:
        summary["content_hash"] = hasher.digest
    writer.write_json(ARTIFACTS["source_metadata"], summary)
    writer.write_json(ARTIFACTS["source_probe"], probe_document(probe, _core.backend))
    writer.write_text(ARTIFACTS["source_mdls"], mdls)
    writer.write_text(ARTIFACTS["source_xattrs"], xattrs)
    return {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "bundle_id": new_bundle_id(),
        "created_at": _utc_now(),
        "producer": {
            "name": "lifelog_compression",
            "version": __version__,
            "backend": _core.backend,
            "backend_versions": _core.backend_versions,
            "decode_threads": threads,
        },
        "sampling": {
            **recipe.sampling_doc(),
            "source_start_offset_ms": info["start_offset_us"] / 1000,
            "planner": "container index" if info["keyframe_index"] else "packet scan",
        },
        "image": recipe.image_doc(),
        "source_video": summary,
        "metadata_artifacts": {
            **ARTIFACTS,
            "probe_kind": "libavformat" if _core.backend == "ffmpeg" else _core.backend,
            "mdls_available": mdls_available,
        },
        "request_count": len(recipe.request_times_ms(info["duration_ms"])),
        "frame_count": len(writer.rows),
        "notes": notes,
    }
