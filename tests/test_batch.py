"""Batch: a camera folder in, a mirrored tree of bundles out; failures isolated,
reruns resumed, nothing of the user's deleted."""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures import make_text_file, truncate
from truth import assert_true_to_source

import lifelog_compression as lc


@pytest.fixture
def card(tmp_path, clip):
    """A card-like tree: GoPro chapters with a proxy, a phone folder with a
    same-stem pair and non-ASCII names, a damaged file, hidden clutter."""
    root = tmp_path / "card"
    gopro = root / "DCIM" / "100GOPRO"
    phone = root / "Phone Videos" / "Ünïcode trip"
    gopro.mkdir(parents=True)
    phone.mkdir(parents=True)
    shutil.copy(clip("hevc_mp4").path, gopro / "GX010046.MP4")
    shutil.copy(clip("h264_bframes_mp4").path, gopro / "GX020046.MP4")
    shutil.copy(clip("hevc_mp4").path, gopro / "GL010046.LRV")  # proxy of chapter 1
    shutil.copy(clip("vfr_mp4").path, phone / "clip one.mp4")
    shutil.copy(clip("start_offset_mp4").path, phone / "clip one.mov")
    make_text_file(root / "notes.mp4")
    truncate(clip("h264_bframes_mp4").path, root / "cut-off.mp4", 0.5)
    (gopro / "._GX010046.MP4").write_bytes(b"\0\5\26\7AppleDouble")
    (root / ".hidden").mkdir()
    shutil.copy(clip("hevc_mp4").path, root / ".hidden" / "secret.mp4")
    return root


def test_tree_is_mirrored_and_failures_isolated(card, tmp_path, clip):
    out = tmp_path / "out"
    (out / "keep").mkdir(parents=True)
    (out / "keep" / "mine.txt").write_text("user data")
    result = lc.extract_directory_to_dir(card, out)
    by = {f.relpath: f for f in result.files}
    assert set(by) == {
        "DCIM/100GOPRO/GX010046.MP4",
        "DCIM/100GOPRO/GX020046.MP4",
        "Phone Videos/Ünïcode trip/clip one.mp4",
        "Phone Videos/Ünïcode trip/clip one.mov",
        "notes.mp4",
        "cut-off.mp4",
    }
    assert by["notes.mp4"].status == "failed" and "not a video" in by["notes.mp4"].reason
    assert by["cut-off.mp4"].status == "failed" and "index" in by["cut-off.mp4"].reason
    ok = [f for f in result.files if f.status == "extracted"]
    assert len(ok) == 4
    # Same stem: both kept, under their whole names.
    assert by["Phone Videos/Ünïcode trip/clip one.mp4"].bundle_relpath == "Phone Videos/Ünïcode trip/clip one.mp4"
    assert by["Phone Videos/Ünïcode trip/clip one.mov"].bundle_relpath == "Phone Videos/Ünïcode trip/clip one.mov"
    assert by["DCIM/100GOPRO/GX010046.MP4"].bundle_relpath == "DCIM/100GOPRO/GX010046"
    # Bundles tell the truth and name their source relative to the batch root.
    bundle = out / "DCIM/100GOPRO/GX020046"
    rows = assert_true_to_source(bundle, clip("h264_bframes_mp4"))
    assert rows[0]["source_relpath"] == "DCIM/100GOPRO/GX020046.MP4"
    assert_true_to_source(out / "Phone Videos/Ünïcode trip/clip one.mp4", clip("vfr_mp4"))
    assert (out / "keep" / "mine.txt").read_text() == "user data"
    assert not [p for p in out.rglob(".*partial*")]


def test_a_stem_that_is_also_a_folder_of_videos_never_nests_bundles(tmp_path, clip):
    """trip.mp4 beside trip/day1.mp4: the bundle of trip.mp4 would be the
    folder that holds trip/day1's bundle. It takes its whole name instead,
    and both are whole and true, with any number of workers."""
    root = tmp_path / "card"
    (root / "trip").mkdir(parents=True)
    shutil.copy(clip("hevc_mp4").path, root / "trip.mp4")
    shutil.copy(clip("h264_bframes_mp4").path, root / "trip" / "day1.mp4")
    result = lc.extract_directory_to_dir(root, tmp_path / "out", workers=2)
    by = {f.relpath: f for f in result.files}
    assert {f.status for f in result.files} == {"extracted"}, [(f.relpath, f.reason) for f in result.files]
    assert by["trip.mp4"].bundle_relpath == "trip.mp4" and by["trip/day1.mp4"].bundle_relpath == "trip/day1"
    assert_true_to_source(tmp_path / "out" / "trip.mp4", clip("hevc_mp4"))
    assert_true_to_source(tmp_path / "out" / "trip" / "day1", clip("h264_bframes_mp4"))
    assert sorted(p.name for p in (tmp_path / "out" / "trip.mp4").iterdir()) == [
        "bundle.json",
        "frames",
        "manifest.jsonl",
        "metadata",
    ]


def test_proxy_and_chapters_are_recorded(card, tmp_path):
    out = tmp_path / "out"
    lc.extract_directory_to_dir(card, out)
    first = json.loads((out / "DCIM/100GOPRO/GX010046/bundle.json").read_text())
    second = json.loads((out / "DCIM/100GOPRO/GX020046/bundle.json").read_text())
    assert first["proxy"] == {"relpath": "DCIM/100GOPRO/GL010046.LRV", "decoded": False}
    assert not (out / "DCIM/100GOPRO/GL010046").exists()
    assert first["recording"]["chapter"] == 1 and second["recording"]["chapter"] == 2
    assert first["recording"]["recording_id"] == second["recording"]["recording_id"] == "0046"
    assert second["recording"]["chapters"] == ["DCIM/100GOPRO/GX010046.MP4", "DCIM/100GOPRO/GX020046.MP4"]
    # Each chapter's bundle (with its telemetry track) is linked, in recording order.
    assert first["recording"]["chapter_bundles"] == ["DCIM/100GOPRO/GX010046", "DCIM/100GOPRO/GX020046"]


def test_prefer_proxy_decodes_the_proxy(tmp_path, clip):
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(clip("h264_bframes_mp4").path, root / "GH010007.MP4")
    # A proxy with the same timeline but another picture size (and content we can tell apart).
    shutil.copy(clip("odd_size_mp4").path, root / "GL010007.LRV")
    with lc._core.Source(str(root / "GL010007.LRV")) as p, lc._core.Source(str(root / "GH010007.MP4")) as o:
        agree = abs(p.info["duration_ms"] - o.info["duration_ms"]) <= 1000
    lc.extract_directory_to_dir(root, tmp_path / "out", prefer_proxy=True)
    rows = lc.load_manifest(tmp_path / "out" / "GH010007")
    doc = json.loads((tmp_path / "out/GH010007/bundle.json").read_text())
    assert doc["proxy"]["decoded"] is agree
    if agree:
        assert all(r.decoded_relpath == "GL010007.LRV" for r in rows)
        assert rows[0].source_width == 321
        assert all(r.source_relpath == "GH010007.MP4" for r in rows)
    else:
        assert rows[0].source_width == 320


def test_rerun_skips_complete_bundles_and_overwrite_redoes(card, tmp_path):
    out = tmp_path / "out"
    first = lc.extract_directory_to_dir(card, out)
    ids = {
        f.bundle_relpath: lc.load_bundle_metadata(out / f.bundle_relpath).bundle_id
        for f in first.files
        if f.status == "extracted"
    }
    again = lc.extract_directory_to_dir(card, out)
    assert {f.status for f in again.files if f.bundle_relpath in ids} == {"skipped"}
    assert all(lc.load_bundle_metadata(out / b).bundle_id == i for b, i in ids.items())
    redo = lc.extract_directory_to_dir(card, out, overwrite=True)
    assert {f.status for f in redo.files if f.bundle_relpath in ids} == {"extracted"}
    assert all(lc.load_bundle_metadata(out / b).bundle_id != i for b, i in ids.items())


def test_card_copied_again_is_complete_but_a_changed_source_is_not_skipped(card, tmp_path):
    """A card copied to the disk again has new modification times and the
    same bytes: its bundles are complete (bundle.json records the source's
    hash). Other bytes of the same size are another version: kept, reported."""
    out = tmp_path / "out"
    lc.extract_directory_to_dir(card, out)
    source = card / "DCIM/100GOPRO/GX010046.MP4"
    os.utime(source, (time.time() + 100, time.time() + 100))
    copied = {f.relpath: f for f in lc.extract_directory_to_dir(card, out).files}
    assert copied["DCIM/100GOPRO/GX010046.MP4"].status == "skipped", copied["DCIM/100GOPRO/GX010046.MP4"]
    data = bytearray(source.read_bytes())
    data[-1] ^= 0xFF
    source.write_bytes(bytes(data))
    again = {f.relpath: f for f in lc.extract_directory_to_dir(card, out).files}
    changed = again["DCIM/100GOPRO/GX010046.MP4"]
    assert changed.status == "failed" and "overwrite" in changed.reason
    assert "another version of the file" in changed.reason and changed.exit_code == lc.OutputError.exit_code


def test_output_inside_input_is_refused(card):
    with pytest.raises(lc.OutputError):
        lc.extract_directory_to_dir(card, card / "bundles")
    with pytest.raises(lc.OutputError):
        lc.extract_directory_to_dir(card / "DCIM", card)
    with pytest.raises(lc.NotAFolderError):
        lc.extract_directory_to_dir(card / "notes.mp4", card.parent / "o")


def _misbehaving_python(tmp_path, name, action):
    """An interpreter for the children that misbehaves on the file called
    `name`: Python's own sitecustomize hook wraps the extraction the child
    runs, so the child really crashes or hangs in the middle of that file
    (after its earlier files, in the same long-lived process)."""
    hook = tmp_path / "misbehave"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(f"""
import os, signal, time
from pathlib import Path
import lifelog_compression.api as api

real = api.extract_to_dir

def extract_to_dir(input, output_dir, **kw):
    if Path(input).name == {name!r}:
        out = Path(output_dir)
        {action}
    return real(input, output_dir, **kw)

api.extract_to_dir = extract_to_dir
""")
    script = tmp_path / "python-wrapper.sh"
    script.write_text(f'#!/bin/sh\nPYTHONPATH={hook}${{PYTHONPATH:+:$PYTHONPATH}} exec {sys.executable} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_a_child_that_dies_mid_file_costs_only_that_file(card, tmp_path):
    # The child gets as far as its half-written folder, then dies.
    wrapper = _misbehaving_python(
        tmp_path,
        "GX020046.MP4",
        "(out.parent / f'.{out.name}.partial-dead' / 'frames').mkdir(parents=True); "
        "os.kill(os.getpid(), signal.SIGSEGV)",
    )
    out = tmp_path / "out"
    result = lc.extract_directory_to_dir(card, out, python_executable=wrapper, workers=1)
    by = {f.relpath: f for f in result.files}
    assert by["DCIM/100GOPRO/GX020046.MP4"].status == "failed"
    assert "crashed" in by["DCIM/100GOPRO/GX020046.MP4"].reason
    assert by["DCIM/100GOPRO/GX020046.MP4"].exit_code == -signal.SIGSEGV
    # The files before and after it in the same worker are extracted (by the
    # dead child's successor for those after).
    assert by["DCIM/100GOPRO/GX010046.MP4"].status == "extracted"
    assert by["Phone Videos/Ünïcode trip/clip one.mp4"].status == "extracted"
    assert not (out / "DCIM/100GOPRO/GX020046").exists()
    assert not list(out.rglob(".*partial*")), "the dead child's half-written folder is removed"


def test_a_hanging_child_is_stopped(card, tmp_path):
    wrapper = _misbehaving_python(tmp_path, "clip one.mov", "time.sleep(600)")
    started = time.monotonic()
    result = lc.extract_directory_to_dir(
        card, tmp_path / "out", python_executable=wrapper, workers=1, min_timeout_s=15.0, timeout_per_video_s=0.0
    )
    by = {f.relpath: f for f in result.files}
    # 15 s: far beyond what a real file here needs even on a loaded machine,
    # far below the 600 s the hanging child would sleep.
    hung = by["Phone Videos/Ünïcode trip/clip one.mov"]
    assert hung.status == "failed" and "stopped" in hung.reason and hung.error == "Timeout"
    assert by["DCIM/100GOPRO/GX010046.MP4"].status == "extracted"
    assert time.monotonic() - started < 120


def test_children_are_reused_across_files(card, tmp_path, clip):
    """One worker: every file goes through the same child process (the
    interpreter and FFmpeg's libraries load once), and each bundle is still
    true to its own source."""
    pids = tmp_path / "pids"
    wrapper = _misbehaving_python(tmp_path, "never-a-file", "pass")
    hook = tmp_path / "misbehave" / "sitecustomize.py"
    hook.write_text(hook.read_text() + f"\nopen({str(pids)!r}, 'a').write(str(os.getpid()) + '\\n')\n")
    out = tmp_path / "out"
    result = lc.extract_directory_to_dir(card, out, python_executable=wrapper, workers=1)
    extracted = [f for f in result.files if f.status == "extracted"]
    assert len(extracted) == 4 and len(result.failed) == 2
    assert len(pids.read_text().split()) == 1, "one child for all files"
    made_from = {
        "DCIM/100GOPRO/GX010046.MP4": "hevc_mp4",
        "DCIM/100GOPRO/GX020046.MP4": "h264_bframes_mp4",
        "Phone Videos/Ünïcode trip/clip one.mp4": "vfr_mp4",
        "Phone Videos/Ünïcode trip/clip one.mov": "start_offset_mp4",
    }
    for f in extracted:
        assert_true_to_source(out / f.bundle_relpath, clip(made_from[f.relpath]))


def _long_clips(root: Path, count: int) -> Path:
    """count 20 s 720p clips (clip0.mp4, ...) in root: long enough to interrupt a batch mid-way."""
    root.mkdir()
    for i in range(count):
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
             "-t", "20", "-c:v", "libx264", "-preset", "ultrafast", "-g", "600", str(root / f"clip{i}.mp4")],
            check=True,
        )  # fmt: skip
    return root


def _wait_for_bundle(bundle: Path, timeout_s: float = 60) -> None:
    """Until bundle.json of ``bundle`` exists (or the time is up)."""
    deadline = time.monotonic() + timeout_s
    while not (bundle / "bundle.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_cli_interrupt_then_resume(tmp_path):
    root = _long_clips(tmp_path / "in", 4)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lifelog_compression", "batch", "--workers", "1", str(root), str(out)]
    proc = subprocess.Popen([*cmd, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_bundle(out / "clip0")
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=20)
    assert proc.returncode == 130, proc.stderr.read()
    assert not list(out.rglob(".*partial*")), "no partial bundle after Ctrl-C"
    done_before = {p.name for p in out.iterdir() if (p / "bundle.json").exists()}
    assert "clip0" in done_before and len(done_before) < 4
    # --json still says what was done before the interruption.
    interrupted = json.loads(proc.stdout.read())
    proc.stdout.close()
    proc.stderr.close()
    assert interrupted["interrupted"] is True
    assert {f["bundle_relpath"] for f in interrupted["files"] if f["status"] == "extracted"} == done_before
    assert sorted(interrupted["unfinished"]) == sorted(
        f"clip{i}.mp4" for i in range(4) if f"clip{i}" not in done_before
    )
    rerun = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=120)
    summary = json.loads(rerun.stdout)
    assert rerun.returncode == 0 and summary["skipped"] == len(done_before)
    assert summary["extracted"] == 4 - len(done_before)


def test_cli_exit_code_and_summary(card, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "batch", str(card), str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 15
    assert "4 extracted" in out.stdout and "2 failed" in out.stdout
    assert "failed: notes.mp4: " in out.stdout


def test_quiet_batch_still_names_its_failures(card, tmp_path):
    """--quiet drops the progress and the summary, never a failure."""
    out = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "batch", "--quiet", str(card), str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 15 and out.stdout == ""
    assert "failed: notes.mp4: " in out.stderr and "extracted" not in out.stderr


def test_interrupted_batch_tells_a_person_what_finished(tmp_path):
    """Ctrl-C without --json: one line says what finished, failed and was left."""
    root = _long_clips(tmp_path / "in", 3)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifelog_compression", "batch", "--workers", "1", str(root), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_bundle(out / "clip0")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    done = sum((out / f"clip{i}" / "bundle.json").exists() for i in range(3))
    assert f"batch: interrupted: {done} extracted, 0 complete already, 0 failed, {3 - done} not finished" in err, err


def test_json_failures_carry_error_class_and_exit_code(tmp_path, clip):
    root = tmp_path / "in"
    root.mkdir()
    make_text_file(root / "notes.mp4")
    truncate(clip("h264_bframes_mp4").path, root / "cut-off.mp4", 0.5)
    shutil.copy(clip("hevc_mp4").path, root / "good.mp4")
    out = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "batch", "--json", str(root), str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 15
    by = {f["relpath"]: f for f in json.loads(out.stdout)["files"]}
    assert (by["notes.mp4"]["error"], by["notes.mp4"]["exit_code"]) == ("NotAVideoError", lc.NotAVideoError.exit_code)
    assert (by["cut-off.mp4"]["error"], by["cut-off.mp4"]["exit_code"]) == (
        "MissingIndexError",
        lc.MissingIndexError.exit_code,
    )
    assert (by["good.mp4"]["status"], by["good.mp4"]["error"], by["good.mp4"]["exit_code"]) == ("extracted", None, 0)


def test_jsonl_event_stream(tmp_path, clip):
    root = tmp_path / "in"
    root.mkdir()
    make_text_file(root / "notes.mp4")
    shutil.copy(clip("hevc_mp4").path, root / "a.mp4")
    shutil.copy(clip("h264_bframes_mp4").path, root / "b.mp4")
    cmd = [sys.executable, "-m", "lifelog_compression", "batch", "--jsonl", str(root), str(tmp_path / "o")]
    lc.extract_to_dir(root / "a.mp4", tmp_path / "o" / "a")  # complete already (same size and time): skipped
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 15, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "skipped" and events[0]["relpath"] == "a.mp4"
    assert kinds[-1] == "summary" and kinds.count("summary") == 1
    assert sorted(e["relpath"] for e in events if e["event"] == "started") == ["b.mp4", "notes.mp4"]
    for e in events[1:-1]:
        if e["event"] != "started":  # each file's end comes after its start
            start = next(i for i, s in enumerate(events) if s["event"] == "started" and s["relpath"] == e["relpath"])
            assert start < events.index(e)
    done = next(e for e in events if e["event"] == "done")
    failed = next(e for e in events if e["event"] == "failed")
    assert done["relpath"] == "b.mp4" and done["frame_count"] == 6 and done["exit_code"] == 0
    assert failed["relpath"] == "notes.mp4" and failed["error"] == "NotAVideoError" and failed["exit_code"] == 6
    summary = events[-1]
    assert (summary["extracted"], summary["skipped"], summary["failed"]) == (1, 1, 1)
    assert summary["interrupted"] is False and "files" not in summary
    assert all(isinstance(e["elapsed_s"], float | int) for e in events)


def test_a_reader_that_goes_away_stops_the_batch_cleanly(tmp_path, clip):
    """`batch --jsonl | head -1`: the batch stops as a Unix tool stops on
    SIGPIPE (141), with one line and no half-written bundle, rather than an
    internal error."""
    root = tmp_path / "card"
    root.mkdir()
    for i in range(4):
        shutil.copy(clip("h264_bframes_mp4").path, root / f"c{i}.mp4")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lifelog_compression",
            "batch",
            "--jsonl",
            "--workers",
            "1",
            str(root),
            str(tmp_path / "out"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = json.loads(proc.stdout.readline())
    assert first["event"] in ("started", "done", "skipped", "failed")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "reader of the output went away" in lines[0], err
    assert not list((tmp_path / "out").rglob("*partial*"))  # nothing half-written, nor its lock
    for bundle in (tmp_path / "out").glob("*"):  # what was finished is whole
        assert lc.load_bundle_metadata(bundle).frame_count == 6


def test_a_link_to_a_video_that_is_gone_is_reported(tmp_path, clip):
    root = tmp_path / "card"
    root.mkdir()
    shutil.copy(clip("short_mp4").path, root / "here.mp4")
    (root / "gone.mp4").symlink_to(tmp_path / "moved-away.mp4")
    by = {f.relpath: f for f in lc.extract_directory_to_dir(root, tmp_path / "out").files}
    assert by["here.mp4"].status == "extracted"
    assert by["gone.mp4"].status == "failed" and by["gone.mp4"].exit_code == lc.SourceNotFoundError.exit_code
