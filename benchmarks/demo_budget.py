"""What the demo's time plan assumes, measured: evaluation cost per sample, in units of one
generator pass at every scale (gtgan.demo.EVAL_COST_PER_SAMPLE), and the fixed part.

It trains the demo preset for a couple of steps (random-ish weights: the cost does not depend
on them), measures generation speed the way the demo does (`measure_generation`), then times
the demo's evaluation (its metrics, a warm judge cache) at two sample counts. The slope gives
the cost per sample, the intercept the fixed part. Compare with the constants in
gtgan/demo.py and refit them when the evaluation changes.

    python benchmarks/demo_budget.py [--samples 100,300] [--threads N]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, machine_lines, make_parser, setup_torch  # noqa: E402

from gtgan.demo import (EVAL_COST_PER_SAMPLE, EVAL_FIXED_PASSES, EVAL_FIXED_S, EVAL_METRICS,  # noqa: E402
                        demo_config, measure_generation, prepare_evaluation)
from gtgan.metrics import EvalOptions, evaluate_run  # noqa: E402
from gtgan.training import train  # noqa: E402


def main() -> None:
    p = make_parser(__doc__.splitlines()[0])
    p.add_argument("--samples", default="100,300", help="two sample counts to time")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="demo preset override (repeatable)")
    args = p.parse_args()
    setup_torch(args.threads)
    import torch

    print(machine_lines(machine_info(torch.device("cpu"))))
    counts = [int(x) for x in args.samples.split(",")][:2]
    if args.quick:
        counts = [8, 16]
    cfg = demo_config(15, ["run.max_steps=2", "run.sample_every=0", "run.checkpoint_every=0",
                           "optim.stage_warmup_fraction=0"] + args.set)
    with tempfile.TemporaryDirectory() as tmp:
        opts = EvalOptions(metrics=EVAL_METRICS, samples=counts[0], seed=0, progress=False)
        t = time.perf_counter()
        prepare_evaluation(cfg, opts, log=lambda m: None)
        print(f"attribute judge ready in {time.perf_counter() - t:.1f} s")
        train(cfg, Path(tmp) / "run", progress=False)
        per_image = measure_generation(cfg)
        print(f"generation: {per_image * 1000:.1f} ms per image at every scale "
              f"({1 / per_image:.1f} images/s)")
        seconds = []
        for n in counts:
            opts.samples = n
            t = time.perf_counter()
            evaluate_run(Path(tmp) / "run", opts, split="test")
            seconds.append(time.perf_counter() - t)
            print(f"evaluation of {n} samples per scale ({','.join(EVAL_METRICS)}): {seconds[-1]:.1f} s")
    slope = (seconds[1] - seconds[0]) / (counts[1] - counts[0])
    fixed = seconds[0] - slope * counts[0]
    print(f"per sample {slope:.3f} s = {slope / per_image:.2f} generator passes "
          f"(demo assumes {EVAL_COST_PER_SAMPLE}); fixed {fixed:.1f} s = {fixed / per_image:.0f} "
          f"passes (demo assumes {EVAL_FIXED_S} s + {EVAL_FIXED_PASSES} passes)")


if __name__ == "__main__":
    main()
