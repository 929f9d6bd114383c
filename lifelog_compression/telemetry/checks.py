"""What ``validate`` checks of the time fields: every row's ``captured_at``
is the capture clock's start plus its ``actual_ts_ms`` (1.1), and its
``captured_local`` the clock's ``start_local`` plus the same (1.2), so
capture times rise with the rows; neither is written where the clock has
no such start."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .model import parse_time

if TYPE_CHECKING:
    from ..manifest import ManifestRow


def _time(text: Any, *, zoned: bool) -> datetime | None:
    """An RFC 3339 time with a zone (``zoned``) or without one, else None."""
    t = parse_time(text) if isinstance(text, str) else None
    if t is None or (t.tzinfo is not None) != zoned:
        return None
    return t


def _field_problem(
    row: ManifestRow, name: str, captured: Any, start_text: Any, start_name: str, zoned: bool
) -> str | None:
    if start_text is None:
        if captured is None:
            return None
        return f"{row.frame_relpath}: {name} {captured} but the capture clock has no {start_name}"
    expected = _time(start_text, zoned=zoned)
    got = _time(captured, zoned=zoned) if captured is not None else None
    if expected is None or got is None:
        kind = "with a zone" if zoned else "without a zone"
        return f"{row.frame_relpath}: {name} {captured!r} is not an RFC 3339 time {kind}"
    expected += timedelta(milliseconds=row.actual_ts_ms)
    if abs((got - expected).total_seconds()) > 0.0015:
        return (
            f"{row.frame_relpath}: {name} {captured} is not the capture clock's {start_name} + actual_ts_ms "
            f"({expected.isoformat(timespec='milliseconds')})"
        )
    return None


def capture_time_problem(row: ManifestRow, capture_clock: dict[str, Any] | None) -> str | None:
    """Why this manifest row's ``captured_at`` or ``captured_local``
    disagrees with bundle.json's ``capture_clock``, or None (also None for a
    bundle without these fields)."""
    if capture_clock is None:
        return None
    fields = row.to_json()
    if "captured_at" in fields:
        problem = _field_problem(
            row, "captured_at", fields["captured_at"], capture_clock.get("start_utc"), "start", zoned=True
        )
        if problem:
            return problem
    if "captured_local" in fields and "start_local" in capture_clock:  # 1.2 bundles
        return _field_problem(
            row,
            "captured_local",
            fields["captured_local"],
            capture_clock.get("start_local"),
            "start_local",
            zoned=False,
        )
    return None
