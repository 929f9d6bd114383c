"""The same file gives the same bundle for any worker count, run after run
(issue 22, item 3): damaged files (the fuzz harness's mutations of small
clips in MP4, fragmented MP4, Matroska and MPEG-TS) each extracted at 1, 2
(twice) and 4 workers give the same rows (request, time, how obtained,
picture) and the same outcome.

A second set comes from a longer clip (8 s at 12 fps, a keyframe each
second, B-frames) in MPEG-TS and fragmented MP4: mutants whose rows once
depended on the worker count or the run, through the decoder's frame
threads concealing damage as their timing fell, or through a decoder that
kept the parameter sets of whatever its worker decoded before. And one open
source extracted twice gives the same rows the second time."""

import hashlib

import pytest
from fixtures import make_clip
from mutate import mutations

from lifelog_compression import _core

# The fuzz harness's clips (test_fuzz.py), the containers that split across
# workers by an index or a packet scan.
CLIPS = {
    "mp4": dict(suffix=".mp4", codec="libx264", bframes=2, gop=15),
    "fmp4": dict(
        suffix=".mp4", codec="libx264", gop=15, extra_args=("-movflags", "+frag_keyframe+empty_moov+default_base_moof")
    ),
    "mkv": dict(suffix=".mkv", codec="libx264", gop=15),
    "ts": dict(suffix=".ts", codec="libx264", gop=15),
}
STRUCTURE_OF = {"mp4": "mp4", "fmp4": "mp4", "mkv": "mkv", "ts": "ts", "irts": "ts", "irts12": "ts", "irmp4": "mp4"}
# Which mutations (of mutate.mutations' numbering): mp4 54 forges a
# composition offset so that a keyframe's time depended on what the worker's
# demuxer read before (1.867 s or 2.0 s for request 2 s).
CHOSEN = {"mp4": range(44, 60), "fmp4": range(0, 16), "mkv": range(0, 12), "ts": range(0, 12)}
RUNS = (1, 2, 2, 4)

# The longer clip: 8 rows, so that the rows split over 2 and 4 workers in
# several ways. fmp4 39: request 1 s got 0.5 s or 0.75 s (frame threads);
# fmp4 170: another picture at 0.583 s with more than one slice thread;
# ts 68, 77 and 90: a frame or none, the keyframe or a frame before it (frame
# threads); ts 74 and 110: another picture at the same keyframe (parameter
# sets kept from the worker's earlier requests).
LONG_CLIPS = {
    "fmp4": dict(
        suffix=".mp4",
        codec="libx264",
        gop=12,
        bframes=2,
        extra_args=("-movflags", "+frag_keyframe+empty_moov+default_base_moof"),
    ),
    "ts": dict(suffix=".ts", codec="libx264", gop=12, bframes=2),
    # x264 intra refresh: recovery points every 2 s, learnt late by decoding.
    "irts": dict(suffix=".ts", codec="libx264", bframes=2, extra_args=("-x264-params", "intra-refresh=1:keyint=24")),
    # ... and every second, in MPEG-TS and MP4: mutants whose rows depended on
    # what other workers had learnt about the recovery points before (irts12
    # 0, 1, 18 and irmp4 48: a frame or none, one frame or another).
    "irts12": dict(suffix=".ts", codec="libx264", bframes=2, extra_args=("-x264-params", "intra-refresh=1:keyint=12")),
    "irmp4": dict(suffix=".mp4", codec="libx264", bframes=2, extra_args=("-x264-params", "intra-refresh=1:keyint=12")),
}
LONG_CHOSEN = {
    "fmp4": (39, 47, 170),
    "ts": (68, 74, 77, 90, 110),
    "irts": (6, 65, 79),
    "irts12": (0, 1, 18),
    "irmp4": (48,),
}
# Extracted twice from one open source: irts 6, 65 and 79 pictured other
# frames the second time, planned with what the first had learnt about the
# recovery points; fmp4 47 pictured its first request forward the second
# time, the first keyframe's picture from opening being gone.
TWICE = (("irts", 6), ("irts", 65), ("irts", 79), ("fmp4", 47))


def _bundle(path, workers):
    """What an extraction gives: its rows, or the error it ends with."""
    try:
        with _core.Source(str(path)) as src:
            return _extract(src, workers)
    except Exception as e:  # the outcome compared: which error
        return ("error", type(e).__name__)


def _extract(src, workers):
    """One extraction's rows, a request each second, from an open source."""
    rows = []
    n = src.info["duration_ms"] // 1000 + 1
    src.extract([i * 1000 for i in range(n)], lambda f: rows.append(f) and None, workers=workers)
    return (
        "ok",
        [
            (
                f["requested_ms"],
                f["actual_us"],
                f["obtained"],
                hashlib.sha1(f["jpeg"]).hexdigest() if f["jpeg"] else None,
            )
            for f in rows
        ],
    )


def _cases():
    return [(name, i) for name, chosen in CHOSEN.items() for i in chosen]


def _make_damaged(folder, clips, chosen, fps, seconds):
    """The chosen mutations of each clip, keyed by (clip name, mutation number)."""
    made = {}
    for name, spec in clips.items():
        spec = dict(spec)
        suffix = spec.pop("suffix")
        clip = make_clip(folder / f"{name}{suffix}", width=160, height=90, fps=fps, seconds=seconds, **spec)
        wanted = set(chosen[name])
        for i, (label, data) in enumerate(mutations(STRUCTURE_OF[name], clip.path.read_bytes(), max(wanted) + 1)):
            if i in wanted:
                path = folder / f"{name}-{label}{suffix}"
                path.write_bytes(data)
                made[(name, i)] = path
    return made


@pytest.fixture(scope="module")
def damaged_files(tmp_path_factory):
    return _make_damaged(tmp_path_factory.mktemp("determinism"), CLIPS, CHOSEN, fps=15, seconds=3.0)


@pytest.fixture(scope="module")
def long_damaged_files(tmp_path_factory):
    return _make_damaged(tmp_path_factory.mktemp("determinism-long"), LONG_CLIPS, LONG_CHOSEN, fps=12, seconds=8.0)


def _assert_same_bundle(path):
    got = {f"{workers}#{run}": _bundle(path, workers) for run, workers in enumerate(RUNS)}
    first = next(iter(got.values()))
    assert all(v == first for v in got.values()), {
        k: v[0] if v[0] == "error" else [r[:3] for r in v[1]] for k, v in got.items()
    }


@pytest.mark.skipif(_core.backend != "ffmpeg", reason="the FFmpeg backend's workers")
@pytest.mark.parametrize("case", _cases(), ids=lambda c: f"{c[0]}-{c[1]}")
def test_any_worker_count_gives_the_same_bundle(damaged_files, case):
    _assert_same_bundle(damaged_files[case])


@pytest.mark.skipif(_core.backend != "ffmpeg", reason="the FFmpeg backend's workers")
@pytest.mark.parametrize(
    "case", [(name, i) for name, chosen in LONG_CHOSEN.items() for i in chosen], ids=lambda c: f"{c[0]}-{c[1]}"
)
def test_longer_clip_any_worker_count_gives_the_same_bundle(long_damaged_files, case):
    _assert_same_bundle(long_damaged_files[case])


@pytest.mark.skipif(_core.backend != "ffmpeg", reason="the FFmpeg backend's planner")
@pytest.mark.parametrize("case", TWICE, ids=lambda c: f"{c[0]}-{c[1]}")
def test_a_second_extraction_from_the_same_source_gives_the_same_rows(long_damaged_files, case):
    with _core.Source(str(long_damaged_files[case])) as src:
        first = _extract(src, 1)
        second = _extract(src, 1)
    assert first == second, [(a[:3], b[:3]) for a, b in zip(first[1], second[1]) if a != b]
