"""The SDR colour conversion (csrc/colour.c), tested in C against its
definition pixel by pixel (tests/c/test_colour.c), built as the package
builds it (-O3: the vectorized loops are what ships)."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_sdr_conversion_matches_the_definition_in_c(tmp_path):
    exe = tmp_path / "test_colour"
    subprocess.run(
        [
            "gcc",
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-O3",
            f"-I{ROOT / 'csrc'}",
            str(ROOT / "tests/c/test_colour.c"),
            str(ROOT / "csrc/colour.c"),
            str(ROOT / "csrc/tonemap.c"),
            "-lm",
            "-o",
            str(exe),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().startswith("ok"), run.stdout
