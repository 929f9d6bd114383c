"""When and where: capture time and camera position for every frame.

Reads the telemetry a source carries (GoPro GPMF, DJI subtitles, the
QuickTime location tag), decides the capture clock, and gives each manifest
row ``captured_at`` and ``location`` (SPEC.md, Visual Bundle 1.1) and
bundle.json ``capture_clock``, ``track`` and the ``metadata/telemetry.jsonl``
artifact. Pure Python, read from the container itself, so it behaves the
same under every backend; bounded in time and memory on hostile input.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

TELEMETRY_ARTIFACT = "metadata/telemetry.jsonl"

__all__ = [
    "SourceTelemetry",
    "TelemetryReader",
    "read_source_telemetry",
    "CaptureClock",
    "Position",
    "Telemetry",
    "TELEMETRY_ARTIFACT",
]

# The readers load on first use (PEP 562): an extraction imports only the
# TelemetryReader, whose thread imports them beside the decoding (about 30 ms
# of imports off every file's critical path).
_LAZY = {
    "SourceTelemetry": "source",
    "read_source_telemetry": "source",
    "CaptureClock": "clock",
    "Position": "model",
    "Telemetry": "model",
}

if TYPE_CHECKING:
    from .clock import CaptureClock
    from .model import Position, Telemetry
    from .source import SourceTelemetry, read_source_telemetry


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class TelemetryReader(threading.Thread):
    """Reads a source's telemetry beside the extraction (the native core holds
    no GIL while decoding), and annotates rows and bundle.json. Telemetry never
    makes a bundle fail: an error becomes a note and null fields."""

    def __init__(
        self, path: str | os.PathLike[str], *, video_start_ms: float, duration_ms: int, summary: dict[str, Any] | None
    ):
        super().__init__(name="lifelog-telemetry", daemon=True)
        self._args = (path, video_start_ms, duration_ms, summary)
        self.result: SourceTelemetry | None = None
        self.error: str | None = None
        self.jsonl = ""
        self._read = threading.Event()  # rows can be annotated; the artifact may still be in the making

    def run(self) -> None:
        path, start, duration, summary = self._args
        try:
            self.result = self.read(path, video_start_ms=start, duration_ms=duration, summary=summary)
        except Exception as e:  # a reader bug must not cost the user the bundle
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self._read.set()
        if self.result is not None and self.result.has_samples:
            try:
                self.jsonl = self.result.jsonl()  # beside the extraction too, not after it
            except Exception as e:
                self.result.notes.append(f"telemetry.jsonl not written: {type(e).__name__}: {e}")

    def read(self, path: str | os.PathLike[str], **kwargs: Any) -> SourceTelemetry:
        """The reading itself; a subclass for sources that are not local files
        (storage.NoTelemetry) raises here instead."""
        from .source import read_source_telemetry

        return read_source_telemetry(path, **kwargs)

    def row_fields(self, actual_ts_ms: float) -> dict[str, Any]:
        """``captured_at``, ``captured_local`` and ``location`` for one row (waits for the reader once)."""
        self._read.wait()
        if self.result is None:
            return {"captured_at": None, "captured_local": None, "location": None}
        return self.result.row_fields(actual_ts_ms)

    def finish(self, writer: Any, bundle: dict[str, Any]) -> None:  # a BundleWriter or ShardWriter
        """Adds ``capture_clock``/``track`` to bundle.json and writes the
        full-rate telemetry artifact when there is any."""
        self.join()
        if self.result is None:
            bundle["capture_clock"] = {
                "start_utc": None,
                "start_local": None,
                "zone": "unknown",
                "source": None,
                "camera_offset_s": None,
                "utc_offset_min": None,
                "notes": [f"telemetry not read: {self.error}"],
            }
            return
        bundle.update(self.result.bundle_fields())
        bundle["capture_clock"]["notes"] = self.result.clock.notes + self.result.notes
        if self.jsonl:
            writer.write_text(TELEMETRY_ARTIFACT, self.jsonl)
            bundle.setdefault("metadata_artifacts", {})["telemetry"] = TELEMETRY_ARTIFACT
