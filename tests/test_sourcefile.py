"""csrc/sourcefile.c, the plain C both backends share, tested on its own: the
MP4 top-level box scan over crafted files (64-bit sizes, sizes that would
overflow, size 0, sizes below the header, cut-off boxes, a real 5 GiB sparse
file), the path checks, the error line, the duration rounding rule and the
display-matrix decomposition for all 8 orientations (mirrored ones included).

tests/c/test_sourcefile.c is a small driver compiled here with the system C
compiler (with AddressSanitizer and UBSan on Linux), so the product module
carries no test-only entry points."""

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"] if sys.platform.startswith("linux") else []


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    """run(*args) -> the driver's one output line, split into words."""
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    assert cc, "a C compiler is needed (scripts/setup.sh installs build-essential)"
    exe = tmp_path_factory.mktemp("cdriver") / "test_sourcefile"
    subprocess.run(
        [
            cc,
            "-std=c11",
            "-D_GNU_SOURCE",
            "-O1",
            "-g",
            "-Wall",
            "-Wextra",
            "-Werror",
            *SANITIZE,
            f"-I{ROOT / 'csrc'}",
            str(ROOT / "tests/c/test_sourcefile.c"),
            str(ROOT / "csrc/sourcefile.c"),
            "-lm",
            "-o",
            str(exe),
        ],
        check=True,
    )

    def run(*args):
        out = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out.stderr
        return out.stdout.rstrip("\n").split(" ", 2 if args[0] in ("boxes",) else 1)

    return run


# --- the MP4 top-level box scan ------------------------------------------------


def box(kind: bytes, payload: bytes = b"", *, size: int | None = None, large: int | None = None) -> bytes:
    """One box; `size` overrides the 32-bit size field, `large` writes size 1
    and this 64-bit size after the type."""
    if large is not None:
        return struct.pack(">I4sQ", 1, kind, large) + payload
    return struct.pack(">I4s", len(payload) + 8 if size is None else size, kind) + payload


FTYP = box(b"ftyp", b"isom" + b"\0\0\2\0" + b"isomiso2avc1mp41")
MOOV = box(b"moov", box(b"mvhd", bytes(100)))


def scan(driver, tmp_path, data: bytes):
    path = tmp_path / "crafted.mp4"
    path.write_bytes(data)
    is_iso, has_moov, brand = driver("boxes", path)
    return int(is_iso), int(has_moov), brand


@pytest.mark.parametrize(
    "name,data,expected",
    [
        ("whole file", FTYP + box(b"mdat", bytes(64)) + MOOV, (1, 1, "isom")),
        ("moov first (faststart)", MOOV + box(b"mdat", bytes(8)), (1, 1, "-")),
        ("mdat only: recording cut off", FTYP + box(b"mdat", bytes(64)), (1, 0, "isom")),
        ("64-bit mdat size, then moov", FTYP + box(b"mdat", bytes(40), large=56) + MOOV, (1, 1, "isom")),
        ("ftyp with a 64-bit size", box(b"ftyp", b"qt  \0\0\0\0", large=24) + MOOV, (1, 1, "qt  ")),
        ("mdat claims more than the file", FTYP + box(b"mdat", bytes(64), size=10_000) + MOOV, (1, 0, "isom")),
        # Unchecked, pos + size wraps back to the 'free' box: free -> mdat -> free ... forever.
        (
            "64-bit size that wraps past 2^64",
            FTYP + box(b"free") + box(b"mdat", large=2**64 - 8) + MOOV,
            (1, 0, "isom"),
        ),
        ("64-bit size with the top bit set", FTYP + box(b"mdat", bytes(8), large=2**63) + MOOV, (1, 0, "isom")),
        ("64-bit size below its 16-byte header", FTYP + box(b"mdat", bytes(8), large=8) + MOOV, (1, 0, "isom")),
        ("32-bit size below the header", FTYP + box(b"free", size=4) + MOOV, (1, 0, "isom")),
        ("size 0: mdat runs to the end", FTYP + box(b"mdat", MOOV, size=0), (1, 0, "isom")),
        ("file ends inside a 64-bit header", FTYP + struct.pack(">I4sI", 1, b"mdat", 0), (1, 0, "isom")),
        ("file ends inside a header", FTYP + b"\0\0\0", (1, 0, "isom")),
        ("ftyp cut before its brand", box(b"ftyp", b"is", size=16), (1, 0, "-")),
        ("not a movie", b"hello, this is a text file\n" * 4, (0, 0, "-")),
        ("shorter than a header", b"ftyp", (0, 0, "-")),
    ],
)
def test_box_scan(driver, tmp_path, name, data, expected):
    assert scan(driver, tmp_path, data) == expected, name


def test_box_scan_crosses_4_gib_with_a_64_bit_size(driver, tmp_path):
    """A real 64-bit layout: an mdat of 5 GiB (a sparse file, no disk used)
    followed by the moov, which must be found at its offset past 2^32."""
    path = tmp_path / "long-recording.mp4"
    mdat_size = 5 * 2**30
    with open(path, "wb") as f:
        f.write(FTYP + box(b"mdat", large=mdat_size))
        f.seek(len(FTYP) + mdat_size)
        f.write(MOOV)
    assert driver("boxes", path) == ["1", "1", "isom"]
    # The same file cut 1 byte into the moov's place: the mdat now claims more than is there.
    os.truncate(path, len(FTYP) + mdat_size - 1)
    assert driver("boxes", path) == ["1", "0", "isom"]


def test_box_scan_of_a_missing_file_finds_nothing(driver, tmp_path):
    assert driver("boxes", tmp_path / "absent.mp4") == ["0", "0", "-"]


# --- path checks, the error line, the duration rule ------------------------------

# lc_status values from csrc/extract.h.
LC_OK, LC_ERR_NOT_FOUND, LC_ERR_IS_DIRECTORY, LC_ERR_EMPTY, LC_ERR_DAMAGED = 0, 1, 2, 3, 8


def test_path_checks(driver, tmp_path):
    (tmp_path / "folder.mp4").mkdir()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "one.mp4").write_bytes(b"x")
    assert driver("path", tmp_path / "absent.mp4") == [str(LC_ERR_NOT_FOUND), "no such file"]
    assert driver("path", tmp_path / "one.mp4" / "below") == [str(LC_ERR_NOT_FOUND), "no such file"]
    assert driver("path", tmp_path / "folder.mp4") == [str(LC_ERR_IS_DIRECTORY), "is a folder, not a video file"]
    assert driver("path", tmp_path / "empty.mp4") == [str(LC_ERR_EMPTY), "the file is empty (0 bytes)"]
    assert driver("path", tmp_path / "one.mp4") == [str(LC_OK), "-"]


def test_error_line_is_one_bounded_line(driver):
    status, message = driver("fail", "line one\nline two\r\nthree")
    assert int(status) == LC_ERR_DAMAGED and message == "damaged: line one line two  three"
    status, message = driver("fail", "x" * 2000)
    assert len(message) == 511 and message.startswith("damaged: xxx")  # LC_ERRMSG_SIZE - 1


@pytest.mark.parametrize(
    "us,ms",
    [
        (-5, 0),
        (0, 0),
        (1, 1),
        (999, 1),
        (1000, 1),
        (1001, 2),
        (2_999_999, 3000),
        (3_000_000, 3000),
        (3_000_001, 3001),
        (2**62, 2**62 // 1000 + 1),
    ],
)
def test_duration_rounds_up_to_the_millisecond(driver, us, ms):
    """extract.h: requests are the times t < duration_ms; rounding up keeps
    that exactly "t < the true duration" for whole-millisecond t."""
    assert driver("duration", us) == [str(ms)]


# --- the display matrix ---------------------------------------------------------

MIRROR = np.array([[-1, 0], [0, 1]])


def turn(rotation: int) -> np.ndarray:
    """Clockwise turn on screen as an ISO/IEC 14496-12 matrix [[a, b], [c, d]]
    acting on row vectors (x', y') = (x, y) @ M, with y pointing down."""
    t = np.radians(rotation)
    return np.rint([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]).astype(int)


def compose(rotation: int, hflip: int) -> np.ndarray:
    """extract.h's convention: mirror left-right first (if hflip), then turn
    clockwise; with row vectors the first step is the left factor."""
    return (MIRROR if hflip else np.eye(2, dtype=int)) @ turn(rotation)


ORIENTATIONS = [(r, f) for f in (0, 1) for r in (0, 90, 180, 270)]


def test_composition_matches_the_named_transforms():
    """The convention pinned against what each matrix does to a point: the
    mirrored quarter turns are the transpose (x' = y, y' = x) and the
    anti-transpose (x' = -y, y' = -x), which FFmpeg's autorotate draws with
    transpose=cclock_flip and transpose=clock_flip."""
    assert (turn(90) == [[0, 1], [-1, 0]]).all()  # (1, 0) -> (0, 1): right -> down
    assert (compose(0, 1) == [[-1, 0], [0, 1]]).all()  # hflip
    assert (compose(180, 1) == [[1, 0], [0, -1]]).all()  # vflip
    assert (compose(270, 1) == [[0, 1], [1, 0]]).all()  # transpose
    assert (compose(90, 1) == [[0, -1], [-1, 0]]).all()  # anti-transpose
    assert len({compose(r, f).tobytes() for r, f in ORIENTATIONS}) == 8


@pytest.mark.parametrize("rotation,hflip", ORIENTATIONS)
@pytest.mark.parametrize("scale", [65536, 1, 2.5])  # 16.16 fixed point, CGAffineTransform, a scaled matrix
def test_orientation_of_all_8_matrices(driver, rotation, hflip, scale):
    (a, b), (c, d) = compose(rotation, hflip) * scale
    assert driver("orientation", a, b, c, d) == [str(rotation), str(hflip)]


@pytest.mark.parametrize("rotation,hflip", ORIENTATIONS)
def test_orientation_rounds_to_the_nearest_quarter_turn(driver, rotation, hflip):
    t = np.radians(rotation + 3.0)  # a matrix 3 degrees off, as float rounding or an editor leaves it
    m = (MIRROR if hflip else np.eye(2)) @ np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    assert driver("orientation", *m.ravel()) == [str(rotation), str(hflip)]


def test_degenerate_matrix_means_no_orientation(driver):
    assert driver("orientation", 0, 0, 0, 0) == ["0", "0"]
    assert driver("orientation", 1, 2, 2, 4) == ["0", "0"]  # rank 1
    assert driver("orientation", "nan", 0, 0, 1) == ["0", "0"]


# --- the recording's byte range in a motion photo ---------------------------------


def jpeg(xmp: str = "") -> bytes:
    """SOI, an XMP APP1 segment, a scan whose data holds stuffed and restart
    markers, EOI: the walk must skip the segments by length and find the end."""
    app1 = b""
    if xmp:
        payload = b"http://ns.adobe.com/xap/1.0/\0" + xmp.encode()
        app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    sos = b"\xff\xda" + struct.pack(">H", 8) + bytes(6) + b"\x12\xff\x00\x34\xff\xd0\x56"
    return b"\xff\xd8" + app1 + sos + b"\xff\xd9"


def google(length: int) -> str:
    return (
        '<Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary" Item:Length="0"/>'
        f'<Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto" Item:Length="{length}"/>'
    )


def test_recording_ranges(driver, tmp_path):
    mp4 = FTYP + MOOV
    still = jpeg(google(len(mp4)))
    assert driver("recording", _write(tmp_path, still + mp4)) == ["0", f"1 {len(still)} {len(mp4)} 1"]
    micro = jpeg(f'GCamera:MicroVideo="1" GCamera:MicroVideoOffset="{len(mp4)}"')
    assert driver("recording", _write(tmp_path, micro + mp4)) == ["0", f"1 {len(micro)} {len(mp4)} 1"]
    # Element form, and the MP4 right after the JPEG without metadata.
    element = jpeg(f"<GCamera:MicroVideo>1</GCamera:MicroVideo><GCamera:MicroVideoOffset>{len(mp4)}<")
    assert driver("recording", _write(tmp_path, element + mp4)) == ["0", f"1 {len(element)} {len(mp4)} 1"]
    assert driver("recording", _write(tmp_path, jpeg() + mp4)) == ["0", f"1 {len(jpeg())} {len(mp4)} 1"]
    # Not embedded: an MP4, a plain JPEG, a JPEG followed by anything else.
    assert driver("recording", _write(tmp_path, mp4)) == ["0", f"0 0 {len(mp4)} 1"]
    assert driver("recording", _write(tmp_path, jpeg())) == ["0", f"0 0 {len(jpeg())} 0"]
    assert driver("recording", _write(tmp_path, jpeg() + b"junk" * 10)) == ["0", f"0 0 {len(jpeg()) + 40} 0"]


@pytest.mark.parametrize(
    "data,words",
    [
        (jpeg(google(10**17)) + FTYP, "outside the file"),
        (jpeg(google(len(FTYP) + 3)) + FTYP, "no 'ftyp' box"),
        (jpeg('GCamera:MicroVideo="1" GCamera:MicroVideoOffset="99999999999999999999999"') + FTYP, "outside"),
        (jpeg('GCamera:MicroVideo="1" GCamera:MicroVideoOffset="0"') + FTYP, "no 'ftyp' box"),
        (jpeg('GCamera:MotionPhoto="1"'), "names no recording"),
    ],
    ids=["beyond-the-file", "into-the-still", "huge-number", "zero", "flag-only"],
)
def test_lying_ranges_are_damage(driver, tmp_path, data, words):
    status, message = driver("recording", _write(tmp_path, data))
    assert int(status) == LC_ERR_DAMAGED and words in message and "\n" not in message


@pytest.mark.parametrize(
    "tail",
    [
        b"SEFH" + struct.pack("<II", 106, 0xFFFFFFFF) + bytes(12) + struct.pack("<I", 24) + b"SEFT",
        b"SEFH"
        + struct.pack("<II", 106, 1)
        + b"\0\0\x30\x0a"
        + struct.pack("<II", 1 << 31, 1 << 31)
        + struct.pack("<I", 24)
        + b"SEFT",
        struct.pack("<I", 0xFFFFFFF0) + b"SEFT",
    ],
    ids=["count-too-large", "entry-before-the-file", "trailer-larger-than-the-file"],
)
def test_hostile_trailers_find_nothing(driver, tmp_path, tail):
    """Forged sizes and counts end the walk (ASan watches the reads)."""
    data = jpeg() + tail
    assert driver("recording", _write(tmp_path, data)) == ["0", f"0 0 {len(data)} 0"]


def _write(tmp_path, data: bytes):
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    return path
