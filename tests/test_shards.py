"""Upload shards: limits, union, atomicity, and safe reading."""

import io
import json
import tarfile

import pytest
from truth import load_rows

import lifelog_compression as lc


@pytest.fixture(scope="module")
def bundle(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "b"
    lc.extract_to_dir(clip("h264_bframes_mp4").path, out)
    return out


def shard_manifest(path):
    with tarfile.open(path) as tar:
        names = tar.getnames()
        rows = [json.loads(line) for line in tar.extractfile("manifest.jsonl").read().decode().splitlines()]
        doc = json.loads(tar.extractfile("bundle.json").read())
    return names, rows, doc


def test_pack_respects_the_limit_and_the_union_is_the_manifest(bundle, tmp_path):
    frame_sizes = [(bundle / r["frame_relpath"]).stat().st_size for r in load_rows(bundle)]
    limit = 2 * max(frame_sizes) + 96 * 1024
    paths = lc.pack(bundle, tmp_path / "shards", shard_bytes=limit)
    assert len(paths) > 1
    union = []
    for i, path in enumerate(paths, 1):
        assert path.stat().st_size <= limit
        names, rows, doc = shard_manifest(path)
        assert "bundle.json" in names and doc["shard"]["index"] == i and doc["shard"]["count"] == len(paths)
        # bundle.json and the manifest first, the first shard's metadata, then per frame its JPEG and its row.
        metadata = sorted(n for n in names if n.startswith("metadata/"))
        assert bool(metadata) == (i == 1)
        keys = [r["frame_relpath"].removeprefix("frames/").removesuffix(".jpg") for r in rows]
        assert names == [
            "bundle.json",
            "manifest.jsonl",
            *metadata,
            *(f"{k}.{ext}" for k in keys for ext in ("jpg", "json")),
        ]
        with tarfile.open(path) as tar:
            assert [json.loads(tar.extractfile(f"{k}.json").read()) for k in keys] == rows
        union += rows
    assert union == load_rows(bundle)
    assert not list((tmp_path / "shards").glob(".*"))


def test_a_frame_larger_than_the_limit_gets_a_shard_of_its_own(bundle, tmp_path):
    paths = lc.pack(bundle, tmp_path / "s", shard_bytes=128 * 1024)
    assert len(paths) == len(load_rows(bundle))


def test_read_back_and_unpack(bundle, tmp_path):
    lc.pack(bundle, tmp_path / "s", shard_bytes=300 * 1024)
    got = list(lc.read_shards(tmp_path / "s"))
    assert [r.frame_id for r, _ in got] == [r["frame_id"] for r in load_rows(bundle)]
    assert all(data == (bundle / r.frame_relpath).read_bytes() for r, data in got)
    lc.unpack(tmp_path / "s", tmp_path / "again")
    assert load_rows(tmp_path / "again") == load_rows(bundle)
    assert (tmp_path / "again/metadata/source-probe.json").read_text() == (
        bundle / "metadata/source-probe.json"
    ).read_text()


def test_unpack_gives_back_the_manifest_byte_for_byte(bundle, tmp_path):
    """The rows come back with their keys in their order (source_content_hash
    after content_hash, as extract writes them), not re-ordered by the writer."""
    lc.pack(bundle, tmp_path / "s", shard_bytes=300 * 1024)
    lc.unpack(tmp_path / "s", tmp_path / "again")
    assert (tmp_path / "again/manifest.jsonl").read_bytes() == (bundle / "manifest.jsonl").read_bytes()


def test_extract_straight_to_shards(clip, tmp_path, bundle):
    result = lc.extract_to_dir(clip("h264_bframes_mp4").path, tmp_path / "s", shards=True, shard_bytes=300 * 1024)
    rows = [r for r, _ in lc.read_shards(tmp_path / "s")]
    strip = lambda r: (r.requested_ts_ms, r.actual_ts_ms, r.content_hash, r.source_content_hash)
    expected = [lc.ManifestRow.from_json(r) for r in load_rows(bundle)]
    assert [strip(r) for r in rows] == [strip(r) for r in expected] and result.frame_count == len(rows)
    assert all(p.stat().st_size <= 300 * 1024 for p in (tmp_path / "s").glob("shard-*.tar"))


def test_shards_never_written_over(bundle, tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "other.txt").write_text("keep")
    with pytest.raises(lc.OutputError):
        lc.pack(bundle, tmp_path / "s")
    assert (tmp_path / "s" / "other.txt").read_text() == "keep"


@pytest.mark.parametrize(
    "name,kind",
    [
        ("../evil.jpg", tarfile.REGTYPE),
        ("/etc/evil", tarfile.REGTYPE),
        ("frames/00000001.jpg", tarfile.SYMTYPE),
        ("frames/../../x", tarfile.REGTYPE),
    ],
)
def test_hostile_members_are_rejected(name, kind, tmp_path):
    (tmp_path / "s").mkdir()
    with tarfile.open(tmp_path / "s" / "shard-0001.tar", "w", format=tarfile.GNU_FORMAT) as tar:
        for n, data in (("bundle.json", b"{}"), ("manifest.jsonl", b"")):
            info = tarfile.TarInfo(n)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo(name)
        info.type = kind
        if kind == tarfile.SYMTYPE:
            info.linkname = "/etc/passwd"
            tar.addfile(info)
        else:
            info.size = 3
            tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(lc.BundleError, match="unsafe"):
        list(lc.read_shards(tmp_path / "s"))
    with pytest.raises(lc.BundleError):
        lc.unpack(tmp_path / "s", tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "evil.jpg").exists()


def test_cli_pack_and_unpack(bundle, tmp_path):
    import subprocess
    import sys

    run = lambda *a: subprocess.run(
        [sys.executable, "-m", "lifelog_compression", *map(str, a)], capture_output=True, text=True, timeout=60
    )
    out = run("pack", bundle, tmp_path / "s", "--shard-mb", "1")
    assert out.returncode == 0 and "shard" in out.stdout
    out = run("unpack", tmp_path / "s", tmp_path / "b2")
    assert out.returncode == 0 and load_rows(tmp_path / "b2") == load_rows(bundle)


def test_packing_twice_gives_the_same_bytes(bundle, tmp_path):
    first = lc.pack(bundle, tmp_path / "a", shard_bytes=300 * 1024)
    second = lc.pack(bundle, tmp_path / "b", shard_bytes=300 * 1024)
    assert len(first) > 1
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    created = lc.load_bundle_metadata(bundle).created_at
    with tarfile.open(first[0]) as tar:
        members = tar.getmembers()
    assert {(m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(0, 0, "", "", 0o644)}
    from datetime import datetime

    assert {m.mtime for m in members} == {int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())}


def test_webdataset_reads_a_sample_per_frame(bundle, tmp_path):
    import hashlib

    import webdataset as wds

    paths = lc.pack(bundle, tmp_path / "s", shard_bytes=300 * 1024)
    dataset = wds.WebDataset([str(p) for p in paths], shardshuffle=False)
    frames = [s for s in dataset if s["__key__"].isdigit()]
    rows = load_rows(bundle)
    assert [s["__key__"] for s in frames] == [f"{i:08d}" for i in range(1, len(rows) + 1)]
    for sample, row in zip(frames, rows):
        assert set(sample) >= {"jpg", "json"}
        assert json.loads(sample["json"]) == row
        assert "sha256:" + hashlib.sha256(sample["jpg"]).hexdigest() == row["content_hash"]
    # Decoded the way training code does it: pictures and rows, in time order.
    decoded = [
        s for s in wds.WebDataset([str(p) for p in paths], shardshuffle=False).decode("rgb8") if s["__key__"].isdigit()
    ]
    assert decoded[0]["jpg"].shape == (1080, 1920, 3)
    assert [s["json"]["actual_ts_ms"] for s in decoded] == [r["actual_ts_ms"] for r in rows]


# --- hostile bundles and shards ----------------------------------------------


def _copy_with_rows(bundle, dest, edit):
    import shutil

    shutil.copytree(bundle, dest)
    rows = load_rows(dest)
    edit(rows)
    (dest / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return dest


@pytest.mark.parametrize("relpath", ["../../secret.txt", "/etc/hostname", "frames/../../secret.txt"])
def test_a_row_naming_a_file_outside_the_bundle_is_never_read(bundle, tmp_path, relpath):
    """pack would ship it, validate and sheet read it: refused by name."""
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")

    def point_outside(rows):
        rows[0]["frame_relpath"] = relpath

    evil = _copy_with_rows(bundle, tmp_path / "a" / "evil", point_outside)
    with pytest.raises(lc.BundleError, match="leaves the bundle"):
        lc.pack(evil, tmp_path / "s")
    assert not (tmp_path / "s").exists() or not list((tmp_path / "s").glob("shard-*.tar"))


def test_a_frame_that_is_a_symlink_out_of_the_bundle_is_never_read(bundle, tmp_path, clip):
    import shutil

    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    evil = tmp_path / "evil"
    shutil.copytree(bundle, evil)
    frame = evil / load_rows(evil)[0]["frame_relpath"]
    frame.unlink()
    frame.symlink_to(secret)
    with pytest.raises(lc.BundleError, match="outside the bundle"):
        lc.pack(evil, tmp_path / "s")
    from lifelog_compression.validate import CORRUPT, validate_bundle

    report = validate_bundle(clip("h264_bframes_mp4").path, evil, limit=1)
    assert [f.reason for f in report.frames[0].failures] == [CORRUPT]


@pytest.mark.parametrize("field, value", [("actual_ts_ms", "abc"), ("actual_ts_ms", 1e23), ("width", None)])
def test_a_row_of_the_wrong_type_is_a_damaged_bundle(bundle, tmp_path, field, value):
    def spoil(rows):
        rows[1][field] = value

    bad = _copy_with_rows(bundle, tmp_path / "bad", spoil)
    with pytest.raises(lc.BundleError, match=f"{field} must be a whole number"):
        lc.load_manifest(bad)


def test_a_bundle_that_lost_rows_is_not_packed(bundle, tmp_path):
    lost = _copy_with_rows(bundle, tmp_path / "lost", lambda rows: rows.pop())
    with pytest.raises(lc.BundleError, match="rows were lost"):
        lc.pack(lost, tmp_path / "s")


def test_damaged_or_doubled_shards_are_refused(bundle, tmp_path):
    """A truncated upload, a file that is not a tar, a shard copied under a
    second name, a folder that is a file: each a one-line BundleError."""
    import shutil

    lc.pack(bundle, tmp_path / "s", shard_bytes=300 * 1024)
    shards = sorted((tmp_path / "s").glob("shard-*.tar"))
    assert len(shards) >= 2
    cases = {}
    for name, spoil in {
        "cut": lambda d: d.write_bytes(d.read_bytes()[: d.stat().st_size // 2]),
        "not-a-tar": lambda d: d.write_bytes(b"no tar here" * 100),
    }.items():
        shutil.copytree(tmp_path / "s", tmp_path / name)
        spoil(tmp_path / name / shards[-1].name)
        cases[name] = tmp_path / name
    shutil.copytree(tmp_path / "s", tmp_path / "doubled")
    shutil.copy(shards[0], tmp_path / "doubled" / f"shard-{len(shards) + 1:04d}.tar")
    cases["doubled"] = tmp_path / "doubled"
    cases["a file"] = shards[0]
    for name, folder in cases.items():
        with pytest.raises(lc.BundleError) as info:
            lc.unpack(folder, tmp_path / f"out-{name}")
        assert str(folder) in str(info.value) or str(shards[-1].name) in str(info.value), (name, info.value)
        assert not (tmp_path / f"out-{name}").exists(), name


@pytest.mark.parametrize("command", ["extract", "pack"])
def test_a_full_disk_leaves_no_spool_behind(bundle, clip, tmp_path, command):
    """Writes that fail half way (here: a file-size limit, as a full disk
    would) end in one line and exit 12, and the hidden spool is removed
    (it was left holding the disk full, after an internal error)."""
    import resource
    import signal
    import subprocess
    import sys

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))

    src = clip("h264_bframes_mp4").path if command == "extract" else bundle
    args = (
        ["extract", "-q", "--shards", str(src), str(tmp_path / "out")]
        if command == "extract"
        else ["pack", str(src), str(tmp_path / "out")]
    )
    run = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", *args],
        capture_output=True,
        text=True,
        preexec_fn=small_files,
        timeout=120,
    )
    assert run.returncode == lc.OutputError.exit_code, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal" not in lines[0] and str(tmp_path / "out") in lines[0], lines
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
