"""Beyond one machine: bytes read over HTTP, Ray throughput, Ray's per-file cost.

    python benchmarks/bench_distributed.py [--files 6] [--small-files 20]

1. Bytes over HTTP: the GoPro-like and phone-like clips (bench_extract.py,
   cached in benchmarks/.cache) served by nginx on a loopback port; 1 fps
   extraction from the URL. Reports what nginx sent (its access log), what
   the core counted, the file's size, and the bytes of the keyframes the
   requests picture (the floor for sparse reads; from ffprobe).
2. Ray throughput: ``--files`` hard links to the phone-like clip, one task per
   file with 1 CPU and 1 decoding thread, on a local Ray cluster of 1 and then
   2 CPUs (a fresh cluster each, started before the clock runs).
3. Per-file overhead: ``--small-files`` 1 s clips, extracted by a loop of
   ``extract_to_dir`` in this process, by local ``batch`` (a child process per
   file) and by ``extract_many`` on a 2-CPU Ray cluster; the difference per file
   is what each way of running adds to the extraction itself.

Everything runs on loopback (nginx and Ray bind 127.0.0.1). Needs nginx and
the ``ray`` extra; the machine should be quiet for the throughput rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "tests"))
# Ray binds loopback instead of the machine's network address (read on import).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

from bench_extract import CACHE, CLIPS, make_clip  # noqa: E402

import lifelog_compression as lc  # noqa: E402


def keyframe_bytes_needed(path: Path, requests_ms: list[int]) -> tuple[int, int]:
    """(bytes of the keyframes nearest each request time, bytes of all keyframes)."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=pts_time,size,flags",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    keys = []
    for line in out.splitlines():
        t, size, flags = line.split(",")[:3]
        if "K" in flags:
            keys.append((float(t) * 1000, int(size)))
    needed = set()
    for t in requests_ms:
        needed.add(min(range(len(keys)), key=lambda i: abs(keys[i][0] - t)))
    return sum(keys[i][1] for i in needed), sum(s for _, s in keys)


def bytes_over_http() -> list[str]:
    from servers import http_server

    class Factory:  # what pytest's tmp_path_factory offers the fixture
        def __init__(self, base: Path):
            self.base = base

        def mktemp(self, name: str) -> Path:
            path = self.base / name
            path.mkdir()
            return path

    rows = [
        "| clip | file MB | sent by nginx MB | counted by the core MB | requests | sent / file | "
        "keyframes pictured MB | sent / those keyframes | seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory(prefix="lifelog-http-bench-") as tmp:
        server_gen = http_server.__wrapped__(Factory(Path(tmp)))
        server = next(server_gen)
        try:
            for clip in CLIPS:
                path = make_clip(clip)
                os.link(path, server.root / path.name)
                start = time.perf_counter()
                result = lc.extract_to_dir(server.url(path.name), Path(tmp) / clip.name)
                elapsed = time.perf_counter() - start
                got = [r for r in server.requests(path.name) if r["method"] == "GET"]
                sent = sum(r["body_bytes"] for r in got)
                size = path.stat().st_size
                requested = [r.requested_ts_ms for r in lc.load_manifest(Path(tmp) / clip.name)]
                needed, _ = keyframe_bytes_needed(path, requested)
                rows.append(
                    f"| {clip.name} | {size / 1e6:.1f} | {sent / 1e6:.2f} | "
                    f"{result.source_bytes_read / 1e6:.2f} | {len(got)} | {sent / size:.3f} | "
                    f"{needed / 1e6:.2f} | {sent / needed:.2f} | {elapsed:.2f} |"
                )
        finally:
            next(server_gen, None)
    return rows


def _warm_worker() -> int:
    """Imports the package in a worker, and holds its CPU a moment so that
    every worker of the cluster gets one."""
    import lifelog_compression.api  # noqa: F401

    time.sleep(0.5)
    return os.getpid()


def ray_cluster(cpus: int):
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    # Start the workers before the clock runs: a cluster is up before a job.
    ray.get([ray.remote(num_cpus=1)(_warm_worker).remote() for _ in range(cpus)])
    return ray


def ray_throughput(files: int) -> list[str]:
    from lifelog_compression import distributed

    clip = CLIPS[1]
    folder = CACHE / f"ray-{files}"
    folder.mkdir(exist_ok=True)
    for i in range(files):
        link = folder / f"VID_{i:04d}.mp4"
        if not link.exists():
            os.link(make_clip(clip), link)
    rows = [
        "| Ray CPUs (files at once) | seconds | x realtime | throughput vs 1 CPU |",
        "| ---: | ---: | ---: | ---: |",
    ]
    base = None
    for cpus in (1, 2):
        ray_cluster(cpus)
        with tempfile.TemporaryDirectory(prefix="lifelog-ray-bench-") as out:
            start = time.perf_counter()
            result = distributed.extract_many(folder, Path(out) / "bundles", cpus_per_file=1)
            elapsed = time.perf_counter() - start
        assert not result.failed, result.failed
        base = base or elapsed
        rows.append(f"| {cpus} | {elapsed:.2f} | {files * clip.seconds / elapsed:.1f} | {base / elapsed:.2f} |")
    return rows


def per_file_overhead(n: int) -> list[str]:
    from fixtures import make_clip as make_fixture

    from lifelog_compression import distributed

    folder = CACHE / f"small-{n}"
    if not folder.exists():
        tmp = CACHE / f"small-{n}.part"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        first = make_fixture(tmp / "clip_0000.mp4", seconds=1.0, gop=30)
        for i in range(1, n):
            os.link(first.path, tmp / f"clip_{i:04d}.mp4")
        tmp.rename(folder)
    rows = [
        "| way of running | files at once | seconds | ms per file | overhead per file vs in-process ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory(prefix="lifelog-overhead-") as out:
        out = Path(out)
        start = time.perf_counter()
        for i, f in enumerate(sorted(folder.iterdir())):
            lc.extract_to_dir(f, out / "loop" / f.stem, workers=1)
        loop = time.perf_counter() - start
        start = time.perf_counter()
        lc.extract_directory_to_dir(folder, out / "batch", workers=2, decode_threads=1)
        batch = time.perf_counter() - start
        ray_cluster(2)
        start = time.perf_counter()
        r = distributed.extract_many(folder, out / "ray", cpus_per_file=1)
        ray_s = time.perf_counter() - start
        assert not r.failed, r.failed
    base = loop / n * 1000
    for name, at_once, s in (
        ("extract_to_dir loop, in process", 1, loop),
        ("local batch (child processes)", 2, batch),
        ("extract_many (Ray tasks)", 2, ray_s),
    ):
        # Two at a time halve the wall time of the work itself: compare work per file.
        per = s / n * 1000
        rows.append(f"| {name} | {at_once} | {s:.2f} | {per:.0f} | {per * at_once - base:+.0f} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--small-files", type=int, default=20)
    parser.add_argument("--only", choices=["http", "ray", "overhead"])
    args = parser.parse_args()
    sections = {
        "http": bytes_over_http,
        "ray": lambda: ray_throughput(args.files),
        "overhead": lambda: per_file_overhead(args.small_files),
    }
    for name, fn in sections.items():
        if args.only in (None, name):
            print(f"\n## {name} ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start)\n")
            print("\n".join(fn()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
