"""Manifests as Parquet: the typed schema, every value, many bundles in one file."""

import json
import subprocess
import sys
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from truth import load_rows

import lifelog_compression as lc


@pytest.fixture(scope="module")
def tree(clip, tmp_path_factory):
    """A batch-like output root with two bundles, one in a subfolder."""
    root = tmp_path_factory.mktemp("tree")
    lc.extract_to_dir(clip("hevc_mp4").path, root / "a")
    lc.extract_to_dir(clip("rotate90_mp4").path, root / "DCIM" / "b")
    return root


def test_schema_is_typed():
    from lifelog_compression import parquet

    schema = parquet.schema()
    types = {f.name: f.type for f in schema}
    assert types["requested_ts_ms"] == pa.int64() and types["actual_ts_ms"] == pa.int64()
    assert types["width"] == pa.int32() and types["content_rect_x"] == pa.int32()
    assert types["captured_at"] == pa.timestamp("ms", tz="UTC")
    assert types["location"].field("lat").type == pa.float64()
    assert types["notes"] == pa.list_(pa.string())
    assert not schema.field("frame_id").nullable and schema.field("source_content_hash").nullable


def test_every_row_of_every_bundle_with_its_values(tree, tmp_path):
    out = tmp_path / "m.parquet"
    rows = lc.export_parquet(tree, out)
    table = pq.read_table(out)
    assert table.schema == lc.parquet.schema()
    expected = [(rel, r) for rel in ("DCIM/b", "a") for r in load_rows(tree / rel)]
    assert rows == table.num_rows == len(expected)
    got = table.to_pylist()
    for record, (rel, row) in zip(got, expected):
        assert record["bundle_path"] == rel
        assert record["bundle_id"] == lc.load_bundle_metadata(tree / rel).bundle_id
        for key, value in row.items():
            if key == "captured_at" and value is not None:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            elif key == "location" and value is not None:
                value = {**dict.fromkeys(record["location"]), **value}
            assert record[key] == value, key
    # Queried as a table, without JSON: the rotated clip's picture is portrait on the canvas.
    portrait = table.filter(pa.compute.less(table["content_rect_width"], table["content_rect_height"]))
    assert set(portrait["bundle_path"].to_pylist()) == {"DCIM/b"}
    assert not list(tmp_path.glob(".*partial*"))


def test_unknown_fields_and_nulls_survive(tree, tmp_path):
    bundle = tmp_path / "copy"
    import shutil

    shutil.copytree(tree / "a", bundle)
    rows = load_rows(bundle)
    rows[0].update(
        captured_at="2019-11-18T15:45:33.001Z",
        future_field={"x": 1},
        location={
            "lat": 47.5,
            "lon": 8.25,
            "alt_m": None,
            "speed_mps": 1.5,
            "fix": "3d",
            "source": "gpmf",
            "sample_gap_ms": 20,
        },
    )
    (bundle / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lc.export_parquet(bundle, tmp_path / "m.parquet")
    first = pq.read_table(tmp_path / "m.parquet").to_pylist()[0]
    assert first["captured_at"].isoformat() == "2019-11-18T15:45:33.001000+00:00"
    assert first["location"]["lat"] == 47.5 and first["location"]["alt_m"] is None
    assert json.loads(first["other_fields_json"]) == {"future_field": {"x": 1}}
    assert first["bundle_path"] == "."


def test_cli_refuses_to_overwrite_without_asking(tree, tmp_path):
    run = lambda *a: subprocess.run(
        [sys.executable, "-m", "lifelog_compression", *map(str, a)], capture_output=True, text=True, timeout=60
    )
    out = run("parquet", tree, tmp_path / "m.parquet")
    assert out.returncode == 0 and out.stdout.startswith("wrote ")
    again = run("parquet", tree, tmp_path / "m.parquet")
    assert again.returncode == 12 and "--overwrite" in again.stderr
    assert run("parquet", tree, tmp_path / "m.parquet", "--overwrite").returncode == 0
    assert run("parquet", tmp_path / "nothing-here", tmp_path / "n.parquet").returncode == 13
