"""Time and place per frame (Visual Bundle 1.1): GPMF, DJI, QuickTime tags,
the capture clock, interpolation, and the real GoPro MAX recording."""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import subprocess
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from telemetry_fixtures import (
    cori_stream,
    device,
    dji_mini_body,
    dji_srt,
    ffprobe_data_packets,
    gps5_stream,
    gps9_stream,
    klv,
    mux_gpmf,
    nest,
    typed_stream,
    utc,
)

import lifelog_compression as lc
from lifelog_compression.cli import main
from lifelog_compression.telemetry import TELEMETRY_ARTIFACT, gpmf, read_source_telemetry
from lifelog_compression.telemetry.dji import parse_block
from lifelog_compression.telemetry.gopro import parse_gpsu
from lifelog_compression.telemetry.labels import time_label
from lifelog_compression.telemetry.location import parse_iso6709
from lifelog_compression.telemetry.model import Position, Telemetry
from lifelog_compression.telemetry.mp4 import read_movie
from lifelog_compression.telemetry.track import Track, haversine_m

REPO = Path(__file__).resolve().parents[1]
# CI has ../shared beside the checkout; a worktree sits one level deeper.
_SHARED = [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]
REAL = next((d / "gopro-max-heromode.mp4" for d in _SHARED if (d / "gopro-max-heromode.mp4").is_file()), None)
needs_real = pytest.mark.skipif(
    REAL is None,
    reason="../shared/data/gopro-max-heromode.mp4 is not here (it is beside the checkout in CI, not in a user's clone)",
)


def rows_of(bundle: Path) -> list[dict]:
    return [json.loads(line) for line in (bundle / "manifest.jsonl").read_text().splitlines()]


def doc_of(bundle: Path) -> dict:
    return json.loads((bundle / "bundle.json").read_text())


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- generated GPMF: GPS5 with SCAL/GPSU/GPSF, fix lost and regained -------------------------------


def gps5_point(n: int) -> tuple[float, float, float, float, float]:
    """Sample n of the GPS5 fixture (t = n * 100 ms): moving north-east."""
    return 48.0 + n * 1e-5, 2.0 + n * 2e-5, 100.0 + n * 0.5, 1.0 + n * 0.01, 1.1 + n * 0.01


LOST_PAYLOAD = 3  # 3000-3999 ms: the receiver reports no fix
GPS_START = utc(2024, 5, 1, 10, 0, 0)


@pytest.fixture(scope="module")
def gps5_clip(clip, tmp_path_factory):
    """6 s clip + 6 GPMF payloads of 10 GPS5 samples each; the camera's clock
    (creation_time) is 2 h 3 s ahead of GPS time."""
    base = clip("h264_bframes_mp4")
    payloads = []
    for p in range(6):
        fix = 0 if p == LOST_PAYLOAD else 3
        points = [gps5_point(p * 10 + i) for i in range(10)]
        payloads.append(
            device(gps5_stream(points, fix=fix, dop=1.25, gpsu=GPS_START + timedelta(seconds=p)), name="HERO9 Black")
        )
    out = tmp_path_factory.mktemp("gps5") / "GX010001.MP4"
    mux_gpmf(base.path, payloads, out, metadata={"creation_time": "2024-05-01T12:00:03.000000Z"})
    return base, out


def test_fixture_is_a_gpmd_track_ffprobe_reads(gps5_clip):
    _, path = gps5_clip
    stream, packets = ffprobe_data_packets(path)
    assert stream["codec_tag_string"] == "gpmd" and stream["codec_type"] == "data"
    assert [round(float(p["pts_time"]), 3) for p in packets] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    # Our own index reader finds the same samples at the same offsets.
    movie = read_movie(path)
    samples = movie.track("gpmd").samples(movie.file_size)
    assert [s.offset for s in samples] == [int(p["pos"]) for p in packets]
    assert [s.time_ms for s in samples] == [0.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0]


def test_gps5_values_are_scaled_and_timed(gps5_clip):
    _, path = gps5_clip
    st = read_source_telemetry(path, duration_ms=6000)
    t = st.telemetry
    assert t.source == "gpmf" and t.device == "HERO9 Black" and t.streams["GPS5"] == 60
    assert len(t.positions) == 60 and len(t.fixes) == 50
    for p in t.positions:
        n = round(p.t_ms / 100)
        assert p.t_ms == pytest.approx(n * 100)
        lat, lon, alt, s2, s3 = gps5_point(n)
        assert (p.lat, p.lon) == (pytest.approx(lat, abs=1e-7), pytest.approx(lon, abs=1e-7))
        assert (p.alt_m, p.speed_mps, p.speed3d_mps) == (pytest.approx(alt), pytest.approx(s2), pytest.approx(s3))
        assert p.fix == ("none" if n // 10 == LOST_PAYLOAD else "3d") and p.dop == pytest.approx(1.25)


def test_interpolation_between_fixes_never_past_them(gps5_clip):
    _, path = gps5_clip
    track = read_source_telemetry(path, duration_ms=6000).track
    # Half-way between samples 20 and 21.
    loc = track.at(2050)
    assert loc["lat"] == pytest.approx(48.0 + 20.5e-5, abs=1e-7)
    assert loc["lon"] == pytest.approx(2.0 + 20.5 * 2e-5, abs=1e-7)
    assert loc["alt_m"] == pytest.approx(110.25) and loc["speed_mps"] == pytest.approx(1.205, abs=1e-3)
    assert loc["sample_gap_ms"] == pytest.approx(50) and loc["fix"] == "3d" and loc["source"] == "gpmf"
    # A quarter of the way: weights are linear in time.
    assert track.at(1225)["lat"] == pytest.approx(48.0 + 12.25e-5, abs=1e-7)
    assert track.at(1225)["sample_gap_ms"] == pytest.approx(25)
    # Fix lost from 3000 ms, regained at 4000 ms: nothing in between, not even next to the last fix.
    assert track.at(2950) is None and track.at(3500) is None and track.at(3999) is None
    assert track.at(4000)["lat"] == pytest.approx(48.0 + 40e-5, abs=1e-7)
    # Before the first sample and after the last (5900 ms): no extrapolation.
    assert track.at(-1) is None and track.at(5900.5) is None and track.at(5950) is None
    assert track.at(5900)["lat"] == pytest.approx(48.0 + 59e-5, abs=1e-7)


def test_bundle_rows_carry_time_and_place(gps5_clip, tmp_path):
    base, path = gps5_clip
    plain = tmp_path / "plain"
    lc.extract_to_dir(base.path, plain)
    out = tmp_path / "b"
    lc.extract_to_dir(path, out)
    rows, doc = rows_of(out), doc_of(out)
    # The frames are exactly those of the clip without telemetry.
    assert [r["content_hash"] for r in rows] == [r["content_hash"] for r in rows_of(plain)]
    assert [r["actual_ts_ms"] for r in rows] == [0, 1000, 2000, 3000, 4000, 5000]
    clock = doc["capture_clock"]
    assert clock["source"] == "gps" and clock["start_utc"] == "2024-05-01T10:00:00.000Z"
    assert clock["camera_offset_s"] == pytest.approx(7203.0)  # camera 2 h 3 s ahead of GPS
    assert clock["utc_offset_min"] == 120
    for r in rows:
        assert parse_time(r["captured_at"]) == GPS_START + timedelta(milliseconds=r["actual_ts_ms"])
        n = r["actual_ts_ms"] // 100
        if n // 10 == LOST_PAYLOAD:
            assert r["location"] is None
        else:
            assert r["location"]["lat"] == pytest.approx(gps5_point(n)[0], abs=1e-7)
            assert r["location"]["sample_gap_ms"] == 0
    track = doc["track"]
    fixes = [n for n in range(60) if n // 10 != LOST_PAYLOAD]
    assert track["samples"] == 50 and track["source"] == "gpmf"
    assert track["first_fix_utc"] == "2024-05-01T10:00:00.000Z" and track["last_fix_utc"] == "2024-05-01T10:00:05.900Z"
    assert track["bbox"] == [pytest.approx(48.0), pytest.approx(2.0), pytest.approx(48.00059), pytest.approx(2.00118)]
    expected = sum(
        haversine_m(Position(0, *gps5_point(a)[:2]), Position(0, *gps5_point(b)[:2])) for a, b in zip(fixes, fixes[1:])
    )
    assert track["distance_m"] == pytest.approx(expected, abs=0.1)
    # ~1.6 m between samples (1.11 m north, 1.49 m east): a flat-earth check of the haversine.
    assert track["distance_m"] == pytest.approx(59 * math.hypot(1.112, 1.491), rel=0.01)
    assert doc["metadata_artifacts"]["telemetry"] == TELEMETRY_ARTIFACT
    lines = [json.loads(x) for x in (out / TELEMETRY_ARTIFACT).read_text().splitlines()]
    assert sum(x["kind"] == "position" for x in lines) == 60
    assert sum(x["kind"] == "gps_time" for x in lines) == 5
    assert [x["t_ms"] for x in lines] == sorted(x["t_ms"] for x in lines)


def test_gopro_without_gps_time_uses_its_local_container_clock(clip, tmp_path):
    """No GPSU (GPS off): the container time is the camera's local time, so
    its relation to UTC is unknown (SPEC 1.2): no captured_at, the wall clock
    in captured_local; said so."""
    payloads = [device(cori_stream([(1.0, 0.0, 0.0, 0.0)] * 30)) for _ in range(3)]
    path = mux_gpmf(
        clip("short_mp4").path,
        payloads,
        tmp_path / "GX010002.MP4",
        payload_s=0.2,
        metadata={"creation_time": "2024-03-03T08:00:00.000000Z"},
    )
    st = read_source_telemetry(path, duration_ms=400)
    assert st.clock.source == "container" and st.clock.camera_offset_s is None
    assert st.clock.captured_at(250) is None and st.clock.captured_local(250) == "2024-03-03T08:00:00.250"
    assert st.clock.to_json()["zone"] == "unknown" and st.clock.to_json()["start_utc"] is None
    assert any("local time" in n for n in st.clock.notes)
    assert st.track.at(0) is None and st.track_summary() is None
    assert any("no GPS stream" in n for n in st.notes)
    assert len(st.telemetry.orientation) == 90


def test_gps_without_any_fix(clip, tmp_path):
    """The receiver never locks: positions are kept in the artifact, rows get
    no location, GPSU (unreliable without a fix) does not set the clock."""
    payloads = [
        device(
            gps5_stream([gps5_point(p * 10 + i) for i in range(10)], fix=0, gpsu=utc(2016, 1, 1) + timedelta(seconds=p))
        )
        for p in range(2)
    ]
    path = mux_gpmf(
        clip("short_mp4").path,
        payloads,
        tmp_path / "GX010009.MP4",
        payload_s=0.2,
        metadata={"creation_time": "2024-03-03T08:00:00.000000Z"},
    )
    out = tmp_path / "b"
    lc.extract_to_dir(path, out)
    rows, doc = rows_of(out), doc_of(out)
    assert all(r["location"] is None for r in rows)
    assert "track" not in doc and doc["capture_clock"]["source"] == "container"
    assert any("no fix" in n for n in doc["capture_clock"]["notes"])
    lines = [json.loads(x) for x in (out / TELEMETRY_ARTIFACT).read_text().splitlines()]
    assert len(lines) == 20 and {x["fix"] for x in lines} == {"none"}


# --- GPS9 (per-sample GPS time), CORI, a TYPE structure ---------------------------------------------

GPS9_START = utc(2023, 7, 1, 8, 30, 0, 250_000)


@pytest.fixture(scope="module")
def gps9_clip(clip, tmp_path_factory):
    base = clip("h264_bframes_mp4")
    payloads = []
    for p in range(6):
        samples = []
        for i in range(10):
            n = p * 10 + i
            samples.append(
                (
                    -33.9 - n * 1e-5,
                    151.2 + n * 1e-5,
                    20.0 + n,
                    2.0,
                    2.5,
                    GPS9_START + timedelta(milliseconds=n * 100),
                    1.1,
                    0 if n == 25 else 3,
                )
            )
        quats = [(math.cos(k / 100), math.sin(k / 100), 0.0, 0.0) for k in range(p * 30, p * 30 + 30)]
        payloads.append(
            device(
                gps9_stream(samples),
                cori_stream(quats),
                typed_stream("XTRA", "f[2]Lb", "ffLb", [(0.5, -1.5, 7, -3)] * 4),
            )
        )
    out = tmp_path_factory.mktemp("gps9") / "GX010003.MP4"
    return mux_gpmf(base.path, payloads, out)


def test_gps9_clock_and_positions(gps9_clip):
    st = read_source_telemetry(gps9_clip, duration_ms=6000)
    assert st.clock.source == "gps" and st.clock.start == GPS9_START
    assert st.clock.camera_offset_s is None  # ffmpeg wrote no creation time
    assert st.telemetry.streams["GPS9"] == 60 and len(st.telemetry.fixes) == 59
    p = st.telemetry.positions[12]
    assert (p.lat, p.lon, p.alt_m, p.dop) == (pytest.approx(-33.90012), pytest.approx(151.20012), 32.0, 1.1)
    assert p.utc == GPS9_START + timedelta(milliseconds=1200)
    assert st.track.at(2450) is None and st.track.at(2550) is None  # sample 25 has no fix
    assert st.track.at(2650)["lat"] == pytest.approx(-33.900265, abs=1e-7)
    summary = st.track_summary()
    assert summary["first_fix_utc"] == "2023-07-01T08:30:00.250Z"
    assert summary["last_fix_utc"] == "2023-07-01T08:30:06.150Z"


def test_orientation_is_timed_by_the_payloads(gps9_clip):
    st = read_source_telemetry(gps9_clip, duration_ms=6000)
    ori = st.telemetry.orientation
    assert len(ori) == 180
    for k, (t, q) in enumerate(ori):
        assert t == pytest.approx(k * 1000 / 30)
        assert q[0] == pytest.approx(math.cos(k / 100), abs=1e-4) and q[1] == pytest.approx(math.sin(k / 100), abs=1e-4)


def test_type_described_structures():
    payload = device(
        typed_stream("XTRA", "f[2]Lb", "ffLb", [(0.5, -1.5, 7, -3), (2.0, 4.0, 9, 5)]),
        typed_stream("SCLD", "lS", "lS", [(1500, 30), (-500, 60)], scal=(1000, 10)),
    )
    found = {item.key: gpmf.numbers(item, props) for s in gpmf.streams(payload) for item, props in s.data}
    assert found["XTRA"] == [(0.5, -1.5, 7, -3), (2.0, 4.0, 9, 5)]
    assert found["SCLD"] == [(1.5, 3.0), (-0.5, 6.0)]
    assert gpmf.expand_type("f[3]L") == "fffL"
    # A TYPE that does not match the structure size is refused, not misread.
    bad = device(nest("STRM", klv("TYPE", "c", 1, 2, b"ll"), klv("BADS", "?", 4, 1, b"\0\0\0\1")))
    item, props = next(gpmf.streams(bad)).data[0]
    with pytest.raises(gpmf.GpmfError):
        gpmf.numbers(item, props)


def test_gpsu_parsing():
    assert parse_gpsu("191118234514.000") == utc(2019, 11, 18, 23, 45, 14)
    assert parse_gpsu("230701083000.250") == utc(2023, 7, 1, 8, 30, 0, 250_000)
    assert parse_gpsu("garbage") is None and parse_gpsu("") is None


# --- hostile input ------------------------------------------------------------------------------------


def test_forged_gpmf_sizes_are_bounded():
    # An item claiming 255 * 65535 bytes in a 20-byte buffer: nothing is read.
    assert gpmf.parse(b"GPS5l\xff\xff\xff" + b"\0" * 12) == []
    # A valid item, then a forged one: the valid one survives.
    good = klv("GPSF", "L", 4, 1, b"\0\0\0\3")
    items = gpmf.parse(good + b"GPS5l\x14\x10\x00" + b"\1" * 8)
    assert [i.key for i in items] == ["GPSF"]
    # Nesting 200 deep stops at the depth limit without recursion errors.
    deep = klv("LEAF", "L", 4, 1, b"\0\0\0\1")
    for _ in range(200):
        deep = nest("DEVC", deep)
    assert gpmf.parse(deep)[0].key == "DEVC"


def _patch_box(data: bytearray, kind: bytes, after: bytes, offset: int, value: bytes) -> None:
    """Overwrites bytes inside the first ``kind`` box that follows ``after``."""
    at = data.index(kind, data.index(after))
    data[at + 4 + offset : at + 4 + offset + len(value)] = value


def test_forged_mp4_tables_never_allocate_beyond_the_file(gps5_clip, tmp_path):
    _, path = gps5_clip
    original = path.read_bytes()
    cases = {
        "stsz_count": (b"stsz", 8, struct.pack(">I", 0xFFFFFFF0)),  # sample count
        "stts_count": (b"stts", 4, struct.pack(">I", 0xFFFFFFF0)),  # entry count
        "stts_run": (b"stts", 8, struct.pack(">I", 0xFFFFFFF0)),  # samples in the first run
        "stco_count": (b"stco", 4, struct.pack(">I", 0xFFFFFFF0)),
        "stco_offset": (b"stco", 8, struct.pack(">I", 0xFFFFFFF0)),  # a chunk beyond the file
        "stsc_count": (b"stsc", 4, struct.pack(">I", 0xFFFFFFF0)),
    }
    for name, (kind, offset, value) in cases.items():
        data = bytearray(original)
        _patch_box(data, kind, b"gpmd", offset, value)
        forged = tmp_path / f"{name}.mp4"
        forged.write_bytes(bytes(data))
        tracemalloc.start()
        st = read_source_telemetry(forged, duration_ms=6000)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 20 * len(original) + (8 << 20), name
        assert len(st.telemetry.positions) <= 60, name
    # A moov whose size claims more than the file: only what the file holds is read.
    data = bytearray(original)
    at = data.index(b"moov") - 4
    data[at : at + 4] = struct.pack(">I", 0x7FFFFFF0)
    (tmp_path / "moov.mp4").write_bytes(bytes(data))
    assert len(read_source_telemetry(tmp_path / "moov.mp4", duration_ms=6000).telemetry.positions) == 60
    # A 64-bit size read from the box's own payload: the index is garbage; nothing raises.
    data[at : at + 4] = struct.pack(">I", 1)
    (tmp_path / "large.mp4").write_bytes(bytes(data))
    assert read_source_telemetry(tmp_path / "large.mp4", duration_ms=6000).telemetry.positions == []
    # Cut inside the index: no moov can be found, telemetry is missing and says so.
    (tmp_path / "cut.mp4").write_bytes(original[: at + 100])
    st = read_source_telemetry(tmp_path / "cut.mp4", duration_ms=6000)
    assert st.telemetry.positions == [] and st.clock.source == "file_mtime"


def test_sample_limit_stops_reading_with_a_note(monkeypatch):
    from lifelog_compression.telemetry import gopro

    monkeypatch.setattr(gopro, "MAX_POSITIONS", 25)
    devices: dict = {}
    for p in range(4):
        gopro.read_payload(device(gps5_stream([gps5_point(p * 10 + i) for i in range(10)])), p * 1000, 1000, devices)
    tel = devices["Test Camera"]
    assert len(tel.positions) == 30 and any("sample limit" in n for n in tel.notes)


def test_mutated_gpmf_payloads_never_raise_nor_give_impossible_positions():
    import random

    from lifelog_compression.telemetry import gopro

    samples = [(48.0, 2.0, 10.0, 1.0, 1.0, GPS9_START, 1.0, 3)] * 5
    payload = device(
        gps5_stream([gps5_point(i) for i in range(10)], gpsu=GPS_START),
        gps9_stream(samples),
        cori_stream([(1.0, 0.0, 0.0, 0.0)] * 10),
        typed_stream("XTRA", "f[2]Lb", "ffLb", [(0.5, 1, 2, 3)]),
    )
    rng = random.Random(11)
    kept = 0
    for case in range(400):
        data = bytearray(payload)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if case % 4 == 0:
            data = data[: rng.randrange(len(data))]
        devices: dict = {}
        gopro.read_payload(bytes(data), 0.0, 1000.0, devices)
        for tel in devices.values():
            for p in tel.positions:
                kept += 1
                assert math.isfinite(p.lat) and -90 <= p.lat <= 90 and -180 <= p.lon <= 180
                json.dumps(p.to_json(), allow_nan=False)
    assert kept > 1000  # most mutations leave most samples readable


def test_random_bytes_and_text_give_no_telemetry(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(64 * 1024))
    st = read_source_telemetry(junk, duration_ms=1000)
    assert st.telemetry.positions == [] and st.clock.source == "file_mtime"


# --- DJI ------------------------------------------------------------------------------------------------

DJI_LOCAL = datetime(2021, 9, 5, 15, 34, 9)


@pytest.fixture(scope="module")
def dji_folder(clip, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dji")
    video = folder / "DJI_0001.MP4"
    shutil.copyfile(clip("h264_bframes_mp4").path, video)
    entries = []
    for k in range(60):
        lat, lon = (0.0, 0.0) if k == 30 else (45.0 + k * 1e-5, 7.0 + k * 1e-5)
        entries.append(
            (
                k * 100,
                k * 100 + 100,
                dji_mini_body(k + 1, DJI_LOCAL + timedelta(milliseconds=k * 100), lat, lon, 250.0 + k * 0.1),
            )
        )
    (folder / "DJI_0001.SRT").write_text(dji_srt(entries), encoding="utf-8")
    return video


def test_dji_srt_sidecar(dji_folder, tmp_path):
    out = tmp_path / "b"
    lc.extract_to_dir(dji_folder, out)
    rows, doc = rows_of(out), doc_of(out)
    by_t = {r["actual_ts_ms"]: r["location"] for r in rows}
    assert by_t[1000] == {
        "lat": 45.0001,
        "lon": 7.0001,
        "alt_m": 251.0,
        "speed_mps": None,
        "fix": "3d",
        "source": "dji",
        "sample_gap_ms": 0.0,
    }
    assert by_t[3000] is None  # (0, 0): no fix
    assert by_t[5000]["lat"] == pytest.approx(45.0005)
    assert doc["track"]["source"] == "dji" and doc["track"]["samples"] == 59
    notes = doc["capture_clock"]["notes"]
    assert any("DJI_0001.SRT" in n for n in notes)
    assert any("2021-09-05T15:34:09.000" in n and "local time" in n for n in notes)


def test_a_sidecar_line_of_megabytes_is_read_in_bounded_time(clip, tmp_path):
    """A hostile .SRT whose one line is 2 MB of digits: patterns run over the
    first kilobyte of a line only (over the whole line a "digits:" search
    costs n^2: 200 KB took 4 minutes, deaf to Ctrl-C). The extraction ends,
    its frames unplaced."""
    import sys

    video = tmp_path / "DJI_0002.MP4"
    shutil.copyfile(clip("short_mp4").path, video)
    (tmp_path / "DJI_0002.SRT").write_text(
        "1\n00:00:00,000 --> 00:00:01,000\n[latitude: " + "4" * 2_000_000 + "] [longitude: 8.0]\n", encoding="utf-8"
    )
    run = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "extract", "-q", str(video), str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert all(r["location"] is None for r in rows_of(tmp_path / "b"))


def test_dji_text_track_inside_the_video(dji_folder, tmp_path):
    embedded = tmp_path / "embedded.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(dji_folder),
            "-i",
            str(dji_folder.with_suffix(".SRT")),
            "-map",
            "0:v",
            "-map",
            "1",
            "-c:v",
            "copy",
            "-c:s",
            "mov_text",
            str(embedded),
        ],
        check=True,
    )
    st = read_source_telemetry(embedded, duration_ms=6000)
    assert st.telemetry.source == "dji" and len(st.telemetry.positions) == 60 and len(st.telemetry.fixes) == 59
    assert st.track.at(1050)["lat"] == pytest.approx(45.000105, abs=1e-7)
    assert any("subtitle track" in n for n in st.notes)


def test_dji_srt_layouts():
    t = Telemetry(source="dji")
    parse_block(
        "HOME(149.0251,-20.2532) 2017.08.05 14:11:51\nGPS(149.0252,-20.2533,16.5) BAROMETER:1.9\n"
        "ISO:100 Shutter:60 EV: 0 Fnum:F2.2",
        0,
        t,
    )
    parse_block(
        '<font size="36">SrtCnt : 1, DiffTime : 33ms\n2020-04-05 13:06:37,143,651\n[iso : 100] '
        "[latitude: 51.123456] [longtitude: 4.567891] [altitude: 12.300000] </font>",
        100,
        t,
    )
    parse_block(
        "F/2.8, SS 320.12, ISO 100, EV 0, DZOOM 1.000, GPS (7.6543, 45.1234, 18), D 4.41m, H 2.10m, "
        "H.S 1.50m/s, V.S 0.00m/s",
        200,
        t,
    )
    a, b, c = t.positions
    assert (a.lat, a.lon, a.alt_m) == (-20.2533, 149.0252, 16.5)  # longitude first
    assert (b.lat, b.lon, b.alt_m) == (51.123456, 4.567891, 12.3)  # "longtitude"
    assert (c.lat, c.lon, c.alt_m, c.speed_mps) == (45.1234, 7.6543, 2.1, 1.5)
    assert [x[1] for x in t.camera_times] == [datetime(2017, 8, 5, 14, 11, 51), datetime(2020, 4, 5, 13, 6, 37, 143000)]


# --- QuickTime / phone ----------------------------------------------------------------------------------


def test_quicktime_location_and_creationdate(clip, tmp_path):
    phone = tmp_path / "IMG_0001.MOV"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(clip("short_mp4").path),
            "-map",
            "0",
            "-c",
            "copy",
            "-metadata",
            "location=+48.8577+002.2950/",
            "-metadata",
            "com.apple.quicktime.creationdate=2023-05-06T14:32:10+0200",
            "-movflags",
            "use_metadata_tags",
            str(phone),
        ],
        check=True,
    )
    out = tmp_path / "b"
    lc.extract_to_dir(phone, out)
    rows, doc = rows_of(out), doc_of(out)
    assert all(
        r["location"]
        == {
            "lat": 48.8577,
            "lon": 2.295,
            "alt_m": None,
            "speed_mps": None,
            "fix": "2d",
            "source": "quicktime",
            "sample_gap_ms": None,
        }
        for r in rows
    )
    assert doc["track"]["scope"] == "clip" and doc["track"]["samples"] == 1
    clock = doc["capture_clock"]
    assert clock["source"] == "container" and clock["start_utc"] == "2023-05-06T12:32:10.000Z"
    assert clock["utc_offset_min"] == 120
    assert any("whole clip" in n for n in clock["notes"])
    assert rows[0]["captured_at"] == "2023-05-06T12:32:10.000Z"
    assert time_label(rows[0]["captured_at"], clock, with_date=True) == "2023-05-06 14:32:10 UTC+02:00"


def test_udta_xyz_tag_gives_one_point(clip, tmp_path):
    mov = tmp_path / "clip.mov"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(clip("short_mp4").path),
            "-map",
            "0",
            "-c",
            "copy",
            "-metadata",
            "location=-33.8568+151.2153+005.000/",
            str(mov),
        ],
        check=True,
    )
    assert read_movie(mov).tags == {"\u00a9xyz": "-33.8568+151.2153+005.000/"}
    st = read_source_telemetry(mov, duration_ms=400)
    assert st.location_at(123) == {
        "lat": -33.8568,
        "lon": 151.2153,
        "alt_m": 5.0,
        "speed_mps": None,
        "fix": "3d",
        "source": "quicktime",
        "sample_gap_ms": None,
    }
    assert any("\u00a9xyz tag" in n for n in st.notes)


def test_iso6709():
    assert parse_iso6709("+48.8577+002.2950/") == (48.8577, 2.295, None)
    assert parse_iso6709("+33.1268-117.3273+012.500/") == (33.1268, -117.3273, 12.5)
    assert parse_iso6709("+95.0+000.0/") is None and parse_iso6709("Paris") is None


def test_clock_from_container_and_from_file_time(clip, tmp_path):
    tagged = tmp_path / "phone.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(clip("short_mp4").path),
            "-map",
            "0",
            "-c",
            "copy",
            "-metadata",
            "creation_time=2024-01-02T03:04:05.000000Z",
            str(tagged),
        ],
        check=True,
    )
    st = read_source_telemetry(tagged, duration_ms=400)
    assert st.clock.source == "container" and st.clock.captured_at(399) == "2024-01-02T03:04:05.399Z"
    assert st.clock.camera_offset_s is None and st.clock.utc_offset_min is None
    bare = tmp_path / "bare.mp4"
    shutil.copyfile(clip("short_mp4").path, bare)
    end = datetime(2022, 2, 2, 12, 0, 0, tzinfo=timezone.utc).timestamp()
    os.utime(bare, (end, end))
    st = read_source_telemetry(bare, duration_ms=400)
    # A file's time is the camera's wall clock as this computer shows it: zone unknown (SPEC 1.2).
    shown = datetime.fromtimestamp(end) - timedelta(milliseconds=400)
    assert st.clock.source == "file_mtime" and st.clock.captured_at(0) is None
    assert st.clock.captured_local(0) == shown.isoformat(timespec="milliseconds")
    assert st.clock.to_json()["zone"] == "unknown" and st.clock.to_json()["start_utc"] is None
    assert time_label(None, st.clock.to_json(), captured_local=st.clock.captured_local(0)) == shown.strftime("%H:%M:%S")


def test_row_order_and_captured_at_rise_together():
    track = Track([Position(t, 10.0, 20.0) for t in (0, 100, 200)])
    assert track.at(50)["lat"] == 10.0 and track.at(50)["sample_gap_ms"] == 50
    # Across the antimeridian the short way round.
    east_west = Track([Position(0, 0.0, 179.9), Position(100, 0.0, -179.9)])
    assert east_west.at(50)["lon"] == pytest.approx(180.0, abs=1e-6) or east_west.at(50)["lon"] == pytest.approx(-180.0)


# --- command line -------------------------------------------------------------------------------------


def test_probe_command(gps5_clip, capsys):
    _, path = gps5_clip
    assert main(["probe", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["capture_clock"]["start_utc"] == "2024-05-01T10:00:00.000Z"
    assert report["track"]["samples"] == 50 and report["source_video"]["duration_ms"] == 6000
    assert report["telemetry"]["streams"] == {"GPS5": 60}
    assert main(["probe", str(path)]) == 0
    text = capsys.readouterr().out
    assert "capture clock: 2024-05-01T10:00:00.000Z (source: gps, camera clock +7203.000 s from GPS)" in text
    assert "fixes: 50 from 2024-05-01T10:00:00.000Z to 2024-05-01T10:00:05.900Z (gpmf)" in text


def test_probe_refuses_what_is_not_a_video(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n" * 100)
    assert main(["probe", str(bad)]) == 6
    assert "notes.txt" in capsys.readouterr().err


# --- the real GoPro MAX recording ---------------------------------------------------------------------


@needs_real
def test_real_gopro_gpmf():
    st = read_source_telemetry(REAL, duration_ms=10510)
    t = st.telemetry
    assert t.device == "GoPro Max" and t.source == "gpmf"
    assert {"ACCL", "GYRO", "MAGN", "GPS5", "CORI", "IORI", "GRAV", "SCEN", "HUES"} <= set(t.streams)
    assert t.streams["GPS5"] == 191 and len(t.fixes) == 191 and t.streams["CORI"] == 316
    first = t.positions[0]
    assert (first.lat, first.lon) == (33.12677, -117.3273436) and first.fix == "3d" and first.dop == 1.54
    assert (first.alt_m, first.speed_mps, first.speed3d_mps) == (-22.959, 1.046, 1.0)
    assert t.gps_times[0] == (0.0, utc(2019, 11, 18, 23, 45, 14)) and len(t.gps_times) == 11
    # The gpmd samples are where and when ffprobe says.
    _, packets = ffprobe_data_packets_of(REAL, 3)
    movie = read_movie(REAL)
    samples = movie.track("gpmd").samples(movie.file_size)
    assert [s.offset for s in samples] == [int(p["pos"]) for p in packets]
    assert [round(s.time_ms) for s in samples] == [round(float(p["pts_time"]) * 1000) for p in packets]
    # Orientation: 30 quaternions (unit length) per 1001 ms payload.
    assert t.orientation[30][0] == pytest.approx(1001.0)
    assert all(abs(math.sqrt(sum(v * v for v in q)) - 1) < 0.01 for _, q in t.orientation)


def ffprobe_data_packets_of(path: Path, index: int) -> tuple[dict, list[dict]]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            str(index),
            "-show_streams",
            "-show_packets",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    doc = json.loads(out)
    return doc["streams"][0], doc["packets"]


@needs_real
def test_real_gopro_bundle(tmp_path):
    out = tmp_path / "max"
    lc.extract_to_dir(REAL, out)
    rows, doc = rows_of(out), doc_of(out)
    clock = doc["capture_clock"]
    start = parse_time(clock["start_utc"])
    # GPSU reads 23:45:14.000 in the first payload and ~1.46 s past each later payload's start.
    assert clock["source"] == "gps" and utc(2019, 11, 18, 23, 45, 14) <= start <= utc(2019, 11, 18, 23, 45, 16)
    # creation_time 15:45:32 is the camera's local time (UTC-8) plus some drift.
    assert clock["utc_offset_min"] == -480 and -8 * 3600 < clock["camera_offset_s"] < -8 * 3600 + 30
    assert len(rows) == 11
    for r in rows:
        assert parse_time(r["captured_at"]) == start + timedelta(milliseconds=r["actual_ts_ms"])
        loc = r["location"]
        assert loc["source"] == "gpmf" and loc["fix"] == "3d" and loc["sample_gap_ms"] < 60
        assert abs(loc["lat"] - 33.1268) < 0.001 and abs(loc["lon"] + 117.3273) < 0.001
    track = doc["track"]
    assert track["samples"] == 191 and 5 < track["distance_m"] < 30
    assert track["bbox"][0] <= 33.12677 <= track["bbox"][2]
    lines = (out / TELEMETRY_ARTIFACT).read_text().splitlines()
    assert len(lines) == 191 + 316 + 11


@needs_real
def test_real_gopro_probe_text(capsys):
    assert main(["probe", str(REAL)]) == 0
    text = capsys.readouterr().out
    assert "(source: gps, camera clock -28" in text and "fixes: 191 from 2019-11-18T23:45:1" in text


def test_validate_checks_captured_at_against_the_clock(gps5_clip, tmp_path):
    from lifelog_compression.validate import validate_bundle

    _, path = gps5_clip
    out = tmp_path / "b"
    lc.extract_to_dir(path, out)
    assert validate_bundle(path, out, limit=2, time_check=False).ok
    manifest = out / "manifest.jsonl"
    rows = rows_of(out)
    rows[1]["captured_at"] = "2024-05-01T10:00:02.000Z"  # one second late
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = validate_bundle(path, out, limit=2, time_check=False)
    assert [c.frame_id for c in report.failed] == ["frame_00000002"]
    message = report.failed[0].failures[0].message
    assert "captured_at 2024-05-01T10:00:02.000Z is not the capture clock's start" in message


def test_shards_carry_the_time_fields_and_the_artifact(gps5_clip, tmp_path):
    _, path = gps5_clip
    lc.extract_to_dir(path, tmp_path / "shards", shards=True)
    rows = [row for row, _ in lc.read_shards(tmp_path / "shards")]
    assert [r.extra["captured_at"] for r in rows][:2] == ["2024-05-01T10:00:00.000Z", "2024-05-01T10:00:01.000Z"]
    lc.unpack(tmp_path / "shards", tmp_path / "unpacked")
    assert (tmp_path / "unpacked" / TELEMETRY_ARTIFACT).read_text() == read_source_telemetry(
        path, duration_ms=6000
    ).jsonl()


def test_chapters_of_one_recording_continue_one_clock(clip, tmp_path):
    """Two GoPro chapters, each with its own GPMF: batch links them, and the
    second chapter's clock starts where the first one's video ends."""
    card = tmp_path / "card" / "DCIM" / "100GOPRO"
    card.mkdir(parents=True)
    base = clip("h264_bframes_mp4")
    for chapter in (1, 2):
        first = (chapter - 1) * 60
        payloads = [
            device(
                gps5_stream(
                    [gps5_point(first + p * 10 + i) for i in range(10)],
                    gpsu=GPS_START + timedelta(seconds=(chapter - 1) * 6 + p),
                )
            )
            for p in range(6)
        ]
        mux_gpmf(
            base.path,
            payloads,
            card / f"GX0{chapter}0007.MP4",
            metadata={"creation_time": f"2024-05-01T12:00:0{3 + (chapter - 1) * 6}.000000Z"},
        )
    result = lc.extract_directory_to_dir(tmp_path / "card", tmp_path / "out")
    assert not result.failed
    one, two = (tmp_path / "out" / "DCIM" / "100GOPRO" / name for name in ("GX010007", "GX020007"))
    assert doc_of(one)["recording"]["chapter_bundles"] == ["DCIM/100GOPRO/GX010007", "DCIM/100GOPRO/GX020007"]
    clocks = [doc_of(b)["capture_clock"] for b in (one, two)]
    assert [c["start_utc"] for c in clocks] == ["2024-05-01T10:00:00.000Z", "2024-05-01T10:00:06.000Z"]
    assert [c["camera_offset_s"] for c in clocks] == [7203.0, 7203.0]
    last_of_one, first_of_two = rows_of(one)[-1], rows_of(two)[0]
    assert parse_time(first_of_two["captured_at"]) - parse_time(last_of_one["captured_at"]) == timedelta(seconds=1)
    assert first_of_two["location"]["lat"] == pytest.approx(gps5_point(60)[0], abs=1e-7)


def test_contact_sheet_labels_local_capture_time(gps5_clip, tmp_path, monkeypatch):
    from PIL import ImageDraw

    from lifelog_compression.sheet import make_contact_sheet

    _, path = gps5_clip
    lc.extract_to_dir(path, tmp_path / "b")
    drawn: list[str] = []
    real_text = ImageDraw.ImageDraw.text

    def spy(self, xy, text, *args, **kwargs):
        drawn.append(text)
        return real_text(self, xy, text, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", spy)
    make_contact_sheet(tmp_path / "b", tmp_path / "sheet.jpg")
    # GPS says 10:00 UTC; the camera's clock is 2 h ahead: its zone is UTC+2.
    assert any("recorded 2024-05-01 12:00:00 UTC+02:00" in t for t in drawn)
    assert "0:01.000  12:00:01  #2" in drawn and "0:05.000  12:00:05  #6" in drawn


def test_iter_frames_carry_the_rows_time_and_place(gps5_clip, tmp_path):
    """Ingest code gets what a bundle's manifest rows say: captured_at and
    location per frame, from the same telemetry."""
    _, path = gps5_clip
    lc.extract_to_dir(path, tmp_path / "b")
    rows = rows_of(tmp_path / "b")
    records = list(lc.iter_frames(path))
    assert [(f.actual_ts_ms, f.captured_at, f.location) for f in records] == [
        (r["actual_ts_ms"], r["captured_at"], r["location"]) for r in rows
    ]
    assert records[0].captured_at == "2024-05-01T10:00:00.000Z" and records[1].location is not None


def test_iter_frames_without_telemetry_say_none(clip):
    base = clip("h264_bframes_mp4")
    records = list(lc.iter_frames(base.path))
    assert records and all(f.location is None for f in records)
    # The container's clock (UTC) or the file's time (the camera's wall clock) still dates every frame.
    assert all(
        (f.captured_at and f.captured_at.endswith("Z")) or (f.captured_local and f.captured_at is None) for f in records
    )


def test_fixes_no_camera_could_reach_are_dropped():
    """A flipped bit in GPMF put one fix 19,000 km away and a speed of
    9,634 m/s in a row: a fix unreachable at 400 m/s from the track around it
    is damage, dropped and counted, and so is a speed reading over it."""
    from lifelog_compression.telemetry.model import Position
    from lifelog_compression.telemetry.track import Track

    walk = [
        Position(t_ms=i * 1000.0, lat=33.1266 + i * 1e-5, lon=-117.3273, speed_mps=1.2, source="gpmf")
        for i in range(10)
    ]
    walk[4] = Position(t_ms=4000.0, lat=-6.5977, lon=-6.5977, speed_mps=1.2, source="gpmf")  # the flipped fix
    walk[6] = Position(t_ms=6000.0, lat=33.12666, lon=-117.3273, speed_mps=9634.8, source="gpmf")  # a flipped speed
    track = Track(walk)
    summary = track.summary()
    assert summary is not None and summary["samples"] == 9 and summary["implausible_fixes_dropped"] == 1
    assert summary["distance_m"] < 20 and summary["bbox"][1] == -117.3273
    for t in range(0, 9001, 500):
        here = track.at(float(t))
        assert here is not None and abs(here["lat"] - 33.1266) < 0.001, (t, here)
        assert here["speed_mps"] is None or here["speed_mps"] < 2, (t, here)
    # A track that is all there is: nothing dropped.
    assert Track(walk[:3]).summary()["samples"] == 3 and "implausible_fixes_dropped" not in Track(walk[:3]).summary()


def test_srt_times_with_a_sign_or_absurd_hours_are_skipped(tmp_path):
    """'-00:00:05,000' was read as +5 s and '99999:59:59,999' put a fix in
    2034: such blocks are no time of a recording and are skipped."""
    from lifelog_compression.telemetry.dji import read_srt

    srt = tmp_path / "DJI_0003.SRT"
    blocks = [
        ("00:00:00,000 --> 00:00:01,000", 47.0),
        ("99999:59:59,999 --> 99999:59:59,999", 47.1),
        ("-00:00:05,000 --> 00:00:01,000", 47.2),
        ("00:00:02,000 --> 00:00:03,000", 47.002),
    ]
    srt.write_text(
        "".join(f"{i + 1}\n{rng}\n[latitude: {lat}] [longitude: 8.0]\n\n" for i, (rng, lat) in enumerate(blocks)),
        encoding="utf-8",
    )
    tel = read_srt(srt)
    assert tel is not None
    assert [(p.t_ms, p.lat) for p in tel.positions] == [(0.0, 47.0), (2000.0, 47.002)]
