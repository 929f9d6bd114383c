"""Pictures the decoder reports damaged are never shown as their moment.

A damaged packet decodes, if at all, into a buffer that still holds an earlier
picture: ProRes leaves the slices it cannot read as they were, H.264 conceals
what it lost from other pictures. Such a picture may show another second.
Here one packet near a request is overwritten in the middle (its headers
kept, so the decoder does report the damage rather than refuse the packet);
the bundle must picture a sound frame in that request's window and say what
it passed over.
"""

import random

import pytest
from fixtures import make_clip, read_index, video_packets
from truth import decode, load_rows, rect_of

from lifelog_compression import _core, extract_to_dir

pytestmark = pytest.mark.skipif(_core.backend != "ffmpeg", reason="damage reports are the FFmpeg decoders'")


def _packet_at(path, seconds: float) -> dict:
    packets = video_packets(path, "pts_time,pos,size,flags")
    return min(packets, key=lambda p: abs(float(p["pts_time"]) - seconds))


def _damage_packet(path, seconds: float) -> float:
    """Overwrites the middle half of the packet shown nearest ``seconds``;
    returns its time in ms."""
    p = _packet_at(path, seconds)
    pos, size = int(p["pos"]), int(p["size"])
    data = bytearray(path.read_bytes())
    rnd = random.Random(7)
    for i in range(pos + size // 4, pos + 3 * size // 4):
        data[i] = rnd.randrange(256)
    path.write_bytes(bytes(data))
    return float(p["pts_time"]) * 1000


@pytest.mark.parametrize(
    "codec, pix_fmt, gop, seconds",
    [
        ("prores_ks", "yuv422p10le", None, 3.0),  # intra only: slices left as the buffer held them
        ("libx264", "yuv420p", 30, 2.0),  # a keyframe: concealed, and the P-frames after it inherit that
    ],
)
def test_damaged_pictures_are_passed_over(tmp_path, codec, pix_fmt, gop, seconds):
    source = make_clip(tmp_path / "clip.mov", codec=codec, pix_fmt=pix_fmt, gop=gop, seconds=4.0)
    damaged_ms = _damage_packet(source.path, seconds)
    result = extract_to_dir(source.path, tmp_path / "b")
    rows = load_rows(tmp_path / "b")
    for row in rows:
        index = read_index(decode(tmp_path / "b", row), rect_of(row))
        assert index is not None and abs(source.times_by_index[index] - row["actual_ts_ms"]) <= 1, (row, index)
        assert abs(row["actual_ts_ms"] - row["requested_ts_ms"]) <= 500
    assert all(abs(r["actual_ts_ms"] - damaged_ms) > 1 for r in rows)
    damage = [n for n in result.notes if n.startswith("source damaged")]
    assert len(damage) == 1 and "none is pictured" in damage[0], result.notes
