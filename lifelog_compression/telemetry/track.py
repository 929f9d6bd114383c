"""Where the camera was at a given moment, and the track summary.

A row's position is interpolated linearly between the two fixes around its
time, and only there: before the first fix, after the last, or across a
stretch where the receiver reported no fix, there is no position (null), and
never an extrapolated one.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .model import Position, rfc3339

if TYPE_CHECKING:
    from datetime import datetime

# Two fixes further apart than this are not bridged (the receiver was silent).
MAX_BRIDGE_MS = 5000.0
EARTH_RADIUS_M = 6_371_008.8
# Faster than anything a camera rides (an airliner cruises at 250 m/s): a fix
# this far from the track around it is damage (a flipped bit in GPMF, a
# garbled SRT line), not a position. Distances under this many metres pass
# whatever the time between them (one receiver's jitter).
MAX_SPEED_MPS = 400.0
JITTER_M = 50.0


def plausible(fixes: list[Position]) -> list[Position]:
    """The fixes that agree with the track: walking out from the fix nearest
    the median position, each is kept if it is reachable from the last kept
    one at MAX_SPEED_MPS. A speed reading over it is dropped (None)."""
    fixes = [
        replace(p, speed_mps=None) if p.speed_mps is not None and abs(p.speed_mps) > MAX_SPEED_MPS else p for p in fixes
    ]
    if len(fixes) < 3:
        return fixes
    lat = sorted(p.lat for p in fixes)[len(fixes) // 2]
    lon = sorted(p.lon for p in fixes)[len(fixes) // 2]
    anchor = min(range(len(fixes)), key=lambda i: (fixes[i].lat - lat) ** 2 + (fixes[i].lon - lon) ** 2)
    keep = {anchor}
    for step in (1, -1):
        last = fixes[anchor]
        for i in range(anchor + step, len(fixes) if step > 0 else -1, step):
            gap_s = abs(fixes[i].t_ms - last.t_ms) / 1000
            if haversine_m(fixes[i], last) <= JITTER_M + MAX_SPEED_MPS * gap_s:
                keep.add(i)
                last = fixes[i]
    return [p for i, p in enumerate(fixes) if i in keep]


class Track:
    """The fixes of one source, ready to be asked for positions."""

    def __init__(self, positions: list[Position]):
        ordered = sorted(positions, key=lambda p: p.t_ms)
        fixes = [p for p in ordered if p.has_fix]
        self.fixes = plausible(fixes)
        self.implausible = len(fixes) - len(self.fixes)
        self.times = [p.t_ms for p in self.fixes]
        # Number of no-fix samples at or before each time: a gap between two
        # fixes holds a loss of fix when the count changes between them.
        self._lost_times = [p.t_ms for p in ordered if not p.has_fix]
        self.source = self.fixes[0].source if self.fixes else None

    def _lost_between(self, a: float, b: float) -> bool:
        i = bisect.bisect_right(self._lost_times, a)
        return i < len(self._lost_times) and self._lost_times[i] < b

    def at(self, t_ms: float) -> dict[str, Any] | None:
        """SPEC.md's ``location`` at ``t_ms``, or None."""
        if not self.fixes or t_ms < self.times[0] or t_ms > self.times[-1]:
            return None
        i = bisect.bisect_left(self.times, t_ms)
        if self.times[i] == t_ms:
            a = b = self.fixes[i]
        else:
            a, b = self.fixes[i - 1], self.fixes[i]
            if b.t_ms - a.t_ms > MAX_BRIDGE_MS or self._lost_between(a.t_ms, b.t_ms):
                return None
        span = b.t_ms - a.t_ms
        w = (t_ms - a.t_ms) / span if span > 0 else 0.0
        dlon = b.lon - a.lon
        if dlon > 180:
            dlon -= 360
        elif dlon < -180:
            dlon += 360
        lon = a.lon + w * dlon
        lon = (lon + 180) % 360 - 180
        return {
            "lat": round(a.lat + w * (b.lat - a.lat), 7),
            "lon": round(lon, 7),
            "alt_m": _mix(a.alt_m, b.alt_m, w, 2),
            "speed_mps": _mix(a.speed_mps, b.speed_mps, w, 3),
            "fix": "3d" if a.fix == b.fix == "3d" else "2d",
            "source": a.source,
            "sample_gap_ms": round(min(t_ms - a.t_ms, b.t_ms - t_ms), 1),
        }

    def summary(self, start_utc: datetime | None = None) -> dict[str, Any] | None:
        """SPEC.md's ``track``: samples, first and last fix time, bounding box,
        distance travelled; None without fixes. Fix times come from the
        samples' own GPS time, else from the capture clock's start."""
        if not self.fixes:
            return None
        from datetime import timedelta

        def when(p: Position) -> str | None:
            if p.utc is not None:
                return rfc3339(p.utc)
            return rfc3339(start_utc + timedelta(milliseconds=p.t_ms)) if start_utc is not None else None

        lats = [p.lat for p in self.fixes]
        lons = [p.lon for p in self.fixes]
        distance = sum(haversine_m(p, q) for p, q in zip(self.fixes, self.fixes[1:]))
        return {
            "samples": len(self.fixes),
            "first_fix_utc": when(self.fixes[0]),
            "last_fix_utc": when(self.fixes[-1]),
            "first_fix_ms": round(self.fixes[0].t_ms, 1),
            "last_fix_ms": round(self.fixes[-1].t_ms, 1),
            "bbox": [round(min(lats), 7), round(min(lons), 7), round(max(lats), 7), round(max(lons), 7)],
            "distance_m": round(distance, 1),
            "source": self.source,
            **({"implausible_fixes_dropped": self.implausible} if self.implausible else {}),
        }


def _mix(a: float | None, b: float | None, w: float, digits: int) -> float | None:
    if a is None or b is None:
        return None
    return round(a + w * (b - a), digits)


def haversine_m(p: Position, q: Position) -> float:
    """Great-circle distance between two positions, in metres."""
    la1, la2 = math.radians(p.lat), math.radians(q.lat)
    dla, dlo = la2 - la1, math.radians(q.lon - p.lon)
    h = math.sin(dla / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin(dlo / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
