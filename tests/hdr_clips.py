"""HDR fixture clips whose SDR colours are known.

A chart of flat patches (the 24 sRGB colours of a ColorChecker: skin tones,
greys, saturated primaries) is one SDR picture. It is turned into HDR the way
ITU-R BT.2408 section 5.1 maps SDR into HDR, display-referred: the SDR signal
is BT.1886 display light with SDR white at the HDR reference white, 203 cd/m2.
A correct HDR-to-SDR mapping brings the chart back.

- PQ: FFmpeg's zscale (libzimg) does the whole forward conversion, and x265
  writes mastering display and content light level SEI.
- HLG: numpy does the light conversion, because zimg applies HLG's OOTF to
  each component (x^1.2 per channel), which is not BT.2100's OOTF (on
  luminance: Fd = Ys^(gamma-1) * E); ffmpeg then only converts R'G'B' to
  BT.2020 YCbCr and encodes.
"""

import struct
import subprocess
from pathlib import Path

import numpy as np
from fixtures import _boxes

# sRGB 8-bit values of the ColorChecker Classic (BabelColor averages), row by row.
PATCHES = np.array(
    [
        (115, 82, 68),
        (194, 150, 130),
        (98, 122, 157),
        (87, 108, 67),
        (133, 128, 177),
        (103, 189, 170),
        (214, 126, 44),
        (80, 91, 166),
        (193, 90, 99),
        (94, 60, 108),
        (157, 188, 64),
        (224, 163, 46),
        (56, 61, 150),
        (70, 148, 73),
        (175, 54, 60),
        (231, 199, 31),
        (187, 86, 149),
        (8, 133, 161),
        (243, 243, 242),
        (200, 200, 200),
        (160, 160, 160),
        (122, 122, 121),
        (85, 85, 85),
        (52, 52, 52),
    ]
)
SKIN = (0, 1)  # dark skin, light skin
MID_GREY = (21,)  # neutral 5 (L* ~ 51)
COLUMNS, ROWS = 6, 4
WIDTH, HEIGHT = 1284, 720  # patch width 214 (even), height 180
FPS, SECONDS = 10, 2
X265 = "log-level=error:keyint=10:colorprim=bt2020:colormatrix=bt2020nc"
HDR_TAGS = ["-color_primaries", "bt2020", "-colorspace", "bt2020nc", "-color_range", "tv"]


def chart() -> np.ndarray:
    """The SDR chart, HEIGHT x WIDTH x 3 uint8."""
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pw, ph = WIDTH // COLUMNS, HEIGHT // ROWS
    for i, colour in enumerate(PATCHES):
        r, c = divmod(i, COLUMNS)
        img[r * ph : (r + 1) * ph, c * pw : (c + 1) * pw] = colour
    return img


def patch_means(img: np.ndarray) -> np.ndarray:
    """Mean colour of the middle half of every patch of a chart picture of any size."""
    h, w = img.shape[:2]
    out = []
    for i in range(len(PATCHES)):
        r, c = divmod(i, COLUMNS)
        y0, y1 = int((r + 0.25) * h / ROWS), int((r + 0.75) * h / ROWS)
        x0, x1 = int((c + 0.25) * w / COLUMNS), int((c + 0.75) * w / COLUMNS)
        out.append(img[y0:y1, x0:x1].reshape(-1, 3).astype(np.float64).mean(axis=0))
    return np.array(out)


def _ffmpeg(args, stdin: bytes):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], input=stdin, check=True)


def _repeat(frame: bytes) -> bytes:
    return frame * (FPS * SECONDS)


def make_pq(path: Path, max_cll: int = 2000) -> Path:
    """PQ BT.2020 10-bit HEVC with mastering display (4000 cd/m2) and MaxCLL metadata."""
    vf = (
        "format=gbrp,zscale=rin=full:tin=bt709:pin=bt709:t=smpte2084:p=2020:m=2020_ncl:r=limited:npl=203,"
        "format=yuv420p10le"
    )
    x265 = (
        f"{X265}:transfer=smpte2084:hdr10=1:max-cll={max_cll},400:"
        "master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(40000000,50)"
    )
    _ffmpeg(
        [
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{WIDTH}x{HEIGHT}",
            "-r",
            str(FPS),
            "-i",
            "-",
            "-vf",
            vf,
            "-c:v",
            "libx265",
            "-x265-params",
            x265,
            "-color_trc",
            "smpte2084",
            *HDR_TAGS,
            str(path),
        ],
        _repeat(chart().tobytes()),
    )
    return path


# BT.2100 HLG constants.
_A = 0.17883277
_B = 1 - 4 * _A
_C = 0.5 - _A * np.log(4 * _A)
# Linear BT.709 -> BT.2020 (ITU-R BT.2087).
_709_TO_2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])


def sdr_to_hlg_signal(rgb8: np.ndarray) -> np.ndarray:
    """SDR sRGB/BT.709 codes -> HLG BT.2020 R'G'B' signal 0..1 (BT.2408 display-referred,
    SDR white at 203 cd/m2 on a 1000 cd/m2 HLG display, BT.2100 inverse OOTF on luminance)."""
    display = (rgb8.astype(np.float64) / 255.0) ** 2.4 * (203.0 / 1000.0)
    display = display @ _709_TO_2020.T
    y_d = display @ np.array([0.2627, 0.6780, 0.0593])
    scene = display * np.where(y_d > 0, y_d, 1.0)[..., None] ** ((1 - 1.2) / 1.2)
    scene = np.clip(scene, 0, 1)
    return np.where(scene <= 1 / 12, np.sqrt(3 * scene), _A * np.log(np.maximum(12 * scene - _B, 1e-12)) + _C)


def make_hlg(path: Path) -> Path:
    """HLG BT.2020 10-bit HEVC of the chart."""
    signal = np.round(sdr_to_hlg_signal(chart()) * 65535).astype("<u2")
    planes = np.stack([signal[..., 1], signal[..., 2], signal[..., 0]])  # gbrp: G, B, R planes
    vf = "zscale=rin=full:m=2020_ncl:r=limited:dither=none,format=yuv420p10le"
    _ffmpeg(
        [
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gbrp16le",
            "-s",
            f"{WIDTH}x{HEIGHT}",
            "-r",
            str(FPS),
            "-i",
            "-",
            "-vf",
            vf,
            "-c:v",
            "libx265",
            "-x265-params",
            f"{X265}:transfer=arib-std-b67",
            "-color_trc",
            "arib-std-b67",
            *HDR_TAGS,
            str(path),
        ],
        _repeat(planes.tobytes()),
    )
    return path


def make_sdr(path: Path) -> Path:
    """The same chart as BT.709 SDR, 10-bit HEVC."""
    vf = "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p10le"
    _ffmpeg(
        [
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{WIDTH}x{HEIGHT}",
            "-r",
            str(FPS),
            "-i",
            "-",
            "-vf",
            vf,
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error:keyint=10",
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
            "-colorspace",
            "bt709",
            "-color_range",
            "tv",
            str(path),
        ],
        _repeat(chart().tobytes()),
    )
    return path


def render_with_ffmpeg(path: Path, vf: str) -> np.ndarray:
    """The clip's first frame through an ffmpeg filter chain ending in RGB, as uint8."""
    out = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-vf",
            f"{vf},format=rgb24",
            "-f",
            "rawvideo",
            "-",
        ],
        capture_output=True,
        check=True,
    )
    return np.frombuffer(out.stdout, np.uint8).reshape(HEIGHT, WIDTH, 3)


def add_dolby_vision_config(source: Path, dest: Path, profile: int, compatibility: int) -> Path:
    """A copy of an HEVC MP4 (moov after mdat) whose sample entry carries a
    Dolby Vision configuration box (dvcC), as a Dolby Vision camera writes it."""
    data = bytearray(source.read_bytes())
    # dvcC payload: version 1.0, profile (7 bits), level (6 bits), rpu, el, bl
    # present flags, then the base layer's compatibility id (4 bits), reserved.
    bits = (profile << 9) | (6 << 3) | (1 << 2) | (0 << 1) | 1
    payload = bytes([1, 0]) + struct.pack(">H", bits) + bytes([compatibility << 4]) + bytes(19)
    box = struct.pack(">I4s", 8 + len(payload), b"dvcC") + payload
    path_to_entry = ["moov", "trak", "mdia", "minf", "stbl", "stsd"]
    parents, start, end = [], 0, len(data)
    for name in path_to_entry:
        found = [(s, e) for kind, s, e in _boxes(data, start, end) if kind == name]
        if not found:
            raise RuntimeError(f"{source}: no {name} box")
        start, end = found[0]
        parents.append(start - 8)
        if name == "stsd":
            start += 8  # version/flags and entry count
    entry = next((s - 8, e) for kind, s, e in _boxes(data, start, end) if kind in ("hvc1", "hev1"))
    mdat = next(s for kind, s, _ in _boxes(data, 0, len(data)) if kind == "mdat")
    if mdat > parents[0]:
        raise RuntimeError(f"{source}: moov before mdat; chunk offsets would move")
    data[entry[1] : entry[1]] = box
    for offset in parents + [entry[0]]:
        size = struct.unpack_from(">I", data, offset)[0]
        struct.pack_into(">I", data, offset, size + len(box))
    dest.write_bytes(data)
    return dest
