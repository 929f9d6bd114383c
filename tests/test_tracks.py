"""The video track that is the recording: a file with several video tracks
(a motion photo's still beside its recording, a preview, cover art) is
extracted from the one that moves longest, and bundle.json says what was
passed over (csrc/tracks.h; the rules alone: tests/c/test_tracks.c)."""

import subprocess

import pytest
from fixtures import make_clip
from truth import assert_true_to_source

from lifelog_compression import _core, extract_to_dir, load_bundle_metadata

pytestmark = pytest.mark.skipif(_core.backend != "ffmpeg", reason="the FFmpeg backend's track choice")


def _ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)


@pytest.mark.parametrize("still_first", [True, False])
def test_motion_photo_is_extracted_from_its_recording_not_its_still(still_first, tmp_path):
    """A Pixel motion photo: a 2.1 s recording and a one-frame still of four
    times its size, both marked default. Three rows from the recording; the
    still is listed as passed over; no note claims the file is cut short."""
    moving = make_clip(tmp_path / "moving.mp4", codec="libx265", width=320, height=240, fps=27.6, seconds=2.1, gop=30)
    still = tmp_path / "still.mp4"
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x480:rate=1",
        "-frames:v",
        "1",
        "-c:v",
        "libx265",
        "-x265-params",
        "log-level=none",
        still,
    )
    inputs = [still, moving.path] if still_first else [moving.path, still]
    photo = tmp_path / "PXL_20261207_motion.mp4"
    _ffmpeg(
        "-i",
        inputs[0],
        "-i",
        inputs[1],
        "-map",
        "0:v",
        "-map",
        "1:v",
        "-c",
        "copy",
        "-disposition:v:0",
        "default",
        "-disposition:v:1",
        "default",
        photo,
    )
    result = extract_to_dir(photo, tmp_path / "b")
    rows = assert_true_to_source(tmp_path / "b", moving)
    assert [r["requested_ts_ms"] for r in rows] == [0, 1000, 2000]
    assert result.notes == [], result.notes
    assert all((r["source_width"], r["source_height"]) == (320, 240) for r in rows)
    video = load_bundle_metadata(tmp_path / "b").source_video
    assert video["video_stream_index"] == (1 if still_first else 0)
    passed = video["video_tracks_passed_over"]
    assert [(t["index"], t["width"], t["frames"], t["why"]) for t in passed] == [
        (0 if still_first else 1, 640, 1, "a still picture (one frame)")
    ]


def test_longer_recording_wins_over_a_larger_shorter_track(tmp_path):
    """Two moving tracks: a 4 s recording and a 1.5 s larger clip marked
    default; the longer is the recording."""
    long = make_clip(tmp_path / "long.mp4", width=320, height=240, seconds=4.0, gop=30)
    short = make_clip(tmp_path / "short.mp4", width=640, height=480, seconds=1.5, gop=30)
    both = tmp_path / "both.mp4"
    _ffmpeg(
        "-i",
        short.path,
        "-i",
        long.path,
        "-map",
        "0:v",
        "-map",
        "1:v",
        "-c",
        "copy",
        "-disposition:v:0",
        "default",
        "-disposition:v:1",
        "0",
        both,
    )
    extract_to_dir(both, tmp_path / "b")
    rows = assert_true_to_source(tmp_path / "b", long)
    assert len(rows) == 4
    video = load_bundle_metadata(tmp_path / "b").source_video
    assert [t["why"] for t in video["video_tracks_passed_over"]] == ["shorter"]
