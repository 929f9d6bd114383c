"""validate at scale: the source is checked to be the bundle's own first, the
source frames are decoded in one ffmpeg pass on the stream the bundle was
made from, --sample spreads over the whole bundle, progress goes to stderr."""

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


def test_one_ffmpeg_process_for_all_frames(made, monkeypatch):
    source, bundle = made
    started = []
    real = subprocess.Popen

    def counting(args, *a, **k):
        if args and os.path.basename(str(args[0])) == "ffmpeg":
            started.append(args)
        return real(args, *a, **k)

    monkeypatch.setattr(subprocess, "Popen", counting)
    report = validate_bundle(source.path, bundle)
    assert report.ok and len(report.frames) == 6
    assert len(started) == 1, f"{len(started)} ffmpeg processes for 6 frames"
    assert all(f.psnr_y_next is not None for f in report.frames), "the neighbours came from the same pass"


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
