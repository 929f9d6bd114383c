"""Outcomes are classified truthfully and nothing is left behind: damage is
not an OS refusal, a full disk is an output error, the streaming API fails
where extract fails, a killed writer's leftovers are removed by the next run,
an interrupted swap is finished, and user mistakes are usage errors."""

import io
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys

import numpy as np
import pytest
from fixtures import make_clip, read_index
from PIL import Image
from truth import assert_true_to_source

import lifelog_compression as lc


def run_cli(*args, prefix=(), **kw):
    return subprocess.run(
        [*prefix, sys.executable, "-m", "lifelog_compression", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def one_line(run) -> str:
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    return lines[0]


@pytest.mark.parametrize("size", [100, 200, 300, 450])
def test_webm_cut_to_a_few_hundred_bytes_is_damaged_not_unreadable(size, clip, tmp_path):
    cut = tmp_path / "cut.webm"
    cut.write_bytes(clip("vp9_webm").path.read_bytes()[:size])
    run = run_cli("extract", cut, tmp_path / "b")
    line = one_line(run)
    assert run.returncode == 9, line
    assert str(cut) in line and "operating system" not in line and "Input/output" not in line
    assert not (tmp_path / "b").exists()


def test_a_file_the_os_refuses_is_still_a_read_error(clip, tmp_path):
    locked = tmp_path / "locked.webm"
    locked.write_bytes(clip("vp9_webm").path.read_bytes())
    locked.chmod(0)
    # root reads anything: drop the capabilities that let it, as an ordinary user has none.
    prefix = (
        ("setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search")
        if os.geteuid() == 0
        else ()
    )
    run = run_cli("extract", locked, tmp_path / "b", prefix=prefix)
    line = one_line(run)
    assert run.returncode == 11 and "Permission denied" in line, line


def garble_mdat(source, dest, seed=1):
    """The MP4's index survives but every coded picture is noise."""
    data = bytearray(source.read_bytes())
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"mdat":
            rnd = random.Random(seed)
            data[pos + 8 : pos + size] = bytes(rnd.randrange(256) for _ in range(size - 8))
        pos += size
    dest.write_bytes(data)
    return dest


def test_iter_frames_raises_what_extract_raises(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", codec="libx264", width=160, height=96, seconds=2.0, gop=10)
    garbled = garble_mdat(clip.path, tmp_path / "garbled.mp4")
    with pytest.raises(lc.DamagedSourceError) as extracted:
        lc.extract_to_dir(garbled, tmp_path / "b")
    with pytest.raises(lc.DamagedSourceError) as streamed:
        list(lc.iter_frames(garbled))
    assert str(streamed.value) == str(extracted.value)
    assert "no frame could be decoded" in str(streamed.value)
    # The same clip intact streams every frame, read back.
    frames = list(lc.iter_frames(clip.path))
    assert [f.requested_ts_ms for f in frames] == [0, 1000]
    for f in frames:
        index = read_index(np.asarray(Image.open(io.BytesIO(f.jpeg)).convert("RGB")), f.content_rect)
        assert clip.times_by_index[index] == pytest.approx(f.actual_ts_ms, abs=1.0)


# --- a full disk --------------------------------------------------------------


def needs_mount_namespace():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a private tmpfs of a given size")


def test_full_disk_while_writing_metadata_manifest_and_bundle_json_is_exit_12(tmp_path):
    """A tmpfs just too small, page by page: each write after the frames in
    turn meets the full disk, and each time the answer is exit 12 in one line
    with nothing left behind; one page more and the bundle is whole."""
    needs_mount_namespace()
    clip = make_clip(tmp_path / "c.mp4", codec="libx264", width=160, height=96, seconds=4.0, gop=10)
    reference = tmp_path / "reference"
    lc.extract_to_dir(clip.path, reference)
    page = os.sysconf("SC_PAGESIZE")
    frames_pages = sum(-(-p.stat().st_size // page) for p in (reference / "frames").iterdir())
    later_files = {
        "metadata/source-metadata.json",
        "metadata/source-probe.json",
        "metadata/source-mdls.txt",
        "metadata/source-xattrs.txt",
        "manifest.jsonl",
        "bundle.json",
    }
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    failed_at = set()
    for extra in range(0, 12):
        script = (
            f"mount -t tmpfs -o size={(frames_pages + extra) * page} none {mnt} && "
            f"{sys.executable} -m lifelog_compression extract -q {clip.path} {mnt}/b; code=$?; "
            f"ls -A {mnt} >&2; if [ $code = 0 ]; then cp -r {mnt}/b {tmp_path}/made; fi; exit $code"
        )
        run = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=120)
        if run.returncode == 0:
            break
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 12, run.stderr
        assert len(lines) == 1, f"one error line and an empty disk expected: {run.stderr}"
        assert "No space left on device" in lines[0] and f"{mnt}/b" in lines[0], lines[0]
        failed_at.add(lines[0].split("cannot write ")[1].split(":")[0])
    else:
        pytest.fail("the bundle never fitted")
    assert later_files <= failed_at, f"writes never met the full disk: {sorted(later_files - failed_at)}"
    assert_true_to_source(tmp_path / "made", clip)


# --- leftovers of a killed writer --------------------------------------------


def hidden(parent, name="b"):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_run(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", codec="libx264", width=160, height=96, seconds=30.0, gop=300)
    out = tmp_path / "b"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifelog_compression", "extract", "-q", "--workers", "1", str(clip.path), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Killed once it has written a frame into its hidden folder.
        while not list(tmp_path.glob(".b.partial-*/frames/00000001.jpg")):
            assert proc.poll() is None, "the writer finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    left = hidden(tmp_path)
    assert any(n.endswith(".lock") for n in left) and len(left) == 2, left
    # Not ours to judge: a folder without a lock, and one whose writer lives.
    (tmp_path / ".b.partial-0therapp").mkdir()
    from lifelog_compression.workdir import WriterLock

    alive = WriterLock(out)
    alive.work_dir.mkdir()
    try:
        lc.extract_to_dir(clip.path, out)
        assert hidden(tmp_path) == sorted([".b.partial-0therapp", alive.work_dir.name, alive.path.name])
    finally:
        alive.work_dir.rmdir()
        alive.release()
    assert len(assert_true_to_source(out, clip)) == 30


KILLED_MID_SWAP = """
import os, signal, sys
from pathlib import Path
from lifelog_compression.workdir import WriterLock
out = Path(sys.argv[1])
lock = WriterLock(out)
lock.work_dir.mkdir()
os.rename(out, lock.replaced_dir)     # the old bundle is aside...
os.kill(os.getpid(), signal.SIGKILL)  # ...and the writer dies before its own is in place
"""


def test_a_bundle_moved_aside_by_a_killed_writer_is_put_back(clip, tmp_path):
    c = clip("h264_bframes_mp4")
    out = tmp_path / "b"
    old = lc.extract_to_dir(c.path, out)
    run = subprocess.run([sys.executable, "-c", KILLED_MID_SWAP, str(out)], capture_output=True, timeout=60)
    assert run.returncode == -signal.SIGKILL and not out.exists()
    with pytest.raises(lc.OutputError, match="exists and is not empty"):  # restored, so refused
        lc.extract_to_dir(c.path, out)
    assert hidden(tmp_path) == []
    assert lc.load_bundle_metadata(out).bundle_id == old.bundle_id
    assert_true_to_source(out, c)


# --- Ctrl-C during the swap ---------------------------------------------------


def test_ctrl_c_during_the_overwrite_swap_finishes_it_and_says_so(clip, tmp_path):
    c = clip("h264_bframes_mp4")
    out = tmp_path / "b"
    old = lc.extract_to_dir(c.path, out)
    # An old bundle with many frames takes a while to delete: the swap window
    # is wide enough to be hit from here.
    clutter = out / "frames" / f"{100:08d}.jpg"
    for i in range(100, 20100):
        (out / "frames" / f"{i:08d}.jpg").touch()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifelog_compression", "extract", "--overwrite", "--json", "-q", str(c.path), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not list(tmp_path.glob(".b.replaced-*")):
        assert proc.poll() is None, f"finished before the swap was seen: {proc.communicate()}"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "interrupted while the finished bundle was moved into place" in stderr
    assert json.loads(stdout)["frame_count"] == 6
    assert hidden(tmp_path) == []
    assert lc.load_bundle_metadata(out).bundle_id != old.bundle_id and not clutter.exists()
    assert len(assert_true_to_source(out, c)) == 6


# --- user mistakes ------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("extract", "{clip}", "{out}", "--workers", "-3"),
        ("extract", "{clip}", "{out}", "--workers", "65"),  # every thread holds pictures: 3000 held 2.5 GB
        ("extract", "{clip}", "{out}", "--shard-mb", "0"),
        ("extract", "{clip}", "{out}", "--shards", "--overwrite"),
        ("batch", "{dir}", "{out}", "--workers", "-1"),
        ("batch", "{dir}", "{out}", "--workers", "257"),
        ("batch", "{dir}", "{out}", "--cpus-per-file", "2"),  # a Ray option, without --ray
        ("pack", "{dir}", "{out}", "--shard-mb", "0"),
    ],
)
def test_user_mistakes_are_usage_errors(args, clip, tmp_path):
    c = clip("short_mp4")
    run = run_cli(*(a.format(clip=c.path, dir=c.path.parent, out=tmp_path / "o") for a in args))
    line = one_line(run)
    assert run.returncode == 2 and "error" in line and "internal" not in line, line
    assert not (tmp_path / "o").exists()


def test_api_mistakes_are_usage_errors(clip, tmp_path):
    c = clip("short_mp4")
    for kwargs in (
        {"workers": -3},
        {"workers": 65},
        {"workers": True},
        {"shards": True, "shard_bytes": 0},
        {"shards": True, "overwrite": True},
        {"overwrite": "no"},
        {"recipe": None},
    ):
        with pytest.raises(lc.UsageError) as info:
            lc.extract_to_dir(c.path, tmp_path / "o", **kwargs)
        assert isinstance(info.value, ValueError) and info.value.exit_code == 2
    with pytest.raises(lc.UsageError):
        lc.extract_directory_to_dir(c.path.parent, tmp_path / "o", workers=-1)
    with pytest.raises(lc.UsageError):
        lc.extract_directory_to_dir(c.path.parent, tmp_path / "o", decode_threads=65)
    with pytest.raises(lc.UsageError):
        next(lc.iter_frames(c.path, workers=65))
    assert not (tmp_path / "o").exists()


def test_64_workers_are_taken_and_65_refused_with_the_bound_said(clip, tmp_path):
    """One limit, exported by the core (extract.h's LC_MAX_WORKERS) and
    taken by limits.py: 64 decoding threads run, 65 is a usage error that
    names the range, before anything is created."""
    from lifelog_compression import _core, limits

    assert _core.MAX_WORKERS == limits.MAX_WORKERS == 64
    c = clip("short_mp4")
    result = lc.extract_to_dir(c.path, tmp_path / "b64", workers=64)
    assert result.decode_threads == 64 and result.frame_count > 0
    with pytest.raises(lc.UsageError, match=r"^workers must be 0 \(one per usable CPU\) to 64, not 65$"):
        lc.extract_to_dir(c.path, tmp_path / "b65", workers=65)
    assert not (tmp_path / "b65").exists()
    run = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "extract", str(c.path), str(tmp_path / "c65"), "--workers", "65"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "0 (one per usable CPU) to 64" in run.stderr, run.stderr


def test_the_core_refuses_more_threads_than_the_limit(clip):
    """Direct callers of the native core meet the same bound (extract.h's
    LC_MAX_WORKERS is limits.MAX_WORKERS), and the bound itself works."""
    from lifelog_compression import _core
    from lifelog_compression.limits import MAX_WORKERS

    frames = []
    with _core.Source(str(clip("short_mp4").path)) as src:
        with pytest.raises(ValueError, match=f"workers 0..{MAX_WORKERS}"):
            src.extract([0], frames.append, workers=MAX_WORKERS + 1)
        src.extract([0], frames.append, workers=MAX_WORKERS)
    assert len(frames) == 1 and frames[0]["jpeg"][:2] == b"\xff\xd8"


@pytest.mark.parametrize("command", ["extract", "extract --shards", "batch", "parquet"])
def test_an_output_name_too_long_is_an_output_error(clip, tmp_path, command):
    """A 4000-character output path (or a parent that is a file) is exit 12
    in one line, never an internal error."""
    c = clip("short_mp4")
    too_long = str(tmp_path / ("x" * 4000))
    if command == "parquet":
        lc.extract_to_dir(c.path, tmp_path / "b")
        args = ("parquet", tmp_path / "b", too_long + ".parquet")
    elif command == "batch":
        args = ("batch", c.path.parent, too_long)
    else:
        args = (*command.split(), c.path, too_long)
    run = run_cli(*args)
    line = one_line(run)
    assert run.returncode == lc.OutputError.exit_code and "internal" not in line, line
