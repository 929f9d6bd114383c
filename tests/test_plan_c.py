"""The planner's and the track choice's own rules, tested in C without FFmpeg
(tests/c/test_plan.c, tests/c/test_tracks.c)."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run_c_test(tmp_path, test: str, source: str) -> None:
    """Compiles tests/c/<test>.c with csrc/<source>.c, runs it, expects 'ok'."""
    exe = tmp_path / test
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", f"-I{ROOT / 'csrc'}",
                    str(ROOT / f"tests/c/{test}.c"), str(ROOT / f"csrc/{source}.c"), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().startswith("ok"), run.stdout


def test_planner_rules_in_c(tmp_path):
    _run_c_test(tmp_path, "test_plan", "plan")


def test_track_choice_rules_in_c(tmp_path):
    """Which video track is the recording (csrc/tracks.h)."""
    _run_c_test(tmp_path, "test_tracks", "tracks")
