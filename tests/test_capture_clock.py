"""SPEC 1.2: time zones are never invented and 0,0 is no place. Which times
count as UTC (GPS, a time stating its offset, MP4 mvhd of phones), which only
as the camera's wall clock (GoPro's mvhd, an AVI IDIT, a file's time), what
several disagreeing times become, and the Karma drone's GPS in TYPE-described
GPMF structures."""

from __future__ import annotations

import json
import struct
import subprocess
import tracemalloc
from pathlib import Path

import pytest
from telemetry_fixtures import device, gps5_stream, klv, mux_gpmf, nest, numbers, text, utc

import lifelog_compression as lc
from lifelog_compression.manifest import ManifestRow
from lifelog_compression.telemetry import gpmf, read_source_telemetry
from lifelog_compression.telemetry.checks import capture_time_problem
from lifelog_compression.telemetry.gopro import read_payload
from lifelog_compression.telemetry.labels import time_label
from lifelog_compression.telemetry.model import Position, Telemetry
from lifelog_compression.telemetry.mp4 import read_movie

REPO = Path(__file__).resolve().parents[1]
# CI has ../shared beside the checkout; a worktree sits one level deeper.
_SHARED = [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]
KARMA = next((d / "real" / "gopro_karma.mp4" for d in _SHARED if (d / "real" / "gopro_karma.mp4").is_file()), None)
needs_karma = pytest.mark.skipif(
    KARMA is None,
    reason="../shared/data/real/gopro_karma.mp4 is not here (it is beside the checkout in CI, not in a user's clone)",
)


def rows_of(bundle: Path) -> list[dict]:
    return [json.loads(line) for line in (bundle / "manifest.jsonl").read_text().splitlines()]


def doc_of(bundle: Path) -> dict:
    return json.loads((bundle / "bundle.json").read_text())


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


# --- 0,0 is no fix --------------------------------------------------------------------------------------


def test_a_phone_tag_of_zero_zero_is_no_place(clip, tmp_path):
    """A Samsung phone's '©xyz' of +00.0000+000.0000/ is its way of saying
    'no fix': no row gets a location and bundle.json has no track."""
    phone = tmp_path / "20201120_150402.mov"
    ffmpeg(
        "-i",
        str(clip("short_mp4").path),
        "-map",
        "0",
        "-c",
        "copy",
        "-metadata",
        "location=+00.0000+000.0000/",
        str(phone),
    )
    assert read_movie(phone).tags["\u00a9xyz"] == "+00.0000+000.0000/"  # the tag ffmpeg writes, as phones do
    out = tmp_path / "b"
    lc.extract_to_dir(phone, out)
    rows, doc = rows_of(out), doc_of(out)
    assert rows and all(r["location"] is None for r in rows)
    assert "track" not in doc
    assert any("0,0" in n for n in doc["capture_clock"]["notes"])


def test_zero_zero_is_no_fix_in_every_source():
    """GPMF (a receiver claiming 3D at 0,0), DJI and any Position: 0,0 is
    recorded as fix 'none' and never reaches the track."""
    p = Position(0.0, 0.0, 0.0, 12.0, fix="3d", source="gpmf")
    assert p.fix == "none" and not p.has_fix and p.to_json()["fix"] == "none"
    tel: dict[str, Telemetry] = {}
    points = [(0.0, 0.0, 0.0, 0.0, 0.0)] * 5 + [(48.0, 2.0, 50.0, 1.0, 1.0)] * 5
    read_payload(device(gps5_stream(points, fix=3)), 0.0, 1000.0, tel)
    fixes = next(iter(tel.values())).fixes
    assert len(fixes) == 5 and all(f.lat == 48.0 for f in fixes)


# --- times with an invented zone ---------------------------------------------------------------------------


def _avi_with_idit(src: Path, out: Path, idit: bytes) -> Path:
    """An AVI whose header holds an IDIT chunk (what Canon and Nikon compacts
    write): FFmpeg's muxer writes none, so a JUNK chunk of the header list is
    turned into one."""
    ffmpeg("-i", str(src), "-an", "-c:v", "mjpeg", "-q:v", "5", str(out))
    data = bytearray(out.read_bytes())
    hdrl = data.find(b"hdrl") - 8
    (hdrl_size,) = struct.unpack_from("<I", data, hdrl + 4)
    pos, end = hdrl + 12, hdrl + 8 + hdrl_size
    while pos + 8 <= end:
        kind, size = bytes(data[pos : pos + 4]), struct.unpack_from("<I", data, pos + 4)[0]
        if kind == b"JUNK" and size >= len(idit) + 1:
            data[pos : pos + 4] = b"IDIT"
            data[pos + 8 : pos + 8 + size] = idit + b"\0" * (size - len(idit))
            out.write_bytes(bytes(data))
            return out
        pos += 8 + size + (size & 1)
    raise AssertionError("no JUNK chunk in the AVI header to hold the IDIT")


def test_an_avi_idit_is_the_cameras_wall_clock(clip, tmp_path):
    """A Canon compact's IDIT is its local time without a zone: captured_at
    null, captured_local the wall clock, never '...Z'."""
    avi = _avi_with_idit(clip("short_mp4").path, tmp_path / "MVI_0042.AVI", b"Mon Sep 10 20:52:00 2012\n")
    probed = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format_tags=creation_time", "-of", "json", str(avi)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(probed)["format"]["tags"]["creation_time"] == "2012-09-10 20:52:00"
    out = tmp_path / "b"
    lc.extract_to_dir(avi, out)
    rows, clock = rows_of(out), doc_of(out)["capture_clock"]
    assert clock["start_utc"] is None and clock["zone"] == "unknown" and clock["source"] == "container"
    assert clock["start_local"] == "2012-09-10T20:52:00.000" and clock["utc_offset_min"] is None
    assert not any("(UTC)" in n for n in clock["notes"])
    assert rows and all(r["captured_at"] is None for r in rows)
    assert [r["captured_local"] for r in rows] == [
        f"2012-09-10T20:52:{r['actual_ts_ms'] // 1000:02d}.{r['actual_ts_ms'] % 1000:03d}" for r in rows
    ]
    assert all(capture_time_problem(ManifestRow.from_json(r), clock) is None for r in rows)


def test_a_zoned_day_tag_is_used_and_the_disagreement_noted(clip, tmp_path):
    """An Android phone's ©day states its offset; mvhd (UTC) is 34 s away.
    The stated offset is used and recorded; the other time is in the notes."""
    phone = tmp_path / "VID_20201120_150402.mp4"
    ffmpeg(
        "-i",
        str(clip("short_mp4").path),
        "-map",
        "0",
        "-c",
        "copy",
        "-metadata",
        "creation_time=2020-11-20T14:03:28.000000Z",
        "-metadata",
        "date=2020-11-20T15:04:02+0100",
        str(phone),
    )
    assert read_movie(phone).tags["\u00a9day"] == "2020-11-20T15:04:02+0100"  # udta/meta/ilst, as phones write it
    out = tmp_path / "b"
    lc.extract_to_dir(phone, out)
    rows, clock = rows_of(out), doc_of(out)["capture_clock"]
    assert clock["start_utc"] == "2020-11-20T14:04:02.000Z" and clock["zone"] == "offset"
    assert clock["utc_offset_min"] == 60 and clock["start_local"] == "2020-11-20T15:04:02.000"
    assert any("mvhd" in n and "-34.000 s" in n for n in clock["notes"])
    assert rows[0]["captured_at"] == "2020-11-20T14:04:02.000Z"
    assert rows[0]["captured_local"] == "2020-11-20T15:04:02.000"
    sheet_label = time_label(rows[0]["captured_at"], clock, with_date=True)
    assert sheet_label == "2020-11-20 15:04:02 UTC+01:00"


def test_a_phone_mvhd_alone_is_utc(clip, tmp_path):
    """MP4 mvhd is UTC by the format and phones write it so: kept, zone 'utc'."""
    phone = tmp_path / "phone.mp4"
    ffmpeg(
        "-i",
        str(clip("short_mp4").path),
        "-map",
        "0",
        "-c",
        "copy",
        "-metadata",
        "creation_time=2024-01-02T03:04:05.000000Z",
        str(phone),
    )
    clock = read_source_telemetry(phone, duration_ms=400).clock
    assert clock.to_json()["zone"] == "utc" and clock.captured_at(399) == "2024-01-02T03:04:05.399Z"
    assert clock.captured_local(0) is None and clock.utc_offset_min is None


def test_gopro_with_gps_knows_both_clocks(clip, tmp_path):
    """GPS time is UTC; GoPro's mvhd (local) minus GPS gives the zone, and
    with it the local wall clock."""
    payloads = [
        device(
            gps5_stream([(48.0 + i * 1e-5, 2.0, 100.0, 1.0, 1.0) for i in range(10)], gpsu=utc(2024, 5, 1, 10, 0, p))
        )
        for p in range(3)
    ]
    path = mux_gpmf(
        clip("h264_bframes_mp4").path,
        payloads,
        tmp_path / "GX010001.MP4",
        metadata={"creation_time": "2024-05-01T12:00:00.000000Z"},
    )
    st = read_source_telemetry(path, duration_ms=3000)
    c = st.clock.to_json()
    assert c["zone"] == "utc" and c["start_utc"] == "2024-05-01T10:00:00.000Z" and c["utc_offset_min"] == 120
    assert c["start_local"] == "2024-05-01T12:00:00.000"
    assert st.row_fields(1500)["captured_local"] == "2024-05-01T12:00:01.500"


def test_readers_know_captured_local(tmp_path):
    """The manifest row type, validate's check and the Parquet export all read captured_local."""
    row = {
        "frame_id": "frame_00000002",
        "frame_relpath": "frames/00000002.jpg",
        "source_relpath": "a.avi",
        "requested_ts_ms": 1000,
        "actual_ts_ms": 1000,
        "width": 64,
        "height": 48,
        "content_hash": "sha256:00",
        "captured_at": None,
        "captured_local": "2012-09-10T20:52:01.000",
        "location": None,
    }
    typed = ManifestRow.from_json(row)
    assert typed.captured_local == "2012-09-10T20:52:01.000" and "captured_local" not in typed.other_fields
    assert typed.to_json() == row
    clock = {"start_utc": None, "start_local": "2012-09-10T20:52:00.000", "zone": "unknown"}
    assert capture_time_problem(typed, clock) is None
    late = ManifestRow.from_json({**row, "captured_local": "2012-09-10T20:52:02.000"})
    assert "captured_local 2012-09-10T20:52:02.000 is not the capture clock's start_local" in capture_time_problem(
        late, clock
    )
    zoned = ManifestRow.from_json({**row, "captured_local": "2012-09-10T20:52:01.000Z"})
    assert "without a zone" in capture_time_problem(zoned, clock)
    invented = ManifestRow.from_json({**row, "captured_at": "2012-09-10T20:52:01.000Z"})
    assert "no start" in capture_time_problem(invented, clock)
    pa = pytest.importorskip("pyarrow")
    from lifelog_compression import parquet

    assert parquet.schema().field("captured_local").type == pa.string()
    assert parquet._record(typed, "id", ".")["captured_local"] == "2012-09-10T20:52:01.000"


# --- the Karma drone: GPS in TYPE-described GPMF structures -------------------------------------------


def _gpri(rows: list[tuple[int, float, float, float, int]]) -> bytes:
    """A Karma-style GPRI stream: TYPE, UNIT, SCAL per field, (boot µs, lat, lon, alt, fix)."""
    units = [b"s", b"deg", b"deg", b"m", b"m", b"m", b"m/s", b"deg", b"", b""]
    scal = (1_000_000, 10_000_000, 10_000_000, 1000, 100, 100, 100, 100, 1, 1)
    data = b"".join(
        struct.pack(
            ">JlllSSSSBB".replace("J", "Q").replace("S", "H"),
            t,
            round(la * 1e7),
            round(lo * 1e7),
            round(al * 1000),
            25,
            42,
            800,
            33000,
            fix,
            20,
        )
        for t, la, lo, al, fix in rows
    )
    return nest(
        "STRM",
        text("STNM", "GPS RAW"),
        text("TYPE", "JlllSSSSBB"),
        klv("UNIT", "c", 3, 10, b"".join(u.ljust(3, b"\0") for u in units)),
        numbers("SCAL", "l", [(s,) for s in scal]),
        klv("GPRI", "?", 30, len(rows), data),
    )


def _bpos(lat: float, lon: float) -> bytes:
    """The Karma controller's own position: never the camera's."""
    units = [b"deg", b"deg", b"m"]
    return nest(
        "STRM",
        text("STNM", "Controller"),
        text("TYPE", "lll"),
        klv("UNIT", "c", 3, 3, b"".join(u.ljust(3, b"\0") for u in units)),
        numbers("SCAL", "l", [(10_000_000,), (10_000_000,), (1000,)]),
        klv("BPOS", "?", 12, 1, struct.pack(">lll", round(lat * 1e7), round(lon * 1e7), 5000)),
    )


def test_type_described_gps_structures_are_read(clip, tmp_path):
    """GPRI with UNIT and per-field SCAL: positions, altitude, fix type, and
    samples spaced by the structure's own time; the controller's BPOS and a
    no-fix sample are not the camera's position."""
    payloads = []
    for p in range(3):
        rows = [
            (
                145_000_000 + (p * 4 + i) * 250_000,
                33.125 + (p * 4 + i) * 1e-5,
                -117.331,
                15.0,
                0 if (p, i) == (0, 0) else 3,
            )
            for i in range(4)
        ]
        payloads.append(device(_gpri(rows), _bpos(40.0, -100.0), name="GoPro Karma v1.0"))
    path = mux_gpmf(clip("h264_bframes_mp4").path, payloads, tmp_path / "GOPR0001.MP4")
    st = read_source_telemetry(path, duration_ms=3000)
    fixes = st.track.fixes
    assert len(fixes) == 11 and st.telemetry.position_stream == "GPRI"
    assert all(abs(f.lat - 33.125) < 0.001 and f.lon == pytest.approx(-117.331) and f.alt_m == 15.0 for f in fixes)
    assert [f.fix for f in st.telemetry.positions][:2] == ["none", "3d"]
    steps = [b.t_ms - a.t_ms for a, b in zip(st.telemetry.positions, st.telemetry.positions[1:])]
    assert steps == pytest.approx([250.0] * 11)
    assert st.telemetry.positions[1].speed_mps == pytest.approx(8.0)
    assert not any(abs(f.lat - 40.0) < 1 for f in st.telemetry.positions)  # BPOS is the pilot
    assert not any("no GPS stream" in n for n in st.notes)


def test_a_forged_type_cannot_make_memory_grow():
    """A TYPE of 65535 characters of 'f[255]' would expand to millions of
    fields: refused before anything is built."""
    forged = b"f[255]" * 10922
    payload = device(
        nest(
            "STRM",
            klv("TYPE", "c", 1, len(forged), forged),
            klv("UNIT", "c", 3, 2, b"degdeg"),
            klv("GPRI", "?", 8, 1, b"\0" * 8),
        )
    )
    tracemalloc.start()
    try:
        tel: dict[str, Telemetry] = {}
        read_payload(payload, 0.0, 1000.0, tel)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * len(payload) + 200_000
    assert not any(t.positions or t.typed_positions for t in tel.values())
    with pytest.raises(gpmf.GpmfError):
        gpmf.expand_type(forged.decode())


@needs_karma
def test_real_karma_gps(tmp_path):
    """GoPro HERO5 on a Karma drone: GPS only in GPRI/GLPI. GoPro's own
    gpmf-parser reads about 33.125 N, 117.331 W; the camera's mvhd is its local
    time without a zone, and the file has no GPS time: captured_at is null."""
    out = tmp_path / "karma"
    lc.extract_to_dir(KARMA, out)
    rows, doc = rows_of(out), doc_of(out)
    located = [r["location"] for r in rows if r["location"] is not None]
    assert len(located) >= len(rows) - 2 >= 9
    for loc in located:
        assert abs(loc["lat"] - 33.1255) < 0.001 and abs(loc["lon"] + 117.3312) < 0.001
        assert loc["source"] == "gpmf" and loc["fix"] == "3d" and 0 <= loc["speed_mps"] < 15
    track = doc["track"]
    assert track["samples"] == 47 and 30 < track["distance_m"] < 200
    assert track["bbox"][0] > 33.12 and track["bbox"][3] < -117.33
    clock = doc["capture_clock"]
    assert clock["zone"] == "unknown" and clock["start_utc"] is None
    assert clock["start_local"] == "2017-04-17T19:27:57.000"
    assert all(r["captured_at"] is None for r in rows)
    assert rows[1]["captured_local"] == (
        f"2017-04-17T19:27:{57 + rows[1]['actual_ts_ms'] // 1000:02d}.{rows[1]['actual_ts_ms'] % 1000:03d}"
    )
    st = read_source_telemetry(KARMA, duration_ms=12000)
    assert st.telemetry.position_stream == "GPRI" and st.telemetry.device == "GoPro Karma v1.0"
