#!/usr/bin/env bash
# Proves the Linux wheel (scripts/build-wheel.sh) on a machine that has none of
# what the sdist needs: a minimal Debian 12 root (debootstrap minbase, then
# python3 and python3-venv only: no compiler, no libav*, no libturbojpeg).
# Inside it (chroot) the wheel is installed into a venv and runs extract,
# batch, iter_frames and probe on every fixture kind of tests/catalogue.py and
# every real file in ../shared/data; the same runs on this machine with the
# package built from source against the system FFmpeg, and the two are
# compared: same rows, same actual_ts_ms, every frame PSNR >= 45 dB, the same
# probe summaries. Also checks the wheel's build (LGPL, decoders, licences).
#
#   bash scripts/test-wheel.sh [WHEEL]      # default: the newest wheelhouse/*.whl
#
# Root (chroot, debootstrap). The minimal root is cached in
# .cache/wheel-root/bookworm (delete it to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache=$root/.cache
log() { echo "test-wheel: $*" >&2; }

wheel=${1:-$(ls -t wheelhouse/*.whl 2>/dev/null | head -1)}
[ -n "$wheel" ] && [ -f "$wheel" ] || { log "no wheel: run scripts/build-wheel.sh first"; exit 1; }
wheel=$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")
[ "$(id -u)" -eq 0 ] || { log "needs root (debootstrap, chroot)"; exit 1; }

# The mirror this machine's apt uses (Debian's own by default).
mirror=$( { grep -rhoE '^(URIs:|deb) +https?://[^ ]*/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ \
    2>/dev/null || true; } | head -1 | awk '{print $2}')
mirror=${mirror:-http://deb.debian.org/debian}

minroot=$cache/wheel-root/bookworm
if [ ! -f "$minroot/.complete" ]; then
    command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
    rm -rf "$minroot"
    mkdir -p "$minroot"
    log "debootstrap --variant=minbase bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$minroot" "$mirror" >"$cache/wheel-root/debootstrap.log" 2>&1 \
        || { tail -20 "$cache/wheel-root/debootstrap.log" >&2; exit 1; }
    chroot "$minroot" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive chroot "$minroot" apt-get install -y -qq --no-install-recommends \
        python3 python3-venv >/dev/null
    chroot "$minroot" apt-get clean
    touch "$minroot/.complete"
fi
[ "${LIFELOG_ROOT_ONLY:-}" = 1 ] && { log "root ready: $minroot"; exit 0; }
# What the wheel must not find there.
for thing in /usr/bin/cc /usr/bin/gcc /usr/bin/pkg-config; do
    [ ! -e "$minroot$thing" ] || { log "the minimal root has $thing"; exit 1; }
done
if ls "$minroot"/usr/lib/x86_64-linux-gnu/ | grep -qE '^lib(avcodec|avformat|swscale|turbojpeg|dav1d)'; then
    log "the minimal root has FFmpeg or libjpeg-turbo libraries"; exit 1
fi

# The reference: this tree built from source against the system FFmpeg (the
# sdist's path), with numpy and Pillow for the fixtures and the comparison.
host=$cache/wheel-test/host-venv
if [ ! -x "$host/bin/python" ]; then
    /usr/bin/python3 -m venv "$host"
    "$host/bin/python" -m pip install -q --upgrade pip
fi
log "reference build against the system FFmpeg"
"$host/bin/python" -m pip install -q numpy pillow
"$host/bin/python" -m pip install -q --force-reinstall --no-deps . >"$cache/wheel-test/host-install.log" 2>&1 \
    || { tail -20 "$cache/wheel-test/host-install.log" >&2; exit 1; }

run=$minroot/run
umount "$minroot/proc" 2>/dev/null || true
rm -rf "$run"
mkdir -p "$run/media" "$run/out"
trap 'umount "$minroot/proc" 2>/dev/null || true' EXIT
mount -t proc proc "$minroot/proc"

# The fixtures are made once per version of the recipe that makes them.
media=$cache/wheel-test/media-$(cat tests/catalogue.py tests/fixtures.py tests/motion_photos.py | sha256sum | cut -c1-10)
if [ ! -f "$media/.complete" ]; then
    log "making the fixtures of tests/catalogue.py"
    rm -rf "$media" && mkdir -p "$media"
    (cd tests && "$host/bin/python" - "$media" <<'EOF'
import sys
from pathlib import Path
from catalogue import CATALOGUE
from fixtures import make_clip
out = Path(sys.argv[1])
for name, spec in CATALOGUE.items():
    spec = dict(spec)
    make_clip(out / f"{name}{spec.pop('suffix')}", **spec)
# A Google motion photo of one of them: the wheel's FFmpeg reads its
# recording through the subfile protocol.
import subprocess
from motion_photos import build
still = out / "still.jpg.tmp"
subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=orange:s=96x64", "-frames:v", "1",
                "-f", "mjpeg", "-y", str(still)], check=True)
mp4 = next(p for p in sorted(out.glob("*.mp4")) if "h264" in p.name)
data, _ = build("google", still.read_bytes(), mp4.read_bytes())
(out / "PXL_motion_photo.MP.jpg").write_bytes(data)
still.unlink()
EOF
    )
    touch "$media/.complete"
fi
cp "$media"/* "$run/media/"
for data in "$root/../shared/data" "$root/../../shared/data" /work/shared/data; do
    if [ -d "$data" ]; then
        find "$data" -maxdepth 2 -type f \( -iname '*.mp4' -o -iname '*.mov' -o -iname '*.m4v' -o -iname '*.mkv' \
            -o -iname '*.webm' \) -exec cp -t "$run/media" {} +
        break
    fi
done
log "$(ls "$run/media" | wc -l) files"

log "installing $(basename "$wheel") into the minimal root"
cp "$wheel" "$run/"
cp scripts/wheel_exercise.py "$run/"
chroot "$minroot" /bin/sh -c "rm -rf /opt/wheel-venv && python3 -m venv /opt/wheel-venv \
    && /opt/wheel-venv/bin/python -m pip install -q --no-index /run/$(basename "$wheel")"

log "what the wheel's core links to, in the minimal root"
chroot "$minroot" /bin/sh -c 'ldd /opt/wheel-venv/lib/python3*/site-packages/lifelog_compression/_core*.so'
log "the wheel's FFmpeg has what the product reads (tests/test_wheel_codecs.py)"
cp tests/test_wheel_codecs.py "$run/"
failed=""   # every step runs; the script fails at the end if one did
chroot "$minroot" /bin/sh -c 'cd / && /opt/wheel-venv/bin/python /run/test_wheel_codecs.py' || failed="$failed codecs"
log "import time: the wheel (minimal root) against the system-FFmpeg build"
# Reported, and a gate only when asked for (LIFELOG_IMPORT_LIMIT_MS=15 on an
# idle machine): a timing under load says nothing about the wheel, and CI
# must not fail on one (measured idle here: 10.6 ms).
"$host/bin/python" benchmarks/import_time.py --runs 20 ${LIFELOG_IMPORT_LIMIT_MS:+--limit-ms "$LIFELOG_IMPORT_LIMIT_MS"} \
    "chroot $minroot /opt/wheel-venv/bin/python" "$host/bin/python" || failed="$failed import-time"

log "running extract, batch, iter_frames, probe in the minimal root"
chroot "$minroot" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    /bin/sh -c 'cd /run && /opt/wheel-venv/bin/python /run/wheel_exercise.py /run/media /run/out/wheel' \
    || failed="$failed exercise"
log "running the same with the system-FFmpeg build"
# From another folder: batch starts children with `python -m`, and this tree
# (no _core in it) must not shadow the installed package.
(cd "$run" && "$host/bin/python" "$root/scripts/wheel_exercise.py" "$run/media" "$run/out/system")

log "comparing"
"$host/bin/python" scripts/wheel_compare.py "$run/out/system" "$run/out/wheel" || failed="$failed comparison"
[ -z "$failed" ] || { log "FAILED:$failed"; exit 1; }
log "the wheel passed in the minimal root"
