"""model.word_attention (AttnGAN's word attention in the refinement stages) and
loss.damsm_match (AttnGAN's DAMSM loss on generated pictures)."""
from __future__ import annotations

import json

import pytest
import torch
import yaml

from gtgan.config import ConfigError, ModelConfig, apply_overrides
from gtgan.models import TextFeatures, WordAttention, build_generator
from gtgan.presets import get_preset, settled_config

TINY = dict(text_dim=6, c_dim=4, z_dim=4, ngf=8, ndf=8)


def test_word_attention_is_attngans_and_ignores_padding():
    torch.manual_seed(0)
    att = WordAttention(channels=5, word_dim=6)
    h, words = torch.randn(2, 5, 3, 4), torch.randn(2, 7, 6)
    mask = torch.tensor([[True] * 4 + [False] * 3, [True] * 7])
    out = att(h, words, mask)
    # AttnGAN's GlobalAttentionGeneral, literally: conv1x1 on (dw, L), bmm, mask, softmax, bmm.
    source = torch.einsum("cd,bld->bcl", att.proj.weight, words)  # (B, C, L)
    target = h.flatten(2).transpose(1, 2)  # (B, N, C)
    attn = torch.bmm(target, source).masked_fill(~mask[:, None, :], float("-inf")).softmax(-1)
    expected = torch.bmm(source, attn.transpose(1, 2)).reshape(2, 5, 3, 4)
    torch.testing.assert_close(out, expected)
    changed = words.clone()
    changed[0, 4:] = 100.0  # padding words take no part
    torch.testing.assert_close(att(h, changed, mask)[0], out[0])


def test_the_generator_reads_word_features_in_stage_two():
    torch.manual_seed(0)
    g = build_generator(ModelConfig(**TINY, word_attention=True)).eval()
    assert g.h_net2.word_attention is not None and g.h_net2.jointConv[0].in_channels == 8 + 4 + 8
    z, sentence = torch.randn(2, 4), torch.randn(2, 6)
    words, mask = torch.randn(2, 5, 6), torch.ones(2, 5, dtype=torch.bool)
    with torch.no_grad():
        a = g(TextFeatures(sentence, words, mask), z, torch.zeros(2, 4)).images[1]
        b = g(TextFeatures(sentence, words.flip(0), mask), z, torch.zeros(2, 4)).images[1]
    assert not torch.allclose(a, b)  # the words change the 128 px picture
    with pytest.raises(ValueError, match="word features"):
        g(TextFeatures(sentence), z)
    plain = build_generator(ModelConfig(**TINY))  # off: StackGAN++'s parameters, unchanged
    assert plain.h_net2.word_attention is None and plain.h_net2.jointConv[0].in_channels == 12


def test_word_attention_and_damsm_loss_need_a_damsm():
    bow = ["data.encoder.kind=bow", "data.encoder.name=synonyms"]
    cfg = apply_overrides(get_preset("demo"), bow + ["model.word_attention=true"])
    with pytest.raises(ConfigError, match="model.word_attention = true needs a text encoder with word"):
        settled_config(cfg)
    cfg = apply_overrides(get_preset("demo"), bow + ["loss.damsm_match=true"])
    with pytest.raises(ConfigError, match="loss.damsm_match = true needs a DAMSM"):
        settled_config(cfg)


def test_a_demo_run_with_word_attention_and_the_damsm_loss(tiny_damsm_dir, tmp_path):
    from gtgan.pipeline import TextToImage
    from gtgan.training import train

    cfg = apply_overrides(get_preset("demo"), [
        "model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8", "optim.batch_size=4",
        "run.max_steps=2", "run.sample_every=0", "run.checkpoint_every=0", "run.log_every=1",
        "data.synthetic_count=16", "run.precision=fp32", "data.encoder.kind=damsm",
        f"data.encoder.name={tiny_damsm_dir}", "model.word_attention=true", "loss.damsm_match=true",
        "optim.stage_warmup_fraction=0"])
    train(cfg, tmp_path / "run", progress=False, stated={"data.encoder.kind", "data.encoder.name"})
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["model"]["text_dim"] == 16 and 0 < saved["model"]["text_scale"] != 32
    recs = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    damsm = [r["damsm"] for r in recs if "damsm" in r]
    assert damsm and all(v > 0 for v in damsm)
    pipe = TextToImage.from_pretrained(tmp_path / "run")
    assert len(pipe(["a red bird with blue wings"], num_images=2)) == 2
    assert len(pipe.interpolate_captions("a red bird", "a blue bird", steps=3)) == 3


def test_damsm_loss_without_word_features_says_what_it_needs():
    from gtgan.training.damsm_losses import generated_matching_loss

    with pytest.raises(ValueError, match="needs the captions' word features"):
        generated_matching_loss(torch.nn.Identity(), torch.zeros(1, 3, 8, 8),
                                TextFeatures(torch.zeros(1, 4)), None)
