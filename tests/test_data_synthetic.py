"""Built-in synthetic birds: determinism, items, held-out split, attributes."""
import numpy as np
import pytest
import torch

from gtgan.config import DataConfig, EncoderConfig
from gtgan.data import EpochSampler, build_dataset, make_loader
from gtgan.data.synthetic import HELD_OUT_PAIRS
from gtgan.errors import DataError


def _cfg(count=120, seed=0):
    return DataConfig(kind="synthetic", synthetic_count=count, synthetic_seed=seed,
                      encoder=EncoderConfig(kind="bow", dim=0))


@pytest.fixture(scope="module")
def train_ds():
    return build_dataset(_cfg(), "train", [64, 128], train=True, seed=3)


def test_item_layout(train_ds):
    it = train_ds[5]
    assert [tuple(x.shape) for x in it["images"]] == [(3, 64, 64), (3, 128, 128)]
    assert [tuple(x.shape) for x in it["wrong_images"]] == [(3, 64, 64), (3, 128, 128)]
    for x in it["images"] + it["wrong_images"]:
        assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1 and x.std() > 0.05
    assert it["text"].sentence.shape == (train_ds.encoder_identity["dim"],)
    assert it["caption"] in train_ds.captions(5) and it["index"] == 5
    assert torch.equal(it["text"].sentence, train_ds.embeddings(5)[it["caption_index"]])
    # the 64 px view is the 128 px crop scaled down, not another crop
    small = torch.nn.functional.avg_pool2d(it["images"][1][None], 2)[0]
    assert (small - it["images"][0]).abs().mean() < 0.05


def test_same_seed_same_birds_other_seed_other_birds():
    a = build_dataset(_cfg(seed=7), "train", [64, 128], train=True, seed=1)
    b = build_dataset(_cfg(seed=7), "train", [64, 128], train=True, seed=1)
    c = build_dataset(_cfg(seed=8), "train", [64, 128], train=True, seed=1)
    for i in (0, 17, 99):
        ia, ib = a[i], b[i]
        assert all(torch.equal(x, y) for x, y in zip(ia["images"], ib["images"]))
        assert ia["caption"] == ib["caption"] and a.captions(i) == b.captions(i)
        assert np.array_equal(np.asarray(a.load_image(i)), np.asarray(b.load_image(i)))
    assert any(a.captions(i) != c.captions(i) for i in range(10))


def test_per_item_randomness_follows_seed_epoch_index(train_ds):
    first = train_ds[3]
    train_ds.set_epoch(1)
    other = train_ds[3]
    train_ds.set_epoch(0)
    again = train_ds[3]
    assert all(torch.equal(x, y) for x, y in zip(first["images"], again["images"]))
    assert first["caption"] == again["caption"]
    assert not all(torch.equal(x, y) for x, y in zip(first["images"], other["images"]))


def test_wrong_image_always_other_class(train_ds):
    from gtgan.data.base import item_rng

    for i in range(len(train_ds)):
        j = train_ds.wrong_index(i, item_rng(0, 0, i))
        assert train_ds.class_ids[j] != train_ds.class_ids[i]


def test_eval_mode_centre_crop_caption0():
    ds = build_dataset(_cfg(), "train", [64, 128], train=False, seed=0)
    a, b = ds[4], ds[4]
    ds.set_epoch(5)
    c = ds[4]
    assert a["caption_index"] == 0 and c["caption_index"] == 0 and b["caption"] == a["caption"]
    assert torch.equal(a["wrong_images"][0], b["wrong_images"][0])
    assert torch.equal(a["images"][1], c["images"][1])
    assert torch.equal(ds.real_image(4, 128), a["images"][1])
    assert ds.real_image(4, 64).shape == (3, 64, 64)


def test_attributes_and_captions_agree(train_ds):
    for i in range(30):
        true = train_ds.attributes(i)
        assert set(true) == set(train_ds.attribute_names)
        for k, cap in enumerate(train_ds.captions(i)):
            said = train_ds.caption_attributes(i, k)
            assert said and all(true[n] == v for n, v in said.items())
            for n in ("body", "wing", "crown", "tail"):
                if n in said:
                    assert said[n] in cap
        assert {"body", "wing", "crown"} <= set(train_ds.caption_attributes(i, 0))
        assert len(train_ds.captions(i)) == 10 and len(set(train_ds.captions(i))) > 5


def test_held_out_pairs_only_in_test():
    train = build_dataset(_cfg(count=600), "train", [64], train=True, seed=0)
    test = build_dataset(_cfg(count=600), "test", [64], train=False, seed=0)
    pairs = lambda ds: {(ds.attributes(i)["body"], ds.attributes(i)["wing"]) for i in range(len(ds))}
    assert pairs(test) == set(HELD_OUT_PAIRS)
    assert not pairs(train) & set(HELD_OUT_PAIRS)
    assert len(pairs(train)) == 64 - 8
    assert len(test) == 100


def test_colours_are_drawn():
    ds = build_dataset(_cfg(), "train", [128], train=False, seed=0)
    from gtgan.data.synthetic import COLOURS
    for i in range(5):
        img = np.asarray(ds.load_image(i)).reshape(-1, 3).astype(int)
        for part in ("body", "wing", "crown"):
            rgb = np.array(COLOURS[ds.attributes(i)[part]])
            close = (np.abs(img - rgb).sum(1) < 12).mean()
            assert close > 0.008, (i, part)  # each coloured region covers >0.8% of the picture


def test_bad_split():
    with pytest.raises(DataError, match="split 'val' unknown"):
        build_dataset(_cfg(), "val", [64], train=True, seed=0)


def test_worker_count_does_not_change_batches():
    ds = build_dataset(_cfg(count=40), "train", [64], train=True, seed=2)
    ds.set_epoch(3)
    batches = EpochSampler(len(ds), 8, seed=5).batches(3)
    got = []
    for workers in (0, 2):
        batch = next(iter(make_loader(ds, batches, num_workers=workers, seed=5)))
        got.append(batch)
    a, b = got
    assert torch.equal(a["index"], b["index"]) and a["caption"] == b["caption"]
    assert torch.equal(a["images"][0], b["images"][0])
    assert torch.equal(a["wrong_images"][0], b["wrong_images"][0])
    assert torch.equal(a["text"].sentence, b["text"].sentence)
    assert a["text"].sentence.shape == (8, 1024) and a["text"].words is None


def test_hard_negatives_contradict_the_caption_from_within_the_class():
    """data.hard_negatives: mismatched pictures of the item's own class that contradict what
    its caption states, so the conditional discriminator must check more than the class."""
    from dataclasses import replace

    from gtgan.data.base import item_rng

    plain = build_dataset(_cfg(600), "train", [64], train=True, seed=3)
    hard = build_dataset(replace(_cfg(600), hard_negatives=1.0), "train", [64], train=True, seed=3)
    assert plain.hard_negatives == 0 and hard.hard_negatives == 1.0
    within = drawn = 0
    for i in range(len(hard)):
        for k in range(len(hard.captions(i))):
            assert not hard.contradicts(i, k, i)  # a picture never contradicts its own caption
            j = hard.wrong_index(i, item_rng(0, 0, i), k)
            drawn += 1
            if hard.class_ids[j] == hard.class_ids[i]:
                within += 1
                said = hard.caption_attributes(i, k)
                assert j != i and any(hard.attributes(j)[n] != v for n, v in said.items())
            # 0 keeps StackGAN++'s draws exactly: another class, the same random stream
            assert plain.wrong_index(i, item_rng(0, 0, i), k) == plain.wrong_index(i, item_rng(0, 0, i))
    # ~9 of a class here; the captions that state only the class have no such picture
    assert 0.5 < within / drawn < 1.0
    # a caption that states only what the class is: no picture of the class contradicts it
    only_class = [(i, k) for i in range(len(hard)) for k in range(10)
                  if set(hard.caption_attributes(i, k)) <= {"body", "wing"}]
    for i, k in only_class[:20]:
        j = hard.wrong_index(i, item_rng(1, 0, i), k)
        assert hard.class_ids[j] != hard.class_ids[i]
    # evaluation never draws them
    assert build_dataset(replace(_cfg(600), hard_negatives=1.0), "test", [64], train=False,
                         seed=3).hard_negatives == 0


def test_hard_negatives_need_a_data_set_that_knows_its_captions(tmp_path):
    from dataclasses import replace

    from tests.test_data_folder import _cfg as folder_cfg
    from tests.test_data_folder import make_folder
    from gtgan.data.encoders import BowEncoder
    from gtgan.data.folder import prepare_folder

    root = make_folder(tmp_path / "mine")
    rep = prepare_folder(root, BowEncoder())
    split = max(rep["splits"], key=rep["splits"].get)
    with pytest.raises(DataError, match=r"data.hard_negatives = 0.5: data.kind 'folder'"):
        build_dataset(replace(folder_cfg(root), hard_negatives=0.5), split, [64], train=True, seed=0)
    # and the start checks say so before any caption is encoded or model built
    from gtgan.data import check_data_available
    with pytest.raises(DataError, match=r"data.kind 'folder' cannot .* \(only 'synthetic' can\)"):
        check_data_available(replace(folder_cfg(root), hard_negatives=0.5))
    check_data_available(replace(_cfg(600), hard_negatives=0.5))


def test_draw_bird_leaves_out_parts_and_draws_bow_ties_only_when_asked():
    """The flawed birds that calibrate the shape measure (benchmarks/shape_anchors.py --parts)."""
    from gtgan.data.synthetic import BIRD_PARTS, _pose, draw_bird, sample_attributes
    attrs = sample_attributes(0, "test", 3)
    pose = _pose(0, "test", 3, attrs["size"])
    whole = np.asarray(draw_bird(attrs, pose, 128), np.int16)
    for part in BIRD_PARTS:
        flawed = np.asarray(draw_bird(attrs, pose, 128, leave_out=(part,)), np.int16)
        changed = (np.abs(flawed - whole).sum(2) > 30).mean()
        assert 0.0005 < changed < 0.2, (part, changed)  # that part, not the picture
    with pytest.raises(ValueError, match="wings"):
        draw_bird(attrs, pose, leave_out=("wings",))
    level = dict(pose, angle=0.0, dx=0.0)  # centred and upright: a bow tie is its own mirror
    bow = np.asarray(draw_bird(attrs, dict(level, mirror=False), 128, both_ways=True), np.int16)
    assert np.array_equal(bow, np.asarray(draw_bird(attrs, dict(level, mirror=True), 128,
                                                    both_ways=True), np.int16))
    one_way = np.asarray(draw_bird(attrs, level, 128), np.int16)
    # a bow tie is its mirror but for where outline pixels fall (1.5 here against 4.3)
    assert np.abs(bow - bow[:, ::-1]).mean() < 0.5 * np.abs(one_way - one_way[:, ::-1]).mean()
    flat = np.asarray(draw_bird(attrs, pose, 128, flat_background=True, leave_out=BIRD_PARTS))
    assert (flat[0] == flat[0, 0]).all()  # the top row is background: one colour
