"""Capture times as people read them: local time where the zone is known,
the camera's wall clock where only that is known."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from .model import parse_time


def local_time(
    captured_at: str | None, capture_clock: dict[str, Any] | None, captured_local: str | None = None
) -> datetime | None:
    """The row's capture time in the camera's zone (``utc_offset_min``), or in
    UTC when the zone is unknown; without ``captured_at``, the zoneless
    ``captured_local`` (naive); None without either."""
    t = parse_time(captured_at)
    if t is None or t.tzinfo is None:
        local = parse_time(captured_local)
        return local if local is not None and local.tzinfo is None else None
    offset = (capture_clock or {}).get("utc_offset_min")
    if isinstance(offset, int):
        return t.astimezone(timezone(timedelta(minutes=offset)))
    return t.astimezone(timezone.utc)


def time_label(
    captured_at: str | None,
    capture_clock: dict[str, Any] | None,
    *,
    with_date: bool = False,
    captured_local: str | None = None,
) -> str:
    """``15:45:33`` (local), ``23:45:33Z`` (UTC, zone unknown), or the
    camera's wall clock ``20:52:00`` with "(zone unknown)" after the date;
    '' without a time."""
    t = local_time(captured_at, capture_clock, captured_local)
    if t is None:
        return ""
    text = t.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")
    if t.tzinfo is None:
        return text + (" camera time, zone unknown" if with_date else "")
    if not isinstance((capture_clock or {}).get("utc_offset_min"), int):
        return text + "Z"
    return text + (t.strftime(" UTC%z")[:-2] + ":" + t.strftime("%z")[-2:] if with_date else "")
