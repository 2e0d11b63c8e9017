"""`gtgan config`: a preset or config file, resolved, as YAML; or every field explained."""
from __future__ import annotations

import sys


def add_config(sub) -> None:
    p = sub.add_parser("config", help="print a preset or config file, resolved, as YAML "
                                      "(--explain: every field, its range and doc)")
    p.add_argument("preset", nargs="?", help="preset name or YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--explain", action="store_true",
                   help="print the reference of every config field (docs/config.md) instead")
    p.set_defaults(func=_cmd_config)


def _cmd_config(args) -> int:
    from ..config import ConfigError, apply_overrides, config_text

    if args.explain:
        if args.preset or args.overrides:
            raise ConfigError("--explain takes no preset or --set")
        from ..config.reference import explain

        sys.stdout.write(explain())
        return 0
    if not args.preset:
        raise ConfigError("name a preset or a YAML file (or give --explain)")
    from ..presets import resolve_config

    cfg = apply_overrides(resolve_config(args.preset), args.overrides)
    sys.stdout.write(config_text(cfg))
    return 0
