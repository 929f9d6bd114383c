"""Hostile input (issue 22): files whose headers claim far more than their
bytes hold (a fragment's clock 18 hours ahead, a compressed index that
inflates a thousandfold, a telemetry table of 2^31 samples, a sidecar of
600,000 blocks for 3 s, 10,000 edits) end quickly in little memory, each
run under the fuzz harness's bounds (tests/fuzz_worker.py: RLIMIT_AS and
SIGALRM), and as a true bundle or one clean error line."""

import json
import os
from pathlib import Path

import hostile
import pytest
from test_fuzz import run_cases

from lifelog_compression import _core

FFMPEG_ONLY = pytest.mark.skipif(_core.backend != "ffmpeg", reason="the FFmpeg backend's checks")
SANITIZED = "libasan" in os.environ.get("LD_PRELOAD", "")
# Each file is under 1 MB (a sidecar aside): it must end within this, in this
# much memory, whatever it claims.
SECONDS = 5.0 * (3 if SANITIZED else 1)
RSS_MB = 300


def _case(folder: Path, name: str, path: Path) -> dict:
    return {
        "name": name,
        "path": str(path),
        "out": str(folder / f"{name}-out"),
        "stderr": str(folder / f"{name}-stderr.txt"),
    }


@pytest.fixture(scope="module")
def hostile_results(tmp_path_factory):
    made = {}
    for name, make in [
        ("tfdt-jump", hostile.tfdt_jump),
        ("cmov-bomb", hostile.cmov_bomb),
        ("gpmd-claims", hostile.gpmd_claims),
        ("edit-list", hostile.edit_list),
        ("dji-sidecar", hostile.dji_sidecar),
    ]:
        folder = tmp_path_factory.mktemp(name)
        made[name] = make(folder)
    cases_dir = tmp_path_factory.mktemp("hostile-cases")
    cases = [_case(cases_dir, name, path) for name, path in made.items()]
    sizes = {name: path.stat().st_size for name, path in made.items()}
    results = {r["name"]: r for r in run_cases(cases, cases_dir)}
    print(
        json.dumps({n: {k: r[k] for k in ("verdict", "code", "elapsed_s", "max_rss_mb")} for n, r in results.items()})
    )
    return results, sizes


@pytest.mark.parametrize("name", ["tfdt-jump", "cmov-bomb", "gpmd-claims", "edit-list", "dji-sidecar"])
def test_claims_cost_what_the_bytes_hold(hostile_results, name):
    results, sizes = hostile_results
    r = results[name]
    assert sizes[name] < 1 << 20, sizes
    assert r["verdict"] in ("ok", "error"), r
    # The DJI clip's sidecar is 100 MB of text beside it: reading it is linear.
    assert r["elapsed_s"] < SECONDS * (2 if name == "dji-sidecar" else 1), r
    if not SANITIZED:
        assert r["max_rss_mb"] < RSS_MB, r


@FFMPEG_ONLY
def test_cmov_inflating_a_thousandfold_is_refused_as_damaged(hostile_results):
    results, _ = hostile_results
    r = results["cmov-bomb"]
    assert r["verdict"] == "error" and r["code"] == 9 and "cmov" in r["why"], r


def test_a_fragment_clock_jump_costs_no_decoding_for_the_gap(tmp_path):
    """18 hours of requests with no packet in their windows: no seek, no
    decode; the same rows for any worker count."""
    from lifelog_compression import _core

    path = hostile.tfdt_jump(tmp_path)
    rows = {}
    for workers in (1, 2, 4):
        got = []
        with _core.Source(str(path)) as src:
            n = src.info["duration_ms"] // 1000 + 1
            src.extract([i * 1000 for i in range(n)], lambda f: got.append(f) and None, workers=workers)
        rows[workers] = [(f["requested_ms"], f["actual_us"]) for f in got if f["obtained"] is not None]
        # Requests within the planner's slack (10 s) of a packet may decode a
        # GOP (30 frames) each; none beyond it (unbounded: 65,534 GOPs).
        assert sum(f["frames_decoded"] for f in got) <= 60 * 30, workers
    assert rows[1] == rows[2] == rows[4], rows
    assert len(rows[1]) >= 3 and rows[1][-1][0] > 65_000_000, rows[1]


def test_batch_time_limit_counts_the_bytes_not_the_claim(tmp_path):
    """A 4 s clip whose clock claims 18 hours: the per-file time limit is
    60 s plus what its bytes can hold, not 18 hours."""
    from lifelog_compression.batch import BYTES_PER_VIDEO_S_AT_LEAST, _Job
    from lifelog_compression.jobs import FileTask

    path = hostile.tfdt_jump(tmp_path)
    job = _Job(FileTask(str(path), path.name, str(tmp_path / "x")), path.stat().st_size)
    job.duration_ms = 65_541_000
    assert job.video_s_held() == path.stat().st_size / BYTES_PER_VIDEO_S_AT_LEAST < 5


def test_dji_sidecar_is_read_for_the_video_span_only(tmp_path):
    from lifelog_compression.telemetry import dji

    video = hostile.dji_sidecar(tmp_path, blocks=20_000)
    tel = dji.read_srt(video.with_suffix(".SRT"), duration_ms=3000)
    assert len(tel.positions) <= 100 + 240 * 3, len(tel.positions)
    assert any("not read" in n for n in tel.notes), tel.notes


def test_gpmd_sample_table_is_capped_by_the_bytes(tmp_path):
    from lifelog_compression.telemetry.mp4 import read_movie

    path = hostile.gpmd_claims(tmp_path)
    movie = read_movie(path)
    track = movie.track("gpmd")
    assert track is not None
    assert len(track.samples(movie.file_size)) <= movie.file_size // 4


@FFMPEG_ONLY
def test_a_server_trickling_its_status_line_is_named_slow(tmp_path):
    """A real server on loopback that sends its status line a byte every 2 s:
    named as a server too slow to answer (exit 11), not an empty object
    (exit 5) half a minute later."""
    import socket
    import subprocess
    import sys
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    done = threading.Event()

    def serve():
        listener.settimeout(0.5)
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                for byte in b"HTTP/1.1 200 OK\r\n":
                    if done.wait(2.0):
                        break
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "lifelog_compression",
                "extract",
                "-q",
                f"http://127.0.0.1:{port}/clip.mp4",
                str(tmp_path / "b"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        done.set()
        thread.join()
        listener.close()
    assert run.returncode == 11, run.stderr
    assert "did not answer a request within" in run.stderr, run.stderr
    assert time.monotonic() - started < 25


@FFMPEG_ONLY
def test_a_server_that_ignores_ranges_is_named_so(clip, tmp_path):
    """A real server on loopback that announces byte ranges but answers every
    request with the whole object from byte 0 (a misconfigured proxy): named
    as such (exit 11), not "not a video file" (exit 6)."""
    import http.server
    import shutil
    import subprocess
    import sys
    import threading

    root = tmp_path / "www"
    root.mkdir()
    shutil.copy(clip("h264_bframes_mp4").path, root / "clip.mp4")

    class IgnoresRanges(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def end_headers(self):
            self.send_header("Accept-Ranges", "bytes")
            super().end_headers()

        def log_message(self, *args):
            pass

        def handle(self):
            try:
                super().handle()
            except OSError:  # the client hangs up on the whole object
                pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), IgnoresRanges)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/clip.mp4"
        run = subprocess.run(
            [sys.executable, "-m", "lifelog_compression", "extract", "-q", url, str(tmp_path / "b")],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert run.returncode == 11, run.stderr
    assert "sends the object from its start" in run.stderr, run.stderr
    assert not (tmp_path / "b").exists()
