"""Which of the source's packets an independent decoder must read to show
a given set of frames.

``validate`` compares each row with the source frame at its time and that
frame's neighbours. Decoding the whole file for them is a full decode (on
this project's 2-core machine 15 % of a 1080p30 clip's duration, more than
validate's whole budget), while a frame needs only the packets from the
keyframe it depends on up to its own packet, in decoding order. This module
works that out from the packet list ffprobe gives (no decoding): plain
functions on plain records, so each decision is testable alone.

A frame's packets: from the last keyframe at or before its packet (decoding
order) whose presentation time is not after the frame's, to its own packet.
For a frame shown before the keyframe it follows in decoding order (the
leading B-frames of an open GOP), that is the keyframe before: conservative,
never too few. Everything rests on the file's keyframe flags; a file that
marks predicted pictures as keyframes makes the plan too short, which is why
validate checks a failing row again by a whole decode before it reports it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Packet:
    """One packet of the video stream, as ffprobe lists it (file order)."""

    pts: Fraction  # presentation time, seconds on the stream's clock
    pos: int  # byte offset in the file
    key: bool


Span = tuple[int, int]  # first and last packet (decoding order), inclusive


class PacketIndex:
    """The stream's packets in decoding order, and the frame each shows.

    Build it with ``PacketIndex.of``, which returns None where the packets
    cannot be told apart by byte offset and time (missing or repeated
    offsets or times, offsets not rising with decoding order): the caller
    then decodes everything, as before."""

    def __init__(self, packets: list[Packet]):
        self.packets = packets
        self._by_time = {p.pts: i for i, p in enumerate(packets)}
        self._keys = [i for i, p in enumerate(packets) if p.key]

    @classmethod
    def of(cls, packets: list[Packet]) -> PacketIndex | None:
        """An index of ``packets``, or None when a byte range cannot name
        exactly a run of them."""
        if not packets or not packets[0].key:
            return None
        if any(b.pos <= a.pos for a, b in zip(packets, packets[1:])):
            return None
        if len({p.pts for p in packets}) != len(packets):
            return None
        return cls(packets)

    def packet_of(self, pts: Fraction) -> int | None:
        """Decoding position of the packet shown at ``pts``."""
        return self._by_time.get(pts)

    def needs(self, position: int) -> Span:
        """The packets to decode to show the frame of packet ``position``."""
        pts = self.packets[position].pts
        k = bisect.bisect_right(self._keys, position) - 1
        while k >= 0 and self.packets[self._keys[k]].pts > pts:
            k -= 1
        return (self._keys[k] if k >= 0 else 0), position


def extra_cost(span: Span, given: list[Span]) -> int:
    """Packets of ``span`` that ``given`` spans do not already decode."""
    covered = sum(max(0, min(span[1], b) - max(span[0], a) + 1) for a, b in merge(given))
    return span[1] - span[0] + 1 - covered


def merge(spans: list[Span]) -> list[Span]:
    """Spans joined where they overlap or touch, in order."""
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def chunks(spans: list[Span], most: int) -> list[list[Span]]:
    """Merged spans in groups of at most ``most``: one decoder each, so that
    the packet filter's expression stays short and cheap to evaluate."""
    merged = merge(spans)
    return [merged[i : i + most] for i in range(0, len(merged), most)]


def drop_expression(index: PacketIndex, spans: list[Span]) -> str:
    """An expression for FFmpeg's ``noise`` bitstream filter (option
    ``drop``) that is true for every packet outside ``spans``: the packets
    are named by byte offset, the one packet property that survives stream
    copy unchanged (the time base it sees is the muxer's, not the file's).
    Commas are escaped for a filter list."""
    terms = [f"between(pos\\,{index.packets[a].pos}\\,{index.packets[b].pos})" for a, b in spans]
    return "not(" + "+".join(terms) + ")"
