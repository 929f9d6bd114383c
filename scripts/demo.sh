#!/usr/bin/env bash
# The first command: installs only what extraction needs (compiler, FFmpeg and
# libjpeg-turbo development files, the ffmpeg CLI to make a sample clip), the
# package itself into .venv (editable, no test extras: no Ray, moto, pyarrow,
# mypy, nginx), and extracts a Visual Bundle from a real camera clip
# (../shared/data/gopro-max-heromode.mp4 where it is there) or else from a
# 30 s clip the ffmpeg CLI makes. scripts/setup.sh (run by scripts/test.sh)
# installs everything the tests use into the same .venv afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/packages.sh
install_packages demo build-essential pkg-config python3-dev python3-venv libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libturbojpeg0-dev ffmpeg

start=$SECONDS
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
if ! .venv/bin/python -c "import lifelog_compression._core" 2>/dev/null; then
    echo "demo: building the package into .venv" >&2
    # Build requirements come from pyproject.toml (pip fetches setuptools>=77 itself).
    .venv/bin/python -m pip install -q -e . --config-settings editable_mode=compat
fi

clip=""
for shared in ../shared ../../shared; do
    if [ -f "$shared/data/gopro-max-heromode.mp4" ]; then clip=$shared/data/gopro-max-heromode.mp4; break; fi
done
if [ -z "$clip" ]; then
    mkdir -p sample
    clip=sample/sample.mp4
    [ -f "$clip" ] || ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30" -t 30 \
        -c:v libx264 -preset veryfast -g 60 -pix_fmt yuv420p "$clip"
fi
mkdir -p sample
.venv/bin/python -m lifelog_compression extract --overwrite "$clip" sample/bundle
echo "bundle: $(pwd)/sample/bundle (bundle.json, manifest.jsonl, frames/, metadata/) from $clip, $((SECONDS - start)) s" \
    "after the system packages"
