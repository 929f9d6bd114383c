"""What bundle.json says about an interlaced source: each frame of it is
pictured from one field (csrc/ffcanvas.c), which a consumer comparing the
stills with the video should know."""

from __future__ import annotations

from typing import Any

# The container's or decoder's field order (ffprobe's names) -> words.
FIELD_ORDERS = {
    "tt": "top field first",
    "bb": "bottom field first",
    "tb": "top field coded first, bottom shown first",
    "bt": "bottom field coded first, top shown first",
}


def interlace_notes(summary: dict[str, Any], deinterlaced: int, frames: int) -> list[str]:
    """A note when frames were pictured from one field: how many, and the
    stream's field order where it states one."""
    if not deinterlaced:
        return []
    order = FIELD_ORDERS.get(str(summary.get("field_order")))
    return [
        f"the source is interlaced{f' ({order})' if order else ''}: {deinterlaced} of {frames} frame(s) were "
        "interlaced pictures, each pictured from its top field scaled to the full height (a single-field "
        "deinterlace: no combing, half the vertical detail)"
    ]
