"""GPMF (GoPro Metadata Format): the KLV structure and its value types.

A GPMF payload is a sequence of KLV items, each an 8-byte header (FourCC key,
type character, structure size, 16-bit repeat count) and ``size * repeat``
bytes of big-endian values padded to 32 bits. Type 0 nests further KLV
(``DEVC`` devices holding ``STRM`` streams). Within a stream, properties
(``SCAL`` divisor, ``TYPE`` layout of complex ``?`` samples, ``UNIT``/``SIUN``,
``STNM`` name) apply to the data item that follows them.

Nothing here trusts a length: an item that claims more bytes than its parent
holds ends the parse of that parent, and nesting is limited in depth.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any, Iterator

MAX_DEPTH = 8

# type char -> (struct code, byte size); 'c', 'U', 'F', 'G' are text/bytes.
_TYPES = {
    "b": ("b", 1),
    "B": ("B", 1),
    "c": ("c", 1),
    "d": ("d", 8),
    "f": ("f", 4),
    "F": ("4s", 4),
    "G": ("16s", 16),
    "j": ("q", 8),
    "J": ("Q", 8),
    "l": ("l", 4),
    "L": ("L", 4),
    "q": ("l", 4),
    "Q": ("q", 8),
    "s": ("h", 2),
    "S": ("H", 2),
    "U": ("16s", 16),
}
# Fixed-point types: Q15.16 and Q31.32.
_FIXED = {"q": 65536.0, "Q": 4294967296.0}


class GpmfError(ValueError):
    """A GPMF item whose values cannot be decoded as described."""


@dataclass
class Klv:
    """One KLV item: its header, its raw value bytes, and for nested items
    (type 0) its children."""

    key: str
    type: str  # one character; "\\0" for nested
    size: int  # bytes per sample (structure size)
    repeat: int  # samples
    data: bytes
    children: list["Klv"] = field(default_factory=list)

    @property
    def nested(self) -> bool:
        return self.type == "\0"

    def text(self) -> str:
        """A 'c' item as text (NULs and padding removed)."""
        return self.data.split(b"\0", 1)[0].decode("latin-1")


def parse(buf: bytes, depth: int = 0) -> list[Klv]:
    """The KLV items of one payload (or one nested item's value). A truncated
    or oversized item ends the list; what came before it is kept."""
    items: list[Klv] = []
    pos, end = 0, len(buf)
    while pos + 8 <= end:
        key = buf[pos : pos + 4]
        type_code, size, repeat = buf[pos + 4], buf[pos + 5], struct.unpack_from(">H", buf, pos + 6)[0]
        length = size * repeat
        if key == b"\0\0\0\0":  # padding at the end of a payload
            break
        if pos + 8 + length > end or not all(32 <= c < 127 for c in key):
            break
        data = bytes(buf[pos + 8 : pos + 8 + length])
        item = Klv(key.decode("ascii"), chr(type_code), size, repeat, data)
        if type_code == 0 and depth < MAX_DEPTH:
            item.children = parse(data, depth + 1)
        items.append(item)
        pos += 8 + ((length + 3) & ~3)
    return items


_ARRAY = re.compile(r"(.)\[(\d+)\]")


# A structure's size is one byte, so no structure has more fields than this.
MAX_FIELDS = 255


def expand_type(type_string: str) -> str:
    """A TYPE string with arrays written out: ``"f[3]L"`` -> ``"fffL"``.
    GpmfError for one describing more than MAX_FIELDS fields (checked before
    anything is built: a forged TYPE cannot make it allocate)."""
    if len(type_string) > 8 * MAX_FIELDS:
        raise GpmfError(f"TYPE of {len(type_string)} characters describes no structure")
    fields = 0
    for part in re.finditer(r"(.)\[(\d+)\]|.", type_string):
        fields += min(int(part.group(2)), MAX_FIELDS + 1) if part.group(2) else 1
        if fields > MAX_FIELDS:
            raise GpmfError(f"TYPE {type_string[:40]!r} describes more than {MAX_FIELDS} fields")
    return _ARRAY.sub(lambda m: m.group(1) * int(m.group(2)), type_string)


def _struct_for(types: str) -> tuple[str, int]:
    try:
        codes = [_TYPES[t] for t in types]
    except KeyError as e:
        raise GpmfError(f"unknown GPMF type {e.args[0]!r}") from None
    return ">" + "".join(c for c, _ in codes), sum(n for _, n in codes)


def values(item: Klv, type_string: str | None = None) -> list[tuple[Any, ...]]:
    """The item's samples as tuples of Python values (unscaled). A ``?``
    item needs the stream's TYPE string. Text ('c') items give one string
    per sample."""
    if item.type == "c":
        if item.size == 1:
            return [(item.text(),)]
        return [
            (item.data[i : i + item.size].split(b"\0", 1)[0].decode("latin-1"),)
            for i in range(0, item.size * item.repeat, item.size)
        ]
    if item.type == "?":
        if not type_string:
            raise GpmfError(f"{item.key}: complex structure without a TYPE")
        types = expand_type(type_string)
    else:
        elem = _TYPES.get(item.type)
        if elem is None:
            raise GpmfError(f"{item.key}: unknown type {item.type!r}")
        if elem[1] == 0 or item.size % elem[1]:
            raise GpmfError(f"{item.key}: structure size {item.size} is not a whole number of {item.type!r}")
        types = item.type * (item.size // elem[1])
    fmt, width = _struct_for(types)
    if width != item.size:
        raise GpmfError(f"{item.key}: TYPE {type_string!r} describes {width} bytes, samples have {item.size}")
    if not item.repeat or not width:
        return []
    rows = list(struct.iter_unpack(fmt, item.data[: width * item.repeat]))
    fixed = [(i, _FIXED[t]) for i, t in enumerate(types) if t in _FIXED]
    if fixed:
        rows = [tuple(v / _div(fixed, i) if _div(fixed, i) else v for i, v in enumerate(r)) for r in rows]
    return rows


def _div(fixed: list[tuple[int, float]], index: int) -> float:
    for i, d in fixed:
        if i == index:
            return d
    return 0.0


def scaled(rows: list[tuple[Any, ...]], scal: list[float] | None) -> list[tuple[Any, ...]]:
    """Applies a SCAL divisor: one value for every element, or one per element."""
    if not scal:
        return rows
    if len(scal) == 1:
        d = scal[0] or 1
        return [tuple(v / d if isinstance(v, (int, float)) else v for v in r) for r in rows]
    return [
        tuple(v / (scal[i] or 1) if i < len(scal) and isinstance(v, (int, float)) else v for i, v in enumerate(r))
        for r in rows
    ]


@dataclass
class Stream:
    """One STRM of one payload: its sticky properties and its data items."""

    device: str
    name: str = ""
    props: dict[str, Klv] = field(default_factory=dict)
    data: list[tuple[Klv, dict[str, Klv]]] = field(default_factory=list)  # (item, properties before it)


# Keys that describe other items rather than carry samples.
_PROPERTY_KEYS = {
    "STNM",
    "RMRK",
    "SCAL",
    "SIUN",
    "UNIT",
    "TYPE",
    "TSMP",
    "STMP",
    "TIMO",
    "EMPT",
    "ORIN",
    "ORIO",
    "MTRX",
    "TMPC",
    "GPSF",
    "GPSU",
    "GPSP",
    "GPSA",
    "VPTS",
    "DVID",
    "DVNM",
    "TICK",
    "TOCK",
}


def streams(payload: bytes) -> Iterator[Stream]:
    """The streams of one payload, with the properties each data item sees."""
    for top in parse(payload):
        if top.key != "DEVC" or not top.nested:
            continue
        device = next((c.text() for c in top.children if c.key == "DVNM" and c.type == "c"), "")
        for strm in top.children:
            if strm.key != "STRM" or not strm.nested:
                continue
            s = Stream(device)
            for item in strm.children:
                if item.key in _PROPERTY_KEYS:
                    s.props[item.key] = item
                    if item.key == "STNM":
                        s.name = item.text()
                else:
                    s.data.append((item, dict(s.props)))
            yield s


def scale_of(props: dict[str, Klv]) -> list[float] | None:
    """The SCAL divisors in force, as floats."""
    item = props.get("SCAL")
    if item is None:
        return None
    try:
        return [float(v) for row in values(item) for v in row]
    except GpmfError:
        return None


def numbers(item: Klv, props: dict[str, Klv]) -> list[tuple[Any, ...]]:
    """The item's samples with TYPE and SCAL applied."""
    type_item = props.get("TYPE")
    return scaled(values(item, type_item.text() if type_item is not None else None), scale_of(props))
