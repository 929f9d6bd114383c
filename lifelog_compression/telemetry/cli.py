"""``probe VIDEO [--json]``: what a source is, when it was recorded and where,
read from its headers and telemetry (H.264: its first keyframe decoded, for its pixel
format and colour)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def probe_report(video: str | os.PathLike[str]) -> dict[str, Any]:
    """The source summary (as ``lc.probe``), plus capture clock, track and telemetry."""
    from ..ingest import probe
    from . import read_source_telemetry

    summary = probe(video).fields
    start_ms = summary.get("video_start_time_ms") or 0.0
    tele = read_source_telemetry(
        Path(video), video_start_ms=start_ms, duration_ms=summary["duration_ms"], summary=summary
    )
    return {"file": Path(video).name, "source_video": summary, **tele.to_json()}


def _text(report: dict[str, Any]) -> str:
    v = report["source_video"]
    lines = [
        f"{report['file']}: {v.get('container_format')}, {v.get('video_codec')} "
        f"{v.get('display_width')}x{v.get('display_height')}, {v.get('duration_ms', 0) / 1000:.3f} s"
        + (f", {v['avg_frame_rate']:.3f} fps" if v.get("avg_frame_rate") else "")
    ]
    if v.get("creation_time"):
        lines.append(f"container creation time: {v['creation_time']}")
    c = report["capture_clock"]
    offset = f", camera clock {c['camera_offset_s']:+.3f} s from GPS" if c.get("camera_offset_s") is not None else ""
    if c["start_utc"]:
        when = c["start_utc"]
    elif c.get("start_local"):
        when = f"{c['start_local']} camera time, zone unknown"
    else:
        when = "unknown"
    lines.append(f"capture clock: {when} (source: {c['source'] or 'none'}{offset})")
    t = report.get("track")
    if t and t.get("scope") == "clip":
        lines.append(f"location: {t['bbox'][0]}, {t['bbox'][1]} for the whole clip ({t['source']} tag)")
    elif t:
        b = t["bbox"]
        lines.append(
            f"fixes: {t['samples']} from {t['first_fix_utc'] or str(t['first_fix_ms']) + ' ms'} "
            f"to {t['last_fix_utc'] or str(t['last_fix_ms']) + ' ms'} ({t['source']}); "
            f"box {b[0]},{b[1]} .. {b[2]},{b[3]}; {t['distance_m']} m travelled"
        )
    else:
        lines.append("fixes: none")
    tel = report["telemetry"]
    if tel["source"]:
        streams = ", ".join(f"{k} {n}" for k, n in tel["streams"].items())
        lines.append(
            f"telemetry: {tel['source']}{' (' + tel['device'] + ')' if tel['device'] else ''}: "
            f"{tel['positions']} positions, {tel['orientation']} orientations"
            + (f"; streams: {streams}" if streams else "")
        )
    lines += [f"note: {n}" for n in c["notes"] + report["notes"]]
    return "\n".join(lines)


def register(sub: Any) -> None:
    """Adds ``probe VIDEO [--json]`` to the CLI."""
    p = sub.add_parser(
        "probe",
        help="what a video is, when and where it was recorded (from its headers)",
        description="Print the source summary read from the container headers, the capture "
        "clock (GPS, container or file time) and the telemetry's fix range, decoding "
        "nothing but an H.264 stream's first keyframe (for its pixel format and colour).",
    )
    p.add_argument("video", metavar="VIDEO", help="the video file")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_cmd_probe)


def _cmd_probe(args: Any) -> int:
    report = probe_report(args.video)
    print(json.dumps(report) if args.json else _text(report))
    return 0
