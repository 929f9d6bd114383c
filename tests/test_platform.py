"""Which backend runs where, and the macOS backend's own discipline (checked
here even though it can only be compiled on macOS)."""

import re
import sys
from pathlib import Path

from lifelog_compression import _core

CSRC = Path(__file__).resolve().parent.parent / "csrc"


def test_backend_matches_the_platform():
    assert _core.backend == ("avfoundation" if sys.platform == "darwin" else "ffmpeg")
    assert _core.backend_versions


def test_objective_c_backend_includes_only_apple_headers_and_the_contract():
    """avextract.m sees Apple's headers, the contract, the plain C shared
    with the FFmpeg backend (sourcefile.h) and its own plain-C decisions
    (avplan.h, jpegfile.h), nothing of FFmpeg or Python."""
    text = (CSRC / "avextract.m").read_text()
    includes = re.findall(r'^\s*#\s*(?:include|import)\s*([<"][^>"]+[>"])', text, re.M)
    apple = {"AVFoundation", "CoreGraphics", "CoreMedia", "CoreVideo", "Foundation", "ImageIO", "CoreFoundation"}
    system = {
        "errno.h",
        "math.h",
        "stdarg.h",
        "stdio.h",
        "stdlib.h",
        "string.h",
        "stdint.h",
        "stddef.h",
        "sys/stat.h",
        "pthread.h",
        "dispatch/dispatch.h",
    }
    for inc in includes:
        name = inc[1:-1]
        if inc.startswith('"'):
            assert name in ("extract.h", "sourcefile.h", "avplan.h", "jpegfile.h"), f"avextract.m includes {inc}"
        else:
            assert name in system or name.split("/")[0] in apple, f"avextract.m includes {inc}"
    assert not re.search(r"#\s*(include|import)\s*[<\"](Python|libav)", text)


def test_only_module_c_includes_python():
    for path in CSRC.iterdir():
        if path.suffix in {".c", ".m", ".h"} and path.name != "module.c":
            assert not re.search(r"#\s*include\s*[<\"]Python\.h", path.read_text()), path.name


def test_every_contract_function_is_implemented_by_both_backends():
    header = (CSRC / "extract.h").read_text()
    functions = set(
        re.findall(r"^(?:lc_status|const char \*|void|const lc_source_info \*)\s*\*?(lc_\w+)\(", header, re.M)
    )
    assert {"lc_open", "lc_extract", "lc_probe_json", "lc_close", "lc_info", "lc_free"} <= functions
    ffmpeg = "".join((CSRC / n).read_text() for n in ("ffsource.c", "ffextract.c"))
    apple = (CSRC / "avextract.m").read_text()
    for name in functions:
        assert re.search(rf"\b{name}\([^;]*\)\s*\{{", ffmpeg, re.S), f"{name} missing in the FFmpeg backend"
        assert re.search(rf"\b{name}\([^;]*\)\s*\{{", apple, re.S), f"{name} missing in avextract.m"


def test_the_package_under_test_is_the_one_installed():
    """scripts/test.sh sets LIFELOG_TEST_INSTALLED to the fresh environment it
    installed the sdist into: the tests must then run against that install,
    never against a source checkout (which would hide files missing from the
    sdist). Either way the native core sits inside the imported package."""
    import os

    import lifelog_compression

    package = Path(lifelog_compression.__file__).resolve().parent
    assert Path(_core.__file__).resolve().parent == package
    installed = os.environ.get("LIFELOG_TEST_INSTALLED")
    if installed:
        assert package.is_relative_to(Path(installed).resolve()), f"{package} is not inside {installed}"
        assert "site-packages" in package.parts
