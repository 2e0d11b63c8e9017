"""`gtgan train`: a new run, a resumed one, or a fine-tuning start."""
from __future__ import annotations

import sys

from ._paths import output_dir


def _training_eval(cfg, device, test_set):
    """The in-training evaluation hook (run.eval_every_epochs), built by the metrics package;
    imported only when a run asks for it."""
    from ..metrics import make_training_eval

    return make_training_eval(cfg, device, test_set)


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model (new run with --config/--out, or --resume RUN_DIR)",
                       description="Train into a run directory. Under `torchrun --nproc_per_node N` "
                                   "the same command trains with DistributedDataParallel "
                                   "(optim.batch_size is per process).")
    p.add_argument("--config", metavar="PRESET_OR_YAML", help="preset name or YAML file (new run)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set optim.batch_size=16 (repeatable; with "
                        "--resume only run settings such as run.max_steps may change)")
    p.add_argument("--out", metavar="RUN_DIR", help="new, empty run directory")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its latest checkpoint")
    p.add_argument("--init-from", metavar="DIR", help="start a new run from these weights (fine-tuning): "
                   "a model folder, e.g. from import-stackgan-v2 (generator and discriminators), a run "
                   "directory or a checkpoint; they must fit the config")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--skip-missing", action="store_true",
                   help="train on the listed items that exist and read, counting the rest "
                        "(sets data.skip_missing=true; a new run only)")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    if args.out:
        output_dir(args.out, "--out", "the run")  # before the imports and the config
    import os

    from ..config import ConfigError, apply_overrides
    from ..presets import resolve_config
    from ..training import resume, train
    from ..training.preflight import given_keys

    if args.resume:
        if args.config or args.out or args.init_from or args.skip_missing:
            raise ConfigError("--resume RUN_DIR continues a run with its own config.yaml "
                              "(data.skip_missing included); do not give --config, --out, "
                              "--init-from or --skip-missing with it")
        result = resume(args.resume, args.overrides, command=sys.argv, progress=not args.quiet,
                        make_eval_fn=_training_eval)
    else:
        if not args.config or not args.out:
            raise ConfigError("give --config PRESET_OR_YAML and --out RUN_DIR for a new run, "
                              "or --resume RUN_DIR to continue one")
        overrides = args.overrides + (["data.skip_missing=true"] if args.skip_missing else [])
        # Vector widths not stated follow the text encoder (decided by train, once).
        cfg = apply_overrides(resolve_config(args.config), overrides, validate=False)
        result = train(cfg, args.out, command=sys.argv, progress=not args.quiet,
                       init_from=args.init_from, make_eval_fn=_training_eval,
                       stated=given_keys(args.config, overrides))
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"gtgan train: {result.message}")
    return 0
