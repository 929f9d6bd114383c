"""File names as bundles record them and as the terminal shows them.

Any name the operating system accepts is a valid source name: bytes that are
not UTF-8 (Python holds them as lone surrogates, PEP 383), newlines, escape
sequences. Two rules keep them harmless:

- **Recorded** (bundle.json, manifest.jsonl, the metadata files): JSON text
  must be UTF-8, so each byte of a name that is not UTF-8 is written as the
  four characters ``\\xNN`` (Python's ``backslashreplace``): ``b"clip\\xff.mp4"``
  is recorded as ``clip\\xff.mp4``. Every other character, controls included,
  is kept: JSON escapes those itself.
- **Shown** (error lines, summaries on the terminal): one line, nothing the
  terminal would act on. Control characters (newline, ESC, BEL, ...), bidi
  overrides and line separators are shown as Python escapes (``\\n``,
  ``\\x1b``, ``\\u202e``), bytes that are not UTF-8 as ``\\xNN``.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Lone surrogates: in a str from the file system, bytes that were not UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")
# What a terminal acts on or a reader cannot see: C0/C1 controls and DEL,
# bidi marks, embeddings, overrides and isolates, line and paragraph
# separators. Listed by hand, not as category Cf: that also holds the
# joiners emoji in names are made of.
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def recorded(text: str) -> str:
    """``text`` as valid UTF-8 text: each byte that was not UTF-8 (a lone
    surrogate from ``surrogateescape``) becomes ``\\xNN``."""
    if not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(_surrogate_escape, text)


def _surrogate_escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def recorded_json(obj: Any) -> Any:
    """``obj`` (JSON-ready) with every string, keys included, :func:`recorded`."""
    if isinstance(obj, str):
        return recorded(obj)
    if isinstance(obj, dict):
        return {recorded(k) if isinstance(k, str) else k: recorded_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [recorded_json(v) for v in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps(obj, ensure_ascii=False)`` whose text always encodes as
    UTF-8: names that were not UTF-8 are recorded as above."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    if _SURROGATE.search(text):  # rare: only a name from the file system puts one there
        text = json.dumps(recorded_json(obj), ensure_ascii=False, **kwargs)
    return text


def shown(text: object) -> str:
    """``text`` for one line on a terminal: see the module's docstring."""
    text = str(text)
    if not _UNSHOWABLE.search(text):
        return text
    return _UNSHOWABLE.sub(_show, text)


def _show(m: re.Match[str]) -> str:
    c = m.group()
    code = ord(c)
    if c in _SHORT:
        return _SHORT[c]
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
