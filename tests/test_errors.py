"""Bad input: one clear line naming the file and the reason, a distinct exit
code, no crash, and nothing left behind."""

import subprocess
import sys

import pytest
from fixtures import flip_bytes, make_audio_only, make_text_file, truncate
from truth import assert_true_to_source

import lifelog_compression as lc


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "lifelog_compression", *map(str, args)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def bad_inputs(tmp_path, clip):
    """name -> (path, exception class, exit code)."""
    d = tmp_path / "inputs"
    d.mkdir()
    (d / "empty.mp4").write_bytes(b"")
    (d / "folder.mp4").mkdir()
    make_text_file(d / "notes.mp4")
    make_audio_only(d / "voice.m4a")
    truncate(clip("h264_bframes_mp4").path, d / "cut-off.mp4", 0.6)  # moov at the end: lost
    return {
        "missing": (d / "nope.mp4", lc.SourceNotFoundError, 3),
        "directory": (d / "folder.mp4", lc.SourceIsDirectoryError, 4),
        "empty": (d / "empty.mp4", lc.EmptySourceError, 5),
        "text": (d / "notes.mp4", lc.NotAVideoError, 6),
        "audio_only": (d / "voice.m4a", lc.NoVideoStreamError, 7),
        "index_missing": (d / "cut-off.mp4", lc.MissingIndexError, 8),
    }


KINDS = ["missing", "directory", "empty", "text", "audio_only", "index_missing"]


@pytest.mark.parametrize("kind", KINDS)
def test_api_raises_the_right_error(kind, bad_inputs, tmp_path):
    path, cls, _ = bad_inputs[kind]
    with pytest.raises(cls) as info:
        lc.extract_to_dir(path, tmp_path / "out")
    assert str(path) in str(info.value)
    assert isinstance(info.value, lc.ExtractError)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")], "partial folder left behind"


def test_errors_derive_from_builtins(bad_inputs, tmp_path):
    with pytest.raises(FileNotFoundError):
        lc.extract_to_dir(bad_inputs["missing"][0], tmp_path / "o")
    with pytest.raises(IsADirectoryError):
        lc.extract_to_dir(bad_inputs["directory"][0], tmp_path / "o")
    with pytest.raises(ValueError):
        lc.extract_to_dir(bad_inputs["audio_only"][0], tmp_path / "o")


def test_cli_one_line_and_distinct_exit_codes(bad_inputs, tmp_path):
    codes = {}
    for kind in KINDS:
        path, _, code = bad_inputs[kind]
        out = run_cli("extract", path, tmp_path / f"out-{kind}")
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, f"{kind}: {out.stderr!r}"
        assert str(path) in lines[0] and "Traceback" not in out.stderr
        assert out.returncode == code, f"{kind}: exit {out.returncode}: {lines[0]}"
        codes[kind] = out.returncode
    assert len(set(codes.values())) == len(KINDS)
    assert not list(tmp_path.glob("out-*")) and not list(tmp_path.glob(".out-*"))


def test_index_missing_message_says_so(bad_inputs, tmp_path):
    with pytest.raises(lc.MissingIndexError, match="index"):
        lc.extract_to_dir(bad_inputs["index_missing"][0], tmp_path / "o")


def test_an_index_cut_off_inside_is_said_to_be(clip, tmp_path):
    """A faststart MP4 cut inside its index (the 'moov' at the front): not
    "has no video stream" (exit 7) but the index, cut off (exit 8)."""
    from lifelog_compression.cli import main

    source = clip("faststart_mp4")
    data = source.path.read_bytes()
    moov = data.find(b"moov") - 4
    size = int.from_bytes(data[moov : moov + 4], "big")
    assert 0 < moov and size > 1000
    cut = tmp_path / "cut-in-index.mp4"
    cut.write_bytes(data[: moov + size // 2])
    with pytest.raises(lc.MissingIndexError, match="cut off"):
        lc.extract_to_dir(cut, tmp_path / "o")
    assert main(["extract", str(cut), str(tmp_path / "o")]) == lc.MissingIndexError.exit_code
    assert not (tmp_path / "o").exists()


def test_truncated_file_with_index_gives_what_decodes(clip, tmp_path):
    source = clip("faststart_mp4")  # 6 s, index at the front
    cut = truncate(source.path, tmp_path / "cut.mp4", 0.5)
    result = lc.extract_to_dir(cut, tmp_path / "b")
    assert 1 <= result.frame_count < 6
    # Requests stop at what the file holds, not at the index's claim.
    assert result.request_count == result.frame_count and result.missing_requests_ms == []
    notes = lc.load_bundle_metadata(tmp_path / "b").notes
    assert any("truncated" in n for n in notes), notes
    assert_true_to_source(tmp_path / "b", source)


@pytest.mark.parametrize("where", [0.001, 0.02, 0.3, 0.6, 0.9])
def test_bit_flips_never_crash(where, clip, tmp_path):
    source = clip("faststart_mp4")
    damaged = flip_bytes(source.path, tmp_path / "flipped.mp4", where, 64, seed=7)
    out = run_cli("extract", damaged, tmp_path / "b")
    assert out.returncode in (0, 6, 8, 9), out.stderr
    if out.returncode == 0:
        rows = lc.load_manifest(tmp_path / "b")
        assert all(abs(r.actual_ts_ms - r.requested_ts_ms) <= 500 for r in rows)
    else:
        assert len(out.stderr.strip().splitlines()) == 1 and str(damaged) in out.stderr
        assert not (tmp_path / "b").exists()


# ---- API arguments: refused before any work, as the package's usage errors ------------------------

BAD_RECIPES = {
    "interval 0": (dict(interval_ms=0), ValueError),
    "interval 1.5": (dict(interval_ms=1.5), TypeError),
    "canvas 65536 square": (dict(canvas_width=65536, canvas_height=65536), ValueError),
    "tolerance 10^12": (dict(tolerance_before_ms=10**12), ValueError),
    "negative tolerance": (dict(tolerance_after_ms=-1), ValueError),
    "quality True": (dict(jpeg_quality=True), TypeError),
    "filter a list": (dict(scale_filter=["lanczos"]), TypeError),
}


@pytest.mark.parametrize("case", sorted(BAD_RECIPES))
def test_a_bad_recipe_is_a_usage_error(case):
    kwargs, builtin = BAD_RECIPES[case]
    with pytest.raises(lc.UsageError) as info:
        lc.Recipe(**kwargs)
    assert isinstance(info.value, builtin) and isinstance(info.value, lc.ExtractError)
    assert info.value.exit_code == 2


BAD_EXTRAS = {
    "nan": ({"x": float("nan")}, ValueError),
    "infinity": ({"x": [1, float("inf")]}, ValueError),
    "frame_count": ({"frame_count": -5}, ValueError),
    "bundle_id": ({"bundle_id": "mine"}, ValueError),
    "not JSON": ({"x": object()}, TypeError),
    "int key": ({1: "x"}, TypeError),
    "a list": (["x"], TypeError),
}


@pytest.mark.parametrize("case", sorted(BAD_EXTRAS))
def test_bundle_extra_cannot_make_bundle_json_invalid(case, clip, tmp_path):
    extra, builtin = BAD_EXTRAS[case]
    with pytest.raises(lc.UsageError) as info:
        lc.extract_to_dir(clip("short_mp4").path, tmp_path / "b", bundle_extra=extra)
    assert isinstance(info.value, builtin)
    assert list(tmp_path.iterdir()) == []  # refused before anything was made


def test_bundle_json_fields_are_the_writers_and_extras_beside_them(clip, tmp_path):
    import json

    from lifelog_compression.api import BUNDLE_FIELDS

    lc.extract_to_dir(clip("short_mp4").path, tmp_path / "b", bundle_extra={"recording": {"chapter": 2}})
    bundle = json.loads((tmp_path / "b" / "bundle.json").read_text(encoding="utf-8"), parse_constant=pytest.fail)
    assert set(bundle) - {"recording"} <= BUNDLE_FIELDS, set(bundle) - BUNDLE_FIELDS
    assert bundle["recording"] == {"chapter": 2}
    assert bundle["frame_count"] == len(lc.load_manifest(tmp_path / "b"))


def test_other_api_arguments_of_the_wrong_type(clip, tmp_path):
    path = clip("short_mp4").path
    for kwargs in (dict(progress=5), dict(source_relpath=b"x.mp4"), dict(decode_from=3)):
        with pytest.raises(lc.ArgumentTypeError):
            lc.extract_to_dir(path, tmp_path / "b", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_codec_unknown_to_ffmpeg_is_named_by_its_sample_entry(clip, tmp_path):
    """A sample entry this FFmpeg does not know (Dolby Vision AV1's 'dav1' on
    5.1) is unsupported (exit 10) and named by its tag, not as 'none'."""
    data = bytearray(clip("h264_bframes_mp4").path.read_bytes())
    at = data.find(b"avc1", data.find(b"stsd"))  # the sample entry, not the ftyp brand
    assert at > 0
    data[at : at + 4] = b"zzv1"
    unknown = tmp_path / "unknown.mp4"
    unknown.write_bytes(bytes(data))
    with pytest.raises(lc.UnsupportedCodecError, match="'zzv1'"):
        lc.extract_to_dir(unknown, tmp_path / "b")
    cli = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "extract", str(unknown), str(tmp_path / "c")],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 10 and "'zzv1'" in cli.stderr and "'none'" not in cli.stderr, cli.stderr
