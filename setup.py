"""Build of the native core.

Linux and every non-Apple system: the FFmpeg libraries and libturbojpeg, found
with pkg-config (override with LIFELOG_PKG_CONFIG or PKG_CONFIG_PATH).
macOS: AVFoundation, CoreGraphics and ImageIO; nothing to install.
"""

import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup

FFMPEG_LIBS = ["libavformat", "libavcodec", "libavutil", "libswscale"]
JPEG_LIB = "libturbojpeg"
DEBIAN_PACKAGES = {
    "libavformat": "libavformat-dev",
    "libavcodec": "libavcodec-dev",
    "libavutil": "libavutil-dev",
    "libswscale": "libswscale-dev",
    "libturbojpeg": "libturbojpeg0-dev",
}
# FFmpeg 5.1 (Debian 12) is the oldest API this code is written against.
MIN_VERSIONS = {"libavformat": "59.27", "libavcodec": "59.37", "libavutil": "57.28", "libswscale": "6.7"}
COMMON_SOURCES = [
    "csrc/module.c",
    "csrc/geometry.c",
    "csrc/sourcefile.c",
    "csrc/cpus.c",
    "csrc/tracks.c",
    "csrc/signals.c",
]


def fail(message):
    sys.stderr.write("\nlifelog_compression build: " + message + "\n\n")
    sys.exit(1)


def pkg_config(*args):
    tool = os.environ.get("LIFELOG_PKG_CONFIG") or shutil.which("pkg-config")
    if not tool:
        fail(
            "pkg-config is missing. On Debian/Ubuntu: sudo apt-get install pkg-config "
            + " ".join(DEBIAN_PACKAGES.values())
        )
    return subprocess.run([tool, *args], capture_output=True, text=True)


def linux_extension():
    libs = FFMPEG_LIBS + [JPEG_LIB]
    missing = [lib for lib in libs if pkg_config("--exists", lib).returncode != 0]
    if missing:
        fail(
            "missing libraries: "
            + ", ".join(missing)
            + ". On Debian/Ubuntu: sudo apt-get install "
            + " ".join(DEBIAN_PACKAGES[lib] for lib in missing)
            + " (or point PKG_CONFIG_PATH at their .pc files)."
        )
    too_old = [
        f"{lib} {pkg_config('--modversion', lib).stdout.strip()} < {version}"
        for lib, version in MIN_VERSIONS.items()
        if pkg_config(f"--atleast-version={version}", lib).returncode != 0
    ]
    if too_old:
        fail("FFmpeg is older than 5.1: " + "; ".join(too_old))
    cflags = pkg_config("--cflags", *libs).stdout.split()
    ldflags = pkg_config("--libs", *libs).stdout.split()
    return Extension(
        "lifelog_compression._core",
        sources=COMMON_SOURCES
        + [
            "csrc/plan.c",
            "csrc/jsonw.c",
            "csrc/ffsource.c",
            "csrc/ffcanvas.c",
            "csrc/colour.c",
            "csrc/tonemap.c",
            "csrc/ffprobe_json.c",
            "csrc/ffstreams.c",
            "csrc/ffsession.c",
            "csrc/ffextract.c",
            "csrc/ffio.c",
            "csrc/ffcommon.c",
        ],
        include_dirs=[f[2:] for f in cflags if f.startswith("-I")],
        # -O3: GCC vectorizes loops only there (colour.c's conversion: 4.3 -> 1.7 ms per 1080p picture).
        extra_compile_args=[f for f in cflags if not f.startswith("-I")] + ["-std=c11", "-O3", "-D_GNU_SOURCE"],
        library_dirs=[f[2:] for f in ldflags if f.startswith("-L")],
        libraries=[f[2:] for f in ldflags if f.startswith("-l")] + ["pthread", "m"],
    )


def macos_extension():
    frameworks = ["AVFoundation", "CoreMedia", "CoreGraphics", "CoreVideo", "ImageIO", "Foundation"]
    link = []
    for name in frameworks:
        link += ["-framework", name]
    return Extension(
        "lifelog_compression._core",
        sources=COMMON_SOURCES + ["csrc/avplan.c", "csrc/jpegfile.c", "csrc/avextract.m"],
        # -fobjc-arc only changes Objective-C files; clang ignores it for .c.
        extra_compile_args=["-fobjc-arc", "-fobjc-arc-exceptions", "-O2"],
        extra_link_args=link,
    )


setup(ext_modules=[macos_extension() if sys.platform == "darwin" else linux_extension()])
