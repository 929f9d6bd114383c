"""The process locale must not change what the core writes: GUI hosts call
setlocale(LC_ALL, "") and a German desktop then has ',' as decimal point."""

import json
import os
import subprocess
import sys

import pytest
from fixtures import make_clip
from truth import assert_true_to_source

LOCALE = "de_DE.UTF-8"


@pytest.fixture(scope="module")
def german_locale(tmp_path_factory) -> dict:
    """Environment in which LOCALE exists: compiled by localedef into a folder
    of our own (LOCPATH), so no root and no system change is needed. The
    sources come from Debian's `locales` package (scripts/setup.sh)."""
    folder = tmp_path_factory.mktemp("locales")
    made = subprocess.run(
        ["localedef", "-i", "de_DE", "-f", "UTF-8", str(folder / LOCALE)], capture_output=True, text=True
    )
    assert (folder / LOCALE).is_dir(), f"localedef could not build {LOCALE}: {made.stderr.strip()}"
    return {**os.environ, "LOCPATH": str(folder)}


CHILD = """
import json, locale, sys
locale.setlocale(locale.LC_ALL, {locale!r})
assert locale.localeconv()["decimal_point"] == ",", locale.localeconv()
import lifelog_compression as lc
from lifelog_compression import _core
with _core.Source(sys.argv[1]) as src:
    probe = src.probe_json()
result = lc.extract_to_dir(sys.argv[1], sys.argv[2])
print(json.dumps({{"probe": probe, "frames": result.frame_count}}))
"""


def test_extract_under_a_comma_decimal_locale(german_locale, tmp_path):
    # 2.5 s: the durations are fractional, so a locale-dependent writer shows "2,5".
    clip = make_clip(tmp_path / "clip.mp4", codec="libx264", seconds=2.5, gop=15)
    out = tmp_path / "bundle"
    run = subprocess.run(
        [sys.executable, "-c", CHILD.format(locale=LOCALE), str(clip.path), str(out)],
        env=german_locale,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    child = json.loads(run.stdout)
    probe = json.loads(child["probe"])  # strict JSON, as written under the locale
    assert float(probe["format"]["duration"]) == pytest.approx(2.5, abs=0.05)  # ffprobe's string form
    assert child["frames"] == 3
    rows = assert_true_to_source(out, clip)  # every JPEG read back
    assert [r["requested_ts_ms"] for r in rows] == [0, 1000, 2000]
    written = json.loads((out / "metadata" / "source-probe.json").read_text())
    assert float(written["format"]["duration"]) == pytest.approx(2.5, abs=0.05)
