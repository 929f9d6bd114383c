"""One Ray task per file on a real local Ray cluster (2 CPUs, started once per
session): a killed worker costs a retry of its file only, reruns skip finished
work, failures carry their error class and exit code, Ray Data yields frames;
sources on nginx and moto's S3 server."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fixtures import make_text_file, read_index
from truth import assert_true_to_source

import lifelog_compression as lc
from lifelog_compression import distributed


@pytest.fixture(scope="session")
def ray_cluster(s3_server):
    """A local Ray cluster of 2 CPUs. Started after the S3 server so that its
    workers inherit AWS_ENDPOINT_URL and the credentials, as on a real node."""
    # Loopback only (the cluster is this machine): Ray then binds 127.0.0.1
    # instead of the machine's network address. Read when ray is imported.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield context.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture
def folder(tmp_path, clip):
    root = tmp_path / "card"
    (root / "DCIM").mkdir(parents=True)
    shutil.copy(clip("hevc_mp4").path, root / "DCIM" / "GX010046.MP4")
    shutil.copy(clip("h264_bframes_mp4").path, root / "DCIM" / "GX020046.MP4")
    shutil.copy(clip("vfr_mp4").path, root / "phone.mp4")
    return root


def test_extract_many_folder_then_rerun_skips(ray_cluster, folder, tmp_path, clip):
    out = tmp_path / "out"
    calls = []
    result = distributed.extract_many(folder, out, progress=calls.append)
    assert [f.status for f in result.files] == ["extracted"] * 3, result.files
    assert [f.relpath for f in result.files] == ["DCIM/GX010046.MP4", "DCIM/GX020046.MP4", "phone.mp4"]
    assert all(f.error is None and f.exit_code == 0 and f.pid != os.getpid() for f in result.files)
    assert calls and calls[-1].files_done == 3 and calls[-1].files_total == 3
    assert_true_to_source(out / "DCIM" / "GX010046", clip("hevc_mp4"))
    assert_true_to_source(out / "phone", clip("vfr_mp4"))
    doc = json.loads((out / "DCIM" / "GX020046" / "bundle.json").read_text())
    assert doc["recording"]["chapters"] == ["DCIM/GX010046.MP4", "DCIM/GX020046.MP4"]
    assert doc["source_bytes_read"] > 0
    ids = {p: json.loads(p.read_text())["bundle_id"] for p in out.rglob("bundle.json")}

    again = distributed.extract_many(folder, out)
    assert [f.status for f in again.files] == ["skipped"] * 3
    assert {p: json.loads(p.read_text())["bundle_id"] for p in out.rglob("bundle.json")} == ids
    # Another source under the same name is not "complete already".
    shutil.copy(clip("hevc_mp4").path, folder / "phone.mp4")
    third = distributed.extract_many(folder, out)
    assert [f.status for f in third.files] == ["skipped", "skipped", "failed"]
    assert third.files[2].error == "OutputError" and third.files[2].exit_code == lc.OutputError.exit_code


def test_bad_files_carry_error_class_and_exit_code(ray_cluster, tmp_path, clip):
    make_text_file(tmp_path / "notes.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    good = clip("hevc_mp4").path
    result = distributed.extract_many(
        [tmp_path / "notes.mp4", good, tmp_path / "empty.mp4", tmp_path / "missing.mp4"], tmp_path / "out"
    )
    got = [(f.status, f.error, f.exit_code) for f in result.files]
    assert got == [
        ("failed", "NotAVideoError", 6),
        ("extracted", None, 0),
        ("failed", "EmptySourceError", 5),
        ("failed", "SourceNotFoundError", 3),
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["hevc_mp4"]


def _task_pids() -> list[int]:
    """Ray names a worker's process after the task it runs."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().startswith(b"ray::lifelog_extract_file"):
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def test_killed_worker_costs_a_retry_of_that_file_only(ray_cluster, http_server, tmp_path, clip, noisy_long_clip):
    # Served at 100 KB/s per request (nginx limit_rate): a file that takes seconds.
    noisy = noisy_long_clip
    shutil.copy(noisy.path, http_server.root / "ray-kill.mp4")
    other = clip("hevc_mp4").path
    out = tmp_path / "out"
    box = {}
    runner = threading.Thread(
        target=lambda: box.update(
            result=distributed.extract_many([http_server.url("slow/ray-kill.mp4"), other], out, max_retries=2)
        )
    )
    runner.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline:
        partials = list(out.glob(".ray-kill.partial-*")) if out.exists() else []
        pids = _task_pids()
        if partials and pids:
            # Which worker holds the slow file: the one still running once the other is done.
            if len(pids) == 1:
                killed = pids[0]
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    runner.join(timeout=300)
    assert killed is not None, "never saw the task running"
    result = box["result"]
    slow, fast = result.files
    assert slow.status == "extracted" and slow.pid != killed, slow
    assert fast.status == "extracted"
    assert_true_to_source(out / "ray-kill", noisy)
    assert not list(out.glob(".*partial*")), list(out.iterdir())


def test_sources_and_outputs_on_s3_with_rerun_by_etag(ray_cluster, s3_server, clip):
    import secrets

    bucket = f"ray-{secrets.token_hex(4)}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    client.upload_file(str(clip("hevc_mp4").path), bucket, "card/DCIM/GX010046.MP4")
    client.upload_file(str(clip("vfr_mp4").path), bucket, "card/phone.mp4")
    client.put_object(Bucket=bucket, Key="card/.hidden/x.mp4", Body=b"x")
    result = distributed.extract_many(f"s3://{bucket}/card", f"s3://{bucket}/bundles")
    assert [(f.relpath, f.status) for f in result.files] == [
        ("DCIM/GX010046.MP4", "extracted"),
        ("phone.mp4", "extracted"),
    ]
    keys = s3_server.keys(bucket, "bundles/")
    assert "bundles/DCIM/GX010046/bundle.json" in keys and "bundles/phone/bundle.json" in keys
    assert not [k for k in keys if "partial" in k]
    again = distributed.extract_many(f"s3://{bucket}/card", f"s3://{bucket}/bundles")
    assert [f.status for f in again.files] == ["skipped", "skipped"]


def test_frames_dataset(ray_cluster, http_server, clip):
    c = clip("h264_bframes_mp4")
    shutil.copy(c.path, http_server.root / "dataset.mp4")
    ds = distributed.frames_dataset([http_server.url("dataset.mp4"), clip("hevc_mp4").path])
    rows = sorted(ds.take_all(), key=lambda r: (r["source_relpath"], r["requested_ts_ms"]))
    mine = [r for r in rows if r["source_relpath"] == "dataset.mp4"]
    assert [r["requested_ts_ms"] for r in mine] == list(range(0, 6000, 1000))
    assert len(rows) == 6 + 5
    import io

    import numpy as np
    from PIL import Image

    for r in mine:
        picture = np.asarray(Image.open(io.BytesIO(r["jpeg"])).convert("RGB"))
        index = read_index(
            picture, (r["content_rect_x"], r["content_rect_y"], r["content_rect_width"], r["content_rect_height"])
        )
        assert abs(c.times_by_index[index] - r["actual_ts_ms"]) <= 1.0, r["requested_ts_ms"]
        assert r["source"] == http_server.url("dataset.mp4") and r["width"] == 1920


def test_cli_batch_ray(ray_cluster, folder, tmp_path):
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "batch", str(folder), str(out), "--ray", ray_cluster, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["extracted"] == 3 and summary["failed"] == 0
    assert all(f["exit_code"] == 0 for f in summary["files"])
    assert lc.load_bundle_metadata(out / "phone").frame_count == 5
    # Object storage without --ray is a usage error, and creates nothing.
    r = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "batch", str(folder), "s3://b/out"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert r.returncode == 2 and "--ray" in r.stderr
    assert not (tmp_path / "s3:").exists()


def test_cli_batch_ray_drop_duplicates(ray_cluster, tmp_path):
    np = pytest.importorskip("numpy")
    import scenes

    from lifelog_compression.bundle import load_manifest

    root, out = tmp_path / "card", tmp_path / "out"
    root.mkdir()
    rng = np.random.default_rng(25)
    still = scenes.generated_still(320, 180, rng)
    scenes.encode(scenes.static(still, 25, rng, gain_end=1.1).shown, root / "desk.mp4", 5)
    scenes.encode(scenes.pan(still, 25, 5, rng, px_per_s=40).shown, root / "walk.mp4", 5)
    r = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "batch", str(root), str(out), "--ray", ray_cluster]
        + ["--drop-duplicates", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["extracted"] == 2
    # The bundle says what was dropped: the desk's rows repeat its first, whose JPEG is the only one.
    desk = load_manifest(out / "desk")
    assert [row.duplicate_of for row in desk] == [None] + ["frame_00000001"] * 4
    assert {row.frame_relpath for row in desk} == {desk[0].frame_relpath}
    assert [p.name for p in (out / "desk" / "frames").iterdir()] == [Path(desk[0].frame_relpath).name]
    assert json.loads((out / "desk" / "bundle.json").read_text())["signals"]["duplicates_dropped"] is True
    walk = load_manifest(out / "walk")
    assert all(row.duplicate_of is None for row in walk)
    assert len(list((out / "walk" / "frames").iterdir())) == len(walk) == 5


def test_plan_links_chapters_as_a_local_batch_does(folder, tmp_path):
    tasks = {t.relpath: t for t in distributed.plan(folder, tmp_path / "out")}
    recording = tasks["DCIM/GX020046.MP4"].extra["recording"]
    assert recording["chapter_bundles"] == ["DCIM/GX010046", "DCIM/GX020046"]
    assert tasks["phone.mp4"].extra == {"batch": {"input_relpath": "phone.mp4"}}


def _bundle_docs(out: Path) -> dict[str, dict]:
    """Every bundle.json below ``out``, without what differs from run to run."""
    docs = {}
    for p in sorted(out.rglob("bundle.json")):
        doc = json.loads(p.read_text())
        for volatile in ("bundle_id", "created_at"):
            doc.pop(volatile)
        docs[str(p.parent.relative_to(out))] = doc
    return docs


def test_local_batch_ray_and_api_write_the_same_bundle_json(ray_cluster, folder, tmp_path):
    from lifelog_compression.jobs import extract_file

    local_events: list[dict] = []
    ray_events: list[dict] = []
    lc.extract_directory_to_dir(folder, tmp_path / "local", decode_threads=1, on_event=local_events.append)
    distributed.extract_many(folder, tmp_path / "ray", on_event=ray_events.append)
    # One loop drives both executors: the same events, file by file.
    said = [sorted((e["event"], e.get("relpath", "")) for e in events) for events in (local_events, ray_events)]
    assert said[0] == said[1] and ("done", "phone.mp4") in said[0], said
    for task in distributed.plan(folder, tmp_path / "api"):
        assert extract_file(task).status == "extracted"
    local, ray, api = (_bundle_docs(tmp_path / d) for d in ("local", "ray", "api"))
    assert sorted(local) == sorted(ray) == sorted(api) == ["DCIM/GX010046", "DCIM/GX020046", "phone"]
    for bundle in local:
        for field in sorted(set(local[bundle]) | set(ray[bundle]) | set(api[bundle])):
            assert local[bundle].get(field) == ray[bundle].get(field) == api[bundle].get(field), (bundle, field)
    assert local["DCIM/GX010046"]["recording"]["chapter_bundles"] == ["DCIM/GX010046", "DCIM/GX020046"]
