"""Every codec and container: each JPEG pictures the frame its manifest names."""

import math

import pytest
from fixtures import read_index
from truth import assert_true_to_source, decode, load_rows, nearest_frame_ms, rect_of

from lifelog_compression import _core, extract_to_dir, load_bundle_metadata

CLIPS = [
    "h264_bframes_mp4",
    "hevc_mp4",
    "vp9_webm",
    "av1_mkv",
    "mpeg2_ts",
    "mjpeg_avi",
    "hevc_10bit_mp4",
    "h264_444_mp4",
    "odd_size_mp4",
    "start_offset_mp4",
    "start_offset_ts",
    "vfr_mp4",
    "long_gop_mp4",
    "prores_mov",
    "interlaced_mts",
    "hevc444_mkv",
]


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


def test_edit_list_trimmed_without_reencoding(clip, tmp_path):
    """A phone's "trim" keeps the GOP and hides its start with an edit list:
    the timeline starts at the first shown frame, not at the keyframe."""
    import subprocess

    from fixtures import make_clip

    source = make_clip(tmp_path / "long.mp4", codec="libx264", gop=30, bframes=2, seconds=4.0)
    trimmed = tmp_path / "trimmed.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-ss",
            "0.5",
            "-i",
            str(source.path),
            "-c",
            "copy",
            str(trimmed),
        ],
        check=True,
    )
    extract_to_dir(trimmed, tmp_path / "b")
    from fixtures import read_index
    from truth import decode, load_rows, rect_of

    rows = load_rows(tmp_path / "b")
    assert [r["requested_ts_ms"] for r in rows] == [0, 1000, 2000, 3000]
    for row in rows:
        index = read_index(decode(tmp_path / "b", row), rect_of(row))
        # Trimmed timeline = original time - 500 ms.
        assert abs(source.times_by_index[index] - 500 - row["actual_ts_ms"]) <= 1, (row, index)
        assert abs(row["actual_ts_ms"] - row["requested_ts_ms"]) <= 500
    assert rows[0]["actual_ts_ms"] == 0


def test_audio_and_cover_art_are_not_the_video(clip, tmp_path):
    """Cover art (a large still marked attached_pic) and audio beside the video:
    the recording is still the stream that is read."""
    import subprocess

    source = clip("hevc_mp4")
    cover = tmp_path / "cover.png"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:size=1000x1000",
            "-frames:v",
            "1",
            str(cover),
        ],
        check=True,
    )
    muxed = tmp_path / "with-extras.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(cover),
            "-i",
            str(source.path),
            "-f",
            "lavfi",
            "-t",
            "5",
            "-i",
            "sine=frequency=440",
            "-map",
            "0",
            "-map",
            "1:v",
            "-map",
            "2:a",
            "-c:v:0",
            "png",
            "-c:v:1",
            "copy",
            "-c:a",
            "aac",
            "-disposition:v:0",
            "attached_pic",
            str(muxed),
        ],
        check=True,
    )
    result = extract_to_dir(muxed, tmp_path / "b")
    assert result.frame_count == 5
    assert_true_to_source(tmp_path / "b", source)
    assert load_bundle_metadata(tmp_path / "b").source_video["has_audio"] is True


def _start_time_s(path) -> float:
    import subprocess

    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "quiet",
            "-select_streams",
            "v",
            "-show_entries",
            "stream=start_time",
            "-of",
            "default=nw=1:nk=1",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.split()[0])


def test_file_split_mid_gop_keeps_its_own_timeline(tmp_path):
    """A camcorder's .MTS split by size: the second part starts mid-GOP. 0 stays
    the stream's first presentation time, although those frames cannot be
    decoded; rows stay aligned, and the notes say how long the lead is."""
    from fixtures import make_clip

    source = make_clip(tmp_path / "cam.mts", container="mpegts", codec="libx264", gop=90, bframes=2, seconds=8.0)
    data = source.path.read_bytes()
    split = tmp_path / "split.mts"
    split.write_bytes(data[(len(data) * 3 // 10) // 188 * 188 :])  # whole TS packets, as a card splits
    offset_ms = (_start_time_s(split) - _start_time_s(source.path)) * 1000
    result = extract_to_dir(split, tmp_path / "b")
    rows = load_rows(tmp_path / "b")
    for row in rows:
        index = read_index(decode(tmp_path / "b", row), rect_of(row))
        assert abs(source.times_by_index[index] - offset_ms - row["actual_ts_ms"]) <= 1, (row, index)
    first = rows[0]["actual_ts_ms"]
    assert 0 < first <= 3000 and rows[0]["requested_ts_ms"] > 0
    assert result.missing_requests_ms == [t for t in range(0, rows[0]["requested_ts_ms"], 1000)]
    assert any(f"first {first} ms cannot be decoded" in n for n in result.notes), result.notes
    assert not any("truncated" in n or "gaps" in n for n in result.notes), result.notes


def _video_packets(path) -> list[tuple[float, int, bool]]:
    """(pts in s, byte position, key flag) of every video packet, by ffprobe."""
    import subprocess

    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "quiet",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=pts_time,pos,flags",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    packets = []
    for line in out.stdout.split():
        pts, pos, flags = line.split(",")[:3]
        packets.append((float(pts), int(pos), "K" in flags))
    return packets


@pytest.mark.parametrize("idr_after_ms", [120, 280, 440])
def test_first_keyframe_of_a_split_file_is_pictured_when_a_window_holds_it(idr_after_ms, tmp_path):
    """A .MTS split by size inside a GOP: its first packets decode to nothing,
    and its first decodable keyframe lies within the first request's window
    (here 120-440 ms after the stream's first presentation time). That
    keyframe is pictured for request 0, although the start point the scan
    records at the file's first packet (t = 0, nearer the request) gives
    nothing."""
    from fixtures import make_clip

    source = make_clip(
        tmp_path / "cam.mts", container="mpegts", codec="libx264", gop=25, bframes=2, fps=25, seconds=6.0
    )
    packets = _video_packets(source.path)
    second_idr = [p for p in packets if p[2]][1]

    # Timeline 0 is the split's first presentation time: the smallest time
    # among its packets (a B-frame after the cut may be shown before the
    # packet the cut starts at). Cut where the IDR comes idr_after_ms after it.
    def zero_of(cut: int) -> float:
        return min(p[0] for p in packets if p[1] >= cut)

    before = [p for p in packets if p[1] < second_idr[1]]
    cut = min(before, key=lambda p: abs((second_idr[0] - zero_of(p[1])) * 1000 - idr_after_ms))
    split = tmp_path / "split.mts"
    split.write_bytes(source.path.read_bytes()[cut[1] :])
    idr_ms = round((second_idr[0] - zero_of(cut[1])) * 1000)
    assert 0 < idr_ms <= 500, idr_ms
    offset_ms = (zero_of(cut[1]) - zero_of(0)) * 1000
    result = extract_to_dir(split, tmp_path / "b")
    rows = load_rows(tmp_path / "b")
    assert rows[0]["requested_ts_ms"] == 0 and rows[0]["actual_ts_ms"] == idr_ms, rows[0]
    assert result.missing_requests_ms == [] and result.notes == [], result.notes
    for row in rows:
        index = read_index(decode(tmp_path / "b", row), rect_of(row))
        assert abs(source.times_by_index[index] - offset_ms - row["actual_ts_ms"]) <= 1, (row, index)


@pytest.mark.skipif(_core.backend != "ffmpeg", reason="AVFoundation does not read raw elementary streams")
@pytest.mark.parametrize("codec, suffix, container", [("libx264", ".h264", "h264"), ("libx265", ".hevc", "hevc")])
def test_raw_annex_b_stream_is_timed_by_frame_order(codec, suffix, container, tmp_path):
    """A DVR's or dashcam's .h264/.hevc has no container: it is extracted with
    times from its frame rate and frame order, not rejected as damaged."""
    from fixtures import make_clip

    source = make_clip(
        tmp_path / f"cam{suffix}",
        container=container,
        codec=codec,
        gop=45,
        bframes=3 if codec == "libx264" else None,
        fps=25,
        seconds=6.0,
    )
    for workers in (1, 2):
        result = extract_to_dir(source.path, tmp_path / f"b{workers}", workers=workers)
        rows = assert_true_to_source(tmp_path / f"b{workers}", source)
        assert [r["requested_ts_ms"] for r in rows] == [i * 1000 for i in range(6)]
        assert [r["actual_ts_ms"] for r in rows] == [i * 1000 for i in range(6)]
        assert any("raw" in n and "25 fps" in n for n in result.notes), result.notes


def test_video_starting_after_the_audio_in_matroska(tmp_path):
    """Matroska has no per-stream start: a video that starts 3 s after its
    audio (a recorder that begins with sound) starts the timeline at its own
    first frame, with nothing to note, not at the file's start with three
    "undecodable" seconds."""
    import subprocess

    from fixtures import make_clip

    source = make_clip(tmp_path / "video.mkv", codec="libx264", gop=30, seconds=4.0)
    late = tmp_path / "late.mkv"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-itsoffset",
            "3",
            "-i",
            str(source.path),
            "-f",
            "lavfi",
            "-i",
            "sine=duration=7",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "copy",
            "-c:a",
            "flac",
            str(late),
        ],
        check=True,
    )
    result = extract_to_dir(late, tmp_path / "b")
    meta = load_bundle_metadata(tmp_path / "b")
    assert meta.sampling["source_start_offset_ms"] == pytest.approx(3000, abs=50)
    assert result.notes == [] and result.missing_requests_ms == []
    rows = load_rows(tmp_path / "b")
    assert [r["requested_ts_ms"] for r in rows] == [0, 1000, 2000, 3000]
    for row in rows:
        index = read_index(decode(tmp_path / "b", row), rect_of(row))
        assert abs(source.times_by_index[index] - row["actual_ts_ms"]) <= 1, (row, index)
