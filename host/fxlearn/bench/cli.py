"""``fxlearn bench ...``: the rerunnable benchmarks, each writing results/<name>.md and a PNG.
Adding one is one line in SUBCOMMANDS: "name": (".module", "click command attribute")."""
from __future__ import annotations

import importlib

import click

SUBCOMMANDS = {
    "rosenbrock": (".rosenbrock", "main"),
    "objectives": (".objectives", "main"),
    "training": (".training", "main"),
    "link": (".link", "main"),
    "accuracy": (".accuracy", "main"),
    "mcu": (".mcu", "main"),
    "soak": (".soak", "main"),
    "memory": (".memory", "main"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(SUBCOMMANDS))

    def get_command(self, ctx, name):
        if name in SUBCOMMANDS:
            module, attr = SUBCOMMANDS[name]
            return getattr(importlib.import_module(module, __package__), attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup)
def bench():
    """Rerunnable benchmarks (results/<name>.md + .png)."""
