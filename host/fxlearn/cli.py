"""The ``fxlearn`` command line. Each command lives in the module of its concept; this file
only assembles the group, so ``fxlearn --help`` lists everything."""
from __future__ import annotations

import importlib

import click

from . import __version__

# (module, attribute) of each command or sub-group, imported lazily so that `fxlearn --help`
# stays fast and a command's heavy imports are paid only when it runs.
COMMANDS = {
    "demo": (".demo", "main"),
    "mp": (".mp_cli", "mp"),
    "export-c": (".export_c", "main"),
    "info": (".device_cli", "info"),
    "upload": (".device_cli", "upload"),
    "infer": (".device_cli", "infer"),
    "train": (".device_cli", "train"),
    "validate": (".device_cli", "validate"),
    "board": (".device_cli", "board"),
    "bench": (".bench.cli", "bench"),
    "quantize": (".quantize_cli", "quantize"),
    "train-float": (".quantize_cli", "train_float"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx, name):
        if name in COMMANDS:
            module, attr = COMMANDS[name]
            return getattr(importlib.import_module(module, __package__), attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="fxlearn")
def main():
    """fxlearn: integer-only learning on microcontrollers, driven from the host."""


if __name__ == "__main__":
    main()
