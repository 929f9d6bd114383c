"""The plain-C rules, tested in C without FFmpeg or a Mac: the planner, the
track choice, the macOS core's decisions and JPEG reading, the content
signals of the macOS canvas (tests/c/)."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _build_c_test(tmp_path, test: str, source: str) -> Path:
    """Compiles tests/c/<test>.c with csrc/<source>.c (strict C11, warnings as errors)."""
    exe = tmp_path / test
    subprocess.run(
        [
            "gcc",
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-O1",
            f"-I{ROOT / 'csrc'}",
            str(ROOT / f"tests/c/{test}.c"),
            str(ROOT / f"csrc/{source}.c"),
            "-o",
            str(exe),
            "-lm",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return exe


def _run_c_test(tmp_path, test: str, source: str) -> None:
    """Builds and runs tests/c/<test>.c; it must print 'ok'."""
    run = subprocess.run([str(_build_c_test(tmp_path, test, source))], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().startswith("ok"), run.stdout


def test_planner_rules_in_c(tmp_path):
    _run_c_test(tmp_path, "test_plan", "plan")


def test_track_choice_rules_in_c(tmp_path):
    """Which video track is the recording (csrc/tracks.h)."""
    _run_c_test(tmp_path, "test_tracks", "tracks")


def test_macos_backend_decisions_in_c(tmp_path):
    """avextract.m's request matching, windows, status, duration check, HDR
    plan and watchdog (csrc/avplan.h): the parts of the macOS core that can
    run here."""
    _run_c_test(tmp_path, "test_avplan", "avplan")


def test_jpeg_reading_in_c(tmp_path):
    """csrc/jpegfile.c's calibration search and malformed input."""
    _run_c_test(tmp_path, "test_jpegfile", "jpegfile")


def _picture():
    from PIL import Image

    img = Image.new("RGB", (64, 48))
    img.putdata([((x * 4) % 256, (y * 5) % 256, (x * y) % 256) for y in range(48) for x in range(64)])
    return img


def test_libjpeg_quality_read_back_from_its_tables(tmp_path):
    """The luma table of a libjpeg JPEG gives back the quality it was written
    at, for every quality (the scale the macOS core calibrates ImageIO to),
    and the frame header gives the subsampling."""
    exe = _build_c_test(tmp_path, "test_jpegfile", "jpegfile")
    img = _picture()
    files, expected = [], []
    for quality in range(1, 101):
        for subsampling, name in ((0, 444), (1, 422), (2, 420)):
            if subsampling != 2 and quality % 10:
                continue
            path = tmp_path / f"q{quality}_{name}.jpg"
            img.save(path, quality=quality, subsampling=subsampling)
            files.append(str(path))
            expected.append((quality, name))
    run = subprocess.run([str(exe), "info", *files], capture_output=True, text=True, check=True)
    got = [tuple(int(v) for v in line.split()) for line in run.stdout.split("\n") if line]
    # Below 25 libjpeg's baseline clamp makes neighbouring qualities share
    # tables only at the very bottom; everywhere else the match is exact.
    for (q, sub), (gq, gsub) in zip(expected, got):
        assert gsub == sub, (q, sub, gsub)
        assert gq == q or (q <= 2 and gq <= 2), (q, gq)


def test_metadata_stripped_pixels_kept(tmp_path):
    """Exif, ICC profile and comment segments are cut out; JFIF, tables and
    scan stay, so the picture decodes to the same pixels."""
    from PIL import Image

    exe = _build_c_test(tmp_path, "test_jpegfile", "jpegfile")
    src, out = tmp_path / "meta.jpg", tmp_path / "bare.jpg"
    img = _picture()
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    img.save(src, quality=80, exif=exif.tobytes(), icc_profile=b"\0" * 3000, comment=b"made here")
    subprocess.run([str(exe), "strip", str(src), str(out)], check=True)
    data = out.read_bytes()
    assert data[:4] == b"\xff\xd8\xff\xe0"  # SOI, then JFIF's APP0
    markers = _header_markers(data)
    assert not [m for m in markers if 0xE1 <= m <= 0xEF or m == 0xFE], markers
    assert len(data) < len(src.read_bytes()) - 3000
    with Image.open(src) as a, Image.open(out) as b:
        assert a.tobytes() == b.tobytes()
        assert "icc_profile" not in b.info and "exif" not in b.info


def _header_markers(data: bytes) -> list:
    markers, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return markers


def test_signals_of_the_macos_canvas_in_c(tmp_path):
    """The macOS backend's B, G, R, X canvas gives the signals of its luma (csrc/signals.h)."""
    _run_c_test(tmp_path, "test_signals_bgrx", "signals")
