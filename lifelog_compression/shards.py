"""Upload transport: a bundle as uncompressed tar shards (SPEC.md).

Each ``shard-0001.tar``, ``shard-0002.tar``, ... holds ``bundle.json``, a
``manifest.jsonl`` with exactly that shard's rows, and those frames; the first
shard also carries ``metadata/``. The union of the shard manifests is the
bundle's manifest. No shard exceeds the limit unless one frame alone does.
Shards are written as hidden ``.partial`` files and renamed when complete.
Reading checks every member's name and type, so a hostile shard cannot lead
a consumer outside its folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import time
from pathlib import Path
from typing import Iterator

from .bundle import BUNDLE_JSON, MANIFEST, ManifestRow, frame_relpath, load_bundle_metadata
from .errors import BundleError, OutputError

DEFAULT_SHARD_BYTES = 192 * 1024 * 1024
BLOCK = tarfile.BLOCKSIZE
# tarfile pads a closed archive to whole records of 20 blocks.
_CLOSING = tarfile.RECORDSIZE + 2 * BLOCK
_BUNDLE_JSON_RESERVE = 64 * 1024
_SAFE_NAME = re.compile(r"^(bundle\.json|manifest\.jsonl|frames/\d{8}\.jpg|metadata/[A-Za-z0-9][A-Za-z0-9._-]*)$")
_SHARD_NAME = re.compile(r"^shard-\d{4,}\.tar$")


def _member_bytes(size: int) -> int:
    return BLOCK + -(-size // BLOCK) * BLOCK


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = int(time.time())
    info.type = tarfile.REGTYPE
    return info


class ShardWriter:
    """Writes frames into shards as they come; ``commit`` adds each shard's
    manifest and bundle.json and moves the shards into place. Offers the same
    calls as BundleWriter, so extraction can write either."""

    def __init__(self, out_dir: Path, *, shard_bytes: int = DEFAULT_SHARD_BYTES, overwrite: bool = False):
        self.out_dir = Path(out_dir)
        if shard_bytes < 64 * 1024 + _BUNDLE_JSON_RESERVE:
            raise ValueError("shard_bytes is too small to hold bundle.json and a frame")
        self.shard_bytes = shard_bytes
        if self.out_dir.exists() and (not self.out_dir.is_dir() or any(self.out_dir.iterdir())):
            raise OutputError(f"{self.out_dir}: exists and is not an empty folder; shards are never written over")
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"{self.out_dir}: cannot create the shard folder: {e.strerror}") from e
        self.rows: list[dict] = []
        self.bytes_written = 0
        self._shards: list[dict] = []   # {"path", "rows": [row indexes], "size"}
        self._tar: tarfile.TarFile | None = None
        self._metadata: dict[str, bytes] = {}

    def _partial(self, number: int) -> Path:
        return self.out_dir / f".shard-{number:04d}.tar.partial"

    def _open_next(self) -> None:
        self._close_current()
        number = len(self._shards) + 1
        path = self._partial(number)
        self._tar = tarfile.open(path, "w", format=tarfile.USTAR_FORMAT)
        self._shards.append({"path": path, "rows": [], "size": 0, "manifest": 0})

    def _close_current(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None

    def _fits(self, shard: dict, frame_size: int, row_bytes: int) -> bool:
        total = (shard["size"] + _member_bytes(frame_size) + _member_bytes(shard["manifest"] + row_bytes)
                 + _member_bytes(_BUNDLE_JSON_RESERVE) + _CLOSING)
        if len(self._shards) == 1:
            total += sum(_member_bytes(len(b)) for b in self._metadata.values())
        return total <= self.shard_bytes

    def add_frame(self, jpeg: bytes, row: dict) -> dict:
        number = len(self.rows) + 1
        rel = frame_relpath(number)
        full = {"frame_id": f"frame_{number:08d}", "frame_relpath": rel, **row,
                "content_hash": "sha256:" + hashlib.sha256(jpeg).hexdigest()}
        # Room for the row as it will be written, with the source hash added.
        row_bytes = len(json.dumps(full, ensure_ascii=False)) + 96
        if not self._shards or (self._shards[-1]["rows"] and not self._fits(self._shards[-1], len(jpeg), row_bytes)):
            self._open_next()
        shard = self._shards[-1]
        try:
            self._tar.addfile(_tarinfo(rel, len(jpeg)), io.BytesIO(jpeg))
        except OSError as e:
            raise OutputError(f"{self.out_dir}: cannot write {shard['path'].name}: {e.strerror}") from e
        shard["size"] += _member_bytes(len(jpeg))
        shard["manifest"] += row_bytes
        shard["rows"].append(len(self.rows))
        self.rows.append(full)
        self.bytes_written += len(jpeg)
        return full

    def write_text(self, relpath: str, text: str) -> None:
        self._metadata[relpath] = text.encode("utf-8")

    def write_json(self, relpath: str, obj) -> None:
        self.write_text(relpath, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")

    def commit(self, bundle: dict, extra_row_fields: dict) -> None:
        """Completes every shard, then renames them into place."""
        self._close_current()
        try:
            self._complete_shards(bundle, extra_row_fields)
        except OSError as e:   # a full disk is the output's fault, not ours
            raise OutputError(f"{self.out_dir}: cannot complete the shards: {e.strerror}") from e
        for i, shard in enumerate(self._shards, 1):
            os.rename(shard["path"], self.out_dir / f"shard-{i:04d}.tar")

    def _complete_shards(self, bundle: dict, extra_row_fields: dict) -> None:
        count = len(self._shards)
        for i, shard in enumerate(self._shards, 1):
            lines = "".join(json.dumps({**self.rows[r], **extra_row_fields}, ensure_ascii=False) + "\n"
                            for r in shard["rows"])
            doc = {**bundle, "shard": {"index": i, "count": count, "frame_count": len(shard["rows"])}}
            members = {MANIFEST: lines.encode("utf-8"),
                       BUNDLE_JSON: (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")}
            if i == 1:
                members.update(self._metadata)
            with tarfile.open(shard["path"], "a", format=tarfile.USTAR_FORMAT) as tar:
                for name, data in members.items():
                    tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))

    def abandon(self) -> None:
        """Removes this writer's unfinished shards (nothing else)."""
        self._close_current()
        for shard in self._shards:
            shard["path"].unlink(missing_ok=True)
        try:
            self.out_dir.rmdir()   # only if it is empty: it was made for these shards
        except OSError:
            pass


def pack(bundle_dir: str | os.PathLike, out_dir: str | os.PathLike, *, shard_bytes: int = DEFAULT_SHARD_BYTES) -> list[Path]:
    """Packs a bundle folder into tar shards in ``out_dir``; returns their paths."""
    bundle_dir = Path(bundle_dir)
    meta = load_bundle_metadata(bundle_dir)
    from .bundle import load_manifest

    rows = load_manifest(bundle_dir)
    writer = ShardWriter(Path(out_dir), shard_bytes=shard_bytes)
    try:
        for name in sorted(os.listdir(bundle_dir / "metadata")) if (bundle_dir / "metadata").is_dir() else []:
            writer.write_text(f"metadata/{name}", (bundle_dir / "metadata" / name).read_text(encoding="utf-8"))
        for row in rows:
            data = (bundle_dir / row.frame_relpath).read_bytes()
            fields = {"source_relpath": row.source_relpath, "requested_ts_ms": row.requested_ts_ms,
                      "actual_ts_ms": row.actual_ts_ms, "width": row.width, "height": row.height, **row.extra}
            written = writer.add_frame(data, fields)
            if written["content_hash"] != row.content_hash:
                raise BundleError(f"{bundle_dir / row.frame_relpath}: content does not match its manifest hash")
        writer.commit(meta.raw, {})
    except BaseException:
        writer.abandon()
        raise
    return sorted(Path(out_dir).glob("shard-*.tar"))


def _safe_members(tar: tarfile.TarFile, path: Path) -> Iterator[tarfile.TarInfo]:
    for m in tar.getmembers():
        if not m.isreg() or not _SAFE_NAME.match(m.name) or ".." in m.name.split("/"):
            raise BundleError(f"{path}: unsafe tar member {m.name!r} ({'not a regular file' if not m.isreg() else 'name'})")
        yield m


def read_shards(shard_dir: str | os.PathLike) -> Iterator[tuple[ManifestRow, bytes]]:
    """Yields (manifest row, JPEG bytes) for every frame of a shard folder, in
    time order, checking names, hashes and that each row has its frame."""
    paths = sorted(p for p in Path(shard_dir).iterdir() if _SHARD_NAME.match(p.name))
    if not paths:
        raise BundleError(f"{shard_dir}: no shard-*.tar files")
    for path in paths:
        with tarfile.open(path, "r:") as tar:
            members = {m.name: m for m in _safe_members(tar, path)}
            if MANIFEST not in members or BUNDLE_JSON not in members:
                raise BundleError(f"{path}: lacks {MANIFEST} or {BUNDLE_JSON}")
            text = tar.extractfile(members[MANIFEST]).read().decode("utf-8")
            for line in text.splitlines():
                row = ManifestRow.from_json(json.loads(line))
                if row.frame_relpath not in members:
                    raise BundleError(f"{path}: {row.frame_relpath} is in the manifest but not in the shard")
                data = tar.extractfile(members[row.frame_relpath]).read()
                if "sha256:" + hashlib.sha256(data).hexdigest() != row.content_hash:
                    raise BundleError(f"{path}: {row.frame_relpath} does not match its hash")
                yield row, data


def unpack(shard_dir: str | os.PathLike, bundle_dir: str | os.PathLike) -> Path:
    """Rebuilds a bundle folder from its shards (written aside, then renamed)."""
    from .bundle import BundleWriter

    shard_dir, bundle_dir = Path(shard_dir), Path(bundle_dir)
    first = sorted(p for p in shard_dir.iterdir() if _SHARD_NAME.match(p.name))
    if not first:
        raise BundleError(f"{shard_dir}: no shard-*.tar files")
    with tarfile.open(first[0], "r:") as tar:
        members = {m.name: m for m in _safe_members(tar, first[0])}
        bundle = json.loads(tar.extractfile(members[BUNDLE_JSON]).read())
        metadata = {n: tar.extractfile(m).read().decode("utf-8") for n, m in members.items() if n.startswith("metadata/")}
    bundle.pop("shard", None)
    writer = BundleWriter(bundle_dir)
    try:
        for name, text in metadata.items():
            writer.write_text(name, text)
        for row, data in read_shards(shard_dir):
            fields = {"source_relpath": row.source_relpath, "requested_ts_ms": row.requested_ts_ms,
                      "actual_ts_ms": row.actual_ts_ms, "width": row.width, "height": row.height, **row.extra}
            writer.add_frame(data, fields)
        writer.commit(bundle, {})
    except BaseException:
        writer.abandon()
        raise
    return bundle_dir
