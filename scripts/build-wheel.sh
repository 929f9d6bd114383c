#!/usr/bin/env bash
# Builds a self-contained Linux wheel: lifelog_compression._core linked
# against a private, LGPL, decode-only FFmpeg (plus dav1d for AV1 and
# libjpeg-turbo), all built here from pinned upstream sources and grafted into
# the wheel by auditwheel. Nothing of the system's FFmpeg ends up inside.
#
# Sources come from Debian's source packages (apt checks the .dsc and its
# files against the signed Sources index); the upstream tarballs inside them
# are then checked against the SHA-256 sums pinned below. The built
# libraries are cached in .cache/wheel-deps/<versions>-<recipe hash>/, so only
# the first run compiles FFmpeg. The wheel lands in wheelhouse/.
#
#   bash scripts/build-wheel.sh              # for /usr/bin/python3 (PYTHON=... for another)
#
# Needs Debian 12 (or newer) as root or with sudo: it installs the compilers
# and tools (nasm, meson, ninja, cmake, patchelf) and a deb-src entry for apt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# Pinned: Debian source package versions and the upstream tarballs' SHA-256.
FFMPEG_DEB=7:5.1.9-0+deb12u1
FFMPEG_ORIG=ffmpeg_5.1.9.orig.tar.xz
FFMPEG_SHA256=d9b593bb2ba93d4b50f74177e0cdcd41747e708596367deed0c30348a71dd176
DAV1D_DEB=1.0.0-2+deb12u1
DAV1D_ORIG=dav1d_1.0.0.orig.tar.xz
DAV1D_SHA256=51737db7e4897e599684f873a4725176dd3c779e639411d7c4fce134bb5ebb82
LJT_DEB=1:2.1.5-2
LJT_ORIG=libjpeg-turbo_2.1.5.orig.tar.gz
LJT_SHA256=254f3642b04e309fee775123133c6464181addc150499561020312ec61c1bf7c

# What the product reads (README: the batch extension list; docs/real-files.md).
# mov: mp4 mov m4v 3gp 360 insv lrv lrf; matroska: mkv webm; mpegts: ts mts
# m2ts; mpegps: mpg mpeg; asf: wmv; raw h264/hevc/m4v/mpegvideo streams.
DEMUXERS=mov,matroska,avi,mpegts,mpegps,asf,flv,mxf,dv,h264,hevc,m4v,mpegvideo,ivf,obu,mjpeg
VIDEO_DECODERS=h264,hevc,vp8,vp9,libdav1d,mpeg1video,mpeg2video,mpeg4,h263,h263p,h263i,flv,msmpeg4v1,msmpeg4v2,msmpeg4v3,wmv1,wmv2,wmv3,vc1,mjpeg,prores,dvvideo,dnxhd,ffv1,cfhd,vp6,vp6f,vp6a,theora,rawvideo
# Audio decoders: none is needed for pictures, but avformat_find_stream_info
# decodes a little audio to fill in the stream's parameters (probe reports
# them); without the decoder it reads far ahead and warns. The Opus decoder
# needs libswresample, so that is built too.
AUDIO_DECODERS=aac,aac_latm,mp1,mp2,mp3,mp1float,mp2float,mp3float,ac3,eac3,opus,vorbis,flac,alac,wmav1,wmav2,wmapro,amrnb,amrwb,pcm_s16le,pcm_s16be,pcm_s24le,pcm_s24be,pcm_s32le,pcm_s32be,pcm_f32le,pcm_f32be,pcm_u8,pcm_alaw,pcm_mulaw,pcm_dvd,pcm_bluray,adpcm_ima_wav,dca
PARSERS=h264,hevc,vp8,vp9,av1,mpeg4video,mpegvideo,mjpeg,vc1,h263,dnxhd,dvbsub,aac,aac_latm,mpegaudio,ac3,opus,vorbis,flac,dca
BSFS=h264_mp4toannexb,hevc_mp4toannexb,extract_extradata,vp9_superframe_split,av1_frame_split,mpeg4_unpack_bframes
# https through OpenSSL 3 (Apache-2.0, which FFmpeg's configure accepts in an
# LGPL build); auditwheel grafts Debian's libssl and libcrypto. As with
# FFmpeg's own default, certificates are not verified (tls_verify=0).
# subfile: a motion photo's recording is read as a byte range of the same
# file (csrc/ffio.c; never named by the user: the whitelist is ours).
PROTOCOLS=file,subfile,http,https,tcp,tls
FFMPEG_CONFIGURE=(
    --disable-everything --disable-autodetect --disable-gpl --disable-nonfree
    --disable-programs --disable-doc --disable-avdevice --disable-avfilter --disable-postproc
    --disable-debug --disable-static --enable-shared --enable-pic
    --enable-avformat --enable-avcodec --enable-swscale --enable-swresample --enable-network
    --enable-zlib --enable-libdav1d --enable-openssl
    --enable-demuxer="$DEMUXERS" --enable-decoder="$VIDEO_DECODERS,$AUDIO_DECODERS"
    --enable-parser="$PARSERS" --enable-bsf="$BSFS" --enable-protocol="$PROTOCOLS"
)
recipe=$(printf '%s\n' "${FFMPEG_CONFIGURE[@]}" "$FFMPEG_DEB" "$DAV1D_DEB" "$LJT_DEB" | sha256sum | cut -c1-10)
cache=$root/.cache/wheel-deps
prefix=$cache/ffmpeg-5.1.9_dav1d-1.0.0_libjpeg-turbo-2.1.5-$recipe
jobs=${JOBS:-$(nproc)}
log() { echo "build-wheel: $*" >&2; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
tools="build-essential pkg-config nasm meson ninja-build cmake patchelf dpkg-dev python3-dev python3-venv zlib1g-dev libssl-dev"
missing=""
for p in $tools; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# apt-get source needs deb-src entries; Debian's images ship only deb ones.
srclist=/etc/apt/sources.list.d/lifelog-deb-src.sources
need_update=""
if ! grep -rqs '^\(Types:.*deb-src\|deb-src \)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding $srclist (deb-src for bookworm)"
    $sudo tee "$srclist" >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    need_update=1
fi
if [ -n "$missing" ] || [ -n "$need_update" ]; then
    $sudo apt-get update -qq
fi
if [ -n "$missing" ]; then
    log "installing build tools:$missing"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -f "$prefix/.complete" ]; then
    src=$cache/src
    mkdir -p "$src"
    chmod 777 "$src"   # apt's _apt user downloads into it
    fetch=()
    [ -f "$src/$FFMPEG_ORIG" ] || fetch+=("ffmpeg=$FFMPEG_DEB")
    [ -f "$src/$DAV1D_ORIG" ] || fetch+=("dav1d=$DAV1D_DEB")
    [ -f "$src/$LJT_ORIG" ] || fetch+=("libjpeg-turbo=$LJT_DEB")
    if [ ${#fetch[@]} -gt 0 ]; then
        log "downloading Debian source packages: ${fetch[*]}"
        (cd "$src" && apt-get source -qq --download-only "${fetch[@]}") \
            || { log "apt-get source failed: is $FFMPEG_DEB still in the archive? update the pins above"; exit 1; }
    fi
    (cd "$src" && sha256sum -c --quiet - <<EOF
$FFMPEG_SHA256  $FFMPEG_ORIG
$DAV1D_SHA256  $DAV1D_ORIG
$LJT_SHA256  $LJT_ORIG
EOF
    ) || { log "a source tarball does not match its pinned SHA-256"; exit 1; }

    build=$cache/build-$recipe
    rm -rf "$build" "$prefix"
    mkdir -p "$build" "$prefix"
    export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
    start=$SECONDS

    log "libjpeg-turbo ($LJT_DEB)"
    tar -xzf "$src/$LJT_ORIG" -C "$build"
    cmake -S "$build"/libjpeg-turbo-2.1.5 -B "$build/ljt" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR="$prefix/lib" -DENABLE_STATIC=OFF \
        -DWITH_TURBOJPEG=ON -DWITH_JAVA=OFF -DCMAKE_POLICY_VERSION_MINIMUM=3.5 >"$build/ljt.log" 2>&1 \
        && ninja -C "$build/ljt" -j "$jobs" install >>"$build/ljt.log" 2>&1 \
        || { tail -30 "$build/ljt.log" >&2; exit 1; }

    log "dav1d ($DAV1D_DEB)"
    tar -xJf "$src/$DAV1D_ORIG" -C "$build"
    meson setup "$build/dav1d" "$build"/dav1d-1.0.0 --prefix="$prefix" --libdir=lib --buildtype=release \
        --default-library=shared -Denable_tools=false -Denable_tests=false >"$build/dav1d.log" 2>&1 \
        && ninja -C "$build/dav1d" -j "$jobs" install >>"$build/dav1d.log" 2>&1 \
        || { tail -30 "$build/dav1d.log" >&2; exit 1; }

    log "FFmpeg ($FFMPEG_DEB), decode-only, LGPL: takes a few minutes on 2 cores"
    tar -xJf "$src/$FFMPEG_ORIG" -C "$build"
    (cd "$build"/ffmpeg-5.1.9 \
        && ./configure --prefix="$prefix" --libdir="$prefix/lib" "${FFMPEG_CONFIGURE[@]}" >"$build/ffmpeg.log" 2>&1 \
        && make -j "$jobs" >>"$build/ffmpeg.log" 2>&1 && make install >>"$build/ffmpeg.log" 2>&1) \
        || { tail -40 "$build/ffmpeg.log" >&2; exit 1; }

    # Licence texts that go into the wheel (LICENSES/ in the repo says which is which).
    mkdir -p "$prefix/licenses"
    cp "$build"/ffmpeg-5.1.9/COPYING.LGPLv2.1 "$prefix/licenses/FFmpeg-COPYING.LGPLv2.1"
    cp "$build"/ffmpeg-5.1.9/LICENSE.md "$prefix/licenses/FFmpeg-LICENSE.md"
    cp "$build"/dav1d-1.0.0/COPYING "$prefix/licenses/dav1d-COPYING"
    cp "$build"/libjpeg-turbo-2.1.5/LICENSE.md "$prefix/licenses/libjpeg-turbo-LICENSE.md"
    cp "$build"/libjpeg-turbo-2.1.5/README.ijg "$prefix/licenses/libjpeg-turbo-README.ijg"
    # Debian's libssl3 and libcrypto3 are grafted as they are: their copyright file names the licence.
    cp /usr/share/doc/libssl3/copyright "$prefix/licenses/OpenSSL-copyright"
    printf 'ffmpeg %s\ndav1d %s\nlibjpeg-turbo %s\nopenssl (libssl3, grafted) %s\nconfigure %s\n' "$FFMPEG_DEB" \
        "$DAV1D_DEB" "$LJT_DEB" "$(dpkg-query -W -f='${Version}' libssl3)" "${FFMPEG_CONFIGURE[*]}" >"$prefix/versions.txt"
    rm -rf "$build"
    touch "$prefix/.complete"
    log "libraries built in $((SECONDS - start)) s into $prefix"
else
    log "libraries cached: $prefix"
fi

# The wheel, built against the private prefix only: PKG_CONFIG_PATH puts its
# .pc files first and LIFELOG_PKG_CONFIG_LIBDIR hides the system's.
python=${PYTHON:-/usr/bin/python3}
venv=$cache/build-venv-$("$python" -c 'import sys; print(sys.implementation.cache_tag)')
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip build auditwheel==6.1.0 "setuptools>=77" wheel
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The licences travel inside the package: third_party_licenses/ is added to a
# temporary copy of the tree only, so the sdist never carries them.
tar -cf - --exclude=./.git --exclude=./.cache --exclude=./wheelhouse --exclude='./.venv*' --exclude=./build \
    --exclude='*.egg-info' --exclude=./dist . | tar -xf - -C "$work"
mkdir -p "$work/lifelog_compression/third_party_licenses"
cp "$prefix"/licenses/* "$prefix/versions.txt" LICENSES/* "$work/lifelog_compression/third_party_licenses/"
sed -i 's|^lifelog_compression = \["py.typed", "_core.pyi"\]|lifelog_compression = ["py.typed", "_core.pyi", "third_party_licenses/*"]|' \
    "$work/pyproject.toml"
grep -q third_party_licenses "$work/pyproject.toml" || { log "pyproject.toml's package-data line changed"; exit 1; }
log "building the wheel against $prefix"
(cd "$work" && PKG_CONFIG_PATH="$prefix/lib/pkgconfig" PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig" \
    "$venv/bin/python" -m build --wheel --no-isolation --outdir "$work/raw" . >"$work/build.log" 2>&1) \
    || { tail -30 "$work/build.log" >&2; exit 1; }
mkdir -p wheelhouse
LD_LIBRARY_PATH="$prefix/lib" "$venv/bin/auditwheel" repair --plat "${LIFELOG_WHEEL_PLAT:-manylinux_2_36_x86_64}" \
    --strip -w wheelhouse "$work"/raw/*.whl >"$work/repair.log" 2>&1 \
    || { cat "$work/repair.log" >&2; exit 1; }
wheel=$(ls -t wheelhouse/*.whl | head -1)
log "wheel: $wheel ($(du -k "$wheel" | cut -f1) KiB)"
