"""Evaluation during training, as a function the caller hands to the training loop.

The loop knows only `eval_fn(generator_ema, epoch) -> dict[str, float]`; `make_training_eval`
builds one (the CLI passes it as `gtgan.training.train(..., make_eval_fn=make_training_eval)`),
so neither package imports the other.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from ..data import build_dataset, data_identity
from .attributes import JudgeConfig
from .comparability import merge_labels, training_labels
from .evaluate import EvalContext, run_metrics, start_metrics
from .options import EvalOptions
from .registry import metric_class


def make_training_eval(cfg, samples: int | None = None, device="cpu", test_set=None, *,
                       metrics: Sequence[str] | None = None, classifier: str = "imagenet",
                       allow_random_weights: bool = False, cache_dir: str | None = None,
                       seed: int = 0, splits: int = 10, batch_size: int = 50,
                       judge_config: JudgeConfig | None = None):
    """A callable(generator_ema, epoch) -> dict[str, float] for the training loop's hook.

    Small-N evaluation (`samples`, default cfg.run.eval_samples) on the test split's captions;
    each metric names its numbers per scale (Metric.training_scalars: "is_64", "is_64_std",
    "attr_acc_64", "attr_real_64" over the attributes the judge reads reliably (absent if
    none), "attr_acc_all_64", ...). Default metrics: ("attr",) on synthetic birds (IS of drawn
    birds under an ImageNet classifier says little, and 500 Inception passes per scale take
    minutes on a CPU), ("is",) otherwise. The networks are built here, so missing weights fail
    before training starts. `fn.notes` lists labels (random weights: the IS curve is NOT
    comparable); `fn.comparable` says the same as a bool. `device`: a torch.device or a name
    torch accepts ("cpu", "cuda:0"); the caller resolves "auto".
    Also accepted: make_training_eval(cfg, device, test_set), as the training loop calls it.
    """
    if samples is not None and not isinstance(samples, int):  # (cfg, device, test_set) form
        samples, device, test_set = None, samples, (None if isinstance(device, (str, torch.device))
                                                    else device)
    if samples is None:
        samples = int(cfg.run.eval_samples)
    if metrics is None:
        metrics = ("attr",) if cfg.data.kind == "synthetic" else ("is",)
    opts = EvalOptions(metrics=tuple(metrics), samples=samples, seed=seed, batch_size=batch_size,
                       splits=min(splits, samples), classifier=classifier,
                       allow_random_weights=allow_random_weights, cache_dir=cache_dir,
                       judge=judge_config or JudgeConfig(), progress=False)
    opts.validate()
    sizes = cfg.model.image_sizes
    dataset = test_set
    if dataset is None or list(getattr(dataset, "image_sizes", [])) != list(sizes):
        dataset = build_dataset(cfg.data, "test", sizes, train=False, seed=cfg.run.seed)

    def train_set():
        return build_dataset(cfg.data, "train", sizes, train=False, seed=cfg.run.seed)

    def judge_identity(train) -> dict:
        return data_identity(cfg.data, "train", train)

    ctx = EvalContext(opts, dataset, sizes, train_set_factory=train_set,
                      judge_data_identity=judge_identity, device=torch.device(device))
    start_metrics(ctx)  # builds (and checks) every network now, before training starts

    def run(generator_ema: torch.nn.Module, epoch: int, deadline: float = math.inf
            ) -> dict[str, float]:
        was = generator_ema.training
        generator_ema.eval()
        dev = next(generator_ema.parameters()).device

        @torch.no_grad()
        def generate(features, z, eps):
            return [im.float().cpu() for im in
                    generator_ema(features.to(dev), z.to(dev), eps.to(dev)).images]

        try:
            res = run_metrics(generate, ctx, cfg.model.z_dim, cfg.model.c_dim, deadline)
        finally:
            generator_ema.train(was)
        out: dict[str, float] = {}
        for size, by_metric in res["results"].items():
            for name, result in by_metric.items():
                out.update(metric_class(name).training_scalars(size, result))
        return out

    run.notes = merge_labels(training_labels(cfg), ctx.labels)  # e.g. a random VGG19 in training
    run.comparable = not run.notes
    run.options = opts
    run.takes_deadline = True  # stops at the training run's time cap (TimeCapReached)
    return run
