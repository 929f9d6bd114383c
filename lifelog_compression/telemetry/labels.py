"""Capture times as people read them: local time where the zone is known."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from .model import parse_time


def local_time(captured_at: str | None, capture_clock: dict[str, Any] | None) -> datetime | None:
    """The row's capture time in the camera's zone (``utc_offset_min``), or in
    UTC when the zone is unknown; None without a capture time."""
    t = parse_time(captured_at)
    if t is None:
        return None
    offset = (capture_clock or {}).get("utc_offset_min")
    if isinstance(offset, int):
        return t.astimezone(timezone(timedelta(minutes=offset)))
    return t.astimezone(timezone.utc)


def time_label(captured_at: str | None, capture_clock: dict[str, Any] | None, *, with_date: bool = False) -> str:
    """``15:45:33`` (local) or ``23:45:33Z`` (zone unknown); '' without a time."""
    t = local_time(captured_at, capture_clock)
    if t is None:
        return ""
    text = t.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")
    if not isinstance((capture_clock or {}).get("utc_offset_min"), int):
        return text + "Z"
    return text + (t.strftime(" UTC%z")[:-2] + ":" + t.strftime("%z")[-2:] if with_date else "")
