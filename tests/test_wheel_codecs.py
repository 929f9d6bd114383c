"""The FFmpeg that the installed core runs on can read everything the product
claims: the containers of the batch extension list (discover.VIDEO_EXTENSIONS),
the codecs of tests/catalogue.py and of the real files in ../shared/data, and
the protocols ffio.c opens. It matters for the Linux wheel, which carries its
own FFmpeg built with --disable-everything plus a list (scripts/build-wheel.sh):
a decoder left out of that list fails here, not in a user's hands. A bundled
FFmpeg must also be LGPL (avcodec_license()).

The libraries are the ones already loaded into this process by
lifelog_compression._core, looked at with ctypes: no accessor in the core.
Runs under pytest, or as a plain script where pytest is not installed
(scripts/test-wheel.sh runs it inside a minimal root): python test_wheel_codecs.py
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

try:
    import pytest
except ImportError:  # run as a script in the minimal root
    pytest = None

import lifelog_compression._core  # noqa: F401  (loads the FFmpeg it was built with)
from lifelog_compression.discover import VIDEO_EXTENSIONS

# The demuxer (FFmpeg's short name) each extension of the batch list needs.
DEMUXER_FOR_EXTENSION = {
    ".mp4": "mov",
    ".mov": "mov",
    ".m4v": "mov",
    ".3gp": "mov",
    ".360": "mov",
    ".insv": "mov",
    ".lrv": "mov",
    ".lrf": "mov",
    ".mkv": "matroska",
    ".webm": "matroska",
    ".avi": "avi",
    ".mts": "mpegts",
    ".m2ts": "mpegts",
    ".ts": "mpegts",
    ".mpg": "mpeg",
    ".mpeg": "mpeg",
    ".wmv": "asf",
    ".flv": "flv",
    ".mxf": "mxf",
    ".dv": "dv",
}
# Raw elementary streams (README: timed by frame order) and raw MPEG-4 part 2.
RAW_DEMUXERS = ["h264", "hevc", "m4v"]

# Codec -> the decoder FFmpeg must pick for it (by avcodec_find_decoder, as
# ffsource.c does). AV1: FFmpeg 5.1's own "av1" decoder only drives hardware,
# so software decoding needs libdav1d.
VIDEO_DECODERS = {
    # tests/catalogue.py
    "h264": None,
    "hevc": None,
    "vp9": None,
    "av1": "libdav1d",
    "mpeg2video": None,
    "mjpeg": None,
    "prores": None,
    # the real files in ../shared/data/real
    "vp8": None,
    "mpeg4": None,
    "msmpeg4v2": None,
    # what the containers above carry from cameras and old software
    "mpeg1video": None,
    "h263": None,
    "dvvideo": None,
    "vc1": None,
    "wmv3": None,
    "wmv2": None,
    "wmv1": None,
    "msmpeg4v3": None,
    "flv1": "flv",
    "dnxhd": None,
    "ffv1": None,
}
# Audio is never decoded for pictures, but stream probing (probe's has_audio and
# audio fields) decodes a little of the common ones.
AUDIO_DECODERS = ["aac", "mp3", "mp2", "ac3", "opus", "vorbis", "flac", "pcm_s16le", "pcm_s16be"]
# subfile: a motion photo's embedded recording, a byte range of the same file.
PROTOCOLS = ["file", "subfile", "http", "https", "tcp", "tls"]


class _Codec(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("long_name", ctypes.c_char_p)]


class _Descriptor(ctypes.Structure):
    _fields_ = [("id", ctypes.c_int), ("type", ctypes.c_int), ("name", ctypes.c_char_p)]


def loaded_library(stem: str) -> str:
    """The path of the shared library named lib<stem>... that this process has
    mapped (the wheel's is renamed by auditwheel: libavcodec-1a2b3c4d.so.59)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = line.split()[-1]
        if Path(path).name.startswith(f"lib{stem}") and ".so" in path:
            return path
    raise AssertionError(f"lib{stem} is not loaded by lifelog_compression._core")


def _libs():
    avcodec = ctypes.CDLL(loaded_library("avcodec"))
    avformat = ctypes.CDLL(loaded_library("avformat"))
    avcodec.avcodec_descriptor_get_by_name.restype = ctypes.POINTER(_Descriptor)
    avcodec.avcodec_descriptor_get_by_name.argtypes = [ctypes.c_char_p]
    avcodec.avcodec_find_decoder.restype = ctypes.POINTER(_Codec)
    avcodec.avcodec_find_decoder.argtypes = [ctypes.c_int]
    avcodec.avcodec_license.restype = ctypes.c_char_p
    avformat.av_find_input_format.restype = ctypes.c_void_p
    avformat.av_find_input_format.argtypes = [ctypes.c_char_p]
    avformat.avio_enum_protocols.restype = ctypes.c_char_p
    avformat.avio_enum_protocols.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
    return avcodec, avformat


def decoder_for(codec: str) -> str | None:
    """The name of the decoder avcodec_find_decoder picks for ``codec``, or None."""
    avcodec, _ = _libs()
    descriptor = avcodec.avcodec_descriptor_get_by_name(codec.encode())
    if not descriptor:
        return None
    found = avcodec.avcodec_find_decoder(descriptor.contents.id)
    return found.contents.name.decode() if found else None


def input_protocols() -> set[str]:
    _, avformat = _libs()
    opaque = ctypes.c_void_p()
    names = set()
    while (name := avformat.avio_enum_protocols(ctypes.byref(opaque), 0)) is not None:
        names.add(name.decode())
    return names


def bundled() -> bool:
    """True for the wheel's own FFmpeg (auditwheel puts it in lifelog_compression.libs)."""
    return "lifelog_compression.libs" in loaded_library("avcodec")


def check_demuxers() -> list[str]:
    _, avformat = _libs()
    missing_map = sorted(VIDEO_EXTENSIONS - set(DEMUXER_FOR_EXTENSION))
    problems = [f"extension {e} has no demuxer listed in DEMUXER_FOR_EXTENSION" for e in missing_map]
    for name in sorted(set(DEMUXER_FOR_EXTENSION.values()) | set(RAW_DEMUXERS)):
        if not avformat.av_find_input_format(name.encode()):
            problems.append(f"demuxer {name} missing")
    return problems


def check_decoders() -> list[str]:
    problems = []
    for codec, expected in VIDEO_DECODERS.items():
        found = decoder_for(codec)
        if found is None or (expected is not None and found != expected):
            problems.append(f"video decoder for {codec}: {found} (want {expected or codec})")
    problems += [f"audio decoder for {codec} missing" for codec in AUDIO_DECODERS if decoder_for(codec) is None]
    return problems


def check_protocols() -> list[str]:
    have = input_protocols()
    return [f"protocol {p} missing" for p in PROTOCOLS if p not in have]


def check_license() -> list[str]:
    avcodec, _ = _libs()
    text = avcodec.avcodec_license().decode()
    return [] if not bundled() or text.startswith("LGPL") else [f"the bundled FFmpeg is {text}, not LGPL"]


def check_licence_files() -> list[str]:
    if not bundled():
        return []
    folder = Path(lifelog_compression._core.__file__).parent / "third_party_licenses"
    wanted = ["FFmpeg-COPYING.LGPLv2.1", "dav1d-COPYING", "libjpeg-turbo-LICENSE.md", "versions.txt"]
    return [f"{name} missing from {folder}" for name in wanted if not (folder / name).is_file()]


CHECKS = [check_demuxers, check_decoders, check_protocols, check_license, check_licence_files]

if pytest is not None:
    pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="FFmpeg backend: Linux")

    @pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
    def test_build_reads_what_the_product_claims(check):
        assert check() == []

    def test_av1_decodes_in_software():
        assert decoder_for("av1") == "libdav1d"

    def test_a_missing_decoder_is_reported():
        assert decoder_for("no-such-codec") is None


if __name__ == "__main__":
    failed = 0
    for check in CHECKS:
        problems = check()
        print(("ok   " if not problems else "FAIL ") + check.__name__ + "".join(f"\n     {p}" for p in problems))
        failed += bool(problems)
    avcodec, _ = _libs()
    print(f"libavcodec: {loaded_library('avcodec')} ({avcodec.avcodec_license().decode()})")
    print(f"{len(CHECKS) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
