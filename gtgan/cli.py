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
    p.add_argument("--out", required=True, help="model folder to write (new, empty, or a model "
                   "folder to replace)")
    p.add_argument("--data-root", metavar="DIR", help=DATA_ROOT_HELP + "; stored with the model")
    p.set_defaults(func=_cmd_import)


def _cmd_import(args) -> int:
    from .storage import import_checkpoint

    out = import_checkpoint(args.generator, args.discriminators, args.out, data_root=args.data_root)
    print(f"wrote {out}")
    return 0


# ---------------------------------------------------------------- generate / interpolate
DATA_ROOT_HELP = ("CUB root holding birds/*/char-CNN-RNN-embeddings.pickle: a char-CNN-RNN "
                  "model (e.g. imported StackGAN-v2) looks captions up there")
def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="images from your own captions, as a grid PNG")
    p.add_argument("model", help="a training run directory or a model folder")
    p.add_argument("captions", nargs="+", help="one or more captions (quote each)")
    p.add_argument("-n", "--num-images", type=int, default=8, help="images per caption (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=int, default=None, help="image size, e.g. 64 or 128 (default: largest)")
    p.add_argument("-o", "--out", default="generated.png", help="grid PNG to write")
    p.add_argument("--each", metavar="DIR", help="also write every image as its own PNG into DIR")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", metavar="DIR", help=DATA_ROOT_HELP)
    p.set_defaults(func=_cmd_generate)


def _cmd_generate(args) -> int:
    from pathlib import Path

    from .fileio import atomic_save_image
    from .images import captioned_grid, tensor_to_pil
    from .pipeline import TextToImage

    pipe = TextToImage.from_pretrained(args.model, device=args.device, data_root=args.data_root)
    grid = pipe.generate_grid_tensors(args.captions, args.num_images, args.seed, args.scale)
    rows = [tensor_to_pil(row) for row in grid]
    atomic_save_image(args.out, captioned_grid(rows, [" ".join(c.split()) for c in args.captions]))
    print(f"wrote {args.out} ({len(rows)} caption(s) x {args.num_images} image(s), "
          f"{grid.shape[-1]}px, seed {args.seed})")
    if args.each:
        out_dir = Path(args.each)
        out_dir.mkdir(parents=True, exist_ok=True)
        for i, row in enumerate(rows):
            for j, im in enumerate(row):
                atomic_save_image(out_dir / f"caption{i:02d}_seed{args.seed}_{j:02d}.png", im)
        print(f"wrote {len(rows) * args.num_images} images into {out_dir}")
    return 0


def _add_interpolate(sub) -> None:
    p = sub.add_parser("interpolate", help="a strip PNG between two captions, or between two noises")
    p.add_argument("model", help="a training run directory or a model folder")
    p.add_argument("caption_a")
    p.add_argument("caption_b", nargs="?", help="second caption; without it the noise is interpolated")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seed-b", type=int, default=None, help="end noise seed (noise mode; default seed+1)")
    p.add_argument("--scale", type=int, default=None)
    p.add_argument("-o", "--out", default="interpolation.png")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", metavar="DIR", help=DATA_ROOT_HELP)
    p.set_defaults(func=_cmd_interpolate)


def _cmd_interpolate(args) -> int:
    from .fileio import atomic_save_image
    from .images import image_strip
    from .pipeline import TextToImage

    pipe = TextToImage.from_pretrained(args.model, device=args.device, data_root=args.data_root)
    if args.caption_b:
        images = pipe.interpolate_captions(args.caption_a, args.caption_b, args.steps, args.seed, args.scale)
        label = f"{args.caption_a}  ->  {args.caption_b}"
    else:
        images = pipe.interpolate_noise(args.caption_a, args.steps, args.seed, args.seed_b, args.scale)
        label = f"{args.caption_a}  (noise {args.seed} -> {args.seed_b if args.seed_b is not None else args.seed + 1})"
    atomic_save_image(args.out, image_strip(images, label[:150]))
    print(f"wrote {args.out} ({len(images)} steps)")
    return 0


# ---------------------------------------------------------------- data prepare / inspect
def _add_data(sub) -> None:
    p = sub.add_parser("data", help="prepare your own captioned images, or inspect a data root")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    pp = dsub.add_parser("prepare", help="check a folder of captioned images, write its "
                         "manifest and cache its text vectors")
    pp.add_argument("folder", help="images, each with a .txt of captions (one a line) beside it")
    pp.add_argument("--encoder", default="bow", metavar="SPEC",
                    help="bow (default) | sentence-transformers:NAME_OR_PATH")
    pp.add_argument("--split-file", help='JSON {"train": [paths], "test": [paths]}, paths '
                    "relative to FOLDER (default: a stable hash puts ~1 in 10 in test)")
    pp.add_argument("--skip-missing", action="store_true",
                    help="leave out unreadable images and bad caption files (counted) "
                    "instead of stopping")
    pp.set_defaults(func=_cmd_data_prepare)
    pi = dsub.add_parser("inspect", help="counts per split, missing and broken files, caption "
                         "statistics, and a PNG grid of example crops")
    pi.add_argument("root", nargs="?", default="", help="data root (not needed for synthetic)")
    pi.add_argument("--kind", choices=["cub", "folder", "synthetic"],
                    help="default: cub if CUB_200_2011/ is there, else folder")
    pi.add_argument("--skip-missing", action="store_true",
                    help="judge the data as training with data.skip_missing=true would")
    pi.add_argument("--out", help="write the example grid to this PNG")
    pi.add_argument("--examples", type=int, default=8)
    pi.add_argument("--quick", action="store_true", help="do not decode every image")
    pi.add_argument("--synthetic-count", type=int, default=3000)
    pi.add_argument("--synthetic-seed", type=int, default=0)
    pi.set_defaults(func=_cmd_data_inspect)


def _cmd_data_prepare(args) -> int:
    from .data.encoders import build_encoder, parse_encoder_spec
    from .data.folder import prepare_folder

    encoder = build_encoder(parse_encoder_spec(args.encoder))
    rep = prepare_folder(args.folder, encoder, args.split_file, args.skip_missing, progress=True)
    print(f"{rep['root']}: " + ", ".join(f"{s} {n:,}" for s, n in sorted(rep["splits"].items()))
          + f" images; classes by {rep['classes'][:-1]}")
    for what, n in (("skipped (unusable)", rep["skipped"]), ("not in the split file",
                    rep["not_in_split_file"]), ("empty caption lines ignored", rep["empty_lines"]),
                    ("caption lines with U+FFFD repaired", rep["fffd_lines"])):
        if n:
            print(f"  {what}: {n}")
    for _, msg in rep["problems"][:10]:
        print(f"  skipped: {msg}")
    print(f"wrote {rep['manifest']}; text vectors ({rep['encoder']['kind']}, "
          f"{rep['encoder']['dim']}-d) cached under {rep['root']}/gtgan_cache/")
    return 0


def _cmd_data_inspect(args) -> int:
    from .data.checks import inspect_data

    rep = inspect_data(args.root, args.kind, args.skip_missing, args.out, args.examples,
                       verify=not args.quick, synthetic_count=args.synthetic_count,
                       synthetic_seed=args.synthetic_seed)
    print(rep.text)
    return 0 if rep.ok else 1


# ---------------------------------------------------------------- eval
def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="IS, FID, SSIM and attribute accuracy of a run, as JSON + Markdown")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a training run directory (or a model folder with --config)")
    p.add_argument("--checkpoint", metavar="DIR", help="a model folder to score instead of RUN_DIR/model")
    p.add_argument("--config", metavar="PRESET_OR_YAML", help="data set config when RUN_DIR has none")
    p.add_argument("--data-root", metavar="DIR", help="override data.root")
    p.add_argument("--split", default="test", help="split whose captions are used (default test)")
    p.add_argument("--metrics", default="is,fid,ssim",
                   help="comma list of registered metrics, e.g. is,fid,ssim,attr,diversity (attr: "
                        "synthetic birds only; diversity: how much the noise changes a caption's "
                        "picture; an unknown name lists them all; docs/evaluation.md; default is,fid,ssim)")
    p.add_argument("--samples", type=int, default=30000, help="generated images per scale (default 30000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="FILE", help="report JSON; a .md table is written beside it")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--device", default="auto")
    p.add_argument("--splits", type=int, default=10, help="IS splits (default 10)")
    p.add_argument("--classifier", default="imagenet", metavar="SPEC",
                   help="IS classifier: imagenet | pytorch-fid[:FILE] | FILE (inception_v3 state dict, "
                        "any class count) | random")
    p.add_argument("--fid-features", default="imagenet", metavar="SPEC",
                   help="FID feature extractor, same forms as --classifier (default imagenet)")
    p.add_argument("--classifier-no-transform-input", action="store_true",
                   help="the classifier FILE expects ImageNet-normalised input as is (transform_input=False)")
    p.add_argument("--fid-ref", metavar="FILE", help="reference statistics file ({size} = image size); "
                   "made if missing, refused if made differently")
    p.add_argument("--cache-dir", metavar="DIR", help="reference statistics and attribute judges "
                   "(default $GTGAN_CACHE_DIR, else $XDG_CACHE_HOME/gtgan, else ~/.cache/gtgan)")
    p.add_argument("--allow-random-weights", action="store_true",
                   help="run without pretrained Inception weights; every number is then labelled NOT COMPARABLE")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_eval)


def _cmd_eval(args) -> int:
    from .metrics import EvalOptions, evaluate_run, write_report

    opts = EvalOptions(
        metrics=tuple(m.strip().lower() for m in args.metrics.split(",") if m.strip()),
        samples=args.samples, seed=args.seed, batch_size=args.batch_size, splits=args.splits,
        classifier=args.classifier, fid_features=args.fid_features,
        classifier_transform_input=not args.classifier_no_transform_input,
        allow_random_weights=args.allow_random_weights, fid_reference=args.fid_ref,
        cache_dir=args.cache_dir, progress=not args.quiet)
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    report = evaluate_run(args.run_dir, opts, split=args.split, checkpoint=args.checkpoint,
                          config=args.config, data_root=args.data_root, device=args.device, log=log)
    json_path, md_path = write_report(report, args.out)
    print(open(md_path).read().split("\n## ")[0].rstrip())
    print(f"wrote {json_path} and {md_path}")
    return 0


# ---------------------------------------------------------------- train
def _training_eval(cfg, device, test_set):
    """The in-training evaluation hook (run.eval_every_epochs), built by the metrics package;
    imported only when a run asks for it."""
    from .metrics import make_training_eval

    return make_training_eval(cfg, device, test_set)


def _add_train(sub) -> None:
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
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    import os

    from .config import ConfigError, apply_overrides
    from .presets import resolve_config
    from .training import resume, train

    if args.resume:
        if args.config or args.out or args.init_from:
            raise ConfigError("--resume RUN_DIR continues a run with its own config.yaml; "
                              "do not give --config, --out or --init-from with it")
        result = resume(args.resume, args.overrides, command=sys.argv, progress=not args.quiet,
                        make_eval_fn=_training_eval)
    else:
        if not args.config or not args.out:
            raise ConfigError("give --config PRESET_OR_YAML and --out RUN_DIR for a new run, "
                              "or --resume RUN_DIR to continue one")
        cfg = apply_overrides(resolve_config(args.config), args.overrides)
        result = train(cfg, args.out, command=sys.argv, progress=not args.quiet,
                       init_from=args.init_from, make_eval_fn=_training_eval)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"gtgan train: {result.message}")
    return 0


# ---------------------------------------------------------------- demo
def _add_demo(sub) -> None:
    from .demo import DEFAULT_EVAL_SAMPLES, DEFAULT_MINUTES

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
    p.add_argument("--force", action="store_true", help="replace an earlier demo folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(args.out, args.minutes, args.overrides, force=args.force,
             eval_samples=args.eval_samples, progress=not args.quiet)
    return 0


# ---------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gtgan",
        description="Gt-StackGAN text-to-image GAN: train, evaluate and generate birds from text.")
    parser.add_argument("--version", action="version", version=f"gtgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_config, _add_import, _add_generate, _add_interpolate, _add_demo, _add_data, _add_eval,
                _add_train):
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
