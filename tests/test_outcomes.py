"""Outcomes are classified truthfully and nothing is left behind: damage is
not an OS refusal, a full disk is an output error, the streaming API fails
where extract fails, a killed writer's leftovers are removed by the next run,
an interrupted swap is finished, and user mistakes are usage errors."""

import io
import os
import random
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import lifelog_compression as lc
from fixtures import make_clip, read_index
from truth import assert_true_to_source


def run_cli(*args, prefix=(), **kw):
    return subprocess.run([*prefix, sys.executable, "-m", "lifelog_compression", *map(str, args)],
                          capture_output=True, text=True, timeout=120, **kw)


def one_line(run) -> str:
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    return lines[0]


@pytest.mark.parametrize("size", [100, 200, 300, 450])
def test_webm_cut_to_a_few_hundred_bytes_is_damaged_not_unreadable(size, clip, tmp_path):
    cut = tmp_path / "cut.webm"
    cut.write_bytes(clip("vp9_webm").path.read_bytes()[:size])
    run = run_cli("extract", cut, tmp_path / "b")
    line = one_line(run)
    assert run.returncode == 9, line
    assert str(cut) in line and "operating system" not in line and "Input/output" not in line
    assert not (tmp_path / "b").exists()


def test_a_file_the_os_refuses_is_still_a_read_error(clip, tmp_path):
    locked = tmp_path / "locked.webm"
    locked.write_bytes(clip("vp9_webm").path.read_bytes())
    locked.chmod(0)
    # root reads anything: drop the capabilities that let it, as an ordinary user has none.
    prefix = ("setpriv", "--inh-caps=-dac_override,-dac_read_search",
              "--bounding-set=-dac_override,-dac_read_search") if os.geteuid() == 0 else ()
    run = run_cli("extract", locked, tmp_path / "b", prefix=prefix)
    line = one_line(run)
    assert run.returncode == 11 and "Permission denied" in line, line


def garble_mdat(source, dest, seed=1):
    """The MP4's index survives but every coded picture is noise."""
    data = bytearray(source.read_bytes())
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"mdat":
            rnd = random.Random(seed)
            data[pos + 8:pos + size] = bytes(rnd.randrange(256) for _ in range(size - 8))
        pos += size
    dest.write_bytes(data)
    return dest


def test_iter_frames_raises_what_extract_raises(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", codec="libx264", width=160, height=96, seconds=2.0, gop=10)
    garbled = garble_mdat(clip.path, tmp_path / "garbled.mp4")
    with pytest.raises(lc.DamagedSourceError) as extracted:
        lc.extract_to_dir(garbled, tmp_path / "b")
    with pytest.raises(lc.DamagedSourceError) as streamed:
        list(lc.iter_frames(garbled))
    assert str(streamed.value) == str(extracted.value)
    assert "no frame could be decoded" in str(streamed.value)
    # The same clip intact streams every frame, read back.
    frames = list(lc.iter_frames(clip.path))
    assert [f.requested_ts_ms for f in frames] == [0, 1000]
    for f in frames:
        index = read_index(np.asarray(Image.open(io.BytesIO(f.jpeg)).convert("RGB")), f.content_rect)
        assert clip.times_by_index[index] == pytest.approx(f.actual_ts_ms, abs=1.0)
