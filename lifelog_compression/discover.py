"""Finding the videos in a camera folder, and what belongs together.

- Videos are found by extension, case-insensitively; hidden files and folders
  (including macOS AppleDouble ``._NAME`` files) are skipped; folder symlinks
  are not followed, so a link loop cannot trap the walk.
- A low-resolution proxy (GoPro ``.LRV``, DJI ``.LRF``) beside its original is
  not an input of its own; it is recorded with the original.
- GoPro chapters of one recording (``GX010119``, ``GX020119``, ...) are linked.
- Each input maps to ``OUTPUT_ROOT/<same folders>/<stem>/``. Where two inputs
  would map to the same folder (``a.mp4`` and ``a.mov``, compared without
  case), each of them uses its whole file name instead (``a.mp4/``, ``a.mov/``);
  so does an input whose stem is also a folder of inputs (``x.mp4`` beside
  ``x/y.mp4``: ``x.mp4/`` and ``x/y/``), which would nest one bundle in another.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

VIDEO_EXTENSIONS = {
    ".mp4",
    ".mov",
    ".m4v",
    ".avi",
    ".mkv",
    ".webm",
    ".mts",
    ".m2ts",
    ".ts",
    ".mpg",
    ".mpeg",
    ".3gp",
    ".wmv",
    ".flv",
    ".mxf",
    ".dv",
    ".360",
    ".insv",
    ".lrv",
    ".lrf",
}
PROXY_EXTENSIONS = {".lrv", ".lrf"}

# GoPro HERO6+: GH/GX (+ GL for the proxy) + 2-digit chapter + 4-digit recording.
_GOPRO_NEW = re.compile(r"^G([HXL])(\d{2})(\d{4})$", re.IGNORECASE)
# HERO2-5: GOPRxxxx is chapter 1, GPzzxxxx the following chapters.
_GOPRO_OLD_FIRST = re.compile(r"^GOPR(\d{4})$", re.IGNORECASE)
_GOPRO_OLD_NEXT = re.compile(r"^GP(\d{2})(\d{4})$", re.IGNORECASE)


@dataclass
class Recording:
    """Where a file sits in a chaptered recording."""

    recording_id: str
    chapter: int
    chapters: list[str] = field(default_factory=list)  # relpaths of all chapters, in order

    def to_json(self) -> dict[str, Any]:
        return {
            "camera": "gopro",
            "recording_id": self.recording_id,
            "chapter": self.chapter,
            "chapters": self.chapters,
        }


@dataclass
class BatchInput:
    """One video to extract, and where its bundle goes."""

    path: Path
    relpath: str  # POSIX-style, relative to the input root
    bundle_relpath: str  # relative to the output root
    proxy_relpath: str | None = None
    recording: Recording | None = None

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:  # gone (a broken link): its extraction says so
            return 0


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            # A link whose video is gone is reported as missing, not passed over.
            broken_link = path.is_symlink() and not path.exists()
            if path.suffix.lower() in VIDEO_EXTENSIONS and (path.is_file() or broken_link):
                yield path


def _proxy_key(path: Path) -> tuple[str, str]:
    """(folder, the original's stem as it would be written) for a proxy file."""
    stem = path.stem
    m = _GOPRO_NEW.match(stem)
    if m and m.group(1).upper() == "L":
        stem = f"G?{m.group(2)}{m.group(3)}"  # GL010128 belongs to GH010128 or GX010128
    return str(path.parent), stem.upper()


def _original_keys(path: Path) -> list[tuple[str, str]]:
    stem = path.stem.upper()
    keys = [(str(path.parent), stem)]
    m = _GOPRO_NEW.match(stem)
    if m:
        keys.append((str(path.parent), f"G?{m.group(2)}{m.group(3)}"))
    return keys


def _recording_key(path: Path) -> tuple[str, str, int] | None:
    """(folder + family, recording id, chapter) for GoPro names."""
    stem = path.stem
    m = _GOPRO_NEW.match(stem)
    if m and m.group(1).upper() != "L":
        return f"{path.parent}|G{m.group(1).upper()}", m.group(3), int(m.group(2))
    m = _GOPRO_OLD_FIRST.match(stem)
    if m:
        return f"{path.parent}|GOPR", m.group(1), 1
    m = _GOPRO_OLD_NEXT.match(stem)
    if m:
        return f"{path.parent}|GOPR", m.group(2), int(m.group(1)) + 1
    return None


def discover(input_root: Path) -> list[BatchInput]:
    """The inputs below ``input_root``, in a stable order, with proxies and
    chapters resolved and collision-free bundle folders."""
    input_root = Path(input_root)
    files = list(_walk(input_root))
    rel = {p: PurePosixPath(p.relative_to(input_root).as_posix()) for p in files}

    originals = [p for p in files if p.suffix.lower() not in PROXY_EXTENSIONS]
    original_keys: dict[tuple[str, str], Path] = {}
    for p in originals:
        for key in _original_keys(p):
            original_keys.setdefault(key, p)
    proxy_of: dict[Path, Path] = {}
    inputs_paths = list(originals)
    for p in files:
        if p.suffix.lower() not in PROXY_EXTENSIONS:
            continue
        original = original_keys.get(_proxy_key(p))
        if original is not None and original not in proxy_of:
            proxy_of[original] = p
        else:
            inputs_paths.append(p)  # a proxy without its original is all there is
    inputs_paths.sort(key=lambda p: str(rel[p]))

    # Bundle folders: the stem, or the whole name where stems collide.
    def folder(p: Path, whole: bool) -> str:
        r = rel[p]
        return str(r.parent / (r.name if whole else r.stem)) if str(r.parent) != "." else (r.name if whole else r.stem)

    by_folder: dict[str, list[Path]] = {}
    for p in inputs_paths:
        by_folder.setdefault(folder(p, False).lower(), []).append(p)
    # A stem that is also a folder of inputs (x.mp4 beside x/y.mp4) would put
    # one bundle inside another: it takes the whole name too.
    input_folders = {str(a).lower() for p in inputs_paths for a in rel[p].parents if str(a) != "."}

    chapters: dict[tuple[str, str], list[tuple[int, Path]]] = {}
    for p in inputs_paths:
        rec = _recording_key(p)
        if rec:
            chapters.setdefault((rec[0], rec[1]), []).append((rec[2], p))

    result = []
    for p in inputs_paths:
        whole = len(by_folder[folder(p, False).lower()]) > 1 or folder(p, False).lower() in input_folders
        item = BatchInput(path=p, relpath=str(rel[p]), bundle_relpath=folder(p, whole))
        if p in proxy_of:
            item.proxy_relpath = str(rel[proxy_of[p]])
        rec = _recording_key(p)
        if rec:
            siblings = sorted(chapters[(rec[0], rec[1])])
            if len(siblings) > 1 or rec[2] > 1:
                item.recording = Recording(
                    recording_id=rec[1], chapter=rec[2], chapters=[str(rel[s]) for _, s in siblings]
                )
        result.append(item)
    return result
