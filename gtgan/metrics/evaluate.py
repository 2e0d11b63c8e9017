"""`gtgan eval`: generate from a split's captions as StackGAN++ does, stream the images through
the metrics, and write a self-explaining report (JSON + Markdown).

Protocol (written into every report): the split's images in order, each image's captions in
order (image 0 captions 0..9, image 1 captions 0..9, ...), again from the start with fresh noise
until N images are made. Sample j's noise z_j then CA noise eps_j are drawn, in that order, from
one CPU torch.Generator seeded with the seed, so the numbers depend on neither batch size nor
device (up to floating point). Every scale (64, 128, ...) of the same samples is scored.
Images are never all held: each batch is scored and dropped.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from .. import __version__
from ..errors import GtganError
from ..fileio import atomic_write_text
from .attributes import (AttributeAccuracy, JudgeConfig, load_or_train_judge, mentioned_targets)
from .diversity import DIVERSITY_SETTINGS, DiversityAccumulator
from .fid import (FeatureStats, ReferenceStatsError, frechet_distance_details, load_reference_stats,
                  save_reference_stats)
from .inception import RANDOM_LABEL, RESIZE, InceptionNet, load_inception, sha256_file
from .inception_score import InceptionScoreAccumulator
from .ssim import SSIM_SETTINGS, MeanStd, ssim_per_image

KNOWN_METRICS = ("is", "fid", "ssim", "attr", "diversity")
REPORT_FORMAT = "gtgan-eval"
JUDGE_RELIABLE = 0.9  # attributes the judge reads worse than this on held-out real images
# are reported but left out of the headline accuracy

# A generation callable: (text (n, d), z (n, z_dim), ca_eps (n, c_dim)) -> one (n, 3, S, S)
# tensor in [-1, 1] per scale.
GenerateFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Sequence[torch.Tensor]]


class EvalError(GtganError):
    """An evaluation option or input is wrong."""


def default_cache_dir() -> Path:
    """Where reference statistics and attribute judges are kept: $GTGAN_CACHE_DIR or
    ~/.cache/gtgan."""
    env = os.environ.get("GTGAN_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gtgan"


@dataclass
class EvalOptions:
    metrics: tuple[str, ...] = ("is", "fid", "ssim")
    samples: int = 30000
    seed: int = 0
    batch_size: int = 50
    splits: int = 10
    classifier: str = "imagenet"  # IS classifier spec (see metrics.inception.load_inception)
    fid_features: str = "imagenet"  # FID feature extractor spec
    classifier_transform_input: bool = True
    allow_random_weights: bool = False
    fid_reference: str | None = None  # explicit stats file; "{size}" is replaced per scale
    cache_dir: str | None = None  # None: default_cache_dir()
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    progress: bool = True

    def validate(self) -> None:
        bad = [m for m in self.metrics if m not in KNOWN_METRICS]
        if bad or not self.metrics:
            raise EvalError(f"--metrics {','.join(self.metrics)}: unknown {bad or 'none given'}; "
                            f"choose from {','.join(KNOWN_METRICS)}")
        if self.samples < 1:
            raise EvalError(f"--samples {self.samples}: must be at least 1")
        if self.batch_size < 1:
            raise EvalError(f"--batch-size {self.batch_size}: must be at least 1")
        if "is" in self.metrics and self.samples < self.splits:
            raise EvalError(f"--samples {self.samples} is fewer than the {self.splits} IS splits; "
                            "give more samples or --splits")
        if "fid" in self.metrics and self.samples < 2:
            raise EvalError("FID needs at least 2 samples")


# ---------------------------------------------------------------- the caption schedule

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


# ---------------------------------------------------------------- identities and hashes

def data_identity(data_cfg, split: str, dataset) -> dict[str, Any]:
    """What the real images of a split are: config fields plus a hash of three of them."""
    ident: dict[str, Any] = {"kind": data_cfg.kind, "split": split, "items": len(dataset)}
    if data_cfg.kind == "synthetic":
        ident.update(synthetic_seed=data_cfg.synthetic_seed, synthetic_count=data_cfg.synthetic_count)
    if getattr(dataset, "data_version", None) is not None:  # bumped when pictures change
        ident["data_version"] = dataset.data_version
    else:
        ident.update(root=str(Path(data_cfg.root).expanduser().resolve()) if data_cfg.root else "",
                     skip_missing=data_cfg.skip_missing)
    h = hashlib.sha256()
    size = min(dataset.image_sizes)
    for i in sorted({0, len(dataset) // 2, len(dataset) - 1}):
        h.update(dataset.real_image(i, size).numpy().tobytes())
    ident["fingerprint"] = h.hexdigest()[:16]
    return ident


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "gtgan": __version__}
    for name in ("torch", "torchvision", "torchmetrics", "numpy", "scipy", "safetensors",
                 "pytorch-fid"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _short(identity: dict) -> str:
    kind = identity.get("kind", "?")
    names = {"torchvision-imagenet": "torchvision ImageNet Inception v3",
             "torchvision-file": f"Inception v3 from {identity.get('file', '?')}",
             "pytorch-fid": "TF-ported FID Inception (pytorch-fid)",
             "random": "RANDOM Inception v3"}
    return f"{names.get(kind, kind)} ({identity.get('num_classes', '?')} classes, sha256 " \
           f"{str(identity.get('sha256', ''))[:12]})"


# ---------------------------------------------------------------- FID reference statistics

def _feature_stamp(net: InceptionNet) -> dict:
    keep = ("kind", "weights", "sha256", "num_classes", "transform_input", "random")
    return {k: net.identity[k] for k in keep if k in net.identity}


def reference_stamp(net: InceptionNet, data_ident: dict, size: int) -> dict[str, Any]:
    return {"extractor": _feature_stamp(net), "data": data_ident, "image_size": size,
            "real_images": "dataset.real_image(i, size): centre crop, every item of the split once",
            "resize": RESIZE, "features": "pool3 (2048-d)", "count": data_ident["items"],
            "gtgan_version": __version__}


def real_reference_stats(dataset, net: InceptionNet, size: int, data_ident: dict,
                         opts: EvalOptions, log=None) -> tuple[np.ndarray, np.ndarray, int, dict]:
    """Mean/cov of the split's real images at `size`, from the stamped cache or computed.

    An explicit opts.fid_reference file made differently is refused; a cached one (its name
    carries the stamp's hash) is recomputed."""
    stamp = reference_stamp(net, data_ident, size)
    digest = hashlib.sha256(json.dumps(stamp, sort_keys=True).encode()).hexdigest()[:16]
    if opts.fid_reference:
        path = Path(opts.fid_reference.replace("{size}", str(size))).expanduser()
        if path.exists():
            mu, sigma, n, _ = load_reference_stats(path, stamp)
            return mu, sigma, n, {"file": str(path), "sha256": sha256_file(path), "stamp": stamp,
                                  "cached": True}
    else:
        cache = Path(opts.cache_dir).expanduser() if opts.cache_dir else default_cache_dir()
        path = cache / f"fid-ref-{data_ident['kind']}-{data_ident['split']}-{size}px-{digest}.npz"
        if path.exists():
            try:
                mu, sigma, n, _ = load_reference_stats(path, stamp)
                return mu, sigma, n, {"file": str(path), "sha256": sha256_file(path),
                                      "stamp": stamp, "cached": True}
            except ReferenceStatsError as exc:
                if log:
                    log(f"recomputing reference statistics: {exc}")
    stats = FeatureStats()
    bs = opts.batch_size
    for s in range(0, len(dataset), bs):
        batch = torch.stack([dataset.real_image(i, size) for i in range(s, min(s + bs, len(dataset)))])
        stats.update(net(batch.to(next(net.parameters()).device)).pool)
    save_reference_stats(path, stats.mean, stats.cov, stats.n, stamp)
    if log:
        log(f"wrote FID reference statistics {path}")
    return stats.mean, stats.cov, stats.n, {"file": str(path), "sha256": sha256_file(path),
                                            "stamp": stamp, "cached": False}


# ---------------------------------------------------------------- the evaluation loop

def _noise(gen: torch.Generator, n: int, z_dim: int, c_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    zs, es = [], []
    for _ in range(n):  # per sample, so batch size never changes which noise a sample gets
        zs.append(torch.randn(z_dim, generator=gen))
        es.append(torch.randn(c_dim, generator=gen))
    return torch.stack(zs), torch.stack(es)


def evaluate_generator(generate: GenerateFn, dataset, image_sizes: Sequence[int], z_dim: int,
                       c_dim: int, opts: EvalOptions, *, data_ident: dict | None = None,
                       train_set_factory: Callable[[], Any] | None = None,
                       inception: InceptionNet | None = None, fid_net: InceptionNet | None = None,
                       judge=None, device: str | torch.device | None = None,
                       log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score `generate` on `dataset`'s captions; returns the report's measured parts.

    `inception`, `fid_net` and `judge` may be given (already built) to share them between
    calls; otherwise they are built from `opts`. `train_set_factory` gives the real train split
    the attribute judge learns from (synthetic birds only). `device` runs the Inception, SSIM
    and judge there (default: where a given network already is, else the CPU)."""
    opts.validate()
    metrics = tuple(opts.metrics)
    sizes = [int(s) for s in image_sizes]
    data_ident = data_ident or {"kind": type(dataset).__name__, "items": len(dataset), "split": "?"}
    labels: list[str] = []
    weights: dict[str, Any] = {}
    settings: dict[str, Any] = {}

    # -- networks
    if device is None:
        given = inception if inception is not None else fid_net
        device = next(given.parameters()).device if given is not None else torch.device("cpu")
    device = torch.device(device)
    if "is" in metrics and inception is None:
        inception = load_inception(opts.classifier, allow_random_weights=opts.allow_random_weights,
                                   transform_input=opts.classifier_transform_input, device=device)
    if "fid" in metrics and fid_net is None:
        if inception is not None and opts.fid_features == opts.classifier:
            fid_net = inception
        else:
            fid_net = load_inception(opts.fid_features, allow_random_weights=opts.allow_random_weights,
                                     device=device)
    first_net = inception if inception is not None else fid_net
    for name, net in (("is_classifier", inception if "is" in metrics else None),
                      ("fid_features", fid_net if "fid" in metrics else None)):
        if net is not None:
            weights[name] = dict(net.identity, description=_short(net.identity))
            if net.is_random and RANDOM_LABEL not in labels:
                labels.append(RANDOM_LABEL)
    judge_info = None
    if "attr" not in metrics:
        judge = None
    else:
        if judge is None:
            if train_set_factory is None:
                raise EvalError("attribute accuracy needs the real train split to train its judge")
            train_set = train_set_factory()
            tident = dict(data_ident, split="train", items=len(train_set))
            tident.pop("fingerprint", None)
            cache = Path(opts.cache_dir).expanduser() if opts.cache_dir else default_cache_dir()
            judge, judge_info = load_or_train_judge(train_set, tident, cache, opts.judge, log)
        else:
            judge_info = getattr(judge, "info", {})
        judge.to(device)
        weights["attribute_judge"] = judge_info
        values = {k: list(v) for k, v in dataset.attribute_values.items()}
        names = list(judge.attribute_names)

    # -- reference statistics
    refs = {}
    if "fid" in metrics:
        for s in sizes:
            refs[s] = real_reference_stats(dataset, fid_net, s, data_ident, opts, log)

    # -- accumulators
    is_acc = {s: InceptionScoreAccumulator(opts.splits, shuffle_seed=opts.seed) for s in sizes}
    fid_acc = {s: FeatureStats() for s in sizes}
    ssim_acc = {s: MeanStd() for s in sizes}
    div_acc = {s: DiversityAccumulator() for s in sizes}
    attr_gen = {s: AttributeAccuracy(names, judge.num_values) for s in sizes} if judge else {}
    attr_real = {s: AttributeAccuracy(names, judge.num_values) for s in sizes} if judge else {}
    real = _LRU(lambda i, s: dataset.real_image(i, s), size=256)
    emb = _LRU(lambda i: dataset.embeddings(i).float(), size=64)
    gen = torch.Generator().manual_seed(int(opts.seed))
    gen_second = torch.Generator().manual_seed(int(opts.seed) + 1)  # diversity's second samples
    shared = fid_net is inception

    schedule = caption_schedule(dataset, opts.samples)
    rounds = 0
    bar = None
    if opts.progress:
        from tqdm import tqdm

        bar = tqdm(total=opts.samples, unit="img", desc="evaluating", leave=False)
    t0 = time.time()
    made = 0
    while made < opts.samples:
        batch = [x for _, x in zip(range(opts.batch_size), schedule)]
        if not batch:
            break
        n = len(batch)
        rounds = max(rounds, batch[-1][2] + 1)
        text = torch.stack([emb(i)[k] for i, k, _ in batch])
        z, eps = _noise(gen, n, z_dim, c_dim)
        images = list(generate(text, z, eps))
        if len(images) != len(sizes):
            raise EvalError(f"the generator made {len(images)} scales, expected {sizes}")
        if "diversity" in metrics:
            z2, eps2 = _noise(gen_second, n, z_dim, c_dim)
            for s, first, second in zip(sizes, images, generate(text, z2, eps2)):
                div_acc[s].update(first.detach(), second.detach())
        for s, img in zip(sizes, images):
            if tuple(img.shape) != (n, 3, s, s):
                raise EvalError(f"generated images have shape {tuple(img.shape)}, expected {(n, 3, s, s)}")
            img = img.detach().float().to(device)
            if "is" in metrics or "fid" in metrics:
                net_in = img
                out = first_net(net_in)
                if "is" in metrics:
                    is_acc[s].update(out.logits)
                if "fid" in metrics:
                    fid_acc[s].update(out.pool if shared or inception is None else fid_net(net_in).pool)
            need_real = "ssim" in metrics or "attr" in metrics
            reals = torch.stack([real(i, s) for i, _, _ in batch]).to(device) if need_real else None
            if "ssim" in metrics:
                ssim_acc[s].update(ssim_per_image(img, reals))
            if judge is not None:
                targets = torch.tensor([mentioned_targets(dataset, i, k, names, values)
                                        for i, k, _ in batch])
                attr_gen[s].update(judge.predict(img), targets)
                attr_real[s].update(judge.predict(reals), targets)
        made += n
        if bar is not None:
            bar.update(n)
    if bar is not None:
        bar.close()

    # -- results
    results: dict[str, dict[str, Any]] = {}
    for s in sizes:
        r: dict[str, Any] = {}
        if "is" in metrics:
            score = is_acc[s].compute()
            r["is"] = {"mean": score.mean, "std": score.std, "n": score.n, "splits": score.splits}
        if "fid" in metrics:
            mu, sigma, n_ref, ref_info = refs[s]
            value, method = frechet_distance_details(fid_acc[s].mean, fid_acc[s].cov, mu, sigma)
            dim = int(mu.shape[0])
            r["fid"] = {"value": value, "n": fid_acc[s].n, "n_reference": n_ref,
                        "sqrt_method": method,
                        "reference_file": ref_info["file"], "reference_sha256": ref_info["sha256"]}
            if min(fid_acc[s].n, n_ref) <= dim:
                r["fid"]["note"] = (f"fewer samples than feature dimensions ({dim}): covariances are "
                                    "rank-deficient and FID is strongly biased upward; compare only "
                                    "with the same N")
        if "ssim" in metrics:
            r["ssim"] = {"mean": ssim_acc[s].mean, "std": ssim_acc[s].std, "n": ssim_acc[s].n}
        if "diversity" in metrics:
            r["diversity"] = div_acc[s].result()
        if judge is not None:
            r["attr"] = _attr_result(attr_gen[s].result(), attr_real[s].result(), judge_info, made)
        results[str(s)] = r

    if "is" in metrics:
        settings["is"] = {"splits": opts.splits, "split_rule": "N // splits consecutive rows each "
                          "(remainder left out), after a permutation seeded with the eval seed",
                          "std": "population std (ddof=0) over splits",
                          "log_softmax": "float64", "resize": RESIZE,
                          "classifier": _short(inception.identity)}
    if "fid" in metrics:
        settings["fid"] = {"features": "pool3 (2048-d)", "resize": RESIZE,
                           "statistics": "float64 streaming mean / unbiased covariance",
                           "sqrtm": "scipy.linalg.sqrtm (eps 1e-6 offset if singular)",
                           "extractor": _short(fid_net.identity),
                           "reference": {str(s): refs[s][3] for s in sizes}}
    if "ssim" in metrics:
        settings["ssim"] = SSIM_SETTINGS
    if "diversity" in metrics:
        settings["diversity"] = DIVERSITY_SETTINGS
    if judge is not None:
        settings["attr"] = {"judge_input": "64 px (larger images resized bilinearly with antialias)",
                            "judged": "only the attributes each caption mentions",
                            "reliable_threshold": JUDGE_RELIABLE,
                            "headline": "mentions of attributes the judge reads at >= the "
                                        "threshold on held-out real images"}
    return {"results": results, "labels": labels, "comparable": not labels, "weights": weights,
            "settings": settings, "samples": made, "rounds": rounds,
            "seconds": round(time.time() - t0, 1)}


def _attr_result(gen: dict, real: dict, judge_info: dict | None, n: int) -> dict[str, Any]:
    held = (judge_info or {}).get("holdout_accuracy", {})
    reliable = [a for a, v in held.items() if v is not None and v >= JUDGE_RELIABLE]

    def headline(res: dict) -> float | None:
        c = sum(res["per_attribute"][a] * res["judged"][a] for a in reliable
                if res["per_attribute"].get(a) is not None)
        k = sum(res["judged"][a] for a in reliable if res["per_attribute"].get(a) is not None)
        return c / k if k else None

    def chance(res: dict) -> float | None:
        k = sum(res["judged"][a] for a in reliable)
        return (sum(res["judged"][a] * res["chance_per_attribute"][a] for a in reliable) / k
                if k else None)

    g, r = headline(gen), headline(real)
    per = {}
    for a in gen["per_attribute"]:
        per[a] = {"generated": gen["per_attribute"][a], "real": real["per_attribute"][a],
                  "chance": gen["chance_per_attribute"][a], "judge_holdout": held.get(a),
                  "judged": gen["judged"][a], "reliable": a in reliable}
    return {"accuracy": g, "real_accuracy": r, "chance": chance(gen),
            "gap_to_real": (r - g) if g is not None and r is not None else None,
            "reliable_attributes": reliable,
            "accuracy_all_attributes": gen["accuracy"], "real_accuracy_all_attributes": real["accuracy"],
            "chance_all_attributes": gen["chance"],
            "judge_holdout_mean": (judge_info or {}).get("holdout_accuracy_mean"),
            "mentions": gen["mentions"], "n": n, "per_attribute": per}


# ---------------------------------------------------------------- whole runs

def load_for_eval(run_dir: str | Path, checkpoint: str | Path | None = None,
                  device: str = "auto", data_root: str | None = None):
    """(pipeline, weights file) for a run directory, a model folder, or a run directory with
    `checkpoint`: another model folder, or a training checkpoint folder
    (RUN_DIR/checkpoints/step-N, whose EMA generator G_ema.safetensors is used, its SHA-256
    checked against the checkpoint's state.json)."""
    from ..modelio import MODEL_JSON, load_generator_state
    from ..pipeline import TextToImage

    run_dir = Path(run_dir)
    if checkpoint is None:
        pipe = TextToImage.from_pretrained(run_dir, device=device, data_root=data_root)
        return pipe, Path(pipe.source) / "generator.safetensors"
    ckpt = Path(checkpoint)
    if (ckpt / MODEL_JSON).exists():
        pipe = TextToImage.from_pretrained(ckpt, device=device, data_root=data_root)
        if pipe.run_config is None and (run_dir / "config.yaml").exists():
            from ..config import load_run_config

            pipe.run_config = load_run_config(run_dir / "config.yaml")
        return pipe, ckpt / "generator.safetensors"
    if not (ckpt / "state.json").exists():
        raise EvalError(f"--checkpoint {ckpt}: neither a model folder ({MODEL_JSON}) nor a training "
                        "checkpoint (state.json); give e.g. RUN_DIR/checkpoints/step-00001000")
    from safetensors.torch import load_file

    from ..training.checkpoint import read_state

    state = read_state(ckpt)
    weights = ckpt / "G_ema.safetensors"
    if not weights.exists():
        raise EvalError(f"{weights}: the checkpoint has no EMA generator")
    digest = sha256_file(weights)
    if state.get("files", {}).get(weights.name) not in (None, digest):
        raise EvalError(f"{weights}: contents do not match the checksum in {ckpt / 'state.json'}")
    pipe = TextToImage.from_pretrained(run_dir, device=device, data_root=data_root)
    try:
        tensors = load_file(str(weights))
    except Exception as exc:
        raise EvalError(f"{weights}: cannot read safetensors ({exc})") from None
    load_generator_state(pipe.generator, tensors, str(weights))
    pipe.generator.to(pipe.device).eval()
    pipe.metadata = dict(pipe.metadata, checkpoint=str(ckpt), step=state.get("step"),
                         epoch=state.get("epoch"))
    pipe.source = str(ckpt)
    return pipe, weights


class _Deterministic:
    """cuDNN in deterministic mode for the evaluation (restored afterwards), so two runs on
    one GPU give the same numbers."""

    def __enter__(self):
        b = torch.backends.cudnn
        self.saved = (b.deterministic, b.benchmark)
        b.deterministic, b.benchmark = True, False

    def __exit__(self, *exc):
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = self.saved


def evaluate_run(run_dir: str | Path, opts: EvalOptions, *, split: str = "test",
                 checkpoint: str | Path | None = None, config: str | None = None,
                 data_root: str | None = None, device: str = "auto",
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate a run directory (or a model folder with `config`) on `split`; the full report.

    checkpoint: a model folder or training checkpoint to score instead of RUN_DIR/model (the
    run still gives the data config). config: a preset or YAML file giving the data set when
    RUN_DIR has none."""
    from ..data import build_dataset
    from ..presets import resolve_config

    opts.validate()
    run_dir = Path(run_dir)
    pipe, weights_file = load_for_eval(run_dir, checkpoint, device, data_root)
    run_cfg = pipe.run_config
    if config is not None:
        run_cfg = resolve_config(config)
    if run_cfg is None:
        raise EvalError(f"{run_dir}: a bare model folder does not say which data set to evaluate "
                        "on; pass --config PRESET_OR_YAML (e.g. --config demo)")
    data_cfg = run_cfg.data
    if data_root is not None:
        data_cfg.root = data_root
    sizes = pipe.image_sizes
    seed = run_cfg.run.seed
    # Captions are encoded with the model's own encoder, whatever the config names.
    dataset = build_dataset(data_cfg, split, sizes, train=False, seed=seed, encoder=pipe.encoder)
    split_name = getattr(dataset, "split", split)
    ident = data_identity(data_cfg, split_name, dataset)

    def train_set():
        return build_dataset(data_cfg, "train", sizes, train=False, seed=seed, encoder=pipe.encoder)

    def generate(text, z, eps):
        return pipe.generate_tensors(text, z=z, ca_eps=eps)

    with _Deterministic():
        measured = evaluate_generator(generate, dataset, sizes, pipe.model_config.z_dim,
                                      pipe.model_config.c_dim, opts, data_ident=ident,
                                      train_set_factory=train_set, device=pipe.device, log=log)
    report = {
        "format": REPORT_FORMAT, "version": 1, "gtgan_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "comparable": measured["comparable"], "labels": measured["labels"],
        "model": {"path": str(Path(pipe.source).resolve()), "weights_file": str(weights_file),
                  "generator_sha256": sha256_file(weights_file) if weights_file.exists() else None,
                  "metadata": pipe.metadata, "image_sizes": sizes,
                  "encoder": pipe.encoder.identity},
        "data": ident, "split": split_name, "seed": opts.seed, "samples": measured["samples"],
        "rounds": measured["rounds"], "batch_size": opts.batch_size, "device": str(pipe.device),
        "metrics": list(opts.metrics),
        "protocol": __doc__.split("Protocol (written into every report): ")[1].split("\n\n")[0]
                    .replace("\n", " "),
        "summary": summarise(measured["results"]),
        "results": measured["results"], "weights": measured["weights"],
        "settings": measured["settings"], "packages": package_versions(),
        "seconds": measured["seconds"],
    }
    return report


def summarise(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The headline numbers: every metric at the largest scale (the model's final output),
    e.g. summary["attr"]["accuracy"], summary["is"]["mean"]; summary["scale"] says which."""
    if not results:
        return {}
    top = max(results, key=int)
    return {"scale": int(top), **results[top]}


# ---------------------------------------------------------------- report files

def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def report_markdown(report: dict[str, Any]) -> str:
    lines = [f"# gtgan evaluation: {report.get('model', {}).get('path', '')}", ""]
    if report.get("labels"):
        lines += [f"**{label}** (every number below)" for label in report["labels"]] + [""]
    lines += [f"split `{report.get('split')}`, seed {report.get('seed')}, {report.get('samples')} "
              f"samples ({report.get('rounds')} round(s) over the captions), gtgan "
              f"{report.get('gtgan_version')}", ""]
    note = " (NOT COMPARABLE)" if report.get("labels") else ""
    lines += ["| metric | scale | mean | std | N | note |", "|---|---|---|---|---|---|"]
    for size, res in report["results"].items():
        if "is" in res:
            r = res["is"]
            lines.append(f"| IS ({r['splits']} splits){note} | {size} | {_fmt(r['mean'], 3)} | "
                         f"{_fmt(r['std'], 3)} | {r['n']} | "
                         f"{report['settings']['is']['classifier']} |")
        if "fid" in res:
            r = res["fid"]
            lines.append(f"| FID{note} | {size} | {_fmt(r['value'], 3)} | - | {r['n']} | "
                         f"vs {r['n_reference']} real images; {report['settings']['fid']['extractor']}"
                         f"{'; ' + r['note'] if r.get('note') else ''} |")
        if "ssim" in res:
            r = res["ssim"]
            lines.append(f"| SSIM | {size} | {_fmt(r['mean'])} | {_fmt(r['std'])} | {r['n']} | "
                         "vs the real image of each caption; std over images |")
        if "diversity" in res:
            r = res["diversity"]
            lines.append(f"| diversity (same / other caption) | {size} | {_fmt(r['ratio'], 3)} | - | "
                         f"{r['n']} | mean pixel L1 between two samples of a caption "
                         f"{_fmt(r['same_caption_l1'], 4)}, between captions "
                         f"{_fmt(r['other_caption_l1'], 4)}; 0 = noise ignored |")
        if "attr" in res:
            r = res["attr"]
            if r["accuracy"] is not None:
                lines.append(f"| attribute accuracy | {size} | {_fmt(r['accuracy'], 3)} | - | "
                             f"{r['n']} | chance {_fmt(r['chance'], 3)}, real images "
                             f"{_fmt(r['real_accuracy'], 3)} (gap {_fmt(r['gap_to_real'], 3)}); "
                             f"attributes the judge reads: {', '.join(r['reliable_attributes'])} |")
            gap = (r["real_accuracy_all_attributes"] - r["accuracy_all_attributes"]
                   if r["accuracy_all_attributes"] is not None else None)
            lines.append(f"| attribute accuracy, all attributes | {size} | "
                         f"{_fmt(r['accuracy_all_attributes'], 3)} | - | {r['n']} | chance "
                         f"{_fmt(r['chance_all_attributes'], 3)}, real images "
                         f"{_fmt(r['real_accuracy_all_attributes'], 3)} (gap {_fmt(gap, 3)}); judge "
                         f"held-out {_fmt(r['judge_holdout_mean'], 3)}"
                         f"{'' if r['accuracy'] is not None else '; the judge reads no attribute reliably'} |")
    for size, res in report["results"].items():
        if "attr" not in res:
            continue
        lines += ["", f"## Attributes at {size} px (each image judged on what its caption mentions)",
                  "", "| attribute | generated | real images | chance | judge held-out | mentions | in headline |",
                  "|---|---|---|---|---|---|---|"]
        for a, r in res["attr"]["per_attribute"].items():
            lines.append(f"| {a} | {_fmt(r['generated'], 3)} | {_fmt(r['real'], 3)} | "
                         f"{_fmt(r['chance'], 3)} | {_fmt(r['judge_holdout'], 3)} | {r['judged']} | "
                         f"{'yes' if r['reliable'] else 'no (judge unreliable)'} |")
    lines += ["", "## Weights", ""]
    for name, w in report.get("weights", {}).items():
        if name == "attribute_judge":
            lines.append(f"- {name}: trained on {w.get('n_train')} real train images, held-out "
                         f"accuracy {_fmt(w.get('holdout_accuracy_mean'), 3)} on {w.get('n_holdout')}; "
                         f"sha256 {w.get('sha256', '-')}")
        else:
            lines.append(f"- {name}: {w.get('description')}; sha256 {w.get('sha256')}; "
                         f"file {w.get('file', '-')}")
    model = report.get("model", {})
    lines.append(f"- generator: {model.get('path')} (generator.safetensors sha256 "
                 f"{model.get('generator_sha256')})")
    lines += ["", "## Settings", "", f"- protocol: {report.get('protocol', '')}"]
    for name, s in report.get("settings", {}).items():
        flat = {k: v for k, v in s.items() if k != "reference"}
        lines.append(f"- {name}: " + "; ".join(f"{k} = {json.dumps(v) if not isinstance(v, str) else v}"
                                               for k, v in flat.items()))
    lines += ["", "## Packages", "", "- " + ", ".join(f"{k} {v}" for k, v in report.get("packages", {}).items()), ""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out: str | Path) -> tuple[Path, Path]:
    """FILE (JSON) and FILE with suffix .md beside it, each written atomically."""
    out = Path(out)
    md = out.with_suffix(".md") if out.suffix != ".md" else out.with_name(out.name + ".md")
    atomic_write_text(out, json.dumps(report, indent=2, sort_keys=False, default=str) + "\n")
    atomic_write_text(md, report_markdown(report))
    return out, md


# ---------------------------------------------------------------- during training

def make_training_eval(cfg, samples: int | None = None, device="cpu", test_set=None, *,
                       metrics: Sequence[str] | None = None, classifier: str = "imagenet",
                       allow_random_weights: bool = False, cache_dir: str | None = None,
                       seed: int = 0, splits: int = 10, batch_size: int = 50,
                       judge_config: JudgeConfig | None = None):
    """A callable(generator_ema, epoch) -> dict[str, float] for the training loop's hook.

    Small-N evaluation (`samples`, default cfg.run.eval_samples) on the test split's captions:
    IS per scale ("is_64", "is_64_std", ...) and, on the synthetic birds, attribute accuracy of
    generated and real images: "attr_acc_64" / "attr_real_64" over the attributes the judge
    reads reliably (absent if none), "attr_acc_all_64" / "attr_real_all_64" over all. Default metrics: ("attr",)
    on synthetic birds (IS of drawn birds under an ImageNet classifier says little, and 500
    Inception passes per scale take minutes on a CPU), ("is",) otherwise. The networks are
    built here, so missing weights fail before training starts. `fn.notes` lists labels (random
    weights: the IS curve is NOT comparable); `fn.comparable` says the same as a bool.
    Also accepted: make_training_eval(cfg, device, test_set), as gtgan.training calls it.
    """
    from ..data import build_dataset

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
    if isinstance(device, str):
        from ..training.device import resolve_device

        device = resolve_device(device)
    sizes = cfg.model.image_sizes
    dataset = test_set
    if dataset is None or list(getattr(dataset, "image_sizes", [])) != list(sizes):
        dataset = build_dataset(cfg.data, "test", sizes, train=False, seed=cfg.run.seed)
    inception = None
    if "is" in opts.metrics:
        inception = load_inception(classifier, allow_random_weights=allow_random_weights,
                                   device=device)
    judge = None
    if "attr" in opts.metrics:
        train_set = build_dataset(cfg.data, "train", sizes, train=False, seed=cfg.run.seed)
        ident = {"kind": cfg.data.kind, "split": "train", "items": len(train_set),
                 "synthetic_seed": cfg.data.synthetic_seed, "synthetic_count": cfg.data.synthetic_count,
                 "data_version": getattr(train_set, "data_version", None)}
        judge, info = load_or_train_judge(train_set, ident, Path(cache_dir) if cache_dir
                                          else default_cache_dir(), opts.judge)
        judge.info = info
    notes = [RANDOM_LABEL] if inception is not None and inception.is_random else []

    def run(generator_ema: torch.nn.Module, epoch: int) -> dict[str, float]:
        was = generator_ema.training
        generator_ema.eval()
        dev = next(generator_ema.parameters()).device

        @torch.no_grad()
        def generate(text, z, eps):
            return [im.float().cpu() for im in
                    generator_ema(z.to(dev), text.to(dev), ca_eps=eps.to(dev)).images]

        try:
            res = evaluate_generator(generate, dataset, sizes, cfg.model.z_dim, cfg.model.c_dim,
                                     opts, inception=inception, judge=judge)
        finally:
            generator_ema.train(was)
        out: dict[str, float] = {}
        for s, r in res["results"].items():
            if "is" in r:
                out[f"is_{s}"] = r["is"]["mean"]
                out[f"is_{s}_std"] = r["is"]["std"]
            if "attr" in r:
                a = r["attr"]
                if a["accuracy"] is not None:  # attributes the judge reads reliably
                    out[f"attr_acc_{s}"] = a["accuracy"]
                    out[f"attr_real_{s}"] = a["real_accuracy"]
                if a["accuracy_all_attributes"] is not None:
                    out[f"attr_acc_all_{s}"] = a["accuracy_all_attributes"]
                    out[f"attr_real_all_{s}"] = a["real_accuracy_all_attributes"]
        return out

    run.notes = notes
    run.comparable = not notes
    run.options = opts
    return run
