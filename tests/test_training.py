"""Training: objective, EMA, sampler, checkpoints, the run loop (presets, exact resume,
signals, divergence). Tiny widths and a few synthetic birds; a few steps each."""
from __future__ import annotations

import json
import math
import os
import signal

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from gtgan.cli import main as cli_main
from gtgan.config import apply_overrides, save_yaml
from gtgan.errors import CheckpointError
from gtgan.models import DiscriminatorOutput
from gtgan.presets import get_preset, settled_config
from gtgan.storage import latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint
from gtgan.training import EMA, Trainer, make_fake_batch, resume, train
from gtgan.training import loss as L
from gtgan.data import EpochSampler

TINY = ["model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8", "optim.batch_size=2",
        "run.log_every=1", "run.sample_every=0", "run.num_sample_captions=2",
        "run.checkpoint_every=2", "data.synthetic_count=24", "data.num_workers=0",
        "run.precision=fp32"]  # the same numbers on every CPU (auto would pick bf16 on some)
SYNTHETIC = ["data.kind=synthetic", "data.encoder.kind=bow", "loss.damsm_match=false", "data.encoder.dim=1024",
             "model.text_dim=1024", "loss.vgg_weights=random"]
ONE_STAGE = ["model.stages=1", "model.attention_stages=[]"]


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine, OpenMP barriers across oversubscribed
    cores made tiny steps 2-4x slower than a single thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(preset: str, *extra: str):
    over = list(TINY) + (SYNTHETIC if preset != "demo" else [])
    return settled_config(apply_overrides(get_preset(preset), over + list(extra)))


# ---------------------------------------------------------------- objective
def _out(cond, uncond):
    return DiscriminatorOutput(torch.tensor(cond), torch.tensor(uncond), None)


def test_d_loss_labels_follow_stackgan_v2():
    real, wrong = _out([2.0, 1.0], [0.5, -1.0]), _out([-1.0, 0.3], [1.5, 0.2])
    fake = _out([0.1, -2.0], [-0.4, 3.0])
    loss, stats = L.d_stage_loss(real, wrong, fake, uncond_weight=0.5)
    bce = F.binary_cross_entropy_with_logits
    one, zero = torch.ones(2), torch.zeros(2)
    want = (bce(real.cond, one) + bce(wrong.cond, zero) + bce(fake.cond, zero)
            + 0.5 * (bce(real.uncond, one) + bce(wrong.uncond, one) + bce(fake.uncond, zero)))
    assert torch.allclose(loss, want)
    assert torch.allclose(stats["p_wrong"], torch.sigmoid(wrong.cond).mean())
    no_uncond, _ = L.d_stage_loss(real, wrong, fake, uncond_weight=0.0)
    halved = bce(real.cond, one) + 0.5 * (bce(wrong.cond, zero) + bce(fake.cond, zero))
    assert torch.allclose(no_uncond, halved)  # StackGAN-v2 without unconditional terms
    g = L.g_stage_loss(fake, uncond_weight=2.0)
    assert torch.allclose(g, bce(fake.cond, one) + 2.0 * bce(fake.uncond, one))


def test_colour_consistency_zero_for_consistent_scales_and_positive_otherwise():
    small = torch.rand(2, 3, 8, 8) * 2 - 1
    big = F.interpolate(small, scale_factor=2, mode="nearest")  # same colours, same statistics
    assert L.color_consistency_loss([small, big], 1.0).item() < 1e-10
    shifted = big.clone()
    shifted[:, 0] += 0.5
    small.requires_grad_()
    shifted.requires_grad_()
    loss = L.color_consistency_loss([small, shifted], 1.0)
    assert loss.item() == pytest.approx(0.5**2 / 3, rel=1e-4)  # mean moved, covariance not
    loss.backward()  # only the larger scale is pulled towards the smaller one (StackGAN-v2)
    assert small.grad is None and shifted.grad.abs().sum() > 0


def test_fidelity_term_is_minimised_by_the_generator(monkeypatch):
    """Eq. 4's sign reading: with only mu * L1 active, a G step lowers the VGG L1."""
    cfg = tiny("paper", *ONE_STAGE, "optim.lr_g=0.01", "loss.fidelity_weight=1.0", "loss.kl_weight=0")
    step = Trainer(cfg, torch.device("cpu"))
    assert step.loss.fidelity_net is not None and step.vgg_random
    batch = make_fake_batch(cfg, 2)
    # Switch off the adversarial part of G's loss for this check.
    monkeypatch.setattr(L, "g_stage_loss", lambda fo, w: fo.uncond.float().sum() * 0)
    net = step.loss.fidelity_net

    def fidelity():
        z, eps = step.noise(2, step=0)
        with torch.no_grad():
            fake = step.G(batch["text"], z, eps).images[0]
            return L.fidelity_loss(net(fake), net(batch["images"][0])).item()

    before = fidelity()
    losses = step(batch)
    after = fidelity()
    assert losses["fidelity"] == pytest.approx(before, rel=1e-4)
    assert after < before


def test_step_returns_every_loss_and_updates_all_networks():
    cfg = tiny("demo", "loss.color_weight=0.5", "run.precision=fp32", "run.channels_last=false",
               "optim.stage_warmup_steps=0")
    step = Trainer(cfg, torch.device("cpu"))
    before = {k: {n: t.clone() for n, t in sd.items()} for k, sd in step.weights().items()}
    losses = step(make_fake_batch(cfg, 2))
    for key in ("d_loss", "d_loss_64", "d_loss_128", "g_loss", "g_adv", "kl", "color",
                "text_reg_d", "text_reg_g", "p_real", "p_wrong", "p_fake"):
        assert key in losses and isinstance(losses[key], float)
    after = step.weights()
    for net in ("G", "G_ema", "D0", "D1"):
        changed = any(not torch.equal(before[net][n], after[net][n]) for n in after[net])
        assert changed, f"{net} did not change"
    assert step.step == 1


# ---------------------------------------------------------------- EMA
def test_ema_is_kept_apart_from_live_weights():
    live = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    ema = EMA(live, decay=0.999)
    with torch.no_grad():
        for p in live.parameters():
            p.fill_(1.0)
    snapshot = {k: v.clone() for k, v in live.state_dict().items()}
    d = ema.current_decay()
    assert d == pytest.approx(0.1)  # warm-up: (1 + 0) / (10 + 0)
    old = ema.module[0].weight.clone()
    ema.update(live)
    assert torch.allclose(ema.module[0].weight, d * old + (1 - d) * 1.0)
    for k, v in live.state_dict().items():  # the live weights are never written
        assert torch.equal(v, snapshot[k])
    assert not ema.module[0].weight.requires_grad
    for _ in range(20000):
        ema.updates += 1
    assert ema.current_decay() == 0.999


# ---------------------------------------------------------------- data order
def test_epoch_sampler_is_seeded_sharded_and_resumable():
    a = EpochSampler(23, 4, seed=5, rank=0, world_size=2)
    b = EpochSampler(23, 4, seed=5, rank=1, world_size=2)
    assert a.steps_per_epoch == 3
    assert a.batches(0) == EpochSampler(23, 4, seed=5, rank=0, world_size=2).batches(0)
    assert a.permutation(0) != a.permutation(1)
    union = set(a.permutation(0)) | set(b.permutation(0))
    assert union == set(range(23))
    assert a.batches(1, start=2) == a.batches(1)[2:]


# ---------------------------------------------------------------- checkpoints
def _weights(v: float):
    return {"G": {"w": torch.full((3, 2), v)}, "D0": {"w": torch.full((2,), v)}}


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    save_checkpoint(root, 1, _weights(1.0), {"opt": torch.ones(2)}, {"epoch": 0, "position": 1})

    import gtgan.storage.checkpoint as ck

    def crash(*a, **k):
        raise OSError("simulated crash while writing train_state.pt")

    monkeypatch.setattr(ck.torch, "save", crash)
    with pytest.raises(OSError):
        save_checkpoint(root, 2, _weights(2.0), {"opt": torch.ones(2)}, {"epoch": 0, "position": 2})
    monkeypatch.undo()
    assert [p.name for p in list_checkpoints(root)] == ["step-00000001"]
    assert not list(root.glob(".tmp-*"))
    latest = latest_checkpoint(root)
    weights, state, loop = load_checkpoint(latest)
    assert latest.name == "step-00000001" and loop["step"] == 1
    assert torch.equal(weights["G"]["w"], torch.full((3, 2), 1.0))
    # a half-written folder left by a hard kill is never taken for a checkpoint
    (root / ".tmp-step-00000009-1").mkdir()
    (root / ".tmp-step-00000009-1" / "G.safetensors").write_bytes(b"partial")
    assert latest_checkpoint(root).name == "step-00000001"
    for s in (2, 3, 4):
        save_checkpoint(root, s, _weights(float(s)), {}, {"epoch": 0, "position": s}, keep=2)
    assert [p.name for p in list_checkpoints(root)] == ["step-00000003", "step-00000004"]
    assert not list(root.glob(".tmp-*"))
    assert (root / "latest").read_text().strip() == "step-00000004"
    # damage is detected by the checksums
    f = root / "step-00000004" / "G.safetensors"
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="G.safetensors"):
        load_checkpoint(root / "step-00000004")


# ---------------------------------------------------------------- the loop
@pytest.mark.parametrize("preset", ["paper", "stackgan++", "demo"])
def test_presets_train_a_few_steps(tmp_path, preset):
    extra = ["run.sample_every=2"] if preset == "demo" else []
    cfg = tiny(preset, "run.max_steps=2", *extra)
    run = tmp_path / "run"
    result = train(cfg, run, progress=False)
    assert result.status == "max_steps" and result.step == 2
    for name in ("config.yaml", "encoder.json", "env.json", "metrics.jsonl", "model/gtgan_model.json",
                 "plots/d_loss.png", "plots/g_loss.png", "checkpoints/latest"):
        assert (run / name).exists(), name
    assert any((run / "tb").iterdir())
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train_recs = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train_recs] == [1, 2]
    assert all(r["vgg_random"] is (preset == "paper") for r in train_recs)
    assert ("fidelity" in train_recs[0]) is (preset in ("paper", "demo"))  # demo: pixel fidelity
    weights, _, state = load_checkpoint(latest_checkpoint(run / "checkpoints"))
    projected = {"P1", "P2"} if preset == "demo" else set()  # the demo's projected discriminators
    assert state["step"] == 2 and set(weights) == {"G", "G_ema", "D0", "D1"} | projected
    model = load_file(str(run / "model" / "generator.safetensors"))
    assert all(torch.equal(model[k], weights["G_ema"][k]) for k in model)  # model/ is the EMA
    assert any(not torch.equal(weights["G"][k], weights["G_ema"][k]) for k in model)
    if preset == "demo":
        assert (run / "samples" / "step-00000002.png").exists()
        assert "row 1" in (run / "samples" / "step-00000002.txt").read_text()
    env = json.loads((run / "env.json").read_text())
    assert env["runs"][0]["event"] == "start" and env["runs"][0]["torch"] == torch.__version__


class SimulatedKill(Exception):
    pass


def _kill_at(k):
    def hook(step, losses, gan):
        if step == k:
            raise SimulatedKill(step)
    return hook


def _train_records(run):
    out = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["kind"] == "train":
            out.append({k: v for k, v in r.items() if k not in ("elapsed_s", "steps_per_s")})
    return out


def test_killed_then_resumed_equals_uninterrupted_bit_for_bit(tmp_path):
    cfg = tiny("demo", "run.deterministic=true", "run.max_steps=4", "run.sample_every=0",
               "run.precision=bf16")  # autocast on every CPU (slow where emulated, but tiny)
    a, b = tmp_path / "a", tmp_path / "b"
    train(cfg, a, progress=False)
    with pytest.raises(SimulatedKill):  # dies after step 3, last checkpoint at step 2
        train(cfg, b, progress=False, on_step=_kill_at(3))
    assert latest_checkpoint(b / "checkpoints").name == "step-00000002"
    result = resume(b, progress=False)
    assert result.step == 4
    wa, sa, la = load_checkpoint(a / "checkpoints" / "step-00000004")
    wb, sb, lb = load_checkpoint(b / "checkpoints" / "step-00000004")
    for net in wa:
        for k in wa[net]:
            assert torch.equal(wa[net][k], wb[net][k]), f"{net}.{k} differs"
    for ga, gb in zip([sa["gan"]["opt_g"]] + sa["gan"]["opt_d"], [sb["gan"]["opt_g"]] + sb["gan"]["opt_d"]):
        for pid, st in ga["state"].items():
            for key, v in st.items():
                assert torch.equal(v, gb["state"][pid][key])
    assert (la["epoch"], la["position"]) == (lb["epoch"], lb["position"])
    assert _train_records(a) == _train_records(b)  # same losses at every step, no duplicates
    env = json.loads((b / "env.json").read_text())
    assert [r["event"] for r in env["runs"]] == ["start", "resume"] and env["runs"][1]["step"] == 2


def test_sigterm_finishes_the_step_and_checkpoints(tmp_path):
    cfg = tiny("stackgan++", *ONE_STAGE, "run.max_steps=4", "run.checkpoint_every=100")

    def hook(step, losses, gan):
        if step == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    result = train(cfg, tmp_path / "run", progress=False, on_step=hook)
    assert result.status == "signal" and result.step == 1
    assert latest_checkpoint(tmp_path / "run" / "checkpoints").name == "step-00000001"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    again = resume(tmp_path / "run", ["run.max_minutes=0.000001"], progress=False)
    assert again.status == "max_minutes" and again.step == 2


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    real_kl = L.kl_divergence
    calls = {"n": 0}

    def kl(mu, logvar):
        calls["n"] += 1
        out = real_kl(mu, logvar)
        return out * float("nan") if calls["n"] == 3 else out

    monkeypatch.setattr(L, "kl_divergence", kl)
    cfg_path = tmp_path / "tiny.yaml"
    save_yaml(tiny("stackgan++", *ONE_STAGE, "run.max_steps=5"), cfg_path)
    rc = cli_main(["train", "--config", str(cfg_path), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "step 3" in err and "kl=nan" in err and "step-00000002" in err
    assert "Traceback" not in err
    assert [p.name for p in list_checkpoints(tmp_path / "run" / "checkpoints")] == ["step-00000002"]


def test_cli_refuses_a_non_empty_run_dir_and_bad_resume_overrides(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    assert cli_main(["train", "--config", "demo", "--out", str(run)]) == 2
    assert "not empty" in capsys.readouterr().err
    (run / "config.yaml").write_text("")
    save_yaml(tiny("demo"), run / "config.yaml")
    assert cli_main(["train", "--resume", str(run), "--set", "optim.lr_g=1"]) == 2
    assert "cannot change on --resume" in capsys.readouterr().err
    assert cli_main(["train", "--config", "demo"]) == 2
    assert "--out" in capsys.readouterr().err


def test_sigkill_mid_run_leaves_a_loadable_checkpoint_and_resume_continues(tmp_path):
    import subprocess
    import sys
    import time

    cfg_path, run = tmp_path / "tiny.yaml", tmp_path / "run"
    save_yaml(tiny("stackgan++", *ONE_STAGE, "run.max_steps=100000"), cfg_path)
    proc = subprocess.Popen([sys.executable, "-m", "gtgan.cli", "train", "--config", str(cfg_path),
                             "--out", str(run), "--quiet"], env=dict(os.environ, OMP_NUM_THREADS="1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            # wait on what `latest` names: a checkpoint is renamed into place before `latest`
            # points at it, and a kill between the two leaves `latest` on the one before
            newest = latest_checkpoint(run / "checkpoints")
            if newest is not None and int(newest.name.split("-")[1]) >= 6:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    finally:
        proc.kill()  # SIGKILL: no handler runs, possibly in the middle of a checkpoint write
        proc.wait()
    latest = latest_checkpoint(run / "checkpoints")
    weights, _, state = load_checkpoint(latest)  # complete and matching its checksums
    done = state["step"]
    assert done >= 6 and set(weights) == {"G", "G_ema", "D0"}
    result = resume(run, [f"run.max_steps={done + 2}"], progress=False)
    assert result.step == done + 2 and result.status == "max_steps"
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()
             if json.loads(x)["kind"] == "train"]
    assert steps == list(range(1, done + 3))  # the log reads as one run: no gaps, no repeats


def test_in_training_evaluation_hook_gets_the_ema_generator_each_epoch(tmp_path):
    cfg = tiny("stackgan++", *ONE_STAGE, "optim.batch_size=8", "optim.epochs=2",
               "run.eval_every_epochs=1", "run.checkpoint_every=0")
    calls = []

    def eval_fn(generator, epoch):
        calls.append((generator, epoch, generator.training))
        return {"is_64": 1.0 + epoch}

    seen = {}
    result = train(cfg, tmp_path / "run", eval_fn=eval_fn, progress=False,
                   on_step=lambda s, losses, gan: seen.setdefault("gan", gan))
    assert result.status == "finished" and result.epoch == 2 and result.step == 6
    assert [e for _, e, _ in calls] == [1, 2]
    assert all(g is seen["gan"].ema.module and not training for g, _, training in calls)
    evals = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
             if json.loads(x)["kind"] == "eval"]
    assert [(r["epoch"], r["is_64"]) for r in evals] == [(1, 2.0), (2, 3.0)]
    assert (tmp_path / "run" / "plots" / "eval_is_64.png").exists()


def test_data_loader_workers_do_not_change_the_run(tmp_path):
    base = ("stackgan++", *ONE_STAGE, "run.max_steps=2", "run.deterministic=true")
    train(tiny(*base, "data.num_workers=0"), tmp_path / "w0", progress=False)
    train(tiny(*base, "data.num_workers=2"), tmp_path / "w2", progress=False)
    a = load_checkpoint(latest_checkpoint(tmp_path / "w0" / "checkpoints"))[0]
    b = load_checkpoint(latest_checkpoint(tmp_path / "w2" / "checkpoints"))[0]
    assert all(torch.equal(a[n][k], b[n][k]) for n in a for k in a[n])
    assert not torch.are_deterministic_algorithms_enabled()  # global switches put back


def test_resume_skips_a_damaged_latest_checkpoint_with_a_warning(tmp_path):
    run = tmp_path / "run"
    train(tiny("stackgan++", *ONE_STAGE, "run.max_steps=4"), run, progress=False)
    f = run / "checkpoints" / "step-00000004" / "D0.safetensors"
    f.write_bytes(f.read_bytes()[:-8])  # e.g. a failing disk
    with pytest.warns(UserWarning, match="cannot resume from .*step-00000004"):
        result = resume(run, progress=False)
    assert result.step == 4 and result.status == "max_steps"
    load_checkpoint(run / "checkpoints" / "step-00000004")  # rewritten, whole again
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()
             if json.loads(x)["kind"] == "train"]
    assert steps == [1, 2, 3, 4]


def test_stage_warmup_trains_only_the_first_stage_then_all():
    """optim.stage_warmup_steps: stage 2 and its discriminator stay untouched, then train."""
    import torch

    from gtgan.config import apply_overrides
    from gtgan.presets import get_preset
    from gtgan.training.step import Trainer, make_fake_batch

    cfg = apply_overrides(get_preset("stackgan++"), [
        "model.ngf=8", "model.ndf=8", "model.c_dim=8", "model.z_dim=8", "model.text_dim=16",
        "data.encoder.dim=16", "optim.stage_warmup_steps=2", "run.precision=fp32"])
    step = Trainer(cfg, torch.device("cpu"))
    batch = make_fake_batch(cfg, 4)
    g2 = {k: v.clone() for k, v in step.G.h_net2.state_dict().items()}
    d1 = {k: v.clone() for k, v in step.Ds[1].state_dict().items()}
    g1 = step.G.h_net1.fc[0].weight.clone()
    for _ in range(2):
        losses = step(batch)
        assert "d_loss_128" not in losses and "d_loss_64" in losses
    assert not torch.equal(g1, step.G.h_net1.fc[0].weight)
    assert all(torch.equal(v, step.G.h_net2.state_dict()[k]) for k, v in g2.items())
    assert all(torch.equal(v, step.Ds[1].state_dict()[k]) for k, v in d1.items())
    losses = step(batch)
    assert "d_loss_128" in losses
    assert not torch.equal(d1["img_code_s16.0.weight"], step.Ds[1].img_code_s16[0].weight)
    assert not torch.equal(g2["jointConv.0.weight"], step.G.h_net2.jointConv[0].weight)


def test_progress_bar_says_which_stages_train_and_the_time_left():
    from gtgan.training.outputs import progress_fields
    cfg = tiny("demo", "optim.stage_warmup_steps=10", "run.max_minutes=2")
    rec = {"d_loss": 1.23456, "g_loss": 2.5}
    early = progress_fields(cfg, rec, None)  # still warming up
    assert early["D"] == "1.235" and early["px"] == "64"
    assert progress_fields(cfg, rec, 10)["px"] == "64+128"


def test_stop_rule_forecasts_the_rule_that_ends_the_run():
    from gtgan.training.progress import StopRule, clock

    rule = StopRule(total=1000, epoch_total=60000, limit_s=120.0, t0=0.0)
    assert rule.forecast(0, now=1.0) == ("run.max_minutes", 119.0, 1000)  # no pace yet
    for t in (2.0, 3.0, 4.0):  # one step a second
        rule.step_done(now=t)
    ends, left, total = rule.forecast(3, now=4.0)
    assert ends == "run.max_minutes" and left == 116.0 and total == 3 + 116  # the cap first
    assert rule.forecast(3, now=4.0)[2] < rule.total
    fast = StopRule(total=100, epoch_total=60000, limit_s=120.0, t0=0.0)
    for t in (1.0, 1.5, 2.0):
        fast.step_done(now=t)
    assert fast.forecast(10, now=2.0) == ("run.max_steps", 45.0, 100)  # the steps first
    assert StopRule(100, 100, float("inf"), 0.0).step_rule == "optim.epochs"
    assert not rule.time_up(now=118.0) and rule.time_up(now=119.5)  # a step would pass the cap
    rule.reserve_s = 5.0  # the final save costs time too
    assert rule.time_up(now=115.0) and not StopRule(1, 1, float("inf"), 0.0).time_up(now=1e9)
    assert rule.step_status(999) is None and rule.step_status(1000) == "max_steps"
    assert clock(446) == "7:26" and clock(-3) == "0:00" and clock(float("inf")) == "?"


def test_mode_seeking_term_rewards_noise_that_changes_the_picture():
    z1, z2 = torch.zeros(4, 8), torch.ones(4, 8)
    same = torch.zeros(4, 3, 8, 8)
    far = torch.ones(4, 3, 8, 8)
    assert L.mode_seeking_loss(same, same, z1, z2) > 1e4  # noise ignored: huge penalty
    assert L.mode_seeking_loss(same, far, z1, z2) == pytest.approx(1.0, rel=1e-4)
    cfg = tiny("demo", "loss.mode_seeking_weight=1.0", "optim.stage_warmup_steps=0")
    torch.manual_seed(0)
    gan = Trainer(cfg, "cpu")
    z, eps = gan.noise(4)
    z_again, eps_again, z2, _ = gan.noise(4, second=True)
    assert torch.equal(z, z_again) and torch.equal(eps, eps_again) and not torch.equal(z, z2)
    losses = gan(make_fake_batch(cfg, 4))
    assert losses["mode_seeking"] > 0 and math.isfinite(losses["g_loss"])


def test_mode_seeking_pairs_are_mirrored_alike_under_mirror_noise():
    cfg = tiny("demo", "loss.mode_seeking_weight=1.0", "model.mirror_noise=true",
               "optim.stage_warmup_steps=0")
    torch.manual_seed(0)
    gan = Trainer(cfg, "cpu")
    seen = []
    gan.G.register_forward_pre_hook(lambda m, args: seen.append(args[1].clone()))
    gan(make_fake_batch(cfg, 8))
    z1, z2 = seen[0], seen[-1]  # the step's picture, then mode seeking's second one
    assert not torch.equal(z1, z2)
    assert torch.equal(z1[:, 0] < 0, z2[:, 0] < 0)  # the same side: a flip is no free distance


def test_mode_seeking_on_feature_maps_weighs_each_scale_by_its_magnitude():
    z1, z2 = torch.zeros(2, 4), torch.ones(2, 4)
    small, big = torch.ones(2, 3, 4, 4), 100 * torch.ones(2, 5, 2, 2)
    # Each scale 50% apart relative to its size: the same term whatever the scales' magnitudes.
    near = L.mode_seeking_loss([small, big], [1.5 * small, 1.5 * big], z1, z2)
    assert near == pytest.approx(1 / 0.4, rel=1e-4)  # |1 - 1.5| / 1.25 = 0.4 on each scale
    assert L.mode_seeking_loss([small, big], [small, big], z1, z2) > 1e4
    cfg = tiny("demo", "loss.mode_seeking_weight=1.0", "loss.mode_seeking_space=lite0",
               "loss.lite0_weights=random", "optim.stage_warmup_steps=0",
               "model.projected_d_stages=[]")
    torch.manual_seed(0)
    gan = Trainer(cfg, "cpu")
    assert gan.loss.lite0 is not None  # built for mode seeking even without projected stages
    g_conv = gan.G.h_net1.upsample1[1].weight
    before = g_conv.detach().clone()
    losses = gan(make_fake_batch(cfg, 4))
    assert losses["mode_seeking"] > 0 and math.isfinite(losses["g_loss"])
    assert not torch.equal(before, g_conv.detach())
