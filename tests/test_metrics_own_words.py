"""own_words: attribute accuracy on captions in a person's own words, scored like `attr`."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gtgan.data.synthetic import COLOUR_NAMES, draw_bird, sample_attributes
from gtgan.data.synthetic_own_words import OWN_WORDS_CAPTIONS
from gtgan.metrics import EvalOptions, evaluate_generator, report_markdown
from gtgan.models import TextFeatures
from gtgan.metrics.own_words import OWN_WORDS_SAMPLES


@pytest.fixture(scope="module")
def birds(small_birds_judge):
    return small_birds_judge


def _caption_index_encoder(texts):
    """Text -> one-hot of the own-words caption it is (test stand-in for a text encoder)."""
    order = [c.text for c in OWN_WORDS_CAPTIONS]
    out = torch.zeros(len(texts), len(order))
    for row, t in enumerate(texts):
        out[row, order.index(t)] = 1.0
    return TextFeatures(out)


def _painter(follow: bool):
    """Draws, for each caption, a bird with its attributes (others from a fixed random bird),
    or, with follow=False, the same bird whatever the caption says."""
    def generate(text, z, eps):
        rows = []
        for t in text.sentence:
            base = sample_attributes(7, "train", 0)
            if follow and t.numel() == len(OWN_WORDS_CAPTIONS):
                cap = OWN_WORDS_CAPTIONS[int(t.argmax())]
                for k, v in cap.attributes.items():
                    base[k] = (COLOUR_NAMES.index(v) if k in ("body", "wing", "crown", "tail")
                               else ["sky", "foliage", "sand", "dark"].index(v))
            pose = {"mirror": False, "angle": 0.0, "scale": 1.0, "dx": 0.0, "dy": 0.0, "bg_seed": 1}
            rows.append(np.asarray(draw_bird(base, pose, 128), np.float32))
        big = torch.from_numpy(np.stack(rows)).permute(0, 3, 1, 2) / 127.5 - 1
        return [torch.nn.functional.interpolate(big, size=64, mode="area"), big]
    return generate


def _run(birds, generate, encode=_caption_index_encoder):
    test, judge = birds
    opts = EvalOptions(metrics=("attr", "own_words"), samples=16, seed=0, progress=False)
    return evaluate_generator(generate, test, [64, 128], 8, 8, opts, judge=judge,
                              encode_text=encode)


def test_a_generator_that_follows_the_words_scores_high_one_that_ignores_them_near_chance(birds):
    good = _run(birds, _painter(True))["results"]
    bad = _run(birds, _painter(False))["results"]
    for size in ("64", "128"):
        g, b = good[size]["own_words"], bad[size]["own_words"]
        assert g["samples_per_caption"] == OWN_WORDS_SAMPLES
        assert g["all"]["captions"] == len(OWN_WORDS_CAPTIONS)
        assert g["grammar"]["captions"] + g["synonyms"]["captions"] == len(OWN_WORDS_CAPTIONS)
        assert g["all"]["accuracy"] > 0.8, g
        assert b["all"]["accuracy"] < 0.45
        assert abs(b["all"]["accuracy"] - b["all"]["chance"]) < 0.3


def test_own_words_is_deterministic_and_reported_beside_the_held_out_number(birds):
    a = _run(birds, _painter(True))
    b = _run(birds, _painter(True))
    assert a["results"]["128"]["own_words"] == b["results"]["128"]["own_words"]
    report = {"results": a["results"], "settings": a["settings"], "metrics": ["attr", "own_words"],
              "samples": 16, "seed": 0}
    md = report_markdown(report)
    assert "own-words captions" in md and "held-out templates" in md


def test_own_words_needs_a_text_encoder(birds):
    from gtgan.metrics import EvalError

    with pytest.raises(EvalError, match="text encoder"):
        _run(birds, _painter(True), encode=None)
