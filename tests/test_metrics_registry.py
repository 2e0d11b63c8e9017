"""The metric registry: what is registered, a metric plugged in by one class, the layering rule
(metrics import nothing from training) and the training hook handed to the loop."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from gtgan.metrics import (EvalError, EvalOptions, Metric, evaluate_generator, known_metrics,
                           make_training_eval, metric_class, register_metric, report_markdown)
from gtgan.metrics import registry

from test_metrics_eval import TinySet, _colour_generator, tiny_config


def test_every_metric_of_gtgan_eval_is_registered_in_report_order():
    names = known_metrics()
    assert names[:6] == ("is", "fid", "ssim", "diversity", "pose", "attr")
    for name in names:
        cls = metric_class(name)
        assert issubclass(cls, Metric) and cls.name == name
    with pytest.raises(EvalError, match="choose from is,fid,ssim,diversity,pose,attr"):
        EvalOptions(metrics=("nope",)).validate()


def test_a_name_cannot_be_taken_twice(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    class Other(Metric):
        name = "fid"

    with pytest.raises(TypeError, match="taken"):
        register_metric(Other)


@pytest.fixture
def brightness_metric(monkeypatch):
    """A metric defined and registered in one place, as a new file of gtgan/metrics would."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_metric
    class MeanBrightness(Metric):
        name = "brightness"
        order = 99
        seen_second = []

        @classmethod
        def check(cls, opts):
            if opts.samples < 3:
                raise EvalError("brightness needs 3 samples")

        def __init__(self, ctx):
            super().__init__(ctx)
            self.sums = {s: [0.0, 0] for s in ctx.sizes}

        def update(self, batch):
            acc = self.sums[batch.size]
            acc[0] += float(batch.images.double().mean((1, 2, 3)).sum())
            acc[1] += batch.images.shape[0]

        def result(self, size):
            total, n = self.sums[size]
            return {"mean": total / n, "n": n}

        def settings(self):
            return {"what": "mean pixel value in [-1, 1]"}

        @classmethod
        def report_rows(cls, size, result, report):
            return [f"| brightness | {size} | {result['mean']:.3f} | - | {result['n']} | |"]

        @classmethod
        def training_scalars(cls, size, result):
            return {f"brightness_{size}": result["mean"]}

    return MeanBrightness


def test_a_metric_plugs_in_with_one_class(brightness_metric, tmp_path):
    assert "brightness" in known_metrics()
    with pytest.raises(EvalError, match="brightness needs 3"):
        EvalOptions(metrics=("brightness",), samples=2).validate()
    ds = TinySet(captions=2)
    opts = EvalOptions(metrics=("brightness", "diversity"), samples=8, batch_size=3,
                       progress=False, cache_dir=str(tmp_path))
    res = evaluate_generator(_colour_generator(0.0), ds, [64, 128], 6, 5, opts)
    every_caption = torch.cat([ds.embeddings(i) for i in range(4)])  # 8 samples = 4 images x 2
    expected = float(torch.tanh(every_caption[:, :3]).double().mean())
    assert res["results"]["64"]["brightness"]["mean"] == pytest.approx(expected, abs=1e-9)
    assert list(res["results"]["64"]) == ["diversity", "brightness"]  # report order, not --metrics order
    assert res["settings"]["brightness"] == {"what": "mean pixel value in [-1, 1]"}
    md = report_markdown({"results": res["results"], "settings": res["settings"], "labels": [],
                          "weights": {}, "model": {}})
    assert "| brightness | 128 |" in md and "- brightness: what = mean pixel value" in md


def test_metrics_import_nothing_from_training():
    code = ("import sys, gtgan.metrics as m; m.known_metrics(); "
            "print([k for k in sys.modules if k.startswith('gtgan.training')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_training_loop_runs_the_hook_its_caller_passes(brightness_metric, tmp_path):
    """train(make_eval_fn=...) builds the hook with the run's device and test split; what each
    metric names in training_scalars lands in metrics.jsonl."""
    from gtgan.config import apply_overrides
    from gtgan.training import train

    cfg = apply_overrides(tiny_config(), ["optim.epochs=1", "run.eval_every_epochs=1",
                                          "run.checkpoint_every=0", "run.device=cpu",
                                          "run.precision=fp32", "optim.batch_size=8",
                                          "data.synthetic_count=24", "run.eval_samples=4"])
    calls = []

    def make_eval_fn(run_cfg, device, test_set):
        calls.append((device, len(test_set)))
        return make_training_eval(run_cfg, device, test_set, metrics=("brightness",),
                                  cache_dir=str(tmp_path))

    result = train(cfg, tmp_path / "run", progress=False, make_eval_fn=make_eval_fn)
    assert calls == [(torch.device("cpu"), calls[0][1])] and calls[0][1] > 0
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["kind"] == "eval"]
    assert result.status == "finished" and [r["epoch"] for r in evals] == [1]
    assert set(evals[0]) >= {"brightness_64", "brightness_128"}
    assert -1 <= evals[0]["brightness_128"] <= 1


def test_every_registering_module_is_imported_by_the_package_and_the_registry_imports_none():
    import ast
    from pathlib import Path

    import gtgan.metrics as pkg

    root = Path(pkg.__file__).parent
    registering = {p.stem for p in root.glob("*.py")
                   if p.stem not in ("__init__", "registry") and "@register_metric" in p.read_text()}
    init = ast.parse((root / "__init__.py").read_text())
    imported = {a.name for n in ast.walk(init) if isinstance(n, ast.ImportFrom) and n.level == 1
                for a in n.names} | {n.module for n in ast.walk(init)
                                     if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module}
    assert registering and registering <= imported, registering - imported
    reg = ast.parse((root / "registry.py").read_text())
    own = [n for n in ast.walk(reg) if isinstance(n, ast.ImportFrom) and n.level == 1]
    assert own == [] and "importlib" not in (root / "registry.py").read_text()
