"""Bounds on what callers may ask for, checked before any work starts."""

from __future__ import annotations

from ._core import MAX_WORKERS as MAX_WORKERS  # re-exported: the one limit, set in C
from .errors import UsageError

# MAX_WORKERS (imported above): the threads one extraction may ask for, decided once in the
# core (csrc/extract.h's LC_MAX_WORKERS, which the core enforces for direct
# calls) and checked here with a usage error before any work starts. Every
# thread beyond it only holds memory (each decoder thread keeps pictures of
# its own: --workers 3000 held 2.5 GB for a 5 KB clip).

# Files batch runs at once, each a child process: a bound on processes.
MAX_FILES_AT_ONCE = 256
# Requests one file gets, whatever its timeline claims once checked: 69 hours
# at one a second. Each costs about half a kilobyte until the bundle is
# written; a clock forged to 10^12 ms, unbounded, held 24 GB before the kernel
# killed the process.
MAX_REQUESTS = 250_000
# The recipe's times (csrc/extract.h holds them in ints): a day is more than
# any interval or tolerance window means.
MAX_RECIPE_MS = 24 * 3600 * 1000
# The canvas: each decoding worker holds a few pictures of it (a 65536x65536
# canvas asked for 6 GB per picture and ended in MemoryError). 8K is the
# largest a camera records.
MAX_CANVAS_SIDE = 8192
MAX_CANVAS_PIXELS = 8192 * 4320


def check_workers(name: str, value: object, maximum: int = MAX_WORKERS) -> None:
    """A UsageError unless ``value`` is an int from 0 (one per usable CPU) to ``maximum``."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise UsageError(f"{name} must be 0 (one per usable CPU) to {maximum}, not {value!r}")
