"""The fixtures tell the truth: pictures read back as the frame they were drawn
for, and every generated clip decodes (with the ffmpeg CLI, an independent
reader) to exactly the frames, times, sizes and orientation its Clip claims."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess

import numpy as np
import pytest
from fixtures import (
    BLACK,
    DATA_CELLS,
    INDEX_BITS,
    MAX_INDEX,
    _boxes,
    draw_frame,
    flip_bytes,
    frame_at,
    make_audio_only,
    make_clip,
    make_text_file,
    probe,
    read_index,
    truncate,
)
from PIL import Image

# --- pictures ------------------------------------------------------------------

SOME_INDICES = sorted(
    {
        0,
        1,
        MAX_INDEX,
        0b101010101010,
        0b010101010101,
        37,
        150,
        299,
        1000,
        2048,
        *(1 << b for b in range(INDEX_BITS)),
        *(MAX_INDEX ^ (1 << b) for b in range(INDEX_BITS)),
        *np.random.default_rng(1).integers(0, MAX_INDEX + 1, 40).tolist(),
    }
)


def jpeg_round_trip(picture: np.ndarray, size: tuple[int, int], quality: int = 50) -> np.ndarray:
    """Resize with Pillow, save as JPEG (4:2:0 chroma), load again."""
    buffer = io.BytesIO()
    Image.fromarray(picture).resize(size, Image.Resampling.BILINEAR).save(
        buffer, "JPEG", quality=quality, subsampling=2
    )
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


@pytest.mark.parametrize("index", SOME_INDICES)
def test_index_survives_quarter_size_jpeg_q50(index):
    picture = draw_frame(index, 320, 240)
    assert read_index(picture) == index
    assert read_index(jpeg_round_trip(picture, (80, 60))) == index


@pytest.mark.parametrize(
    "size,shown",
    [
        ((321, 243), (80, 61)),  # odd sizes
        ((640, 240), (160, 240)),  # 2:1 squeeze: non-square pixels
        ((240, 320), (60, 240)),  # portrait, stretched tall
        ((1920, 1080), (96, 54)),
    ],
)  # a twentieth
def test_index_survives_stretching_and_odd_sizes(size, shown):
    for index in SOME_INDICES[::7]:
        assert read_index(jpeg_round_trip(draw_frame(index, *size), shown)) == index, index


ORIENTATION_ERRORS = {
    "rot90": lambda a: np.rot90(a, 1),
    "rot180": lambda a: np.rot90(a, 2),
    "rot270": lambda a: np.rot90(a, 3),
    "fliplr": np.fliplr,
    "flipud": np.flipud,
    "transpose": lambda a: a.transpose(1, 0, 2),
    "antitranspose": lambda a: np.rot90(a, 2).transpose(1, 0, 2),
}


@pytest.mark.parametrize("wrong", sorted(ORIENTATION_ERRORS))
def test_turned_or_mirrored_picture_is_rejected(wrong):
    """All 7 wrong orientations of a square's symmetry group, for every index
    tried, even after JPEG: a wrong orientation can never pass as another frame."""
    for index in SOME_INDICES:
        turned = np.ascontiguousarray(ORIENTATION_ERRORS[wrong](draw_frame(index, 320, 240)))
        assert read_index(turned) is None, (wrong, index)
        assert read_index(jpeg_round_trip(turned, (turned.shape[1] // 4, turned.shape[0] // 4))) is None


def test_padding_noise_and_flat_pictures_are_rejected():
    rng = np.random.default_rng(0)
    assert read_index(np.zeros((1080, 1920, 3), np.uint8)) is None  # canvas padding
    assert read_index(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)) is None
    for level in (0, 48, 128, 208, 255):
        assert read_index(np.full((240, 320, 3), level, np.uint8)) is None
    # Padding where a black cell should be (a content rect that is too big) is
    # not a black cell: black cells are BLACK, not 0.
    cleared = MAX_INDEX ^ (1 << (INDEX_BITS - 1 - DATA_CELLS.index((1, 1))))
    for index in (0, cleared):  # cell (1, 1) is black in both
        picture = draw_frame(index, 320, 240)
        assert read_index(picture) == index
        picture[60:120, 80:160] = 0
        assert read_index(picture) is None
    tinted = draw_frame(5, 320, 240).astype(int)
    tinted[..., 0] = np.clip(tinted[..., 0] + 90, 0, 255)  # not grey: not ours
    assert read_index(tinted.astype(np.uint8)) is None


def test_picture_is_never_near_black_so_padding_stays_distinguishable():
    for index in (0, MAX_INDEX, 1234):
        assert draw_frame(index, 321, 243).min() >= BLACK


def test_draw_frame_rejects_bad_arguments():
    for bad in (-1, MAX_INDEX + 1):
        with pytest.raises(ValueError):
            draw_frame(bad, 320, 240)
    with pytest.raises(ValueError):
        draw_frame(0, 3, 240)


def test_read_index_on_a_canvas_with_content_rect(tmp_path):
    """As the tests read extracted frames: a JPEG file, the picture pillarboxed
    on a black 1920x1080 canvas, located by its content rect."""
    rect = (240, 0, 1440, 1080)
    canvas = np.zeros((1080, 1920, 3), np.uint8)
    canvas[:, 240:1680] = np.asarray(Image.fromarray(draw_frame(777, 320, 240)).resize((1440, 1080)))
    path = tmp_path / "frame.jpg"
    Image.fromarray(canvas).save(path, "JPEG", quality=50)
    assert read_index(path, rect) == 777
    # A rect off by a third of the picture lands partly on padding: no answer, not a wrong one.
    assert read_index(path, (0, 0, 1440, 1080)) is None
    with pytest.raises(ValueError):
        read_index(path, (1000, 0, 1440, 1080))


# --- clips ---------------------------------------------------------------------

# name -> (suffix, make_clip arguments). Short clips: the point is coverage of
# codecs, containers and timing features, and the whole file runs in seconds.
CASES = {
    "h264_bframes_mp4": (".mp4", dict(codec="libx264", bframes=3, gop=30, seconds=3.0)),
    "hevc_mp4": (".mp4", dict(codec="libx265", gop=15, seconds=2.0)),
    "hevc_10bit_mp4": (".mp4", dict(codec="libx265", pix_fmt="yuv420p10le", gop=30, seconds=2.0)),
    "h264_444_mp4": (".mp4", dict(codec="libx264", pix_fmt="yuv444p", gop=30, seconds=2.0)),
    "odd_size_444_mp4": (".mp4", dict(codec="libx264", pix_fmt="yuv444p", width=321, height=243, seconds=1.0)),
    "odd_size_mjpeg_avi": (".avi", dict(codec="mjpeg", width=321, height=243, seconds=1.0)),
    "vp9_webm": (".webm", dict(codec="libvpx-vp9", gop=30, seconds=2.0)),
    "av1_aom_mkv": (".mkv", dict(codec="libaom-av1", gop=30, seconds=2.0)),
    "av1_svt_mkv": (".mkv", dict(codec="libsvtav1", gop=30, seconds=2.0)),
    "mpeg2_ts": (".ts", dict(codec="mpeg2video", gop=15, bframes=2, seconds=2.0)),
    "mjpeg_avi": (".avi", dict(codec="mjpeg", seconds=2.0)),
    "rotate90_mp4": (".mp4", dict(rotate=90, gop=30, seconds=1.0)),
    "rotate180_mp4": (".mp4", dict(rotate=180, gop=30, seconds=1.0)),
    "rotate270_mp4": (".mp4", dict(rotate=270, gop=30, seconds=1.0)),
    "sar2_mp4": (".mp4", dict(sar=(2, 1), gop=30, seconds=1.0)),
    # SAR applies first, then rotation: 320x240 coded, 640x240 stretched, 240x640 shown.
    "rotate90_sar2_mp4": (".mp4", dict(rotate=90, sar=(2, 1), seconds=1.0)),
    "start_offset_mp4": (".mp4", dict(start_offset_s=3.0, bframes=2, gop=30, seconds=2.0)),
    "start_offset_ts": (".ts", dict(start_offset_s=3.0, gop=30, seconds=2.0)),
    "vfr_mp4": (".mp4", dict(drop_pattern=lambda n: 10 <= n % 30 <= 20, gop=30, seconds=3.0)),
    "vfr_mkv": (".mkv", dict(drop_pattern=[0, 1, 5, 6, 7, 40, 59], seconds=2.0)),
    "ntsc_rate_mp4": (".mp4", dict(fps="30000/1001", bframes=2, seconds=2.0)),
    "short_mp4": (".mp4", dict(seconds=0.4)),
    "faststart_mp4": (".mp4", dict(gop=30, seconds=2.0, extra_args=("-movflags", "+faststart"))),
}

CODEC_NAME = {
    "libx264": "h264",
    "libx265": "hevc",
    "libvpx-vp9": "vp9",
    "libaom-av1": "av1",
    "libsvtav1": "av1",
    "mpeg2video": "mpeg2video",
    "mjpeg": "mjpeg",
}


@pytest.fixture(scope="session")
def made(clip_cache):
    """name -> Clip, each made once per session."""
    clips = {}

    def get(name):
        if name not in clips:
            suffix, kwargs = CASES[name]
            clips[name] = make_clip(clip_cache / f"{name}{suffix}", **kwargs)
        return clips[name]

    return get


def probed_frames(path) -> list[dict]:
    return probe(path, "frame=pts_time,best_effort_timestamp_time,pict_type,key_frame")["frames"]


def frame_seconds(frame: dict) -> float:
    value = frame.get("pts_time", "N/A")
    return float(frame["best_effort_timestamp_time"] if value == "N/A" else value)


def decode_all(clip, autorotate: bool = True) -> np.ndarray:
    """Every frame as the ffmpeg CLI shows it: autorotated, and (only if
    there are non-square pixels) stretched to the display size."""
    if autorotate:
        size = (clip.display_width, clip.display_height)
    else:
        size = (round(clip.width * (clip.sar[0] / clip.sar[1] if clip.sar else 1)), clip.height)
    vf = ["-vf", f"scale={size[0]}:{size[1]}"] if clip.sar else []
    out = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            *([] if autorotate else ["-noautorotate"]),
            "-i",
            str(clip.path),
            *vf,
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    frame_bytes = size[0] * size[1] * 3
    assert len(out) % frame_bytes == 0, "decoded size is not the display size"
    return np.frombuffer(out, np.uint8).reshape(-1, size[1], size[0], 3)


@pytest.mark.parametrize("name", sorted(CASES))
def test_clip_decodes_to_its_truth(name, made):
    """Frame k of the file pictures index k, looks like draw_frame at the display
    size, and is presented frame_times_ms[k] after the first frame."""
    clip = made(name)
    stream = probe(clip.path, "stream=codec_name,width,height,pix_fmt")["streams"][0]
    assert stream["codec_name"] == CODEC_NAME[clip.codec]
    assert (stream["width"], stream["height"]) == (clip.width, clip.height)
    want_fmt = "yuvj" + clip.pix_fmt[3:] if clip.codec == "mjpeg" else clip.pix_fmt
    assert stream["pix_fmt"] == want_fmt

    frames = decode_all(clip)
    assert len(frames) == clip.frame_count
    for k, picture in enumerate(frames):
        assert read_index(picture) == k, f"{name}: decoded frame {k} reads {read_index(picture)}"
        error = np.abs(picture.astype(int) - draw_frame(k, clip.display_width, clip.display_height)).mean()
        assert error < 4, f"{name}: frame {k} differs from draw_frame by {error:.1f} on average"

    times = [frame_seconds(f) * 1000 for f in probed_frames(clip.path)]
    relative = [t - times[0] for t in times]
    assert len(relative) == clip.frame_count
    worst = max(abs(a - b) for a, b in zip(relative, clip.frame_times_ms))
    assert worst <= 1.0, f"{name}: ffprobe times differ from frame_times_ms by up to {worst:.2f} ms"
    assert clip.times_by_index == dict(enumerate(clip.frame_times_ms))


@pytest.mark.parametrize(
    "name", ["h264_bframes_mp4", "hevc_mp4", "vp9_webm", "av1_aom_mkv", "av1_svt_mkv", "mpeg2_ts", "start_offset_ts"]
)
def test_keyframes_are_exactly_every_gop(name, made):
    clip = made(name)
    keys = [k for k, f in enumerate(probed_frames(clip.path)) if f["key_frame"] == 1]
    expected = list(range(0, clip.frame_count, clip.gop))
    if clip.codec == "mpeg2video" and keys[-1] == clip.frame_count - 1 not in expected:
        keys.pop()  # the MPEG-2 encoder closes the stream with an I-frame
    assert keys == expected


@pytest.mark.parametrize("name", ["h264_bframes_mp4", "mpeg2_ts", "start_offset_mp4"])
def test_b_frames_are_there_when_asked_for(name, made):
    types = "".join(f["pict_type"] for f in probed_frames(made(name).path))
    assert "B" in types, types


def tkhd_matrix(path) -> tuple[float, float, float, float]:
    data = path.read_bytes()

    def find(start, end, trail):
        for kind, s, e in _boxes(data, start, end):
            if kind == trail[0]:
                return s if len(trail) == 1 else find(s, e, trail[1:])

    tkhd = find(0, len(data), ["moov", "trak", "tkhd"])
    offset = tkhd + 4 + (32 if data[tkhd] == 1 else 20) + 16
    a, b, _, c, d = struct.unpack_from(">5i", data, offset)
    return a / 65536, b / 65536, c / 65536, d / 65536


@pytest.mark.parametrize("name,rotate", [("rotate90_mp4", 90), ("rotate180_mp4", 180), ("rotate270_mp4", 270)])
def test_rotation_is_clockwise_as_phones_write_it(name, rotate, made):
    """rotate=N means turn N degrees clockwise to view: the ISO matrix has
    b = sin, c = -sin (an iPhone portrait clip: rotate=90, b=1, c=-1); FFmpeg
    reports its counter-clockwise angle, -N; the stored frames are the picture
    turned N degrees counter-clockwise, so turning them clockwise shows it."""
    clip = made(name)
    theta = np.radians(rotate)
    assert tkhd_matrix(clip.path) == pytest.approx((np.cos(theta), np.sin(theta), -np.sin(theta), np.cos(theta)))
    side = probe(clip.path, "stream_side_data=rotation")["streams"][0]["side_data_list"][0]
    assert (side["rotation"] + rotate) % 360 == 0  # -90 for 90; 270 wraps to +90, 180 to +/-180
    assert (clip.display_width, clip.display_height) == ((240, 320) if rotate != 180 else (320, 240))
    stored = decode_all(clip, autorotate=False)
    for k, picture in enumerate(stored):
        assert read_index(picture) is None, "stored frames must not be upright"
        assert read_index(np.rot90(picture, k=-rotate // 90)) == k  # np.rot90 with k < 0: clockwise


def test_rotation_and_sar_compose_in_the_display_order(made):
    clip = made("rotate90_sar2_mp4")
    assert (clip.display_width, clip.display_height) == (240, 640)
    assert probe(clip.path, "stream=sample_aspect_ratio")["streams"][0]["sample_aspect_ratio"] == "2:1"


def test_non_square_pixels_are_marked_and_pre_squeezed(made):
    clip = made("sar2_mp4")
    assert probe(clip.path, "stream=sample_aspect_ratio")["streams"][0]["sample_aspect_ratio"] == "2:1"
    assert (clip.display_width, clip.display_height) == (640, 240)
    # Shown without the stretch the picture is half as wide as drawn: the
    # 5-pixel border of draw_frame(640x240) is stored about 2.5 pixels wide.
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(clip.path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    first = np.frombuffer(raw, np.uint8).reshape(240, 320, 3)
    squeezed = np.asarray(Image.fromarray(draw_frame(0, 640, 240)).resize((320, 240), Image.Resampling.BOX))
    assert np.abs(first.astype(int) - squeezed).mean() < 6
    assert np.abs(first.astype(int) - draw_frame(0, 320, 240)).mean() > np.abs(first.astype(int) - squeezed).mean()


def test_start_offset_shows_in_the_container_times(made):
    """MP4: the first frame is presented at exactly the offset (an empty edit
    in the edit list). MPEG-TS: the muxer's own 1.4 s comes on top."""
    mp4, ts = made("start_offset_mp4"), made("start_offset_ts")
    assert frame_seconds(probed_frames(mp4.path)[0]) == pytest.approx(3.0, abs=1e-3)
    assert frame_seconds(probed_frames(ts.path)[0]) == pytest.approx(3.0 + 1.4, abs=1e-3)
    assert mp4.frame_times_ms[0] == ts.frame_times_ms[0] == 0


def test_variable_frame_rate_keeps_the_gaps(made):
    clip = made("vfr_mp4")
    kept = [n for n in range(90) if not 10 <= n % 30 <= 20]
    assert clip.grid_positions == kept and clip.frame_count == len(kept)
    times = [frame_seconds(f) * 1000 for f in probed_frames(clip.path)]
    gaps = np.diff(times)
    assert gaps.max() == pytest.approx(12 * 1000 / 30, abs=1)  # frames 9 -> 21: 11 missing
    assert gaps.min() == pytest.approx(1000 / 30, abs=1)
    assert clip.duration_s == pytest.approx(kept[-1] / 30 + 1 / 30)
    # Dropped leading frames: the timeline starts at the first kept frame.
    assert made("vfr_mkv").frame_times_ms[:2] == pytest.approx([0, 1000 / 30])


def test_short_clip_and_non_integer_rate(made):
    short = made("short_mp4")
    assert short.frame_count == 12 and short.duration_s == pytest.approx(0.4)
    ntsc = made("ntsc_rate_mp4")
    assert ntsc.fps == pytest.approx(29.97, abs=0.001) and ntsc.frame_times_ms[1] == pytest.approx(1001 / 30)


def top_level_boxes(path) -> list[str]:
    data = path.read_bytes()
    return [kind for kind, _, _ in _boxes(data, 0, len(data))]


def test_faststart_puts_the_index_first(made):
    """test_errors relies on this: cutting a default MP4 loses its index (moov
    at the end); a +faststart one keeps it."""
    fast, plain = top_level_boxes(made("faststart_mp4").path), top_level_boxes(made("h264_bframes_mp4").path)
    assert fast.index("moov") < fast.index("mdat")
    assert plain.index("moov") > plain.index("mdat")


def test_frame_at(made):
    clip = made("vfr_mp4")
    assert frame_at(clip, 0) == 0
    assert frame_at(clip, 1000 / 30 * 9) == 9
    assert frame_at(clip, 1000 / 30 * 21 + 0.9) == 10  # grid frame 21 is the 11th kept
    for between in (1000 / 30 * 15, 50.0, 1e6):
        with pytest.raises(ValueError):
            frame_at(clip, between)


def test_make_clip_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(ValueError):
        make_clip(tmp_path / "x.webm", codec="libvpx-vp9", rotate=90)
    with pytest.raises(ValueError):
        make_clip(tmp_path / "x.unknown")
    with pytest.raises(ValueError):
        make_clip(tmp_path / "x.mkv", codec="libvpx-vp9", bframes=2)
    with pytest.raises(RuntimeError):
        make_clip(tmp_path / "x.mp4", codec="libx264", width=321, height=243)  # 4:2:0 needs even sizes
    assert not list(tmp_path.iterdir()), "a failed encode must leave nothing behind"


# --- bad inputs ----------------------------------------------------------------


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_audio_only_file_has_no_video(tmp_path):
    path = make_audio_only(tmp_path / "voice.m4a")
    kinds = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "json", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert [s["codec_type"] for s in kinds["streams"]] == ["audio"]


def test_text_file_is_not_media(tmp_path):
    path = make_text_file(tmp_path / "notes.mp4")
    assert path.stat().st_size > 100
    assert subprocess.run(["ffprobe", "-v", "error", str(path)], capture_output=True).returncode != 0


def test_truncate_copies_a_prefix_and_leaves_the_original(made, tmp_path):
    source = made("faststart_mp4").path
    before = sha256(source)
    cut = truncate(source, tmp_path / "cut.mp4", 0.5)
    data = source.read_bytes()
    assert cut.read_bytes() == data[: len(data) // 2]
    assert sha256(source) == before


def test_flip_bytes_damages_exactly_a_burst_reproducibly(made, tmp_path):
    source = made("faststart_mp4").path
    before = sha256(source)
    data = source.read_bytes()
    one = flip_bytes(source, tmp_path / "a.mp4", 0.3, 64, seed=7).read_bytes()
    two = flip_bytes(source, tmp_path / "b.mp4", 0.3, 64, seed=7).read_bytes()
    other = flip_bytes(source, tmp_path / "c.mp4", 0.3, 64, seed=8).read_bytes()
    assert one == two != other and len(one) == len(data)
    changed = [i for i in range(len(data)) if one[i] != data[i]]
    start = int(len(data) * 0.3)
    assert changed == list(range(start, start + 64))
    assert sha256(source) == before
