#!/usr/bin/env bash
# Runs tests under AddressSanitizer + UndefinedBehaviorSanitizer (docs/sanitizers.md).
#
#   bash scripts/sanitize.sh                       # the default selection below
#   bash scripts/sanitize.sh tests/test_truth.py   # any pytest arguments
#
# The tree is copied to .sanitize/src and built there with its own virtual
# environment, so the normal build in .venv stays as it is. Every process
# (pytest, the CLI children, the fuzz children) writes its sanitizer reports
# to .sanitize/logs; the script lists them at the end and fails if there are any.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bash scripts/setup.sh >/dev/null   # system packages (compiler, FFmpeg headers, ffmpeg CLI)

work="$root/.sanitize"
rm -rf "$work/src" "$work/logs"
mkdir -p "$work/src" "$work/logs"
# The tracked files as they are in the working tree (uncommitted edits included).
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$work/src"

python=${PYTHON:-python3}
[ -x "$work/venv/bin/python" ] || "$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
# -O1 keeps stack traces readable; -fno-omit-frame-pointer makes them complete.
CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -g -O1" \
LDFLAGS="-fsanitize=address,undefined" \
    "$work/venv/bin/python" -m pip install -q -c scripts/test-constraints.txt --no-build-isolation -e "$work/src[test]" \
        --config-settings editable_mode=compat

# CPython itself is not built with ASan: the runtime must be loaded first.
export LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
# Python frees memory it keeps at exit on purpose: no leak reports. Object
# allocations go through malloc, so ASan sees Python objects too. RSS is
# bounded by ASan itself (RLIMIT_AS cannot be used: ASan reserves terabytes
# of address space for its shadow memory).
export PYTHONMALLOC=malloc
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:hard_rss_limit_mb=3072:log_path=$work/logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0:log_path=$work/logs/ubsan"

if [ $# -eq 0 ]; then
    set -- tests/test_errors.py tests/test_threads.py tests/test_api_races.py tests/test_outcomes.py \
        tests/test_fuzz.py tests/test_truth.py
fi
status=0
(cd "$work/src" && "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$@") || status=$?

reports=$(ls "$work/logs" 2>/dev/null || true)
if [ -n "$reports" ]; then
    echo "sanitize: reports in $work/logs:" >&2
    for f in "$work"/logs/*; do
        echo "== $f" >&2
        grep -m1 -E "ERROR: AddressSanitizer|runtime error" "$f" >&2 || head -3 "$f" >&2
    done
    exit 1
fi
echo "sanitize: no AddressSanitizer or UndefinedBehaviorSanitizer report (pytest exit $status)" >&2
exit $status
