"""source-probe.json reads like ffprobe's JSON: for every field both write,
the same name, type and value as `ffprobe -show_format -show_streams
-show_chapters -of json` on the same file."""

import json
import subprocess

import pytest

from lifelog_compression import _core

pytestmark = pytest.mark.skipif(_core.backend != "ffmpeg", reason="the AVFoundation probe has its own vocabulary")

# What ffprobe writes and source-probe.json does not (README "source-probe.json"):
# values ffprobe takes from an opened decoder, hex dumps, and codec-private details.
NOT_WRITTEN = {"refs", "closed_captions", "film_grain", "is_avc", "nal_length_size", "displaymatrix", "initial_padding"}
# Present in both whenever ffprobe has them: the ones tools use most.
MUST_MATCH = {
    "codec_name",
    "codec_long_name",
    "codec_type",
    "codec_tag_string",
    "codec_tag",
    "width",
    "height",
    "coded_width",
    "coded_height",
    "level",
    "pix_fmt",
    "field_order",
    "r_frame_rate",
    "avg_frame_rate",
    "time_base",
    "start_time",
    "duration",
    "bit_rate",
    "nb_frames",
    "sample_aspect_ratio",
    "display_aspect_ratio",
    "color_space",
    "color_transfer",
    "color_primaries",
    "color_range",
    "disposition",
    "tags",
    "side_data_list",
    "profile",
    "has_b_frames",
    "sample_rate",
    "channels",
    "channel_layout",
    "sample_fmt",
}


def ffprobe(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def ours(path):
    with _core.Source(str(path)) as src:
        return json.loads(src.probe_json())


def compare(theirs, mine, where):
    """Every field in both: equal, same type. Returns the names ffprobe has and we lack."""
    missing = set()
    for key, value in theirs.items():
        if key not in mine:
            missing.add(key)
            continue
        if key == "side_data_list":
            for a, b in zip(value, mine[key], strict=True):
                compare({k: v for k, v in a.items() if k != "displaymatrix"}, b, f"{where}.{key}")
            continue
        if key in ("coded_width", "coded_height") and value == 0:
            # ffprobe asks a decoder it opened, which some (MPEG-2) fill in
            # only once a frame is decoded; ours is the stream's coded size.
            assert mine[key] == mine[key.replace("coded_", "")]
            continue
        assert type(mine[key]) is type(value) and mine[key] == value, (where, key, value, mine[key])
    return missing


@pytest.mark.parametrize(
    "name",
    [
        "h264_bframes_mp4",
        "hevc_10bit_mp4",
        "vp9_webm",
        "mpeg2_ts",
        "mjpeg_avi",
        "rotate90_mp4",
        "sar2_mp4",
        "start_offset_ts",
        "interlaced_mts",
        "prores_mov",
        "av1_mkv",
    ],
)
def test_shared_fields_equal_ffprobe(clip, name):
    path = clip(name).path
    theirs, mine = ffprobe(path), ours(path)
    missing = compare({k: v for k, v in theirs["format"].items() if k != "filename"}, mine["format"], "format")
    assert mine["format"]["filename"] == path.name
    assert len(mine["streams"]) == len(theirs["streams"])
    for a, b in zip(theirs["streams"], mine["streams"]):
        missing |= compare(a, b, f"stream {a['index']}")
        assert MUST_MATCH & a.keys() <= b.keys(), MUST_MATCH & a.keys() - b.keys()
    assert len(mine["chapters"]) == len(theirs["chapters"])
    for a, b in zip(theirs["chapters"], mine["chapters"]):
        missing |= compare(a, b, "chapter")
    assert missing <= NOT_WRITTEN, f"undocumented difference: {missing - NOT_WRITTEN}"


def test_rotation_is_ffprobes(clip):
    theirs, mine = ffprobe(clip("rotate90_mp4").path), ours(clip("rotate90_mp4").path)
    side = mine["streams"][0]["side_data_list"]
    assert side == [{"side_data_type": "Display Matrix", "rotation": -90}]
    assert side[0]["rotation"] == theirs["streams"][0]["side_data_list"][0]["rotation"]


def test_audio_and_chapters(tmp_path):
    """Audio fields and chapters, from a file made for them."""
    meta = tmp_path / "chapters.txt"
    meta.write_text(
        ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1500\ntitle=one\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1500\nEND=3000\ntitle=two\n"
    )
    path = tmp_path / "a.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-i",
            str(meta),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-map_metadata",
            "2",
            "-map_chapters",
            "2",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            "-ac",
            "2",
            str(path),
        ],
        check=True,
    )
    theirs, mine = ffprobe(path), ours(path)
    assert [c["tags"]["title"] for c in mine["chapters"]] == ["one", "two"]
    assert mine["chapters"][1]["start_time"] == "1.500000"
    missing = set()
    for a, b in zip(theirs["streams"], mine["streams"], strict=True):
        missing |= compare(a, b, f"stream {a['index']}")
    for a, b in zip(theirs["chapters"], mine["chapters"], strict=True):
        missing |= compare(a, b, "chapter")
    assert missing <= NOT_WRITTEN
    audio = mine["streams"][1]
    assert (audio["sample_rate"], audio["channels"], audio["channel_layout"]) == ("44100", 2, "stereo")
