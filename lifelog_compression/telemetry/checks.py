"""What ``validate`` checks of the 1.1 time fields: every row's
``captured_at`` is the capture clock's start plus its ``actual_ts_ms``, so
capture times rise with the rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .model import parse_time

if TYPE_CHECKING:
    from ..manifest import ManifestRow


def _time(text: str) -> datetime | None:
    try:
        t = parse_time(text)
    except AttributeError:   # not a string at all
        return None
    return t if t is not None and t.tzinfo else None


def capture_time_problem(row: ManifestRow, capture_clock: dict[str, Any] | None) -> str | None:
    """Why this manifest row's ``captured_at`` disagrees with bundle.json's
    ``capture_clock``, or None (also None for a bundle without 1.1 fields)."""
    if capture_clock is None or "captured_at" not in row.extra:
        return None
    captured = row.extra["captured_at"]
    start = capture_clock.get("start_utc")
    if start is None:
        if captured is None:
            return None
        return f"{row.frame_relpath}: captured_at {captured} but the capture clock has no start"
    expected = _time(start)
    got = _time(captured) if captured is not None else None
    if expected is None or got is None:
        return f"{row.frame_relpath}: captured_at {captured!r} is not an RFC 3339 time with a zone"
    expected += timedelta(milliseconds=row.actual_ts_ms)
    if abs((got - expected).total_seconds()) > 0.0015:
        return (f"{row.frame_relpath}: captured_at {captured} is not the capture clock's start + actual_ts_ms "
                f"({expected.isoformat(timespec='milliseconds')})")
    return None
