"""Colour: the source's matrix, range and bit depth are honoured, so a flat
colour comes out as the same sRGB colour from every kind of source."""

import subprocess

import numpy as np
import pytest
from truth import decode, load_rows, rect_of

from lifelog_compression import extract_to_dir

TARGET = (200, 60, 30)


def flat_clip(path, size, pix_fmt, matrix, codec="libx264", extra=()):
    """A clip of one flat sRGB colour, converted by the ffmpeg CLI with an
    explicit matrix and range, and tagged with them."""
    r, g, b = TARGET
    colour = f"0x{r:02X}{g:02X}{b:02X}"
    full = pix_fmt.startswith("yuvj")
    vf = f"scale=out_color_matrix={matrix}:out_range={'full' if full else 'limited'},format={pix_fmt}"
    tags = ["-colorspace", {"bt709": "bt709", "bt601": "smpte170m"}[matrix], "-color_range", "pc" if full else "tv"]
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"color=c={colour}:size={size}:rate=10",
            "-t",
            "1",
            "-vf",
            vf,
            *tags,
            "-c:v",
            codec,
            *extra,
            str(path),
        ],
        check=True,
    )
    return path


CASES = {
    "bt709_limited_hd": ("1280x720", "yuv420p", "bt709", "libx264", ()),
    "bt601_limited_sd": ("640x480", "yuv420p", "bt601", "libx264", ()),
    "bt601_full_mjpeg": ("640x480", "yuvj420p", "bt601", "mjpeg", ("-q:v", "2")),
    "bt709_10bit_hevc": ("1280x720", "yuv420p10le", "bt709", "libx265", ("-x265-params", "log-level=error")),
    # Same matrix in and out: FFmpeg 5.1's swscale skips range expansion for
    # >8-bit input and for unscaled input (the picture fills the canvas).
    "bt601_10bit_sd_hevc": ("640x480", "yuv420p10le", "bt601", "libx265", ("-x265-params", "log-level=error")),
    "bt601_limited_unscaled_1080p": ("1920x1080", "yuv420p", "bt601", "libx264", ("-preset", "ultrafast")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_flat_colour_survives(case, tmp_path):
    size, pix_fmt, matrix, codec, extra = CASES[case]
    suffix = ".avi" if codec == "mjpeg" else ".mp4"
    clip = flat_clip(tmp_path / f"flat{suffix}", size, pix_fmt, matrix, codec, extra)
    extract_to_dir(clip, tmp_path / "b")
    row = load_rows(tmp_path / "b")[0]
    x, y, w, h = rect_of(row)
    centre = decode(tmp_path / "b", row)[y + h // 4 : y + 3 * h // 4, x + w // 4 : x + 3 * w // 4]
    mean = centre.reshape(-1, 3).mean(axis=0)
    assert np.abs(mean - np.array(TARGET)).max() <= 8, f"{case}: got {mean.round(1)}, want {TARGET}"


def test_hdr_source_is_noted(tmp_path):
    clip = tmp_path / "hlg.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=10",
            "-t",
            "1",
            "-c:v",
            "libx265",
            "-pix_fmt",
            "yuv420p10le",
            "-x265-params",
            "log-level=error:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc",
            "-color_primaries",
            "bt2020",
            "-color_trc",
            "arib-std-b67",
            "-colorspace",
            "bt2020nc",
            str(clip),
        ],
        check=True,
    )
    result = extract_to_dir(clip, tmp_path / "b")
    assert any("HLG" in n and "tone mapped" in n for n in result.notes), result.notes
    assert not any("flat" in n for n in result.notes), result.notes
    from lifelog_compression import load_bundle_metadata

    assert load_bundle_metadata(tmp_path / "b").source_video["color_transfer"] == "arib-std-b67"


@pytest.mark.parametrize(
    "pix_fmt, tag, want",
    [
        ("gray", "pc", (0, 50, 255)),  # full range, as lossless codecs store grey
        ("gray10le", "pc", (0, 50, 255)),
        ("gray", "tv", (0, 40, 255)),  # the same samples tagged limited: 50 -> (50-16)*255/219
    ],
)
def test_grey_sources_keep_their_range(tmp_path, pix_fmt, tag, want):
    """Grey pictures (FFV1, monochrome cameras) come out at their own levels:
    swscale takes grey for full range whatever the tag, and converting to the
    canvas's YCbCr squeezed full-range grey into 16..235 (a washed-out frame)."""
    path = tmp_path / "grey.mkv"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=white:s=160x120:r=10:d=1,drawbox=x=0:y=0:w=60:h=120:color=black:t=fill,"
            "drawbox=x=60:y=0:w=40:h=120:color=0x323232:t=fill",
            "-color_range",
            tag,
            "-c:v",
            "ffv1",
            "-pix_fmt",
            pix_fmt,
            str(path),
        ],
        check=True,
    )
    extract_to_dir(path, tmp_path / "b")
    row = load_rows(tmp_path / "b")[0]
    x, y, w, h = rect_of(row)
    grey = decode(tmp_path / "b", row)[y + h // 4 : y + 3 * h // 4, x : x + w].mean(axis=2)
    # Middles of the black (0-60), dark (60-100) and white (100-160) bands.
    got = tuple(round(float(grey[:, int(w * c / 160) - 8 : int(w * c / 160) + 8].mean())) for c in (30, 80, 130))
    assert all(abs(g - v) <= 2 for g, v in zip(got, want)), f"{pix_fmt} {tag}: got {got}, want {want}"
