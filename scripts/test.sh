#!/usr/bin/env bash
# What CI runs: sets everything up, builds the source distribution, installs it
# into a fresh virtual environment (.venv-sdist, recreated on every run) with
# its test extras, and runs the whole test suite shipped inside the sdist
# against that installed package. A file missing from the sdist therefore
# fails here, before a release can ship it. Fixtures are generated with the
# ffmpeg CLI at test time; no timing is asserted. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/setup.sh            # system packages and the developers' editable .venv

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m build --sdist --outdir "$work/dist" . >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; echo "test: building the sdist failed" >&2; exit 1; }
sdist=$(ls "$work"/dist/*.tar.gz)
echo "test: built $(basename "$sdist")" >&2

rm -rf .venv-sdist
"${PYTHON:-python3}" -m venv .venv-sdist
.venv-sdist/bin/python -m pip install -q --upgrade pip
.venv-sdist/bin/python -m pip install -q -c scripts/test-constraints.txt "$sdist[test]"

# Run the tests shipped in the sdist, from its unpacked tree (so paths such as
# tests/test_x.py work as arguments), with the tree's own copy of the Python
# package removed: `import lifelog_compression` (in pytest and in the child
# processes `batch` starts with `python -m`) can only find .venv-sdist's
# site-packages. test_platform.py asserts that when LIFELOG_TEST_INSTALLED is set.
tar -xzf "$sdist" -C "$work"
# Data that lives beside the checkout rather than in it (CI puts ../shared
# there; test_telemetry.py looks for it) is linked beside the unpacked tree too.
for shared in "$root/../shared" "$root/../../shared"; do
    if [ -d "$shared" ]; then ln -s "$(cd "$shared" && pwd)" "$work/shared"; break; fi
done
cd "$work"/lifelog_compression-*/
rm -rf lifelog_compression
status=0
LIFELOG_TEST_INSTALLED="$root/.venv-sdist" "$root/.venv-sdist/bin/python" -m pytest -q -p no:cacheprovider "$@" \
    || status=$?
exit $status
