"""The command line: help, version, spec, extract with --json."""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lifelog_compression as lc


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "lifelog_compression", *map(str, args)], capture_output=True, text=True, timeout=120
    )


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


def test_every_positional_has_help():
    from lifelog_compression.cli import _parser

    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if not action.option_strings:
                assert action.help and action.help != argparse.SUPPRESS, f"{name} {action.dest} has no help"


def test_exit_code_table_is_complete_ordered_and_plain():
    from lifelog_compression.validate import EXIT_VALIDATION_FAILED

    out = run("--help").stdout
    table = out[out.index("exit codes:") :]
    codes = [int(m) for m in re.findall(r"^\s+(\d+)  ", table, re.M)]
    assert codes == sorted(codes) and len(codes) == len(set(codes))
    expected = {0, 1, 2, EXIT_VALIDATION_FAILED, 130, 141} | {getattr(lc, n).exit_code for n in lc.errors.__all__} - {1}
    assert set(codes) == expected | {1}
    assert "``" not in out and ":class:" not in out


def test_a_mistyped_command_gets_a_suggestion():
    out = run("extrat", "a.mp4", "b")
    assert out.returncode == 2 and "did you mean 'extract'?" in out.stderr


def test_a_folder_given_to_extract_suggests_batch(tmp_path):
    out = run("extract", tmp_path, tmp_path / "b")
    assert out.returncode == lc.SourceIsDirectoryError.exit_code
    assert f"batch {tmp_path} OUTPUT_ROOT" in out.stderr and len(out.stderr.splitlines()) == 1


def test_library_errors_speak_python_and_the_cli_speaks_flags(clip, tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mine.txt").write_text("x")
    with pytest.raises(lc.OutputError) as e:
        lc.extract_to_dir(clip("hevc_mp4").path, tmp_path / "b")
    assert "--overwrite" not in str(e.value) and "overwrite=True" in str(e.value)
    out = run("extract", clip("hevc_mp4").path, tmp_path / "b")
    assert out.returncode == 12 and "--overwrite" in out.stderr and "overwrite=True" not in out.stderr


def test_the_console_script_is_installed_and_names_itself():
    script = Path(sys.executable).parent / "lifelog-compression"
    out = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("usage: lifelog-compression ")


def _without(module, code):
    """Runs ``code`` in a fresh interpreter where ``module`` cannot be imported."""
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.modules[{module!r}] = None\n{code}"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_optional_dependency_names_the_extra(clip, tmp_path):
    lc.extract_to_dir(clip("hevc_mp4").path, tmp_path / "b")
    out = _without(
        "PIL", f"from lifelog_compression.cli import main; sys.exit(main(['sheet', {str(tmp_path / 'b')!r}]))"
    )
    assert out.returncode == lc.MissingDependencyError.exit_code == 17, out.stderr
    # Named for what it enables: [sheet]; [validate] (numpy + Pillow) still installs it, as does [images].
    assert "Pillow" in out.stderr and "lifelog-compression[sheet]" in out.stderr and "internal" not in out.stderr
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+: the rest of the test runs on 3.10 too
    extras = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for name in ("sheet", "images", "validate"):
        assert any(d.startswith("pillow") for d in extras[name]), name
    assert any(d.startswith("numpy") for d in extras["images"])
    out = _without(
        "numpy",
        "import lifelog_compression as lc\n"
        "try:\n    next(lc.iter_frames(%r, as_array=True))\n"
        "except lc.MissingDependencyError as e:\n    print(e); sys.exit(e.exit_code)" % str(clip("hevc_mp4").path),
    )
    assert out.returncode == 17 and "lifelog-compression[arrays]" in out.stdout and "numpy" in out.stdout


def test_extract_hash_started_early_is_the_files(clip, tmp_path):
    """The command line starts hashing the source before it imports the
    extraction (metadata.hash_early); the rows still carry the file's sha256."""
    import hashlib

    path = clip("h264_bframes_mp4").path
    out = run("extract", path, tmp_path / "b")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in (tmp_path / "b" / "manifest.jsonl").read_text().splitlines()]
    assert {r["source_content_hash"] for r in rows} == {"sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()}


@pytest.mark.parametrize("where", ["folder", "unknown scheme"])
def test_a_failed_extract_stops_its_early_hash(tmp_path, monkeypatch, where):
    """A batch child goes on to its next file after one fails: the hash
    started early for the failed file must stop, not read it to the end,
    whether the source was refused (not a video) or the output (an unknown
    scheme, refused before the extraction looks at the source)."""
    from lifelog_compression import metadata
    from lifelog_compression.cli import main

    started = []
    real_start = metadata.SourceHasher.start
    monkeypatch.setattr(metadata.SourceHasher, "start", lambda self: (started.append(self), real_start(self)))
    notes = tmp_path / "notes.mp4"
    with open(notes, "wb") as f:
        f.write(b"shopping list\n" * 100)
        f.truncate(4 << 30)  # 4 GiB (holes): seconds of hashing if nothing stops it
    out, code = (
        (str(tmp_path / "b"), lc.NotAVideoError.exit_code)
        if where == "folder"
        else ("ftp://example.invalid/b", lc.UsageError.exit_code)
    )
    assert main(["extract", str(notes), out]) == code
    assert len({id(h) for h in started}) == 1  # the extraction took over the early one
    started[0].join(timeout=10)
    assert not started[0].is_alive() and started[0].digest is None
    assert not (tmp_path / "b").exists()


def test_installed_command_extracts_and_reports(clip, tmp_path):
    """The `lifelog-compression` console script is the same entry point as
    `python -m`: its --json result reaches a pipe whole (the process leaves
    without tearing the interpreter down, after flushing)."""
    command = Path(sys.executable).with_name("lifelog-compression")
    assert command.exists(), "installed with the package"
    out = subprocess.run(
        [str(command), "extract", "--json", str(clip("hevc_mp4").path), str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["frame_count"] == 5 and (tmp_path / "b" / "bundle.json").exists()
    bad = subprocess.run(
        [str(command), "extract", str(tmp_path / "missing.mp4"), str(tmp_path / "c")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == lc.SourceNotFoundError.exit_code and "missing.mp4" in bad.stderr


@pytest.mark.parametrize("argv, says_bundle", [(["spec"], False), (["extract", "{clip}", "{out}"], True)])
def test_a_reader_that_goes_away_is_told_about_bundles_only_where_one_is_written(clip, tmp_path, argv, says_bundle):
    """`spec | head` wrote no bundle, so its stop line does not claim to have
    cleaned one up; extract's does."""
    argv = [a.format(clip=clip("hevc_mp4").path, out=tmp_path / "b") for a in argv]
    p = subprocess.Popen(
        [sys.executable, "-m", "lifelog_compression", *argv, *(["--json"] if says_bundle else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    p.stdout.close()  # the reader is gone before the first line
    err = p.stderr.read()
    assert p.wait(timeout=120) == 141
    assert err.count("\n") == 1 and "the reader of the output went away" in err
    assert ("no bundle was left behind" in err) == says_bundle


def test_the_readme_command_summary_lists_every_option():
    """README's command summary names every option each command has (hidden
    ones, for batch's children, aside): it is where people look first."""
    from lifelog_compression.cli import _parser

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = text[text.index("## Command line") :]
    block = block[block.index("```text") + 7 : block.index("```", block.index("```text") + 7)]
    summary: dict[str, str] = {}
    command = None
    for line in block.splitlines():
        m = re.match(r"python -m lifelog_compression (\w+)", line)
        if m:
            command = m.group(1)
            summary[command] = summary.get(command, "") + line
        elif line.startswith(" ") and command:
            summary[command] += line
    commands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if action.help == argparse.SUPPRESS or not action.option_strings or "--help" in action.option_strings:
                continue
            if not any(o in summary.get(name, "") for o in action.option_strings):
                missing.append(f"{name} {action.option_strings[0]}")
    assert not missing, f"README's command summary lacks: {', '.join(missing)}"


def test_the_readme_manifest_row_is_one_consistent_row():
    """The example row parses as a manifest row and its parts agree: the
    content rect is the source's contain fit, captured_local without
    captured_at only where the zone is unknown, a location from one source."""
    from lifelog_compression.validate import fit_contain

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = text.index('```json\n{"frame_id"') + len("```json\n")
    row = json.loads(text[start : text.index("```", start)])
    parsed = lc.ManifestRow.from_json(row)
    assert fit_contain(row["source_width"], row["source_height"], row["width"], row["height"]) == (
        row["content_rect_x"],
        row["content_rect_y"],
        row["content_rect_width"],
        row["content_rect_height"],
    )
    assert parsed.frame_relpath == f"frames/{parsed.frame_id.removeprefix('frame_')}.jpg"
    assert row["requested_ts_ms"] == 1000 * (int(parsed.frame_id[-8:]) - 1)
    assert (row["captured_at"] is None) == bool(row.get("captured_local"))
    assert list(row)[-2:] == ["content_hash", "source_content_hash"]  # as extract writes them
