"""One manifest row (SPEC.md, manifest.jsonl) as a typed record.

The required fields and the recommended ones this package writes are typed
attributes; a field this version does not know (a newer producer's) is kept
in ``other_fields`` and written back unchanged, so reading and re-writing a
row loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from .errors import BundleError

if TYPE_CHECKING:
    from ._core import CoreFrame

REQUIRED = (
    "frame_id",
    "frame_relpath",
    "source_relpath",
    "requested_ts_ms",
    "actual_ts_ms",
    "width",
    "height",
    "content_hash",
)


def picture_fields(
    *,
    requested_ms: int,
    actual_ms: int,
    canvas: tuple[int, int],
    content_rect: tuple[int, int, int, int] | list[int],
    source_size: tuple[int, int] | list[int],
    obtained: str | None,
    frames_decoded: int,
    extractor: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A manifest row's fields for one decoded picture, in the row's order:
    its times, the canvas, ``extractor`` (the extractor and its version,
    where a bundle is written), the content rect, the source's size and how
    the picture was obtained. The one place a frame becomes these fields:
    a bundle's rows (api.py) and iter_frames' records (ingest.py), through
    :func:`frame_fields`."""
    x, y, w, h = content_rect
    return {
        "requested_ts_ms": requested_ms,
        "actual_ts_ms": actual_ms,
        "width": canvas[0],
        "height": canvas[1],
        **(extractor or {}),
        "content_rect_x": x,
        "content_rect_y": y,
        "content_rect_width": w,
        "content_rect_height": h,
        "source_width": source_size[0],
        "source_height": source_size[1],
        "obtained": obtained,
        "frames_decoded": frames_decoded,
    }


def frame_ms(frame: CoreFrame) -> int:
    """The frame's time on the timeline in the manifest's whole milliseconds."""
    assert frame["actual_us"] is not None  # a request that got a frame
    return round(frame["actual_us"] / 1000)


def frame_fields(frame: CoreFrame, canvas: tuple[int, int], extractor: dict[str, str] | None = None) -> dict[str, Any]:
    """:func:`picture_fields` of a frame as the core hands it over."""
    return picture_fields(
        requested_ms=frame["requested_ms"],
        actual_ms=frame_ms(frame),
        canvas=canvas,
        content_rect=frame["content_rect"],
        source_size=frame["source_size"],
        obtained=frame["obtained"],
        frames_decoded=frame["frames_decoded"],
        extractor=extractor,
    )


@dataclass(frozen=True)
class ManifestRow:
    """One frame of a bundle, as in manifest.jsonl. Optional fields are None
    when the row lacks them (older bundles, other producers)."""

    frame_id: str
    frame_relpath: str
    source_relpath: str
    requested_ts_ms: int
    actual_ts_ms: int
    width: int  # the canvas
    height: int
    content_hash: str  # "sha256:<hex>" of the JPEG bytes
    source_content_hash: str | None = None  # "sha256:<hex>" of the source file
    extractor: str | None = None
    extractor_version: str | None = None
    content_rect_x: int | None = None  # where the picture sits on the canvas
    content_rect_y: int | None = None
    content_rect_width: int | None = None
    content_rect_height: int | None = None
    source_width: int | None = None  # the decoded picture, before rotation
    source_height: int | None = None
    obtained: str | None = None  # "keyframe", "decoded_forward", "platform", ...
    frames_decoded: int | None = None  # what finding this frame cost
    decoded_relpath: str | None = None  # the proxy decoded instead of the source
    captured_at: str | None = None  # SPEC 1.1: UTC, RFC 3339 (null where the zone is unknown)
    captured_local: str | None = None  # SPEC 1.2: the camera's wall clock, RFC 3339 without offset
    location: dict[str, Any] | None = None  # SPEC 1.1: interpolated telemetry position
    phash: str | None = None  # SPEC 1.2 content signals (signals.py): 16 hex digits
    sharpness: float | None = None
    luma_mean: float | None = None
    luma_clipped: float | None = None
    duplicate_of: str | None = None  # the frame_id of the earlier row this one repeats
    notes: list[str] | None = None
    other_fields: dict[str, Any] = field(default_factory=dict, compare=False)
    # Optional fields the row held as an explicit null (written back as null).
    null_fields: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ManifestRow:
        """A row from its JSON object; BundleError if a required field is missing."""
        missing = [k for k in REQUIRED if k not in obj]
        if missing:
            raise BundleError(f"manifest row lacks {', '.join(missing)}")
        _check_required(obj)
        known = _TYPED & obj.keys()
        return cls(
            **{k: obj[k] for k in known},
            other_fields={k: v for k, v in obj.items() if k not in _TYPED},
            null_fields=frozenset(k for k in known if obj[k] is None),
        )

    def to_json(self) -> dict[str, Any]:
        """The row as manifest.jsonl holds it: absent optional fields are left out."""
        out = {name: getattr(self, name) for name in _ORDER}
        out = {k: v for k, v in out.items() if v is not None or k in REQUIRED or k in self.null_fields}
        return {**out, **self.other_fields}

    @property
    def extra(self) -> dict[str, Any]:
        """Every field beyond the required ones (what ``extra`` held before the
        fields were typed); kept for older callers."""
        return {k: v for k, v in self.to_json().items() if k not in REQUIRED}


_INTEGERS = ("requested_ts_ms", "actual_ts_ms", "width", "height")
_STRINGS = ("frame_id", "frame_relpath", "source_relpath", "content_hash")
_INT64 = 1 << 63


def _check_required(obj: dict[str, Any]) -> None:
    """Required fields of the right type, and a frame path that stays inside
    the bundle: tools read the file a row names (validate, pack, sheet), and
    '../../secret' or '/etc/passwd' must not make them read outside it."""
    for key in _INTEGERS:
        value = obj[key]
        if not isinstance(value, int) or isinstance(value, bool) or not -_INT64 <= value < _INT64:
            raise BundleError(f"manifest row: {key} must be a whole number, not {value!r}")
    for key in _STRINGS:
        if not isinstance(obj[key], str) or not obj[key]:
            raise BundleError(f"manifest row: {key} must be a non-empty string, not {obj[key]!r}")
    rel = obj["frame_relpath"]
    parts = rel.split("/")
    if rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts) or ":" in parts[0]:
        raise BundleError(f"manifest row: frame_relpath {rel!r} leaves the bundle or is not a plain relative path")


_ORDER = tuple(f.name for f in fields(ManifestRow) if f.name not in ("other_fields", "null_fields"))
_TYPED = frozenset(_ORDER)
