"""What importing the package and starting the command line load: names load
on first use, and an `extract` run imports none of the other commands."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

import lifelog_compression as lc
from lifelog_compression.metadata import SourceHasher


def _modules_after(code: str) -> set[str]:
    """The package's modules loaded by ``code`` in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                          "print(json.dumps(sorted(m for m in sys.modules if m.startswith('lifelog_compression'))))"],
                         capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_every_public_name_resolves():
    for name in lc.__all__:
        assert getattr(lc, name) is not None, name
    assert set(lc.__all__) <= set(dir(lc))
    assert lc.extract_to_dir.__module__ == "lifelog_compression.api"
    assert lc.DEFAULT_RECIPE is lc.recipe.DEFAULT_RECIPE


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        lc.no_such_name  # noqa: B018


def test_import_loads_no_core_until_a_name_is_used():
    loaded = _modules_after("import lifelog_compression")
    assert "lifelog_compression._core" not in loaded
    assert "lifelog_compression.batch" not in loaded
    used = _modules_after("import lifelog_compression as lc; lc.extract_to_dir")
    assert {"lifelog_compression.api", "lifelog_compression._core"} <= used
    assert "lifelog_compression.batch" not in used


def test_extract_command_line_imports_no_other_command():
    loaded = _modules_after("from lifelog_compression.cli import _parser; _parser(only_extract=True)")
    assert not loaded & {"lifelog_compression.validate", "lifelog_compression.sheet",
                         "lifelog_compression.telemetry.cli", "lifelog_compression.batch"}
    full = _modules_after("from lifelog_compression.cli import _parser; _parser().format_help()")
    assert {"lifelog_compression.validate", "lifelog_compression.sheet"} <= full


def test_hasher_reads_the_attributes_beside_the_hash(tmp_path):
    source = tmp_path / "clip.mp4"
    data = os.urandom(3 * (1 << 20) + 123)
    source.write_bytes(data)
    try:
        os.setxattr(source, "user.lifelog.test", b"kept")
        tagged = True
    except (OSError, AttributeError):  # a filesystem without user attributes: the rest still holds
        tagged = False
    hasher = SourceHasher(source)
    hasher.start()
    hasher.join()
    assert hasher.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert hasher.mdls is not None and isinstance(hasher.mdls[0], str)
    assert hasher.xattrs is not None
    if tagged:
        assert "user.lifelog.test: kept" in hasher.xattrs
