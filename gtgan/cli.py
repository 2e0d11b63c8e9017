"""The `gtgan` command: thin subcommands over the library. Each `_add_*` registers one."""
from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import GtganError


# ---------------------------------------------------------------- config
def _add_config(sub) -> None:
    p = sub.add_parser("config", help="print a preset or config file, resolved, as YAML")
    p.add_argument("preset", help="preset name or YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=_cmd_config)


def _cmd_config(args) -> int:
    import yaml

    from .config import apply_overrides, to_dict
    from .presets import resolve_config

    cfg = apply_overrides(resolve_config(args.preset), args.overrides)
    sys.stdout.write(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return 0


# ---------------------------------------------------------------- import-stackgan-v2
def _add_import(sub) -> None:
    p = sub.add_parser("import-stackgan-v2",
                       help="convert an official StackGAN-v2 checkpoint into a gtgan model folder")
    p.add_argument("generator", help="netG_*.pth saved by the official code (torch.save of a state dict)")
    p.add_argument("--discriminators", nargs="*", default=[], metavar="netD*.pth",
                   help="official netD0.pth, netD1.pth, ... (optional)")
    p.add_argument("--out", required=True, help="model folder to write")
    p.set_defaults(func=_cmd_import)


def _cmd_import(args) -> int:
    from .stackgan_v2 import import_checkpoint

    out = import_checkpoint(args.generator, args.discriminators, args.out)
    print(f"wrote {out}")
    return 0


# ---------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gtgan",
        description="Gt-StackGAN text-to-image GAN: train, evaluate and generate birds from text.")
    parser.add_argument("--version", action="version", version=f"gtgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_config, _add_import):
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


if __name__ == "__main__":
    sys.exit(main())
