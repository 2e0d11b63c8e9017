"""`gtgan eval` on a run directory or model folder: load the generator, build the split, run
the evaluation loop and wrap its numbers in a self-explaining report (what was measured, on
which data, with which weights and packages)."""
from __future__ import annotations

import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

import torch

from .. import __version__
from ..data import build_dataset, data_identity
from ..pipeline import TextToImage
from ..presets import resolve_config
from .comparability import merge_labels, report_warnings, trained_against_warning, training_labels
from .evaluate import PROTOCOL, evaluate_generator
from .inception import sha256_file
from .options import EvalOptions
from .registry import EvalError

REPORT_FORMAT = "gtgan-eval"


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "gtgan": __version__}
    for name in ("torch", "torchvision", "torchmetrics", "numpy", "scipy", "safetensors",
                 "pytorch-fid"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


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
    opts.validate()
    run_dir = Path(run_dir)
    # gtgan.storage.load_generator: RUN_DIR's model/, or `checkpoint` (a model folder or
    # RUN_DIR/checkpoints/step-N, its G_ema checksum checked) described by RUN_DIR's config.
    pipe = TextToImage.from_pretrained(checkpoint or run_dir, device=device, data_root=data_root,
                                       run_dir=run_dir)
    weights_file = pipe.weights_file
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

    def generate(features, z, eps):
        return pipe.generate_tensors(features, z=z, ca_eps=eps)

    with _Deterministic():
        measured = evaluate_generator(generate, dataset, sizes, pipe.model_config.z_dim,
                                      pipe.model_config.c_dim, opts, data_ident=ident,
                                      train_set_factory=train_set, device=pipe.device, log=log,
                                      encode_text=pipe.encoder.features, text_encoder=pipe.encoder)
    # Every reason, the generator's training (its own run config) and the scoring networks'.
    labels = merge_labels(training_labels(pipe.run_config, pipe.encoder), measured["labels"])
    warnings = report_warnings(measured["results"])
    trained_against = trained_against_warning(pipe.run_config, pipe.encoder.identity,
                                              measured["results"])
    if trained_against:
        warnings.append(trained_against)
    report = {
        "format": REPORT_FORMAT, "version": 1, "gtgan_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "comparable": not labels, "labels": labels,
        "warnings": warnings,
        "model": {"path": str(Path(pipe.source).resolve()), "weights_file": str(weights_file),
                  "generator_sha256": sha256_file(weights_file) if weights_file.exists() else None,
                  "metadata": pipe.metadata, "image_sizes": sizes,
                  "encoder": pipe.encoder.identity},
        "data": ident, "split": split_name, "seed": opts.seed, "samples": measured["samples"],
        "rounds": measured["rounds"], "batch_size": opts.batch_size, "device": str(pipe.device),
        "metrics": list(opts.metrics),
        "protocol": PROTOCOL,
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
