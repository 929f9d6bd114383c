"""Any file name the operating system accepts names a source (names.py):
bytes that are not UTF-8, newlines, terminal escape sequences, bidi
overrides. The bundle stays valid UTF-8 JSON (a byte that is not UTF-8 is
recorded as the four characters \\xNN), and an error line stays one line with
nothing in it that a terminal acts on."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from fixtures import make_clip, make_text_file

import lifelog_compression as lc
from lifelog_compression.names import recorded, shown

# file name (bytes) -> how bundles record it
NAMES = {
    b"bad\xff.mp4": "bad\\xff.mp4",
    b"two\nlines.mp4": "two\nlines.mp4",
    b"esc\x1b[31mred\x07.mp4": "esc\x1b[31mred\x07.mp4",
    "rtl\u202eevil.mp4".encode(): "rtl\u202eevil.mp4",
    "caf\u00e9 \U0001f3a5.mp4".encode(): "caf\u00e9 \U0001f3a5.mp4",
}
UNSHOWABLE = ("\n", "\x1b", "\x07", "\u202e", "\udcff")


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "lifelog_compression", *map(os.fsencode, args)], capture_output=True, timeout=120
    )


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory):
    return make_clip(
        tmp_path_factory.mktemp("names") / "clip.mp4", width=160, height=96, fps=10, seconds=2.0, gop=10
    ).path


def _strict_json(path):
    """The file's text as a strict reader takes it: UTF-8, no lone surrogates, no NaN."""
    text = path.read_bytes().decode("utf-8")
    return (
        [json.loads(line, parse_constant=pytest.fail) for line in text.splitlines()]
        if path.suffix == ".jsonl"
        else json.loads(text, parse_constant=pytest.fail)
    )


@pytest.mark.parametrize("name", sorted(NAMES), ids=repr)
def test_any_name_makes_a_valid_bundle(name, small_clip, tmp_path):
    source = os.path.join(os.fsencode(tmp_path), name)
    shutil.copy(small_clip, source)
    out = run_cli("extract", source, tmp_path / "b")
    assert out.returncode == 0, out.stderr
    bundle = _strict_json(tmp_path / "b" / "bundle.json")
    rows = _strict_json(tmp_path / "b" / "manifest.jsonl")
    assert len(rows) == 2 and {r["source_relpath"] for r in rows} == {NAMES[name]}
    assert bundle["source_video"]["file_name"] == NAMES[name]
    for meta in ("source-metadata.json", "source-probe.json"):
        _strict_json(tmp_path / "b" / "metadata" / meta)
    # The summary line names the bundle folder, not the source: still one line.
    assert len(out.stdout.splitlines()) == 1


@pytest.mark.parametrize("name", sorted(NAMES), ids=repr)
def test_an_error_about_any_name_is_one_escaped_line(name, tmp_path):
    source = os.path.join(os.fsencode(tmp_path), name)
    make_text_file(os.fsdecode(source))
    out = run_cli("extract", source, tmp_path / "b")
    assert out.returncode == lc.NotAVideoError.exit_code
    err = out.stderr.decode("utf-8")
    assert len(err.splitlines()) == 1 and err.endswith("\n"), err
    assert not any(c in err[:-1] for c in UNSHOWABLE), err
    assert shown(os.fsdecode(source)) in err
    assert not (tmp_path / "b").exists()


def test_json_error_output_is_strict_json(tmp_path):
    source = os.path.join(os.fsencode(tmp_path), b"t\xfe\x1b.mp4")
    make_text_file(os.fsdecode(source))
    out = run_cli("extract", "--json", source, tmp_path / "b")
    doc = json.loads(out.stdout.decode("ascii"))
    assert doc["error"] == "NotAVideoError" and "t\\xfe\x1b.mp4" in doc["message"]
    assert "\\udc" not in out.stdout.decode("ascii")


def test_names_recorded_and_shown():
    assert recorded("a\udcffb\udc80") == "a\\xffb\\x80"
    assert recorded("plain \u00e9\n") == "plain \u00e9\n"
    assert (
        shown("a\nb\x1b[0m\x07\u202e\udcff\u00e9\U0001f3a5\u200d")
        == "a\\nb\\x1b[0m\\x07\\u202e\\xff\u00e9\U0001f3a5\u200d"
    )
