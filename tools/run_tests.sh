#!/usr/bin/env bash
# The full test suite, as CI runs it (after tools/setup.sh). Extra arguments go to pytest.
#  1. kernel builds warning-free for x86-64, Cortex-M4F and Cortex-M3 (and reports sizes);
#  2. pytest: unit, bit-exactness C vs Python, virtual-board and emulator suites;
#  3. the kernel bit-exactness tests again against the sanitizer build of the kernel;
#  4. the protocol codec and HIL tests against sanitizer builds of the codec and virtual board.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

make -s lib lib-asan cross firmware firmware-asan firmware-cross
make -s size

echo "== pytest (native kernel)"
$PY -m pytest -q "$@"

echo "== pytest (kernel under -fsanitize=address,undefined)"
ASAN_LIB=$(gcc -print-file-name=libasan.so)
UBSAN_LIB=$(gcc -print-file-name=libubsan.so)
FXLEARN_KERNEL_LIB=build/asan/libfxkernel.so \
LD_PRELOAD="$ASAN_LIB $UBSAN_LIB" \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    $PY -m pytest -q -m kernel -p no:cacheprovider

echo "== pytest (protocol codec and virtual board under -fsanitize=address,undefined)"
FXLEARN_PROTO_LIB=build/native-board/libfxproto-asan.so \
FXLEARN_NATIVE_BOARD=build/native-board/fxboard-asan \
LD_PRELOAD="$ASAN_LIB $UBSAN_LIB" \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    $PY -m pytest -q tests/test_protocol.py tests/hil -p no:cacheprovider

echo "== fuzzing the device-side parsers (docs/reliability.md; FXLEARN_FUZZ_SECONDS per target, default 30)"
tools/fuzz.sh

echo "== hardware-in-the-loop suite on the emulated boards (docs/boards.md)"
for board in qemu_f405 qemu_f100 qemu_rv32; do
    echo "-- $board"
    FXLEARN_BOARD=$board $PY -m pytest -q -p fxlearn.emulator tests/hil -p no:cacheprovider
done
# every emulator the tests started must be gone (2-core CI machine)
if pgrep -af "qemu-system-.*/build/(boards|pio)/"; then
    echo "emulators left running (above)" >&2
    exit 1
fi
