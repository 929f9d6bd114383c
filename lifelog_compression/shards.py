"""Upload transport: a bundle as uncompressed tar shards (SPEC.md) that
WebDataset-style readers understand.

Each ``shard-0001.tar``, ``shard-0002.tar``, ... holds, in this order:
``bundle.json`` (plus a ``shard`` object), ``manifest.jsonl`` with exactly that
shard's rows, ``metadata/*`` (first shard only), then per frame
``00000001.jpg`` beside ``00000001.json`` (that frame's manifest row), in time
order. A row that repeats an earlier frame (duplicates dropped) has only its
``.json`` (named by its frame_id); the frame it names is in the same shard,
copied there when the kept row lies in an earlier one, so every shard stands
alone. Readers that group members by key (the name up to the first dot, as
``webdataset`` does) see one sample per frame with its picture and its row.
The union of the shard manifests is the bundle's manifest. No shard exceeds
the limit unless one frame alone does.

Shards are reproducible: fixed owners (0, no names), mode 0644, every mtime
set to the bundle's ``created_at`` and a fixed member order, so packing the
same bundle twice gives the same bytes (content-addressed uploads dedupe).
They are written as hidden ``.partial`` files and renamed when complete.
Reading checks every member's name and type, so a hostile shard cannot lead a
consumer outside its folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Iterator

from . import names
from .bundle import BUNDLE_JSON, MANIFEST, BundleWriter, frame_relpath, load_bundle_metadata, load_manifest, read_frame
from .errors import BundleError, OutputError, output_os_errors
from .manifest import ManifestRow

DEFAULT_SHARD_BYTES = 192 * 1024 * 1024
BLOCK = tarfile.BLOCKSIZE
# tarfile pads a closed archive to whole records of 20 blocks.
_CLOSING = tarfile.RECORDSIZE + 2 * BLOCK
_BUNDLE_JSON_RESERVE = 64 * 1024
# Row bytes not known while frames stream in: the source hash is added at the end.
_ROW_SLACK = 96
_SAFE_NAME = re.compile(
    r"^(bundle\.json|manifest\.jsonl|\d{8}\.(jpg|json)|frames/\d{8}\.jpg"
    r"|metadata/[A-Za-z0-9][A-Za-z0-9._-]*)$"
)
_SHARD_NAME = re.compile(r"^shard-\d{4,}\.tar$")


def _member_bytes(size: int) -> int:
    return BLOCK + -(-size // BLOCK) * BLOCK


def frame_key(relpath: str) -> str:
    """The shard key of a frame: ``frames/00000001.jpg`` -> ``00000001``."""
    return Path(relpath).stem


def _tarinfo(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def _epoch(created_at: Any) -> int:
    """The bundle's creation time as the members' mtime (0 if unreadable)."""
    try:
        return int(datetime.fromisoformat(str(created_at).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


class ShardWriter:
    """Writes frames into shards as they come; ``commit`` lays each shard out
    (bundle.json, manifest, metadata, then the frames with their rows) and
    moves the shards into place. Offers the same calls as BundleWriter, so
    extraction can write either.

    The rows are complete only at ``commit`` (the source hash), so frames are
    spooled into a hidden tar per shard and copied into the final shard then:
    one more write of the JPEG bytes, in exchange for a layout readers can
    stream."""

    def __init__(self, out_dir: Path, *, shard_bytes: int = DEFAULT_SHARD_BYTES, overwrite: bool = False):
        self.out_dir = Path(out_dir)
        if shard_bytes < 64 * 1024 + _BUNDLE_JSON_RESERVE:
            raise ValueError("shard_bytes is too small to hold bundle.json and a frame")
        self.shard_bytes = shard_bytes
        with output_os_errors(self.out_dir, "cannot create the shard folder"):
            if self.out_dir.exists() and (not self.out_dir.is_dir() or any(self.out_dir.iterdir())):
                raise OutputError(f"{self.out_dir}: exists and is not an empty folder; shards are never written over")
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict[str, Any]] = []
        self.bytes_written = 0
        self._shards: list[dict[str, Any]] = []  # {"spool", "path", "rows": [row indexes], "size", "manifest"}
        self._spool: tarfile.TarFile | None = None
        self._metadata: dict[str, bytes] = {}

    def _open_next(self) -> None:
        self._close_spool()
        number = len(self._shards) + 1
        spool = self.out_dir / f".shard-{number:04d}.frames.partial"
        try:
            self._spool = tarfile.open(spool, "w", format=tarfile.USTAR_FORMAT)
        except OSError as e:
            raise OutputError(f"{self.out_dir}: cannot write {spool.name}: {e.strerror}") from e
        self._shards.append(
            {
                "spool": spool,
                "path": self.out_dir / f".shard-{number:04d}.tar.partial",
                "rows": [],
                "size": 0,
                "manifest": 0,
                "spooled": set(),
            }
        )

    def _close_spool(self) -> None:
        spool, self._spool = self._spool, None
        if spool is not None:
            try:
                spool.close()  # writes the tar's end: a full disk shows here too
            except OSError as e:
                raise OutputError(f"{self.out_dir}: cannot write {self._shards[-1]['spool'].name}: {e.strerror}") from e

    def _fits(self, shard: dict[str, Any], frame_size: int, row_bytes: int) -> bool:
        total = (
            shard["size"]
            + _member_bytes(frame_size)
            + _member_bytes(row_bytes)
            + _member_bytes(shard["manifest"] + row_bytes)
            + _member_bytes(_BUNDLE_JSON_RESERVE)
            + _CLOSING
        )
        if len(self._shards) == 1:
            total += sum(_member_bytes(len(b)) for b in self._metadata.values())
        return bool(total <= self.shard_bytes)

    def add_frame(self, jpeg: bytes, row: dict[str, Any]) -> dict[str, Any]:
        """Spools the next frame; returns its manifest row (as far as known)."""
        number = len(self.rows) + 1
        rel = frame_relpath(number)
        full = {
            "frame_id": f"frame_{number:08d}",
            "frame_relpath": rel,
            **row,
            "content_hash": "sha256:" + hashlib.sha256(jpeg).hexdigest(),
        }
        row_bytes = len(names.dumps(full).encode("utf-8")) + _ROW_SLACK
        if not self._shards or (self._shards[-1]["rows"] and not self._fits(self._shards[-1], len(jpeg), row_bytes)):
            self._open_next()
        shard = self._shards[-1]
        assert self._spool is not None
        try:
            self._spool.addfile(_tarinfo(frame_key(rel) + ".jpg", len(jpeg), 0), io.BytesIO(jpeg))
        except OSError as e:
            raise OutputError(f"{self.out_dir}: cannot write {shard['spool'].name}: {e.strerror}") from e
        shard["size"] += _member_bytes(len(jpeg)) + _member_bytes(row_bytes)
        shard["manifest"] += row_bytes
        shard["rows"].append(len(self.rows))
        shard["spooled"].add(len(self.rows))
        self.rows.append(full)
        self.bytes_written += len(jpeg)
        return full

    def add_repeat(self, row: dict[str, Any], kept: dict[str, Any], jpeg: bytes) -> dict[str, Any]:
        """A row repeating the earlier row ``kept`` (whose bytes are ``jpeg``):
        no frame of its own; the kept frame is copied into this shard if it
        lies in an earlier one."""
        number = len(self.rows) + 1
        full = {
            "frame_id": f"frame_{number:08d}",
            "frame_relpath": kept["frame_relpath"],
            **row,
            "content_hash": kept["content_hash"],
        }
        row_bytes = len(names.dumps(full).encode("utf-8")) + _ROW_SLACK
        shard = self._shards[-1] if self._shards else None
        here = shard is not None and any(
            self.rows[r]["frame_relpath"] == kept["frame_relpath"] for r in shard["spooled"]
        )
        if shard is None or not (self._fits(shard, 0, row_bytes) if here else self._fits(shard, len(jpeg), row_bytes)):
            self._open_next()
            shard, here = self._shards[-1], False
        if not here:
            assert self._spool is not None
            try:
                self._spool.addfile(_tarinfo(frame_key(kept["frame_relpath"]) + ".jpg", len(jpeg), 0), io.BytesIO(jpeg))
            except OSError as e:
                raise OutputError(f"{self.out_dir}: cannot write {shard['spool'].name}: {e.strerror}") from e
            shard["size"] += _member_bytes(len(jpeg))
            shard["spooled"].add(len(self.rows))
            self.bytes_written += len(jpeg)
        shard["size"] += _member_bytes(row_bytes)
        shard["manifest"] += row_bytes
        shard["rows"].append(len(self.rows))
        self.rows.append(full)
        return full

    def write_text(self, relpath: str, text: str) -> None:
        self._metadata[relpath] = names.recorded(text).encode("utf-8")

    def write_json(self, relpath: str, obj: Any) -> None:
        self.write_text(relpath, names.dumps(obj, indent=2) + "\n")

    def commit(self, bundle: dict[str, Any], extra_row_fields: dict[str, Any]) -> None:
        """Lays out every shard, then renames them into place."""
        self._close_spool()
        count = len(self._shards)
        mtime = _epoch(bundle.get("created_at"))
        for i, shard in enumerate(self._shards, 1):
            rows = [{**self.rows[r], **extra_row_fields} for r in shard["rows"]]
            spooled = [r in shard["spooled"] for r in shard["rows"]]
            doc = {**bundle, "shard": {"index": i, "count": count, "frame_count": len(rows)}}
            head = {
                BUNDLE_JSON: (names.dumps(doc, indent=2) + "\n").encode("utf-8"),
                MANIFEST: "".join(names.dumps(r) + "\n" for r in rows).encode("utf-8"),
            }
            if i == 1:
                head.update(sorted(self._metadata.items()))
            try:
                with (
                    tarfile.open(shard["path"], "w", format=tarfile.USTAR_FORMAT) as tar,
                    tarfile.open(shard["spool"], "r:") as spool,
                ):
                    for name, data in head.items():
                        tar.addfile(_tarinfo(name, len(data), mtime), io.BytesIO(data))
                    members = iter(spool.getmembers())
                    for row, has_frame in zip(rows, spooled):
                        if has_frame:
                            member = next(members)
                            tar.addfile(
                                _tarinfo(frame_key(row["frame_relpath"]) + ".jpg", member.size, mtime),
                                spool.extractfile(member),
                            )
                        data = names.dumps(row).encode("utf-8")
                        tar.addfile(_tarinfo(_row_key(row["frame_id"]) + ".json", len(data), mtime), io.BytesIO(data))
            except OSError as e:
                raise OutputError(f"{self.out_dir}: cannot write {shard['path'].name}: {e.strerror}") from e
            shard["spool"].unlink()
        for i, shard in enumerate(self._shards, 1):
            os.rename(shard["path"], self.out_dir / f"shard-{i:04d}.tar")

    def abandon(self) -> None:
        """Removes this writer's unfinished shards (nothing else)."""
        try:
            self._close_spool()
        except OutputError:
            pass  # a full disk: its spool goes below all the same
        for shard in self._shards:
            shard["spool"].unlink(missing_ok=True)
            shard["path"].unlink(missing_ok=True)
        try:
            self.out_dir.rmdir()  # only if it is empty: it was made for these shards
        except OSError:
            pass


def _row_key(frame_id: str) -> str:
    """The shard key of a row's own ``.json``: ``frame_00000001`` -> ``00000001``
    (the same as its frame's key unless the row repeats an earlier frame)."""
    return frame_id.rpartition("_")[2]


def _add_row(
    writer: "ShardWriter | BundleWriter", row: ManifestRow, data: bytes, written: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Adds a row read back from a bundle or shards: a frame path an earlier
    row already named (duplicates dropped) is added as a repeat of it."""
    kept = written.get(row.frame_relpath)
    if kept is not None:
        return writer.add_repeat(_row_fields(row), kept, data)
    full = writer.add_frame(data, _row_fields(row))
    written[row.frame_relpath] = full
    return full


def _row_fields(row: ManifestRow) -> dict[str, Any]:
    """A manifest row without the fields a writer assigns (id, path, hash)."""
    return {k: v for k, v in row.to_json().items() if k not in ("frame_id", "frame_relpath", "content_hash")}


def _manifest_objects(bundle_dir: Path) -> list[dict[str, Any]]:
    """manifest.jsonl's rows as the JSON objects they are, keys in their order
    (load_manifest has read and checked the same lines)."""
    text = (bundle_dir / MANIFEST).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _keep_order(rows: list[dict[str, Any]], original: dict[str, Any]) -> None:
    """The row just written, replaced by the ``original`` it was made from when
    both name the same frame: pack and unpack give back manifest rows byte for
    byte, not re-ordered by the writer (source_content_hash stays last)."""
    if all(original.get(k) == rows[-1][k] for k in ("frame_id", "frame_relpath", "content_hash")):
        rows[-1] = original


def pack(
    bundle_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, shard_bytes: int = DEFAULT_SHARD_BYTES
) -> list[Path]:
    """Packs a bundle folder into tar shards in ``out_dir``; returns their paths."""
    bundle_dir = Path(bundle_dir)
    meta = load_bundle_metadata(bundle_dir)
    rows = load_manifest(bundle_dir)
    if len(rows) != meta.frame_count:
        raise BundleError(
            f"{bundle_dir}: manifest.jsonl holds {len(rows)} rows, bundle.json counts "
            f"{meta.frame_count}: not packed (rows were lost or added)"
        )
    writer = ShardWriter(Path(out_dir), shard_bytes=shard_bytes)
    try:
        for name in sorted(os.listdir(bundle_dir / "metadata")) if (bundle_dir / "metadata").is_dir() else []:
            writer.write_text(f"metadata/{name}", (bundle_dir / "metadata" / name).read_text(encoding="utf-8"))
        seen: dict[str, dict[str, Any]] = {}
        for row, obj in zip(rows, _manifest_objects(bundle_dir)):
            data = read_frame(bundle_dir, row)
            written = _add_row(writer, row, data, seen)
            if written["content_hash"] != row.content_hash:
                raise BundleError(f"{bundle_dir / row.frame_relpath}: content does not match its manifest hash")
            _keep_order(writer.rows, obj)
        writer.commit(meta.raw, {})
    except BaseException:
        writer.abandon()
        raise
    return sorted(Path(out_dir).glob("shard-*.tar"))


def _safe_members(tar: tarfile.TarFile, path: Path) -> Iterator[tarfile.TarInfo]:
    try:
        members = tar.getmembers()
    except (tarfile.TarError, OSError) as e:
        raise BundleError(f"{path}: not a readable shard ({e})") from e
    for m in members:
        if not m.isreg() or not _SAFE_NAME.match(m.name) or ".." in m.name.split("/"):
            raise BundleError(
                f"{path}: unsafe tar member {m.name!r} ({'not a regular file' if not m.isreg() else 'name'})"
            )
        yield m


def read_shards(shard_dir: str | os.PathLike[str]) -> Iterator[tuple[ManifestRow, bytes]]:
    """Yields (manifest row, JPEG bytes) for every frame of a shard folder, in
    time order, checking names, hashes and that each row has its frame."""
    for _, row, data in _read_shard_rows(shard_dir):
        yield row, data


def _read_shard_rows(shard_dir: str | os.PathLike[str]) -> Iterator[tuple[dict[str, Any], ManifestRow, bytes]]:
    """read_shards, with each row also as the JSON object the shard holds
    (its keys in their order: unpack writes the rows back byte for byte)."""
    paths = _shard_paths(Path(shard_dir))
    seen: dict[int, Path] = {}
    for path in paths:
        with _open_shard(path) as tar:
            members = {m.name: m for m in _safe_members(tar, path)}
            if MANIFEST not in members or BUNDLE_JSON not in members:
                raise BundleError(f"{path}: lacks {MANIFEST} or {BUNDLE_JSON}")
            _check_place(path, json.loads(_read(tar, members[BUNDLE_JSON])), len(paths), seen)
            for line in _read(tar, members[MANIFEST]).decode("utf-8").splitlines():
                obj = json.loads(line)
                row = ManifestRow.from_json(obj)
                key = frame_key(row.frame_relpath)
                # Shards before the per-frame layout kept frames under frames/.
                name = key + ".jpg" if key + ".jpg" in members else row.frame_relpath
                if name not in members:
                    raise BundleError(f"{path}: {row.frame_relpath} is in the manifest but not in the shard")
                data = _read(tar, members[name])
                if "sha256:" + hashlib.sha256(data).hexdigest() != row.content_hash:
                    raise BundleError(f"{path}: {name} does not match its hash")
                own = _row_key(row.frame_id) + ".json"
                own = own if own in members else key + ".json"
                if own in members and json.loads(_read(tar, members[own])) != obj:
                    raise BundleError(f"{path}: {own} differs from its manifest row")
                yield obj, row, data


def _shard_paths(shard_dir: Path) -> list[Path]:
    if not shard_dir.is_dir():
        raise BundleError(f"{shard_dir}: not a folder of shards")
    paths = sorted(p for p in shard_dir.iterdir() if _SHARD_NAME.match(p.name))
    if not paths:
        raise BundleError(f"{shard_dir}: no shard-*.tar files")
    return paths


def _open_shard(path: Path) -> tarfile.TarFile:
    """A shard opened for reading; BundleError naming it if it is not a
    whole tar (a truncated upload, another file under its name)."""
    try:
        return tarfile.open(path, "r:")
    except (tarfile.TarError, OSError) as e:
        raise BundleError(f"{path}: not a readable shard ({e})") from e


def _check_place(path: Path, doc: Any, found: int, seen: dict[int, Path]) -> None:
    """Each shard names its place (index of count): a copy of one shard, or a
    folder missing one, would make a bundle that only looks whole."""
    place = doc.get("shard") if isinstance(doc, dict) else None
    if not isinstance(place, dict):
        return  # a bundle packed before shards named their place
    index, count = place.get("index"), place.get("count")
    if not isinstance(index, int):
        raise BundleError(f"{path}: bundle.json names no shard index")
    if index in seen:
        raise BundleError(f"{path}: is shard {index} again (as {seen[index].name} is): a copied shard")
    if count != found:
        raise BundleError(f"{path}: shard {index} of {count}, but the folder holds {found} shard files")
    seen[index] = path


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    try:
        f: IO[bytes] | None = tar.extractfile(member)
        assert f is not None  # regular files only (_safe_members)
        return f.read()
    except (tarfile.TarError, OSError) as e:
        raise BundleError(f"{tar.name!s}: {member.name} cannot be read ({e})") from e


def unpack(shard_dir: str | os.PathLike[str], bundle_dir: str | os.PathLike[str]) -> Path:
    """Rebuilds a bundle folder from its shards (written aside, then renamed)."""
    from .bundle import BundleWriter

    shard_dir, bundle_dir = Path(shard_dir), Path(bundle_dir)
    first = _shard_paths(shard_dir)
    with _open_shard(first[0]) as tar:
        members = {m.name: m for m in _safe_members(tar, first[0])}
        if BUNDLE_JSON not in members:
            raise BundleError(f"{first[0]}: lacks {BUNDLE_JSON}")
        bundle = json.loads(_read(tar, members[BUNDLE_JSON]))
        metadata = {n: _read(tar, m).decode("utf-8") for n, m in members.items() if n.startswith("metadata/")}
    bundle.pop("shard", None)
    writer = BundleWriter(bundle_dir)
    try:
        for name, text in metadata.items():
            writer.write_text(name, text)
        seen: dict[str, dict[str, Any]] = {}
        for obj, row, data in _read_shard_rows(shard_dir):
            _add_row(writer, row, data, seen)
            _keep_order(writer.rows, obj)
        if isinstance(bundle.get("frame_count"), int) and len(writer.rows) != bundle["frame_count"]:
            raise BundleError(
                f"{shard_dir}: the shards hold {len(writer.rows)} frames, bundle.json counts "
                f"{bundle['frame_count']}: a shard is missing or extra"
            )
        writer.commit(bundle, {})
    except BaseException:
        writer.abandon()
        raise
    return bundle_dir
