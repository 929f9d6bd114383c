"""Contain-fit on the canvas: rotation, non-square pixels, odd sizes, black bars."""

import pytest
from truth import assert_true_to_source, decode, rect_of

from lifelog_compression import extract_to_dir
from lifelog_compression._core import Source


def fitted(display_w, display_h, canvas=(1920, 1080)):
    scale = min(canvas[0] / display_w, canvas[1] / display_h)
    return round(display_w * scale / 2) * 2, round(display_h * scale / 2) * 2


@pytest.mark.parametrize("name,rotation", [("rotate90_mp4", 90), ("rotate180_mp4", 180), ("rotate270_mp4", 270)])
def test_rotation_from_the_display_matrix(name, rotation, clip, tmp_path):
    source = clip(name)
    with Source(str(source.path)) as src:
        info = src.info
    assert info["rotation_degrees"] == rotation
    assert (info["display_width"], info["display_height"]) == (source.display_width, source.display_height)
    extract_to_dir(source.path, tmp_path / "b")
    # read_index rejects a picture turned or mirrored the wrong way.
    rows = assert_true_to_source(tmp_path / "b", source)
    w, h = fitted(source.display_width, source.display_height)
    assert all((r["content_rect_width"], r["content_rect_height"]) == (w, h) for r in rows)


def test_non_square_pixels_are_stretched(clip, tmp_path):
    source = clip("sar2_mp4")  # 320x240 stored, pixels twice as wide: 640x240 shown
    with Source(str(source.path)) as src:
        assert src.info["display_width"] == 2 * src.info["coded_width"]
    extract_to_dir(source.path, tmp_path / "b")
    rows = assert_true_to_source(tmp_path / "b", source)
    assert rect_of(rows[0]) == (0, 180, 1920, 720)


def test_odd_sizes_and_black_bars(clip, tmp_path):
    source = clip("odd_size_mp4")  # 321x243
    extract_to_dir(source.path, tmp_path / "b")
    rows = assert_true_to_source(tmp_path / "b", source)
    x, y, w, h = rect_of(rows[0])
    assert (w, h) == fitted(321, 243) and w % 2 == 0 and h % 2 == 0
    assert x == (1920 - w) // 2 // 2 * 2 and y == 0
    pixels = decode(tmp_path / "b", rows[0])
    left_bar, right_bar = pixels[:, : x - 2], pixels[:, x + w + 2 :]
    for bar in (left_bar, right_bar):
        assert bar.max() <= 16 and bar.mean() < 2, "padding must be black"
    assert pixels[:, x + 4 : x + w - 4].mean() > 30, "the picture must not be black"


def test_four_by_three_is_pillarboxed(clip, tmp_path):
    source = clip("hevc_mp4")  # 320x240
    extract_to_dir(source.path, tmp_path / "b")
    rows = assert_true_to_source(tmp_path / "b", source)
    assert rect_of(rows[0]) == (240, 0, 1440, 1080)


@pytest.mark.parametrize(
    "recipe",
    [dict(chroma_subsampling="4:4:4"), dict(scale_filter="lanczos"), dict(scale_filter="area", jpeg_quality=60)],
)
def test_recipe_variants_keep_geometry_and_truth(recipe, clip, tmp_path):
    from lifelog_compression import Recipe

    source = clip("rotate90_mp4")
    extract_to_dir(source.path, tmp_path / "b", recipe=Recipe(**recipe))
    rows = assert_true_to_source(tmp_path / "b", source)
    pixels = decode(tmp_path / "b", rows[0])
    x, y, w, h = rect_of(rows[0])
    assert pixels[:, : x - 2].max() <= 16 and pixels[:, x + w + 2 :].max() <= 16
