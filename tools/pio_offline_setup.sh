#!/usr/bin/env bash
# Provisions PlatformIO for builds without its registry (CI): a core directory inside the build
# tree (build/pio-core) holding tool-scons, unpacked from the PyPI wheel of the SCons version the
# installed platformio requires (platformio 6.2.0: ~4.41101.0, i.e. scons==4.11.1), and the
# local dev-platforms of tools/platforms/ registered under the official names `ststm32` and
# `native` (bare metal with Debian's arm-none-eabi-gcc; host gcc). Idempotent and quick when
# done. Prints the variable to export; pio must run with it:
#     eval "$(bash tools/pio_offline_setup.sh)" && pio run
# Machines with network access need none of this (PlatformIO installs the official platforms).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORE="$ROOT/build/pio-core"
PY="${PYTHON:-$ROOT/.venv/bin/python}"

export PLATFORMIO_CORE_DIR="$CORE"
export PLATFORMIO_SETTING_ENABLE_TELEMETRY=no
export PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL=3650
"$PY" -c "import platformio" 2>/dev/null || {
    echo "pio_offline_setup: platformio missing in $PY (pip install platformio, or: make setup)" >&2
    exit 1
}
mkdir -p "$CORE"

# PlatformIO versions SCons a.b.c as a.a<bb><cc>.0: 4.41101.0 is SCons 4.11.1.
read -r SCONS_PKG_VERSION SCONS_VERSION < <("$PY" - <<'PYEOF'
try:
    from platformio.dependencies import get_core_dependencies
    pkg = get_core_dependencies()["tool-scons"].lstrip("~^=<> ")
except (ImportError, KeyError):
    pkg = "4.41101.0"
major, packed = pkg.split(".")[:2]
print(pkg, "%s.%d.%d" % (major, int(packed[1:3]), int(packed[3:5])))
PYEOF
)

# tool-scons: the SCons package of the wheel, a launcher, and PlatformIO's package metadata.
scons_dir="$CORE/packages/tool-scons"
if ! grep -qs "\"$SCONS_PKG_VERSION\"" "$scons_dir/package.json"; then
    wheels="$ROOT/build/pio-wheels"
    mkdir -p "$wheels"
    "$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        -d "$wheels" "scons==$SCONS_VERSION" >&2
    rm -rf "$scons_dir"
    "$PY" - "$wheels/scons-$SCONS_VERSION-py3-none-any.whl" "$scons_dir" "$SCONS_PKG_VERSION" <<'PYEOF'
import json, os, sys, zipfile
wheel, dest, version = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    z.extractall(dest, [n for n in z.namelist() if n.startswith("SCons/")])
with open(os.path.join(dest, "scons.py"), "w") as f:
    f.write("import os, sys\n"
            "sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n"
            "import SCons.Script\n"
            "SCons.Script.main()\n")
with open(os.path.join(dest, "package.json"), "w") as f:
    json.dump({"name": "tool-scons", "version": version, "system": "*"}, f)
with open(os.path.join(dest, ".piopm"), "w") as f:
    json.dump({"type": "tool", "name": "tool-scons", "version": version,
               "spec": {"owner": "platformio", "id": None, "name": "tool-scons",
                        "requirements": "~" + version, "uri": None}}, f)
PYEOF
fi

# Local platforms under the official names (a symlink install: edits in tools/ apply at once).
for platform in ststm32 native; do
    if [ ! -e "$CORE/platforms/$platform.pio-link" ]; then
        "$PY" -m platformio pkg install -g --skip-dependencies \
            -p "symlink://$ROOT/tools/platforms/$platform" >&2
    fi
done

echo "export PLATFORMIO_CORE_DIR=\"$CORE\" PLATFORMIO_SETTING_ENABLE_TELEMETRY=no PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL=3650"
