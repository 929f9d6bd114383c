"""validate: a true bundle passes with plausible figures; a damaged one fails
for the right reason. The metrics are checked against closed forms and a naive
implementation."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from lifelog_compression import extract_to_dir
from lifelog_compression.cli import main
from lifelog_compression.validate import (
    COLOUR,
    CORRUPT,
    EXIT_VALIDATION_FAILED,
    GEOMETRY,
    HASH,
    MISSING,
    PICTURE,
    PSNR_CAP_DB,
    TIME,
    colour_error,
    fit_contain,
    psnr,
    ssim,
    validate_bundle,
)

CLIP = "h264_bframes_mp4"  # B-frames, 3 s GOP: frames are decoded forward, not just keyframes


@pytest.fixture(scope="module")
def made(clip, tmp_path_factory):
    source = clip(CLIP)
    bundle = tmp_path_factory.mktemp("validate") / "bundle"
    extract_to_dir(source.path, bundle)
    return source, bundle


@pytest.fixture
def copy(made, tmp_path):
    """A private copy of the good bundle, to damage."""
    source, bundle = made
    dest = tmp_path / "bundle"
    shutil.copytree(bundle, dest)
    return source, dest


def rows_of(bundle):
    return [json.loads(line) for line in (bundle / "manifest.jsonl").read_text().splitlines()]


def write_rows(bundle, rows):
    (bundle / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def sha(path):
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def reasons(report):
    return {f.frame_relpath: {x.reason for x in f.failures} for f in report.frames if f.failures}


# --- metrics -------------------------------------------------------------------


def test_psnr_closed_form():
    a = np.full((40, 50), 100.0)
    assert psnr(a, a + 5) == pytest.approx(10 * np.log10(255**2 / 25))
    assert psnr(a, a) == PSNR_CAP_DB


def naive_ssim(x, y):
    """Straight from the paper: every 11 x 11 window, Gaussian weights."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            a, b = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            ma, mb = (w * a).sum(), (w * b).sum()
            va, vb = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum()
            cov = (w * (a - ma) * (b - mb)).sum()
            values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


def test_ssim_matches_the_definition():
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 255, (24, 31))
    y = np.clip(x + rng.normal(0, 20, x.shape), 0, 255)
    assert ssim(x, y) == pytest.approx(naive_ssim(x, y), abs=1e-9)
    assert ssim(x, x) == pytest.approx(1.0)
    # Flat images: only the luminance term is left.
    c1 = (0.01 * 255) ** 2
    assert ssim(np.full((20, 20), 100.0), np.full((20, 20), 120.0)) == pytest.approx(
        (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1)
    )


def test_colour_error_is_the_mean_shift_of_block_means():
    rng = np.random.default_rng(1)
    a = rng.uniform(20, 200, (64, 96, 3))
    assert colour_error(a, a + 4.0) == pytest.approx(4.0)
    # Detail that averages out within a block is not a colour error.
    checker = np.indices((64, 96)).sum(axis=0) % 2 * 20.0 - 10.0
    assert colour_error(a, a + checker[:, :, None]) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    "display, rect",
    [
        ((2704, 2028), (240, 0, 1440, 1080)),  # 4:3 camera: pillarboxed
        ((640, 240), (0, 180, 1920, 720)),  # 320x240 with 2:1 pixels: letterboxed
        ((240, 320), (554, 0, 810, 1080)),  # portrait: (1920 - 810) / 2 = 555, made even
        ((1920, 1080), (0, 0, 1920, 1080)),
    ],
)
def test_fit_contain(display, rect):
    assert fit_contain(*display, 1920, 1080) == rect


# --- bundles -------------------------------------------------------------------


def test_true_bundle_passes(made):
    source, bundle = made
    report = validate_bundle(source.path, bundle)
    assert report.ok, reasons(report)
    assert len(report.frames) == report.frames_total == len(rows_of(bundle)) == 6
    assert 30 < report.psnr_y.min <= report.psnr_y.mean <= report.psnr_y.max < PSNR_CAP_DB
    assert 30 < report.psnr_rgb.min
    assert 0.9 < report.ssim_y.min <= report.ssim_y.max <= 1.0
    assert report.colour_error.max < 2.0
    # The time check really ran: every frame has a later neighbour that differs.
    for frame in report.frames:
        assert frame.psnr_y_next is not None and frame.psnr_y_next < frame.psnr_y - 10


@pytest.mark.parametrize("name", ["rotate90_mp4", "sar2_mp4", "start_offset_ts", "vfr_mp4", "mjpeg_avi"])
def test_true_bundles_of_awkward_sources_pass(clip, tmp_path, name):
    """Rotation, non-square pixels, a TS start offset, gaps in time, full-range
    JPEG video: the independent reading agrees with the core's."""
    source = clip(name)
    extract_to_dir(source.path, tmp_path / "b")
    report = validate_bundle(source.path, tmp_path / "b", limit=2)
    assert report.ok, reasons(report)
    assert report.psnr_y.min > 30 and report.ssim_y.min > 0.9


def test_edit_list_trim_and_cover_art(tmp_path):
    """A trim that hides the GOP's start with an edit list (the timeline starts
    at the first shown frame, packets before it are marked for discard), with
    a cover-art still beside the recording."""
    from fixtures import make_clip

    source = make_clip(tmp_path / "long.mp4", codec="libx264", gop=30, bframes=2, seconds=3.0)
    cover = tmp_path / "cover.png"
    Image.new("RGB", (600, 600), (200, 0, 0)).save(cover)
    trimmed = tmp_path / "trimmed.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(cover),
            "-ss",
            "0.5",
            "-i",
            str(source.path),
            "-map",
            "0",
            "-map",
            "1:v",
            "-c:v:0",
            "png",
            "-c:v:1",
            "copy",
            "-disposition:v:0",
            "attached_pic",
            str(trimmed),
        ],
        check=True,
    )
    extract_to_dir(trimmed, tmp_path / "b")
    report = validate_bundle(trimmed, tmp_path / "b")
    assert report.ok, reasons(report)
    assert report.frames[0].actual_ts_ms == 0 and report.psnr_y.min > 30


def test_cover_art_listed_first_is_not_the_recording(made, monkeypatch):
    """Some files list an attached picture before the recording; MP4 as
    ffmpeg writes it never does, so the probe answer is doctored here."""
    from lifelog_compression.validate import SourceReference

    real = SourceReference._ffprobe

    def cover_first(self, *args):
        doc = real(self, *args)
        if "streams" in doc and not any("-select_streams" == a for a in args):
            doc["streams"].insert(
                0, {"index": 7, "codec_type": "video", "width": 600, "height": 600, "disposition": {"attached_pic": 1}}
            )
        return doc

    monkeypatch.setattr(SourceReference, "_ffprobe", cover_first)
    source, bundle = made
    reference = SourceReference(source.path)
    assert reference.stream_index == 0
    assert (reference.geometry.coded_width, reference.geometry.coded_height) == (source.width, source.height)


def test_actual_time_outside_the_window_fails(copy):
    source, bundle = copy
    rows = rows_of(bundle)
    rows[1]["requested_ts_ms"] -= 600  # the picture is right, the request it answers is not
    write_rows(bundle, rows)
    report = validate_bundle(source.path, bundle, limit=2)
    assert reasons(report) == {rows[1]["frame_relpath"]: {TIME}}
    assert "outside the window" in report.frames[1].failures[0].message


def test_reference_is_the_true_source_frame(made):
    """The independent reading, on the canvas, pictures the very frame the
    fixture drew for that time, in the content rect, with black padding."""
    from fixtures import frame_at, read_index

    from lifelog_compression.validate import SourceReference

    source, bundle = made
    reference = SourceReference(source.path)
    assert reference.times_ms() == pytest.approx(source.frame_times_ms, abs=0.01)
    for row in rows_of(bundle)[:3]:
        rect = (row["content_rect_x"], row["content_rect_y"], row["content_rect_width"], row["content_rect_height"])
        canvas = reference.canvas(reference.frame_near(row["actual_ts_ms"]), rect)
        x, y, w, h = rect
        assert canvas[:, :x].max() == 0 and canvas[:, x + w :].max() == 0
        assert read_index(np.round(canvas).astype(np.uint8), rect) == frame_at(source, row["actual_ts_ms"])


def swap_frames(bundle, a, b):
    """Exchanges two frame files (the manifest keeps its rows)."""
    pa, pb = bundle / a, bundle / b
    da, db = pa.read_bytes(), pb.read_bytes()
    pa.write_bytes(db)
    pb.write_bytes(da)


def test_swapped_frames_fail_the_hash(copy):
    source, bundle = copy
    swap_frames(bundle, "frames/00000002.jpg", "frames/00000004.jpg")
    report = validate_bundle(source.path, bundle, limit=4)
    got = reasons(report)
    assert set(got) == {"frames/00000002.jpg", "frames/00000004.jpg"}
    assert all(HASH in r and PICTURE in r for r in got.values())


def test_swapped_frames_with_matching_hashes_fail_the_picture(copy):
    source, bundle = copy
    swap_frames(bundle, "frames/00000002.jpg", "frames/00000004.jpg")
    rows = rows_of(bundle)
    for row in rows:
        row["content_hash"] = sha(bundle / row["frame_relpath"])
    write_rows(bundle, rows)
    report = validate_bundle(source.path, bundle, limit=4)
    assert reasons(report) == {"frames/00000002.jpg": {PICTURE}, "frames/00000004.jpg": {PICTURE}}


def test_truncated_frame_is_corrupt(copy):
    source, bundle = copy
    frame = bundle / "frames/00000003.jpg"
    frame.write_bytes(frame.read_bytes()[: frame.stat().st_size // 2])
    report = validate_bundle(source.path, bundle, limit=3)
    assert reasons(report) == {"frames/00000003.jpg": {HASH, CORRUPT}}


def test_missing_frame(copy):
    source, bundle = copy
    (bundle / "frames/00000002.jpg").unlink()
    report = validate_bundle(source.path, bundle, limit=3)
    assert reasons(report) == {"frames/00000002.jpg": {MISSING}}


def test_retimed_frame_fails_the_time_check(copy):
    """actual_ts_ms moved to the next source frame's time: the file and its
    hash are untouched, so only the time is wrong, and the picture matches
    the frame before the claimed one better."""
    source, bundle = copy
    rows = rows_of(bundle)
    row = rows[2]
    later = min(t for t in source.frame_times_ms if t > row["actual_ts_ms"] + 1)
    row["actual_ts_ms"] = round(later)
    write_rows(bundle, rows)
    report = validate_bundle(source.path, bundle, limit=3)
    assert reasons(report) == {row["frame_relpath"]: {TIME}}
    bad = report.frames[2]
    assert bad.psnr_y_previous > bad.psnr_y
    assert "before" in bad.failures[0].message


def test_time_between_frames_fails(copy):
    source, bundle = copy
    rows = rows_of(bundle)
    rows[1]["actual_ts_ms"] += 15  # half-way to the next frame at 30 fps: no frame there
    write_rows(bundle, rows)
    report = validate_bundle(source.path, bundle, limit=2)
    assert reasons(report) == {rows[1]["frame_relpath"]: {TIME}}
    assert "no source frame" in report.frames[1].failures[0].message


def test_wrong_content_rect_fails_geometry(copy):
    source, bundle = copy
    rows = rows_of(bundle)
    rows[0]["content_rect_width"] += 2
    write_rows(bundle, rows)
    report = validate_bundle(source.path, bundle, limit=1)
    assert reasons(report) == {rows[0]["frame_relpath"]: {GEOMETRY}}


def test_range_mixup_fails_colour(copy):
    """The right picture squeezed into limited range (what a decoder that
    ignores the range tag shows): still recognisable, wrong colours."""
    source, bundle = copy
    rows = rows_of(bundle)
    frame = bundle / rows[0]["frame_relpath"]
    rgb = np.asarray(Image.open(frame).convert("RGB")).astype(np.float64)
    Image.fromarray(np.round(16 + rgb * 219 / 255).astype(np.uint8)).save(frame, quality=95)
    rows[0]["content_hash"] = sha(frame)
    write_rows(bundle, rows)
    report = validate_bundle(source.path, bundle, limit=1)
    assert reasons(report) == {rows[0]["frame_relpath"]: {COLOUR}}


def test_untagged_hd_is_read_as_bt709(tmp_path):
    """Untagged HD video is BT.709 to the core (and to every HD camera); the
    ffmpeg CLI's own default would be BT.601. A saturated colour tells them
    apart by 10+ levels, so a reference on ffmpeg's default fails COLOUR."""
    clip = tmp_path / "untagged709.mp4"
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
            "color=c=0xC83C1E:size=1280x720:rate=10",
            "-t",
            "1",
            "-vf",
            "scale=out_color_matrix=bt709:out_range=limited,format=yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(clip),
        ],
        check=True,
    )
    extract_to_dir(clip, tmp_path / "b")
    report = validate_bundle(clip, tmp_path / "b", limit=1)
    assert report.ok, reasons(report)
    assert report.colour_error.max < 1.5


def test_10bit_sd_bundle_passes(clip, tmp_path):
    source = clip("hevc_10bit_mp4")
    extract_to_dir(source.path, tmp_path / "b")
    report = validate_bundle(source.path, tmp_path / "b", limit=1)
    assert report.ok, reasons(report)


def test_cli_exit_codes_and_json(copy, capsys):
    source, bundle = copy
    assert main(["validate", str(source.path), str(bundle), "--limit", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["frames_checked"] == 2 and report["frames_total"] == 6
    (bundle / "frames/00000001.jpg").unlink()
    assert main(["validate", str(source.path), str(bundle), "--limit", "1"]) == EXIT_VALIDATION_FAILED == 14
    out = capsys.readouterr().out
    assert "FAIL missing: frames/00000001.jpg" in out
    assert main(["validate", str(source.path), str(bundle.parent)]) == 13  # not a bundle
    assert main(["validate", str(bundle / "nope.mp4"), str(bundle)]) == 3  # no video


# --- sources and bundles the first version misjudged ------------------------


def test_lost_manifest_rows_fail_the_count(copy):
    """A manifest cut short (three of six rows kept) is a damaged bundle,
    even though every row left is true."""
    source, bundle = copy
    write_rows(bundle, rows_of(bundle)[:3])
    report = validate_bundle(source.path, bundle)
    assert not report.ok and [p.reason for p in report.problems] == ["count"]
    assert "holds 3 rows" in report.problems[0].message and "frame_count 6" in report.problems[0].message
    assert main(["validate", str(source.path), str(bundle)]) == EXIT_VALIDATION_FAILED


def test_program_stream_stamping_only_some_packets(tmp_path):
    """MPEG-2 in an MPEG program stream (.mpg, .vob: DVD camcorders) stamps
    only some packets with a presentation time; the decoder's times are the
    timeline, and a true bundle passes."""
    from fixtures import make_clip

    source = make_clip(tmp_path / "clip.ts", codec="mpeg2video", gop=12, bframes=2, seconds=4.0)
    mpg = tmp_path / "clip.mpg"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(source.path), "-c", "copy", "-f", "vob", str(mpg)],
        check=True,
    )
    from lifelog_compression.validate import SourceReference

    # Every frame the decoder gives is on the timeline, stamped or not.
    decoded = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            str(mpg),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    count = int(decoded.stdout.split(",")[0])
    # (The decoder guesses the time of a frame before the first stamp: it may
    # share it with the next one.)
    assert count - 1 <= len(SourceReference(mpg).frame_times) <= count
    extract_to_dir(mpg, tmp_path / "b")
    report = validate_bundle(mpg, tmp_path / "b")
    assert report.ok, reasons(report)
    assert len(report.frames) == 4


def test_raw_stream_cannot_be_validated_and_says_why(tmp_path, capsys):
    """An Annex-B .h264 carries no times: validate says so in one line with
    the unsupported exit code instead of an internal error."""
    raw = tmp_path / "clip.h264"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=160x120:r=25:d=3",
            "-c:v",
            "libx264",
            str(raw),
        ],
        check=True,
    )
    extract_to_dir(raw, tmp_path / "b")
    assert main(["validate", str(raw), str(tmp_path / "b")]) == 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(raw) in err[0] and "no timestamps" in err[0]


def test_a_source_that_is_not_a_video_is_refused_in_one_line(made, tmp_path, capsys):
    """validate names a wrong or cut-off source as extract does (exit 6, 8),
    not with the ffmpeg CLI's own multi-line words and an internal error."""
    from fixtures import make_text_file, truncate

    _, bundle = made
    notes = make_text_file(tmp_path / "notes.mp4")
    cut = truncate(made[0].path, tmp_path / "cut.mp4", 0.5)
    for source, code in ((notes, 6), (cut, 8)):
        assert main(["validate", str(source), str(bundle)]) == code
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(source) in err[0], err
