"""Phone motion photos: a JPEG still with the recording (an MP4) appended,
placed by the file's own metadata. The bundle is the recording's; the file
is still the source (its name, size and sha256); a JPEG whose metadata
places the recording where no MP4 starts is refused in one line.

The fixtures are built here as the phones write them (a JPEG still from the
ffmpeg CLI, an XMP APP1 segment after its SOI, a make_clip MP4 after its
end): Google's Motion Photo 1.0 (Container:Directory, the video item's
Item:Length counted from the file's end), the older MicroVideo
(GCamera:MicroVideoOffset, bytes from the file's end), and Samsung's SEF
trailer (a "MotionPhoto_Data" block before "SEFH"...."SEFT").
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys

import pytest
from fixtures import frame_at, make_clip, read_index
from motion_photos import build, google_xmp, microvideo_xmp, samsung_trailer, with_xmp

import lifelog_compression as lc
from lifelog_compression import _core
from lifelog_compression.telemetry.mp4 import read_movie


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "lifelog_compression", *map(str, args)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """A JPEG still and a 3 s MP4 (10 fps, creation time tagged)."""
    d = tmp_path_factory.mktemp("motion")
    still = d / "still.jpg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=orange:s=96x64", "-frames:v", "1", "-y", str(still)],
        check=True,
    )
    clip = make_clip(
        d / "clip.mp4",
        width=160,
        height=120,
        fps=10,
        seconds=3,
        gop=10,
        extra_args=("-metadata", "creation_time=2024-05-01T10:00:00Z"),
    )
    return still.read_bytes(), clip


CONTAINERS = {
    "google": "motion photo (Google Motion Photo 1.0)",
    "microvideo": "motion photo (Google MicroVideo)",
    "samsung": "motion photo (Samsung MotionPhoto_Data)",
}


@pytest.mark.parametrize("kind", sorted(CONTAINERS))
def test_motion_photo_gives_its_recordings_frames(parts, kind, tmp_path):
    jpeg, clip = parts
    mp4 = clip.path.read_bytes()
    data, offset = build(kind, jpeg, mp4)
    photo = tmp_path / ("PXL_20240501_100000000.MP.jpg" if kind == "google" else "MVIMG_20240501_100000.jpg")
    photo.write_bytes(data)

    result = lc.extract_to_dir(photo, tmp_path / "bundle")
    rows = lc.load_manifest(tmp_path / "bundle")
    assert result.frame_count == len(rows) == 3
    for row in rows:
        rect = tuple(row.extra[f"content_rect_{k}"] for k in ("x", "y", "width", "height"))
        got = read_index(tmp_path / "bundle" / row.frame_relpath, rect)
        assert got == frame_at(clip, row.actual_ts_ms), f"{row.frame_relpath} is not the recording's frame"

    doc = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    source = doc["source_video"]
    assert source["embedded_recording"] == {"offset": offset, "length": len(mp4), "container": CONTAINERS[kind]}
    # The source is the file: its name, size and hash are the whole file's.
    assert source["file_name"] == photo.name
    assert source["file_size_bytes"] == len(data)
    assert source["content_hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert any("embedded" in note for note in doc["notes"])

    # The telemetry reader reads the same MP4 (its creation time, its tracks).
    movie = read_movie(photo)
    assert (movie.base, movie.file_size) == (offset, len(mp4))
    assert movie.creation_time is not None and movie.creation_time.year == 2024
    assert any(t.handler == "vide" for t in movie.tracks)


@pytest.mark.parametrize(
    "kind,claim",
    [
        ("google", "into the still"),
        ("google", "past the start"),
        ("microvideo", "into the still"),
        ("microvideo", "past the start"),
    ],
)
def test_a_lying_motion_photo_is_refused_in_one_line(parts, kind, claim, tmp_path):
    jpeg, clip = parts
    mp4 = clip.path.read_bytes()
    wrong = len(mp4) + 100 if claim == "into the still" else 10 * (len(jpeg) + len(mp4))
    xmp = google_xmp(wrong) if kind == "google" else microvideo_xmp(wrong)
    photo = tmp_path / "MVIMG_lying.jpg"
    photo.write_bytes(with_xmp(jpeg, xmp) + mp4)

    out = run_cli("extract", photo, tmp_path / "bundle")
    assert out.returncode == lc.DamagedSourceError.exit_code, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "motion photo" in lines[0]
    assert ("outside the file" if claim == "past the start" else "no 'ftyp' box") in lines[0]
    assert not (tmp_path / "bundle").exists()


def test_a_flagged_motion_photo_without_its_video_is_refused(parts, tmp_path):
    """GCamera:MicroVideo=1 but no offset and nothing after the JPEG (the video stripped)."""
    jpeg, _ = parts
    xmp = microvideo_xmp(0).replace(' GCamera:MicroVideoOffset="0"', "")
    photo = tmp_path / "MVIMG_stripped.jpg"
    photo.write_bytes(with_xmp(jpeg, xmp))
    out = run_cli("extract", photo, tmp_path / "bundle")
    assert out.returncode == lc.DamagedSourceError.exit_code, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "names no recording" in out.stderr


def test_a_plain_jpeg_is_still_not_a_video(parts, tmp_path):
    jpeg, _ = parts
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(jpeg)
    # The decision reads the JPEG and finds no recording: the demuxer's refusal stands.
    assert _core.recording_range(str(photo)) is None
    out = run_cli("extract", photo, tmp_path / "bundle")
    assert out.returncode == lc.NotAVideoError.exit_code, out.stderr
    assert "not a video file (read as '" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    with pytest.raises(lc.NotAVideoError):
        lc.extract_to_dir(photo, tmp_path / "bundle2")


def test_an_mp4_right_after_the_jpeg_without_metadata(parts, tmp_path):
    """No XMP, no trailer: an 'ftyp' box right after the JPEG's end is the recording."""
    jpeg, clip = parts
    mp4 = clip.path.read_bytes()
    photo = tmp_path / "appended.jpg"
    photo.write_bytes(jpeg + mp4)
    result = lc.extract_to_dir(photo, tmp_path / "bundle")
    assert result.frame_count == 3
    doc = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert doc["source_video"]["embedded_recording"]["offset"] == len(jpeg)


def test_validate_compares_with_the_recording_not_the_still(parts, tmp_path):
    """validate's ffprobe and ffmpeg CLI read the same byte range the core
    found: every row matches the recording's frame (PSNR far above a picture
    of the still), and a row moved in time is caught."""
    from lifelog_compression.validate import validate_bundle

    jpeg, clip = parts
    data, _ = build("google", jpeg, clip.path.read_bytes())
    photo = tmp_path / "PXL_20240501_100000000.MP.jpg"
    photo.write_bytes(data)
    lc.extract_to_dir(photo, tmp_path / "bundle")
    report = validate_bundle(photo, tmp_path / "bundle")
    assert report.ok and len(report.frames) == 3, [f.failures for f in report.frames]
    assert report.psnr_y.min > 40


def test_empty_scans_cost_what_their_bytes_hold(tmp_path):
    """Hostile: 1 MB of empty scans (SOS segments of 4 bytes, 262,144 of
    them). The walk past each scan's data read 64 KB for it (16 GB, 1.2 s for
    one decision, made twice per extraction); it reads what the scan holds."""
    import os
    import time

    photo = tmp_path / "scans.jpg"
    photo.write_bytes(b"\xff\xd8" + b"\xff\xda\x00\x02" * (1 << 18))
    sanitized = "libasan" in os.environ.get("LD_PRELOAD", "")
    started = time.monotonic()
    assert _core.recording_range(str(photo)) is None
    assert time.monotonic() - started < 0.6 * (3 if sanitized else 1)


@pytest.mark.parametrize("kind", ["google", "microvideo"])
def test_a_byte_count_is_the_whole_value_not_its_first_digits(parts, kind):
    """Hostile: values that start with digits ("7980abc", "0x1f2c") were read
    as those digits, and a number of more than 18 digits as its first 18
    (twenty-two digits of a true length, zeros in front, read as 0). A value
    is a byte count when it is a decimal number, whole."""
    jpeg, clip = parts
    mp4 = clip.path.read_bytes()
    n = len(mp4)
    make = google_xmp if kind == "google" else microvideo_xmp

    def recording(value: str) -> dict | None:
        xmp = make(n).replace(f'="{n}"', f'="{value}"')
        path = clip.path.with_name(f"value-{kind}.jpg")
        path.write_bytes(with_xmp(jpeg, xmp) + mp4)
        return _core.recording_range(str(path))

    assert recording(str(n))["container"] == CONTAINERS[kind]
    assert recording(" 0000000000000000000%d " % n)["container"] == CONTAINERS[kind]
    # Not a number: the XMP names no range, and the MP4 after the JPEG is the recording.
    for value in (f"{n}abc", hex(n), f"+{n}", f"-{n}", "", f"{n} 5"):
        assert recording(value)["container"] == "motion photo (MP4 after the JPEG)", value
    with pytest.raises(lc.DamagedSourceError, match="outside the file"):
        recording("9" * 40)


def _sef(entries: list[tuple[int, int]], body: bytes = b"", count: int | None = None, size: int | None = None) -> bytes:
    """``body`` and a SEF trailer of MotionPhoto_Data entries (distance back from SEFH, length)."""
    sef = b"SEFH" + struct.pack("<II", 106, len(entries) if count is None else count)
    sef += b"".join(b"\x00\x00\x30\x0a" + struct.pack("<II", back, length) for back, length in entries)
    return body + sef + struct.pack("<I", len(sef) if size is None else size) + b"SEFT"


def _chunks_before(mp4: bytes) -> bytes:
    """The MP4 with its 'stco' rewritten as a 'co64' whose offsets are negative."""
    from hostile import _grow, _parents

    data = bytearray(mp4)
    at = data.find(b"stco") - 4
    size, _, _, count = struct.unpack_from(">I4sII", data, at)
    co64 = struct.pack(">I4sII", 16 + 8 * count, b"co64", 0, count) + struct.pack(">q", -4096) * count
    _grow(data, _parents(bytes(data), at), len(co64) - size)
    return bytes(data[:at] + co64 + data[at + size :])


def hostile_photos(jpeg: bytes, mp4: bytes) -> dict[str, bytes]:
    """Motion photos whose metadata, segments or trailer lie (each under 1 MB)."""
    n = len(mp4)
    google = google_xmp(n)
    shapes = {}
    for v in ("0", "-5", str(2**63), str(2**64 + n), str(n + 1), str(n * 1000), "abc", f"+{n}", hex(n), ""):
        shapes[f"length={v}"] = with_xmp(jpeg, google.replace(f'Length="{n}"', f'Length="{v}"')) + mp4
        shapes[f"offset={v}"] = with_xmp(jpeg, microvideo_xmp(n).replace(f'="{n}"', f'="{v}"')) + mp4
    shapes["repeated-length"] = with_xmp(jpeg, google.replace("Item:Length=", 'Item:Length="99" Item:Length=')) + mp4
    shapes["two-video-items"] = (
        with_xmp(jpeg, google.replace("</rdf:Seq>", '<Container:Item Item:Semantic="MotionPhoto" Item:Length="5"/>'))
        + mp4
    )
    shapes["xmp-in-two-segments"] = (
        with_xmp(with_xmp(jpeg, google[len(google) // 2 :]), google[: len(google) // 2]) + mp4
    )
    shapes["xmp-unterminated"] = with_xmp(jpeg, google[:400]) + mp4
    shapes["segment-length-0"] = b"\xff\xd8\xff\xe1\x00\x00" + jpeg[2:] + mp4
    shapes["segment-length-1"] = b"\xff\xd8\xff\xe1\x00\x01" + jpeg[2:] + mp4
    shapes["segment-past-the-end"] = with_xmp(jpeg, google)[:300]
    shapes["tiny-segments"] = b"\xff\xd8" + b"\xff\xe0\x00\x02" * 250_000 + mp4
    shapes["empty-scans"] = b"\xff\xd8" + b"\xff\xda\x00\x02" * 250_000 + mp4
    shapes["fill-bytes"] = b"\xff\xd8" + b"\xff" * 1_000_000
    shapes["no-scan-no-end"] = with_xmp(jpeg[:200], google)
    block, at = samsung_trailer(mp4)
    block = block[: block.find(b"SEFH")]
    for name, entries, count, size in [
        ("sef-back-past-the-start", [(10**9, 100)], None, None),
        ("sef-length-past-sefh", [(len(block), len(block) + 1000)], None, None),
        ("sef-million-entries", [(len(block), len(block))], 10**6, None),
        ("sef-4000-entries", [(8, 8)] * 4000, None, None),
        ("sef-size-huge", [(len(block), len(block))], None, 0xFFFFFFFF),
        ("sef-size-0", [(len(block), len(block))], None, 0),
        ("sef-into-the-jpeg", [(len(jpeg) + len(block), len(jpeg))], None, None),
    ]:
        shapes[name] = jpeg + _sef(entries, block, count, size)
    shapes["ftyp-then-garbage"] = with_xmp(jpeg, google_xmp(5016)) + mp4[:24] + b"\xcd" * 4992
    shapes["ftyp-only"] = jpeg + mp4[: struct.unpack(">I", mp4[:4])[0]]
    shapes["moov-past-the-end"] = jpeg + mp4[:32] + b"\xff\xff\xff\xffmoov" + bytes(100)
    inner = with_xmp(jpeg, google) + mp4  # a range that starts with a motion photo: not read again
    shapes["photo-in-the-photo"] = with_xmp(jpeg, google_xmp(len(inner))) + inner
    # The MP4's chunk offsets made 64-bit and negative: before its start, in the JPEG.
    back = _chunks_before(mp4)
    shapes["chunks-before-the-mp4"] = with_xmp(jpeg, google_xmp(len(back))) + back
    shapes["mp4-saying-motionphoto"] = mp4 + b"\x00\x00\x00\x28free" + b'GCamera:MotionPhoto="1" Item:Length="9"'[:32]
    return shapes


def test_hostile_motion_photos_end_in_a_bundle_or_one_line(parts, tmp_path):
    """Each shape under the fuzz harness's bounds (tests/fuzz_worker.py):
    a true bundle or one error line with its exit code, quickly, in little
    memory, under a name the subfile options must not be read from."""
    import os

    from test_fuzz import run_cases

    jpeg, clip = parts
    shapes = hostile_photos(jpeg, clip.path.read_bytes())
    cases = []
    for i, (name, data) in enumerate(shapes.items()):
        assert len(data) < 1 << 20, name
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        path = folder / "a,,start=0,end=9:b.jpg"
        path.write_bytes(data)
        cases.append({"name": name, "path": str(path), "out": str(folder / "b"), "stderr": str(folder / "err.txt")})
    sanitized = "libasan" in os.environ.get("LD_PRELOAD", "")
    results = run_cases(cases, tmp_path)
    for r in results:
        assert r["verdict"] in ("ok", "error"), r
        assert r["elapsed_s"] < 5 * (3 if sanitized else 1), r
        assert sanitized or r["max_rss_mb"] < 300, r
    print(json.dumps({r["name"]: [r["verdict"], r["code"], r["elapsed_s"], r["max_rss_mb"]] for r in results}))


def test_single_quoted_xmp_and_padding_before_the_video(parts, tmp_path):
    """XML allows either quote: Item:Semantic='MotionPhoto'. With padding
    between the still and the video (Item:Padding), only the item's Length,
    counted from the end, finds the MP4: there is no ftyp right after the
    JPEG to fall back on."""
    jpeg, clip = parts
    mp4 = clip.path.read_bytes()
    xmp = google_xmp(len(mp4)).replace('"', "'")
    head = with_xmp(jpeg, xmp) + b"\0" * 16
    photo = tmp_path / "PXL_20240501_100000001.MP.jpg"
    photo.write_bytes(head + mp4)
    result = lc.extract_to_dir(photo, tmp_path / "bundle")
    assert result.frame_count == 3
    doc = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert doc["source_video"]["embedded_recording"]["offset"] == len(head)
