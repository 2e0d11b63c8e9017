"""`gtgan eval`: the registered metrics of a run, as JSON + Markdown."""
from __future__ import annotations

import argparse
import sys

from ._paths import check_count, check_seed, make_folder, output_file, say as _say


class _MetricsOption(argparse.Action):
    """--metrics, whose help names every registered metric, read from the registry only when
    the help is shown (importing the metrics package costs seconds; parsing must not)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)

    @property
    def help(self) -> str:
        from ..metrics import known_metrics

        return (f"comma list of registered metrics: {', '.join(known_metrics())} (attr, judge_fid, "
                "own_words: synthetic birds only; r_precision: a DAMSM; docs/evaluation.md; "
                "default is,fid,ssim)")

    @help.setter
    def help(self, value) -> None:  # argparse sets it; the property answers instead
        pass


def add_eval(sub) -> None:
    p = sub.add_parser("eval", help="the registered metrics of a run (IS, FID, SSIM, R-precision, "
                                    "attribute accuracy, ...), as JSON + Markdown")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a training run directory (or a model folder with --config)")
    p.add_argument("--checkpoint", metavar="DIR", help="a model folder to score instead of RUN_DIR/model")
    p.add_argument("--config", metavar="PRESET_OR_YAML", help="data set config when RUN_DIR has none")
    p.add_argument("--data-root", metavar="DIR", help="override data.root")
    p.add_argument("--split", default="test", help="split whose captions are used (default test)")
    p.add_argument("--metrics", default="is,fid,ssim", action=_MetricsOption)
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
    p.add_argument("--rp-encoder", metavar="DIR", help="r_precision's DAMSM (an encoder folder "
                   "from `gtgan encoder train`; default: the model's own text encoder if it is one)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_eval)


def _cmd_eval(args) -> int:
    # The cheap checks first: the metrics package takes seconds to import.
    check_count(args.samples, "--samples")
    check_count(args.batch_size, "--batch-size")
    check_count(args.splits, "--splits")
    check_seed(args.seed, "--seed")
    out = output_file(args.out, "--out", image=False)
    _say(make_folder(out.parent))

    from ..metrics import EvalOptions, evaluate_run, write_report
    from ..metrics.report import check_report_target

    check_report_target(args.out)  # before the evaluation: a report replaces only a report
    opts = EvalOptions(
        metrics=tuple(m.strip().lower() for m in args.metrics.split(",") if m.strip()),
        samples=args.samples, seed=args.seed, batch_size=args.batch_size, splits=args.splits,
        classifier=args.classifier, fid_features=args.fid_features,
        classifier_transform_input=not args.classifier_no_transform_input,
        allow_random_weights=args.allow_random_weights, fid_reference=args.fid_ref,
        cache_dir=args.cache_dir, progress=not args.quiet, rp_encoder=args.rp_encoder)
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    report = evaluate_run(args.run_dir, opts, split=args.split, checkpoint=args.checkpoint,
                          config=args.config, data_root=args.data_root, device=args.device, log=log)
    json_path, md_path = write_report(report, out)
    print(open(md_path).read().split("\n## ")[0].rstrip())
    print(f"wrote {json_path} and {md_path}")
    return 0
