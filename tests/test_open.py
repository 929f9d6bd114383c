"""Opening a source: H.264's parameters come from decoding its first keyframe
once (csrc/ffstreams.c), and that picture serves the first request. What is
learnt must equal what ffprobe learns by decoding, the kept picture must equal
a fresh decode, and a first keyframe that gives no picture alone must still
open the ordinary way."""

import json
import subprocess

import pytest
from fixtures import make_clip, read_index
from test_probe_json import ffprobe, ours
from truth import decode, load_rows, rect_of

from lifelog_compression import _core, extract_to_dir

pytestmark = pytest.mark.skipif(_core.backend != "ffmpeg", reason="the FFmpeg backend's opening")

# What ffprobe's decoder learns that the container does not say.
DECODER_FIELDS = (
    "pix_fmt",
    "color_range",
    "color_space",
    "color_transfer",
    "color_primaries",
    "chroma_location",
    "field_order",
    "has_b_frames",
    "sample_aspect_ratio",
    "width",
    "height",
    "profile",
    "level",
)


def _h264(tmp_path, name, **kw):
    return make_clip(tmp_path / name, codec="libx264", seconds=3.0, gop=30, **kw)


# Phones (no B-frames, full range BT.709 tagged in the bitstream only),
# B-frame pyramids, 10-bit 4:2:2, MPEG-TS, and a stream without colour tags.
CASES = {
    "phone.mp4": dict(
        bframes=0,
        pix_fmt="yuvj420p",
        extra_args=("-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709"),
    ),
    "bframes.mov": dict(bframes=3),
    "tenbit422.mkv": dict(pix_fmt="yuv422p10le", bframes=2),
    "camcorder.ts": dict(bframes=2, container="mpegts"),
    "untagged.mp4": dict(bframes=0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_h264_parameters_learnt_at_open_are_ffprobes(tmp_path, name):
    source = _h264(tmp_path, name, **CASES[name])
    theirs = next(s for s in ffprobe(source.path)["streams"] if s["codec_type"] == "video")
    mine = next(s for s in ours(source.path)["streams"] if s["codec_type"] == "video")
    for field in DECODER_FIELDS:
        assert mine.get(field) == theirs.get(field), (field, mine.get(field), theirs.get(field))
    # And the picture's colours follow them: the checkerboard reads back.
    extract_to_dir(source.path, tmp_path / "b")
    rows = load_rows(tmp_path / "b")
    for r in rows:
        index = read_index(decode(tmp_path / "b", r), rect_of(r))
        assert index is not None and abs(source.times_by_index[index] - r["actual_ts_ms"]) <= 1, r


def test_kept_first_picture_equals_a_fresh_decode(tmp_path):
    """The first extraction pictures request 0 with the picture kept at open;
    a second extraction on the same source decodes it again: same bytes."""
    source = _h264(tmp_path, "phone.mp4", bframes=0)
    runs = []
    with _core.Source(str(source.path)) as src:
        for _ in range(2):
            frames = []
            src.extract([0, 1000, 2000], frames.append, workers=1)
            runs.append([(f["actual_us"], f["obtained"], f["frames_decoded"], bytes(f["jpeg"])) for f in frames])
    assert runs[0] == runs[1]
    assert [r[1] for r in runs[0]] == ["keyframe"] * 3 and runs[0][0][0] == 0


def test_first_keyframe_without_a_picture_of_its_own_opens_the_ordinary_way(tmp_path):
    """An intra-refresh stream cut at a recovery point (a camera file that
    starts mid-refresh): its first key packet shows nothing decoded alone.
    It opens all the same, with ffprobe's parameters, and every row pictures
    the frame its time names."""
    source = make_clip(
        tmp_path / "refresh.ts",
        container="mpegts",
        codec="libx264",
        bframes=2,
        seconds=8.0,
        extra_args=("-x264-params", "intra-refresh=1:keyint=60"),
    )
    cut = tmp_path / "cut.ts"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-ss", "3.3", "-i", str(source.path), "-c", "copy", str(cut)],
        check=True,
    )
    theirs = next(s for s in ffprobe(cut)["streams"] if s["codec_type"] == "video")
    mine = next(s for s in ours(cut)["streams"] if s["codec_type"] == "video")
    assert (mine["pix_fmt"], mine["has_b_frames"]) == (theirs["pix_fmt"], theirs["has_b_frames"])
    extract_to_dir(cut, tmp_path / "b")
    rows = load_rows(tmp_path / "b")
    assert rows
    # One offset between the cut's timeline and the source's for every row.
    offsets = set()
    for r in rows:
        index = read_index(decode(tmp_path / "b", r), rect_of(r))
        assert index is not None, r
        offsets.add(round(source.times_by_index[index] - r["actual_ts_ms"]))
    assert max(offsets) - min(offsets) <= 1, offsets
    assert json.loads((tmp_path / "b" / "bundle.json").read_text())["frame_count"] == len(rows)
