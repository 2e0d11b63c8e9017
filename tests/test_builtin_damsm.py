"""The DAMSM shipped in the package (builtin:synthetic-birds): loads offline, is the one its card
names, binds colours to parts, and a wrong name is one clear line."""
from __future__ import annotations

import re

import pytest
import torch

from gtgan.data import build_encoder
from gtgan.data.damsm_folder import BUILTIN_DIR, builtin_damsms, load_damsm, resolve_damsm_dir
from gtgan.config import EncoderConfig
from gtgan.errors import EncoderError

NAME = "builtin:synthetic-birds"


def test_the_builtin_encoder_is_the_one_its_card_names():
    damsm = load_damsm(NAME)  # every file checked against damsm.json's checksums
    card = (BUILTIN_DIR / "synthetic-birds" / "CARD.md").read_text()
    assert damsm.info["hash"] in card and damsm.info["text_hash"] in card
    assert damsm.cfg.max_words == 40 and damsm.image_net is not None
    assert NAME in builtin_damsms()


@pytest.mark.parametrize("name", ["builtin:nope", "builtin:", "builtin:../synthetic-birds",
                                  "builtin:.hidden"])
def test_an_unknown_builtin_name_is_one_line_listing_what_is_built_in(name):
    with pytest.raises(EncoderError) as exc:
        resolve_damsm_dir(name)
    assert "no such built-in DAMSM" in str(exc.value) and NAME in str(exc.value)
    assert "\n" not in str(exc.value)


def test_its_sentence_vectors_bind_colours_to_parts():
    """A bag of words cannot tell "red breast, blue wings" from "blue breast, red wings"; the
    built-in DAMSM must."""
    enc = build_encoder(EncoderConfig(kind="damsm", name=NAME, dim=0))
    assert enc.identity["name"] == NAME and "bundled" not in enc.identity  # portable
    v = enc.encode(["a bird with a red breast and blue wings",
                    "a bird with a blue breast and red wings",
                    "a bird with a red breast and blue wings ."])
    cos = torch.nn.functional.cosine_similarity
    swapped, same = cos(v[0:1], v[1:2]).item(), cos(v[0:1], v[2:3]).item()
    assert same > 0.95 and swapped < same - 0.1, (swapped, same)


def test_words_of_the_background_phrase_reach_the_sentence_vector():
    """The captions name the background last; 18 words (AttnGAN's cap) cut it off."""
    enc = build_encoder(EncoderConfig(kind="damsm", name=NAME, dim=0))
    head = ("the bird has a long pointed black bill, a belly that is purple, a crown that is "
            "green, a tail that is yellow, and yellow wing feathers")
    assert len(re.findall(r"\w+", head)) > 18
    v = enc.encode([head + " on a sandy background", head + " in the dark"])
    assert not torch.allclose(v[0], v[1], atol=1e-4)


def test_a_derived_text_scale_outside_a_run_uses_the_recorded_norm():
    from gtgan.presets import get_preset, settled_config

    cfg = settled_config(get_preset("demo"))  # no captions at hand
    assert cfg.model.text_dim == 128
    assert cfg.model.text_scale == pytest.approx(128 ** 0.5 / 2.941, rel=1e-3)
