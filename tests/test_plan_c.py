"""The planner's own rules, tested in C without FFmpeg (tests/c/test_plan.c)."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_planner_rules_in_c(tmp_path):
    exe = tmp_path / "test_plan"
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", f"-I{ROOT / 'csrc'}",
                    str(ROOT / "tests/c/test_plan.c"), str(ROOT / "csrc/plan.c"), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().startswith("ok"), run.stdout


def test_track_choice_rules_in_c(tmp_path):
    """Which video track is the recording (csrc/tracks.h), without FFmpeg."""
    exe = tmp_path / "test_tracks"
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", f"-I{ROOT / 'csrc'}",
                    str(ROOT / "tests/c/test_tracks.c"), str(ROOT / "csrc/tracks.c"), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().startswith("ok"), run.stdout
