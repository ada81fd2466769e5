"""The stack analysis of fxlearn.bench.memory on hand-made call graphs (the heaviest path, the
indirect-call rules, recursion), and on a real board build (slow)."""
from __future__ import annotations

import pytest

from fxlearn.bench import memory as M


def graph(frames: dict[str, int], calls: dict[str, set[str]], files=None) -> M.Graph:
    g = M.Graph(frames=dict(frames), calls={k: set(v) for k, v in calls.items()})
    g.files = files or {f: "a.c" for f in frames}
    return g


def test_heaviest_path_and_library_allowance():
    g = graph({"reset": 8, "main": 16, "a": 100, "b": 40, "c": 30},
              {"reset": {"main"}, "main": {"a", "b"}, "b": {"c", "memcpy"}})
    cost, path = M.worst_stack(g, "reset")
    # main -> b -> c -> ... : 8 + 16 + 40 + max(30, LIB_FRAME) vs 8 + 16 + 100
    assert cost == max(8 + 16 + 100, 8 + 16 + 40 + max(30, M.LIB_FRAME))
    assert path[0].startswith("reset")
    assert "memcpy" in g.library


def test_command_table_indirect_call_takes_the_heaviest_handler():
    g = graph({"x.c:fx_execute": 10, "x.c:fx_cmd_small": 5, "x.c:fx_cmd_big": 300, "other": 1000},
              {"x.c:fx_execute": {"__indirect_call"}})
    assert M.worst_stack(g, "x.c:fx_execute")[0] == 310


def test_unresolvable_indirect_call_is_bounded_by_the_largest_frame():
    g = graph({"f": 10, "g": 70}, {"f": {"__indirect_call"}}, files={"f": "a.c", "g": "b.c"})
    assert M.worst_stack(g, "f")[0] == 80 and "f" in g.unresolved


def test_recursion_is_an_error():
    g = graph({"f": 10, "g": 20}, {"f": {"g"}, "g": {"f"}})
    with pytest.raises(M.Recursion):
        M.worst_stack(g, "f")


@pytest.mark.slow
def test_smallest_board_has_a_positive_margin():
    r = M.measure("qemu_f100")
    assert r.static_total < r.ram and r.margin > 0
    assert not r.dynamic
