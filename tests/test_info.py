"""info: a bundle described from bundle.json and its manifest; a batch root as
a table in capture order; the same from the API, typed."""

from __future__ import annotations

import json

import pytest
from bundle_fixtures import batch_card, gps_card

import lifelog_compression as lc
from lifelog_compression.cli import main


@pytest.fixture(scope="module")
def gps_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("info")
    video = gps_card(folder / "card")
    out = folder / "DJI_0001"
    lc.extract_to_dir(video, out)
    return out


@pytest.fixture(scope="module")
def batch_root(tmp_path_factory):
    folder = tmp_path_factory.mktemp("infobatch")
    lc.extract_directory_to_dir(batch_card(folder / "card"), folder / "out")
    return folder / "out"


def test_api_describes_time_place_and_source(gps_bundle):
    info = lc.bundle_info(gps_bundle)
    assert isinstance(info, lc.BundleInfo)
    doc = json.loads((gps_bundle / "bundle.json").read_text())
    assert info.frame_count == info.manifest_rows == 6 and info.duration_ms == 6000
    assert (info.first_ts_ms, info.last_ts_ms) == (0, 5000)
    assert info.source_file == "DJI_0001.MP4" and info.source_content_hash == doc["source_video"]["content_hash"]
    assert info.source_size_bytes == (gps_bundle.parent / "card" / "DJI_0001.MP4").stat().st_size
    assert info.capture.source == doc["capture_clock"]["source"] and info.capture.start_local
    assert (
        info.capture.first_captured_local
        == json.loads((gps_bundle / "manifest.jsonl").read_text().splitlines()[0])["captured_local"]
    )
    assert info.place is not None and info.place.source == "dji" and info.place.rows_with_location == 6
    assert (
        info.place.bbox == pytest.approx(doc["track"]["bbox"]) and info.place.distance_m == doc["track"]["distance_m"]
    )
    assert info.place.distance_m > 50
    assert info.format_version == doc["format_version"] and info.producer.startswith("lifelog_compression 0.1.0")
    assert info.frames_bytes > 0 and info.total_bytes > info.frames_bytes


def test_cli_text_and_json(gps_bundle, capsys):
    assert main(["info", str(gps_bundle)]) == 0
    out = capsys.readouterr().out
    assert "frames 6" in out and "place       lat 45.0" in out and "dji" in out
    assert "clock note  DJI telemetry from the sidecar DJI_0001.SRT" in out
    assert main(["info", str(gps_bundle), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads(json.dumps(lc.bundle_info(gps_bundle).to_json()))


def test_notes_and_duplicates_are_shown(gps_bundle, tmp_path, capsys):
    import shutil

    b = tmp_path / "b"
    shutil.copytree(gps_bundle, b)
    doc = json.loads((b / "bundle.json").read_text())
    doc["notes"] = ["the last 0.4 s do not decode"]
    (b / "bundle.json").write_text(json.dumps(doc))
    rows = [json.loads(line) for line in (b / "manifest.jsonl").read_text().splitlines()]
    rows[2]["duplicate_of"] = rows[1]["frame_id"]
    (b / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert lc.bundle_info(b).duplicate_rows == 1
    assert main(["info", str(b)]) == 0
    out = capsys.readouterr().out
    assert "note        the last 0.4 s do not decode" in out and "1 duplicates" in out


def test_batch_root_is_a_table_in_capture_order(batch_root, capsys):
    infos = lc.batch_info(batch_root)
    assert [i.source_file for i in infos] == ["c.mp4", "b.mp4", "a.mp4"]  # recorded in that order
    assert main(["info", str(batch_root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"3 bundles under {batch_root}"
    assert [line.split()[-1] for line in lines[2:5]] == ["c", "b", "a"]
    assert lines[-1].startswith("total: 90 frames") is False and lines[-1].startswith("total: 9 frames")
    assert main(["info", str(batch_root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [b["source_file"] for b in doc["bundles"]] == ["c.mp4", "b.mp4", "a.mp4"]


def test_not_a_bundle_is_one_line_and_exit_13(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "empty", tmp_path / "missing"):
        assert main(["info", str(path)]) == 13
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(path) in err[0]
