"""iter_frames and probe: frames straight from the core, and a quick look."""

import io
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from fixtures import read_index
from PIL import Image
from truth import load_rows

import lifelog_compression as lc


def test_iter_frames_matches_extract_to_dir(clip, tmp_path):
    source = clip("h264_bframes_mp4")
    lc.extract_to_dir(source.path, tmp_path / "b")
    rows = load_rows(tmp_path / "b")
    frames = list(lc.iter_frames(source.path))
    assert [f.index for f in frames] == list(range(len(rows)))
    assert [(f.requested_ts_ms, f.actual_ts_ms) for f in frames] == [
        (r["requested_ts_ms"], r["actual_ts_ms"]) for r in rows
    ]
    assert [f.jpeg for f in frames] == [(tmp_path / "b" / r["frame_relpath"]).read_bytes() for r in rows]
    # One frame -> row mapping (manifest.frame_fields): a record's fields are its bundle row's.
    for f, r in zip(frames, rows):
        assert f.fields and f.fields == {k: r[k] for k in f.fields}, (f.fields, r)
        assert "content_rect_width" in f.fields and "extractor" not in f.fields


def test_arrays_equal_the_jpeg_content(clip):
    source = clip("rotate90_mp4")
    jpegs = list(lc.iter_frames(source.path))
    arrays = list(lc.iter_frames(source.path, as_array=True))
    assert len(jpegs) == len(arrays) == 3
    for j, a in zip(jpegs, arrays):
        assert a.jpeg is None and a.array.shape == (1080, 1920, 3) and a.array.dtype == np.uint8
        decoded = np.asarray(Image.open(io.BytesIO(j.jpeg)).convert("RGB")).astype(int)
        assert np.abs(decoded - a.array).mean() < 3
        assert a.content_rect == j.content_rect and a.actual_ts_ms == j.actual_ts_ms
        index = read_index(a.array, a.content_rect)  # also proves the orientation
        assert index is not None and abs(source.times_by_index[index] - a.actual_ts_ms) <= 1


def _open_fds():
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


@pytest.mark.parametrize("as_array", [False, True])
def test_early_stop_leaves_the_process_clean(clip, as_array):
    source = clip("long_gop_mp4")
    threads, fds = threading.active_count(), _open_fds()
    for _ in range(3):
        for f in lc.iter_frames(source.path, as_array=as_array):
            if f.index == 1:
                break
    gen = lc.iter_frames(source.path, as_array=as_array)
    next(gen)
    gen.close()
    assert threading.active_count() == threads
    assert _open_fds() == fds


def test_consumer_exception_stops_the_core(clip):
    source = clip("long_gop_mp4")
    threads = threading.active_count()
    with pytest.raises(RuntimeError, match="consumer"):
        for f in lc.iter_frames(source.path):
            raise RuntimeError("consumer gave up")
    assert threading.active_count() == threads


def test_source_errors_surface_on_first_next(tmp_path):
    gen = lc.iter_frames(tmp_path / "missing.mp4")
    with pytest.raises(lc.SourceNotFoundError):
        next(gen)


def test_probe_reads_the_summary(clip, tmp_path):
    source = clip("rotate90_mp4")
    summary = lc.probe(source.path)
    assert (summary.display_width, summary.display_height) == (source.display_width, source.display_height)
    assert summary.rotation_degrees == 90 and summary.video_codec == "h264" and summary.duration_ms == 3000
    lc.extract_to_dir(source.path, tmp_path / "b")
    bundle_summary = lc.load_bundle_metadata(tmp_path / "b").source_video
    for key in ("duration_ms", "display_width", "coded_width", "video_codec", "bit_depth"):
        assert summary.fields[key] == bundle_summary[key]


def test_repr_shows_sizes_not_pixels(clip):
    it = lc.iter_frames(clip("hevc_mp4").path)
    frame = next(it)
    it.close()
    assert f"jpeg=<{len(frame.jpeg)} bytes>" in repr(frame) and len(repr(frame)) < 300
    it = lc.iter_frames(clip("hevc_mp4").path, as_array=True)
    frame = next(it)
    it.close()
    assert "array=<1080x1920x3 uint8>" in repr(frame) and len(repr(frame)) < 300


def test_a_generator_open_at_exit_stops_quietly(clip):
    script = "import sys, lifelog_compression as lc\nit = lc.iter_frames(sys.argv[1])\nprint(next(it).actual_ts_ms)\n"
    out = subprocess.run(
        [sys.executable, "-c", script, clip("long_gop_mp4").path], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout == "0\n" and out.stderr == ""


def test_progress_runs_in_the_consumers_thread_and_counts_frames(clip):
    calls = []
    frames = []
    for frame in lc.iter_frames(clip("vfr_mp4").path, progress=lambda p: calls.append((threading.get_ident(), p))):
        frames.append(frame)
        assert calls[-1][1].frames_written == len(frames)
    assert {ident for ident, _ in calls} == {threading.get_ident()}
    assert calls[-1][1].requests_done == calls[-1][1].requests_total == len(calls)
    assert calls[-1][1].frames_written == len(frames)


def test_extract_progress_runs_in_the_callers_thread(clip, tmp_path):
    calls = []
    result = lc.extract_to_dir(
        clip("hevc_mp4").path,
        tmp_path / "b",
        progress=lambda p: calls.append((threading.get_ident(), p.frames_written)),
    )
    assert {ident for ident, _ in calls} == {threading.get_ident()}
    assert [n for _, n in calls] == list(range(1, result.frame_count + 1))
