"""Per-frame content signals and the near-duplicate rule (Visual Bundle 1.2).

The native core computes, for every frame, from the content rect's luma as
written (csrc/signals.h): a 64-bit perceptual hash, the sharpness, the luma
mean and clipped fraction, and a 32x32 thumbnail of area means. This module
turns them into manifest fields and decides ``duplicate_of``.

The rule (thresholds from the labelled set, docs/signals.md): a frame repeats
the last *kept* row (never a duplicate itself, so a slow pan cannot chain
through small steps) when the content rect is the same and

- no block of the 32x32 thumbnail, each scaled by the ratio of the two
  thumbnails' means (cancelling exposure drift and flicker), differs from the
  kept row's by more than ``block_max`` levels (local change: an object over
  2 % of the picture covers a dozen blocks; blocks ``bright`` or brighter in
  both are skipped, as clipping defeats the scaling), and
- the phashes differ in at most ``hamming_max`` bits, or both thumbnails are
  flat (standard deviation under ``flat_std`` levels: a lens cap, a pocket,
  where the hash of noise says nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core import CoreSignals

PHASH_ALGORITHM = "dct32-lowfreq8x8-median/luma-area-mean-32x32"
ANALYSIS_SIZE = {"sharpness_grid": [128, 128], "thumbnail": [32, 32]}


@dataclass(frozen=True)
class DuplicateRule:
    """Thresholds of the near-duplicate rule (module docstring)."""

    hamming_max: int = 10
    block_max: float = 20.0
    flat_std: float = 3.0
    bright: int = 220

    def doc(self) -> str:
        return (
            f"same content rect, phash Hamming distance <= {self.hamming_max} bits (or both 32x32 thumbnails "
            f"flat: std < {self.flat_std:g} levels), and no 32x32-thumbnail block differing by more than "
            f"{self.block_max:g} luma levels after scaling by the ratio of the thumbnails' means (blocks "
            f">= {self.bright} in both are not compared: clipping breaks the scaling); compared with the last "
            "row that is not a duplicate"
        )


DEFAULT_RULE = DuplicateRule()


@dataclass(frozen=True)
class _Kept:
    frame_id: str
    phash: int
    thumb: bytes
    mean: float
    std: float
    rect: tuple[int, int, int, int]


def _stats(thumb: bytes) -> tuple[float, float]:
    n = len(thumb)
    mean = sum(thumb) / n
    var = sum((v - mean) ** 2 for v in thumb) / n
    return mean, var**0.5


def block_difference(kept: bytes, kept_mean: float, thumb: bytes, mean: float, bright: int = 220) -> float:
    """The largest block difference of two thumbnails, in luma levels, after
    scaling ``thumb`` by the ratio of the means (exposure). Blocks at or
    above ``bright`` in both are left out: a brighter exposure clips them,
    which no scaling undoes."""
    scale = kept_mean / mean if mean >= 1 and kept_mean >= 1 else 1.0
    return max((abs(b * scale - a) for a, b in zip(kept, thumb) if a < bright or b < bright), default=0.0)


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
        mean, std = _stats(thumb)
        k = self._kept
        if k is not None and k.rect == rect:
            close = bin(k.phash ^ signals["phash"]).count("1") <= self.rule.hamming_max or (
                k.std < self.rule.flat_std and std < self.rule.flat_std
            )
            if close and block_difference(k.thumb, k.mean, thumb, mean, self.rule.bright) <= self.rule.block_max:
                self.duplicates += 1
                return k.frame_id
        self._kept = _Kept(frame_id, signals["phash"], thumb, mean, std, rect)
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
            "flat_std": rule.flat_std,
            "bright": rule.bright,
        },
        "duplicates_dropped": dropped,
        "duplicate_rows": duplicate_rows,
    }
