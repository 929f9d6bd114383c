"""sheet: a contact sheet shows every frame, in order, at the documented
layout, and is written beside the bundle, never into it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from fixtures import read_index
from PIL import Image
from truth import load_rows, rect_of

from lifelog_compression import extract_to_dir
from lifelog_compression.cli import main
from lifelog_compression.errors import OutputError
from lifelog_compression.sheet import format_ms, make_contact_sheet, sheet_layout


@pytest.fixture(scope="module")
def bundle(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("sheet") / "walk"
    extract_to_dir(clip("h264_bframes_mp4").path, out)  # 6 frames, 0..5 s
    return out


def files_of(folder):
    return sorted((p.relative_to(folder), p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_sheet_shows_every_frame_in_order(bundle, tmp_path):
    before = files_of(bundle)
    out = make_contact_sheet(bundle, tmp_path / "sheet.png", columns=4, thumb_width=320)
    assert files_of(bundle) == before, "the bundle must not change"
    sheet = Image.open(out).convert("RGB")
    # 4 columns of 320 px with 8 px margins; 2 rows of 180 px thumbnails
    # (16:9 like the canvas) + 16 px label + 8 px gap, under a 24 + 8 px header.
    assert sheet.size == (8 + 4 * 328, 32 + 2 * 204) == sheet_layout(6, columns=4, thumb_width=320).size
    layout = sheet_layout(6, columns=4, thumb_width=320)
    pixels = np.asarray(sheet).astype(np.float64)
    rows = load_rows(bundle)
    for i, row in enumerate(rows):
        left, top, right, bottom = layout.thumb_box(i)
        thumb = pixels[top:bottom, left:right]
        frame = Image.open(bundle / row["frame_relpath"]).convert("RGB")
        expected = np.asarray(frame.resize((320, 180), Image.Resampling.LANCZOS)).astype(np.float64)
        assert np.abs(thumb - expected).mean() < 3.0, f"thumbnail {i} does not match {row['frame_relpath']}"
        # The picture in the thumbnail says which source frame it is: the same as the full frame.
        x, y, w, h = (round(v / 6) for v in rect_of(row))
        assert read_index(thumb.astype(np.uint8), (x, y, w, h)) == read_index(np.asarray(frame), rect_of(row))
        # Something (the time) is written under every thumbnail.
        label = pixels[bottom : bottom + 16, left:right]
        assert label.max() > 150, f"no label under thumbnail {i}"
    # The cells past the last frame stay empty.
    left, top, right, bottom = layout.thumb_box(6)
    assert np.ptp(pixels[top:bottom, left:right]) < 8


def test_default_path_is_beside_the_bundle_and_never_overwritten(bundle):
    expected = bundle.parent / "walk-contact-sheet.jpg"
    expected.unlink(missing_ok=True)
    before = files_of(bundle)
    assert make_contact_sheet(bundle) == expected
    assert files_of(bundle) == before
    assert Image.open(expected).format == "JPEG"
    stamp = expected.stat().st_mtime_ns
    with pytest.raises(OutputError):
        make_contact_sheet(bundle)
    assert expected.stat().st_mtime_ns == stamp
    assert make_contact_sheet(bundle, overwrite=True) == expected
    expected.unlink()


def test_damaged_frame_is_drawn_as_such(bundle, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(bundle, damaged)
    (damaged / "frames/00000002.jpg").write_bytes(b"not a jpeg")
    out = make_contact_sheet(damaged, tmp_path / "s.png", columns=3, thumb_width=192)
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(np.float64)
    left, top, right, bottom = sheet_layout(6, columns=3, thumb_width=192).thumb_box(1)
    centre = pixels[top + 20 : bottom - 20, left + 20 : left + 60]
    assert np.abs(centre - 90).max() < 10  # the grey placeholder, not a picture


def test_cli(bundle, tmp_path, capsys):
    out = tmp_path / "cli.jpg"
    assert main(["sheet", str(bundle), str(out), "--columns", "3"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert Image.open(out).size == sheet_layout(6, columns=3).size
    assert main(["sheet", str(bundle), str(out)]) == 12  # exists
    assert main(["sheet", str(bundle), str(out), "--overwrite"]) == 0
    assert main(["sheet", str(tmp_path), str(tmp_path / "x.jpg")]) == 13  # not a bundle


def test_format_ms():
    assert format_ms(0) == "0:00.000"
    assert format_ms(83_456) == "1:23.456"
    assert format_ms(3_723_004) == "1:02:03.004"


def test_sizes_that_would_not_fit_in_memory_are_refused(bundle, tmp_path):
    """--thumb-width 100000 asked for 24 GB and met the kernel's OOM killer."""
    from lifelog_compression.cli import main
    from lifelog_compression.errors import UsageError

    with pytest.raises(UsageError):
        make_contact_sheet(bundle, tmp_path / "big.jpg", thumb_width=100000)
    with pytest.raises(UsageError):
        make_contact_sheet(bundle, tmp_path / "wide.jpg", columns=1000)
    with pytest.raises(SystemExit) as usage:
        main(["sheet", str(bundle), str(tmp_path / "x.jpg"), "--thumb-width", "100000"])
    assert usage.value.code == 2
    assert not (tmp_path / "big.jpg").exists() and not (tmp_path / "x.jpg").exists()


def test_the_sheet_never_goes_into_the_bundle(bundle):
    from lifelog_compression.errors import OutputError

    with pytest.raises(OutputError, match="inside the bundle"):
        make_contact_sheet(bundle, bundle / "inside.jpg")
    assert not (bundle / "inside.jpg").exists()
