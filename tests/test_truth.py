"""Every codec and container: each JPEG pictures the frame its manifest names."""

import math

import pytest

from lifelog_compression import _core, extract_to_dir, load_bundle_metadata
from truth import assert_true_to_source, nearest_frame_ms

CLIPS = ["h264_bframes_mp4", "hevc_mp4", "vp9_webm", "av1_mkv", "mpeg2_ts", "mjpeg_avi", "hevc_10bit_mp4",
         "h264_444_mp4", "odd_size_mp4", "start_offset_mp4", "start_offset_ts", "vfr_mp4", "long_gop_mp4"]


@pytest.mark.parametrize("name", CLIPS)
def test_frames_picture_their_actual_time(name, clip, tmp_path):
    source = clip(name)
    result = extract_to_dir(source.path, tmp_path / "bundle")
    rows = assert_true_to_source(tmp_path / "bundle", source)
    # One request per second of video, none lost on a healthy file.
    expected_requests = max(1, math.ceil(source.duration_s - 1e-6))
    assert [r["requested_ts_ms"] for r in rows] == [i * 1000 for i in range(expected_requests)]
    assert result.frame_count == len(rows) == load_bundle_metadata(tmp_path / "bundle").frame_count
    assert result.missing_requests_ms == []


@pytest.mark.skipif(_core.backend != "ffmpeg", reason="'obtained' is the FFmpeg planner's record")
@pytest.mark.parametrize("name", ["h264_bframes_mp4", "long_gop_mp4", "vfr_mp4"])
def test_decoded_forward_frames_are_the_nearest(name, clip, tmp_path):
    """Where no keyframe is in the window, the frame nearest the request is pictured."""
    source = clip(name)
    extract_to_dir(source.path, tmp_path / "b")
    rows = assert_true_to_source(tmp_path / "b", source)
    forward = [r for r in rows if r["obtained"] == "decoded_forward"]
    assert forward, "this clip should need forward decoding"
    for r in forward:
        assert abs(r["actual_ts_ms"] - nearest_frame_ms(source, r["requested_ts_ms"])) <= 1.0, r


def test_start_offset_is_recorded_and_timeline_starts_at_zero(clip, tmp_path):
    source = clip("start_offset_mp4")
    extract_to_dir(source.path, tmp_path / "b")
    meta = load_bundle_metadata(tmp_path / "b")
    assert meta.sampling["source_start_offset_ms"] == pytest.approx(3000, abs=50)
    rows = assert_true_to_source(tmp_path / "b", source)
    assert rows[0]["actual_ts_ms"] == 0


def test_clip_shorter_than_one_interval_gives_one_frame(clip, tmp_path):
    source = clip("short_mp4")
    result = extract_to_dir(source.path, tmp_path / "b")
    rows = assert_true_to_source(tmp_path / "b", source)
    assert result.frame_count == 1 and rows[0]["requested_ts_ms"] == 0
