"""Real-file conformance: every video in ../shared/data/real and ../shared/data
(other projects' test files and a real GoPro recording; docs/real-files.md)
extracts, or is refused with the exit code its damage deserves, and its bundle
tells the truth about it as an independent decoder, the ffmpeg CLI, sees it:

- every frame is the source frame at ``actual_ts_ms``: PSNR-Y >= 40 dB on the
  content rect against that frame decoded by the ffmpeg CLI (autorotated, the
  colour matrix the product assumes), resampled into the rect, and it
  resembles no neighbouring frame better (``validate_bundle``'s checks);
- the rows match the recording's length: one per request 0, 1000, ... ms
  below the video stream's duration as ffprobe's packets give it (the first
  presentation time to the last packet's end), at least one; a request may
  lack its row only where the ffmpeg CLI decodes no frame in its window (an
  undecodable lead, a gap: docs/planner.md);
- consecutive rows picture moments >= 500 ms apart;
- the content rect has the display aspect of the frames ffmpeg's autorotate
  hands over (rotation side data and sample aspect ratio applied);
- the timeline's 0 is the stream's first presentation time.

Nothing expected here is computed by the product's code: the recording is the
video stream with the most frames (ties: the one the ffmpeg CLI maps by
default), and validate's SourceReference (which decodes with the ffmpeg CLI)
is used on it without its native-core gate.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from lifelog_compression.validate import SourceReference, validate_bundle

REPO = Path(__file__).resolve().parents[1]
# CI has ../shared beside the checkout (scripts/test.sh links it beside the
# unpacked sdist); a worktree sits one level deeper.
_SHARED = [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]
DATA = next((d for d in _SHARED if (d / "real").is_dir()), None)
VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".mts", ".m2ts", ".ts", ".3gp", ".avi", ".dv", ".mpg"}


def _real_files() -> list[Path]:
    found = []
    if DATA is not None:
        found = [
            p
            for folder in (DATA, DATA / "real")
            for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
        ]
    # More files to try the same way, every file in that folder (docs/real-files.md).
    extra = os.environ.get("LIFELOG_REAL_FILES_EXTRA")
    if extra:
        found += [p for p in Path(extra).iterdir() if p.is_file()]
    return sorted(found, key=lambda p: p.name)


FILES = _real_files()
needs_data = pytest.mark.skipif(
    not FILES, reason="../shared/data/real is not here (it is beside the checkout in CI, not in a user's clone)"
)

# Files the product may refuse, with the exit code their damage deserves and
# why. Only genuinely unusable files belong here, never a product bug; each
# refusal is also checked against the ffmpeg CLI (it must decode nothing).
REFUSED = {
    "jcodec_metaedit_keyed.mp4": (
        9,
        "jcodec's metadata-editing fixture: a whole moov (11.3 s of 1080p H.264 at 21 Mbit/s) but only "
        "405 KB of the file, so no video sample's bytes are there; the ffmpeg CLI decodes nothing "
        "('partial file')",
    ),
}

# Motion photos among the extra files (LIFELOG_REAL_FILES_EXTRA; androidx/media's
# test data): a JPEG with its recording appended, at the byte range [start, end)
# placed here by hand from the file's own XMP (Item:Length 8730 from the end;
# MicroVideoOffset 2582 from the end, less the 44-byte Samsung SEF trailer after
# the MP4). androidx's "shortened" samples keep the MP4's moov but not its
# sample tables, so nothing in them decodes: refused, and the ffmpeg CLI run on
# that byte range must decode nothing either.
REFUSED_EMBEDDED = {
    "androidx_jpeg_pixel-motion-photo-shortened.jpg": (
        9,
        "a Google Motion Photo 1.0 whose MP4 lost its sample tables ('missing mandatory atoms')",
        (131582, 140312),
    ),
    "androidx_jpeg_ss-motion-photo-shortened.jpg": (
        9,
        "a Samsung motion photo (MicroVideo XMP, SEF trailer) whose MP4 lost its sample tables",
        (20345, 22883),
    ),
}

# Files the product still gets wrong, pinned: the test passes only while the
# problems found are exactly these (by kind and frame), so a fix or a new
# fault shows at once. Not a skip: every other check runs on them too.
# jcodec's clip-cat fixtures are all-intra H.264 whose decode order runs
# against their presentation times (frames 132, 99, 165 ms...); FFmpeg starts
# the stream at its first packet (132 ms), the ffmpeg CLI's frame list at the
# smallest time, and from a joint with a repeated time on the rows are one
# frame early against the CLI's numbering. Unresolved (docs/real-files.md).
KNOWN_WRONG = {
    # Its keyframes run ahead of decoding by different amounts, so the index
    # is not trusted and the packets are read (ffsource.c delta_holds).
    "jcodec_AVCClipCatTest_cat_avc_clip.mp4": {
        "timeline",
        "validate (time) frames/00000003.jpg",
        "validate (time) frames/00000004.jpg",
        "psnr frames/00000004.jpg",
        "validate (time) frames/00000005.jpg",
        "psnr frames/00000005.jpg",
        "validate (time) frames/00000006.jpg",
        "psnr frames/00000006.jpg",
    },
    "jcodec_AVCClipCatTest_cat_key_clip.mp4": {
        "validate (time) frames/00000006.jpg",
        "psnr frames/00000006.jpg",
        "validate (time) frames/00000007.jpg",
        "psnr frames/00000007.jpg",
        "validate (time) frames/00000008.jpg",
        "psnr frames/00000008.jpg",
    },
    "jcodec_AVCClipCatTest_precise_clip.mp4": {
        "timeline",
        "validate (unchecked) frames/00000001.jpg",
        "psnr frames/00000002.jpg",
    },
}


def _problem_key(problem: str) -> str:
    """'psnr: frames/00000003.jpg (...' -> 'psnr frames/00000003.jpg'."""
    kind, _, rest = problem.partition(": ")
    frame = rest.split()[0].rstrip(":") if rest.startswith("frames/") else ""
    return f"{kind} {frame}".strip()


MIN_PSNR_Y_DB = 40.0
MIN_ROW_SPACING_MS = 500
INTERVAL_MS = 1000
TOLERANCE_MS = 500
CANVAS = (1920, 1080)


def _run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _ffprobe(path: Path, *args: str) -> dict:
    out = _run(["ffprobe", "-v", "error", *args, "-of", "json", str(path)])
    assert out.returncode == 0, f"ffprobe cannot read {path.name}: {out.stderr[-300:]}"
    return json.loads(out.stdout)


class CliView:
    """What ffprobe and the ffmpeg CLI make of a file on their own: the
    recording's video stream, the size and sample aspect of the first frame
    the CLI hands over after autorotate, and that stream's packets.

    The recording is the video stream with the most frames (a motion photo's
    two top-shot stills, a cover picture or a thumbnail track are not it);
    among equals, the one the ffmpeg CLI maps by default (the largest)."""

    def __init__(self, path: Path):
        self.path = path
        doc = _ffprobe(
            path,
            "-count_packets",
            "-show_entries",
            "stream=index,codec_type,nb_read_packets:stream_disposition=attached_pic",
        )
        counts = {
            int(st["index"]): int(st.get("nb_read_packets") or 0)
            for st in doc.get("streams", [])
            if st.get("codec_type") == "video" and not st.get("disposition", {}).get("attached_pic")
        }
        assert counts, f"ffprobe finds no video stream in {path.name}"
        most = max(counts.values())
        default, _ = self._first_frame(None)
        if default is not None and counts.get(default) == most:
            self.stream_index = default
        else:
            self.stream_index = min(i for i, n in counts.items() if n == most)
        _, shown = self._first_frame(self.stream_index)
        sar = Fraction(int(shown.group(1)), int(shown.group(2))) if int(shown.group(2)) else Fraction(0)
        self.sample_aspect = sar if sar > 0 else Fraction(1)
        self.frame_size = (int(shown.group(3)), int(shown.group(4)))
        doc = _ffprobe(
            path,
            "-select_streams",
            str(self.stream_index),
            "-show_entries",
            "stream=time_base,width,height:packet=pts,dts,duration,flags",
        )
        self.time_base = Fraction(doc["streams"][0]["time_base"])
        self.stored_size = (int(doc["streams"][0]["width"]), int(doc["streams"][0]["height"]))
        # AVI and ASF stamp packets with decoding times only.
        self.packets = [
            dict(p, pts=p["pts"] if p.get("pts") not in (None, "N/A") else p.get("dts"))
            for p in doc.get("packets", [])
            if "D" not in p.get("flags", "")
        ]
        self.packets = [p for p in self.packets if p["pts"] not in (None, "N/A")]
        assert self.packets, f"{path.name}: ffprobe lists no timed packets of stream {self.stream_index}"

    def _first_frame(self, stream_index: int | None) -> tuple[int | None, re.Match[str]]:
        """The stream the CLI decodes (``stream_index``, else its default
        choice) and showinfo's line about its first frame, after autorotate."""
        chosen = ["-map", f"0:{stream_index}"] if stream_index is not None else ["-an", "-sn", "-dn"]
        out = _run(
            [
                "ffmpeg",
                "-hide_banner",
                "-nostdin",
                "-i",
                str(self.path),
                *chosen,
                "-frames:v",
                "1",
                "-vf",
                "showinfo",
                "-f",
                "null",
                "-",
            ]
        )
        mapped = re.search(r"Stream #0:(\d+)\S* -> #0:0", out.stderr)
        shown = re.search(r"n:\s*0 .*?sar:(\d+)/(\d+) s:(\d+)x(\d+)", out.stderr)
        assert shown, f"the ffmpeg CLI decodes no frame of {self.path.name}: {out.stderr[-400:]}"
        return (int(mapped.group(1)) if mapped else None), shown

    @property
    def display_aspect(self) -> Fraction:
        w, h = self.frame_size
        return w * self.sample_aspect / h

    @property
    def first_pts(self) -> int:
        return min(int(p["pts"]) for p in self.packets)

    def duration_ms(self) -> Fraction:
        """First presentation time to the end of the last packet (a packet
        without a duration lasts the stream's usual frame interval)."""
        starts = sorted(int(p["pts"]) for p in self.packets)
        steps = sorted(b - a for a, b in zip(starts, starts[1:]) if b > a)
        usual = steps[len(steps) // 2] if steps else 0
        end = max(
            int(p["pts"]) + (int(p["duration"]) if p.get("duration") not in (None, "N/A", "0") else usual)
            for p in self.packets
        )
        return (end - self.first_pts) * self.time_base * 1000

    def decoded_times_ms(self) -> list[float]:
        """Times (bundle timeline) of every frame the decoder actually outputs."""
        doc = _ffprobe(
            self.path, "-select_streams", str(self.stream_index), "-show_entries", "frame=best_effort_timestamp"
        )
        return [
            float((int(f["best_effort_timestamp"]) - self.first_pts) * self.time_base * 1000)
            for f in doc.get("frames", [])
            if f.get("best_effort_timestamp") not in (None, "N/A")
        ]


class CliReference(SourceReference):
    """validate's ffmpeg-CLI reference on the recording's stream, without its
    gate through the native core (the core is what is on trial here)."""

    def __init__(self, video: Path, stream_index: int):
        super().__init__(video, stream_index=stream_index)

    def _classify(self) -> None:
        pass


def _extract(video: Path, bundle: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LIFELOG_PROGRESS_INTERVAL="3600")
    return subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "extract", str(video), str(bundle), "--json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def expected_requests(duration_ms: Fraction) -> list[int]:
    """The recipe's requests: 0, 1000, ... while below the duration; at least one."""
    return [k * INTERVAL_MS for k in range(max(1, math.ceil(duration_ms / INTERVAL_MS)))]


def test_expected_requests():
    assert expected_requests(Fraction(40)) == [0]
    assert expected_requests(Fraction(1000)) == [0]
    assert expected_requests(Fraction(10001, 10)) == [0, 1000]
    assert expected_requests(Fraction(12078)) == list(range(0, 13000, 1000))


@pytest.mark.skipif(DATA is None, reason="../shared/data/real is not here")
def test_every_refusal_names_a_real_file():
    names = {p.name for p in FILES}
    assert set(REFUSED) <= names, f"REFUSED names files that are not there: {set(REFUSED) - names}"
    assert set(KNOWN_WRONG) <= names, f"KNOWN_WRONG names files that are not there: {set(KNOWN_WRONG) - names}"


@needs_data
@pytest.mark.parametrize("video", FILES, ids=[p.name for p in FILES])
def test_real_file(video: Path, tmp_path: Path):
    bundle = tmp_path / "bundle"
    result = _extract(video, bundle)

    if video.name in REFUSED or video.name in REFUSED_EMBEDDED:
        code, why, embedded = REFUSED_EMBEDDED.get(video.name) or (*REFUSED[video.name], None)
        assert result.returncode == code, (
            f"expected exit {code} ({why}), got {result.returncode}: {result.stderr.strip()[-400:]}"
        )
        source = ["-i", str(video)]
        if embedded is not None:
            from lifelog_compression import _core

            found = _core.recording_range(str(video))
            assert found is not None and (found["offset"], found["offset"] + found["length"]) == embedded
            start, end = embedded
            source = ["-protocol_whitelist", "subfile,file", "-i", f"subfile,,start,{start},end,{end},,:{video}"]
        frames = _run(["ffmpeg", "-v", "quiet", "-nostdin", *source, "-map", "0:v?", "-f", "framemd5", "-"])
        assert not [line for line in frames.stdout.splitlines() if line and not line.startswith("#")], (
            f"refused as {why!r}, but the ffmpeg CLI decodes frames of it"
        )
        return

    assert result.returncode == 0, f"extract exit {result.returncode}: {result.stderr.strip()[-600:]}"
    rows = [json.loads(line) for line in (bundle / "manifest.jsonl").read_text().splitlines()]
    doc = json.loads((bundle / "bundle.json").read_text())
    cli = CliView(video)
    problems: list[str] = []

    # The recording's stream was decoded.
    sizes = {(r.get("source_width"), r.get("source_height")) for r in rows}
    if sizes != {cli.stored_size}:
        problems.append(
            f"stream: rows say the source is {sorted(sizes)}, but the recording (stream "
            f"{cli.stream_index}, the most frames) is {cli.stored_size[0]}x{cli.stored_size[1]}"
        )

    # The timeline's 0 is the first presentation time.
    first_ms = float(cli.first_pts * cli.time_base * 1000)
    offset = (doc.get("sampling") or {}).get("source_start_offset_ms")
    if offset is not None and abs(offset - first_ms) > 1.0:
        problems.append(
            f"timeline: source_start_offset_ms {offset} but the stream's first presentation time is {first_ms:.3f} ms"
        )

    # Rows match the recording's length.
    duration = cli.duration_ms()
    wanted = expected_requests(duration)
    got = [r["requested_ts_ms"] for r in rows]
    if got != sorted(set(got)) or not set(got) <= set(wanted):
        problems.append(f"rows: requests {got}, but a {float(duration):.1f} ms video makes requests {wanted}")
    missing = sorted(set(wanted) - set(got))
    if missing:
        decoded = cli.decoded_times_ms()
        answerable = [t for t in missing if any(abs(d - t) <= TOLERANCE_MS for d in decoded)]
        if answerable:
            problems.append(
                f"rows: {len(rows)} rows for a {float(duration):.1f} ms video ({len(wanted)} "
                f"requests); requests {answerable} have no row though the ffmpeg CLI decodes a "
                "frame in their window"
            )

    # Consecutive rows picture distinct moments.
    times = [r["actual_ts_ms"] for r in rows]
    close = [(a, b) for a, b in zip(times, times[1:]) if b - a < MIN_ROW_SPACING_MS]
    if close:
        problems.append(f"spacing: consecutive rows closer than {MIN_ROW_SPACING_MS} ms: {close}")

    # Orientation and shape: the rect has ffmpeg's autorotated display aspect.
    rects = {
        (r["content_rect_x"], r["content_rect_y"], r["content_rect_width"], r["content_rect_height"]) for r in rows
    }
    for x, y, w, h in sorted(rects):
        aspect = cli.display_aspect
        # Sizes are rounded to even: each side is off by at most one pixel.
        slack = aspect * (Fraction(1, w) + Fraction(1, h)) * Fraction(11, 10)
        fills = w == CANVAS[0] or h == CANVAS[1]
        if abs(Fraction(w, h) - aspect) > slack or not fills:
            problems.append(
                f"orientation: content rect {w}x{h} at ({x}, {y}), but the ffmpeg CLI's autorotated "
                f"frames are {cli.frame_size[0]}x{cli.frame_size[1]} with sample aspect "
                f"{cli.sample_aspect} (display aspect {float(aspect):.4f})"
            )

    # Every frame is the source frame at actual_ts_ms, as the ffmpeg CLI decodes it.
    report = validate_bundle(video, bundle, reference=CliReference(video, cli.stream_index))
    problems += [f"validate ({p.reason}): {p.message}" for p in report.problems]
    for frame in report.frames:
        problems += [f"validate ({f.reason}): {f.message}" for f in frame.failures]
        if frame.psnr_y is not None and frame.psnr_y < MIN_PSNR_Y_DB:
            problems.append(
                f"psnr: {frame.frame_relpath} (requested {frame.requested_ts_ms} ms, actual "
                f"{frame.actual_ts_ms} ms): PSNR-Y {frame.psnr_y:.1f} dB < {MIN_PSNR_Y_DB:g} dB "
                "against the source frame there"
            )

    if video.name in KNOWN_WRONG:
        assert {_problem_key(p) for p in problems} == KNOWN_WRONG[video.name], (
            f"{video.name}: its known faults changed ({len(rows)} rows):\n  " + "\n  ".join(problems)
        )
        return
    assert not problems, f"{video.name} ({len(rows)} rows):\n  " + "\n  ".join(problems)
