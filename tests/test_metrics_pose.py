"""The pose metric: does the noise move the bird (facing, place, tilt) as the real pictures
vary? Copies score 0 whatever the judge reads; pictures posed by the noise score about 1."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gtgan.data.synthetic import POSE_VALUES, _pose, draw_bird, pose_classes
from gtgan.metrics import EvalOptions, JudgeConfig, evaluate_generator, report_markdown
from gtgan.metrics.attributes import AttributeJudgeError
from gtgan.metrics.pose import PoseVariety, _PoseView

SMALL_JUDGE = JudgeConfig(max_train_images=500, holdout_images=100, epochs=5)


def test_pose_classes_read_the_drawing():
    pose = {"mirror": True, "angle": 17.0, "scale": 1.0, "dx": -7.0, "dy": 0.5, "bg_seed": 0}
    assert pose_classes(pose) == {"facing": "left", "across": "left", "height": "middle",
                                  "tilt": "clockwise"}
    pose.update(mirror=False, angle=-1.0, dx=3.0, dy=5.9)
    assert pose_classes(pose) == {"facing": "right", "across": "right", "height": "low",
                                  "tilt": "level"}
    # Over many draws each class is about equally likely (the bins are thirds of the range).
    drawn = [pose_classes(_pose(0, "train", i, 1)) for i in range(3000)]
    for name, values in POSE_VALUES.items():
        shares = np.array([sum(d[name] == v for d in drawn) for v in values]) / len(drawn)
        assert np.all(np.abs(shares - 1 / len(values)) < 0.04), (name, shares)


def test_variety_is_zero_for_copies_and_one_for_independent_draws():
    g = torch.Generator().manual_seed(0)
    n, names = 4000, list(POSE_VALUES)
    first = torch.randint(0, 3, (n, 4), generator=g)
    real, other = torch.randint(0, 3, (n, 4), generator=g), torch.randint(0, 3, (n, 4), generator=g)
    holdout = dict.fromkeys(names, 0.95)
    copies = PoseVariety(names)
    copies.update(first, first.clone(), real, other)
    r = copies.result(holdout)
    assert r["ratio"] == 0 and all(v["real"] > 0.6 for v in r["per_variable"].values())
    free = PoseVariety(names)
    free.update(first, torch.randint(0, 3, (n, 4), generator=g), real, other)
    assert abs(free.result(holdout)["ratio"] - 1) < 0.06
    # A variable the judge reads badly is reported but left out of the headline.
    r = free.result(dict(holdout, tilt=0.5))
    assert r["reliable_variables"] == ["facing", "across", "height"]
    assert r["per_variable"]["tilt"]["ratio"] is not None


@pytest.fixture(scope="module")
def birds():
    from gtgan.config import EncoderConfig
    from gtgan.data import BOW_DIM, build_encoder
    from gtgan.data.synthetic import SyntheticBirds

    enc = build_encoder(EncoderConfig(kind="bow", dim=BOW_DIM))
    return (SyntheticBirds("train", 800, 0, enc, [64], train=False, seed=0),
            SyntheticBirds("test", 800, 0, enc, [64, 128], train=False, seed=0))


def _bird_generator(test_set, posed_by_noise: bool):
    """Real drawings of one bird: in one pose, or in a pose the noise picks."""
    attrs = test_set.attribute_indices(0)

    def generate(text, z, eps):
        pictures = []
        for j in range(z.size(0)):
            index = int(z[j, :4].abs().sum() * 1e4) % 5000 if posed_by_noise else 7
            img = draw_bird(attrs, _pose(0, "test", index, attrs["size"]), 128)
            pictures.append(torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 127.5 - 1)
        big = torch.stack(pictures)
        return [torch.nn.functional.interpolate(big, size=(64, 64), mode="area"), big]
    return generate


def test_pose_metric_tells_one_pose_from_poses_the_noise_picks(birds, tmp_path):
    train, test = birds
    opts = EvalOptions(metrics=("pose",), samples=60, batch_size=20, progress=False,
                       cache_dir=str(tmp_path), judge=SMALL_JUDGE)
    kwargs = dict(train_set_factory=lambda: train, data_ident={"kind": "synthetic", "split": "test"})
    fixed = evaluate_generator(_bird_generator(test, False), test, [64, 128], 8, 4, opts, **kwargs)
    posed = evaluate_generator(_bird_generator(test, True), test, [64, 128], 8, 4, opts, **kwargs)
    holdout = fixed["weights"]["pose_judge"]["holdout_accuracy"]
    assert holdout["facing"] > 0.9, holdout  # even a small judge reads which way a bird faces
    for size in ("64", "128"):
        assert fixed["results"][size]["pose"]["ratio"] == 0
        r = posed["results"][size]["pose"]
        assert r["per_variable"]["facing"]["ratio"] > 0.7, r
        # about 1 in expectation; the real pictures' side is 30 pairs, so it moves by +-0.4
        assert 0.5 < r["ratio"] < 2.0, r
    # The judge is cached: the second evaluation loaded the first one's.
    assert posed["weights"]["pose_judge"]["cached"] is True
    md = report_markdown({"results": posed["results"], "settings": posed["settings"],
                          "labels": [], "weights": posed["weights"], "model": {}})
    assert "| pose variety (samples / real) | 128 |" in md and "pose_judge: trained on 500" in md


def test_pose_metric_needs_pose_labels():
    class NoPoses:
        pass
    with pytest.raises(AttributeJudgeError, match="synthetic birds"):
        _PoseView(NoPoses())
