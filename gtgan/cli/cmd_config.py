"""`gtgan config`: a preset or config file, resolved, as YAML."""
from __future__ import annotations

import sys


def add_config(sub) -> None:
    p = sub.add_parser("config", help="print a preset or config file, resolved, as YAML")
    p.add_argument("preset", help="preset name or YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=_cmd_config)


def _cmd_config(args) -> int:
    import yaml

    from ..config import apply_overrides, to_dict
    from ..presets import resolve_config

    cfg = apply_overrides(resolve_config(args.preset), args.overrides)
    sys.stdout.write(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return 0
