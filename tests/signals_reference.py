"""The duplicate rule's block test in plain Python: the reference the native
core's lc_block_difference (csrc/signals.c) is checked against in
tests/test_signals.py. The rule itself is described in docs/signals.md."""

from __future__ import annotations


def _rank_levels(src: bytes, dst: bytes) -> tuple[list[int], list[int]]:
    """For each level of ``src``, the lowest and highest level ``dst`` has
    at the ranks ``src``'s blocks of that level take: the monotone tone
    curve from ``src`` to ``dst`` fitted by ranks, ties giving an interval
    (levels are whole numbers, so ties are common)."""
    counts = [0] * 256
    for v in src:
        counts[v] += 1
    ordered = sorted(dst)
    lo, hi = [0] * 256, [0] * 256
    rank = 0
    for level, c in enumerate(counts):
        if c:
            lo[level], hi[level] = ordered[rank], ordered[rank + c - 1]
            rank += c
    return lo, hi


def block_difference(kept: bytes, thumb: bytes, group: int = 2) -> int:
    """lifelog_compression.signals.block_difference, stated in Python."""
    to_kept_lo, to_kept_hi = _rank_levels(thumb, kept)
    to_new_lo, to_new_hi = _rank_levels(kept, thumb)
    far = [
        max(0, to_kept_lo[b] - a, a - to_kept_hi[b], to_new_lo[a] - b, b - to_new_hi[a]) for a, b in zip(kept, thumb)
    ]
    side = int(len(far) ** 0.5)
    rows = [far[i * side : (i + 1) * side] for i in range(side)]
    worst = 0
    for r in range(side - group + 1):
        column = rows[r]  # the smallest distance down each column of the group's rows
        for i in range(1, group):
            column = list(map(min, column, rows[r + i]))
        across = column[: side - group + 1]  # then along each run of columns
        for j in range(1, group):
            across = list(map(min, across, column[j:]))
        worst = max(worst, *across)
    return worst
