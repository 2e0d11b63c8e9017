"""Metric cores: IS, FID, SSIM, the Inception loaders, attribute accuracy bookkeeping."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from gtgan.metrics.attributes import AttributeAccuracy
from gtgan.metrics.frechet import (FeatureStats, fid_from_features, frechet_distance,
                                   frechet_distance_details)
from gtgan.metrics.reference import ReferenceStatsError, load_reference_stats, save_reference_stats
from gtgan.metrics.inception import RANDOM_LABEL, load_inception, sha256_file
from gtgan.metrics.inception_score import InceptionScoreAccumulator, inception_score
from gtgan.metrics.ssim import MeanStd, ssim_per_image
from gtgan.models.fidelity import WeightsError

CUB_MINI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cub-mini"


# ---------------------------------------------------------------- Inception Score

def numpy_is(p: np.ndarray, splits: int) -> tuple[float, float]:
    """The formula written out directly (Salimans et al.'s reference code)."""
    scores = []
    part = p.shape[0] // splits
    for k in range(splits):
        q = p[k * part:(k + 1) * part]
        py = q.mean(axis=0, keepdims=True)
        kl = (q * (np.log(q) - np.log(py))).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def test_is_matches_numpy_formula_on_probabilities():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(37, 0.3), size=503)  # 503: a remainder is left out
    for splits in (1, 10):
        ours = inception_score(p, splits=splits)
        ref = numpy_is(p, splits)
        assert ours.mean == pytest.approx(ref[0], rel=1e-12)
        assert ours.std == pytest.approx(ref[1], rel=1e-9, abs=1e-12)
        assert ours.n == (503 // splits) * splits
    assert inception_score(p, splits=10).mean > 1.5  # not trivially 1


def test_is_from_logits_equals_from_softmax():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, size=(200, 20))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    a = inception_score(torch.from_numpy(logits).float(), splits=4, from_logits=True)
    b = inception_score(probs, splits=4, from_logits=False)
    assert a.mean == pytest.approx(b.mean, rel=1e-5)
    # auto-detection: logits (negative numbers) and probabilities
    assert inception_score(logits, splits=4).mean == pytest.approx(b.mean, rel=1e-9)
    assert inception_score(probs, splits=4).mean == pytest.approx(b.mean, rel=1e-9)


def test_is_identical_predictions_is_one():
    row = np.random.default_rng(2).dirichlet(np.ones(10))
    res = inception_score(np.tile(row, (100, 1)), splits=10)
    assert res.mean == pytest.approx(1.0, abs=1e-12)
    assert res.std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [1, 2, 7, 10])
def test_is_confident_predictions_over_k_classes_is_k(k):
    n_classes, splits = 1000, 5
    labels = np.tile(np.arange(k), 3 * splits)  # every split holds every class equally often
    onehot = np.eye(n_classes)[labels]
    assert inception_score(onehot, splits=splits, from_logits=False).mean == pytest.approx(k, rel=1e-12)
    logits = np.where(onehot > 0, 60.0, 0.0)  # confident, not exactly one-hot
    assert inception_score(logits, splits=splits, from_logits=True).mean == pytest.approx(k, rel=1e-6)


def test_is_accumulator_matches_one_shot():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, size=(230, 50))
    acc = InceptionScoreAccumulator(splits=10, shuffle_seed=5)
    for s in range(0, 230, 17):
        acc.update(torch.from_numpy(logits[s:s + 17]))
    assert acc.n == 230
    assert acc.compute() == inception_score(logits, splits=10, from_logits=True, shuffle_seed=5)
    # the permutation changes which rows share a split, not the pooled score with 1 split
    assert inception_score(logits, 1, shuffle_seed=5).mean == pytest.approx(
        inception_score(logits, 1).mean, rel=1e-12)


def test_is_rejects_bad_input():
    with pytest.raises(ValueError, match="splits"):
        inception_score(np.full((5, 3), 1 / 3), splits=10)
    with pytest.raises(ValueError, match="2-d"):
        inception_score(np.ones(10))
    with pytest.raises(ValueError, match="NaN"):
        inception_score(np.array([[np.nan, 1.0], [0.5, 0.5]]), splits=1)


# ---------------------------------------------------------------- FID

def numpy_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_matches_numpy_reference_and_self_is_zero():
    rng = np.random.default_rng(4)
    a = rng.normal(0, 1, size=(400, 12))
    b = rng.normal(0.3, 1.4, size=(300, 12)) @ rng.normal(0, 0.5, size=(12, 12))
    ref = numpy_fid(a, b)
    assert ref > 1.0
    assert fid_from_features(a, b) == pytest.approx(ref, rel=1e-8)
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-6)


def test_feature_stats_streaming_matches_one_shot():
    rng = np.random.default_rng(5)
    x = rng.normal(1e4, 0.01, size=(1000, 6))  # large mean, tiny spread: a naive sum loses it
    st = FeatureStats()
    for s, e in ((0, 1), (1, 250), (250, 251), (251, 1000)):
        st.update(torch.from_numpy(x[s:e]))
    assert st.n == 1000
    np.testing.assert_allclose(st.mean, x.mean(0), rtol=1e-14)
    np.testing.assert_allclose(st.cov, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-13)
    with pytest.raises(ValueError, match="width"):
        st.update(np.zeros((2, 5)))


def test_fid_rank_deficient_falls_back_to_eigenvalues():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(5, 40)), rng.normal(size=(300, 40))  # 5 samples, 40 dimensions
    sa, sb = FeatureStats(), FeatureStats()
    sa.update(a)
    sb.update(b)
    value, method = frechet_distance_details(sa.mean, sa.cov, sb.mean, sb.cov)
    assert np.isfinite(value) and value > 0
    # the eigenvalue form equals sqrtm where both work
    s1, s2 = np.cov(b[:150], rowvar=False), np.cov(b[150:], rowvar=False)
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(w)) @ v.T
    tr = np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)).sum()
    assert tr == pytest.approx(np.trace(scipy.linalg.sqrtm(s1 @ s2).real), rel=1e-8)
    assert "sqrtm" in method or "eigenvalues" in method


def test_reference_stats_roundtrip_and_stamp_refusal(tmp_path):
    mu, cov = np.arange(3.0), np.eye(3) * 2
    stamp = {"extractor": {"sha256": "abc"}, "image_size": 64, "count": 10}
    path = save_reference_stats(tmp_path / "ref.npz", mu, cov, 10, stamp)
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temp file
    mu2, cov2, n, stamp2 = load_reference_stats(path, stamp)
    np.testing.assert_array_equal(mu2, mu)
    np.testing.assert_array_equal(cov2, cov)
    assert n == 10 and stamp2 == stamp
    with pytest.raises(ReferenceStatsError, match="image_size: file has 64, wanted 128"):
        load_reference_stats(path, dict(stamp, image_size=128))
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    with pytest.raises(ReferenceStatsError, match="bad.npz"):
        load_reference_stats(tmp_path / "bad.npz")
    assert frechet_distance(mu, cov, mu2, cov2) == pytest.approx(0.0, abs=1e-9)


# ---------------------------------------------------------------- SSIM

def _cub_images(size: int, n: int = 6) -> np.ndarray:
    from PIL import Image

    files = sorted((CUB_MINI / "birds" / "CUB_200_2011" / "images").rglob("*.jpg"))
    files = files[:: max(1, len(files) // n)][:n]
    out = []
    for f in files:
        im = Image.open(f).convert("RGB")
        w, h = im.size
        m = min(w, h)
        im = im.crop(((w - m) // 2, (h - m) // 2, (w - m) // 2 + m, (h - m) // 2 + m))
        out.append(np.asarray(im.resize((size, size), Image.Resampling.BICUBIC), np.float64) / 127.5 - 1)
    return np.stack(out)


@pytest.mark.skipif(not CUB_MINI.exists(), reason="cub-mini not present")
@pytest.mark.parametrize("size", [64, 128])
def test_ssim_agrees_with_scikit_image_on_cub_mini(size):
    from skimage.metrics import structural_similarity

    imgs = _cub_images(size)
    a, b = imgs[:3], imgs[3:6]
    t = lambda x: torch.from_numpy(x).permute(0, 3, 1, 2)  # noqa: E731
    ours = ssim_per_image(t(a), t(b)).numpy()
    ref = np.array([structural_similarity((x + 1) / 2, (y + 1) / 2, gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False, data_range=1.0, channel_axis=2)
                    for x, y in zip(a, b)])
    assert np.abs(ours - ref).max() < 1e-4
    assert len(set(np.round(ref, 3))) == 3  # three different pairs, not a degenerate case
    same = ssim_per_image(t(a), t(a)).numpy()
    np.testing.assert_allclose(same, 1.0, atol=1e-6)


def test_ssim_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        ssim_per_image(torch.zeros(2, 3, 64, 64), torch.zeros(2, 3, 32, 32))


def test_mean_std_streaming():
    x = np.random.default_rng(7).normal(size=101)
    m = MeanStd()
    m.update(torch.from_numpy(x[:50]))
    m.update(x[50:])
    assert m.n == 101
    assert m.mean == pytest.approx(x.mean(), rel=1e-12)
    assert m.std == pytest.approx(x.std(), rel=1e-10)


# ---------------------------------------------------------------- Inception loading

@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No pretrained weights reachable, whatever the machine: downloads fail at once."""
    import urllib.error

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    def fail(*a, **k):
        raise urllib.error.URLError("no network (test)")

    import torchvision.models._api

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fail)
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", fail)


def test_imagenet_weights_missing_is_refused(offline):
    with pytest.raises(WeightsError, match="--allow-random-weights"):
        load_inception("imagenet")
    with pytest.raises(WeightsError, match="--allow-random-weights"):
        load_inception("random")


def test_random_inception_is_labelled_and_deterministic(offline):
    with pytest.warns(UserWarning, match="RANDOM"):
        a = load_inception("imagenet", allow_random_weights=True)
    # no download is tried when random weights are allowed: the hub cache is looked at only
    assert "no inception_v3_google" in a.identity["fallback_reason"]
    assert "no network (test)" not in a.identity["fallback_reason"]
    b = load_inception("random", allow_random_weights=True)
    assert a.is_random and a.identity["label"] == RANDOM_LABEL
    assert a.identity["requested"] == "imagenet"
    assert a.identity["sha256"] == b.identity["sha256"]  # seeded: the same random network
    assert load_inception("random", allow_random_weights=True, random_seed=1).identity["sha256"] \
        != a.identity["sha256"]
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    out = a(x)
    assert out.pool.shape == (2, 2048) and out.logits.shape == (2, 1000)
    assert not torch.equal(out.pool[0], out.pool[1])


def test_inception_from_state_dict_file(tmp_path):
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, num_classes=7, aux_logits=False, init_weights=False)
    path = tmp_path / "cub_inception.pth"
    torch.save(net.state_dict(), path)
    loaded = load_inception(str(path))
    assert loaded.num_classes == 7 and not loaded.is_random
    assert loaded.identity["kind"] == "torchvision-file"
    assert loaded.identity["sha256"] == sha256_file(path)
    torch.save({"fc.weight": torch.zeros(7, 2048)}, tmp_path / "partial.pth")
    with pytest.raises(WeightsError, match="partial.pth"):
        load_inception(str(tmp_path / "partial.pth"))
    (tmp_path / "junk.pth").write_text("junk")
    with pytest.raises(WeightsError, match="junk.pth"):
        load_inception(str(tmp_path / "junk.pth"))
    with pytest.raises(WeightsError, match="not found"):
        load_inception(str(tmp_path / "absent.pth"))


def test_pytorch_fid_weights_from_local_file(tmp_path):
    pfi = pytest.importorskip("pytorch_fid.inception")
    net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pfi.FIDInceptionE_1(1280)
    net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    path = tmp_path / "pt_inception.pth"
    torch.save(net.state_dict(), path)
    loaded = load_inception(f"pytorch-fid:{path}")
    assert loaded.identity["kind"] == "pytorch-fid" and loaded.num_classes == 1008
    assert loaded.identity["sha256"] == sha256_file(path)
    assert not loaded.imagenet_normalise  # takes [-1, 1] directly, as pytorch-fid does


# ---------------------------------------------------------------- attribute bookkeeping

def test_attribute_accuracy_counts_only_mentioned():
    acc = AttributeAccuracy(["body", "size"], [8, 2])
    pred = torch.tensor([[1, 0], [2, 1], [3, 1]])
    target = torch.tensor([[1, -1], [5, 1], [-1, 0]])
    acc.update(pred, target)
    r = acc.result()
    assert r["judged"] == {"body": 2, "size": 2}
    assert r["per_attribute"] == {"body": 0.5, "size": 0.5}
    assert r["accuracy"] == 0.5
    assert r["chance"] == pytest.approx((2 / 8 + 2 / 2) / 4)
    json.dumps(r)  # report-ready
