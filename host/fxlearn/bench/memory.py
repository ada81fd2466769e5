"""Stack and static RAM of the firmware on each STM32 board (results/memory.md).

Method. Each board's firmware (app + protocol + kernel + port, exactly `make board`) is built
again into build/memory/ with GCC's -fstack-usage and -fcallgraph-info=su: every function's
frame size (.su; any "dynamic" frame is reported) and the static call graph (.ci). The worst
stack is the heaviest path through that graph from the reset handler (which calls main), plus
the heaviest interrupt handler with its exception frame (32 bytes; 104 with the FPU context
on Cortex-M4F) — the port's interrupts share one priority, so they do not nest. Indirect calls
are resolved by the tables the code dispatches through: fx_execute -> every fx_cmd_* handler,
fx_dense_run -> every file-scope function of firmware/kernel/fx_dense*.c (input ops, fast
paths); any other indirect call -> every file-scope function of the caller's own file that does
not call back into it (row kernels, op tables); one with none is bounded by the largest frame
in the program and listed. Candidates that would close a cycle are dropped (the direct call
graph has no recursion, so a function pointer is assumed not to create one). Library functions (memcpy, memset,
strlen from newlib-nano, libgcc helpers) have no .su: each is charged LIB_FRAME bytes. A
recursive cycle would make the bound infinite and is reported as an error. Static RAM is the
ELF's .data + .noinit + .bss (arm-none-eabi-size -A); the stack gets the rest of the RAM.

    python -m fxlearn.bench.memory            # writes results/memory.md
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import click

from ..paths import source_root

BOARDS = {"qemu_f100": "Cortex-M3", "bluepill_f103c8": "Cortex-M3",
          "qemu_f405": "Cortex-M4F", "nucleo_f446re": "Cortex-M4F"}
LIB_FRAME = 64
RESET = "fx_stm32_reset"
ISRS = ("fx_stm32_usart_irq", "fx_stm32_systick_irq")
WARN = "-std=c99 -Wall -Wextra -Wconversion -Wsign-conversion -Wshadow -Werror"

NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')


@dataclass
class Graph:
    frames: dict[str, int] = field(default_factory=dict)     # defined functions -> frame bytes
    files: dict[str, str] = field(default_factory=dict)      # function -> source file
    calls: dict[str, set[str]] = field(default_factory=dict)
    dynamic: list[str] = field(default_factory=list)
    unresolved: set[str] = field(default_factory=set)        # callers of other indirect calls
    library: set[str] = field(default_factory=set)


def load_graph(obj_dir: Path) -> Graph:
    g = Graph()
    for ci in sorted(obj_dir.rglob("*.ci")):
        text = ci.read_text()
        for title, label in NODE.findall(text):
            m = re.search(r"\\n(\d+) bytes \((\w+)", label)
            if m:
                g.frames[title] = int(m[1])
                g.files[title] = label.split("\\n")[1].split(":")[0]
                if m[2] != "static":
                    g.dynamic.append(f"{title} ({m[2]})")
        for src, dst in EDGE.findall(text):
            g.calls.setdefault(src, set()).add(dst)
    return g


def short(name: str) -> str:
    return name.split(":")[-1]


def reaches(g: Graph, start: str, target: str) -> bool:
    """Whether start calls target directly or through other direct calls."""
    seen, todo = set(), [start]
    while todo:
        f = todo.pop()
        for callee in g.calls.get(f, ()):
            if callee == target:
                return True
            if callee not in seen:
                seen.add(callee)
                todo.append(callee)
    return False


def resolve_indirect(g: Graph, caller: str) -> set[str]:
    fn = short(caller)
    if fn == "fx_execute":
        return {f for f in g.frames if short(f).startswith("fx_cmd_")}
    if fn == "fx_dense_run":
        # The input ops tables (fx_dense_s8.c, fx_dense_s16.c) and the fast paths: file-scope
        # functions of the dense files, never the public entries that call fx_dense_run.
        return {f for f, path in g.files.items() if Path(path).name.startswith("fx_dense")
                and ":" in f and not reaches(g, f, caller)}
    # Function pointers the code takes point at file-scope functions of the caller's own file
    # (row kernels, op tables): take all of them that do not call back into the caller.
    here = g.files.get(caller)
    same = {f for f, path in g.files.items() if path == here and ":" in f and f != caller
            and not reaches(g, f, caller)}
    if same:
        return same
    g.unresolved.add(fn)
    return set()


class Recursion(RuntimeError):
    pass


def worst_stack(g: Graph, root: str) -> tuple[int, list[str]]:
    """(bytes, call path) of the heaviest path from root."""
    memo: dict[str, tuple[int, list[str]]] = {}
    largest = max(g.frames.values())

    def visit(f: str, stack: tuple[str, ...]) -> tuple[int, list[str]]:
        if f in stack:
            raise Recursion(f"recursion: {' -> '.join(map(short, stack + (f,)))}")
        if f in memo:
            return memo[f]
        if f not in g.frames:
            g.library.add(f)
            return LIB_FRAME, [f"{f} (library, {LIB_FRAME})"]
        best, path = 0, []
        for callee in g.calls.get(f, ()):
            if callee == "__indirect_call":
                # An indirect target already on the path would be recursion, which direct
                # calls show none of: such a candidate is not a real target here.
                options = []
                for t in sorted(resolve_indirect(g, f) - set(stack) - {f}):
                    try:
                        options.append(visit(t, stack + (f,)))
                    except Recursion:
                        continue  # a candidate that closes a cycle is not a real target here
                if options:
                    cost, sub = max(options)
                else:
                    cost, sub = largest, [f"(indirect call, <= {largest})"]
            else:
                cost, sub = visit(callee, stack + (f,))
            if cost > best:
                best, path = cost, sub
        memo[f] = (g.frames[f] + best, [f"{short(f)} ({g.frames[f]})"] + path)
        return memo[f]

    return visit(root, ())


@dataclass
class BoardMemory:
    board: str
    core: str
    ram: int
    static: dict[str, int]
    main_stack: int
    main_path: list[str]
    isr_stack: int
    isr_path: list[str]
    exception_frame: int
    dynamic: list[str]
    unresolved: list[str]
    library: list[str]

    @property
    def static_total(self) -> int:
        return sum(self.static.values())

    @property
    def stack(self) -> int:
        return self.main_stack + self.isr_stack + self.exception_frame

    @property
    def margin(self) -> int:
        return self.ram - self.static_total - self.stack


def build(board: str) -> Path:
    root = source_root()
    r = subprocess.run(["make", "-s", "-C", str(root), "board", f"BOARD={board}", "BUILD=build/memory",
                        f"WARN={WARN} -fstack-usage -fcallgraph-info=su"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise click.ClickException(f"building {board} failed:\n{r.stdout}{r.stderr}")
    return root / "build" / "memory" / "boards" / board


def ram_size(board: str) -> int:
    text = (source_root() / "boards" / board / "link.ld").read_text()
    m = re.search(r"RAM\s*\([^)]*\)\s*:\s*ORIGIN\s*=\s*\w+,\s*LENGTH\s*=\s*(\d+)([KM]?)", text)
    return int(m[1]) * {"": 1, "K": 1024, "M": 1 << 20}[m[2]]


def measure(board: str) -> BoardMemory:
    out = build(board)
    sizes = subprocess.run(["arm-none-eabi-size", "-A", str(out / "fxlearn.elf")],
                           capture_output=True, text=True, check=True).stdout
    static = {}
    for line in sizes.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in (".data", ".noinit", ".bss"):
            static[parts[0]] = int(parts[1])
    g = load_graph(out / "obj")
    main_stack, main_path = worst_stack(g, RESET)
    isr_stack, isr_path = max(worst_stack(g, isr) for isr in ISRS if isr in g.frames)
    core = BOARDS[board]
    return BoardMemory(board, core, ram_size(board), static, main_stack, main_path, isr_stack,
                       isr_path, 104 if core == "Cortex-M4F" else 32, g.dynamic,
                       sorted(g.unresolved), sorted(g.library))


def write_report(results: list[BoardMemory], path: Path) -> None:
    lines = ["# Firmware memory: static RAM and worst-case stack", "",
             "Written by `python -m fxlearn.bench.memory` (host/fxlearn/bench/memory.py; the "
             "method is in its docstring): GCC 12 `-fstack-usage -fcallgraph-info=su` on the "
             "exact `make board` build (-Os), heaviest call path from the reset handler plus the "
             "heaviest interrupt handler and its exception frame; static RAM from the ELF.", "",
             "| board | core | RAM | .data | .noinit (model store) | .bss | static | worst stack "
             "(main + ISR + frame) | free | margin |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.board} | {r.core} | {r.ram} | {r.static.get('.data', 0)} | "
                     f"{r.static.get('.noinit', 0)} | {r.static.get('.bss', 0)} | {r.static_total} | "
                     f"{r.stack} ({r.main_stack} + {r.isr_stack} + {r.exception_frame}) | "
                     f"{r.margin} | {r.margin / r.ram:.1%} of RAM |")
    lines += [""]
    for r in results:
        lines += [f"## {r.board}", "",
                  f"- worst path from reset ({r.main_stack} bytes): " + " -> ".join(r.main_path),
                  f"- worst interrupt ({r.isr_stack} bytes): " + " -> ".join(r.isr_path),
                  f"- dynamic or bounded frames: {', '.join(r.dynamic) or 'none'}",
                  f"- indirect calls bounded by the largest frame: {', '.join(r.unresolved) or 'none'}",
                  f"- library calls charged {LIB_FRAME} bytes each: {', '.join(r.library) or 'none'}",
                  ""]
    path.write_text("\n".join(lines))


@click.command()
@click.option("--board", "boards", multiple=True, default=list(BOARDS), show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None)
def main(boards, out):
    """Static RAM and worst-case stack per board (results/memory.md)."""
    results = [measure(b) for b in boards]
    for r in results:
        click.echo(f"{r.board}: static {r.static_total} + stack {r.stack} of {r.ram} "
                   f"-> margin {r.margin} bytes")
    out = out or source_root() / "results" / "memory.md"
    write_report(results, out)
    click.echo(f"wrote {out}")
    if any(r.margin < 0 for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
