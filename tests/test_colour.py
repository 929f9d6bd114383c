"""Colour: the source's matrix, range and bit depth are honoured, so a flat
colour comes out as the same sRGB colour from every kind of source."""

import subprocess

import numpy as np
import pytest

from lifelog_compression import extract_to_dir
from truth import decode, load_rows, rect_of

TARGET = (200, 60, 30)


def flat_clip(path, size, pix_fmt, matrix, codec="libx264", extra=()):
    """A clip of one flat sRGB colour, converted by the ffmpeg CLI with an
    explicit matrix and range, and tagged with them."""
    r, g, b = TARGET
    colour = f"0x{r:02X}{g:02X}{b:02X}"
    full = pix_fmt.startswith("yuvj")
    vf = f"scale=out_color_matrix={matrix}:out_range={'full' if full else 'limited'},format={pix_fmt}"
    tags = ["-colorspace", {"bt709": "bt709", "bt601": "smpte170m"}[matrix],
            "-color_range", "pc" if full else "tv"]
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c={colour}:size={size}:rate=10", "-t", "1", "-vf", vf, *tags, "-c:v", codec,
                    *extra, str(path)], check=True)
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
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=10",
                    "-t", "1", "-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params",
                    "log-level=error:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc",
                    "-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc",
                    str(clip)], check=True)
    result = extract_to_dir(clip, tmp_path / "b")
    assert any("HLG" in n and "tone mapped" in n for n in result.notes), result.notes
    assert not any("flat" in n for n in result.notes), result.notes
    from lifelog_compression import load_bundle_metadata

    assert load_bundle_metadata(tmp_path / "b").source_video["color_transfer"] == "arib-std-b67"
