"""``info``: what a bundle holds, in a few lines or one JSON object.

Read from bundle.json and manifest.jsonl only (no frame is decoded, nothing
optional is imported): the source, the span and frame count, the capture
clock (UTC and local start, the zone, where the time came from), the place
(the GPS track's bounding box and distance), the bundle's notes, its size on
disk, the format version and the producer. A batch's output root gets one
line per bundle, in capture order.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .bundle import find_bundles, is_bundle, load_bundle_metadata, load_manifest
from .errors import BundleError
from .names import recorded_json, shown


@dataclass(frozen=True)
class CaptureInfo:
    """When the bundle was recorded: bundle.json ``capture_clock`` and the
    first and last rows' capture times. ``start_utc`` is None where the
    clock's relation to UTC is unknown (``start_local`` is then the camera's
    wall clock, zone unknown)."""

    start_utc: str | None
    start_local: str | None
    zone: str | None
    source: str | None  # gps, container, file_mtime, ...
    utc_offset_min: int | None
    first_captured_at: str | None
    last_captured_at: str | None
    first_captured_local: str | None
    last_captured_local: str | None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PlaceInfo:
    """Where: bundle.json ``track`` and how many rows carry a position."""

    bbox: list[float] | None  # [lat_min, lon_min, lat_max, lon_max]
    distance_m: float | None
    samples: int | None
    source: str | None  # gpmf, dji, iso6709, ...
    rows_with_location: int


@dataclass(frozen=True)
class BundleInfo:
    """``bundle_info``'s answer: one bundle, described."""

    bundle_dir: str
    bundle_id: str
    format_version: int
    producer: str  # "lifelog_compression 0.1.0 (ffmpeg)"
    created_at: str
    source_file: str | None
    source_relpath: str | None  # within a batch's input root
    source_size_bytes: int | None
    source_content_hash: str | None
    video: str  # "h264 320x240, 30 fps"
    duration_ms: int | None
    frame_count: int
    manifest_rows: int
    duplicate_rows: int  # rows marked duplicate_of another
    first_ts_ms: int | None
    last_ts_ms: int | None
    capture: CaptureInfo
    place: PlaceInfo | None
    notes: list[str]
    frames_bytes: int
    total_bytes: int

    def to_json(self) -> dict[str, Any]:
        """The description as a JSON-ready dict (``info --json``)."""
        return asdict(self)


def _size(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(folder) / name).lstat().st_size
            except OSError:
                pass
    return total


def bundle_info(bundle_dir: str | os.PathLike[str]) -> BundleInfo:
    """Describes the bundle at ``bundle_dir`` from its bundle.json and
    manifest; BundleError if it is not a readable bundle."""
    bundle = Path(bundle_dir)
    meta = load_bundle_metadata(bundle)
    rows = load_manifest(bundle)
    raw = meta.raw
    src = meta.source_video or {}
    clock = raw.get("capture_clock") or {}
    track = raw.get("track") or {}
    producer = meta.producer or {}
    at = [r.captured_at for r in rows if r.captured_at]
    local = [r.captured_local for r in rows if r.captured_local]
    capture = CaptureInfo(
        start_utc=clock.get("start_utc"),
        start_local=clock.get("start_local"),
        zone=clock.get("zone"),
        source=clock.get("source"),
        utc_offset_min=clock.get("utc_offset_min") if isinstance(clock.get("utc_offset_min"), int) else None,
        first_captured_at=at[0] if at else None,
        last_captured_at=at[-1] if at else None,
        first_captured_local=local[0] if local else None,
        last_captured_local=local[-1] if local else None,
        notes=[str(n) for n in clock.get("notes") or []],
    )
    located = sum(1 for r in rows if isinstance(r.location, dict))
    place = None
    if track or located:
        bbox = track.get("bbox")
        place = PlaceInfo(
            bbox=[float(v) for v in bbox] if isinstance(bbox, list) and len(bbox) == 4 else None,
            distance_m=track.get("distance_m"),
            samples=track.get("samples"),
            source=track.get("source"),
            rows_with_location=located,
        )
    size = f"{src.get('display_width')}x{src.get('display_height')}" if src.get("display_width") else ""
    fps = src.get("avg_frame_rate")
    video = " ".join(x for x in (str(src.get("video_codec") or ""), size) if x) + (
        f", {fps:g} fps" if isinstance(fps, (int, float)) else ""
    )
    frames_bytes = 0
    for r in rows:
        try:
            frames_bytes += (bundle / r.frame_relpath).stat().st_size
        except OSError:
            pass
    return BundleInfo(
        bundle_dir=str(bundle),
        bundle_id=meta.bundle_id,
        format_version=meta.format_version,
        producer=" ".join(str(x) for x in (producer.get("name"), producer.get("version")) if x)
        + (f" ({producer['backend']})" if producer.get("backend") else ""),
        created_at=meta.created_at,
        source_file=src.get("file_name"),
        source_relpath=(raw.get("batch") or {}).get("input_relpath") or (rows[0].source_relpath if rows else None),
        source_size_bytes=src.get("file_size_bytes"),
        source_content_hash=src.get("content_hash"),
        video=video,
        duration_ms=src.get("duration_ms"),
        frame_count=meta.frame_count,
        manifest_rows=len(rows),
        duplicate_rows=sum(1 for r in rows if r.to_json().get("duplicate_of")),
        first_ts_ms=rows[0].actual_ts_ms if rows else None,
        last_ts_ms=rows[-1].actual_ts_ms if rows else None,
        capture=capture,
        place=place,
        notes=[str(n) for n in meta.notes],
        frames_bytes=frames_bytes,
        total_bytes=_size(bundle),
    )


def capture_sort_key(info: BundleInfo) -> tuple[int, str, str]:
    """Bundles in capture order: by UTC start where known, else the local
    start (a camera's clock), bundles without a time last, then by path."""
    c = info.capture
    when = c.first_captured_at or c.start_utc or c.first_captured_local or c.start_local
    return (0 if when else 1, when or "", info.bundle_dir)


def batch_info(root: str | os.PathLike[str]) -> list[BundleInfo]:
    """Every bundle at or below ``root`` (a batch's output root), described, in
    capture order; BundleError if there is none."""
    bundles = find_bundles(root)
    if not bundles:
        raise BundleError(f"{root}: no Visual Bundle in it")
    return sorted((bundle_info(b) for b in bundles), key=capture_sort_key)


# --- command line --------------------------------------------------------------


def register(sub: Any) -> None:
    """Adds ``info BUNDLE [--json]`` to the CLI."""
    p = sub.add_parser(
        "info",
        help="what a bundle (or a batch's output root) holds",
        description="Describe a bundle from its bundle.json and manifest: source, duration, frames, "
        "capture clock (UTC and local, zone, where it came from), place (GPS track), notes, sizes, "
        "format version and producer. For a folder of bundles (a batch's output root), one line "
        "per bundle in capture order.",
    )
    p.add_argument("path", metavar="BUNDLE", help="a bundle folder, or a folder holding bundles")
    p.add_argument("--json", action="store_true", help="print one JSON object (a list under 'bundles' for a root)")
    p.set_defaults(func=_cmd_info)


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f} MB"


def _span(ms: int | None) -> str:
    if ms is None:
        return "?"
    s = ms / 1000
    return (
        f"{int(s // 3600)}:{int(s % 3600 // 60):02d}:{s % 60:04.1f}" if s >= 3600 else f"{int(s // 60)}:{s % 60:04.1f}"
    )


def _when(info: BundleInfo) -> str:
    c = info.capture
    parts = []
    if c.start_utc:
        parts.append(f"{c.start_utc} UTC")
    if c.start_local:
        parts.append(
            f"{c.start_local} local" + (" (zone unknown)" if not c.start_utc else f" ({c.zone})" if c.zone else "")
        )
    return ", ".join(parts) or "unknown"


def describe(info: BundleInfo) -> list[str]:
    """The lines ``info`` prints for one bundle."""
    lines = [
        f"bundle      {info.bundle_dir}",
        f"source      {info.source_relpath or info.source_file or '?'} ({_mb(info.source_size_bytes)}; {info.video})",
        f"duration    {_span(info.duration_ms)}  frames {info.frame_count}"
        + (f" ({info.manifest_rows} manifest rows)" if info.manifest_rows != info.frame_count else "")
        + (f", {info.duplicate_rows} duplicates" if info.duplicate_rows else ""),
        f"captured    {_when(info)}; clock from {info.capture.source or 'unknown'}",
    ]
    if info.place is not None:
        p = info.place
        box = f"lat {p.bbox[0]:.5f}..{p.bbox[2]:.5f}, lon {p.bbox[1]:.5f}..{p.bbox[3]:.5f}" if p.bbox else "no bbox"
        dist = f"{p.distance_m:.0f} m" if isinstance(p.distance_m, (int, float)) else "? m"
        lines.append(
            f"place       {box}; {dist} travelled; {p.rows_with_location} of {info.manifest_rows} frames "
            f"placed ({p.source or '?'})"
        )
    else:
        lines.append("place       unknown (no GPS track)")
    lines.append(f"size        {_mb(info.total_bytes)} on disk ({_mb(info.frames_bytes)} of frames)")
    lines.append(f"format      Visual Bundle v{info.format_version}, made by {info.producer} at {info.created_at}")
    for note in info.notes:
        lines.append(f"note        {note}")
    for note in info.capture.notes:
        lines.append(f"clock note  {note}")
    return lines


def table(infos: list[BundleInfo], root: str | os.PathLike[str]) -> list[str]:
    """The lines ``info`` prints for a folder of bundles: one per bundle."""
    head = f"{'captured (start)':<25} {'duration':>9} {'frames':>7} {'size':>9} {'place':>8}  bundle"
    lines = [f"{len(infos)} bundles under {root}", head]
    for i in infos:
        c = i.capture
        when = (c.start_utc or c.start_local or "?")[:19].replace("T", " ") + (
            " UTC" if c.start_utc else " local" if c.start_local else ""
        )
        dist = f"{i.place.distance_m:.0f} m" if i.place and isinstance(i.place.distance_m, (int, float)) else "-"
        rel = os.path.relpath(i.bundle_dir, root)
        lines.append(
            f"{when:<25} {_span(i.duration_ms):>9} {i.frame_count:>7} {_mb(i.total_bytes):>9} {dist:>8}  {rel}"
        )
    total = sum(i.total_bytes for i in infos)
    lines.append(
        f"total: {sum(i.frame_count for i in infos)} frames, {_mb(total)}, "
        f"{_span(sum(i.duration_ms or 0 for i in infos))} of video"
    )
    return lines


def _cmd_info(args: Any) -> int:
    root = Path(args.path)
    if is_bundle(root):
        info = bundle_info(root)
        if args.json:
            print(json.dumps(recorded_json(info.to_json())))
        else:
            for line in describe(info):
                print(shown(line))
        return 0
    infos = batch_info(root)
    if args.json:
        print(json.dumps(recorded_json({"root": str(root), "bundles": [i.to_json() for i in infos]})))
    else:
        for line in table(infos, root):
            print(shown(line))
    return 0
