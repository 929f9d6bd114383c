"""Interlaced video: field-coded H.264 (PAFF, as interlaced AVCHD writes it),
MBAFF H.264 and interlaced MPEG-2 extract, each row a whole frame pictured
from one field (no combing), and bundle.json says the source is interlaced."""

import subprocess
from dataclasses import replace

import pytest
from fixtures import make_clip
from paff import make_paff_clip
from truth import assert_true_to_source

from lifelog_compression import _core, extract_to_dir, load_bundle_metadata

FFMPEG_ONLY = pytest.mark.skipif(_core.backend != "ffmpeg", reason="the FFmpeg backend's deinterlacing")


def _interlaced_note(notes: list[str]) -> str:
    said = [n for n in notes if n.startswith("the source is interlaced")]
    assert len(said) == 1, notes
    return said[0]


@FFMPEG_ONLY
@pytest.mark.parametrize("frames, bottom_first", [(12, False), (12, True), (60, False)])
def test_field_coded_h264_extracts_whole_frames(frames, bottom_first, tmp_path):
    """A 0.48 s PAFF .MTS whose only keyframe carries the only SPS (as a Sony
    A7M3's 1080i clip): its parameters are read from the top, not from where
    decoding the first keyframe left the demuxer (it was refused as having no
    picture size), and its first field alone is no picture."""
    source = make_paff_clip(tmp_path / "clip.mts", frames=frames, bottom_first=bottom_first)
    result = extract_to_dir(source.path, tmp_path / "b")
    rows = assert_true_to_source(tmp_path / "b", source)
    assert [r["requested_ts_ms"] for r in rows] == [i * 1000 for i in range(-(-frames // 25))]
    assert [r["actual_ts_ms"] for r in rows] == [r["requested_ts_ms"] for r in rows]
    order = "bottom field first" if bottom_first else "top field first"
    assert order in _interlaced_note(result.notes)
    assert load_bundle_metadata(tmp_path / "b").source_video["field_order"] == ("bb" if bottom_first else "tt")


def _moving_interlaced(tmp_path, codec_args: list[str], suffix: str, container: str):
    """50 pictures a second woven into 25 interlaced frames: frame j's top
    field is picture 2j, its bottom field picture 2j+1 (a different index, so
    a combed frame reads as neither)."""
    progressive = make_clip(
        tmp_path / "p50.mkv", codec="libx264", fps=50, seconds=4.0, width=320, height=256, extra_args=("-crf", "10")
    )
    woven = tmp_path / f"woven{suffix}"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(progressive.path),
            "-vf",
            "tinterlace=mode=interleave_top",
            "-r",
            "25",
            *codec_args,
            "-f",
            container,
            str(woven),
        ],
        check=True,
    )
    times = {2 * j: j * 40.0 for j in range(100)}
    return replace(progressive, path=woven, times_by_index=times, frame_times_ms=sorted(times.values()), fps=25)


@FFMPEG_ONLY
@pytest.mark.parametrize("kind", ["mbaff_h264", "mpeg2"])
def test_interlaced_frames_are_pictured_from_one_field(kind, tmp_path):
    args = {
        "mbaff_h264": [
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "10",
            "-flags",
            "+ildct+ilme",
            "-x264-params",
            "interlaced=1:tff=1",
        ],
        "mpeg2": ["-c:v", "mpeg2video", "-q:v", "2", "-flags", "+ildct+ilme", "-top", "1"],
    }[kind]
    source = _moving_interlaced(tmp_path, args, ".mts" if kind == "mbaff_h264" else ".ts", "mpegts")
    result = extract_to_dir(source.path, tmp_path / "b")
    # Every row reads as its frame's top-field picture: a frame shown with both
    # fields mixes two indexes line by line and reads as neither.
    rows = assert_true_to_source(tmp_path / "b", source)
    assert len(rows) == 4
    assert "4 of 4 frame(s)" in _interlaced_note(result.notes)


@FFMPEG_ONLY
def test_progressive_video_is_not_deinterlaced(clip, tmp_path):
    result = extract_to_dir(clip("h264_bframes_mp4").path, tmp_path / "b")
    assert not any(n.startswith("the source is interlaced") for n in result.notes)
    assert load_bundle_metadata(tmp_path / "b").source_video["field_order"] in ("progressive", None)
