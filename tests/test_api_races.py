"""Source is safe against its own callers: Python code run by a call (an
item's __index__, the frame callback) or another thread cannot free the
decoder under a running call. Each race runs in a child process so that a
crash shows as a failed test, not a dead test run."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from fixtures import read_index
from PIL import Image
from truth import CANVAS

from lifelog_compression import _core


def frames_of(src, requests):
    got = []
    src.extract(requests, got.append)
    return got


def assert_pictures(clip, frames):
    """Each JPEG pictures the frame its actual time names."""
    assert frames
    for f in frames:
        assert f["jpeg"] is not None, f
        picture = np.asarray(Image.open(io.BytesIO(f["jpeg"])).convert("RGB"))
        assert picture.shape == (CANVAS[1], CANVAS[0], 3)
        index = read_index(picture, f["content_rect"])
        assert abs(clip.times_by_index[index] - f["actual_us"] / 1000) <= 1.0, f


class ClosesSource:
    """An int-like request whose __index__ closes the source."""

    def __init__(self, value, src):
        self.value, self.src = value, src

    def __index__(self):
        self.src.close()
        return self.value


class EmptiesList:
    """An int-like request whose __index__ empties the list it is in."""

    def __init__(self, value, requests):
        self.value, self.requests = value, requests

    def __index__(self):
        self.requests.clear()
        return self.value


def test_index_that_closes_the_source_is_refused(clip):
    c = clip("h264_bframes_mp4")
    with _core.Source(str(c.path)) as src:
        with pytest.raises(RuntimeError, match="in use"):
            src.extract([0, ClosesSource(1000, src), 2000], lambda f: None)
        # The source survived and still tells the truth.
        assert_pictures(c, frames_of(src, [0, 1000, 2000]))


def test_index_that_empties_the_list_does_not_change_the_requests(clip):
    c = clip("h264_bframes_mp4")
    requests = [0, 1000, 2000, 3000]
    requests[1] = EmptiesList(1000, requests)
    with _core.Source(str(c.path)) as src:
        got = frames_of(src, requests)
    assert requests == []
    assert [f["requested_ms"] for f in got] == [0, 1000, 2000, 3000]
    assert_pictures(c, got)


def test_callback_cannot_close_or_reenter(clip):
    c = clip("h264_bframes_mp4")
    errors = []

    def on_frame(f):
        for call in (src.close, src.probe_json, lambda: src.extract([0], print)):
            try:
                call()
            except RuntimeError as e:
                errors.append(str(e))

    with _core.Source(str(c.path)) as src:
        src.extract([0, 1000], on_frame)
        assert len(errors) == 6 and all("in use" in e for e in errors)
        assert_pictures(c, frames_of(src, [0, 1000]))


RACE = """
import json, sys, threading, time
from lifelog_compression import _core

path, rounds = sys.argv[1], int(sys.argv[2])
outcomes = {"json": 0, "closed": 0, "frames": 0, "close_refused": 0}

def closer(src, go, done):
    go.wait()
    while not done.is_set():
        try:
            src.close()
            return
        except RuntimeError as e:
            assert "in use" in str(e), e
            outcomes["close_refused"] += 1
        time.sleep(0.0002)   # gives the GIL back to the caller, so the calls go on

for i in range(rounds):
    src = _core.Source(path)
    go, done = threading.Event(), threading.Event()
    t = threading.Thread(target=closer, args=(src, go, done))
    t.start()
    try:
        go.set()   # the closer now competes with every call below
        for _ in range(5):
            json.loads(src.probe_json())
            outcomes["json"] += 1
            got = []
            src.extract([0, 1000], got.append)
            outcomes["frames"] += sum(f["jpeg"] is not None for f in got)
    except ValueError as e:
        assert "closed" in str(e), e
        outcomes["closed"] += 1
    done.set()
    t.join()
    src.close()
print(json.dumps(outcomes))
"""


def test_close_from_another_thread_never_frees_under_a_call(clip):
    c = clip("h264_bframes_mp4")
    run = subprocess.run([sys.executable, "-c", RACE, str(c.path), "30"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-2000:]}"
    outcomes = json.loads(run.stdout)
    # Every round ended either by a clean "closed" or by finishing its calls.
    assert outcomes["closed"] + outcomes["json"] // 5 >= 30
    assert outcomes["frames"] % 2 == 0
