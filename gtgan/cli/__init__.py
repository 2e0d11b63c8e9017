"""The `gtgan` command: thin subcommands over the library, one module per command
(`cmd_*.py`, each with an `add_*(sub)` that registers its parser and handler)."""
from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..errors import GtganError
from ._console import notices
from . import (cmd_config, cmd_data, cmd_demo, cmd_encoder, cmd_eval, cmd_generate, cmd_import,
               cmd_serve, cmd_train)

# The order `gtgan --help` lists them in.
COMMANDS = (cmd_config.add_config, cmd_import.add_import, cmd_generate.add_generate,
            cmd_generate.add_interpolate, cmd_demo.add_demo, cmd_data.add_data, cmd_eval.add_eval,
            cmd_train.add_train, cmd_encoder.add_encoder, cmd_serve.add_serve)


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
    command = " ".join(filter(None, (args.command, getattr(args, "data_command", None),
                                     getattr(args, "encoder_command", None))))
    try:
        with notices(command):
            return int(args.func(args) or 0)
    except GtganError as exc:
        print(f"gtgan {command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gtgan {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last resort: one line, never a traceback (GTGAN_DEBUG=1 shows it)
        if os.environ.get("GTGAN_DEBUG", "") not in ("", "0"):
            raise
        return _last_resort(command, exc)


def _one_line(exc: GtganError) -> str:
    """The message; raised in a DataLoader worker, torch re-raises it with the worker's
    traceback appended, whose last line is the original message."""
    from ..fileio import MAX_MESSAGE, cut

    text = str(exc)
    if "\nOriginal Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = last.split(": ", 1)[1] if last.startswith(("gtgan.", type(exc).__name__)) else last
    return cut(text, MAX_MESSAGE)  # bounded, whatever it quotes


def _last_resort(command: str, exc: Exception) -> int:
    """OS errors (permissions, space, paths) name the path: exit 2, like other bad input.
    Anything else is a bug of gtgan's: exit 70 (EX_SOFTWARE), with how to see the traceback."""
    from ._paths import os_error_text

    if isinstance(exc, OSError):
        print(f"gtgan {command}: error: {os_error_text(exc)}", file=sys.stderr)
        return 2
    if isinstance(exc, MemoryError):
        print(f"gtgan {command}: error: out of memory; ask for less at once (fewer images, a "
              f"smaller batch)", file=sys.stderr)
        return 2
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    print(f"gtgan {command}: error: {type(exc).__name__}: {first}; this is a bug; rerun with "
          f"GTGAN_DEBUG=1 for the traceback", file=sys.stderr)
    return 70
