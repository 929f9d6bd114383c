"""Sources over HTTP and object storage, bundles published to object storage:
with real servers on loopback (nginx for range reads, moto's S3 server) and
the real client stack (libavformat's http protocol, fsspec/s3fs/botocore)."""

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
from fixtures import make_text_file
from truth import assert_true_to_source

import lifelog_compression as lc


def run_cli(*args, cwd=None, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "lifelog_compression", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        stdin=stdin,
        timeout=300,
    )


def manifest_pairs(bundle: Path) -> list[tuple]:
    return [(r.requested_ts_ms, r.actual_ts_ms, r.content_hash) for r in lc.load_manifest(bundle)]


# ---- HTTP ---------------------------------------------------------------------------------------


def test_http_source_reads_a_small_fraction_in_bounded_ranges(http_server, noisy_long_clip, tmp_path):
    name = "noisy-sparse.mp4"
    shutil.copy(noisy_long_clip.path, http_server.root / name)
    size = (http_server.root / name).stat().st_size
    result = lc.extract_to_dir(http_server.url(name), tmp_path / "b")

    everything = http_server.requests(name)
    requests = [r for r in everything if r["method"] == "GET"]
    # One HEAD for the source's identity (size, ETag); it sends no body.
    assert [r["method"] for r in everything if r not in requests] == ["HEAD"]
    sent = sum(r["body_bytes"] for r in requests)
    assert requests and all(r["status"] == 206 for r in requests), requests[:5]
    # Every request names its end: nothing open-ended for the server to push.
    assert all(r["range"].startswith("bytes=") and not r["range"].endswith("-") for r in requests), requests
    # What the core reports is what nginx sent; a small fraction of the file.
    assert result.source_bytes_read == sent
    assert sent < 0.15 * size, f"{sent} of {size} bytes"
    bundle = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert bundle["source_bytes_read"] == sent
    assert bundle["source_video"]["source_url"] == http_server.url(name)
    assert bundle["source_video"]["file_size_bytes"] == size
    # The same frames as from the file on disk, and true to the source.
    rows = assert_true_to_source(tmp_path / "b", noisy_long_clip)
    assert len(rows) == 60
    local = lc.extract_to_dir(noisy_long_clip.path, tmp_path / "local")
    assert manifest_pairs(tmp_path / "b") == manifest_pairs(tmp_path / "local")
    assert 0 < local.source_bytes_read < size  # counted for files too


def test_http_decode_forward_over_ranges_is_true(http_server, clip, tmp_path):
    """A long GOP with B-frames: reading goes sequential (growing windows)."""
    c = clip("h264_bframes_mp4")
    shutil.copy(c.path, http_server.root / "bframes.mp4")
    lc.extract_to_dir(http_server.url("bframes.mp4"), tmp_path / "b")
    assert_true_to_source(tmp_path / "b", c)


def test_http_source_that_refuses_head(http_server, clip, tmp_path):
    c = clip("hevc_mp4")
    shutil.copy(c.path, http_server.root / "nohead.mp4")
    lc.extract_to_dir(http_server.url("nohead/nohead.mp4"), tmp_path / "b")
    video = json.loads((tmp_path / "b" / "bundle.json").read_text())["source_video"]
    assert video["file_size_bytes"] == c.path.stat().st_size and video["etag"]
    assert [r["status"] for r in http_server.requests("nohead/nohead.mp4") if r["method"] == "HEAD"] == [403]
    assert_true_to_source(tmp_path / "b", c)


def test_http_errors_are_classified(http_server, tmp_path):
    make_text_file(http_server.root / "notes.mp4")
    (http_server.root / "empty.mp4").write_bytes(b"")
    cases = {"missing.mp4": lc.SourceNotFoundError, "notes.mp4": lc.NotAVideoError, "empty.mp4": lc.EmptySourceError}
    for name, error in cases.items():
        with pytest.raises(error) as e:
            lc.extract_to_dir(http_server.url(name), tmp_path / name)
        assert str(e.value).startswith(http_server.url(name) + ": ")
        assert not (tmp_path / name).exists()
    r = run_cli("extract", http_server.url("missing.mp4"), tmp_path / "x")
    assert r.returncode == lc.SourceNotFoundError.exit_code
    assert len(r.stderr.strip().splitlines()) == 1 and "HTTP 404" in r.stderr


def test_a_signed_url_s_query_is_never_written_down(http_server, clip, tmp_path):
    """A presigned https URL given by hand carries its signature in the
    query: the bundle, its metadata, errors (CLI and API) name the URL
    without it, while the reads use it whole."""
    c = clip("hevc_mp4")
    shutil.copy(c.path, http_server.root / "signed.mp4")
    secret = "?X-Amz-Credential=AKIDSECRET&X-Amz-Signature=SECRETSIG123"
    lc.extract_to_dir(http_server.url("signed.mp4") + secret, tmp_path / "b")
    assert_true_to_source(tmp_path / "b", c)
    written = "".join(
        p.read_text(errors="replace") for p in (tmp_path / "b").rglob("*") if p.suffix != ".jpg" and p.is_file()
    )
    assert "SECRET" not in written and http_server.url("signed.mp4") in written
    with pytest.raises(lc.SourceNotFoundError) as e:
        lc.extract_to_dir(http_server.url("gone.mp4") + secret, tmp_path / "x")
    with pytest.raises(lc.SourceNotFoundError) as p:
        lc.probe(http_server.url("gone.mp4") + secret)
    r = run_cli("extract", http_server.url("gone.mp4") + secret, tmp_path / "y")
    for text in (str(e.value), str(p.value), r.stderr):
        assert "SECRET" not in text and http_server.url("gone.mp4") in text, text


def test_ingest_reads_urls(http_server, clip):
    c = clip("hevc_mp4")
    shutil.copy(c.path, http_server.root / "ingest.mp4")
    frames = list(lc.iter_frames(http_server.url("ingest.mp4")))
    assert [f.requested_ts_ms for f in frames] == list(range(0, 5000, 1000))
    assert lc.probe(http_server.url("ingest.mp4")).duration_ms == 5000


# ---- locations the package cannot use -------------------------------------------------------------


def test_unknown_scheme_is_a_usage_error_and_creates_nothing(clip, tmp_path):
    src = clip("hevc_mp4").path
    for args in [(src, "foo://bucket/b"), ("ftp://host/clip.mp4", "out"), (src, "https://host/b")]:
        r = run_cli("extract", *args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "cannot" in r.stderr and "://" in r.stderr
        assert list(tmp_path.iterdir()) == [], (args, list(tmp_path.iterdir()))


def test_a_pipe_is_refused_not_called_empty(clip, tmp_path):
    with open(clip("hevc_mp4").path, "rb") as f:
        data = f.read()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifelog_compression", "extract", "/dev/stdin", str(tmp_path / "b")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=False,
    )
    try:
        proc.stdin.write(data)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # refused before reading: exactly what is tested
    proc.wait(timeout=60)
    err = proc.stderr.read().decode()
    assert proc.returncode == 2, err
    assert "pipes are not supported" in err and "empty" not in err
    assert not (tmp_path / "b").exists()
    # The core says the same to a direct caller.
    with pytest.raises(lc.NotAVideoError, match="pipes are not supported"):
        r, w = os.pipe()
        try:
            lc._core.Source(f"/proc/self/fd/{r}")
        finally:
            os.close(r)
            os.close(w)


# ---- S3 -----------------------------------------------------------------------------------------


@pytest.fixture
def bucket(s3_server):
    import secrets

    name = f"test-{secrets.token_hex(4)}"
    s3_server.client().create_bucket(Bucket=name)
    return name


def download(s3_server, bucket, prefix, dest: Path) -> Path:
    client = s3_server.client()
    for key in s3_server.keys(bucket, prefix + "/"):
        target = dest / key[len(prefix) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, key, str(target))
    return dest


def test_s3_source_and_output(s3_server, bucket, clip, tmp_path):
    c = clip("h264_bframes_mp4")
    s3_server.client().upload_file(str(c.path), bucket, "in/GX010001.MP4")
    result = lc.extract_to_dir(f"s3://{bucket}/in/GX010001.MP4", f"s3://{bucket}/out/GX010001")
    assert result.bundle_dir == f"s3://{bucket}/out/GX010001"
    keys = s3_server.keys(bucket)
    assert not [k for k in keys if ".partial-" in k], keys  # the temporary prefix is gone
    local = download(s3_server, bucket, "out/GX010001", tmp_path / "b")
    rows = assert_true_to_source(local, c)
    assert rows[0]["source_relpath"] == "GX010001.MP4"
    bundle = json.loads((local / "bundle.json").read_text())
    etag = s3_server.client().head_object(Bucket=bucket, Key="in/GX010001.MP4")["ETag"].strip('"')
    assert bundle["source_video"]["etag"] == etag
    assert bundle["source_video"]["source_url"] == f"s3://{bucket}/in/GX010001.MP4"
    # Counted (a tiny file is read more than once: every worker reads the header).
    assert bundle["source_bytes_read"] == result.source_bytes_read > 0
    # No signature of a presigned URL leaks into the bundle.
    assert "Signature" not in (local / "bundle.json").read_text() + (local / "manifest.jsonl").read_text()


def test_s3_output_existing_bundle_needs_overwrite(s3_server, bucket, clip):
    src = clip("hevc_mp4").path
    out = f"s3://{bucket}/b"
    first = lc.extract_to_dir(src, out)
    r = run_cli("extract", src, out)
    assert r.returncode == lc.OutputError.exit_code and "--overwrite" in r.stderr
    second = lc.extract_to_dir(src, out, overwrite=True)
    doc = json.loads(s3_server.client().get_object(Bucket=bucket, Key="b/bundle.json")["Body"].read())
    assert doc["bundle_id"] == second.bundle_id != first.bundle_id
    # Foreign objects are never replaced.
    s3_server.client().put_object(Bucket=bucket, Key="mine/notes.txt", Body=b"mine")
    with pytest.raises(lc.OutputError, match="not a Visual Bundle"):
        lc.extract_to_dir(src, f"s3://{bucket}/mine", overwrite=True)
    assert s3_server.keys(bucket, "mine/") == ["mine/notes.txt"]


def test_s3_overwrite_never_loses_a_users_objects_or_the_old_bundle(s3_server, bucket, clip):
    """--overwrite on a bundle prefix that also holds a user's objects is
    refused, nothing deleted; and replacing a bundle whose only object is its
    bundle.json works (s3fs refused the empty list of the other objects after
    bundle.json was gone, leaving nothing)."""
    src = clip("hevc_mp4").path
    client = s3_server.client()
    first = lc.extract_to_dir(src, f"s3://{bucket}/kept")
    client.put_object(Bucket=bucket, Key="kept/MY-NOTES.txt", Body=b"mine")
    client.put_object(Bucket=bucket, Key="kept/frames/00000003-edited.jpg", Body=b"mine too")
    before = s3_server.keys(bucket, "kept/")
    with pytest.raises(lc.OutputError, match="not part of its bundle") as e:
        lc.extract_to_dir(src, f"s3://{bucket}/kept", overwrite=True)
    assert "MY-NOTES.txt" in str(e.value)
    assert s3_server.keys(bucket, "kept/") == before
    doc = json.loads(client.get_object(Bucket=bucket, Key="kept/bundle.json")["Body"].read())
    assert doc["bundle_id"] == first.bundle_id

    client.put_object(Bucket=bucket, Key="lone/bundle.json", Body=json.dumps({"format": "visual-bundle"}).encode())
    result = lc.extract_to_dir(src, f"s3://{bucket}/lone", overwrite=True)
    doc = json.loads(client.get_object(Bucket=bucket, Key="lone/bundle.json")["Body"].read())
    assert doc["bundle_id"] == result.bundle_id and doc["frame_count"] == 5


def test_s3_bad_sources_are_named_without_signature(s3_server, bucket, tmp_path):
    with pytest.raises(lc.SourceNotFoundError, match=f"s3://{bucket}/nope.mp4: no such object"):
        lc.extract_to_dir(f"s3://{bucket}/nope.mp4", tmp_path / "b")
    make_text_file(tmp_path / "notes.mp4")
    s3_server.client().upload_file(str(tmp_path / "notes.mp4"), bucket, "notes.mp4")
    with pytest.raises(lc.NotAVideoError) as e:
        lc.extract_to_dir(f"s3://{bucket}/notes.mp4", tmp_path / "b")
    assert str(e.value).startswith(f"s3://{bucket}/notes.mp4: not a video file") and "Signature" not in str(e.value)
    assert not (tmp_path / "b").exists()


def test_s3_publication_is_never_half_visible(s3_server, bucket, noisy_long_clip):
    """A reader polling the prefix while a bundle is published: whenever
    bundle.json is there, everything it promises is there too."""
    out = f"s3://{bucket}/watched"
    seen = {"states": 0, "with_bundle": 0, "partial_frames": 0}
    violations = []
    stop = threading.Event()

    def watch():
        client = s3_server.client()
        while not stop.is_set():
            keys = set(s3_server.keys(bucket, "watched/"))
            seen["states"] += 1
            if "watched/bundle.json" in keys:
                seen["with_bundle"] += 1
                doc = json.loads(client.get_object(Bucket=bucket, Key="watched/bundle.json")["Body"].read())
                manifest = client.get_object(Bucket=bucket, Key="watched/manifest.jsonl")["Body"].read()
                rows = [json.loads(line) for line in manifest.decode().splitlines()]
                missing = [r["frame_relpath"] for r in rows if f"watched/{r['frame_relpath']}" not in keys]
                if len(rows) != doc["frame_count"] or missing:
                    violations.append((len(rows), doc["frame_count"], missing[:3]))
            elif any(k.startswith("watched/frames/") for k in keys):
                seen["partial_frames"] += 1
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        lc.extract_to_dir(noisy_long_clip.path, out)
        time.sleep(0.2)
    finally:
        stop.set()
        watcher.join()
    assert not violations, violations
    assert seen["with_bundle"] > 0 and seen["states"] > 2, seen


def test_s3_killed_extraction_leaves_no_bundle(s3_server, bucket, noisy_long_clip):
    """SIGKILL while uploading: the final prefix never gets a bundle.json."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lifelog_compression",
            "extract",
            "--quiet",
            str(noisy_long_clip.path),
            f"s3://{bucket}/killed",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(".killed.partial-" in k for k in s3_server.keys(bucket)):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the upload finished before it could be killed"
    assert "killed/bundle.json" not in s3_server.keys(bucket, "killed/")


def test_s3_ctrl_c_while_copying_into_place_finishes_the_bundle(s3_server, bucket, noisy_long_clip):
    """Ctrl-C once objects are being copied into the final prefix: the copy
    is finished first (as the local move into place is), so the prefix holds
    a whole bundle and the command says so, instead of frames without
    bundle.json that block every rerun."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lifelog_compression",
            "extract",
            "--quiet",
            "--json",
            str(noisy_long_clip.path),
            f"s3://{bucket}/ctrlc",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(k.startswith("ctrlc/") for k in s3_server.keys(bucket, "ctrlc/")):
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.002)
    stdout, stderr = proc.communicate(timeout=120)
    keys = s3_server.keys(bucket, "ctrlc/")
    assert "ctrlc/bundle.json" in keys, (proc.returncode, stderr)
    doc = json.loads(s3_server.client().get_object(Bucket=bucket, Key="ctrlc/bundle.json")["Body"].read())
    assert len([k for k in keys if k.startswith("ctrlc/frames/")]) == doc["frame_count"] > 0
    assert proc.returncode == 0, stderr
    assert "interrupted while the finished bundle was moved into place" in stderr
    assert json.loads(stdout)["frame_count"] == doc["frame_count"]


@pytest.mark.parametrize(
    "source, out, code",
    [
        ("s3://", "b", 2),  # no bucket
        ("s3://Bad_Bucket!/k.mp4", "b", 2),  # not a bucket name
        ("s3://bucket-only", "b", 2),  # no object key
        ("{clip}", "s3://", 2),  # an output without bucket or prefix
    ],
)
def test_s3_locations_that_name_nothing_are_usage_errors(clip, tmp_path, source, out, code):
    r = run_cli("extract", source.format(clip=clip("short_mp4").path), out if "://" in out else tmp_path / out)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == code and len(lines) == 1 and "internal" not in lines[0], r.stderr


def test_s3_without_credentials_is_said_in_one_line(s3_server, bucket, clip, tmp_path):
    """No credentials anywhere: one line, exit 11 reading and 12 writing (both
    were botocore's NoCredentialsError as an internal error)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_ENDPOINT_URL"}
    env.update(
        {
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    s3_server.client().upload_file(str(clip("short_mp4").path), bucket, "in/clip.mp4")
    for args, code in (
        ((f"s3://{bucket}/in/clip.mp4", tmp_path / "b"), lc.SourceReadError.exit_code),
        ((clip("short_mp4").path, f"s3://{bucket}/out"), lc.OutputError.exit_code),
    ):
        r = subprocess.run(
            [sys.executable, "-m", "lifelog_compression", "extract", *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        lines = r.stderr.strip().splitlines()
        assert r.returncode == code and len(lines) == 1 and "internal" not in lines[0], r.stderr
    assert not (tmp_path / "b").exists()


def test_a_server_that_trickles_is_given_up_in_bounded_time(clip, tmp_path):
    """A server that answers every range, but a byte every 50 ms, never lets
    the 30 s read timeout fire: reading gives up once a window has come at
    under 1 KB/s for 30 s (it held an extraction for 16 minutes and counting,
    deaf to SIGTERM)."""
    import http.server
    import socketserver

    data = clip("short_mp4").path.read_bytes()

    class Trickle(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            first, _, last = self.headers.get("Range", "bytes=0-").removeprefix("bytes=").partition("-")
            lo, hi = int(first), int(last) if last else len(data) - 1
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {lo}-{hi}/{len(data)}")
            self.send_header("Content-Length", str(hi - lo + 1))
            self.end_headers()
            try:
                for i in range(lo, hi + 1):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass

    socketserver.ThreadingTCPServer.daemon_threads = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Trickle) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/slow.mp4"
        r = run_cli("extract", url, tmp_path / "b")
        server.shutdown()
    lines = r.stderr.strip().splitlines()
    assert r.returncode == lc.SourceReadError.exit_code and len(lines) == 1 and url in lines[0], r.stderr
    assert not (tmp_path / "b").exists()
