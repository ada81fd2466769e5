#!/usr/bin/env bash
# Prints the path of a MicroPython 1.25 source tree, fetching it first if needed.
#  - MPY_DIR set: use that checkout as is (a user's own MicroPython, any way it was obtained).
#  - else: Debian trixie's source package `micropython` (1.25.0), unpacked once into
#    build/micropython/src/micropython-1.25.0. This machine's apt may target another release,
#    so apt reads a private sources list under build/ (the system configuration is untouched).
# The Debian tarball has no git submodules (lib/micropython-lib, mbedtls, ... are empty):
# tools/mpy_build.sh passes the flags that avoid them.
# Usage: tools/mpy_fetch.sh   (progress on stderr, the source path on stdout)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

if [ -n "${MPY_DIR:-}" ]; then
    [ -f "$MPY_DIR/py/dynruntime.mk" ] || { echo "mpy_fetch: MPY_DIR=$MPY_DIR is not a MicroPython source tree" >&2; exit 1; }
    (cd "$MPY_DIR" && pwd)
    exit 0
fi

VERSION=1.25.0
CACHE="$ROOT/build/micropython/src"
SRC="$CACHE/micropython-$VERSION"
if [ -f "$SRC/.fxlearn-unpacked" ]; then
    echo "$SRC"
    exit 0
fi

APT="$CACHE/apt"
mkdir -p "$APT/lists/partial"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb-src [signed-by=$KEYRING] http://deb.debian.org/debian trixie main" > "$APT/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$APT/sources.list" -o "Dir::Etc::sourceparts=-"
          -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache" -o "APT::Sandbox::User=root")
tarball="micropython_$VERSION+ds.orig.tar.xz"
if [ ! -f "$APT/$tarball" ]; then
    echo "mpy_fetch: downloading the Debian trixie source package micropython $VERSION" >&2
    apt-get "${apt_opts[@]}" -qq update >&2
    (cd "$APT" && apt-get "${apt_opts[@]}" -qq source --download-only "micropython=$VERSION+ds-1" >&2) \
        || (cd "$APT" && apt-get "${apt_opts[@]}" -qq source --download-only micropython >&2)
fi
[ -f "$APT/$tarball" ] || { echo "mpy_fetch: $tarball not downloaded (is trixie still serving $VERSION?)" >&2; exit 1; }
rm -rf "$SRC"
tar -C "$CACHE" -xJf "$APT/$tarball"
[ -d "$SRC" ] || mv "$CACHE"/micropython-"$VERSION"* "$SRC" 2>/dev/null || true
[ -f "$SRC/py/dynruntime.mk" ] || { echo "mpy_fetch: unexpected tarball layout" >&2; exit 1; }
touch "$SRC/.fxlearn-unpacked"
echo "$SRC"
