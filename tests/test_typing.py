"""Types: the package passes ``mypy --strict`` and ships them (py.typed,
_core.pyi), so a user's script using the API type-checks against the
installed package. Runs mypy itself, so CI checks this on every run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import lifelog_compression

PACKAGE = Path(lifelog_compression.__file__).parent
USER_SCRIPT = Path(__file__).parent / "typecheck" / "user_script.py"


def mypy(*args, cwd):
    # A cache of its own, so the runs do not depend on (or leave) one elsewhere.
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cwd / ".mypy_cache"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )
    return out.returncode, out.stdout + out.stderr


def test_types_ship_with_the_package():
    assert (PACKAGE / "py.typed").is_file() and (PACKAGE / "_core.pyi").is_file()


def test_the_package_passes_mypy_strict(tmp_path):
    # A copy outside site-packages and outside the source tree: mypy then
    # checks every file of it instead of trusting an installed package.
    copy = tmp_path / "lifelog_compression"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    code, report = mypy("-p", "lifelog_compression", cwd=tmp_path)
    assert code == 0, report


def test_mypy_strict_passes_where_an_optional_dependency_is_not_installed(tmp_path):
    """fsspec is optional (storage.py imports it when a URL needs it): where it
    is missing, mypy reports import-not-found, not import-untyped, and the
    ignore must cover both. A venv that sees every installed package but fsspec."""
    import sysconfig
    import venv

    copy = tmp_path / "lifelog_compression"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    env = tmp_path / "env"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env)
    inner = Path(
        subprocess.run(
            [str(env / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    outer = Path(sysconfig.get_paths()["purelib"])
    for entry in outer.iterdir():
        if not entry.name.lower().startswith("fsspec") and not (inner / entry.name).exists():
            (inner / entry.name).symlink_to(entry)
    hidden = subprocess.run([str(env / "bin" / "python"), "-c", "import fsspec"], capture_output=True)
    assert hidden.returncode != 0, "fsspec is still importable in the test's venv"
    code, report = mypy("--python-executable", str(env / "bin" / "python"), "-p", "lifelog_compression", cwd=tmp_path)
    assert code == 0, report


def test_a_user_script_type_checks_against_the_installed_package(tmp_path):
    # Outside the source tree, so only the installed package can answer the import.
    script = tmp_path / "user_script.py"
    shutil.copy(USER_SCRIPT, script)
    code, report = mypy(str(script), cwd=tmp_path)
    assert code == 0, report
    # And the check has teeth: a wrong type in the script is caught.
    script.write_text(script.read_text().replace("widths: list[int | None]", "widths: list[str]"))
    code, report = mypy(str(script), cwd=tmp_path)
    assert code == 1 and "incompatible type" in report.lower(), report


def test_the_user_script_runs(clip, tmp_path):
    out = subprocess.run(
        [sys.executable, str(USER_SCRIPT), str(clip("hevc_mp4").path), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert out.returncode == 0, out.stderr
    assert "[0, " in out.stdout and (tmp_path / "shards" / "shard-0001.tar").is_file()
