"""Words a DAMSM does not know: the synonym fallback before the vocabulary lookup, and the
words still unknown named once (CLI line, serve notice, API warning), never dropped silently."""
from __future__ import annotations

import warnings

import pytest
import torch

from gtgan.cli import main
from gtgan.config import EncoderConfig, ModelConfig
from gtgan.data import build_encoder
from gtgan.data.damsm_vocab import Vocabulary, fallback_words
from gtgan.errors import GtganWarning, UnknownWordsWarning
from gtgan.models import build_generator
from gtgan.pipeline import TextToImage
from gtgan.storage import save_model


def test_vocabulary_follows_synonyms_and_number_forms_before_unk():
    v = Vocabulary.build(["a bird with a red breast and blue wings", "leaves behind the bird"])
    same = v.ids("crimson chest, azure wings", 18)
    assert same == v.ids("red breast, blue wings", 18) and 1 not in same
    assert v.lookup("wing") == v.index["wings"]  # singular of a known plural
    assert v.lookup("leaf") == v.index["leaves"]  # "leaf" -> table "leave" -> "leaves"
    assert v.lookup("chests") == v.index["breast"]  # the table through the word's singular
    assert v.lookup("zebra") == 1 and "red" in fallback_words("crimson")
    assert v.unknown_words(["a crimson zebra bird", "zebra stripes, crimson"]) == ["zebra", "stripes"]
    assert v.unknown_share(["crimson zebra"]) == 0.5


@pytest.fixture(scope="module")
def damsm_model(tiny_damsm_dir, tmp_path_factory):
    enc = build_encoder(EncoderConfig(kind="damsm", name=str(tiny_damsm_dir), dim=0))
    cfg = ModelConfig(text_dim=enc.dim, c_dim=8, z_dim=8, ngf=8, ndf=8, stages=1,
                      attention_stages=[])
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("m") / "model"
    save_model(out, cfg, build_generator(cfg).state_dict(), enc.identity, {"note": "test"})
    return out


def test_api_warns_once_with_the_words(damsm_model):
    pipe = TextToImage.from_pretrained(damsm_model)
    assert pipe.unknown_words("a crimson bird") == []  # crimson -> red, in the vocabulary
    with pytest.warns(UnknownWordsWarning) as got:
        pipe(["a crimson bird with zebra qwzx wings", "a zebra bird"], num_images=1)
    assert len(got) == 1 and got[0].message.words == ["zebra", "qwzx"]
    assert isinstance(got[0].message, GtganWarning)
    assert str(got[0].message) == "unknown words ignored: zebra, qwzx"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe(["a crimson bird with azure wings"], num_images=1)  # nothing unknown: no warning


def test_generate_names_unknown_words_in_one_line(damsm_model, tmp_path, capsys):
    png = tmp_path / "g.png"
    assert main(["generate", str(damsm_model), "a crimson bird with zebra wings", "-n", "1",
                 "-o", str(png)]) == 0
    err = capsys.readouterr().err
    assert err.count("gtgan generate: unknown words ignored: zebra\n") == 1, err
    assert "UserWarning" not in err and "warn(" not in err
    assert main(["interpolate", str(damsm_model), "a zebra bird", "a qwzx bird", "--steps", "2",
                 "-o", str(tmp_path / "i.png")]) == 0
    assert "gtgan interpolate: unknown words ignored: zebra, qwzx" in capsys.readouterr().err


def test_serve_page_shows_the_notice(damsm_model):
    from gtgan.serve import ServeOptions, Service

    service = Service.load(damsm_model, ServeOptions(device="cpu"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the page says it; no warning on the server's console
        res = service.generate("a zebra bird with crimson wings", 1, 3)
        clean = service.generate("a bird with crimson wings", 1, 3)
    assert res.notice == "unknown words ignored: zebra" and "unknown words ignored: zebra" in res.line
    assert clean.notice == "" and "unknown" not in clean.line
    assert service.interpolate("a qwzx bird", "a red bird", 2, 1).notice == "unknown words ignored: qwzx"
