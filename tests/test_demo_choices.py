"""The switches the demo preset is built from: a stage warm-up measured in time, the mirrored
fidelity term, pooled keys and values in position attention, and the demo's time budget."""
from __future__ import annotations

import json

import pytest
import torch

from gtgan.config import ConfigError, apply_overrides
from gtgan.demo import MIN_EVAL_SAMPLES, MIN_TRAIN_SHARE, plan_budget
from gtgan.errors import GtganError
from gtgan.models.attention import PositionAttention
from gtgan.presets import get_preset
from gtgan.training import loss as L
from gtgan.training import resume, train
from gtgan.training.warmup import warmup_over as _warmup_over

TINY = ["model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8", "optim.batch_size=2",
        "run.log_every=1", "run.sample_every=0", "run.num_sample_captions=2",
        "run.checkpoint_every=2", "data.synthetic_count=24", "data.num_workers=0",
        "run.precision=fp32", "loss.mode_seeking_weight=0"]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_warmup_ends_at_its_step_count_or_its_share_of_the_time_whichever_first():
    cfg = apply_overrides(get_preset("demo"), ["optim.stage_warmup_steps=100",
                                               "optim.stage_warmup_fraction=0.5", "run.max_minutes=2"])
    assert not _warmup_over(cfg, 10, 59.0)
    assert _warmup_over(cfg, 10, 60.0)  # half of 2 minutes
    assert _warmup_over(cfg, 100, 1.0)
    steps_only = apply_overrides(cfg, ["optim.stage_warmup_fraction=0"])
    assert not _warmup_over(steps_only, 99, 1e9) and _warmup_over(steps_only, 100, 0.0)
    with pytest.raises(ConfigError, match="optim.stage_warmup_fraction"):
        apply_overrides(cfg, ["run.max_minutes=0"])  # a share of no time limit
    with pytest.raises(ConfigError, match="optim.stage_warmup_fraction"):
        apply_overrides(cfg, ["optim.stage_warmup_fraction=1.5"])


def _records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _assert_stage_two_starts_at_step_two(recs: list[dict]) -> None:
    train_recs = {r["step"]: r for r in recs if r["kind"] == "train"}
    assert "d_loss_128" not in train_recs[1] and "d_loss_128" in train_recs[2]

def test_time_based_warmup_switches_once_is_logged_and_survives_resume(tmp_path):
    # A share of 1e-6 of 10 minutes (0.6 ms) is over after the first step, on any machine.
    cfg = apply_overrides(get_preset("demo"), TINY + [
        "optim.stage_warmup_steps=0", "optim.stage_warmup_fraction=0.000001",
        "run.max_minutes=10", "run.max_steps=2"])
    result = train(cfg, tmp_path / "run", progress=False)
    assert result.warmup_end_step == 1
    recs = _records(tmp_path / "run")
    ends = [r for r in recs if r.get("event") == "stage_warmup_end"]
    assert [r["step"] for r in ends] == [1]
    _assert_stage_two_starts_at_step_two(recs)
    # Resumed, the run keeps the recorded switch (the time rule alone would switch again).
    again = resume(tmp_path / "run", ["run.max_steps=3"], progress=False)
    assert again.warmup_end_step == 1 and again.step == 3
    recs = _records(tmp_path / "run")
    assert len([r for r in recs if r.get("event") == "stage_warmup_end"]) == 1


def test_warmup_ended_by_its_time_share_is_not_prolonged_by_its_step_count(tmp_path):
    cfg = apply_overrides(get_preset("demo"), TINY + [
        "optim.stage_warmup_steps=100", "optim.stage_warmup_fraction=0.000001",
        "run.max_minutes=10", "run.max_steps=2"])
    result = train(cfg, tmp_path / "run", progress=False)
    assert result.warmup_end_step == 1
    recs = _records(tmp_path / "run")
    _assert_stage_two_starts_at_step_two(recs)


def test_mirrored_fidelity_accepts_a_bird_facing_the_other_way():
    torch.manual_seed(0)
    real = torch.rand(3, 3, 8, 8)
    flipped = real.flip(3)
    assert L.fidelity_loss(flipped, real) > 0.05
    assert L.fidelity_loss(flipped, real, real.flip(3)) == 0
    assert L.fidelity_loss(real, real, real.flip(3)) == 0
    # per sample: the closer of the two, not the closer on average
    mixed = torch.cat([real[:1], flipped[1:]])
    assert L.fidelity_loss(mixed, real, real.flip(3)) == 0


@pytest.mark.parametrize("pool", [2, 4])
def test_pooled_key_position_attention_equals_its_naive_form(pool):
    torch.manual_seed(0)
    fast = PositionAttention(16, kv_pool=pool)
    naive = PositionAttention(16, naive=True, kv_pool=pool)
    naive.load_state_dict(fast.state_dict())
    with torch.no_grad():
        fast.gamma.fill_(1.0)
        naive.gamma.fill_(1.0)
    x = torch.randn(2, 16, 16, 16, requires_grad=True)
    a = fast(x)
    a.square().sum().backward()
    grad_fast, x.grad = x.grad.clone(), None
    b = naive(x)
    b.square().sum().backward()
    assert a.shape == x.shape
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_fast, x.grad, rtol=1e-4, atol=1e-4)
    with pytest.raises(ConfigError, match="model.pam_kv_pool"):
        apply_overrides(get_preset("paper"), ["model.pam_kv_pool=3"])


def test_budget_gives_training_what_evaluation_and_the_report_leave():
    fast = plan_budget(15 * 60, 20.0, 0.01)
    assert fast.eval_samples == 500
    assert fast.prepare_s + fast.train_s + fast.eval_s + fast.report_s < 15 * 60
    assert fast.train_s > 0.75 * 15 * 60
    slow = plan_budget(15 * 60, 60.0, 0.1)  # 10x slower generation: fewer samples, not less training
    assert MIN_EVAL_SAMPLES <= slow.eval_samples < 500
    assert slow.train_s >= MIN_TRAIN_SHARE * 15 * 60 - 1
    assert slow.prepare_s + slow.train_s + slow.eval_s + slow.report_s < 15 * 60
    assert "training" in slow.summary() and "evaluation" in slow.summary()
    with pytest.raises(GtganError, match="--minutes 1"):
        plan_budget(60, 50.0, 0.2)


def test_demo_refuses_a_file_and_a_too_short_budget_leaves_nothing(tmp_path, monkeypatch):
    from gtgan import demo

    monkeypatch.setenv("GTGAN_CACHE_DIR", str(tmp_path / "cache"))
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    with pytest.raises(GtganError, match="is a file"):
        demo.run_demo(target, minutes=15, log=lambda m: None)
    assert target.read_text() == "mine"
    monkeypatch.setattr(demo, "prepare_evaluation", lambda cfg, opts, log: {"cached": True})
    monkeypatch.setattr(demo, "measure_generation", lambda cfg: 0.5)  # a very slow machine
    with pytest.raises(GtganError, match="too short"):
        demo.run_demo(tmp_path / "out", minutes=1, log=lambda m: None)
    assert not (tmp_path / "out").exists()


def test_budget_counts_r_precision_measured_cost():
    base = plan_budget(15 * 60, 20.0, 0.01)
    rp = plan_budget(15 * 60, 20.0, 0.01, rp_fixed_s=12.0, rp_s_per_sample=0.05)
    assert rp.eval_samples == base.eval_samples == 500
    assert rp.eval_s == pytest.approx(base.eval_s + 12.0 + 500 * 0.05)
    assert rp.rp_s == pytest.approx(12.0 + 500 * 0.05) and base.rp_s == 0
    assert rp.train_s == pytest.approx(base.train_s - rp.rp_s)
    assert "R-precision ~0.6 min" in rp.summary() and "R-precision" not in base.summary()
    # An expensive DAMSM (an Inception at 299 px on a CPU) costs samples, not training time.
    slow = plan_budget(15 * 60, 20.0, 0.01, rp_fixed_s=30.0, rp_s_per_sample=1.0)
    assert MIN_EVAL_SAMPLES <= slow.eval_samples < 500
    assert slow.train_s >= MIN_TRAIN_SHARE * 15 * 60 - 1
    assert slow.prepare_s + slow.train_s + slow.eval_s + slow.report_s < 15 * 60


def _other_damsm(directory, captions, metadata):
    from gtgan.data.damsm_folder import Damsm, save_damsm
    from gtgan.storage.damsm_init import initial_image_net
    from gtgan.data.damsm_vocab import Vocabulary
    from gtgan.models.damsm import DamsmConfig, DamsmTextNet

    vocab = Vocabulary.build(captions)
    cfg = DamsmConfig(dim=16, word_embedding_dim=8, image_encoder="small-cnn", image_size=32, cnn_width=4)
    image, info = initial_image_net(cfg, "from-scratch")
    save_damsm(directory, Damsm(cfg, vocab, DamsmTextNet(len(vocab), cfg), image), info, metadata)
    return directory


def test_demo_checks_its_rp_encoder_before_any_work(tmp_path, monkeypatch, tiny_damsm_dir):
    from gtgan import demo

    def no_work(*a, **k):
        raise AssertionError("the demo started working before checking --rp-encoder")

    monkeypatch.setattr(demo, "prepare_evaluation", no_work)
    monkeypatch.setattr(demo, "measure_generation", no_work)
    (tmp_path / "plain").mkdir()
    dog = _other_damsm(tmp_path / "dogs", ["a small dog runs on the grass"] * 3, {})
    cub = _other_damsm(tmp_path / "cub", ["x"], {"data": {"kind": "cub", "root": "/data/CUB"}})
    cases = [(tmp_path / "nowhere", "no such DAMSM encoder folder"),
             (tmp_path / "plain", "not a DAMSM encoder folder"),
             (dog, r"vocabulary does not know \d+% of the words .*(bird|wings)"),
             (cub, "trained on cub data /data/CUB")]
    for folder, message in cases:
        with pytest.raises(GtganError, match=message) as err:
            demo.run_demo(tmp_path / "out", minutes=15, rp_encoder=str(folder), log=lambda m: None)
        assert str(err.value).startswith("--rp-encoder") and str(folder) in str(err.value)
        assert "\n" not in str(err.value) and str(err.value).count(str(folder)) == 1
        assert "gtgan encoder train" in str(err.value)
        assert not (tmp_path / "out").exists()
    cfg = demo.demo_config(15, ["data.synthetic_count=120"])
    damsm, seconds = demo.check_rp_encoder(cfg, str(tiny_damsm_dir))  # the synthetic birds' words
    assert damsm.image_net is not None and seconds >= 0
    fixed, per_sample = demo.measure_rp(cfg, damsm, batch=8)
    assert 0 < fixed < 60 and 0 < per_sample < 1


def test_report_says_how_to_get_r_precision_or_shows_it(tmp_path):
    from types import SimpleNamespace

    from gtgan.demo_report import EVAL_METRICS, write_html

    cfg = get_preset("demo")
    result = SimpleNamespace(step=8, epoch=1, elapsed_s=60.0, warmup_end_step=4)
    figures = {"real": "real.png", "interpolation": "interpolation.png"}
    page = write_html(tmp_path, cfg, result, {"samples": 16}, "", figures, 90.0).read_text()
    assert "gtgan encoder train synthetic --out damsm-birds" in page
    assert "gtgan demo --rp-encoder damsm-birds" in page and "--rp-encoder /" not in page
    damsm = {"hash": "ab" * 32, "description": "DAMSM abab", "path": "/enc",
             "image_weights_description": "small CNN trained from scratch"}
    report = {"samples": 16, "weights": {"r_precision_damsm": damsm}, "results": {"64": {
        "attr": {"accuracy": 0.5}, "r_precision": {"mean": 0.625, "real": {"mean": 0.953},
                                                    "chance": 0.01},
        "lite0_fd": {"value": 100.0, "real": 10.0, "blurred_real": 190.0, "blobs": 400.0,
                     "position": 0.5}}},
        "labels": ["NOT COMPARABLE: R-precision's DAMSM is a DAMSM with an image encoder trained "
                   "from scratch (no ImageNet features)"], "warnings": ["ceiling near chance"]}
    page = write_html(tmp_path, cfg, result, report, "", figures, 90.0,
                      metrics=EVAL_METRICS + ("r_precision",), rp_encoder="/enc").read_text()
    assert "ab" * 32 in page and "R-precision 0.62 (real pictures 0.95, chance 0.01)" in page
    assert "<b>NOT COMPARABLE: R-precision&#x27;s DAMSM" in page and "<b>ceiling near chance</b>" in page
    assert "shape FD 100.0 (real 10.0, blurred 190.0, blobs 400.0: position 0.50" in page
    assert "--metrics attr,own_words,ssim,diversity,pose,lite0_fd,r_precision --rp-encoder /enc" in page
    assert "gtgan encoder train synthetic" not in page


def test_demo_widths_follow_its_text_encoder_unless_stated(tiny_damsm_dir):
    """`gtgan demo --set data.encoder.kind=damsm ...` needs no width by hand, as `gtgan train`;
    the preset's own DAMSM gives 128-d vectors and a bag of words 1024-d; a stated width that
    disagrees is an error naming both."""
    from gtgan.demo import demo_config
    from gtgan.presets import settled_config

    damsm = ["data.encoder.kind=damsm", f"data.encoder.name={tiny_damsm_dir}"]
    cfg = demo_config(15, damsm)  # widths open until the run starts, which settles them
    assert cfg.data.encoder.dim == cfg.model.text_dim == 0
    cfg.model.text_scale = 1.0  # the DAMSM's derived scale needs its training captions
    assert settled_config(cfg, stated={"data.encoder.kind", "data.encoder.name"}).model.text_dim == 16
    bow = settled_config(demo_config(15, ["data.encoder.kind=bow", "loss.damsm_match=false", "data.encoder.name=synonyms"]))
    assert bow.data.encoder.dim == bow.model.text_dim == 1024 and bow.model.text_scale == 32
    own = demo_config(15, ["model.text_scale=3.5"])
    assert own.data.encoder.name == "builtin:synthetic-birds"
    assert settled_config(own).model.text_dim == 128
    with pytest.raises(ConfigError, match=r"model.text_dim = 512 .* gives 16-d"):
        demo_config(15, damsm + ["model.text_dim=512"])


def test_the_demo_minutes_not_the_preset_epochs_end_training():
    """A 90-minute demo once stopped at the preset's 100 epochs (9,300 steps) after about 64
    minutes; the epochs now follow the minutes unless the user states them."""
    from gtgan.demo import demo_config
    from gtgan.presets import get_preset

    steps_per_epoch = 93  # 3,000 synthetic birds less the held-out ones, batch 32
    for minutes in (1, 15, 90, 600):
        cfg = demo_config(minutes)
        # beyond 100 steps a second for the whole budget: no CPU or GPU reaches it
        assert cfg.optim.epochs * steps_per_epoch >= 100 * 60 * minutes
        assert cfg.optim.epochs >= get_preset("demo").optim.epochs
    assert demo_config(90, ["optim.epochs=3"]).optim.epochs == 3
