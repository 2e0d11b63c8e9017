"""DAMSM: vocabulary, networks, the matching losses against a literal per-caption loop,
encoder folders (hashes, damage, the text-only copy), the `damsm` text-encoder kind, and
`gtgan encoder train` end to end (resume, failures) feeding `gtgan train` and `generate`."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gtgan.cli import main
from gtgan.config import ConfigError, EncoderConfig
from gtgan.data import build_encoder, encoder_from_identity
from gtgan.data.damsm import DamsmTextEncoder
from gtgan.data.damsm_folder import DAMSM_JSON, TEXT_FILE, copy_text_part, load_damsm, save_damsm
from gtgan.data.damsm_vocab import Vocabulary, tokenize
from gtgan.data.encoders import parse_encoder_spec
from gtgan.errors import EncoderError
from gtgan.models.damsm import DamsmConfig, DamsmTextNet, SmallCnnImageNet
from gtgan.training.damsm_losses import Gammas, damsm_losses, sentence_scores, word_scores


# ---------------------------------------------------------------- vocabulary

def test_vocabulary_ids_unknown_words_truncation_and_file(tmp_path):
    v = Vocabulary.build(["A red bird, with blue wings.", "a small bird"])
    assert v.words[:2] == ["<end>", "<unk>"] and "red" in v.index and "," not in v.index
    assert tokenize("Red-winged bird_2!") == ["red", "winged", "bird_2"]
    assert v.ids("a zebra bird", 18) == [v.index["a"], 1, v.index["bird"]]
    assert v.ids("a crimson bird", 18) == v.ids("a red bird", 18)  # the synonym fallback
    assert v.ids("!!!", 18) == [1]  # never an empty sequence
    long = " ".join(["red", "blue"] * 15)
    assert len(v.ids(long, 18)) == 18 and v.ids(long, 18) == v.ids(long, 18)
    sub = v.ids(" ".join(f"w{i}" for i in range(30)), 5, np.random.default_rng(0))
    assert len(sub) == 5
    words = [f"w{i}" for i in range(30)]
    v2 = Vocabulary.build([" ".join(words)])
    kept = [v2.words[i] for i in v2.ids(" ".join(words), 18, np.random.default_rng(1))]
    assert kept == sorted(kept, key=lambda w: int(w[1:])) and len(set(kept)) == 18  # in order
    ids, lengths = v.batch(["a red bird", "bird"], 18)
    assert ids.shape == (2, 3) and lengths.tolist() == [3, 1] and ids[1, 1:].eq(0).all()
    v.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json").words == v.words
    (tmp_path / "bad.json").write_text('{"format": "x"}')
    with pytest.raises(EncoderError, match="not a gtgan DAMSM vocabulary"):
        Vocabulary.load(tmp_path / "bad.json")


# ---------------------------------------------------------------- networks and losses

def test_networks_shapes_and_padding():
    cfg = DamsmConfig(dim=16, word_embedding_dim=8, image_encoder="small-cnn", image_size=32, cnn_width=4)
    text = DamsmTextNet(20, cfg).eval()
    ids = torch.tensor([[3, 4, 5, 0], [6, 7, 0, 0]])
    words, sent = text(ids, torch.tensor([3, 2]))
    assert words.shape == (2, 16, 4) and sent.shape == (2, 16)
    assert words[1, :, 2:].abs().sum() == 0  # nothing past a caption's end
    alone = text(ids[1:, :2], torch.tensor([2]))[1]  # padding does not change the sentence
    assert torch.allclose(alone, sent[1:], atol=1e-6)
    regions, code = SmallCnnImageNet(cfg)(torch.rand(3, 3, 64, 64) * 2 - 1)  # resized to 32
    assert regions.shape == (3, 16, 4, 4) and code.shape == (3, 16)
    with pytest.raises(ConfigError, match="damsm.dim"):
        DamsmConfig(dim=15).validate()


def _literal_word_scores(regions, words, lengths, g):
    """AttnGAN's words_loss similarity matrix, one caption at a time (func_attention)."""
    n, d = regions.shape[:2]
    context = regions.reshape(n, d, -1)
    L = context.shape[2]
    sims = []
    for i in range(n):
        t = int(lengths[i])
        word = words[i, :, :t].unsqueeze(0).repeat(n, 1, 1)
        attn = torch.bmm(context.transpose(1, 2), word)  # n x L x t
        attn = attn.reshape(n * L, t).softmax(1).reshape(n, L, t).transpose(1, 2)
        attn = (attn * g.gamma1).reshape(n * t, L).softmax(1).reshape(n, t, L)
        weighted = torch.bmm(context, attn.transpose(1, 2))  # n x d x t
        row = F.cosine_similarity(word.transpose(1, 2).reshape(n * t, d),
                                  weighted.transpose(1, 2).reshape(n * t, d)).reshape(n, t)
        sims.append((row * g.gamma2).exp().sum(1, keepdim=True).log())
    return torch.cat(sims, 1) * g.gamma3  # [image j, caption i]


def test_losses_match_a_literal_per_caption_loop():
    torch.manual_seed(0)
    g = Gammas()
    n, d = 6, 8
    regions = torch.randn(n, d, 3, 3, dtype=torch.float64)
    words = torch.randn(n, d, 5, dtype=torch.float64)
    lengths = torch.tensor([5, 3, 1, 4, 5, 2])
    for i, t in enumerate(lengths):
        words[i, :, t:] = 1e3  # padding must not count
    got, _ = word_scores(regions, words, lengths, g)
    assert torch.allclose(got.double(), _literal_word_scores(regions, words, lengths, g).float().double(),
                          rtol=1e-4, atol=1e-4)
    code, sent = torch.randn(n, d), torch.randn(n, d)
    s = sentence_scores(code, sent, g.gamma3)
    assert torch.allclose(s[2, 4], g.gamma3 * F.cosine_similarity(code[2], sent[4], dim=0), atol=1e-5)
    classes = torch.tensor([0, 0, 1, 2, 2, 3])
    out = damsm_losses(regions.float(), code, words.float(), sent, lengths, classes, g)
    masked = s.clone()
    masked[0, 1] = masked[1, 0] = masked[3, 4] = masked[4, 3] = float("-inf")
    labels = torch.arange(n)
    assert torch.allclose(out["s_loss0"], F.cross_entropy(masked, labels), atol=1e-5)
    assert torch.allclose(out["s_loss1"], F.cross_entropy(masked.t(), labels), atol=1e-5)
    assert torch.allclose(out["loss"], out["w_loss0"] + out["w_loss1"] + out["s_loss0"] + out["s_loss1"])


# ---------------------------------------------------------------- folders and the encoder kind

def test_folder_roundtrip_hashes_damage_and_text_copy(tiny_damsm_dir, tmp_path):
    d = load_damsm(tiny_damsm_dir)
    info = json.loads((tiny_damsm_dir / DAMSM_JSON).read_text())
    assert d.info["hash"] == info["hash"] and len(info["text_hash"]) == 64
    enc = build_encoder(EncoderConfig(kind="damsm", name=str(tiny_damsm_dir), dim=0))
    v = enc.encode(["a red bird with blue wings", "a bird"])
    assert v.shape == (2, 16) and enc.identity["text_hash"] == info["text_hash"]
    feats = enc.features(["a red bird with blue wings", "a bird"])
    max_words = feats.words.shape[1]
    assert feats.words.shape == (2, max_words, 16) and max_words >= 6
    assert feats.mask.sum(1).tolist() == [6, 2] and torch.allclose(feats.sentence, v)
    assert feats.words[1, 2:].abs().sum() == 0  # padding past the caption
    copy = tmp_path / "copy"
    copy_text_part(tiny_damsm_dir, copy)
    assert not (copy / "image_encoder.safetensors").exists()
    moved = encoder_from_identity({**enc.identity, "name": "/gone", "bundled": str(copy)})
    assert torch.equal(moved.encode(["a red bird with blue wings", "a bird"]), v)
    with pytest.raises(EncoderError, match="only the DAMSM text encoder"):
        load_damsm(copy, image=True)
    with pytest.raises(EncoderError, match="different DAMSM"):
        encoder_from_identity({**enc.identity, "name": str(tiny_damsm_dir), "text_hash": "0" * 64})
    broken = tmp_path / "broken"
    shutil.copytree(tiny_damsm_dir, broken)
    data = bytearray((broken / TEXT_FILE).read_bytes())
    data[-1] ^= 1
    (broken / TEXT_FILE).write_bytes(bytes(data))
    with pytest.raises(EncoderError, match="do not match the checksum"):
        load_damsm(broken)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("mine")
    with pytest.raises(EncoderError, match="not a DAMSM encoder folder"):
        save_damsm(tmp_path / "other", d, {}, {})
    assert (tmp_path / "other" / "x.txt").read_text() == "mine"
    with pytest.raises(EncoderError, match="no such DAMSM encoder folder"):
        build_encoder(EncoderConfig(kind="damsm", name=str(tmp_path / "nowhere"), dim=0))
    assert parse_encoder_spec(f"damsm:{tiny_damsm_dir}").kind == "damsm"
    assert isinstance(enc, DamsmTextEncoder)


# ---------------------------------------------------------------- end to end

_TINY = ["--set", "damsm.dim=16", "--set", "damsm.word_embedding_dim=8", "--set", "damsm.cnn_width=4",
         "--set", "damsm.image_size=32", "--set", "optim.batch_size=8", "--set", "run.eval_samples=60",
         "--set", "run.eval_every_epochs=0", "--set", "run.checkpoint_every=3", "--quiet"]


def test_encoder_train_resume_then_gan_training_and_generation(tmp_path, capsys):
    enc_run = tmp_path / "enc"
    assert main(["encoder", "train", "synthetic:120", "--out", str(enc_run), "--set", "run.max_steps=4",
                 *_TINY]) == 0
    out = capsys.readouterr().out
    assert "R-precision on 60 real test" in out and "small CNN trained from scratch" in out
    assert "(chance 0.0100;" in out
    for name in ("config.yaml", "vocab.json", "metrics.jsonl", "plots/loss.png", "encoder/damsm.json"):
        assert (enc_run / name).exists(), name
    assert main(["encoder", "train", "synthetic:120", "--out", str(enc_run), *_TINY]) == 2  # not empty
    assert "--resume" in capsys.readouterr().err
    assert main(["encoder", "train", "--resume", str(enc_run), "--set", "damsm.dim=32"]) == 2
    assert "only run.*" in capsys.readouterr().err
    assert main(["encoder", "train", "--resume", str(enc_run), "--set", "run.max_steps=6", "--quiet"]) == 0
    info = json.loads((enc_run / "encoder" / DAMSM_JSON).read_text())
    meta, meta_hash, meta_text_hash = info["metadata"], info["hash"], info["text_hash"]
    assert meta["step"] == 6
    steps = [json.loads(x)["step"] for x in (enc_run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps)  # one uninterrupted log
    straight = tmp_path / "straight"  # 6 steps at once: the resumed run is the same run
    assert main(["encoder", "train", "synthetic:120", "--out", str(straight), "--set", "run.max_steps=6",
                 *_TINY]) == 0
    assert json.loads((straight / "encoder" / DAMSM_JSON).read_text())["hash"] == info["hash"]

    gan = tmp_path / "gan"
    sets = ["data.kind=synthetic", "data.synthetic_count=120", "data.encoder.kind=damsm",
            f"data.encoder.name={enc_run}", "data.encoder.dim=16", "model.text_dim=16",
            "run.max_steps=2", "run.sample_every=0", "run.checkpoint_every=2", "optim.batch_size=4",
            "run.max_minutes=0", "optim.stage_warmup_fraction=0", "model.stages=1",
            "model.attention_stages=[]", "model.projected_d_stages=[1]"]
    assert main(["train", "--config", "demo", "--out", str(gan), "--quiet",
                 *[a for s in sets for a in ("--set", s)]]) == 0
    assert (gan / "model" / "text_encoder" / TEXT_FILE).exists()
    rp = tmp_path / "rp.json"
    assert main(["eval", str(gan), "--metrics", "r_precision", "--samples", "20", "--batch-size", "10",
                 "--out", str(rp), "--quiet"]) == 0  # the model's own DAMSM by default
    res = json.loads(rp.read_text())["results"]["64"]["r_precision"]
    assert res["n"] == 20 and res["damsm_hash"] == meta_hash and res["real"]["mean"] is not None
    shutil.rmtree(enc_run)  # the model folder carries the text part: no encoder folder needed
    assert main(["eval", str(gan), "--metrics", "r_precision", "--samples", "20", "--out", str(rp),
                 "--quiet"]) == 2
    assert "--rp-encoder" in capsys.readouterr().err
    png = tmp_path / "g.png"
    assert main(["generate", str(gan / "model"), "a red bird with blue wings", "--out", str(png)]) == 0
    assert png.exists()
    from gtgan import TextToImage  # re-saving a loaded model keeps the encoder's files with it

    pipe = TextToImage.from_pretrained(gan / "model")
    copy = TextToImage.from_pretrained(pipe.save_pretrained(tmp_path / "copy"))
    text = ["a red bird with blue wings"]
    assert torch.equal(copy.encode(text).sentence, pipe.encode(text).sentence)
    assert copy.encoder.identity["text_hash"] == meta_text_hash


def test_encoder_train_bad_input_leaves_nothing(tmp_path, capsys):
    assert main(["encoder", "train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "not a data kind and not an existing folder" in capsys.readouterr().err
    assert main(["encoder", "train", "synthetic:120", "--out", str(tmp_path / "o2"),
                 "--set", "optim.batch_size=500", "--quiet"]) == 2
    assert "fewer than optim.batch_size" in capsys.readouterr().err
    assert main(["encoder", "train", "synthetic:120", "--out", str(tmp_path / "o3"), "--preset",
                 "attngan", "--set", "data.kind=synthetic", "--set", "image_weights=/no/file.pth",
                 "--quiet"]) == 2
    assert "image_weights = '/no/file.pth'" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()
