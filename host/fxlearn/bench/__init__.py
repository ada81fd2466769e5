"""Rerunnable benchmarks; each writes results/<name>.md and a PNG plot."""
