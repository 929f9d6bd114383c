#!/usr/bin/env bash
# Sets everything up, makes a 30 s sample clip with the ffmpeg CLI, and
# extracts its Visual Bundle into sample/bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p sample
if [ ! -f sample/sample.mp4 ]; then
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30" -t 30 \
        -c:v libx264 -preset veryfast -g 60 -pix_fmt yuv420p sample/sample.mp4
fi
.venv/bin/python -m lifelog_compression extract --overwrite sample/sample.mp4 sample/bundle
echo "bundle: $(pwd)/sample/bundle (bundle.json, manifest.jsonl, frames/, metadata/)"
