"""`gtgan demo`: train, evaluate and report on the built-in synthetic birds."""
from __future__ import annotations

from ._paths import ArgumentError, check_count, output_dir


def add_demo(sub) -> None:
    from ..config import DEMO_EVAL_SAMPLES as DEFAULT_EVAL_SAMPLES, DEMO_MINUTES as DEFAULT_MINUTES

    p = sub.add_parser("demo", help="train, evaluate and report on built-in synthetic birds (CPU, minutes)")
    p.add_argument("--out", default="gtgan-demo", help="folder for the report (default gtgan-demo)")
    p.add_argument("--minutes", type=float, default=DEFAULT_MINUTES,
                   help=f"total time budget in minutes, preparation, evaluation and report "
                        f"included; planned from this machine's measured speed (default {DEFAULT_MINUTES:g})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override the demo preset, e.g. run.device=cuda")
    p.add_argument("--eval-samples", type=int, default=DEFAULT_EVAL_SAMPLES,
                   help=f"generated images judged per scale, at most: fewer when the machine is "
                        f"too slow for them within --minutes (default {DEFAULT_EVAL_SAMPLES})")
    p.add_argument("--rp-encoder", metavar="DIR", help="also report R-precision with this DAMSM "
                   "for the synthetic birds (`gtgan encoder train synthetic --out DIR`, ~5 min)")
    p.add_argument("--force", action="store_true", help="replace an earlier demo folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args) -> int:
    import math

    if not (math.isfinite(args.minutes) and args.minutes > 0):
        raise ArgumentError(f"--minutes {args.minutes:g}: must be a positive number")
    check_count(args.eval_samples, "--eval-samples")
    output_dir(args.out, "--out", "the demo report")

    from ..demo import run_demo

    run_demo(args.out, args.minutes, args.overrides, force=args.force,
             eval_samples=args.eval_samples, progress=not args.quiet, rp_encoder=args.rp_encoder)
    return 0
