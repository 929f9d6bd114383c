"""The planner decodes only what is needed, and nothing twice."""

import pytest
from truth import load_rows

from lifelog_compression import _core, extract_to_dir

# The planner is the FFmpeg backend's; AVFoundation's generator plans for itself.
pytestmark = pytest.mark.skipif(_core.backend != "ffmpeg", reason="planner statistics exist on the FFmpeg backend only")


# Keyframes every 0.5 s (hevc, mpeg2) or 1 s (vp9, av1) or every frame (mjpeg);
# found in the MP4 index, the Matroska cues, the AVI index, or by a packet scan (TS).
@pytest.mark.parametrize("name", ["hevc_mp4", "mpeg2_ts", "vp9_webm", "av1_mkv", "mjpeg_avi", "start_offset_ts"])
def test_keyframe_in_every_window_decodes_one_frame_per_request(name, clip, tmp_path):
    source = clip(name)
    extract_to_dir(source.path, tmp_path / "b")
    rows = load_rows(tmp_path / "b")
    assert all(r["obtained"] == "keyframe" for r in rows), [r["obtained"] for r in rows]
    assert all(r["frames_decoded"] == 1 for r in rows)


def test_long_gop_is_decoded_forward_once(clip, tmp_path):
    source = clip("long_gop_mp4")  # one keyframe in 10 s at 30 fps
    result = extract_to_dir(source.path, tmp_path / "b")
    rows = load_rows(tmp_path / "b")
    assert rows[0]["obtained"] == "keyframe"
    assert all(r["obtained"] == "decoded_forward" for r in rows[1:])
    # Never more frames through the decoder than the clip has: no GOP twice.
    assert result.frames_decoded <= len(source.frame_times_ms)


def test_workers_do_not_change_the_result(clip, tmp_path):
    source = clip("h264_bframes_mp4")
    one = extract_to_dir(source.path, tmp_path / "one", workers=1)
    two = extract_to_dir(source.path, tmp_path / "two", workers=2)
    strip = lambda rows: [(r["requested_ts_ms"], r["actual_ts_ms"], r["content_hash"]) for r in rows]
    assert one.frame_count == two.frame_count
    assert strip(load_rows(tmp_path / "one")) == strip(load_rows(tmp_path / "two"))


def _rows_true_to(source, bundle, offset_ms=0.0):
    """Every JPEG read back: the frame it pictures is the one actual_ts_ms names."""
    from fixtures import read_index
    from truth import decode, rect_of

    rows = load_rows(bundle)
    for row in rows:
        index = read_index(decode(bundle, row), rect_of(row))
        assert index in source.times_by_index, row
        assert abs(source.times_by_index[index] - offset_ms - row["actual_ts_ms"]) <= 1, (row, index)
        assert abs(row["actual_ts_ms"] - row["requested_ts_ms"]) <= 500, row
    return rows


def test_keyframe_on_a_shared_window_edge_serves_neither_request(tmp_path):
    """A keyframe at exactly 2.5 s lies on the edge of the windows of 2 s and
    3 s (variable frame rate, as torchcodec's var_fps_video.mp4 at 12.5 s):
    the rows must picture 2.0 s and 3.0 s, not 2.5 s and 2.533 s."""
    from fixtures import make_clip

    # 30 fps grid with frames 50-55 and 80-85 missing; keyframes at 0 and 2.5 s.
    source = make_clip(
        tmp_path / "vfr.mp4",
        codec="libx264",
        gop=600,
        seconds=4.0,
        drop_pattern=[*range(50, 56), *range(80, 86)],
        extra_args=("-force_key_frames", "0,2.5"),
    )
    assert any(abs(t - 2500) < 1 for t in source.frame_times_ms)
    extract_to_dir(source.path, tmp_path / "b")
    rows = _rows_true_to(source, tmp_path / "b")
    actual = {r["requested_ts_ms"]: r["actual_ts_ms"] for r in rows}
    assert actual[2000] == 2000 and actual[3000] == 3000, actual
    assert all(b - a >= 500 for a, b in zip(sorted(actual.values()), sorted(actual.values())[1:])), actual


def test_trimmed_phone_clip_decodes_from_its_hidden_keyframe(tmp_path):
    """`ffmpeg -ss 2.3 -c copy` on a clip with sound (a phone's trim): the edit
    list hides the GOP's keyframe at 2.0 s; the shown frames up to the next
    keyframe (1.7 s) depend on it."""
    import subprocess

    from fixtures import make_clip

    quiet = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    source = make_clip(tmp_path / "video.mp4", codec="libx264", gop=60, bframes=3, seconds=8.0)
    phone = tmp_path / "phone.mp4"
    subprocess.run(
        [
            *quiet,
            "-i",
            str(source.path),
            "-f",
            "lavfi",
            "-i",
            "sine",
            "-t",
            "8",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            str(phone),
        ],
        check=True,
    )
    trimmed = tmp_path / "trimmed.mp4"
    subprocess.run([*quiet, "-ss", "2.3", "-i", str(phone), "-c", "copy", str(trimmed)], check=True)
    for workers in (1, 2):
        result = extract_to_dir(trimmed, tmp_path / f"b{workers}", workers=workers)
        rows = _rows_true_to(source, tmp_path / f"b{workers}", offset_ms=2300)
        assert [r["requested_ts_ms"] for r in rows] == [i * 1000 for i in range(6)]
        assert rows[0]["actual_ts_ms"] == 0 and result.missing_requests_ms == []


def test_intra_refresh_recovery_points_decode_from_an_earlier_point(tmp_path):
    """x264 intra refresh: one IDR, then recovery points the MP4 marks as sync
    samples; decoding from one shows nothing until the refresh has swept the
    picture. Every request still gets its nearest frame, and nothing is
    called truncated."""
    from fixtures import make_clip

    source = make_clip(
        tmp_path / "refresh.mp4",
        codec="libx264",
        bframes=3,
        seconds=12.5,
        extra_args=("-x264-params", "intra-refresh=1:keyint=150"),
    )
    for workers in (1, 2):
        result = extract_to_dir(source.path, tmp_path / f"b{workers}", workers=workers)
        rows = _rows_true_to(source, tmp_path / f"b{workers}")
        assert [r["requested_ts_ms"] for r in rows] == [i * 1000 for i in range(13)], workers
        assert result.missing_requests_ms == [] and not any("truncated" in n for n in result.notes)
        # Its recovery points' pictures are predicted ones, but they are no lie.
        assert not any("index lied" in n for n in result.notes), result.notes
        # The nearest frame (30 fps), not the first one the refresh lets through.
        for r in rows:
            assert abs(r["actual_ts_ms"] - r["requested_ts_ms"]) <= 17, r


@pytest.mark.parametrize("shape", ["mts", "mkv_without_cues"])
def test_index_less_files_split_across_workers_with_identical_rows(shape, tmp_path):
    """MPEG-TS (.MTS) and Matroska without cues have no index: keyframes come
    from a packet scan that records byte positions, workers jump there, and
    any number of workers gives the same rows."""
    import subprocess

    from fixtures import make_clip

    if shape == "mts":
        source = make_clip(tmp_path / "clip.mts", container="mpegts", codec="libx264", gop=45, bframes=2, seconds=8.0)
        path = source.path
    else:
        source = make_clip(tmp_path / "clip.mkv", codec="libx264", gop=45, bframes=2, seconds=8.0)
        path = tmp_path / "nocues.mkv"
        with open(path, "wb") as out:  # written to a pipe: the muxer cannot go back to add cues
            subprocess.run(
                [
                    "ffmpeg",
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-i",
                    str(source.path),
                    "-c",
                    "copy",
                    "-f",
                    "matroska",
                    "-",
                ],
                stdout=out,
                check=True,
            )
    runs = {}
    for workers in (1, 2, 3, 5):
        result = extract_to_dir(path, tmp_path / f"b{workers}", workers=workers)
        rows = _rows_true_to(source, tmp_path / f"b{workers}")
        assert [r["requested_ts_ms"] for r in rows] == [i * 1000 for i in range(8)]
        assert result.frames_decoded <= len(source.frame_times_ms)
        runs[workers] = [(r["requested_ts_ms"], r["actual_ts_ms"], r["content_hash"]) for r in rows]
    assert runs[2] == runs[1] and runs[3] == runs[1] and runs[5] == runs[1]
    from lifelog_compression import load_bundle_metadata

    assert load_bundle_metadata(tmp_path / "b2").sampling["planner"] == "packet scan"


def test_one_chunk_gives_the_same_rows_for_any_thread_budget(clip, tmp_path):
    """One long GOP is one chunk, for one worker whatever the budget (its
    decoder runs one thread: test_determinism); rows stay identical."""
    source = clip("long_gop_mp4")
    one = extract_to_dir(source.path, tmp_path / "one", workers=1)
    four = extract_to_dir(source.path, tmp_path / "four", workers=4)
    strip = lambda rows: [(r["requested_ts_ms"], r["actual_ts_ms"], r["content_hash"]) for r in rows]
    assert strip(_rows_true_to(source, tmp_path / "four")) == strip(load_rows(tmp_path / "one"))
    # The same work, never a GOP more.
    assert one.frames_decoded <= four.frames_decoded <= one.frames_decoded + 4 * len(load_rows(tmp_path / "one"))


def _true_frames(path, width: int, height: int):
    """Every frame as ffmpeg decodes it from the start (RGB arrays)."""
    import subprocess

    import numpy as np

    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, height, width, 3)


def _psnr_db(bundle, row, truth) -> float:
    """The row's picture, brought back to the source's size, against the true frame."""
    import numpy as np
    from PIL import Image
    from truth import decode, rect_of

    x, y, w, h = rect_of(row)
    picture = Image.fromarray(decode(bundle, row)[y : y + h, x : x + w]).resize(
        truth.shape[1::-1], Image.Resampling.BOX
    )
    error = np.mean((np.asarray(picture, np.float64) - truth.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / max(error, 1e-9))


@pytest.mark.parametrize(
    "codec, suffix, size, fps, seconds, every",
    [
        ("h263", ".3gp", (176, 144), 15, 15.0, 50),  # a 2004 phone: every 50th sample marked
        ("h263", ".3gp", (176, 144), 15, 15.0, None),  # no sync sample table: every sample a sync sample
        ("libx264", ".mp4", (320, 240), 30, 10.0, 50),  # H.264's parser knows better than the index
        ("libx264", ".mp4", (320, 240), 30, 10.0, None),
    ],
)
def test_sync_samples_on_predicted_pictures_are_not_start_points(tmp_path, codec, suffix, size, fps, seconds, every):
    """An index that calls P-frames keyframes (old phones' muxers, some
    remuxers; or no stss box, which makes every sample a sync sample): such a
    "keyframe" decoded alone shows a picture predicted from nothing, and so
    does everything decoded on from it. Every row must picture its true frame
    (as a decode from the start shows it), decoding from the real keyframe
    before, and bundle.json says the index lied."""
    from fixtures import make_clip, rewrite_sync_samples, sync_samples

    source = make_clip(
        tmp_path / f"clip{suffix}",
        codec=codec,
        container="3gp" if suffix == ".3gp" else None,
        width=size[0],
        height=size[1],
        fps=fps,
        seconds=seconds,
        gop=250,
    )
    assert sync_samples(source.path) in ([1], [1, 251])
    lying = rewrite_sync_samples(source.path, tmp_path / f"lying{suffix}", every)
    truth = _true_frames(source.path, *size)
    runs = {}
    for workers in (1, 2):
        bundle = tmp_path / f"b{workers}"
        result = extract_to_dir(lying, bundle, workers=workers)
        rows = _rows_true_to(source, bundle)
        assert [r["requested_ts_ms"] for r in rows] == [i * 1000 for i in range(int(seconds))]
        for row in rows:
            frame = round(row["actual_ts_ms"] * fps / 1000)
            assert _psnr_db(bundle, row, truth[frame]) > 25, row
        assert result.missing_requests_ms == []
        lied = [n for n in result.notes if n.startswith("the source's index lied")]
        assert len(lied) == 1, result.notes
        if every:
            assert lied[0].startswith("the source's index lied: 4 of the pictures"), lied
        # One pass for one worker, not a pass from the start for every false keyframe.
        assert result.frames_decoded <= workers * 1.2 * len(source.frame_times_ms), result.frames_decoded
        runs[workers] = [(r["requested_ts_ms"], r["actual_ts_ms"], r["content_hash"]) for r in rows]
    assert runs[2] == runs[1]


@pytest.mark.skipif(_core.backend != "ffmpeg", reason="FFmpeg's H.264 decoder drops the tail")
def test_an_open_gops_tail_is_decoded_from_the_keyframe_before(tmp_path):
    """x264 with open GOPs, a keyframe every 3 frames, 2 B-frames, one frame
    a second: the last GOP's P-frame is shown after B-frames that lean on the
    GOP before, and FFmpeg's H.264 decoder started at the last keyframe drops
    it at the flush. Every frame the file has gets its row, from the right
    picture."""
    from fixtures import frame_at, make_clip, read_index

    clip = make_clip(
        tmp_path / "open-gop.mp4",
        fps=1,
        seconds=12.0,
        gop=3,
        bframes=2,
        extra_args=("-x264-params", "open-gop=1:b-pyramid=0:b-adapt=0"),
    )
    result = extract_to_dir(clip.path, tmp_path / "bundle")
    rows = load_rows(tmp_path / "bundle")
    assert result.missing_requests_ms == [], result.notes
    assert [r["actual_ts_ms"] for r in rows] == [i * 1000 for i in range(12)]
    for row in rows:
        rect = tuple(row[f"content_rect_{k}"] for k in ("x", "y", "width", "height"))
        assert read_index(tmp_path / "bundle" / row["frame_relpath"], rect) == frame_at(clip, row["actual_ts_ms"])
