#!/usr/bin/env bash
# Builds MicroPython 1.25 with fxlearn, cached under build/micropython/ (reruns take ~0.1 s).
#   tools/mpy_build.sh [target ...]      default: all
# targets:
#   unix         unix port with the fxlearn user C module  -> build/micropython/unix/fxlearn-micropython
#   unix-stock   unix port without it (loads the .mpy)      -> build/micropython/unix-stock/micropython
#   qemu         qemu MPS2_AN385 (Cortex-M3) with the module -> build/micropython/qemu/firmware.elf
#   qemu-stock   the same board without it                  -> build/micropython/qemu-stock/firmware.elf
#   mpy          the dynamic native module for x64 armv6m armv7m armv7emsp (+ xtensawin when
#                xtensa-esp32-elf-gcc is on PATH)  -> build/micropython/dist/<arch>/{fxlearn.mpy,
#                fxlearn_train.py, package.json}: one folder per arch, installable with
#                `mpremote mip install build/micropython/dist/<arch>/package.json`
# MicroPython source: MPY_DIR if set, else Debian trixie's source package (tools/mpy_fetch.sh).
# A target is rebuilt when an input changes: the kernel, firmware/micropython, this script or
# MPY_DIR (a different MPY_DIR starts that target's build folder afresh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/build/micropython"
MOD_DIR="$ROOT/firmware/micropython"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
mkdir -p "$OUT"

# One build at a time (parallel test sessions share the cache).
exec 9>"$OUT/.build.lock"
flock 9

MPY=$(MPY_DIR="${MPY_DIR:-}" "$ROOT/tools/mpy_fetch.sh")
# dynruntime.mk's tools need pyelftools and ar: prefer the project venv's python.
[ -x "$ROOT/.venv/bin/python" ] && export PATH="$ROOT/.venv/bin:$PATH"

# Flags for a source tree without git submodules (the Debian tarball): no btree/ssl/frozen
# micropython-lib; harmless on a full checkout.
NO_SUBMODULES=(MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0 FROZEN_MANIFEST=)
QEMU_FLAGS=(BOARD=MPS2_AN385 LDSCRIPT="$MOD_DIR/qemu/mps2.ld" MICROPY_HEAP_SIZE=1048576 FROZEN_MANIFEST=)

inputs_hash() {
    {
        echo "$MPY"
        cat "$0"
        find "$ROOT/firmware/kernel" "$MOD_DIR" -maxdepth 2 -type f \
            \( -name '*.c' -o -name '*.h' -o -name '*.mk' -o -name '*.ld' -o -name '*.py' \
               -o -name '*.cmake' -o -name Makefile \) -not -path '*/tests/*' | sort | xargs cat
    } | sha256sum | cut -d' ' -f1
}
HASH=$(inputs_hash)

# fresh <dir>: forget a build folder made from another MicroPython tree.
fresh() {
    local dir=$1
    if [ -f "$dir/.mpy_dir" ] && [ "$(cat "$dir/.mpy_dir")" != "$MPY" ]; then rm -rf "$dir"; fi
    mkdir -p "$dir"
    echo "$MPY" > "$dir/.mpy_dir"
}
up_to_date() { [ -f "$1/.inputs" ] && [ "$(cat "$1/.inputs")" = "$HASH" ] && [ -e "$2" ]; }
done_stamp() { echo "$HASH" > "$1/.inputs"; }

timed() {
    local name=$1; shift
    local t0=$SECONDS
    echo "mpy_build: $name ..." >&2
    "$@" > "$OUT/$name.log" 2>&1 || { tail -40 "$OUT/$name.log" >&2; echo "mpy_build: $name FAILED (log: $OUT/$name.log)" >&2; exit 1; }
    echo "mpy_build: $name done in $((SECONDS - t0)) s" >&2
}

build_mpy_cross() {
    [ -x "$MPY/mpy-cross/build/mpy-cross" ] || timed mpy-cross make -j"$JOBS" -C "$MPY/mpy-cross"
}

build_unix() {   # <dir> <prog> [USER_C_MODULES=...]
    local dir=$1 prog=$2; shift 2
    fresh "$dir"
    up_to_date "$dir" "$dir/$prog" && return 0
    # PROG: the module's objects go to $(BUILD)/micropython/, so the binary needs another name
    timed "$(basename "$dir")" make -j"$JOBS" -C "$MPY/ports/unix" BUILD="$dir" PROG="$prog" \
        "${NO_SUBMODULES[@]}" "$@"
    done_stamp "$dir"
}

build_qemu() {   # <dir> [USER_C_MODULES=...]
    local dir=$1; shift
    fresh "$dir"
    up_to_date "$dir" "$dir/firmware.elf" && return 0
    timed "$(basename "$dir")" make -j"$JOBS" -C "$MPY/ports/qemu" BUILD="$dir" "${QEMU_FLAGS[@]}" "$@"
    done_stamp "$dir"
}

mpy_archs() {
    local archs="x64 armv6m armv7m armv7emsp"
    command -v xtensa-esp32-elf-gcc >/dev/null 2>&1 && archs="$archs xtensawin"
    echo "$archs"
}

build_natmod() { # <arch>
    local arch=$1 dir="$OUT/natmod/$1" dist="$OUT/dist/$1"
    fresh "$dir"
    if ! up_to_date "$dir" "$dist/package.json"; then
        build_mpy_cross
        timed "natmod-$arch" make -j"$JOBS" -C "$MOD_DIR" MPY_DIR="$MPY" ARCH="$arch" OUT="$dir"
        rm -rf "$dist" && mkdir -p "$dist"
        # the .mpy plus the pure-MicroPython library (fxlearn_*.py), and a mip package.json
        cp "$dir/fxlearn.mpy" "$MOD_DIR"/fxlearn_*.py "$dist/" 2>/dev/null || cp "$dir/fxlearn.mpy" "$dist/"
        python3 - "$dist" "$ROOT/pyproject.toml" <<'PY'
import json, pathlib, re, sys
dist, pyproject = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]).read_text()
files = sorted(p.name for p in dist.iterdir() if p.suffix in (".mpy", ".py"))
version = re.search(r'^version = "(.*)"', pyproject, re.M).group(1)
(dist / "package.json").write_text(json.dumps({"urls": [[f, f] for f in files], "version": version}, indent=2) + "\n")
PY
        done_stamp "$dir"
    fi
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(all)
for t in "${targets[@]}"; do
    case $t in
        unix) build_unix "$OUT/unix" fxlearn-micropython USER_C_MODULES="$ROOT/firmware" ;;
        unix-stock) build_unix "$OUT/unix-stock" micropython ;;
        qemu) build_qemu "$OUT/qemu" USER_C_MODULES="$ROOT/firmware" ;;
        qemu-stock) build_qemu "$OUT/qemu-stock" ;;
        mpy) for a in $(mpy_archs); do build_natmod "$a"; done ;;
        mpy-*) build_natmod "${t#mpy-}" ;;
        all)
            build_unix "$OUT/unix" fxlearn-micropython USER_C_MODULES="$ROOT/firmware"
            build_unix "$OUT/unix-stock" micropython
            build_qemu "$OUT/qemu" USER_C_MODULES="$ROOT/firmware"
            build_qemu "$OUT/qemu-stock"
            for a in $(mpy_archs); do build_natmod "$a"; done ;;
        *) echo "mpy_build: unknown target $t (unix unix-stock qemu qemu-stock mpy mpy-<arch> all)" >&2; exit 2 ;;
    esac
done
