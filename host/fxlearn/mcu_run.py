"""Run compiled Cortex-M code on the host and count its instructions: the kernel cross-compiled
with arm-none-eabi-gcc into a bare ELF (firmware/bench/bench.ld), executed function by function
in the unicorn engine (UC_MODE_THUMB | UC_MODE_MCLASS, the Cortex-M4 or Cortex-M3 CPU model).

The count is exact and deterministic: every executed Thumb instruction (including the ones an
IT block skips), from the first instruction of the called function to its return, callees and
libgcc helpers included. Unicorn models no caches, wait states or pipeline, so this is an
instruction count, not a cycle count.

    mcu = Mcu(build_elf("cm4"), "cm4")
    x = mcu.put(np.arange(-32, 32, dtype=np.int16))
    result = mcu.call("fx_relu_s16", x, 64)        # Call(r0, r1, s0, instructions, stack, profile)
    dense_forward(mcu, ...)                         # one fx_dense_* call on a layer built in its RAM

Counts are equal to those of QEMU -icount firmware reading TIM2 (tests/test_mcu.py checks it).

Notes (checked with unicorn 2.1): the FPU of the M-class models is usable at reset (VFP code
runs without a CPACR write), and the models execute DSP and VFP instructions even as a
Cortex-M3: only the compiler flags keep them out of an M3 build, so build_elf checks the M3
image for DSP/VFP instructions (objdump) instead of trusting the emulator.
"""
from __future__ import annotations

import bisect
import fcntl
import hashlib
import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .paths import source_root

FLASH_BASE, FLASH_SIZE = 0x08000000, 0x00100000
RAM_BASE, RAM_SIZE = 0x20000000, 0x00040000        # generous: RAM use is measured, not limited
RETURN_ADDR = 0x0FFFF000                           # LR of every call: a page of its own
STACK_PAINT = 0xA5A5A5A5
STACK_BYTES = 0x8000

WARN = ["-std=c99", "-Wall", "-Wextra", "-Wconversion", "-Wsign-conversion", "-Wshadow", "-Werror"]
# Same CPU flags as the Makefile's cross build (CM4_FLAGS, CM3_FLAGS).
TARGETS = {
    "cm4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cm3": ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"],
}
DEFAULT_OPT = "-O2"


def _uc():
    import unicorn
    from unicorn import arm_const
    return unicorn, arm_const


def kernel_sources(root: Path | None = None) -> list[Path]:
    root = root or source_root()
    return sorted((root / "firmware" / "kernel").glob("*.c"))


def _headers(include_dirs) -> list[Path]:
    return sorted(h for d in include_dirs for h in Path(d).glob("*.h"))


def _stale(target: Path, inputs, digest: str) -> bool:
    stamp = target.with_suffix(target.suffix + ".sha256")
    if not target.exists() or not stamp.exists() or stamp.read_text() != digest:
        return True
    built = target.stat().st_mtime
    return any(p.stat().st_mtime > built for p in inputs)


def _run(cmd, target: Path, digest: str, cwd: Path) -> None:
    subprocess.run(cmd, check=True, cwd=cwd)
    target.with_suffix(target.suffix + ".sha256").write_text(digest)


def compile_objects(target: str, out: Path, sources, defines=(), opt: str = DEFAULT_OPT, include_dirs=(),
                    cflags=()) -> list[Path]:
    """Compile each source into out/obj/<its path under the source tree>.o (when stale)."""
    root = source_root()
    incs = [root / "firmware" / "kernel", root / "firmware" / "bench", *map(Path, include_dirs)]
    flags = ([*TARGETS[target], *WARN, opt, "-g", "-ffunction-sections", "-fdata-sections", *cflags]
             + [f"-D{d}" for d in defines] + [f"-I{d}" for d in incs])
    digest = hashlib.sha256(" ".join(flags).encode()).hexdigest()
    headers = _headers(incs)
    objects = []
    for src in map(Path, sources):
        rel = src.resolve().relative_to(root.resolve()) if src.resolve().is_relative_to(root.resolve()) \
            else Path("ext") / src.name
        obj = out / "obj" / rel.with_suffix(".o")
        obj.parent.mkdir(parents=True, exist_ok=True)
        if _stale(obj, [src, *headers], digest):
            _run(["arm-none-eabi-gcc", *flags, "-c", "-o", str(obj), str(src)], obj, digest, root)
        objects.append(obj)
    return objects


def build_elf(target: str, name: str = "kernel", sources=(), defines=(), opt: str = DEFAULT_OPT,
              include_dirs=(), gc_sections: bool = False, cflags=(), roots=()) -> Path:
    """Compile the kernel plus `sources` for `target` ("cm4" or "cm3") and link them into
    build/mcu/<target>-<name>/bench.elf (+ bench.map); objects, then the link, are redone when a
    source, header or flag changes; a file lock serialises concurrent builds. Without gc_sections
    every kernel routine stays linked, so any of them can be called; with it, only what the
    `roots` symbols need. Returns the ELF path."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: {sorted(TARGETS)}")
    root = source_root()
    out = root / "build" / "mcu" / f"{target}-{name}"
    elf = out / "bench.elf"
    script = root / "firmware" / "bench" / "bench.ld"
    out.mkdir(parents=True, exist_ok=True)
    with open(root / "build" / ".mcu.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        objects = compile_objects(target, out, kernel_sources(root) + [Path(s) for s in sources], defines, opt,
                                  include_dirs, cflags)
        link = (["arm-none-eabi-gcc", *TARGETS[target], "-T", str(script), "-nostdlib", "-nostartfiles",
                 *(["-Wl,--gc-sections"] if gc_sections else []), *[f"-Wl,--undefined={r}" for r in roots],
                 f"-Wl,-Map={out / 'bench.map'}"]
                + [str(o) for o in objects]
                + ["-Wl,--start-group", "-lc_nano", "-lm", "-lgcc", "-Wl,--end-group", "-o", str(elf)])
        digest = hashlib.sha256(" ".join(link).encode()).hexdigest()
        if _stale(elf, [*objects, script], digest):
            subprocess.run(link, check=True, cwd=root)
            if target == "cm3":
                _check_no_m4_instructions(elf)
            elf.with_suffix(".elf.sha256").write_text(digest)
    return elf


# Thumb-2 mnemonics an ARMv7-M (Cortex-M3) core does not have: the DSP extension and the FPU.
_M4_ONLY = re.compile(r"\t(smla(d|ld|bb|bt|tb|tt|wb|wt|lbb|lbt|ltb|ltt)x?|smls(d|ld)x?|smm(la|ls|ul)r?|"
                      r"smu(ad|sd)x?|smul(bb|bt|tb|tt|wb|wt)|[su]xtab16|[su]xtb16|pkh(bt|tb)|"
                      r"(q|s|u|sh|uh|uq)(add|sub|asx|sax)(16|8)?|qd(add|sub)|sel|[su]sat16|usada?8|v[a-z]+)[\t ]")


def _check_no_m4_instructions(elf: Path) -> None:
    """The emulator would run DSP/VFP instructions in a Cortex-M3 model: refuse such an image."""
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], check=True, capture_output=True,
                         text=True).stdout
    bad = [line.strip() for line in dis.splitlines() if _M4_ONLY.search(line)]
    if bad:
        raise RuntimeError(f"{elf}: Cortex-M3 image contains DSP/FPU instructions, e.g. {bad[:3]}")


def symbols(elf: Path) -> tuple[dict[str, tuple[int, int]], list[tuple[int, int, str]]]:
    """({name: (address, size)} of the ELF's functions and objects, a global definition winning
    over a local one of the same name; [(address, size, name)] of every function). Function
    addresses have the Thumb bit cleared."""
    from elftools.elf.elffile import ELFFile
    names, functions = {}, []
    with open(elf, "rb") as f:
        for sym in ELFFile(f).get_section_by_name(".symtab").iter_symbols():
            kind = sym["st_info"]["type"]
            if not sym.name or kind not in ("STT_FUNC", "STT_OBJECT"):
                continue
            addr = sym["st_value"] & ~1 if kind == "STT_FUNC" else sym["st_value"]
            if kind == "STT_FUNC":
                functions.append((addr, sym["st_size"], sym.name))
            if sym.name not in names or sym["st_info"]["bind"] == "STB_GLOBAL":
                names[sym.name] = (addr, sym["st_size"])
    return names, sorted(functions)


@dataclass
class Call:
    r0: int                  # return registers (r0, r1 as unsigned 32-bit)
    r1: int
    s0: float                # float return (hard-float ABI)
    instructions: int
    stack: int               # peak stack bytes of the call (painted-stack high-water mark)
    profile: dict | None = None   # instructions per function (call(..., profile=True))

    @property
    def i32(self) -> int:
        return self.r0 - (1 << 32) if self.r0 & 0x80000000 else self.r0


class Mcu:
    """One emulated Cortex-M core with an ELF loaded: a bump allocator over RAM above the
    image, and call() to run a function to its return."""

    def __init__(self, elf: Path, target: str):
        unicorn, arm = _uc()
        from elftools.elf.elffile import ELFFile
        self.arm, self.target, self.elf = arm, target, Path(elf)
        self.syms, functions = symbols(self.elf)
        model = {"cm4": arm.UC_CPU_ARM_CORTEX_M4, "cm3": arm.UC_CPU_ARM_CORTEX_M3}[target]
        uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB | unicorn.UC_MODE_MCLASS)
        uc.ctl_set_cpu_model(model)
        uc.mem_map(FLASH_BASE, FLASH_SIZE)
        uc.mem_map(RAM_BASE, RAM_SIZE)
        uc.mem_map(RETURN_ADDR, 0x1000)
        top = RAM_BASE
        with open(self.elf, "rb") as f:
            elf_file = ELFFile(f)
            for seg in elf_file.iter_segments():
                if seg["p_type"] == "PT_LOAD" and seg["p_memsz"]:
                    data = seg.data()
                    uc.mem_write(seg["p_vaddr"], data + bytes(seg["p_memsz"] - len(data)))
                    if seg["p_vaddr"] >= RAM_BASE:
                        top = max(top, seg["p_vaddr"] + seg["p_memsz"])
        self.uc = uc
        self.heap_base = (top + 7) & ~7
        self.heap = self.heap_base
        self.stack_top = RAM_BASE + RAM_SIZE
        self.count = 0
        self._block_len: dict[tuple[int, int], int] = {}
        self._functions = [(a, n) for a, sz, n in functions if sz]
        self._starts = [a for a, _ in self._functions]
        self._profile: dict[str, int] | None = None
        uc.hook_add(unicorn.UC_HOOK_BLOCK, self._on_block)

    # -- memory ------------------------------------------------------------------------------
    def alloc(self, nbytes: int, align: int = 8) -> int:
        addr = (self.heap + align - 1) & ~(align - 1)
        if addr + nbytes > self.stack_top - STACK_BYTES:
            raise MemoryError("emulated RAM exhausted")
        self.heap = addr + nbytes
        return addr

    def reset_heap(self) -> None:
        self.heap = self.heap_base

    def write(self, addr: int, data: bytes) -> None:
        self.uc.mem_write(addr, bytes(data))

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(addr, n))

    def put(self, data, align: int = 8) -> int:
        """Copy bytes or a numpy array (its dtype's little-endian bytes) into RAM; its address."""
        raw = np.ascontiguousarray(data).tobytes() if isinstance(data, np.ndarray) else bytes(data)
        addr = self.alloc(max(len(raw), 1), align)
        self.write(addr, raw)
        return addr

    def get(self, addr: int, dtype, n: int) -> np.ndarray:
        dt = np.dtype(dtype)
        return np.frombuffer(self.read(addr, dt.itemsize * n), dtype=dt).copy()

    def addr(self, name: str) -> int:
        return self.syms[name][0]

    # -- execution ---------------------------------------------------------------------------
    def _on_block(self, uc, address, size, user_data):
        """Counts a translation block's instructions: a Thumb halfword whose top five bits are
        0b11101, 0b11110 or 0b11111 starts a 32-bit instruction (cached per block)."""
        key = (address, size)
        n = self._block_len.get(key)
        if n is None:
            code = bytes(uc.mem_read(address, size))
            n, i = 0, 0
            while i < size:
                hw = code[i] | (code[i + 1] << 8)
                i += 4 if (hw >> 11) in (0b11101, 0b11110, 0b11111) else 2
                n += 1
            self._block_len[key] = n
        self.count += n
        if self._profile is not None:
            name = self._functions[bisect.bisect_right(self._starts, address) - 1][1]
            self._profile[name] = self._profile.get(name, 0) + n

    def call(self, fn: str | int, *args: int, max_instructions: int = 200_000_000, profile: bool = False) -> Call:
        """Run fn(args) (integers / addresses; AAPCS: four in r0-r3, the rest on the stack) to
        its return. Instructions are counted from fn's first instruction up to its return;
        profile: also per function (by the symbol containing each executed block)."""
        arm, uc = self.arm, self.uc
        entry = self.addr(fn) if isinstance(fn, str) else fn
        words = [int(a) & 0xFFFFFFFF for a in args]
        stack_args = words[4:]
        sp = (self.stack_top - 4 * len(stack_args)) & ~7
        uc.mem_write(self.stack_top - STACK_BYTES, struct.pack("<I", STACK_PAINT) * (STACK_BYTES // 4))
        if stack_args:
            uc.mem_write(sp, struct.pack(f"<{len(stack_args)}I", *stack_args))
        for reg, w in zip((arm.UC_ARM_REG_R0, arm.UC_ARM_REG_R1, arm.UC_ARM_REG_R2, arm.UC_ARM_REG_R3), words):
            uc.reg_write(reg, w)
        uc.reg_write(arm.UC_ARM_REG_SP, sp)
        uc.reg_write(arm.UC_ARM_REG_LR, RETURN_ADDR | 1)
        self.count = 0
        self._profile = {} if profile else None
        uc.emu_start(entry | 1, RETURN_ADDR, count=max_instructions)
        pc = uc.reg_read(arm.UC_ARM_REG_PC)
        if pc != RETURN_ADDR:
            raise RuntimeError(f"{fn}: stopped at 0x{pc:08x} without returning "
                               f"(more than {max_instructions} instructions?)")
        painted = self.read(self.stack_top - STACK_BYTES, STACK_BYTES)
        used = STACK_BYTES
        paint = struct.pack("<I", STACK_PAINT)
        for off in range(0, STACK_BYTES, 4):
            if painted[off:off + 4] != paint:
                used = STACK_BYTES - off
                break
        else:
            used = 0
        s0 = struct.unpack("<f", struct.pack("<I", uc.reg_read(arm.UC_ARM_REG_S0) & 0xFFFFFFFF))[0] \
            if self.target == "cm4" else float("nan")
        return Call(uc.reg_read(arm.UC_ARM_REG_R0), uc.reg_read(arm.UC_ARM_REG_R1), s0, self.count,
                    max(0, used - (self.stack_top - sp)), self._profile)


# fx_dense_layer on 32-bit ARM: format, bits, in, out, weights, bias, mult, shift, n_scale,
# act_min, act_max (every field 4 bytes, no padding).
DENSE_LAYER = struct.Struct("<iiIIIIIIIii")
_INT_DTYPE = {8: np.int8, 16: np.int16}


@dataclass
class DenseRun:
    status: int
    y: np.ndarray            # int64 copy of the output buffer
    instructions: int        # of the whole fx_dense_* call
    stack: int


def dense_forward(mcu: Mcu, fmt: int, bits: int, weight, bias, mult, shift, act_min: int, act_max: int,
                  x, in_bits: int = 16, out_bits: int = 16, offsets: dict | None = None) -> DenseRun:
    """One fx_dense_s16 / _s16_s8 / _s8 / _s8_s16 call on the emulated core for one input vector,
    the layer built in its RAM like dense.CDenseLayer. offsets (bytes, e.g. {"x": 2}) shift the
    x, y or weight buffers off 4-byte alignment. The heap is reset first."""
    from . import dense, quant
    offsets = offsets or {}
    weight = np.atleast_2d(np.asarray(weight, dtype=np.int64))
    n_out, n_in = weight.shape
    mult, shift = np.atleast_1d(mult), np.atleast_1d(shift)
    mcu.reset_heap()

    def place(data: bytes, key: str) -> int:
        return mcu.put(bytes(offsets.get(key, 0)) + data, align=8) + offsets.get(key, 0)

    w_addr = place(quant.weight_bytes(weight, fmt, bits).tobytes(), "w")
    layer = DENSE_LAYER.pack(fmt, bits, n_in, n_out, w_addr, mcu.put(np.asarray(bias, dtype="<i4")),
                             mcu.put(np.asarray(mult, dtype="<i4")), mcu.put(np.asarray(shift, dtype="<i4")),
                             len(mult), act_min, act_max)
    x_addr = place(np.asarray(x, dtype=_INT_DTYPE[in_bits]).tobytes(), "x")
    y_addr = place(bytes(n_out * out_bits // 8), "y")
    call = mcu.call(dense.FORWARD[(in_bits, out_bits)], mcu.put(layer), x_addr, y_addr)
    y = mcu.get(y_addr, _INT_DTYPE[out_bits], n_out).astype(np.int64)
    return DenseRun(call.i32, y, call.instructions, call.stack)


def elf_size(elf: Path) -> dict[str, int]:
    """arm-none-eabi-size (Berkeley) of an ELF or object: text, data, bss."""
    out = subprocess.run(["arm-none-eabi-size", str(elf)], check=True, capture_output=True, text=True).stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return {"text": text, "data": data, "bss": bss}
