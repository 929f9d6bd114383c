"""Style: ``ruff check`` (lint and import order) and ``ruff format`` pass on
the Python tree, as pyproject.toml configures them (ruff comes with the test
extra); ``clang-format`` (.clang-format; scripts/setup.sh installs it) passes
on csrc/; no function in the package runs over 100 lines."""

import difflib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_check_passes():
    run = ruff("check", "--no-cache", ".")
    assert run.returncode == 0, run.stdout + run.stderr


def test_ruff_format_check_passes():
    run = ruff("format", "--check", "--no-cache", ".")
    assert run.returncode == 0, run.stdout + run.stderr


# A function this long does several jobs; split it into named steps.
MOST_LINES_PER_FUNCTION = 100


def long_functions(package: Path) -> list[tuple[str, str, int]]:
    """(file, function, lines) for each function or method in ``package``'s
    modules longer than MOST_LINES_PER_FUNCTION, from ``def`` to its last line
    (decorators and docstring included; nested functions count in their own
    right and in the function that holds them)."""
    import ast

    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                lines = (node.end_lineno or node.lineno) - first + 1
                if lines > MOST_LINES_PER_FUNCTION:
                    found.append((path.name, node.name, lines))
    return found


def test_no_function_is_longer_than_100_lines():
    found = long_functions(ROOT / "lifelog_compression")
    assert not found, f"split into named steps: {found}"


def test_the_length_check_sees_a_long_function(tmp_path):
    (tmp_path / "m.py").write_text(
        "def short():\n    pass\n\n\nclass C:\n    def long(self):\n" + "        x = 1\n" * 100
    )
    assert long_functions(tmp_path) == [("m.py", "long", 101)]


def c_sources() -> list[Path]:
    return sorted(p for ext in ("c", "h", "m") for p in (ROOT / "csrc").glob(f"*.{ext}"))


def clang_format_diff(files: list[Path]) -> str:
    """What clang-format would change in ``files``, as a unified diff."""
    diff = []
    for path in files:
        original = path.read_text(encoding="utf-8")
        formatted = subprocess.run(
            ["clang-format", f"--assume-filename={path}", "--style=file"],
            input=original,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        name = str(path.relative_to(ROOT))
        diff += difflib.unified_diff(
            original.splitlines(keepends=True), formatted.splitlines(keepends=True), name, name + " (clang-format)"
        )
    return "".join(diff)


def test_clang_format_passes_on_csrc():
    assert shutil.which("clang-format"), "clang-format is not installed (scripts/setup.sh installs it)"
    files = c_sources()
    assert len(files) > 20, files
    run = subprocess.run(
        ["clang-format", "--dry-run", "--Werror", *map(str, files)], cwd=ROOT, capture_output=True, text=True
    )
    if run.returncode != 0:
        diff = clang_format_diff(files)
        pytest.fail(f"clang-format -i csrc/*.c csrc/*.h csrc/*.m would change:\n{diff[:20000]}")
