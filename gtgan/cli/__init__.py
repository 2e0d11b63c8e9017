"""The `gtgan` command: thin subcommands over the library, one module per command
(`cmd_*.py`, each with an `add_*(sub)` that registers its parser and handler)."""
from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import GtganError
from . import (cmd_config, cmd_data, cmd_demo, cmd_encoder, cmd_eval, cmd_generate, cmd_import,
               cmd_train)

# The order `gtgan --help` lists them in.
COMMANDS = (cmd_config.add_config, cmd_import.add_import, cmd_generate.add_generate,
            cmd_generate.add_interpolate, cmd_demo.add_demo, cmd_data.add_data, cmd_eval.add_eval,
            cmd_train.add_train, cmd_encoder.add_encoder)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gtgan",
        description="Gt-StackGAN text-to-image GAN: train, evaluate and generate birds from text.")
    parser.add_argument("--version", action="version", version=f"gtgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except GtganError as exc:
        print(f"gtgan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gtgan {args.command}: interrupted", file=sys.stderr)
        return 130
