"""view: the offline HTML viewer. The page's rules (self-contained, beside the
bundle, never over a file) are checked on its text; what it shows is checked
in a real browser: Debian's headless Chromium through chromium-driver and
Selenium (scripts/setup.sh installs them), opened from disk (file://)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from bundle_fixtures import batch_card, gps_card
from PIL import Image

import lifelog_compression as lc
from lifelog_compression.cli import main


@pytest.fixture(scope="module")
def gps_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("view")
    out = folder / "bundles" / "DJI_0001"
    lc.extract_to_dir(gps_card(folder / "card"), out)
    return out


@pytest.fixture(scope="module")
def batch_root(tmp_path_factory):
    folder = tmp_path_factory.mktemp("viewbatch")
    lc.extract_directory_to_dir(batch_card(folder / "card"), folder / "out")
    return folder / "out"


def data_of(page: Path) -> dict:
    text = page.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="bundle-data">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


def rows_of(bundle):
    return [json.loads(line) for line in (bundle / "manifest.jsonl").read_text().splitlines()]


def write_rows(bundle, rows):
    (bundle / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


# --- the page as a file ----------------------------------------------------------


def test_written_beside_the_bundle_and_self_contained(gps_bundle, capsys):
    assert main(["view", str(gps_bundle)]) == 0
    page = gps_bundle.parent / "DJI_0001-view.html"
    assert capsys.readouterr().out.strip() == f"wrote {page}"
    text = page.read_text(encoding="utf-8")
    # Nothing from the network: no external script, stylesheet, font or image.
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text, re.I)
    assert "<link" not in text and "@import" not in text and "url(" not in text
    assert not re.search(r"<script[^>]*\bsrc=", text)
    frames = data_of(page)["frames"]
    assert len(frames) == 6
    for f, row in zip(frames, rows_of(gps_bundle)):
        assert (page.parent / unquote(f["src"])).resolve() == (gps_bundle / row["frame_relpath"]).resolve()
        assert (f["act"], f["req"]) == (row["actual_ts_ms"], row["requested_ts_ms"])
    page.unlink()


def test_never_inside_a_bundle_never_over_a_file(gps_bundle, tmp_path, capsys):
    assert main(["view", str(gps_bundle), str(gps_bundle / "view.html")]) == 12
    assert main(["view", str(gps_bundle), str(gps_bundle / "frames" / "view.html")]) == 12
    assert not (gps_bundle / "view.html").exists()
    out = tmp_path / "v.html"
    out.write_text("mine")
    capsys.readouterr()
    assert main(["view", str(gps_bundle), str(out)]) == 12
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists" in err[0] and "--overwrite" in err[0]
    assert out.read_text() == "mine"
    assert main(["view", str(gps_bundle), str(out), "--overwrite"]) == 0
    assert "bundle-data" in out.read_text()
    assert main(["view", str(tmp_path / "nothing"), str(tmp_path / "n.html")]) == 13
    assert not list(tmp_path.glob(".*partial*"))


def test_embedded_frames_need_no_files(gps_bundle, tmp_path):
    page = lc.write_viewer(gps_bundle, tmp_path / "one.html", embed=True)
    frames = data_of(page)["frames"]
    assert all(f["src"].startswith("data:image/jpeg;base64,") for f in frames)
    import base64

    first = base64.b64decode(frames[0]["src"].split(",", 1)[1])
    assert first == (gps_bundle / rows_of(gps_bundle)[0]["frame_relpath"]).read_bytes()


def test_gaps_and_duplicates_are_marked(gps_bundle, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(gps_bundle, b)
    rows = rows_of(b)
    twin = rows[3]["frame_id"]
    rows[4]["duplicate_of"] = twin
    del rows[2]  # 1000 -> 3000 ms: a gap of 2 s
    write_rows(b, rows)
    doc = data_of(lc.write_viewer(b, tmp_path / "v.html"))
    kinds = [i["kind"] for i in doc["strip"]]
    assert kinds == ["frame", "frame", "gap", "frame", "frame", "frame"]
    assert doc["strip"][2]["gap_ms"] == 2000
    assert [f["dup"] for f in doc["frames"]] == [None, None, None, twin, None]


def test_a_root_is_a_day_in_capture_order(batch_root, tmp_path):
    doc = data_of(lc.write_viewer(batch_root, tmp_path / "day.html"))
    assert [b["name"] for b in doc["bundles"]] == ["c", "b", "a"]
    bundles = [i for i in doc["strip"] if i["kind"] == "bundle"]
    assert [i["b"] for i in bundles] == [0, 1, 2]
    # One hour between the recordings, less the 3 s the earlier one ran (its last frame at 2 s).
    assert bundles[0]["gap_ms"] is None and bundles[1]["gap_ms"] == pytest.approx(3600_000 - 2000, abs=1000)
    assert len(doc["frames"]) == 9 and [f["b"] for f in doc["frames"]] == [0] * 3 + [1] * 3 + [2] * 3


# --- the page in a browser --------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not sys.platform.startswith("linux"):
        pytest.skip("the browser test runs Debian's chromium-driver (scripts/setup.sh)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, "chromium and chromium-driver are missing: run scripts/setup.sh"
    options = Options()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    yield driver
    driver.quit()


def _text(driver, element_id):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def test_in_chromium_keys_move_the_selection_and_the_marker(browser, gps_bundle, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    page = lc.write_viewer(gps_bundle, gps_bundle.parent / "keys-view.html", overwrite=True)
    browser.get(page.resolve().as_uri())
    strip = browser.find_element(By.ID, "strip")
    thumbs = browser.find_elements(By.CSS_SELECTOR, "#strip .thumb")
    rows = rows_of(gps_bundle)
    assert strip.get_attribute("data-count") == "6" and len(thumbs) == 6
    assert [int(t.get_attribute("data-actual")) for t in thumbs] == [r["actual_ts_ms"] for r in rows]
    assert [t.text for t in thumbs] == ["0:00.000", "0:01.000", "0:02.000", "0:03.000", "0:04.000", "0:05.000"]
    # Every frame loaded from disk (file://): the large one at the canvas size.
    assert browser.execute_script("return document.getElementById('big').naturalWidth") == 1920
    assert browser.execute_script("return [...document.querySelectorAll('.thumb img')].every(i => i.complete)")
    assert "selected" in thumbs[0].get_attribute("class")
    assert (_text(browser, "sel-requested"), _text(browser, "sel-actual")) == ("0:00.000", "0:00.000")
    assert rows[0]["captured_local"].replace("T", " ") in _text(browser, "sel-local")
    assert "45.000000, 7.000000" == _text(browser, "sel-place")
    assert "DJI telemetry from the sidecar DJI_0001.SRT" in _text(browser, "notes")
    marker = browser.find_element(By.ID, "marker")
    before = (float(marker.get_attribute("cx")), float(marker.get_attribute("cy")))
    assert 0 <= before[0] <= 1000 and 0 <= before[1] <= 1000
    assert len(browser.find_element(By.ID, "route").get_attribute("points").split()) == 6

    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert "selected" in thumbs[2].get_attribute("class") and "selected" not in thumbs[0].get_attribute("class")
    assert _text(browser, "sel-actual") == "0:02.000"
    after = (float(marker.get_attribute("cx")), float(marker.get_attribute("cy")))
    assert after[1] < before[1] - 50, "the track runs north: the marker moves up"
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
    assert _text(browser, "sel-actual") == "0:01.000"
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.END)
    assert _text(browser, "sel-actual") == "0:05.000"

    png = browser.get_screenshot_as_png()
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.float64)
    assert shot.shape[:2] == (
        browser.execute_script("return window.innerHeight"),
        browser.execute_script("return window.innerWidth"),
    )
    assert shot.std() > 20, "the screenshot is blank"
    # The frame is drawn: the picture's light blocks are in the top half.
    assert (shot[: shot.shape[0] // 2].mean(axis=2) > 180).mean() > 0.02
    keep = os.environ.get("LIFELOG_VIEWER_SCREENSHOT")
    if keep:  # the README's picture: LIFELOG_VIEWER_SCREENSHOT=docs/viewer.png
        Image.open(io.BytesIO(png)).convert("P", palette=Image.Palette.ADAPTIVE, colors=128).save(keep, optimize=True)
    page.unlink()


def test_in_chromium_a_day_view_across_bundles(browser, batch_root, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    page = lc.write_viewer(batch_root, tmp_path / "day.html")
    browser.get(page.as_uri())
    assert browser.find_element(By.ID, "strip").get_attribute("data-count") == "9"
    labels = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#strip .bundle")]
    assert labels[0] == "c" and labels[1].startswith("b (after 60 min") and labels[2].startswith("a (after")
    assert _text(browser, "sel-bundle") == "c from c.mp4"
    browser.find_element(By.TAG_NAME, "body").send_keys(*[Keys.ARROW_RIGHT] * 3)
    assert _text(browser, "sel-bundle") == "b from b.mp4" and _text(browser, "sel-actual") == "0:00.000"
    assert not browser.find_element(By.ID, "marker").is_displayed()  # no GPS in these
    assert "2024-05-01 09:59:57" in _text(browser, "sel-local")  # b.mp4 modified at 10:00, 3 s long
