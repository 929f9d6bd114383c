"""What every telemetry source is turned into: positions and clock readings
on the video's timeline (ms from the first video frame)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

FIX_NAMES = {0: "none", 1: "none", 2: "2d", 3: "3d"}


def rfc3339(t: datetime) -> str:
    """UTC, milliseconds, 'Z': 2019-11-18T23:45:15.460Z."""
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_text(t: datetime) -> str:
    """A wall-clock time without a zone, milliseconds, no offset:
    2012-09-10T20:52:00.000 (SPEC 1.2 ``captured_local``)."""
    return t.replace(tzinfo=None).isoformat(timespec="milliseconds")


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 / ISO 8601 time as bundles and probes write it ('Z' for
    UTC), or None for nothing or something else; naive if it names no zone
    (each caller decides what that means)."""
    if not text or not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(slots=True)
class Position:
    """One position sample. ``t_ms`` is on the video timeline; ``utc`` is the
    sample's own GPS time stamp where the source gives one per sample."""

    t_ms: float
    lat: float
    lon: float
    alt_m: float | None = None
    speed_mps: float | None = None
    speed3d_mps: float | None = None
    fix: str = "3d"  # "3d", "2d", "none"
    dop: float | None = None
    utc: datetime | None = None
    source: str = "gpmf"

    def __post_init__(self) -> None:
        # Exactly 0,0 is how receivers and phones say "no fix" (SPEC 1.2),
        # whatever fix they claim beside it.
        if self.lat == 0 and self.lon == 0:
            self.fix = "none"

    @property
    def has_fix(self) -> bool:
        return self.fix in ("2d", "3d")

    def to_json(self) -> dict[str, Any]:
        d = {
            "t_ms": round(self.t_ms, 3),
            "kind": "position",
            "source": self.source,
            "lat": round(self.lat, 8),
            "lon": round(self.lon, 8),
            "alt_m": _r(self.alt_m, 3),
            "speed_mps": _r(self.speed_mps, 3),
            "fix": self.fix,
        }
        if self.speed3d_mps is not None:
            d["speed3d_mps"] = _r(self.speed3d_mps, 3)
        if self.dop is not None:
            d["dop"] = _r(self.dop, 2)
        if self.utc is not None:
            d["utc"] = rfc3339(self.utc)
        return d


def _r(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


@dataclass
class Telemetry:
    """Everything read from one source file's telemetry."""

    source: str | None = None  # "gpmf", "dji", "quicktime" (positions' origin)
    positions: list[Position] = field(default_factory=list)
    # GPS time readings: (video ms, UTC). The capture clock is fitted to them.
    gps_times: list[tuple[float, datetime]] = field(default_factory=list)
    # Camera clock readings without a zone (DJI SRT): (video ms, naive local time).
    camera_times: list[tuple[float, datetime]] = field(default_factory=list)
    orientation: list[tuple[float, tuple[float, float, float, float]]] = field(default_factory=list)
    clip_point: Position | None = None  # one location for the whole clip (QuickTime tag)
    streams: dict[str, int] = field(default_factory=dict)  # GPMF data keys seen -> samples
    position_stream: str = ""  # the TYPE-described GPMF stream positions came from
    # While reading: positions of TYPE-described GPMF streams (Karma's GPRI,
    # GLPI), per stream, with the structure's own time (s) where it has one.
    typed_positions: dict[str, list[tuple[float | None, Position]]] = field(default_factory=dict)
    device: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def fixes(self) -> list[Position]:
        return [p for p in self.positions if p.has_fix]

    def jsonl_lines(self) -> list[str]:
        """metadata/telemetry.jsonl: every sample, in time order."""
        import json

        records = [(p.t_ms, p.to_json()) for p in self.positions]
        records += [
            (t, {"t_ms": round(t, 3), "kind": "orientation", "source": "gpmf", "quat_wxyz": [round(v, 6) for v in q]})
            for t, q in self.orientation
        ]
        if not any(p.utc for p in self.positions):  # GPS9 stamps every position itself
            records += [(t, {"t_ms": round(t, 3), "kind": "gps_time", "utc": rfc3339(u)}) for t, u in self.gps_times]
        records += [
            (t, {"t_ms": round(t, 3), "kind": "camera_time", "local": c.isoformat(timespec="milliseconds")})
            for t, c in self.camera_times
        ]
        if self.clip_point is not None:
            records.append((0.0, {**self.clip_point.to_json(), "t_ms": None, "scope": "clip"}))
        records.sort(key=lambda r: (r[0], r[1]["kind"]))
        return [json.dumps(r, ensure_ascii=False) for _, r in records]
