"""The console a person reads: notices as `gtgan <command>:` lines, a bar that follows the
rule that will end the run, time caps kept (between steps and inside evaluation), no download
when random weights were asked for, and every "can't get weights" naming the local-file option."""
from __future__ import annotations

import json
import sys
import time
import warnings

import pytest
import torch

from gtgan.cli._console import notice_line, notices
from gtgan.config import apply_overrides
from gtgan.errors import TimeCapReached
from gtgan.presets import get_preset


def test_warnings_become_one_gtgan_line(capsys):
    import gtgan.training.outputs as where

    with notices("train"):  # as gtgan's own code raises it
        warnings.warn_explicit("data.skip_missing: 3 item(s) of 543 listed are left out",
                               UserWarning, where.__file__, 106)
    err = capsys.readouterr().err
    assert err == "gtgan train: data.skip_missing: 3 item(s) of 543 listed are left out\n"
    assert notice_line("eval", "slow\n  path", "/x/site-packages/torch/nn/mod.py") == \
        "gtgan eval: slow path (from torch)"


def test_bar_total_and_time_left_follow_the_time_cap(capsys):
    from gtgan.training.progress import StopBar, StopRule

    rule = StopRule(total=60000, epoch_total=60000, limit_s=480.0, t0=time.monotonic())
    bar = StopBar(rule, 0, "train paper")
    rule.step_s = 6.0  # a measured pace of 6 s a step: the 8-minute cap ends the run first
    bar.step(1, {"D": "1.000"})
    assert 75 <= bar.bar.total <= 81  # not 60,000
    text = str(bar.bar)
    assert "(run.max_minutes)" in text and "D=1.000" in text and "/60000" not in text
    bar.step(2)  # every step refreshes the forecast; the losses stay until the next log
    assert "D=1.000" in str(bar.bar)
    bar.close()


TINY = ["model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8", "optim.batch_size=8",
        "run.log_every=1", "run.sample_every=2", "run.num_sample_captions=2", "run.checkpoint_every=2",
        "data.synthetic_count=24", "data.num_workers=0", "run.precision=fp32", "model.stages=1",
        "model.attention_stages=[]", "model.projected_d_stages=[1]", "optim.epochs=1000",
        "run.eval_every_epochs=1",
        "optim.stage_warmup_fraction=0"]


def test_time_cap_is_kept_between_steps_and_inside_evaluation(tmp_path):
    from gtgan.training import train

    cfg = apply_overrides(get_preset("demo"), TINY + ["run.max_minutes=0.1"])  # 6 s
    evals = []

    def eval_fn(generator, epoch, deadline=float("inf")):
        evals.append(epoch)
        while time.monotonic() < deadline:  # an evaluation longer than the time left
            time.sleep(0.05)
        raise TimeCapReached("after 0 of 500 samples")

    eval_fn.takes_deadline = True
    torch.set_num_threads(1)
    result = train(cfg, tmp_path / "run", eval_fn=eval_fn, progress=False,
                   on_step=lambda *a: time.sleep(0.25))  # slow steps
    assert result.status == "max_minutes"
    assert 4.0 <= result.elapsed_s <= 6.0 + 1.5, result.elapsed_s  # a few seconds at most
    assert evals == [1]
    events = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any(e.get("event") == "eval_stopped" for e in events)


def test_random_weights_asked_for_means_no_download(monkeypatch, tmp_path):
    from gtgan.metrics.inception import load_inception

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    tried = []

    def no(*a, **k):
        tried.append(a)
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no)
    with pytest.warns(UserWarning) as got:
        net = load_inception("imagenet", allow_random_weights=True)
    assert net.is_random and not tried
    text = str(got[0].message)
    assert "no download tried" in text and "--classifier FILE" in text
    assert "pass --allow-random-weights" not in text


def test_cant_get_weights_names_the_local_file_option(monkeypatch, tmp_path):
    from gtgan.storage.damsm_init import initial_image_net
    from gtgan.errors import EncoderError
    from gtgan.metrics.inception import WeightsError, load_inception
    from gtgan.models.damsm import DamsmConfig
    from gtgan.models.fidelity import WeightsError as VggError, ensure_vgg19_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))

    def offline(*a, **k):
        raise OSError("no network (test)")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsError, match="--classifier FILE"):
        load_inception("imagenet")
    with pytest.raises(VggError, match="loss.vgg_weights=/path"):
        ensure_vgg19_weights("imagenet")
    with pytest.raises(EncoderError, match="image_weights=PATH"):
        initial_image_net(DamsmConfig(image_encoder="inception"), "imagenet")
