"""All 8 display-matrix orientations, end to end (csrc/extract.h states the
convention: mirror left-right first, then turn clockwise).

Each clip stores its frames transformed so that a player honouring the track
matrix shows `draw_frame` upright; `read_index` reads a picture only when it is
upright and unmirrored, so any of the 7 wrong orientations reads None.

The reference is independent of the code under test twice over: the stored
pictures are made with numpy from the matrix semantics of ISO/IEC 14496-12
(tests/fixtures.py `track_matrix` and `_stored_picture`), and the ffmpeg 5.1
command-line tool, whose autorotate picks its own transpose/hflip/vflip
filters from the display matrix (fftools, not our decomposition), must show
every clip upright before our extraction is checked against the same truth.
"""

import subprocess

import numpy as np
import pytest
from fixtures import frame_at, make_clip, read_index, track_matrix

import lifelog_compression as lc

ORIENTATIONS = [(rotate, hflip) for hflip in (False, True) for rotate in (0, 90, 180, 270)]
NAMES = {(0, True): "hflip", (180, True): "vflip", (270, True): "transpose", (90, True): "antitranspose"}


def name_of(rotate, hflip):
    return NAMES.get((rotate, hflip), f"rotate{rotate}")


@pytest.fixture(scope="module")
def oriented(clip_cache):
    """oriented(rotate, hflip) -> Clip with that track matrix, made once per session."""
    folder = clip_cache / "orientation"
    folder.mkdir(exist_ok=True)
    made = {}

    def get(rotate, hflip):
        if (rotate, hflip) not in made:
            # Coded 192x112: not square, so a missed width/height swap shows too.
            made[rotate, hflip] = make_clip(
                folder / f"{name_of(rotate, hflip)}.mp4",
                width=192,
                height=112,
                fps=10,
                seconds=2.0,
                gop=5,
                rotate=rotate,
                hflip=hflip,
            )
        return made[rotate, hflip]

    return get


def ffmpeg_first_frame(clip, autorotate: bool) -> np.ndarray:
    shown = (clip.display_width, clip.display_height) if autorotate else (clip.width, clip.height)
    out = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            *([] if autorotate else ["-noautorotate"]),
            "-i",
            str(clip.path),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    assert len(out) == shown[0] * shown[1] * 3, f"ffmpeg showed an unexpected size for {clip.path.name}"
    return np.frombuffer(out, np.uint8).reshape(shown[1], shown[0], 3)


@pytest.mark.parametrize("rotate,hflip", ORIENTATIONS, ids=[name_of(*o) for o in ORIENTATIONS])
def test_ffmpeg_cli_shows_each_fixture_upright(oriented, rotate, hflip):
    """The truth the extraction is held to: ffmpeg's autorotate shows frame 0
    upright, and without autorotate the stored picture is not (except for the
    identity), so each clip really carries its orientation in the matrix."""
    clip = oriented(rotate, hflip)
    assert read_index(ffmpeg_first_frame(clip, autorotate=True)) == 0
    stored = read_index(ffmpeg_first_frame(clip, autorotate=False))
    assert stored == (0 if (rotate, hflip) == (0, False) else None)


@pytest.mark.parametrize("rotate,hflip", ORIENTATIONS, ids=[name_of(*o) for o in ORIENTATIONS])
def test_extracted_frames_are_upright(oriented, rotate, hflip, tmp_path):
    clip = oriented(rotate, hflip)
    summary = lc.probe(clip.path)
    assert (summary.rotation_degrees, summary.fields["hflip"]) == (rotate, hflip)
    assert (summary.display_width, summary.display_height) == (clip.display_width, clip.display_height)
    result = lc.extract_to_dir(clip.path, tmp_path / "bundle")
    rows = lc.load_manifest(tmp_path / "bundle")
    assert result.frame_count == len(rows) == 2
    for row in rows:
        rect = tuple(row.extra[f"content_rect_{k}"] for k in ("x", "y", "width", "height"))
        # Portrait for the quarter turns, landscape otherwise.
        assert (rect[2] > rect[3]) == (clip.display_width > clip.display_height)
        got = read_index(tmp_path / "bundle" / row.frame_relpath, rect)
        assert got == frame_at(clip, row.actual_ts_ms), f"{row.frame_relpath} is not upright"


@pytest.mark.parametrize(
    "rotate,hflip", [(90, True), (270, True), (180, True)], ids=["antitranspose", "transpose", "vflip"]
)
def test_raw_canvases_are_upright(oriented, rotate, hflip):
    """iter_frames(as_array=True) hands over the canvas without JPEG: same picture."""
    clip = oriented(rotate, hflip)
    frames = list(lc.iter_frames(clip.path, as_array=True))
    assert len(frames) == 2
    for frame in frames:
        assert read_index(frame.array, frame.content_rect) == frame_at(clip, frame.actual_ts_ms)


def test_the_mirrored_quarter_turns_are_the_transposes():
    """The fixtures' matrices are the named transforms (a point check of
    x' = a*x + c*y, y' = b*x + d*y): hflip + 270 is the transpose, hflip + 90
    the anti-transpose."""
    a, b, c, d = track_matrix(270, True)
    assert (a * 3 + c * 5, b * 3 + d * 5) == (5, 3)
    a, b, c, d = track_matrix(90, True)
    assert (a * 3 + c * 5, b * 3 + d * 5) == (-5, -3)
