"""Flash and RAM of a linked firmware by component (kernel, protocol, app, port, C library),
read from the GNU ld map file that ``make board`` writes next to the ELF.

    python -m fxlearn.fwsize build/boards/*/fxlearn.map
    python -m fxlearn.fwsize --files build/boards/qemu_f405/fxlearn.map   # flash per source
"""
from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

COMPONENTS = ("kernel", "protocol", "app", "port", "libc")
FLASH_SECTIONS = {".isr_vector", ".text", ".rodata", ".ARM.exidx", ".data"}  # .data: its image
RAM_SECTIONS = {".data", ".noinit", ".bss"}

_OUTPUT = re.compile(r"^(\.[\w.]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+")
_INPUT = re.compile(r"^ (?:\S+)?\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)$")


def component(obj: str) -> str:
    for name in ("kernel", "protocol", "app"):
        if f"firmware/{name}/" in obj:
            return name
    if "firmware/ports/" in obj:
        return "port"
    if obj.endswith(")") or ".a(" in obj or obj.endswith(".a"):
        return "libc"  # archive members: newlib-nano, libgcc
    raise ValueError(f"object of unknown origin in map: {obj}")


def source_file(obj: str) -> str:
    """The source a map's object came from: firmware/kernel/fx_dense.c, or the archive member."""
    match = re.search(r"(firmware/.+\.[cS])\.o$", obj)
    return match.group(1) if match else obj.rsplit("/", 1)[-1]


def map_sizes(map_path: str | Path, key=component) -> dict[str, dict[str, int]]:
    """{"flash": {component: bytes}, "ram": {component: bytes}} of the sections kept;
    key=source_file splits by source file instead of by component."""
    sizes = {"flash": defaultdict(int), "ram": defaultdict(int)}
    text = Path(map_path).read_text()
    if "Linker script and memory map" not in text:
        raise ValueError(f"{map_path} is not a GNU ld map file")
    section = None
    pending = None  # an input-section name on its own line; its numbers follow
    for line in text.split("Linker script and memory map", 1)[1].splitlines():
        out = _OUTPUT.match(line)
        if out or (line[:1] == "." and len(line.split()) == 1):
            section = (out.group(1) if out else line.strip())
            pending = None
            continue
        if pending is not None:
            line, pending = " " + pending + line, None
        elif re.fullmatch(r" \.\S+", line) or re.fullmatch(r" COMMON", line):
            pending = line.strip()
            continue
        m = _INPUT.match(line)
        if not m or section is None:
            continue
        size, obj = int(m.group(1), 16), m.group(2)
        if size == 0 or "*fill*" in line:
            continue
        if section in FLASH_SECTIONS:
            sizes["flash"][key(obj)] += size
        if section in RAM_SECTIONS:
            sizes["ram"][key(obj)] += size
    return {k: dict(v) for k, v in sizes.items()}


def main(argv: list[str]) -> None:
    if argv[:1] == ["--files"]:
        for path in argv[1:]:
            flash = map_sizes(path, key=source_file)["flash"]
            print(path)
            for name, size in sorted(flash.items(), key=lambda kv: -kv[1]):
                print(f"  {size:7d}  {name}")
        return
    print(f"{'firmware':42s} {'':5s}" + "".join(f"{c:>9s}" for c in COMPONENTS) + f"{'total':>9s}")
    for path in argv:
        sizes = map_sizes(path)
        for kind in ("flash", "ram"):
            row = sizes[kind]
            cells = "".join(f"{row.get(c, 0):9d}" for c in COMPONENTS)
            name = str(Path(path).with_suffix(".elf")) if kind == "flash" else ""
            print(f"{name:42s} {kind:5s}{cells}{sum(row.values()):9d}")


if __name__ == "__main__":
    main(sys.argv[1:])
