"""R-precision: the vectorised ranking against a literal DM-GAN-style loop, the folds, the
distractor draw (other classes only, fixed per sample), and the metric in a real evaluation
(generated == real gives the ceiling exactly; a bow model without --rp-encoder is refused)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gtgan.config import EncoderConfig
from gtgan.data import build_encoder
from gtgan.data.damsm_folder import load_damsm
from gtgan.data.synthetic import SyntheticBirds
from gtgan.metrics import EvalOptions, evaluate_generator
from gtgan.metrics.registry import EvalError
from gtgan.metrics.rprecision import CaptionBank, fold_stats, hits, real_r_precision


def _literal(image_feat, own, distractors):
    """DM-GAN's loop: scores of [own; 99 others] / norms, hit when argmax is 0 (ties go to the
    own caption, index 0; a tie is taken within rounding, which differs between CPUs)."""
    out = []
    for i in range(len(image_feat)):
        rnn = torch.cat([own[i:i + 1], distractors[i]], 0)
        cnn = image_feat[i:i + 1]
        scores = cnn @ rnn.t() / (cnn.norm(dim=1, keepdim=True) @ rnn.norm(dim=1, keepdim=True).t()).clamp(min=1e-8)
        out.append(bool(scores[0, 0] >= scores[0, 1:].max() - 1e-12))
    return out


def test_hits_equal_a_brute_force_ranking():
    g = torch.Generator().manual_seed(0)
    n, k, d = 200, 99, 6
    img = torch.randn(n, d, generator=g, dtype=torch.float64)
    own = img + 1.5 * torch.randn(n, d, generator=g, dtype=torch.float64)
    dis = torch.randn(n, k, d, generator=g, dtype=torch.float64)
    img[:5] = own[:5]
    dis[:5, 3] = own[:5]  # exact ties at the top: the own caption wins, as argmax does
    got = hits(img, own, dis).tolist()
    assert got == _literal(img, own, dis)
    assert all(got[:5]) and 0.05 < np.mean(got) < 0.95  # a case where ranking matters


def test_folds():
    h = [True] * 3000 + [False] * 3000 + [True] * 1500 + [False] * 1500 + [True] * 21000 + [True] * 7
    st = fold_stats(h)
    assert st["folds"] == 10 and st["fold_size"] == 3000 and st["n"] == 30007
    assert st["per_fold"][:3] == [1.0, 0.0, 0.5]
    assert st["mean"] == pytest.approx(np.mean(st["per_fold"])) and st["std"] == pytest.approx(np.std(st["per_fold"]))
    small = fold_stats([True, False, True, True])
    assert small["folds"] == 1 and small["mean"] == 0.75 and small["std"] is None


@pytest.fixture(scope="module")
def birds():
    return SyntheticBirds("test", 120, 0, build_encoder(EncoderConfig(kind="bow", dim=1024)),
                          [64], train=False, seed=0)


def test_distractors_other_classes_fixed_per_sample(tiny_damsm_dir, birds):
    bank = CaptionBank(load_damsm(tiny_damsm_dir), birds, seed=3)
    rows = bank.distractor_rows(5, 2, 0)
    assert len(rows) == 99 and np.array_equal(rows, bank.distractor_rows(5, 2, 0))
    assert not np.array_equal(rows, bank.distractor_rows(5, 2, 1))  # a new round, new draw
    owner = np.searchsorted(bank.offset, rows, side="right") - 1
    assert (birds.class_ids[owner] != birds.class_ids[5]).all()
    own, dis = bank.for_items([(5, 2, 0), (7, 0, 0)])
    assert torch.equal(own[0], bank.features[bank.offset[5] + 2]) and dis.shape == (2, 99, 16)


def test_metric_real_ceiling_and_refusal(tiny_damsm_dir, birds):
    damsm = load_damsm(tiny_damsm_dir)
    opts = EvalOptions(metrics=("r_precision",), samples=40, batch_size=16, progress=False,
                       rp_encoder=str(tiny_damsm_dir))

    def as_real(text, z, eps):  # a "generator" that returns each caption's real picture
        return [torch.stack([birds.real_image(i, 64) for i, _ in next(order)])]

    schedule = [(i, k) for i in range(len(birds)) for k in range(10)][:40]
    order = iter([schedule[b:b + 16] for b in range(0, 40, 16)])
    rep = evaluate_generator(as_real, birds, [64], 4, 4, opts)
    r = rep["results"]["64"]["r_precision"]
    assert r["n"] == 40 and r["mean"] == r["real"]["mean"]  # generated == real: the ceiling
    assert r["damsm_hash"] == damsm.info["hash"] and "r_precision_damsm" in rep["weights"]
    direct = real_r_precision(damsm, birds, samples=40, seed=0)
    assert direct["r_precision"] == r["real"]["mean"]
    order = iter([schedule[b:b + 16] for b in range(0, 40, 16)])
    with pytest.raises(EvalError, match="needs a DAMSM: this model's text encoder is bow"):
        evaluate_generator(as_real, birds, [64], 4, 4, EvalOptions(
            metrics=("r_precision",), samples=40, progress=False),
            text_encoder=build_encoder(EncoderConfig(kind="bow", dim=1024)))
