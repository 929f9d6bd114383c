"""Per-frame content signals and the near-duplicate rule (Visual Bundle 1.2).

The native core computes, for every frame, from the content rect's luma as
written (csrc/signals.h): a 64-bit perceptual hash, the sharpness, the luma
mean and clipped fraction, and a 32x32 thumbnail of area means. This module
turns them into manifest fields and decides ``duplicate_of``.

The rule (thresholds from the labelled set, docs/signals.md): a frame repeats
the last *kept* row (never a duplicate itself, so a slow pan cannot chain
through small steps) when the content rect is the same and

- after matching the two 32x32 thumbnails' tones by ranks (each block's
  level is allowed the levels the other thumbnail has at the same ranks:
  this undoes any global monotone change, exposure drift, flicker, a tone
  curve, highlights clipping, while a local change moves blocks against the
  rest), no ``block_group`` x ``block_group`` group of blocks differs from the
  kept row's by more than ``block_max`` levels in every block (an object over
  2 % of the picture covers whole groups; a lone block, partly clipped at a
  brighter exposure, does not count), and
- the phashes differ in at most ``hamming_max`` bits, or both thumbnails are
  flat (standard deviation under ``flat_std`` levels: a lens cap, a pocket,
  where the hash of noise says nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _core

if TYPE_CHECKING:
    from ._core import CoreSignals

PHASH_ALGORITHM = "dct32-lowfreq8x8-median/luma-area-mean-32x32"
ANALYSIS_SIZE = {"sharpness_grid": [128, 128], "thumbnail": [32, 32]}


@dataclass(frozen=True)
class DuplicateRule:
    """Thresholds of the near-duplicate rule (module docstring)."""

    hamming_max: int = 10
    block_max: float = 14.0
    block_group: int = 2
    flat_std: float = 3.0

    def doc(self) -> str:
        g = f"{self.block_group}x{self.block_group}"
        return (
            f"same content rect, phash Hamming distance <= {self.hamming_max} bits (or both 32x32 thumbnails "
            f"flat: std < {self.flat_std:g} levels), and, after matching the thumbnails' tones by ranks (each "
            "block may take any level the other thumbnail has at the ranks its level takes: undoes a global "
            f"monotone tone change, clipping included), no {g} group of blocks in which every block differs "
            f"by more than {self.block_max:g} luma levels; compared with the last row that is not a duplicate"
        )


DEFAULT_RULE = DuplicateRule()


@dataclass(frozen=True)
class _Kept:
    frame_id: str
    phash: int
    thumb: bytes
    std: float
    rect: tuple[int, int, int, int]


def _std(thumb: bytes) -> float:
    n = len(thumb)
    mean = sum(thumb) / n
    return float((sum((v - mean) ** 2 for v in thumb) / n) ** 0.5)


def block_difference(kept: bytes, thumb: bytes, group: int = 2) -> int:
    """How far two 32x32 thumbnails differ locally, in luma levels: each
    block's distance from the levels the tone curve fitted by ranks allows it
    (both ways: a new object brighter than anything kept is mapped onto the
    kept row's brightest blocks one way, but shows the other way), then the
    largest over ``group`` x ``group`` groups of blocks of the smallest
    distance in the group (a lone block off the curve, as partly clipped
    blocks are at a brighter exposure, is not a local change of any size).
    Computed in the native core (csrc/signals.c; tests/signals_reference.py
    holds the same in Python): ~0.7 ms a row in Python, a few us in C."""
    return _core.block_difference(kept, thumb, group)


class DuplicateTracker:
    """Decides ``duplicate_of`` for frames given in time order."""

    def __init__(self, rule: DuplicateRule = DEFAULT_RULE):
        self.rule = rule
        self._kept: _Kept | None = None
        self.duplicates = 0

    def check(self, frame_id: str, signals: CoreSignals | None, rect: tuple[int, int, int, int]) -> str | None:
        """The frame_id this frame repeats, or None (then it becomes the row
        later frames are compared with)."""
        if signals is None:
            self._kept = None
            return None
        thumb = signals["thumb"]
        std = _std(thumb)
        k = self._kept
        if k is not None and k.rect == rect:
            close = bin(k.phash ^ signals["phash"]).count("1") <= self.rule.hamming_max or (
                k.std < self.rule.flat_std and std < self.rule.flat_std
            )
            if close and block_difference(k.thumb, thumb, self.rule.block_group) <= self.rule.block_max:
                self.duplicates += 1
                return k.frame_id
        self._kept = _Kept(frame_id, signals["phash"], thumb, std, rect)
        return None


def row_fields(signals: CoreSignals | None) -> dict[str, Any]:
    """The manifest fields of one frame's signals (none without them)."""
    if signals is None:
        return {}
    return {
        "phash": f"{signals['phash']:016x}",
        "sharpness": round(signals["sharpness"], 3),
        "luma_mean": round(signals["luma_mean"], 3),
        "luma_clipped": round(signals["luma_clipped"], 5),
    }


def bundle_doc(rule: DuplicateRule, dropped: bool, duplicate_rows: int) -> dict[str, Any]:
    """bundle.json's ``signals`` object."""
    return {
        "phash_algorithm": PHASH_ALGORITHM,
        "analysis_size": ANALYSIS_SIZE,
        "duplicate_rule": rule.doc(),
        "thresholds": {
            "hamming_max": rule.hamming_max,
            "block_max": rule.block_max,
            "block_group": rule.block_group,
            "flat_std": rule.flat_std,
        },
        "duplicates_dropped": dropped,
        "duplicate_rows": duplicate_rows,
    }
