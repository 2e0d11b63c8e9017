"""judge_fid: the Frechet distance on the attribute judge's features tells real pictures from
blurred ones and from checkerboards and flat blobs, the same way every time."""
from __future__ import annotations

import pytest
import torch

from gtgan.models import TextFeatures
from gtgan.metrics import EvalOptions, evaluate_generator, report_markdown
from gtgan.metrics.judge_fid import blur

from _datasets import OneCaptionEach


@pytest.fixture(scope="module")
def birds(small_birds_judge):
    test, judge = small_birds_judge
    return OneCaptionEach(test), judge


def _drawing(dataset, picture):
    """A generator that draws picture(real picture, size) for each scheduled caption."""
    order = iter(range(len(dataset)))

    def generate(text, z, eps):
        index = [next(order) for _ in range(len(text))]
        return [torch.stack([picture(dataset.real_image(i, s), s) for i in index]) for s in (64, 128)]
    return generate


def _checkerboard(x, size):
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    board = (((yy // (size // 8)) + (xx // (size // 8))) % 2).float() * 2 - 1
    return board.expand(3, size, size).clone()


def _flat(x, size):
    return x.mean((1, 2), keepdim=True).expand(3, size, size).clone()


def _judge_fid(birds, picture) -> dict:
    dataset, judge = birds
    opts = EvalOptions(metrics=("judge_fid",), samples=len(dataset), batch_size=40, progress=False)
    return evaluate_generator(_drawing(dataset, picture), dataset, [64, 128], 4, 4, opts, judge=judge)


def test_real_pictures_score_zero_and_blurred_ones_do_not(birds):
    res = _judge_fid(birds, lambda x, size: x)
    r64, r128 = res["results"]["64"]["judge_fid"], res["results"]["128"]["judge_fid"]
    assert abs(r128["value"]) < 1e-6 and abs(r128["real"]) < 1e-6  # the split against itself
    assert r128["blurred_real"] > 1000 * max(abs(r128["real"]), 1e-9) and r128["blurred_real"] > 0.05
    assert r64["value"] < 0.01 * r128["blurred_real"]  # 64 px: the same pictures, downscaled
    assert r128["blob_scale"] == pytest.approx(0, abs=1e-6)
    for key in ("real", "blurred_real", "n_reference", "reference_size"):  # one reference
        assert r64[key] == r128[key]
    assert r128["reference_size"] == 128 and r128["n_reference"] == len(birds[0])
    assert res["settings"]["judge_fid"]["blurred_real"].startswith("those pictures after a Gaussian blur of sigma 4 px")
    md = report_markdown({"results": res["results"], "settings": res["settings"], "labels": [],
                          "weights": res["weights"], "model": {}})
    assert "| judge FD (shapes; lower is better) | 128 |" in md


def test_blurred_pictures_land_on_the_blurred_anchor(birds):
    r = _judge_fid(birds, lambda x, size: blur(x[None], size / 32)[0])["results"]["128"]["judge_fid"]
    assert r["value"] == pytest.approx(r["blurred_real"], rel=1e-9)
    assert r["blob_scale"] == pytest.approx(1.0, rel=1e-9)


def test_checkerboards_and_flat_blobs_are_far_beyond_blurred_birds(birds):
    for picture, factor in ((_checkerboard, 10), (_flat, 5)):
        res = _judge_fid(birds, picture)
        for size in ("64", "128"):
            r = res["results"][size]["judge_fid"]
            assert r["value"] > factor * r["blurred_real"], (picture.__name__, size, r)


def test_the_same_seed_gives_the_same_numbers(birds):
    a = _judge_fid(birds, _flat)["results"]
    b = _judge_fid(birds, _flat)["results"]
    assert a == b


def test_blur_keeps_size_and_mean_and_removes_edges():
    x = torch.zeros(1, 3, 64, 64)
    x[..., 16:48, 16:48] = 1.0
    y = blur(x, 4.0)
    assert y.shape == x.shape
    assert float(y.mean()) == pytest.approx(float(x.mean()), rel=1e-3)  # reflected edges, no loss
    assert float((y[..., 32, 14:18] - y[..., 32, 13:17]).abs().max()) < 0.2  # the step is smoothed
