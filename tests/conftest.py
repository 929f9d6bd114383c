"""Shared test setup: tests import their helpers as plain modules
(`from fixtures import ...`), and generated clips live in one cache per run."""

import sys
from pathlib import Path

import pytest

# The helpers (fixtures.py, truth.py, catalogue.py) are modules beside the
# tests, not a package; put this folder first on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Real servers on loopback (nginx, moto's S3), started once per session when a test asks.
from servers import http_server, s3_server  # noqa: E402,F401


@pytest.fixture(scope="session")
def clip_cache(tmp_path_factory) -> Path:
    """One folder per test session where generated fixture clips are kept and
    shared between tests (tests never modify them; damage goes to copies)."""
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def clip(clip_cache):
    """clip(name) -> fixtures.Clip from catalogue.CATALOGUE, generated once per session."""
    from catalogue import CATALOGUE
    from fixtures import make_clip

    made = {}
    # A folder of its own: test_fixtures.py makes other clips under the same names.
    folder = clip_cache / "catalogue"
    folder.mkdir(exist_ok=True)

    def get(name: str):
        if name not in made:
            spec = dict(CATALOGUE[name])
            suffix = spec.pop("suffix")
            made[name] = make_clip(folder / f"{name}{suffix}", **spec)
        return made[name]

    return get


@pytest.fixture(scope="session")
def noisy_long_clip(clip_cache):
    """60 s, keyframe every 0.5 s, 320x240 with noise at 3 Mbit/s: small to
    decode, but every frame costs bytes (22 MB), so what is read shows."""
    from fixtures import make_clip

    folder = clip_cache / "storage"
    folder.mkdir(exist_ok=True)
    return make_clip(
        folder / "noisy-60s.mp4",
        gop=15,
        seconds=60,
        extra_args=("-vf", "noise=alls=40:allf=t", "-b:v", "3M", "-maxrate", "3M", "-bufsize", "1M"),
    )
