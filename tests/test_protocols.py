"""A source is the file it names and nothing else (csrc/ffio.c): no part of a
file's name is an FFmpeg protocol ("concat:", "pipe:", "file:"), and no file
that names other files or streams (a concat script, an HLS playlist, a DASH
manifest, an image-sequence pattern) is followed, locally or over HTTP.
Worker threads reopen the source through the same door."""

import shutil
import subprocess
import sys

import pytest
from fixtures import make_clip

import lifelog_compression as lc
from lifelog_compression import _core

pytestmark = pytest.mark.skipif(_core.backend != "ffmpeg", reason="the FFmpeg backend's inputs")


def run_cli(*args, stdin=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "lifelog_compression", *map(str, args)],
        capture_output=True,
        text=True,
        stdin=stdin,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two clips told apart by size and length: the named one and another."""
    d = tmp_path_factory.mktemp("protocol-clips")
    named = make_clip(d / "named.mp4", width=160, height=96, fps=10, seconds=2.0, gop=10)
    other = make_clip(d / "other.mp4", width=96, height=64, fps=10, seconds=4.0, gop=10)
    return named.path, other.path


def _sizes(bundle):
    rows = lc.load_manifest(bundle)
    return len(rows), {(r.source_width, r.source_height) for r in rows}


# ---- names that are protocols ------------------------------------------------------------------

NAMES = ["concat:other.mp4|other.mp4", "pipe:0", "file:other.mp4", "subfile,,start,0,end,0,,:other.mp4"]


@pytest.mark.parametrize("name", NAMES)
def test_a_name_that_looks_like_a_protocol_is_that_file(name, clips, tmp_path):
    """The file called "concat:other.mp4|other.mp4" holds the named clip: its
    bundle is the named clip's 2 frames at 160x96, never other.mp4's (or
    standard input's, which is other.mp4 here)."""
    named, other = clips
    shutil.copy(other, tmp_path / "other.mp4")
    shutil.copy(named, tmp_path / name)
    with open(other, "rb") as stdin:
        out = run_cli("extract", "-q", "--workers", "2", name, "b", stdin=stdin, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert _sizes(tmp_path / "b") == (2, {(160, 96)})


# ---- files that name other files ---------------------------------------------------------------

HLS = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n{entry}\n#EXT-X-ENDLIST\n"
DASH = """<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT4S" minBufferTime="PT1S"
     profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">
 <Period><AdaptationSet mimeType="video/mp4">
  <Representation id="1" bandwidth="100000" width="96" height="64" codecs="avc1.64000a">
   <BaseURL>other.mp4</BaseURL>
  </Representation>
 </AdaptationSet></Period>
</MPD>
"""

# name -> (file name, text, the demuxer it is read as)
SHAPES = {
    "ffconcat named .mp4": ("script.mp4", "ffconcat version 1.0\nfile other.mp4\nfile other.mp4\n", "concat"),
    "hls playlist": ("list.m3u8", HLS.format(entry="other.mp4"), "hls"),
    "hls playlist named .mp4": ("list.mp4", HLS.format(entry="other.mp4"), "hls"),
    "hls with a file: entry": ("abs.mp4", HLS.format(entry="file:{dir}/other.mp4"), "hls"),
    "dash manifest named .mp4": ("manifest.mp4", DASH, "dash"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_file_that_names_other_files_is_refused(shape, clips, tmp_path):
    _, other = clips
    shutil.copy(other, tmp_path / "other.mp4")
    name, text, demuxer = SHAPES[shape]
    (tmp_path / name).write_text(text.format(dir=tmp_path) if "{dir}" in text else text)
    with pytest.raises(lc.NotAVideoError, match=f"read as '{demuxer}'.*only the named file is ever read"):
        lc.extract_to_dir(tmp_path / name, tmp_path / "b")
    assert not (tmp_path / "b").exists()
    out = run_cli("extract", tmp_path / name, tmp_path / "b")
    assert out.returncode == lc.NotAVideoError.exit_code and len(out.stderr.splitlines()) == 1, out.stderr


def test_an_image_pattern_does_not_depend_on_the_files_it_matches(tmp_path):
    """'shot%d.jpg' was an image2 pattern: its outcome changed with whether
    shot1.jpg existed beside it. Now it is read, and refused, alone."""
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48",
            "-frames:v",
            "1",
            str(tmp_path / "shot%d.jpg"),
        ],
        check=True,
    )
    # ffmpeg wrote shot1.jpg for the pattern: make the pattern's own file.
    (tmp_path / "shot1.jpg").rename(tmp_path / "pattern")
    (tmp_path / "pattern").rename(tmp_path / "shot%d.jpg")
    messages = []
    for sibling in (False, True):
        if sibling:
            shutil.copy(tmp_path / "shot%d.jpg", tmp_path / "shot1.jpg")
        with pytest.raises(lc.NotAVideoError) as info:
            lc.extract_to_dir(tmp_path / "shot%d.jpg", tmp_path / "b")
        messages.append(str(info.value))
    assert messages[0] == messages[1] and "only the named file is ever read" in messages[0], messages


def test_an_http_playlist_is_not_followed(http_server, clips, tmp_path):
    """An HLS playlist served over HTTP names a video beside it: refused
    before any request for that video."""
    _, other = clips
    shutil.copy(other, http_server.root / "hls-target.mp4")
    (http_server.root / "playlist.mp4").write_text(HLS.format(entry="hls-target.mp4"))
    with pytest.raises(lc.NotAVideoError, match="read as 'hls'"):
        lc.extract_to_dir(http_server.url("playlist.mp4"), tmp_path / "b")
    assert http_server.requests_settled("playlist.mp4")
    assert http_server.requests("hls-target.mp4") == []
    assert not (tmp_path / "b").exists()
