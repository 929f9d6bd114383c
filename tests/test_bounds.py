"""Work and memory are bounded by what the file holds, never by what a header
claims: forged durations, fragments, truncation, requests past the end."""

import os
import struct
from pathlib import Path

import pytest
from fixtures import make_clip, truncate
from truth import assert_true_to_source

from lifelog_compression import _core, extract_to_dir

FFMPEG_ONLY = pytest.mark.skipif(_core.backend != "ffmpeg", reason="the FFmpeg backend's checks")


def _patched(source: Path, dest: Path, find: bytes, offset: int, value: bytes) -> Path:
    data = bytearray(source.read_bytes())
    at = data.find(find)
    assert at >= 0, f"{find!r} not in {source.name}"
    data[at + offset : at + offset + len(value)] = value
    dest.write_bytes(bytes(data))
    return dest


def _check_bounded(path: Path, source, tmp_path: Path):
    """The core reports the duration the file holds; the bundle is true."""
    with _core.Source(str(path)) as src:
        assert abs(src.info["duration_ms"] - source.duration_s * 1000) <= 100, src.info
    result = extract_to_dir(path, tmp_path / "b")
    rows = assert_true_to_source(tmp_path / "b", source)
    assert [r["requested_ts_ms"] for r in rows] == [i * 1000 for i in range(round(source.duration_s))]
    assert result.request_count == len(rows)
    return result


def test_matroska_duration_forged_to_1e12_ms(tmp_path):
    source = make_clip(tmp_path / "clip.mkv", codec="libx264", gop=30, seconds=4.0)
    # Segment Duration: EBML ID 0x4489, size 8, a big-endian double in ms.
    forged = _patched(source.path, tmp_path / "forged.mkv", b"\x44\x89\x88", 3, struct.pack(">d", 1e12))
    result = _check_bounded(forged, source, tmp_path)
    assert any("header claims 1000000000000 ms" in n for n in result.notes), result.notes


def test_fragmented_mp4_whose_mdhd_claims_0xffffffff(tmp_path):
    source = make_clip(
        tmp_path / "frag.mp4",
        codec="libx264",
        gop=30,
        seconds=4.0,
        extra_args=("-movflags", "frag_keyframe+empty_moov"),
    )
    # mdhd version 0: type, version/flags, creation, modification, timescale, duration.
    forged = _patched(source.path, tmp_path / "forged.mp4", b"mdhd", 4 + 4 + 8 + 4, b"\xff\xff\xff\xff")
    _check_bounded(forged, source, tmp_path)


@FFMPEG_ONLY
def test_index_promising_frames_past_the_end_of_the_file(tmp_path):
    """The index (at the front) lists 10 s of frames; the copy stopped at 55 %:
    the duration is what the file holds, and nothing is called truncated twice."""
    source = make_clip(
        tmp_path / "fs.mp4", codec="libx264", gop=150, bframes=2, seconds=10.0, extra_args=("-movflags", "+faststart")
    )
    cut = truncate(source.path, tmp_path / "cut.mp4", 0.55)
    with _core.Source(str(cut)) as src:
        held_ms = src.info["duration_ms"]
    assert 3000 < held_ms < 6500, held_ms
    result = extract_to_dir(cut, tmp_path / "b")
    rows = assert_true_to_source(tmp_path / "b", source)
    assert len(rows) == result.request_count == -(-held_ms // 1000)
    # Each GOP decoded once at most, with frames nothing references skipped.
    assert result.frames_decoded <= held_ms * 30 // 1000


@FFMPEG_ONLY
def test_requests_past_the_last_frame_decode_nothing_again(tmp_path):
    """One keyframe in 4 s: once a worker decoded to the end of the file,
    requests after the last frame get no frame without decoding the GOP again."""
    source = make_clip(tmp_path / "gop.mp4", codec="libx264", gop=300, seconds=4.0)
    got = []
    with _core.Source(str(source.path)) as src:
        src.extract([i * 1000 for i in range(40)], lambda f: got.append(f) and None, workers=1)
    # The last frame (3.967 s) is in the window of 4 s too.
    assert [f["obtained"] is not None for f in got] == [True] * 5 + [False] * 35
    assert sum(f["frames_decoded"] for f in got) <= len(source.frame_times_ms)


def test_batch_time_limit_follows_what_the_file_holds(tmp_path):
    """batch gives a child time in proportion to the duration the child's core
    reports: the checked one, not the header's 1e12 ms."""
    import lifelog_compression as lc

    card = tmp_path / "card"
    card.mkdir()
    source = make_clip(tmp_path / "clip.mkv", codec="libx264", gop=30, seconds=3.0)
    _patched(source.path, card / "forged.mkv", b"\x44\x89\x88", 3, struct.pack(">d", 1e12))
    result = lc.extract_directory_to_dir(card, tmp_path / "out")
    (outcome,) = result.files
    assert outcome.status == "extracted" and abs(outcome.duration_ms - 3000) <= 100, outcome
    assert_true_to_source(tmp_path / "out" / "forged", source)


@FFMPEG_ONLY
@pytest.mark.parametrize(
    "audio_s, keep, truncated",
    [
        (4.0, 1.0, False),  # whole
        (4.8, 1.0, False),  # whole, its sound runs 0.8 s past its pictures: not cut short
        (4.0, 0.85, True),  # the last ~0.6 s gone, sound and pictures alike
    ],
)
def test_matroska_cut_short_is_said_even_by_less_than_a_second(tmp_path, audio_s, keep, truncated):
    """Matroska states only the file's duration (all streams): where the file
    holds less than it (a card pulled mid-copy) the bundle says so, while a
    file whose audio simply runs past its video is not called truncated."""
    import subprocess

    source = make_clip(tmp_path / "v.mkv", codec="libx264", gop=30, seconds=4.0)
    both = tmp_path / "both.mkv"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(source.path),
            "-f",
            "lavfi",
            "-i",
            f"sine=duration={audio_s}",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "copy",
            "-c:a",
            "flac",
            str(both),
        ],
        check=True,
    )
    path = truncate(both, tmp_path / "cut.mkv", keep) if keep < 1 else both
    result = extract_to_dir(path, tmp_path / "b")
    assert_true_to_source(tmp_path / "b", source)
    said = [n for n in result.notes if n.startswith("source truncated or its header wrong")]
    assert len(said) == int(truncated), result.notes


@FFMPEG_ONLY
@pytest.mark.parametrize("companion", ["tmcd", "subtitle", "none"])
def test_half_copied_recording_is_said_whatever_its_other_tracks_span(companion, tmp_path):
    """A MOV with its index at the front, copied half-way: what it holds is
    judged on its pictures and sound, not on a timecode track's one sample
    or a subtitle cue that spans the whole clip (every GoPro writes tmcd)."""
    import subprocess

    source = make_clip(tmp_path / "v.mp4", codec="libx264", gop=30, seconds=8.0)
    full = tmp_path / "full.mov"
    cmd = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-i",
        str(source.path),
        "-f",
        "lavfi",
        "-i",
        "sine=duration=8",
    ]
    if companion == "subtitle":
        srt = tmp_path / "cue.srt"
        srt.write_text("1\n00:00:00,000 --> 00:00:08,000\nall day\n")
        cmd += ["-i", str(srt), "-map", "2:s", "-c:s", "mov_text"]
    if companion == "tmcd":
        cmd += ["-timecode", "01:00:00:00"]
    subprocess.run(
        cmd + ["-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-movflags", "+faststart", str(full)],
        check=True,
    )
    cut = truncate(full, tmp_path / "cut.mov", 0.5)
    result = extract_to_dir(cut, tmp_path / "b")
    rows = assert_true_to_source(tmp_path / "b", source)
    assert 2 <= len(rows) <= 6, len(rows)
    said = [n for n in result.notes if n.startswith("source truncated or its header wrong")]
    assert len(said) == 1 and "claims 8000 ms" in said[0], result.notes


def _forge_last_cluster_time(source: Path, dest: Path, ms: int) -> Path:
    """The last Matroska Cluster's Timestamp (ID 0xE7) rewritten as an
    8-byte ``ms``, the Cluster's size grown to match."""
    data = bytearray(source.read_bytes())
    cluster = data.rfind(b"\x1f\x43\xb6\x75")
    at = data.find(b"\xe7", cluster + 4)
    old = 2 + (data[at + 1] & 0x7F)
    data[at : at + old] = b"\xe7\x88" + ms.to_bytes(8, "big")
    width = 8 - data[cluster + 4].bit_length() + 1  # the size vint's length
    size = int.from_bytes(data[cluster + 4 : cluster + 4 + width], "big") & ((1 << (7 * width)) - 1)
    size += 10 - old
    data[cluster + 4 : cluster + 4 + width] = (size | (1 << (7 * width))).to_bytes(width, "big")
    dest.write_bytes(bytes(data))
    return dest


@FFMPEG_ONLY
def test_a_clock_forged_far_into_the_future_near_the_end(tmp_path):
    """A streamed Matroska (no duration, no cues) whose last cluster claims
    10^12 ms: the end is taken before the jump, with a note, in bounded
    memory (unbounded, 10^9 requests held 24 GB before the kernel killed it)."""
    import json
    import resource
    import subprocess
    import sys

    source = make_clip(tmp_path / "live.mkv", codec="libx264", gop=25, seconds=6.0, extra_args=("-live", "1"))
    forged = _forge_last_cluster_time(source.path, tmp_path / "forged.mkv", 10**12)
    # In a process of its own with its address space capped, so that a
    # regression fails this test rather than the machine. Under ASan the cap
    # would stop the child at start (its shadow memory is terabytes of
    # address space); ASan bounds the memory itself (scripts/sanitize.sh).
    cap = 3 << 30
    sanitized = "libasan" in os.environ.get("LD_PRELOAD", "")
    run = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "extract", "--json", "-q", str(forged), str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=None if sanitized else lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap)),
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    rows = assert_true_to_source(tmp_path / "b", source)
    assert 3 <= len(rows) == result["request_count"] <= 6
    assert any("timestamps jump to 1000000000" in n for n in result["notes"]), result["notes"]


def test_requests_stop_at_the_bound_with_a_note():
    from lifelog_compression.limits import MAX_REQUESTS
    from lifelog_compression.recipe import DEFAULT_RECIPE
    from lifelog_compression.timeline import timeline_notes

    requests = DEFAULT_RECIPE.request_times_ms(10**15)
    assert len(requests) == MAX_REQUESTS and requests[-1] == (MAX_REQUESTS - 1) * 1000
    notes = timeline_notes([], requests, 0, requests[-1], DEFAULT_RECIPE, {}, 10**15)
    assert any(f"requests stop at the first {MAX_REQUESTS}" in n for n in notes), notes
    assert timeline_notes([], requests[:10], 0, 9000, DEFAULT_RECIPE, {}, 10_000) == []
