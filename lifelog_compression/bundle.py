"""Writing and reading Visual Bundle folders (SPEC.md).

A bundle is written into a hidden sibling folder and renamed into place only
when it is complete, so a folder named like the bundle is always whole. An
existing bundle is replaced only on request, and only after its successor is
complete; a folder that is not a bundle is never replaced. Leftovers of a
writer that was killed are removed by the next writer of the same bundle
(workdir.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import names
from .errors import BundleError, OutputError, output_os_errors
from .manifest import ManifestRow as ManifestRow  # re-exported: its home before manifest.py
from .recipe import BUNDLE_FORMAT
from .workdir import WriterLock, remove_abandoned, signals_deferred

FRAMES_DIR = "frames"
METADATA_DIR = "metadata"
BUNDLE_JSON = "bundle.json"
MANIFEST = "manifest.jsonl"
ARTIFACTS = {
    "source_metadata": "metadata/source-metadata.json",
    "source_probe": "metadata/source-probe.json",
    "source_mdls": "metadata/source-mdls.txt",
    "source_xattrs": "metadata/source-xattrs.txt",
}

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_bundle_id() -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, so ids sort by time."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def frame_relpath(number: int) -> str:
    return f"{FRAMES_DIR}/{number:08d}.jpg"


@dataclass(frozen=True)
class BundleMetadata:
    """bundle.json: the main fields, and the whole document in ``raw``."""

    bundle_id: str
    format_version: int
    created_at: str
    frame_count: int
    producer: dict[str, Any]
    sampling: dict[str, Any]
    image: dict[str, Any]
    source_video: dict[str, Any]
    notes: list[str]
    raw: dict[str, Any] = field(compare=False, repr=False)


class BundleWriter:
    """Writes one bundle aside and moves it into place on ``commit``."""

    def __init__(self, output_dir: Path, *, overwrite: bool = False):
        self.output_dir = Path(output_dir)
        self.overwrite = overwrite
        self._lock: WriterLock | None = None
        # First, so that an old bundle a killed writer had moved aside is back
        # before anything is decided about the folder.
        with output_os_errors(self.output_dir, "cannot be used as the bundle folder"):
            remove_abandoned(self.output_dir)
            self._check_output()
        parent = self.output_dir.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self._lock = WriterLock(self.output_dir)
            self.work_dir = self._lock.work_dir
            (self.work_dir / FRAMES_DIR).mkdir(parents=True)
            (self.work_dir / METADATA_DIR).mkdir()
        except OSError as e:
            self.abandon()
            raise OutputError(f"{self.output_dir}: cannot create the bundle folder: {e.strerror}") from e
        self.rows: list[dict[str, Any]] = []
        self.bytes_written = 0

    def _check_output(self) -> None:
        out = self.output_dir
        if out.is_symlink() or (out.exists() and not out.is_dir()):
            raise OutputError(f"{out}: exists and is not a folder")
        if out.is_dir() and any(out.iterdir()):
            if not self.overwrite:
                raise OutputError(f"{out}: exists and is not empty (overwrite=True replaces a bundle)")
            if not is_bundle(out):
                raise OutputError(f"{out}: exists and is not a Visual Bundle; refusing to replace it")
            foreign = foreign_files(out)
            if foreign:
                raise OutputError(
                    f"{out}: holds files that are not part of its bundle ({', '.join(foreign[:3])}"
                    f"{', ...' if len(foreign) > 3 else ''}); replacing it would lose them: move "
                    "them out first"
                )

    def add_frame(self, jpeg: bytes, row: dict[str, Any]) -> dict[str, Any]:
        """Writes the next frame file; returns the completed manifest row."""
        number = len(self.rows) + 1
        rel = frame_relpath(number)
        try:
            with open(self.work_dir / rel, "wb") as f:
                f.write(jpeg)
        except OSError as e:
            raise OutputError(f"{self.output_dir}: cannot write {rel}: {e.strerror}") from e
        self.bytes_written += len(jpeg)
        full = {
            "frame_id": f"frame_{number:08d}",
            "frame_relpath": rel,
            **row,
            "content_hash": "sha256:" + hashlib.sha256(jpeg).hexdigest(),
        }
        self.rows.append(full)
        return full

    def add_repeat(self, row: dict[str, Any], kept: dict[str, Any], jpeg: bytes) -> dict[str, Any]:
        """Adds a row that repeats the earlier row ``kept`` (duplicates
        dropped): no file of its own, the kept row's path and hash. ``jpeg``
        (the kept row's bytes) is for writers that need them (shards)."""
        number = len(self.rows) + 1
        full = {
            "frame_id": f"frame_{number:08d}",
            "frame_relpath": kept["frame_relpath"],
            **row,
            "content_hash": kept["content_hash"],
        }
        self.rows.append(full)
        return full

    def write_text(self, relpath: str, text: str) -> None:
        try:
            (self.work_dir / relpath).write_text(names.recorded(text), encoding="utf-8")
        except OSError as e:  # a full disk is the output's fault, not ours
            raise OutputError(f"{self.output_dir}: cannot write {relpath}: {e.strerror}") from e

    def write_json(self, relpath: str, obj: Any) -> None:
        self.write_text(relpath, names.dumps(obj, indent=2) + "\n")

    def commit(self, bundle: dict[str, Any], extra_row_fields: dict[str, Any]) -> None:
        """Writes manifest and bundle.json, then moves the bundle into place."""
        lines = [names.dumps({**row, **extra_row_fields}) for row in self.rows]
        self.write_text(MANIFEST, "".join(line + "\n" for line in lines))
        self.write_json(BUNDLE_JSON, bundle)
        self._check_output()  # the folder may have appeared meanwhile
        out = self.output_dir
        # A Ctrl-C between the two renames would leave no bundle at all and
        # one in between would leave the old one aside: finish first.
        with signals_deferred() as deferred:
            replaced = None
            try:
                if out.is_dir() and any(out.iterdir()):
                    replaced = (
                        self._lock.replaced_dir
                        if self._lock
                        else out.parent / f".{out.name}.replaced-{secrets.token_hex(4)}"
                    )
                    os.rename(out, replaced)
                elif out.is_dir():
                    out.rmdir()
                os.rename(self.work_dir, out)
            except OSError as e:
                if replaced is not None and not out.exists():
                    os.rename(replaced, out)
                raise OutputError(f"{out}: cannot move the finished bundle into place: {e.strerror}") from e
            if replaced is not None:
                shutil.rmtree(replaced, ignore_errors=True)
            if self._lock:
                self._lock.release()
                self._lock = None  # nothing of ours is left to abandon
        deferred.deliver(out)

    def abandon(self) -> None:
        """Removes the unfinished folder (it is ours: nothing else is touched)."""
        if self._lock is None:
            return
        shutil.rmtree(self._lock.work_dir, ignore_errors=True)
        self._lock.release()


_FRAME_FILE = re.compile(r"[0-9]{8}\.jpg")
_SHARD_FILE = re.compile(r"shard-[0-9]{4}\.tar")


def written_by_a_bundle(rel: str) -> bool:
    """Whether a bundle (or its shards) writes the file at ``rel`` (posix,
    relative to the bundle). The metadata folder is the bundle's own,
    whatever a version puts there."""
    parts = rel.split("/")
    return (
        rel in (BUNDLE_JSON, MANIFEST)
        or _SHARD_FILE.fullmatch(rel) is not None
        or (len(parts) == 2 and parts[0] == METADATA_DIR)
        or (len(parts) == 2 and parts[0] == FRAMES_DIR and _FRAME_FILE.fullmatch(parts[1]) is not None)
    )


def foreign_files(bundle: Path) -> list[str]:
    """Files in a bundle folder that no bundle writes (a user's notes, an
    edited copy of a frame): an overwrite must not delete them."""
    found = []
    for path in sorted(bundle.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        rel = path.relative_to(bundle).as_posix()
        if not written_by_a_bundle(rel) or path.is_symlink():
            found.append(rel)
    return found


def is_bundle(path: Path) -> bool:
    try:
        with open(Path(path) / BUNDLE_JSON, encoding="utf-8") as f:
            return bool(json.load(f).get("format") == BUNDLE_FORMAT)
    except (OSError, ValueError, AttributeError):
        return False


def load_bundle_metadata(bundle_dir: str | os.PathLike[str]) -> BundleMetadata:
    """Reads bundle.json of a bundle folder."""
    path = Path(bundle_dir) / BUNDLE_JSON
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise BundleError(f"{bundle_dir}: not a Visual Bundle (no {BUNDLE_JSON})") from e
    except (OSError, ValueError) as e:
        raise BundleError(f"{path}: unreadable: {e}") from e
    if not isinstance(raw, dict) or raw.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path}: not a Visual Bundle (format is not {BUNDLE_FORMAT!r})")
    return BundleMetadata(
        bundle_id=raw.get("bundle_id", ""),
        format_version=raw.get("format_version", 0),
        created_at=raw.get("created_at", ""),
        frame_count=raw.get("frame_count", 0),
        producer=raw.get("producer", {}),
        sampling=raw.get("sampling", {}),
        image=raw.get("image", {}),
        source_video=raw.get("source_video", {}),
        notes=raw.get("notes", []),
        raw=raw,
    )


def frame_file(bundle_dir: str | os.PathLike[str], row: ManifestRow) -> Path:
    """The file a row names. BundleError where it resolves outside the bundle
    (a symlink to /etc/passwd put in frames/): tools that read it (validate,
    pack, sheet) must not read or ship what lies outside. manifest.py already
    refuses paths that leave it by name."""
    root = Path(bundle_dir)
    path = root / row.frame_relpath
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        inside = False
    if not inside:
        raise BundleError(f"{path}: leads outside the bundle (a symlink): not read")
    return path


def read_frame(bundle_dir: str | os.PathLike[str], row: ManifestRow) -> bytes:
    """The bytes of the frame a row names; BundleError if it is missing,
    unreadable or outside the bundle."""
    path = frame_file(bundle_dir, row)
    try:
        return path.read_bytes()
    except OSError as e:
        raise BundleError(f"{path}: the manifest names it but it cannot be read: {e.strerror}") from e


def load_manifest(bundle_dir: str | os.PathLike[str]) -> list[ManifestRow]:
    """Reads manifest.jsonl of a bundle folder, in time order."""
    path = Path(bundle_dir) / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise BundleError(f"{path}: unreadable: {e.strerror}") from e
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(ManifestRow.from_json(json.loads(line)))
        except (ValueError, TypeError) as e:
            raise BundleError(f"{path}:{number}: {e}") from e
    return rows


def find_bundles(root: str | os.PathLike[str]) -> list[Path]:
    """``root`` itself if it is a bundle, else every bundle below it (hidden
    folders, such as unfinished bundles, are skipped), in path order; BundleError
    for a path that is neither."""
    root = Path(root)
    if is_bundle(root):
        return [root]
    if not root.is_dir():
        raise BundleError(f"{root}: not a bundle and not a folder")
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if BUNDLE_JSON in files and is_bundle(Path(folder)):
            found.append(Path(folder))
            dirs[:] = []  # a bundle holds no bundles
    return sorted(found)
