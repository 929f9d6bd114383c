"""Sources and bundles beyond the local disk: http(s) URLs and object storage.

Where bytes are read: the native core reads http(s) URLs itself through
bounded range requests (csrc/ffio.c), so a 1 fps extraction fetches about the
keyframes it needs, not the file. ``s3://`` and ``gs://`` sources are handed
to it as presigned https URLs made by fsspec (s3fs/botocore for S3: the
endpoint from ``AWS_ENDPOINT_URL``, the credentials from the standard chain;
gcsfs for Google Cloud Storage), so no Python code runs on the read path.

Where bundles are written: an ``s3://``/``gs://`` output is extracted into a
local temporary folder, uploaded under a hidden sibling prefix
(``.NAME.partial-XXXX/``) and then published by server-side copies into the
final prefix, frames and metadata first, ``manifest.jsonl`` next and
``bundle.json`` last. A reader must therefore treat a prefix as a bundle only
once ``bundle.json`` exists there (docs/distributed.md lists what to check).

Anything else with a ``scheme://`` is a usage error raised before anything is
created; local paths go on as before (pipes are refused: frames are found by
seeking).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from . import _core
from .bundle import written_by_a_bundle
from .errors import (
    ExtractError,
    MissingDependencyError,
    OutputError,
    SourceNotFoundError,
    SourceReadError,
    UnsupportedLocationError,
    UsageError,
)
from .metadata import file_sha256
from .telemetry import TelemetryReader
from .workdir import signals_deferred

# Schemes whose objects can be read (presigned for the core) and written.
OBJECT_STORES = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs"}
URL_SCHEMES = {"http", "https"}
BUNDLE_JSON = "bundle.json"
MANIFEST = "manifest.jsonl"
FIRST_SHARD = "shard-0001.tar"  # published last: a reader starts there (shards.py)
PRESIGN_SECONDS = 6 * 3600  # a long extraction keeps reading its source

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")


@dataclass(frozen=True)
class Location:
    """A source or output as the user wrote it: a local path or a URL."""

    text: str
    scheme: str  # "" for a local path

    @property
    def is_local(self) -> bool:
        return self.scheme == ""

    @property
    def is_object_store(self) -> bool:
        return self.scheme in OBJECT_STORES

    @property
    def shown(self) -> str:
        """The location as messages and bundles name it: a URL without its
        query, fragment and password (a presigned URL's query is a signature,
        valid for hours in a log or a bundle)."""
        if self.is_local:
            return self.text
        scheme, rest = self.text.split("://", 1)
        rest = rest.split("#", 1)[0].split("?", 1)[0]
        host, slash, path = rest.partition("/")
        if "@" in host:
            user = host.rsplit("@", 1)[0].split(":", 1)[0]
            host = f"{user}@{host.rsplit('@', 1)[1]}"
        return f"{scheme}://{host}{slash}{path}"

    @property
    def name(self) -> str:
        """The last path component (the file name of a source)."""
        if self.is_local:
            return Path(self.text).name
        return PurePosixPath(self.text.split("://", 1)[1].split("?", 1)[0].rstrip("/")).name

    def child(self, relpath: str) -> "Location":
        if self.is_local:
            return Location(str(Path(self.text) / relpath), "")
        return Location(self.text.rstrip("/") + "/" + relpath, self.scheme)

    def __str__(self) -> str:
        return self.text


def location(value: str | os.PathLike[str] | Location, *, output: bool = False) -> Location:
    """Classifies ``value``; raises UnsupportedLocationError for a scheme this
    package cannot read (or, with ``output``, write)."""
    if isinstance(value, Location):
        loc = value
    else:
        text = os.fspath(value)
        m = _SCHEME.match(text) if isinstance(text, str) else None
        if m is None:
            return Location(text, "")
        scheme = m.group(1).lower()
        if scheme == "file":
            return Location(text[len("file://") :], "")
        loc = Location(text, scheme)
    if loc.is_local:
        return loc
    usable = set(OBJECT_STORES) | (set() if output else URL_SCHEMES)
    if loc.scheme not in usable:
        what = "write bundles to" if output else "read videos from"
        raise UnsupportedLocationError(
            f"{loc.shown}: cannot {what} '{loc.scheme}://' (supported: local paths, "
            f"{', '.join(f'{s}://' for s in sorted(usable))})",
            path=loc.shown,
        )
    return loc


def require_local(*values: str | os.PathLike[str], hint: str) -> None:
    """For commands that take local paths only: a URL is a usage error."""
    for value in values:
        text = os.fspath(value)
        m = _SCHEME.match(text)
        if m and m.group(1).lower() != "file":
            raise UnsupportedLocationError(f"{text}: only a local path is possible here ({hint})", path=text)


def check_local_source(loc: Location) -> None:
    """Pipes and terminals: refused before the core sees them (it needs to seek)."""
    try:
        mode = os.stat(loc.text).st_mode
    except OSError:
        return  # the core names what is missing
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode):
        raise UnsupportedLocationError(
            f"{loc.shown}: is a pipe or a device, not a file: pipes are not supported (frames are found "
            "by seeking); save the stream to a file first",
            path=loc.shown,
        )


def filesystem(loc: Location) -> Any:
    """The fsspec filesystem of an object-store location."""
    try:
        import fsspec  # type: ignore[import-untyped, import-not-found, unused-ignore]

        return fsspec.filesystem(loc.scheme)
    except ImportError as e:
        package = OBJECT_STORES.get(loc.scheme, "fsspec")
        raise MissingDependencyError(
            f"{loc.shown}: '{loc.scheme}://' needs the {package} package: pip install "
            f"'lifelog-compression[remote]' ({e})",
            path=loc.shown,
        ) from e


def _key(loc: Location) -> str:
    return loc.text.split("://", 1)[1]


def reader_url(loc: Location) -> str:
    """What the core opens: the path, the URL, or a presigned URL."""
    if loc.is_local:
        check_local_source(loc)
        return loc.text
    if loc.scheme in URL_SCHEMES:
        return loc.text
    _check_object_key(loc)
    fs = filesystem(loc)
    try:
        if not fs.exists(_key(loc)):
            raise SourceNotFoundError(f"{loc.shown}: no such object", "no such object", loc.shown)
        return str(fs.sign(_key(loc), expiration=PRESIGN_SECONDS))
    except NotImplementedError as e:
        raise UnsupportedLocationError(
            f"{loc.shown}: this storage gives no signed URL to read it with", path=loc.shown
        ) from e
    except (OSError, ValueError) as e:
        if isinstance(e, ExtractError):
            raise
        raise SourceNotFoundError(f"{loc.shown}: cannot reach the object: {_one_line(e)}", str(e), loc.shown) from e
    except Exception as e:  # the storage library's own: no credentials, no endpoint
        raise SourceReadError(f"{loc.shown}: cannot reach the object: {_one_line(e)}", str(e), loc.shown) from e


# S3's rule for bucket names (3-63 of lower-case letters, digits, dots, hyphens).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _check_object_key(loc: Location, *, output: bool = False) -> None:
    """A bucket and, for a source, an object in it: caught before any
    request (botocore answers with a validation error of a screenful)."""
    bucket, _, key = _key(loc).partition("/")
    if not bucket or (loc.scheme == "s3" and not _BUCKET.fullmatch(bucket)):
        raise UsageError(f"{loc.shown}: '{bucket}' is not a bucket name", path=loc.shown)
    if not key.strip("/"):
        what = "a prefix inside the bucket for the bundle" if output else "the object's key after the bucket"
        raise UsageError(f"{loc.shown}: needs {what} ({loc.scheme}://BUCKET/KEY)", path=loc.shown)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def open_source(value: str | os.PathLike[str] | Location) -> Any:
    """A native ``_core.Source`` (a context manager) on a local path or URL.
    Errors name the location as given, never a presigned URL (it holds a
    signature that would be valid for hours in a log)."""
    loc = location(value)
    url = reader_url(loc)
    try:
        src = _core.Source(url)
    except ExtractError as e:
        raise _renamed(e, loc, url) from None
    return src if url == loc.shown else _SignedSource(src, loc, url)


def _renamed(e: ExtractError, loc: Location, url: str) -> ExtractError:
    if url == loc.shown:
        return e
    return type(e)(f"{loc.shown}: {e.reason}", e.reason, loc.shown)


class _SignedSource:
    """A Source opened on a presigned URL, whose errors name the object instead."""

    def __init__(self, src: _core.Source, loc: Location, url: str):
        self._src, self._loc, self._url = src, loc, url

    def __getattr__(self, name: str) -> Any:
        return getattr(self._src, name)

    def extract(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._src.extract(*args, **kwargs)
        except ExtractError as e:
            raise _renamed(e, self._loc, self._url) from None

    def probe_json(self) -> str:
        try:
            return self._src.probe_json()
        except ExtractError as e:
            raise _renamed(e, self._loc, self._url) from None

    def __enter__(self) -> "_SignedSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self._src.close()


def _iso(dt: Any) -> str | None:
    if dt is None:
        return None
    if isinstance(dt, (int, float)):
        dt = datetime.fromtimestamp(dt, timezone.utc)
    if isinstance(dt, str):
        return dt
    return str(dt.astimezone(timezone.utc).isoformat()).replace("+00:00", "Z")


def identity(loc: Location) -> dict[str, Any]:
    """What makes a source the same source on a rerun: size and mtime for a
    file; size and ETag (or Last-Modified) for an object or URL."""
    if loc.is_local:
        st = os.stat(loc.text)
        return {"size": st.st_size, "modified_at": _iso(st.st_mtime)}
    if loc.scheme in URL_SCHEMES:
        return _http_identity(loc)
    info = filesystem(loc).info(_key(loc))
    etag = info.get("ETag") or info.get("etag") or info.get("md5Hash")
    modified = info.get("LastModified") or info.get("updated") or info.get("mtime")
    return {
        "size": info.get("size"),
        "etag": etag.strip('"') if isinstance(etag, str) else etag,
        "modified_at": _iso(modified),
    }


def complete_for(bundle: Location, source: Location) -> bool:
    """A finished bundle of this very source: same size, and same modification
    time (a file) or ETag (an object, a URL that gives one). Local `batch` and
    Ray's `extract_many` both skip by it."""
    try:
        if bundle.is_local:
            doc = json.loads((Path(bundle.text) / BUNDLE_JSON).read_text(encoding="utf-8"))
        else:
            doc = remote_bundle_json(bundle)
        if not doc or doc.get("format") != "visual-bundle":
            return False
        video = doc.get("source_video", {})
        ident = identity(source)
    except (OSError, ValueError, AttributeError, ExtractError):
        return False
    if video.get("file_size_bytes") != ident.get("size"):
        return False
    if ident.get("etag"):
        return bool(video.get("etag") == ident["etag"])
    if video.get("file_modified_at") == ident.get("modified_at"):
        return True
    # A card copied again: new modification times, the same bytes, which
    # bundle.json records the hash of. Read only when the times differ.
    recorded = video.get("content_hash")
    if not source.is_local or not isinstance(recorded, str):
        return False
    try:
        return file_sha256(Path(source.text)) == recorded
    except OSError:
        return False


def _http_identity(loc: Location) -> dict[str, Any]:
    """Size, ETag and Last-Modified of a URL: a HEAD, or where HEAD is refused
    (a presigned GET URL refuses it) a one-byte ranged GET. Never raises:
    the metadata of a source must not cost the user the bundle."""
    import urllib.error
    import urllib.request

    for method, headers in (("HEAD", {}), ("GET", {"Range": "bytes=0-0"})):
        try:
            req = urllib.request.Request(loc.text, method=method, headers=headers)
            with urllib.request.urlopen(req, timeout=30) as r:
                total = r.headers.get("Content-Range", "").rpartition("/")[2]
                size = total if total.isdigit() else r.headers.get("Content-Length")
                etag = r.headers.get("ETag")
                return {
                    "size": int(size) if size and size.isdigit() else None,
                    "etag": etag.strip('"') if etag else None,
                    "modified_at": r.headers.get("Last-Modified"),
                }
        except (OSError, ValueError, urllib.error.URLError):
            continue
    return {"size": None, "etag": None, "modified_at": None}


class NoHash:
    """Stands in for metadata.SourceHasher where hashing would read the whole
    object and undo the sparse reads: the source is identified by its ETag."""

    digest = None
    mdls = None  # api.py writes the remote stand-ins instead
    xattrs = None

    def __init__(self, loc: Location):
        self.error = (
            f"the source is read in byte ranges from {loc.scheme}:// and not hashed whole; "
            "source_video.etag identifies it"
        )

    def start(self) -> None:
        pass

    def join(self) -> None:
        pass

    def cancel(self) -> None:
        pass


class NoTelemetry(TelemetryReader):
    """Telemetry (GPMF, DJI, QuickTime tracks) is read from local files only:
    over the network it would cost a read of every sample. Rows get null
    ``captured_at``/``location`` and bundle.json says why."""

    def read(self, path: Any, **kwargs: Any) -> Any:
        raise NotALocalFile("telemetry is read from local files only")


def start_telemetry(loc: Location, info: _core.SourceInfo, summary: dict[str, Any] | None) -> TelemetryReader:
    """The time-and-place reader for a source (``info``: its core Source's
    ``info``), started: it reads beside the frames. Local files only; others
    get NoTelemetry's null fields and note."""
    reader = TelemetryReader if loc.is_local else NoTelemetry
    telemetry = reader(
        loc.text, video_start_ms=info["start_offset_us"] / 1000, duration_ms=info["duration_ms"], summary=summary
    )
    telemetry.start()
    return telemetry


class NotALocalFile(Exception):
    """Why NoTelemetry has nothing (it appears in bundle.json's notes)."""


def remote_source_files(loc: Location, probe: dict[str, Any], ident: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """source-metadata.json, source-mdls.txt and source-xattrs.txt for a
    source that is not a local file (the summary from its probe and identity)."""
    summary = {
        "file_name": loc.name,
        "file_size_bytes": ident.get("size"),
        "file_modified_at": ident.get("modified_at"),
        "source_url": loc.shown,
        "etag": ident.get("etag"),
        **probe.get("summary", {}),
    }
    note = f"the source is not a local file ({loc.scheme}://): it has no Spotlight attributes.\n"
    return summary, note, note.replace("Spotlight attributes", "extended attributes")


# ---- outputs on object storage ---------------------------------------------------------------


def remote_bundle_json(loc: Location) -> dict[str, Any] | None:
    """bundle.json of a published bundle at ``loc``, or None."""
    fs = filesystem(loc)
    path = _key(loc).rstrip("/") + "/" + BUNDLE_JSON
    try:
        with fs.open(path, "rb") as f:
            doc = json.loads(f.read())
            return doc if isinstance(doc, dict) else None
    except FileNotFoundError:
        return None
    except ValueError:
        return None


def check_remote_output(loc: Location, overwrite: bool) -> None:
    """The same rule as for folders: an existing bundle is replaced only on
    request, anything else at that prefix never. Checked before any work."""
    _check_object_key(loc, output=True)
    fs = filesystem(loc)
    prefix = _key(loc).rstrip("/")
    try:
        existing = fs.find(prefix + "/", maxdepth=None)
    except FileNotFoundError:
        existing = []
    except Exception as e:  # no credentials, no endpoint, no such bucket
        raise OutputError(f"{loc.shown}: cannot reach the storage: {_one_line(e)}", path=loc.shown) from e
    if not existing:
        return
    names = {k.rsplit("/", 1)[-1] for k in existing if k.count("/") == prefix.count("/") + 1}
    if BUNDLE_JSON not in names and FIRST_SHARD not in names:
        raise OutputError(
            f"{loc.shown}: holds objects that are not a Visual Bundle; refusing to write there", path=loc.shown
        )
    if not overwrite:
        raise OutputError(f"{loc.shown}: a bundle exists there (use --overwrite to replace it)", path=loc.shown)
    foreign = sorted(k[len(prefix) + 1 :] for k in existing if not written_by_a_bundle(k[len(prefix) + 1 :]))
    if foreign:
        raise OutputError(
            f"{loc.shown}: holds objects that are not part of its bundle ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}); replacing it would lose them: move them out "
            "first",
            path=loc.shown,
        )


def publish(local_dir: Path, loc: Location, *, overwrite: bool = False) -> None:
    """Uploads a finished bundle folder to ``loc`` so that it becomes visible
    only when complete: upload under a hidden sibling prefix, copy into place
    with bundle.json last, remove the temporary prefix."""
    fs = filesystem(loc)
    final = _key(loc).rstrip("/")
    parent, _, name = final.rpartition("/")
    temp = f"{parent}/.{name}.partial-{secrets.token_hex(4)}" if parent else f".{name}.partial-{secrets.token_hex(4)}"
    files = sorted(p.relative_to(local_dir).as_posix() for p in Path(local_dir).rglob("*") if p.is_file())
    last = [f for f in (MANIFEST, BUNDLE_JSON, FIRST_SHARD) if f in files]
    first = [f for f in files if f not in last]
    deferred = None
    try:
        fs.put([str(Path(local_dir) / f) for f in files], [f"{temp}/{f}" for f in files])
        check_remote_output(loc, overwrite)  # the prefix may have been filled meanwhile
        # A Ctrl-C while objects are copied into place would leave part of a
        # bundle there without bundle.json (and, on overwrite, none of the
        # old one): finish first, as the local move into place does.
        with signals_deferred() as deferred:
            old = [k for k in _find(fs, final + "/")]
            if old:  # replacing (overwrite): the old bundle disappears first, as one object
                entry = [k for k in old if k in (f"{final}/{BUNDLE_JSON}", f"{final}/{FIRST_SHARD}")]
                rest = [k for k in old if k not in entry]
                for keys in (entry, rest):
                    if keys:  # s3fs refuses an empty list, after the entry was gone (the old data lost)
                        fs.rm(keys)
            fs.copy([f"{temp}/{f}" for f in first], [f"{final}/{f}" for f in first])
            for f in last:
                fs.copy(f"{temp}/{f}", f"{final}/{f}")
    except ExtractError:
        raise
    except Exception as e:
        raise OutputError(f"{loc.shown}: cannot publish the bundle: {e}", path=loc.shown) from e
    finally:
        try:
            fs.rm(temp, recursive=True)
        except Exception:  # leftovers are hidden; a reader ignores .*.partial-* prefixes
            pass
    if deferred is not None:
        deferred.deliver(loc.text)  # InterruptedAfterCommit: the bundle is whole and in place


def _find(fs: Any, prefix: str) -> list[str]:
    try:
        return list(fs.find(prefix))
    except FileNotFoundError:
        return []
