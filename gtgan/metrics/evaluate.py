"""The evaluation loop: generate from a split's captions as StackGAN++ does and stream every
batch through the chosen metrics (see PROTOCOL, written into every report).

Images are never all held: each batch is scored by every metric at every scale and dropped.
What the metrics share (the split, the device, the Inception networks, the attribute judge)
is an `EvalContext`, built once per evaluation or once per training run.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch
from tqdm import tqdm

from ..models import TextFeatures
from ..errors import TimeCapReached
from .attributes import load_or_train_judge
from .inception import RANDOM_LABEL, InceptionNet, InceptionOutput, describe_inception, load_inception
from .options import EvalOptions
from .registry import EvalError, Metric, metric_classes

PROTOCOL = ("the split's images in order, each image's captions in order (image 0 captions 0..9, "
            "image 1 captions 0..9, ...), again from the start with fresh noise until N images are "
            "made. Sample j's noise z_j then CA noise eps_j are drawn, in that order, from one CPU "
            "torch.Generator seeded with the seed, so the numbers depend on neither batch size nor "
            "device (up to floating point). Every scale (64, 128, ...) of the same samples is scored. "
            "Images are never all held: each batch is scored and dropped.")

# A generation callable: (text (n, d), z (n, z_dim), ca_eps (n, c_dim)) -> one (n, 3, S, S)
# tensor in [-1, 1] per scale.
# (text features, z, CA eps) -> one image batch per scale: a generator's one path (its forward).
GenerateFn = Callable[[TextFeatures, torch.Tensor, torch.Tensor], Sequence[torch.Tensor]]


def caption_schedule(dataset, n: int) -> Iterator[tuple[int, int, int]]:
    """(image index, caption index, round) for n samples: every image's captions in order,
    then the whole split again (a new round, fresh noise) until n."""
    count = len(dataset)
    if count == 0:
        raise EvalError("the split has no images")
    made = 0
    rnd = 0
    while True:
        for i in range(count):
            for k in range(int(dataset.embeddings(i).shape[0])):
                if made == n:
                    return
                yield i, k, rnd
                made += 1
        rnd += 1


class _LRU:
    def __init__(self, fn, size: int = 128):
        self.fn, self.size, self.store = fn, size, OrderedDict()

    def __call__(self, *key):
        if key in self.store:
            self.store.move_to_end(key)
            return self.store[key]
        value = self.fn(*key)
        self.store[key] = value
        if len(self.store) > self.size:
            self.store.popitem(last=False)
        return value


def _noise(gen: torch.Generator, n: int, z_dim: int, c_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    zs, es = [], []
    for _ in range(n):  # per sample, so batch size never changes which noise a sample gets
        zs.append(torch.randn(z_dim, generator=gen))
        es.append(torch.randn(c_dim, generator=gen))
    return torch.stack(zs), torch.stack(es)


class EvalContext:
    """What the metrics of one evaluation share: the options, the split and its identity, the
    device, the log, and networks built on first request and kept (IS and FID share one
    Inception when their specs agree; every attribute metric shares one judge). Networks
    given here are used as they are.

    judge_data_identity(train_set) -> dict: the data part of the judge's cache key (default:
    data_ident with split "train" and the train split's size)."""

    def __init__(self, opts: EvalOptions, dataset, image_sizes: Sequence[int], *,
                 data_ident: dict | None = None, train_set_factory: Callable[[], Any] | None = None,
                 inception: InceptionNet | None = None, fid_net: InceptionNet | None = None,
                 judge=None, judge_data_identity: Callable[[Any], dict] | None = None,
                 device: str | torch.device | None = None, log: Callable[[str], None] | None = None,
                 encode_text: Callable[[list[str]], TextFeatures] | None = None,
                 text_encoder=None):
        self.opts, self.dataset, self.log = opts, dataset, log
        self.text_encoder = text_encoder  # the model's TextEncoder (r_precision reads its identity)
        # For metrics that generate from captions of their own (own_words): the model's text
        # encoder here, the generator and its noise sizes set by run_metrics.
        self.encode_text = encode_text
        self.generate: GenerateFn | None = None
        self.z_dim = self.c_dim = 0
        self.sizes = [int(s) for s in image_sizes]
        self.data_ident = data_ident or {"kind": type(dataset).__name__, "items": len(dataset),
                                         "split": "?"}
        self.train_set_factory, self.judge_data_identity = train_set_factory, judge_data_identity
        self._classifier, self._fid_net, self._judge = inception, fid_net, judge
        if device is None:
            given = inception if inception is not None else fid_net
            device = next(given.parameters()).device if given is not None else torch.device("cpu")
        self.device = torch.device(device)
        self._judge_on_device = False
        self._judge_train: tuple[Any, dict] | None = None
        self.weights: dict[str, Any] = {}  # weights[key] = identity of a network a number used
        self.labels: list[str] = []  # e.g. "NOT COMPARABLE: random weights"

    def _record(self, key: str, net: InceptionNet) -> InceptionNet:
        """Name `net` in the report's weights (and label every number if it is random)."""
        self.weights[key] = dict(net.identity, description=describe_inception(net.identity))
        if net.is_random and RANDOM_LABEL not in self.labels:
            self.labels.append(RANDOM_LABEL)
        return net

    def classifier(self) -> InceptionNet:
        """The IS classifier (opts.classifier; weights entry "is_classifier")."""
        if self._classifier is None:
            o = self.opts
            self._classifier = load_inception(o.classifier, allow_random_weights=o.allow_random_weights,
                                              transform_input=o.classifier_transform_input,
                                              device=self.device)
        return self._record("is_classifier", self._classifier)

    def fid_features(self) -> InceptionNet:
        """The FID feature extractor (opts.fid_features): the classifier itself when it is
        already there and the specs agree, so one forward pass serves both (weights entry
        "fid_features")."""
        if self._fid_net is None:
            o = self.opts
            if self._classifier is not None and o.fid_features == o.classifier:
                self._fid_net = self._classifier
            else:
                self._fid_net = load_inception(o.fid_features, allow_random_weights=o.allow_random_weights,
                                               device=self.device)
        return self._record("fid_features", self._fid_net)

    def judge_training_data(self, what: str) -> tuple[Any, dict]:
        """(the real train split, the data part of a judge's cache key), built once."""
        if self._judge_train is None:
            if self.train_set_factory is None:
                raise EvalError(f"{what} needs the real train split to train its judge")
            train_set = self.train_set_factory()
            if self.judge_data_identity is not None:
                ident = self.judge_data_identity(train_set)
            else:
                ident = dict(self.data_ident, split="train", items=len(train_set))
                ident.pop("fingerprint", None)
            self._judge_train = (train_set, ident)
        return self._judge_train

    def judge(self):
        """The attribute judge of the synthetic birds, loaded or trained once (weights entry
        "attribute_judge")."""
        if self._judge is None:
            train_set, ident = self.judge_training_data("attribute accuracy")
            self._judge, self._judge.info = load_or_train_judge(
                train_set, ident, self.opts.cache_path(), self.opts.judge, self.log)
        if not self._judge_on_device:
            self._judge.to(self.device)
            self._judge_on_device = True
        self.weights["attribute_judge"] = getattr(self._judge, "info", {})
        return self._judge


@dataclass
class ScaleBatch:
    """One scale of one generated batch, as every metric's `update` sees it."""

    size: int
    items: list[tuple[int, int, int]]  # (image index, caption index, round) per sample
    images: torch.Tensor  # (n, 3, S, S) float32 in [-1, 1] on the context's device
    generated: torch.Tensor  # the same images as the generator returned them
    second: torch.Tensor | None  # a second sample of each caption (needs_second_samples)
    _real: Callable[[int, int], torch.Tensor]
    _device: torch.device
    _cache: dict = field(default_factory=dict)

    def reals(self) -> torch.Tensor:
        """(n, 3, S, S) the real picture each sample's caption belongs to (centre crop)."""
        if "reals" not in self._cache:
            self._cache["reals"] = torch.stack([self._real(i, self.size) for i, _, _ in self.items]
                                               ).to(self._device)
        return self._cache["reals"]

    def inception(self, net: InceptionNet) -> InceptionOutput:
        """`net` on the images, run once per batch whichever metrics ask."""
        key = ("inception", id(net))
        if key not in self._cache:
            self._cache[key] = net(self.images)
        return self._cache[key]


def start_metrics(ctx: EvalContext) -> list[Metric]:
    """One instance of each chosen metric, in report order (builds their networks)."""
    return [cls(ctx) for name, cls in metric_classes().items() if name in ctx.opts.metrics]


def run_metrics(generate: GenerateFn, ctx: EvalContext, z_dim: int, c_dim: int,
                deadline: float = math.inf) -> dict[str, Any]:
    """Stream opts.samples generated images through the chosen metrics; the report's measured
    parts (results per scale, labels, weights, settings, samples, rounds, seconds).
    `deadline` (time.monotonic()): TimeCapReached between batches once it has passed."""
    opts, dataset, sizes = ctx.opts, ctx.dataset, ctx.sizes
    opts.validate()
    ctx.generate, ctx.z_dim, ctx.c_dim = generate, z_dim, c_dim
    metrics = start_metrics(ctx)
    second_samples = any(m.needs_second_samples for m in metrics)
    real = _LRU(lambda i, s: dataset.real_image(i, s), size=256)
    gen = torch.Generator().manual_seed(int(opts.seed))
    gen_second = torch.Generator().manual_seed(int(opts.seed) + 1)  # second samples' own noise
    schedule = caption_schedule(dataset, opts.samples)
    bar = tqdm(total=opts.samples, unit="img", desc="evaluating", leave=False) if opts.progress else None
    t0 = time.time()
    made = rounds = 0
    while made < opts.samples:
        if time.monotonic() >= deadline:  # a training run's time cap, checked between batches
            raise TimeCapReached(f"after {made} of {opts.samples} samples")
        batch = [x for _, x in zip(range(opts.batch_size), schedule)]
        if not batch:
            break
        n = len(batch)
        rounds = max(rounds, batch[-1][2] + 1)
        text = TextFeatures.stack([dataset.text_features(i, k) for i, k, _ in batch])
        z, eps = _noise(gen, n, z_dim, c_dim)
        images = list(generate(text, z, eps))
        if len(images) != len(sizes):
            raise EvalError(f"the generator made {len(images)} scales, expected {sizes}")
        seconds = [None] * len(sizes)
        if second_samples:
            z2, eps2 = _noise(gen_second, n, z_dim, c_dim)
            seconds = [x.detach() for x in generate(text, z2, eps2)]
        for s, img, second in zip(sizes, images, seconds):
            if tuple(img.shape) != (n, 3, s, s):
                raise EvalError(f"generated images have shape {tuple(img.shape)}, expected {(n, 3, s, s)}")
            scale = ScaleBatch(s, batch, img.detach().float().to(ctx.device), img.detach(), second,
                               real, ctx.device)
            for metric in metrics:
                metric.update(scale)
        made += n
        if bar is not None:
            bar.update(n)
    if bar is not None:
        bar.close()
    results = {str(s): {m.name: m.result(s) for m in metrics} for s in sizes}
    settings = {m.name: st for m in metrics if (st := m.settings()) is not None}
    return {"results": results, "labels": list(ctx.labels), "comparable": not ctx.labels,
            "weights": dict(ctx.weights), "settings": settings, "samples": made, "rounds": rounds,
            "seconds": round(time.time() - t0, 1)}


def evaluate_generator(generate: GenerateFn, dataset, image_sizes: Sequence[int], z_dim: int,
                       c_dim: int, opts: EvalOptions, *, data_ident: dict | None = None,
                       train_set_factory: Callable[[], Any] | None = None,
                       inception: InceptionNet | None = None, fid_net: InceptionNet | None = None,
                       judge=None, device: str | torch.device | None = None,
                       log: Callable[[str], None] | None = None,
                       encode_text: Callable[[list[str]], TextFeatures] | None = None,
                       text_encoder=None) -> dict[str, Any]:
    """Score `generate` on `dataset`'s captions; returns the report's measured parts.

    `inception`, `fid_net` and `judge` may be given (already built) to share them between
    calls; otherwise they are built from `opts`. `train_set_factory` gives the real train split
    the attribute judge learns from (synthetic birds only). `device` runs the Inception, SSIM
    and judge there (default: where a given network already is, else the CPU)."""
    opts.validate()
    ctx = EvalContext(opts, dataset, image_sizes, data_ident=data_ident,
                      train_set_factory=train_set_factory, inception=inception, fid_net=fid_net,
                      judge=judge, device=device, log=log, encode_text=encode_text,
                      text_encoder=text_encoder)
    return run_metrics(generate, ctx, z_dim, c_dim)
