"""Python style: ``ruff check`` (lint and import order) passes on the tree,
as pyproject.toml configures it; ruff comes with the test extra."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_check_passes():
    run = ruff("check", "--no-cache", ".")
    assert run.returncode == 0, run.stdout + run.stderr


def test_ruff_format_check_passes():
    run = ruff("format", "--check", "--no-cache", ".")
    assert run.returncode == 0, run.stdout + run.stderr
