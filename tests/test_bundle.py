"""The bundle on disk is exactly SPEC.md's, and output is safe."""

import json
import os

import pytest
from truth import load_rows

import lifelog_compression as lc

REQUIRED_ROW = {
    "frame_id",
    "frame_relpath",
    "source_relpath",
    "requested_ts_ms",
    "actual_ts_ms",
    "width",
    "height",
    "content_hash",
}
RECOMMENDED_ROW = {
    "source_content_hash",
    "extractor",
    "extractor_version",
    "content_rect_x",
    "content_rect_y",
    "content_rect_width",
    "content_rect_height",
    "source_width",
    "source_height",
}
SUMMARY = {
    "file_size_bytes",
    "container_format",
    "video_codec",
    "duration_ms",
    "coded_width",
    "coded_height",
    "display_width",
    "display_height",
    "aspect_ratio",
    "avg_frame_rate",
    "rotation_degrees",
    "creation_time",
    "timecode",
    "has_audio",
    "video_start_time_ms",
    "bit_depth",
    "color_primaries",
    "color_transfer",
    "color_matrix",
    "location_iso6709",
}


@pytest.fixture(scope="module")
def bundle(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "b"
    lc.extract_to_dir(clip("hevc_mp4").path, out)
    return out


def test_layout(bundle):
    names = sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file())
    frames = [n for n in names if n.startswith("frames/")]
    assert frames == [f"frames/{i:08d}.jpg" for i in range(1, 6)]
    assert set(names) - set(frames) == {
        "bundle.json",
        "manifest.jsonl",
        "metadata/source-metadata.json",
        "metadata/source-probe.json",
        "metadata/source-mdls.txt",
        "metadata/source-xattrs.txt",
    }


def test_bundle_json_fields(bundle):
    doc = json.loads((bundle / "bundle.json").read_text())
    assert doc["format"] == "visual-bundle" and doc["format_version"] == 1
    assert doc["created_at"].endswith("Z") and len(doc["bundle_id"]) == 26
    assert doc["producer"]["name"] == "lifelog_compression" and doc["producer"]["backend"]
    assert doc["sampling"] == {
        **doc["sampling"],
        "requested_interval_ms": 1000,
        "tolerance_before_ms": 500,
        "tolerance_after_ms": 500,
    }
    assert doc["image"] == {
        **doc["image"],
        "format": "jpeg",
        "canvas_width": 1920,
        "canvas_height": 1080,
        "fit_mode": "contain",
        "padding": "black",
    }
    assert 1 <= doc["image"]["jpeg_quality"] <= 100
    assert SUMMARY <= doc["source_video"].keys()
    assert doc["metadata_artifacts"]["source_probe"] == "metadata/source-probe.json"
    assert doc["frame_count"] == 5 and isinstance(doc["notes"], list)


def test_manifest_rows(bundle):
    rows = load_rows(bundle)
    for i, row in enumerate(rows, 1):
        assert REQUIRED_ROW | RECOMMENDED_ROW <= row.keys()
        assert row["frame_id"] == f"frame_{i:08d}" and row["source_relpath"] == "hevc_mp4.mp4"
        assert (row["width"], row["height"]) == (1920, 1080)
        assert row["source_content_hash"].startswith("sha256:") and len(row["source_content_hash"]) == 71
    assert [r.frame_id for r in lc.load_manifest(bundle)] == [r["frame_id"] for r in rows]


def test_source_hash_is_the_files(bundle, clip):
    import hashlib

    digest = "sha256:" + hashlib.sha256(clip("hevc_mp4").path.read_bytes()).hexdigest()
    assert load_rows(bundle)[0]["source_content_hash"] == digest


def test_metadata_files(bundle):
    probe = json.loads((bundle / "metadata/source-probe.json").read_text())
    assert probe["streams"][0]["codec_name"] == "hevc" and "format" in probe and "chapters" in probe
    summary = json.loads((bundle / "metadata/source-metadata.json").read_text())
    assert summary["video_codec"] == "hevc" and summary["display_width"] == 320
    assert (bundle / "metadata/source-mdls.txt").read_text().strip()
    assert (bundle / "metadata/source-xattrs.txt").read_text().strip()


def test_no_absolute_path_of_this_machine(bundle, clip):
    where = str(clip("hevc_mp4").path.parent)
    for p in bundle.rglob("*"):
        if p.is_file() and p.suffix != ".jpg":
            assert where not in p.read_text(), p


def test_existing_folder_is_refused_then_replaced_on_request(clip, tmp_path):
    source = clip("hevc_mp4").path
    out = tmp_path / "b"
    first = lc.extract_to_dir(source, out)
    with pytest.raises(lc.OutputError, match="overwrite"):
        lc.extract_to_dir(source, out)
    assert lc.load_bundle_metadata(out).bundle_id == first.bundle_id
    second = lc.extract_to_dir(source, out, overwrite=True)
    assert lc.load_bundle_metadata(out).bundle_id == second.bundle_id != first.bundle_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_a_folder_that_is_not_a_bundle_is_never_replaced(clip, tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(lc.OutputError, match="not a Visual Bundle"):
        lc.extract_to_dir(clip("hevc_mp4").path, out, overwrite=True)
    assert (out / "holiday.jpg").read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["photos"]


@pytest.mark.parametrize("extra", ["notes.txt", "frames/00000002-edited.jpg", "frames/keep/me.jpg"])
def test_a_bundle_holding_a_users_files_is_never_replaced(clip, tmp_path, extra):
    """A user who kept notes or an edited frame inside a bundle folder does
    not lose them to --overwrite: the replacement is refused, nothing moves."""
    source = clip("hevc_mp4").path
    out = tmp_path / "b"
    first = lc.extract_to_dir(source, out)
    (out / extra).parent.mkdir(parents=True, exist_ok=True)
    (out / extra).write_bytes(b"mine")
    with pytest.raises(lc.OutputError, match="not part of its bundle") as info:
        lc.extract_to_dir(source, out, overwrite=True)
    assert extra in str(info.value)
    assert (out / extra).read_bytes() == b"mine" and lc.load_bundle_metadata(out).bundle_id == first.bundle_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    (out / extra).unlink()  # moved out: now it may be replaced
    assert lc.extract_to_dir(source, out, overwrite=True).bundle_id != first.bundle_id


def test_empty_existing_folder_is_used(clip, tmp_path):
    (tmp_path / "b").mkdir()
    lc.extract_to_dir(clip("hevc_mp4").path, tmp_path / "b")
    assert (tmp_path / "b" / "bundle.json").exists()


def test_spec_matches_what_is_written(bundle):
    s = lc.spec()
    doc = lc.load_bundle_metadata(bundle)
    assert s["image"]["jpeg_quality"] == doc.image["jpeg_quality"]
    assert s["sampling"]["requested_interval_ms"] == doc.sampling["requested_interval_ms"]


def test_failure_after_the_folder_was_started_leaves_nothing(clip, tmp_path):
    with pytest.raises(lc.SourceNotFoundError):
        lc.extract_to_dir(clip("hevc_mp4").path, tmp_path / "b", decode_from=tmp_path / "missing-proxy.LRV")
    assert list(tmp_path.iterdir()) == []
