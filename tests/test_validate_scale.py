"""validate at scale: the source is checked to be the bundle's own first, the
source frames are decoded in one ffmpeg pass that reads only the packets
they need, on the stream the bundle was made from; --sample spreads over the
whole bundle, progress goes to stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lifelog_compression import extract_to_dir
from lifelog_compression.cli import main
from lifelog_compression.validate import sample_rows, validate_bundle


@pytest.fixture(scope="module")
def made(clip, tmp_path_factory):
    source = clip("h264_bframes_mp4")
    bundle = tmp_path_factory.mktemp("scale") / "bundle"
    extract_to_dir(source.path, bundle)
    return source, bundle


def test_another_source_is_refused_first_in_one_line(made, clip, tmp_path, capsys):
    source, bundle = made
    other = clip("hevc_mp4").path
    assert main(["validate", str(other), str(bundle)]) == 14
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not the source this bundle was made from" in err[0] and "bytes" in err[0]
    # Same size, one byte changed: the sha256 tells them apart.
    changed = tmp_path / "changed.mp4"
    data = bytearray(source.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    changed.write_bytes(bytes(data))
    assert main(["validate", str(changed), str(bundle), "--json"]) == 14
    captured = capsys.readouterr()
    assert "sha256 differs" in captured.err and json.loads(captured.out)["exit_code"] == 14


def counting_ffmpeg(monkeypatch) -> list[list[str]]:
    """The argument lists of the ffmpeg processes started from here on."""
    started: list[list[str]] = []
    real = subprocess.Popen

    def counting(args, *a, **k):
        if args and os.path.basename(str(args[0])) == "ffmpeg":
            started.append([str(arg) for arg in args])
        return real(args, *a, **k)

    monkeypatch.setattr(subprocess, "Popen", counting)
    return started


def counting_row_decodes(monkeypatch) -> list[int]:
    """Rows whose source frames were decoded one row at a time (not by the feed)."""
    import lifelog_compression.validate as validate

    calls: list[int] = []
    real = validate._references

    def counting(src, wanted, index, size):
        calls.append(index)
        return real(src, wanted, index, size)

    monkeypatch.setattr(validate, "_references", counting)
    return calls


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    """As a phone records: a keyframe every second, B-frames; sampled at 1 fps
    the rows land on the keyframes."""
    from fixtures import make_clip

    folder = tmp_path_factory.mktemp("phone")
    source = make_clip(folder / "phone.mp4", seconds=8.0, fps=30, gop=30, bframes=2, codec="libx264")
    extract_to_dir(source.path, folder / "bundle")
    return source, folder / "bundle"


def test_the_decoder_reads_only_the_packets_the_rows_need(phone, monkeypatch):
    source, bundle = phone
    started = counting_ffmpeg(monkeypatch)
    one_at_a_time = counting_row_decodes(monkeypatch)
    report = validate_bundle(source.path, bundle)
    assert report.ok and len(report.frames) == 8
    assert not one_at_a_time, "every frame came from the feed"
    # One pass: a packet copier and one decoder reading what it copies.
    assert len(started) == 2
    copier, decoder = started
    assert "copy" in copier and any(arg.startswith("noise=drop=") for arg in copier)
    assert "pipe:0" in decoder
    expression = next(arg for arg in copier if arg.startswith("noise=drop="))
    ranges = [
        (int(m.split("\\,")[1]), int(m.split("\\,")[2].split(")")[0])) for m in expression.split("between(pos")[1:]
    ]
    from fixtures import video_packets

    offsets = [int(p["pos"]) for p in video_packets(source.path, "pos")]
    read = [p for p in offsets if any(a <= p <= b for a, b in ranges)]
    # Each row: its keyframe and the frame after it (B-frames: up to three packets).
    assert len(read) <= 8 * 4 < len(offsets) / 5, f"{len(read)} of {len(offsets)} packets decoded"


def test_the_time_check_takes_the_neighbours_that_cost_little(phone):
    """The frame after a keyframe is a packet or two away; the frame before it
    needs the whole GOP before, so it is compared only when asked for."""
    source, bundle = phone
    report = validate_bundle(source.path, bundle)
    assert all(f.psnr_y_next is not None for f in report.frames)
    assert all(f.psnr_y_previous is None for f in report.frames)
    every = validate_bundle(source.path, bundle, all_neighbours=True)
    assert every.ok and all(f.psnr_y_previous is not None for f in every.frames[1:])


def test_a_picture_of_the_frame_before_a_keyframe_is_caught(phone, tmp_path):
    """--all-neighbours is what catches a picture shown one frame early at a
    keyframe: the JPEG of row 3 replaced by the source frame just before it."""
    import hashlib
    import shutil

    source, bundle = phone
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    rows = [json.loads(line) for line in (copy / "manifest.jsonl").read_text().splitlines()]
    row = rows[3]
    earlier = max(t for t in source.frame_times_ms if t < row["actual_ts_ms"] - 1)
    frame = copy / row["frame_relpath"]
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-ss", f"{earlier / 1000:.6f}", "-i", str(source.path),
         "-frames:v", "1", "-vf", "scale=1920:1080:force_original_aspect_ratio=decrease,pad=1920:1080:(ow-iw)/2:(oh-ih)/2",
         "-q:v", "2", str(frame)],
        check=True,
    )  # fmt: skip
    row["content_hash"] = "sha256:" + hashlib.sha256(frame.read_bytes()).hexdigest()
    (copy / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = validate_bundle(source.path, copy, all_neighbours=True)
    bad = {f.frame_id: [x.reason for x in f.failures] for f in report.failed}
    assert bad == {row["frame_id"]: ["time"]}, bad


def test_times_past_1000_s_name_their_frames(tmp_path, monkeypatch):
    """A recording whose clock starts at 2000 s (as a camera's running clock
    does): showinfo's pts_time has 6 digits, a millisecond is lost there, so
    the feed reads the exact pts instead."""
    from fixtures import make_clip

    source = make_clip(tmp_path / "late.mp4", seconds=3.0, fps=30, gop=15, codec="libx264", start_offset_s=2000.0)
    extract_to_dir(source.path, tmp_path / "bundle")
    one_at_a_time = counting_row_decodes(monkeypatch)
    report = validate_bundle(source.path, tmp_path / "bundle")
    assert report.ok and len(report.frames) == 3
    assert not one_at_a_time
    assert all(f.psnr_y_next is not None for f in report.frames), "the frames 33 ms after came too"


def test_sample_spreads_over_the_whole_bundle():
    assert sample_rows(10, 3) == [1, 5, 8]
    assert sample_rows(3600, 4) == [450, 1350, 2250, 3150]
    assert sample_rows(5, 9) == [0, 1, 2, 3, 4]
    assert sample_rows(3600, 60) == sample_rows(3600, 60)  # reproducible


def test_cli_sample_and_progress(made):
    source, bundle = made
    env = dict(os.environ, LIFELOG_PROGRESS_INTERVAL="0")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lifelog_compression",
            "validate",
            str(source.path),
            str(bundle),
            "--sample",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [f["frame_id"] for f in report["frames"]] == ["frame_00000002", "frame_00000005"]
    assert "validate" in out.stderr and "2/2 frames" in out.stderr
    quiet = subprocess.run(
        [
            sys.executable,
            "-m",
            "lifelog_compression",
            "validate",
            str(source.path),
            str(bundle),
            "--sample",
            "1",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert quiet.returncode == 0 and quiet.stderr == ""
    bad = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "validate", str(source.path), str(bundle), "--sample", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_the_stream_the_bundle_was_made_from(tmp_path):
    """A short clip first, the recording second: extract takes the longer
    one (stream 1); validate must compare with it, not with stream 0."""
    from fixtures import make_clip

    short = make_clip(tmp_path / "short.mp4", width=160, height=120, seconds=1.0, codec="libx264")
    long = make_clip(tmp_path / "long.mp4", seconds=3.0, codec="libx264", gop=30)
    both = tmp_path / "both.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(short.path),
            "-i",
            str(long.path),
            "-map",
            "0:v",
            "-map",
            "1:v",
            "-c",
            "copy",
            str(both),
        ],
        check=True,
    )
    extract_to_dir(both, tmp_path / "b")
    doc = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert doc["source_video"]["video_stream_index"] == 1
    report = validate_bundle(both, tmp_path / "b")
    assert report.ok, [(f.frame_relpath, [x.message for x in f.failures]) for f in report.failed]
    assert report.psnr_y.min > 30
