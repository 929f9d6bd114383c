"""Inputs for the per-stage micro-benchmarks: one keyframe of each camera size, decoded once.

Clips are small versions of the panel's shapes (panel_clips.py: real footage
with sensor noise), 1 s long, cached in benchmarks/.cache like the panel's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import panel_clips  # noqa: E402

av = pytest.importorskip("av", reason="the micro-benchmarks use PyAV: pip install -e .[bench]")

SHAPES = {s.key: s.shortened(1) for s in panel_clips.PANEL if s.key in ("gopro", "phone1080", "phone4k")}


@pytest.fixture(scope="session", params=sorted(SHAPES))
def clip(request) -> tuple[str, Path]:
    """(shape key, path) of a 1 s clip of that shape."""
    return request.param, panel_clips.make(SHAPES[request.param])


@pytest.fixture(scope="session")
def keyframe(clip):
    """The clip's first keyframe: (codec name, extradata, packet bytes, pts)."""
    _, path = clip
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.size:
                return stream.codec_context.name, stream.codec_context.extradata, bytes(packet), packet.pts
    raise AssertionError(f"{path}: no keyframe")


@pytest.fixture(scope="session")
def picture(keyframe):
    """The decoded keyframe (yuv420p VideoFrame, the camera's full size)."""
    frames = decode_one(*keyframe)
    assert frames, "the keyframe did not decode"
    return frames[0]


def decode_one(codec: str, extradata: bytes, data: bytes, pts: int, threads: int = 1):
    """A fresh decoder (as sparse extraction has per keyframe), one packet, drained."""
    ctx = av.CodecContext.create(codec, "r")
    ctx.extradata = extradata
    ctx.thread_count = threads
    packet = av.Packet(data)
    packet.pts = pts
    return list(ctx.decode(packet)) + list(ctx.decode(None))
