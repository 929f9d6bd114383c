"""What a bundle's frames are, colour-wise, and what was done to get there:
the ``colour`` object of bundle.json and its notes.

Every frame is a JFIF JPEG (BT.601 matrix, full range) of SDR content in
BT.709 primaries. SDR sources only have their matrix and range converted; HDR
sources (PQ, HLG) are tone and gamut mapped by the backend, which names its
mapping per frame (the FFmpeg core's is csrc/tonemap.h; AVFoundation maps HDR
itself).
"""

from __future__ import annotations

import re
from typing import Any

# Transfer characteristics (FFmpeg's names) that need tone mapping for SDR.
HDR_TRANSFERS = {"smpte2084": "PQ", "arib-std-b67": "HLG"}
OUTPUT = "JFIF YCbCr (BT.601 matrix, full range), SDR, BT.709 primaries"
# The core writes "... up to 1000 cd/m2 (MaxCLL) ..." in its mapping line.
_PEAK = re.compile(r"up to (\d+(?:\.\d+)?) cd/m2 \(([^)]*)\)")


def colour_doc(summary: dict[str, Any], mappings: list[str], backend: str) -> tuple[dict[str, Any], list[str]]:
    """bundle.json's ``colour`` object and any notes, from the probe summary
    and the distinct ``colour_mapping`` lines the backend reported."""
    transfer = summary.get("color_transfer")
    primaries = summary.get("color_primaries")
    doc: dict[str, Any] = {
        "source_transfer": transfer,
        "source_primaries": primaries,
        "source_matrix": summary.get("color_matrix"),
        "source_range": summary.get("color_range"),
        "output": OUTPUT,
        "mapping": None,
    }
    notes: list[str] = []
    kind = HDR_TRANSFERS.get(transfer or "")
    if mappings:
        doc["mapping"] = mappings[0] if len(mappings) == 1 else mappings
        peak = _PEAK.search(mappings[0])
        if peak:
            doc["peak_cd_m2"] = float(peak.group(1))
            doc["peak_from"] = peak.group(2)
        notes.append(
            f"HDR source ({kind or transfer}, {primaries} primaries): tone mapped to SDR BT.709 "
            "(reference white 203 cd/m2 = SDR white; see colour.mapping)"
        )
    elif kind and backend == "avfoundation":
        doc["mapping"] = "AVFoundation's own HDR to SDR conversion"
    elif kind:
        notes.append(f"HDR source ({kind}) whose decoded pictures are not YCbCr: converted without tone mapping")
    return doc, notes
