"""`fxlearn bench accuracy --quick` on a small dataset: the table, plot and raw numbers are
written, and every quantized accuracy is the integer model's."""
from __future__ import annotations

import json

import numpy as np

from fxlearn.bench import accuracy


def test_quick_bench_writes_results(tmp_path):
    res = accuracy.run(("iris",), 1, quick=True, jobs=1, progress=False, steps=(200, 60))
    accuracy.write(res, tmp_path)
    md = (tmp_path / "accuracy.md").read_text()
    assert "## iris" in md and "apot 2/2 QAT EWGS" in md and "EWGS stability" in md
    assert (tmp_path / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    raw = json.loads((tmp_path / "accuracy.json").read_text())
    cells = raw["cells"]
    assert len(cells) == len(accuracy.methods(True))
    for c in cells:
        assert 0.0 <= c["acc"] <= 1.0 and c["bytes"] > 0
        if c["mode"] != "fp32":
            # the integer model and the fake-quant model agree on (nearly) every sample
            assert c["agree"] >= 0.97
            assert c["bytes"] < next(d["bytes"] for d in cells if d["mode"] == "fp32")
    assert np.isfinite([c.get("max_delta", 0.0) for c in cells]).all()
