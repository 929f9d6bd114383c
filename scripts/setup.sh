#!/usr/bin/env bash
# Installs everything lifelog_compression needs on Debian/Ubuntu: the system
# packages (compiler, FFmpeg and libjpeg-turbo headers, the ffmpeg CLI for
# fixtures and benchmarks, the locale sources test_locale.py compiles; nginx,
# which the tests start on loopback for HTTP range reads; headless Chromium and
# its WebDriver, in which test_view.py opens the HTML viewer; clang-format,
# which test_lint.py runs on csrc/), a virtual
# environment in .venv, and the package itself built from source (editable)
# with its test extras (Ray, moto's S3 server, fsspec/s3fs, Selenium), plus `build` for
# the source distribution scripts/test.sh tests. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/packages.sh
install_packages setup build-essential pkg-config python3-dev python3-venv libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libturbojpeg0-dev ffmpeg locales nginx chromium chromium-driver clang-format

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel
# editable_mode=compat puts the tree on sys.path with a plain .pth entry:
# type checkers (mypy) follow that, not setuptools' import-hook finder.
.venv/bin/python -m pip install -q -c scripts/test-constraints.txt -e ".[test]" build --config-settings editable_mode=compat
.venv/bin/python -c "import lifelog_compression._core as c; print('setup: ready:', c.backend_versions)" >&2
