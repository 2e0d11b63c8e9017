"""lite0_fd, the shape measure: its anchors are in order (real < blurred < one-colour blobs),
generated pictures are placed between them, and every number names the weights' hash."""
from __future__ import annotations

import pytest
import torch

from gtgan.config import EncoderConfig
from gtgan.data import BOW_DIM, build_encoder
from gtgan.data.synthetic import SyntheticBirds
from gtgan.fileio import sha256_file
from gtgan.metrics import EvalOptions, evaluate_generator, fid_from_features, report_markdown
from gtgan.metrics.frechet import frechet_distance_from_samples
from gtgan.metrics.lite0_fd import blob_pictures, halves
from gtgan.models.lite0 import wheel_weights_path

from _datasets import OneCaptionEach


@pytest.fixture(scope="module")
def measured():
    """One evaluation of 50 samples on 100 held-out birds: the 64 px 'generated' pictures are
    the real ones, the 128 px ones their one-colour blobs."""
    enc = build_encoder(EncoderConfig(kind="bow", dim=BOW_DIM))
    data = OneCaptionEach(SyntheticBirds("test", 600, 0, enc, [64, 128], train=False, seed=0))
    order = iter(range(len(data)))

    def generate(features, z, eps):
        index = [next(order) for _ in range(len(z))]
        return [torch.stack([data.real_image(i, 64) for i in index]),
                blob_pictures(torch.stack([data.real_image(i, 128) for i in index]))]

    opts = EvalOptions(metrics=("lite0_fd",), samples=50, batch_size=25, progress=False)
    return evaluate_generator(generate, data, [64, 128], 4, 4, opts)


def test_anchors_are_in_order_and_pictures_are_placed_between_them(measured):
    r64, r128 = (measured["results"][s]["lite0_fd"] for s in ("64", "128"))
    assert r128["n"] == 50 and r128["n_reference"] == 50 and r128["n_anchor"] == 50
    for r in (r64, r128):
        assert 0 < r["real"] < r["blurred_real"] < r["blobs"]
        assert r["kid_anchors"]["real"] < r["kid_anchors"]["blurred_real"] < r["kid_anchors"]["blobs"]
    assert r64["real"] == r128["real"]  # one reference and one set of anchors for every scale
    assert r64["position"] < 0.5  # real birds drawn at 64 px are near the real anchor
    assert r64["value"] == pytest.approx(r64["real_at_size"], rel=0.3)  # the 64 px floor
    assert r128["real_at_size"] == r128["real"] and r64["real"] < r64["real_at_size"]
    assert r128["position"] > 1 and r128["value"] == pytest.approx(r128["blobs"], rel=0.3)


def test_every_number_names_the_weights_and_says_it_is_not_fid(measured):
    digest = sha256_file(wheel_weights_path())
    r = measured["results"]["128"]["lite0_fd"]
    assert r["weights_sha256"] == digest and r["comparable_with_published"] is False
    assert measured["weights"]["lite0_features"]["sha256"] == digest
    assert measured["settings"]["lite0_fd"]["weights_sha256"] == digest
    md = report_markdown({"results": measured["results"], "settings": measured["settings"],
                          "labels": [], "weights": measured["weights"], "model": {}})
    assert "| shape FD, Lite0 (lower is better) | 128 |" in md
    assert "not comparable with published FID" in md and digest in md


def test_halves_are_disjoint_bounded_and_seeded():
    a, b = halves(101, 30)
    assert len(a) == len(b) == 30 and not set(a) & set(b)
    assert halves(101, 30) == (a, b) and halves(101, 30, seed=1) != (a, b)
    assert [len(h) for h in halves(9, 100)] == [4, 4]


def test_blobs_keep_the_mean_colours_and_nothing_else():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = blob_pictures(x)
    assert len(torch.unique(y[0, 0])) == 2  # an ellipse and its ground, one colour each
    assert torch.allclose(y.mean((2, 3)), x.mean((2, 3)), atol=1e-5)


def test_frechet_from_samples_equals_the_covariance_formula():
    g = torch.Generator().manual_seed(0)
    for n_a, n_b, d in ((30, 40, 50), (80, 60, 20)):  # fewer and more samples than dimensions
        a = torch.randn(n_a, d, generator=g, dtype=torch.float64) @ torch.randn(d, d, generator=g,
                                                                                dtype=torch.float64)
        b = 2 * torch.randn(n_b, d, generator=g, dtype=torch.float64) + 0.3
        assert frechet_distance_from_samples(a, b) == pytest.approx(fid_from_features(a, b), rel=1e-6)
