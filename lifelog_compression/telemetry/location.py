"""One location for a whole clip: the ISO 6709 tag phones and cameras write
(``com.apple.quicktime.location.ISO6709`` in QuickTime metadata, ``©xyz`` in
``udta``), e.g. ``+48.8577+002.2950+035.000/``. It says where the recording
was made (usually where it started), not where the camera went."""

from __future__ import annotations

import re

from .model import Position

_ISO6709 = re.compile(r"^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?(?:CRS[^/]*)?/?$")
LOCATION_KEYS = ("com.apple.quicktime.location.ISO6709", "\u00a9xyz", "location")


def parse_iso6709(text: str) -> tuple[float, float, float | None] | None:
    """Decimal-degree ISO 6709 (the form cameras write) -> (lat, lon, alt)."""
    m = _ISO6709.match(text.strip())
    if not m:
        return None
    lat, lon = float(m.group(1)), float(m.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon, float(m.group(3)) if m.group(3) else None


def clip_location(tags: dict[str, str]) -> tuple[Position, str] | None:
    """The clip's tagged location as a Position (source "quicktime"), and the
    tag it came from."""
    for key in LOCATION_KEYS:
        value = tags.get(key)
        if value:
            parsed = parse_iso6709(value)
            if parsed:
                lat, lon, alt = parsed
                return Position(
                    0.0, lat, lon, alt, None, None, "3d" if alt is not None else "2d", None, None, "quicktime"
                ), key
    return None
