"""`gtgan eval` end to end and the evaluation loop: pairing, streaming, caching, determinism."""
from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gtgan.models import TextFeatures
from gtgan.cli import main
from gtgan.metrics.attributes import AttributeClassifier, JudgeConfig, load_or_train_judge
from gtgan.metrics import (EvalError, EvalOptions, ReferenceStatsError, evaluate_generator,
                          make_training_eval, report_markdown)
from gtgan.metrics.evaluate import caption_schedule
from gtgan.metrics.inception import RANDOM_LABEL, InceptionOutput

TINY = ["model.ngf=8", "model.ndf=8", "model.c_dim=16", "model.z_dim=16",
        "model.attention_stages=[]", "model.pam=false", "model.cam=false",
        "data.synthetic_count=120",
        # the bag of words: nothing random in the run, so the hook's `comparable` is tested
        "data.encoder.kind=bow", "loss.damsm_match=false", "data.encoder.name=synonyms"]


def tiny_config():
    from gtgan.config import apply_overrides
    from gtgan.presets import get_preset, settled_config

    return settled_config(apply_overrides(get_preset("demo"), TINY))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run directory with an untrained tiny generator on the synthetic birds."""
    from gtgan.config import save_yaml
    from gtgan.data import build_encoder
    from gtgan.storage import save_model
    from gtgan.models import build_generator

    run = tmp_path_factory.mktemp("run")
    cfg = tiny_config()
    save_yaml(cfg, run / "config.yaml")
    torch.manual_seed(0)
    g = build_generator(cfg.model)
    save_model(run / "model", cfg.model, g.state_dict(), build_encoder(cfg.data.encoder).identity)
    return run


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    def fail(*a, **k):
        raise urllib.error.URLError("no network (test)")

    import torchvision.models._api

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fail)
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", fail)


# ---------------------------------------------------------------- the command

def test_eval_refuses_without_pretrained_weights(run_dir, tmp_path, offline, capsys):
    rc = main(["eval", str(run_dir), "--metrics", "is", "--samples", "10", "--out",
               str(tmp_path / "r.json"), "--device", "cpu", "--cache-dir", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Inception" in err and "--allow-random-weights" in err and "no network (test)" in err
    assert "Traceback" not in err
    assert not (tmp_path / "r.json").exists()


def test_eval_bad_metric_is_a_clear_error(run_dir, tmp_path, capsys):
    rc = main(["eval", str(run_dir), "--metrics", "is,bogus", "--out", str(tmp_path / "r.json")])
    assert rc == 2
    assert "bogus" in capsys.readouterr().err


def test_eval_same_seed_gives_identical_numbers(run_dir, tmp_path, offline):
    def run(out: Path, seed: int, metrics: str = "is,ssim", samples: int = 2) -> dict:
        rc = main(["eval", str(run_dir), "--metrics", metrics, "--samples", str(samples),
                   "--splits", "2", "--seed", str(seed), "--out", str(out), "--device", "cpu",
                   "--cache-dir", str(tmp_path / "cache"), "--allow-random-weights", "--quiet",
                   "--batch-size", "2"])
        assert rc == 0
        return json.loads(out.read_text())

    a = run(tmp_path / "a.json", 3)
    b = run(tmp_path / "b.json", 3)
    assert a["results"] == b["results"]
    assert set(a["results"]) == {"64", "128"}
    assert a["results"]["64"]["ssim"]["n"] == 2 and a["results"]["128"]["is"]["n"] == 2
    assert a["comparable"] is False and RANDOM_LABEL in a["labels"]
    md = (tmp_path / "a.md").read_text()
    assert "NOT COMPARABLE" in md and "| SSIM | 128 |" in md
    assert a["weights"]["is_classifier"]["kind"] == "random"
    assert len(a["model"]["generator_sha256"]) == 64
    assert a["settings"]["ssim"]["data_range"] == 1.0 and a["settings"]["is"]["splits"] == 2
    assert "torch" in a["packages"] and a["summary"]["scale"] == 128
    c = run(tmp_path / "c.json", 4, metrics="ssim")
    assert c["results"]["64"]["ssim"]["mean"] != a["results"]["64"]["ssim"]["mean"]


def test_eval_training_checkpoint(run_dir, tmp_path):
    """--checkpoint RUN_DIR/checkpoints/step-N scores that checkpoint's EMA generator."""
    from safetensors.torch import save_file

    from gtgan.metrics.inception import sha256_file
    from gtgan.models import build_generator

    ckpt = tmp_path / "step-00000005"
    ckpt.mkdir()
    torch.manual_seed(5)
    g = build_generator(tiny_config().model)
    save_file({k: v.contiguous() for k, v in g.state_dict().items()}, str(ckpt / "G_ema.safetensors"))
    digest = sha256_file(ckpt / "G_ema.safetensors")
    state = {"format": "gtgan-checkpoint", "version": 1, "step": 5, "epoch": 0,
             "files": {"G_ema.safetensors": digest}, "weights": ["G_ema"]}
    (ckpt / "state.json").write_text(json.dumps(state))

    def run(*extra) -> tuple[int, dict | None]:
        out = tmp_path / "r.json"
        out.unlink(missing_ok=True)
        rc = main(["eval", str(run_dir), "--metrics", "ssim", "--samples", "2", "--out", str(out),
                   "--device", "cpu", "--quiet", *extra])
        return rc, (json.loads(out.read_text()) if out.exists() else None)

    _, base = run()
    rc, rep = run("--checkpoint", str(ckpt))
    assert rc == 0
    assert rep["model"]["generator_sha256"] == digest and rep["model"]["metadata"]["step"] == 5
    assert rep["results"]["128"]["ssim"]["mean"] != base["results"]["128"]["ssim"]["mean"]
    state["files"]["G_ema.safetensors"] = "0" * 64
    (ckpt / "state.json").write_text(json.dumps(state))
    rc, rep = run("--checkpoint", str(ckpt))
    assert rc == 2 and rep is None


# ---------------------------------------------------------------- the loop, with stand-ins

class TinySet:
    """Four fixed pictures with one or two captions each and two attributes."""

    image_sizes = [64, 128]
    attribute_values = {"colour": ["red", "blue"], "size": ["small", "large", "huge"]}

    def __init__(self, captions: int = 1):
        g = torch.Generator().manual_seed(0)
        self.pics = torch.rand(4, 3, 128, 128, generator=g) * 2 - 1
        self.caps = captions
        self.emb = torch.randn(4, captions, 8, generator=g)

    def __len__(self):
        return 4

    def embeddings(self, i):
        return self.emb[i]

    def text_features(self, i, k):
        return TextFeatures(self.emb[i, k])

    def real_image(self, i, size):
        x = self.pics[i:i + 1]
        return (x if size == 128 else F.interpolate(x, size=(size, size), mode="area"))[0]

    def attributes(self, i):
        return {"colour": ["red", "blue"][i % 2], "size": ["small", "large", "huge"][i % 3]}

    def caption_attributes(self, i, k):
        a = self.attributes(i)
        return {"colour": a["colour"]} if k == 0 else a


class FeatureStandIn(nn.Module):
    """Inception-shaped outputs from pooled colours: cheap, deterministic."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 5)
        self.identity = {"kind": "stand-in", "sha256": "0" * 64, "num_classes": 5, "random": True}
        self.is_random = True

    def forward(self, x):
        pool = torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)
        return InceptionOutput(pool, self.lin(pool[:, :3]))


def perfect_generator(dataset, n):
    """Returns, for each scheduled caption, the real picture it belongs to (and records z)."""
    schedule = caption_schedule(dataset, n)
    seen = []

    def generate(text, z, eps):
        items = [next(schedule) for _ in range(len(text))]
        for (i, k, _), t in zip(items, text.sentence):
            assert torch.equal(t, dataset.embeddings(i)[k])  # text is the scheduled caption's
        seen.append(z.clone())
        return [torch.stack([dataset.real_image(i, s) for i, _, _ in items]) for s in (64, 128)]

    generate.seen = seen
    return generate


def test_perfect_generator_scores_like_real_images(tmp_path):
    ds = TinySet(captions=1)
    judge = AttributeClassifier(ds.attribute_values, width=4).eval()
    judge.info = {"holdout_accuracy": {"colour": 0.95, "size": 0.5}, "holdout_accuracy_mean": 0.725}
    opts = EvalOptions(metrics=("ssim", "fid", "attr", "is"), samples=4, splits=2, batch_size=3,
                       cache_dir=str(tmp_path), progress=False)
    net = FeatureStandIn()
    res = evaluate_generator(perfect_generator(ds, 4), ds, [64, 128], 16, 16, opts,
                             data_ident={"kind": "tiny", "split": "test", "items": 4},
                             inception=net, judge=judge)
    for s in ("64", "128"):
        r = res["results"][s]
        assert r["ssim"]["mean"] == pytest.approx(1.0, abs=1e-9) and r["ssim"]["n"] == 4
        assert r["fid"]["value"] == pytest.approx(0.0, abs=1e-6)
        assert r["fid"]["n"] == 4 and r["fid"]["n_reference"] == 4
        a = r["attr"]
        assert a["accuracy"] == a["real_accuracy"] and a["gap_to_real"] == 0
        assert a["reliable_attributes"] == ["colour"]
        assert a["per_attribute"]["colour"]["judged"] == 4 and a["per_attribute"]["size"]["judged"] == 0
        assert a["chance"] == pytest.approx(0.5)
    assert res["labels"] == [RANDOM_LABEL]
    refs = sorted(tmp_path.glob("fid-ref-*.npz"))
    assert len(refs) == 2  # one stamped file per scale
    # second run: reference statistics come from the cache, numbers are the same
    res2 = evaluate_generator(perfect_generator(ds, 4), ds, [64, 128], 16, 16, opts,
                              data_ident={"kind": "tiny", "split": "test", "items": 4},
                              inception=net, judge=judge)
    assert res2["settings"]["fid"]["reference"]["64"]["cached"] is True
    assert res2["results"] == res["results"]
    report = {"results": res["results"], "settings": res["settings"], "labels": res["labels"],
              "weights": res["weights"], "model": {}}
    md = report_markdown(report)
    assert "| colour |" in md and "no (judge unreliable)" in md


def test_explicit_reference_file_made_differently_is_refused(tmp_path):
    ds = TinySet()
    net = FeatureStandIn()
    ref = str(tmp_path / "ref-{size}.npz")
    opts = EvalOptions(metrics=("fid",), samples=4, batch_size=4, fid_reference=ref, progress=False)
    ident = {"kind": "tiny", "split": "test", "items": 4}
    evaluate_generator(perfect_generator(ds, 4), ds, [64, 128], 4, 4, opts, data_ident=ident,
                       fid_net=net)
    assert (tmp_path / "ref-64.npz").exists() and (tmp_path / "ref-128.npz").exists()
    with pytest.raises(ReferenceStatsError, match="data: file has"):
        evaluate_generator(perfect_generator(ds, 4), ds, [64, 128], 4, 4, opts,
                           data_ident=dict(ident, split="train"), fid_net=net)


def test_schedule_and_noise_do_not_depend_on_batch_size(tmp_path):
    ds = TinySet(captions=2)
    assert list(caption_schedule(ds, 10)) == [
        (0, 0, 0), (0, 1, 0), (1, 0, 0), (1, 1, 0), (2, 0, 0), (2, 1, 0), (3, 0, 0), (3, 1, 0),
        (0, 0, 1), (0, 1, 1)]
    zs = []
    for bs in (3, 10):
        gen = perfect_generator(ds, 10)
        opts = EvalOptions(metrics=("fid",), samples=10, batch_size=bs, seed=7, progress=False,
                           cache_dir=str(tmp_path))
        res = evaluate_generator(gen, ds, [64, 128], 6, 5, opts, fid_net=FeatureStandIn())
        assert res["rounds"] == 2 and res["samples"] == 10
        zs.append(torch.cat(gen.seen))
    assert torch.equal(zs[0], zs[1])
    assert not torch.equal(zs[0][0], zs[0][8])  # second round: fresh noise


def test_options_are_checked():
    with pytest.raises(EvalError, match="fewer than the 10 IS splits"):
        EvalOptions(metrics=("is",), samples=5).validate()
    with pytest.raises(EvalError, match="unknown"):
        EvalOptions(metrics=("r-precision",)).validate()


# ---------------------------------------------------------------- the attribute judge

def test_attribute_judge_learns_and_is_cached(tmp_path):
    from gtgan.config import EncoderConfig
    from gtgan.data import BOW_DIM, build_encoder
    from gtgan.data.synthetic import SyntheticBirds

    enc = build_encoder(EncoderConfig(kind="bow", dim=BOW_DIM))
    train = SyntheticBirds("train", 360, 0, enc, [64], train=False, seed=0)
    cfg = JudgeConfig(max_train_images=300, holdout_images=60, epochs=6)
    ident = {"kind": "synthetic", "split": "train", "synthetic_seed": 0, "synthetic_count": 360}
    judge, info = load_or_train_judge(train, ident, tmp_path, cfg)
    assert info["cached"] is False and info["n_train"] == 300 and info["n_holdout"] == 60
    held = info["holdout_accuracy"]
    assert held["background"] > 0.8  # chance 0.25: large flat regions are learnt at once
    colours = np.mean([held[a] for a in ("body", "wing", "crown", "tail")])
    assert colours > 0.25  # chance 0.125 (this small run; the default judge learns far more)
    again, info2 = load_or_train_judge(train, ident, tmp_path, cfg)
    assert info2["cached"] is True and info2["holdout_accuracy"] == held
    x = torch.stack([train.real_image(i, 64) for i in range(300, 310)])
    assert torch.equal(judge.predict(x), again.predict(x))
    _, info3 = load_or_train_judge(train, dict(ident, synthetic_seed=1), tmp_path,
                                   JudgeConfig(max_train_images=40, holdout_images=10, epochs=1))
    assert info3["cached"] is False  # another data set or config: another judge


# ---------------------------------------------------------------- during training

def test_training_eval_hook(run_dir, tmp_path, offline):
    from gtgan.models import build_generator

    cfg = tiny_config()
    torch.manual_seed(1)
    g = build_generator(cfg.model)
    fn = make_training_eval(cfg, 6, "cpu", cache_dir=str(tmp_path),
                            judge_config=JudgeConfig(max_train_images=64, holdout_images=16, epochs=1))
    assert fn.comparable and fn.options.metrics == ("attr",)
    a, b = fn(g, 1), fn(g, 2)
    assert a == b and set(a) >= {"attr_acc_all_64", "attr_acc_all_128", "attr_real_all_64"}
    assert g.training  # the generator's mode is restored
    fn_is = make_training_eval(cfg, torch.device("cpu"), None, metrics=("is",), classifier="random",
                               allow_random_weights=True, cache_dir=str(tmp_path))
    assert fn_is.options.samples == cfg.run.eval_samples
    fn_is.options.samples, fn_is.options.splits = 2, 2
    out = fn_is(g, 1)
    assert set(out) == {"is_64", "is_64_std", "is_128", "is_128_std"}
    assert out["is_64"] >= 1.0 and fn_is.notes == [RANDOM_LABEL]


def _colour_generator(noise_weight: float, text_weight: float = 1.0):
    """Flat pictures whose colour mixes the caption's vector and the noise."""
    def generate(text, z, eps):
        colour = torch.tanh(text_weight * text.sentence[:, :3] + noise_weight * z[:, :3])
        return [colour[:, :, None, None].expand(-1, -1, s, s) for s in (64, 128)]
    return generate


def test_diversity_tells_noise_ignored_from_noise_used(tmp_path):
    ds = TinySet(captions=2)
    opts = EvalOptions(metrics=("diversity",), samples=8, batch_size=4, progress=False,
                       cache_dir=str(tmp_path))
    collapsed = evaluate_generator(_colour_generator(0.0), ds, [64, 128], 6, 5, opts)
    r = collapsed["results"]["64"]["diversity"]
    assert r["same_caption_l1"] == 0 and r["ratio"] == 0 and r["n"] == 8
    assert r["other_caption_l1"] > 0.05
    noise_only = evaluate_generator(_colour_generator(1.0, text_weight=0.0), ds, [64, 128], 6, 5, opts)
    r = noise_only["results"]["128"]["diversity"]
    assert 0.5 < r["ratio"] < 2  # noise changes a picture as much as another caption does
    assert "diversity" in collapsed["settings"]
    md = report_markdown({"results": collapsed["results"], "settings": collapsed["settings"],
                          "labels": [], "weights": {}, "model": {}})
    assert "| diversity (same / other caption) | 64 | 0.000 |" in md


def test_diversity_does_not_change_the_other_metrics(tmp_path):
    ds = TinySet(captions=2)
    results = []
    for metrics in (("fid",), ("fid", "diversity")):
        opts = EvalOptions(metrics=metrics, samples=8, batch_size=4, progress=False,
                           cache_dir=str(tmp_path))
        res = evaluate_generator(_colour_generator(0.5), ds, [64, 128], 6, 5, opts,
                                 fid_net=FeatureStandIn())
        results.append(res["results"]["64"]["fid"]["value"])
    assert results[0] == results[1]
