"""The command line: help, version, spec, extract with --json."""

import json
import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "lifelog_compression", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_help_lists_commands_and_exit_codes():
    out = run("--help")
    assert out.returncode == 0
    for word in ("extract", "spec", "exit codes", "130"):
        assert word in out.stdout


def test_version():
    out = run("--version")
    assert out.returncode == 0 and "lifelog_compression 0.1.0" in out.stdout


def test_usage_error_exit_code():
    out = run("extract")
    assert out.returncode == 2 and "usage" in out.stderr


def test_spec_is_json():
    out = run("spec")
    spec = json.loads(out.stdout)
    assert spec["format"] == "visual-bundle" and spec["image"]["canvas_width"] == 1920


def test_extract_json_result(clip, tmp_path):
    out = run("extract", "--json", clip("hevc_mp4").path, tmp_path / "b")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["frame_count"] == 5 and result["bundle_dir"] == str(tmp_path / "b")
    assert out.stderr == "", "no progress bar when stderr is not a terminal"


def test_extract_plain_summary(clip, tmp_path):
    out = run("extract", clip("hevc_mp4").path, tmp_path / "b")
    assert out.returncode == 0 and out.stdout.startswith("wrote 5 frames to ")
