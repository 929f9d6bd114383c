"""The source's metadata files: summary, full probe, Spotlight attributes and
extended attributes. None of them may make a bundle fail: a platform tool that
is missing is said so in the file itself."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HASH_CHUNK = 1 << 20


class SourceHasher(threading.Thread):
    """sha256 of the source file, and its Spotlight and extended attributes,
    read beside the extraction.

    hashlib releases the GIL on large buffers and the native core holds no GIL
    while decoding, so the hash costs no wall time on a machine with a spare
    core, and little I/O, since the decoder reads the same pages. The
    attributes come first: on macOS ``mdls`` is a process of its own (tens of
    milliseconds) that would otherwise run after the last frame.
    """

    def __init__(self, path: Path):
        super().__init__(name="lifelog-source-hash", daemon=True)
        self.path = path
        self.digest: str | None = None
        self.error: str | None = None
        self.mdls: tuple[str, bool] | None = None  # mdls_text(path), once read
        self.xattrs: str | None = None  # xattrs_text(path), once read
        self._cancelled = threading.Event()

    def run(self) -> None:
        self.mdls = mdls_text(self.path)
        self.xattrs = xattrs_text(self.path)
        h = hashlib.sha256()
        try:
            with open(self.path, "rb") as f:
                while not self._cancelled.is_set():
                    block = f.read(HASH_CHUNK)
                    if not block:
                        self.digest = "sha256:" + h.hexdigest()
                        return
                    h.update(block)
        except OSError as e:
            self.error = str(e)

    def start(self) -> None:
        if self.ident is None:  # not started early already (hash_early)
            super().start()

    def cancel(self) -> None:
        self._cancelled.set()


def file_sha256(path: Path) -> str:
    """ "sha256:<hex>" of a file's bytes, as bundle.json records its source's."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_CHUNK):
            h.update(block)
    return "sha256:" + h.hexdigest()


# Hashers started ahead of the extraction that will use them, by path.
_early: dict[str, SourceHasher] = {}


def hash_early(path: str) -> None:
    """Starts hashing the local file at ``path`` now, for the extraction of it
    that follows in this process (:func:`hasher_for` hands it over). The
    command line calls it before importing the extraction's modules, so the
    hash runs on the core that Python's imports leave idle."""
    if "://" not in path and os.path.isfile(path):
        hasher = SourceHasher(Path(path))
        hasher.start()
        _early[os.path.abspath(path)] = hasher


def hasher_for(path: Path) -> SourceHasher:
    """The hasher :func:`hash_early` started for ``path`` (started), else a
    new one (not started: ``start()`` is safe to call on either)."""
    return _early.pop(os.path.abspath(path), None) or SourceHasher(path)


def cancel_early() -> None:
    """Stops the early hashers no extraction took (it failed before): a
    long-lived process (a batch child) must not go on reading the file."""
    while _early:
        _early.popitem()[1].cancel()


def source_metadata(path: Path, probe: dict[str, Any]) -> dict[str, Any]:
    """source-metadata.json: SPEC.md's summary of the source video."""
    st = path.stat()
    summary = dict(probe.get("summary", {}))
    return {
        "file_name": path.name,
        "file_size_bytes": st.st_size,
        "file_modified_at": datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat().replace("+00:00", "Z"),
        **summary,
    }


def probe_document(probe: dict[str, Any], backend: str) -> dict[str, Any]:
    """source-probe.json: container, streams and chapters as the library read
    them; with FFmpeg in ffprobe's names and types (README "source-probe.json")."""
    return {
        "probe_kind": "libavformat" if backend == "ffmpeg" else backend,
        "format": probe.get("format", {}),
        "streams": probe.get("streams", []),
        "chapters": probe.get("chapters", []),
    }


def mdls_text(path: Path) -> tuple[str, bool]:
    """Spotlight attributes on macOS; elsewhere one line saying why there are none."""
    tool = shutil.which("mdls")
    if sys.platform != "darwin" or not tool:
        return (
            f"mdls is not available on this system ({sys.platform}): Spotlight attributes exist only on macOS.\n",
            False,
        )
    try:
        out = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return f"mdls failed: {e}\n", False
    if out.returncode != 0:
        return f"mdls failed (exit {out.returncode}): {out.stderr.strip()}\n", False
    # mdls names the file with its absolute path in kMDItemPath: keep only the name.
    return out.stdout.replace(str(path.resolve()), path.name), True


def xattrs_text(path: Path) -> str:
    """Extended attributes, one ``name: value`` per line (hex for binary values)."""
    if not hasattr(os, "listxattr"):
        tool = shutil.which("xattr")
        if not tool:
            return f"extended attributes cannot be listed on this system ({sys.platform}).\n"
        try:
            out = subprocess.run([tool, "-l", str(path)], capture_output=True, text=True, timeout=30)
            return out.stdout if out.stdout else "no extended attributes\n"
        except (OSError, subprocess.SubprocessError) as e:
            return f"xattr failed: {e}\n"
    try:
        names = os.listxattr(path)
    except OSError as e:
        return f"extended attributes could not be read: {e.strerror}\n"
    if not names:
        return "no extended attributes\n"
    lines = []
    for name in sorted(names):
        try:
            value = os.getxattr(path, name)
        except OSError as e:
            lines.append(f"{name}: <unreadable: {e.strerror}>")
            continue
        try:
            text = value.decode("utf-8")
            shown = text if text.isprintable() else "hex:" + value.hex()
        except UnicodeDecodeError:
            shown = "hex:" + value.hex()
        lines.append(f"{name}: {shown}")
    return "\n".join(lines) + "\n"
