"""Content signals and the near-duplicate rule (Visual Bundle 1.2, signals.py,
csrc/signals.c): the native values against an independent numpy
implementation, the rule on short generated versions of the labelled set's
cases (docs/signals.md), and bundles made with duplicates dropped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")

import scenes  # noqa: E402

from lifelog_compression import _core, extract_to_dir  # noqa: E402
from lifelog_compression.bundle import load_bundle_metadata, load_manifest  # noqa: E402
from lifelog_compression.shards import pack, read_shards, unpack  # noqa: E402

W, H, FPS = 320, 180, 5


# --- an independent implementation (signals.h's definitions) --------------------------------


def _edges(n: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([i * n // cells for i in range(cells)])
    hi = np.array([(i + 1) * n // cells for i in range(cells)])
    return lo, np.maximum(hi, lo + 1)


def cell_means(y: np.ndarray, cells: int) -> np.ndarray:
    h, w = y.shape
    xl, xh = _edges(w, cells)
    yl, yh = _edges(h, cells)
    out = np.empty((cells, cells))
    for r in range(cells):
        cols = y[yl[r] : yh[r]].astype(np.int64).sum(axis=0)
        for c in range(cells):
            out[r, c] = cols[xl[c] : xh[c]].sum() / ((xh[c] - xl[c]) * (yh[r] - yl[r]))
    return out


def phash(y: np.ndarray) -> int:
    n, k = np.arange(32), np.arange(8)
    basis = np.cos(np.pi * (2 * n[None, :] + 1) * k[:, None] / 64)
    coef = basis @ cell_means(y, 32) @ basis.T
    bits = (coef > np.median(coef)).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def sharpness(y: np.ndarray) -> float:
    g = cell_means(y, 128)
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    return float(lap.var())


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


@pytest.mark.parametrize("shape", [(1080, 1920), (360, 640), (1080, 608), (90, 160), (3, 7)])
def test_native_signals_match_numpy(shape):
    h, w = shape
    rng = np.random.default_rng(h * w)
    y = (np.add.outer(np.arange(h) / 5, np.arange(w) / 9) % 256 + rng.normal(0, 20, shape)).clip(0, 255)
    y = y.astype(np.uint8)
    stride = w + 13  # rows apart by more than their width, as on a canvas
    plane = np.zeros((h, stride), np.uint8)
    plane[:, :w] = y
    s = _core.signals_of(plane.tobytes(), w, h, stride)
    assert f"{s['phash']:016x}" == f"{phash(y):016x}"
    assert (
        np.frombuffer(s["thumb"], np.uint8).reshape(32, 32).tolist()
        == np.floor(cell_means(y, 32) + 0.5).astype(int).tolist()
    )
    assert s["sharpness"] == pytest.approx(sharpness(y), rel=1e-9)
    assert s["luma_mean"] == pytest.approx(y.mean(), abs=1e-9)
    assert s["luma_clipped"] == pytest.approx(((y <= 16) | (y >= 235)).mean(), abs=1e-12)


def test_signals_see_what_they_name():
    flat = np.full((180, 320), 128, np.uint8)
    s = _core.signals_of(flat.tobytes(), 320, 180)
    assert s["sharpness"] == 0 and s["luma_mean"] == 128 and s["luma_clipped"] == 0
    edges = np.zeros((180, 320), np.uint8)
    edges[:, ::2] = 255
    s = _core.signals_of(edges.tobytes(), 320, 180)
    assert s["luma_clipped"] == 1.0 and s["luma_mean"] == pytest.approx(127.5)
    checker = ((np.add.outer(np.arange(180) // 6, np.arange(320) // 6) % 2) * 200 + 20).astype(np.uint8)
    assert _core.signals_of(checker.tobytes(), 320, 180)["sharpness"] > 1000
    with pytest.raises(ValueError):
        _core.signals_of(b"\0" * 10, 4, 4)


# --- generated clips ----------------------------------------------------------------------


OBJECT_SIZE = (31 / H, 58 / W)  # 31 x 58 pixels = 3.1 % of the picture, bottom-right
KINDS = ("static_drift", "corner_object", "pocket", "moving", "tone_curve")


def _clip(kind: str, path: Path, seconds: int = 6) -> Path:
    """A short version of a labelled-set scene (tests/scenes.py) of a generated picture."""
    if not shutil.which("ffmpeg"):
        pytest.skip("the ffmpeg CLI is needed to make the clips")
    rng = np.random.default_rng(25)
    still = scenes.generated_still(W, H, rng)
    n = seconds * FPS
    scene = {
        "static_drift": lambda: scenes.static(still, n, rng, gain_end=1.12, sigma=3),
        "corner_object": lambda: scenes.corner_object(still, n, FPS, rng, enter_s=3, slide_s=0, size=OBJECT_SIZE),
        "pocket": lambda: scenes.pocket(H, W, n, rng),
        "moving": lambda: scenes.pan(still, n, FPS, rng, px_per_s=40),
        "tone_curve": lambda: scenes.tone_curve(still, n, rng),
    }[kind]()
    return scenes.encode(scene.shown, path, FPS, crf=20, gop=10)


def _decoded_luma(bundle: Path, row) -> np.ndarray:
    with Image.open(bundle / row.frame_relpath) as im:
        im.draft("YCbCr", im.size)  # the JPEG's own Y plane, no colour conversion
        y = np.asarray(im.convert("YCbCr"))[..., 0]
    x0, y0 = row.content_rect_x, row.content_rect_y
    return y[y0 : y0 + row.content_rect_height, x0 : x0 + row.content_rect_width]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("signals")
    return {kind: _clip(kind, folder / f"{kind}.mp4") for kind in KINDS}


@pytest.fixture(scope="module")
def bundles(clips, tmp_path_factory):
    folder = tmp_path_factory.mktemp("signal-bundles")
    for kind, clip in clips.items():
        extract_to_dir(clip, folder / kind, workers=1)
    return folder


def test_rows_carry_signals_of_their_jpeg(bundles):
    for kind in ("static_drift", "corner_object", "moving"):
        for row in load_manifest(bundles / kind):
            y = _decoded_luma(bundles / kind, row)
            # The core hashed the canvas before JPEG; the decoded picture
            # differs by compression only.
            assert hamming(int(row.phash, 16), phash(y)) <= 4, (kind, row.frame_id)
            assert row.luma_mean == pytest.approx(float(y.mean()), abs=1.0)
            assert 0 <= row.luma_clipped <= 1 and row.sharpness > 0
    doc = load_bundle_metadata(bundles / "moving").raw["signals"]
    assert doc["phash_algorithm"] == "dct32-lowfreq8x8-median/luma-area-mean-32x32"
    assert doc["duplicates_dropped"] is False and doc["duplicate_rows"] == 0


def test_static_scene_with_noise_and_exposure_drift_repeats_its_first_row(bundles):
    rows = load_manifest(bundles / "static_drift")
    assert len(rows) == 6
    assert rows[0].duplicate_of is None
    assert [r.duplicate_of for r in rows[1:]] == ["frame_00000001"] * 5
    assert load_bundle_metadata(bundles / "static_drift").raw["signals"]["duplicate_rows"] == 5


def test_an_object_entering_a_corner_is_never_a_duplicate_of_the_empty_scene(bundles):
    rows = load_manifest(bundles / "corner_object")
    by_id = {r.frame_id: r for r in rows}
    with_object = [r for r in rows if r.actual_ts_ms >= 3000]
    assert len(with_object) == 3
    for r in rows:
        if r.duplicate_of is not None:
            # whatever a row repeats shows the object exactly when it does
            assert (by_id[r.duplicate_of].actual_ts_ms >= 3000) == (r.actual_ts_ms >= 3000), r.frame_id
    assert with_object[0].duplicate_of is None
    # the empty scene before it is still recognised as repeating
    assert [r.duplicate_of for r in rows[1:3]] == ["frame_00000001"] * 2


def test_a_tone_curve_change_repeats_its_first_row(bundles):
    rows = load_manifest(bundles / "tone_curve")
    first, last = (_decoded_luma(bundles / "tone_curve", r) for r in (rows[0], rows[-1]))
    # the shadows are lifted far more than the highlights: no single gain makes one the other
    dark, bright = first < 60, first > 150
    gain = lambda part: last[part].mean() / first[part].mean()  # noqa: E731
    assert gain(dark) > 1.3 * gain(bright)
    assert [r.duplicate_of for r in rows] == [None] + ["frame_00000001"] * 5


def test_duplicates_really_look_alike_and_changes_are_not_marked(bundles):
    marked = 0
    for kind in ("static_drift", "corner_object", "pocket", "moving"):
        rows = load_manifest(bundles / kind)
        by_id = {r.frame_id: r for r in rows}
        for r in rows:
            if r.duplicate_of is None:
                continue
            marked += 1
            a = cell_means(_decoded_luma(bundles / kind, by_id[r.duplicate_of]).astype(np.uint8), 32)
            b = cell_means(_decoded_luma(bundles / kind, r).astype(np.uint8), 32)
            assert np.abs(b * a.mean() / b.mean() - a).max() < 25, (kind, r.frame_id)
    assert marked >= 5 + 2
    assert all(r.duplicate_of is None for r in load_manifest(bundles / "moving"))


def test_a_dark_noisy_pocket_repeats_itself(bundles):
    rows = load_manifest(bundles / "pocket")
    assert rows[0].luma_mean < 20 and rows[0].luma_clipped > 0.5
    assert [r.duplicate_of for r in rows[1:]] == ["frame_00000001"] * 5


def test_dropping_duplicates_writes_each_picture_once(clips, bundles, tmp_path):
    out = tmp_path / "dropped"
    extract_to_dir(clips["corner_object"], out, workers=1, drop_duplicates=True)
    rows = load_manifest(out)
    full = load_manifest(bundles / "corner_object")
    assert [r.duplicate_of for r in rows] == [r.duplicate_of for r in full]
    by_id = {r.frame_id: r for r in rows}
    files = sorted(p.name for p in (out / "frames").iterdir())
    assert files == sorted({Path(r.frame_relpath).name for r in rows if r.duplicate_of is None})
    for r in rows:
        if r.duplicate_of is not None:
            kept = by_id[r.duplicate_of]
            assert (r.frame_relpath, r.content_hash) == (kept.frame_relpath, kept.content_hash)
    meta = load_bundle_metadata(out).raw
    assert meta["signals"]["duplicates_dropped"] is True
    assert meta["frame_count"] == len(rows) == 6


def test_a_bundle_with_duplicates_dropped_validates(clips, tmp_path):
    from lifelog_compression.validate import validate_bundle

    out = tmp_path / "dropped"
    extract_to_dir(clips["static_drift"], out, workers=1, drop_duplicates=True)
    assert len(list((out / "frames").iterdir())) == 1
    report = validate_bundle(clips["static_drift"], out)
    assert report.ok, [f.failures for f in report.failed] + report.problems
    # a row naming another row's frame without saying it repeats it fails
    lines = (out / "manifest.jsonl").read_text().splitlines()
    row = json.loads(lines[2])
    row["duplicate_of"] = None
    lines[2] = json.dumps(row)
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    assert not validate_bundle(clips["static_drift"], out).ok


@pytest.mark.parametrize("shard_bytes", [None, 200 * 1024])
def test_pack_and_unpack_keep_shared_frames_shared(clips, tmp_path, shard_bytes):
    src = tmp_path / "dropped"
    extract_to_dir(clips["corner_object"], src, workers=1, drop_duplicates=True)
    shards = pack(src, tmp_path / "shards", **({"shard_bytes": shard_bytes} if shard_bytes else {}))
    if shard_bytes:
        assert len(shards) > 1  # repeats whose kept frame is in an earlier shard carry a copy
    read = list(read_shards(tmp_path / "shards"))
    assert [r.frame_id for r, _ in read] == [f"frame_{i:08d}" for i in range(1, 7)]
    back = unpack(tmp_path / "shards", tmp_path / "back")
    assert [r.to_json() for r in load_manifest(back)] == [r.to_json() for r in load_manifest(src)]
    assert sorted(p.name for p in (back / "frames").iterdir()) == sorted(p.name for p in (src / "frames").iterdir())


def test_parquet_and_sheet_read_a_bundle_with_duplicates_dropped(clips, tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from lifelog_compression.parquet import export_parquet
    from lifelog_compression.sheet import make_contact_sheet

    src = tmp_path / "dropped"
    extract_to_dir(clips["static_drift"], src, workers=1, drop_duplicates=True)
    assert export_parquet(src, tmp_path / "rows.parquet") == 6
    table = pq.read_table(tmp_path / "rows.parquet")
    assert table.column("duplicate_of").to_pylist() == [None] + ["frame_00000001"] * 5
    assert len(table.column("phash").to_pylist()[0]) == 16
    sheet = make_contact_sheet(src, tmp_path / "sheet.jpg")
    assert Path(sheet).stat().st_size > 0


def test_cli_extract_drop_duplicates(clips, tmp_path):
    from lifelog_compression.cli import main

    assert main(["extract", str(clips["pocket"]), str(tmp_path / "b"), "--drop-duplicates", "--quiet"]) == 0
    assert len(list((tmp_path / "b" / "frames").iterdir())) == 1


def test_the_native_block_test_is_the_reference_rule():
    """lc_block_difference (csrc/signals.c) gives what the rule's plain Python
    statement (tests/signals_reference.py) gives: random pairs, exposure and
    tone changes with clipping, noise, and few-level pictures full of ties."""
    import random

    import signals_reference

    rnd = random.Random(7)
    levels = [0, 16, 128, 235, 255]
    for trial in range(400):
        a = bytes(rnd.randrange(256) for _ in range(1024))
        kind = trial % 4
        if kind == 0:
            b = bytes(rnd.randrange(256) for _ in range(1024))
        elif kind == 1:
            gain = rnd.uniform(0.6, 1.6)
            b = bytes(min(255, int(v * gain)) for v in a)
        elif kind == 2:
            b = bytes(max(0, min(255, v + rnd.randrange(-4, 5))) for v in a)
        else:
            a = bytes(rnd.choice(levels) for _ in range(1024))
            b = bytes(rnd.choice(levels) for _ in range(1024))
        for group in (1, 2, 3):
            assert _core.block_difference(a, b, group) == signals_reference.block_difference(a, b, group), (
                trial,
                group,
            )
    with pytest.raises(ValueError):
        _core.block_difference(b"\0" * 1023, b"\0" * 1024)
    with pytest.raises(ValueError):
        _core.block_difference(b"\0" * 1024, b"\0" * 1024, 0)
