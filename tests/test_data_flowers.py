"""Oxford-102 flowers in the StackGAN layout (data.kind=flowers), on a fixture written here:
a few tiny JPEGs, text_c10 captions and the split pickles, as StackGAN's archive holds them."""
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gtgan.cli import main
from gtgan.config import DataConfig, EncoderConfig
from gtgan.data import build_dataset, build_encoder, detect_kind
from gtgan.errors import DataError

COLOURS = ["red", "yellow", "purple", "white", "orange", "pink", "blue", "green"]
TRAIN = [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (6, 3)]  # (image number, class)
TEST = [(7, 4), (8, 4), (9, 5), (10, 5)]
DIM = 16


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GTGAN_CACHE_DIR", str(tmp_path / "cache"))


def _dump(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)  # StackGAN's pickles are protocol 2


def make_flowers(root: Path, split_beside: bool = False, class_info: bool = True) -> Path:
    """ROOT/flowers/{jpg, text_c10, train, test}; `split_beside`: the split folders in
    ROOT/flowers/ but jpg/ and text_c10/ in ROOT (the archive unpacked beside the images)."""
    base = root if split_beside else root / "flowers"
    for number, cls in TRAIN + TEST:
        colour = COLOURS[number % len(COLOURS)]
        img = Image.new("RGB", (48, 40), (40 * cls, 200 - 20 * number, 90))
        (base / "jpg").mkdir(parents=True, exist_ok=True)
        img.save(base / "jpg" / f"image_{number:05d}.jpg", quality=90)
        text = base / "text_c10" / f"class_{cls:05d}" / f"image_{number:05d}.txt"
        text.parent.mkdir(parents=True, exist_ok=True)
        text.write_text("".join(f"this flower has {colour} petals, caption {k}\n" for k in range(10)))
    splits = root / "flowers"
    # StackGAN's names ('jpg/image_XXXXX') with class_info.pickle for train; the
    # 'class_XXXXX/image_XXXXX' form without it for test
    _dump([f"jpg/image_{n:05d}" for n, _ in TRAIN], splits / "train" / "filenames.pickle")
    if class_info:
        _dump([c for _, c in TRAIN], splits / "train" / "class_info.pickle")
    _dump(np.arange(len(TRAIN) * 10 * DIM, dtype=np.float32).reshape(len(TRAIN), 10, DIM) / 1000,
          splits / "train" / "char-CNN-RNN-embeddings.pickle")
    _dump([f"class_{c:05d}/image_{n:05d}" for n, c in TEST], splits / "test" / "filenames.pickle")
    return root


def _cfg(root, **kw):
    enc = kw.pop("encoder", EncoderConfig(kind="bow", dim=64))
    return DataConfig(kind="flowers", root=str(root), num_workers=0, encoder=enc, **kw)


@pytest.mark.parametrize("split_beside", [False, True])
def test_flowers_items_classes_and_captions(tmp_path, split_beside):
    root = make_flowers(tmp_path / "d", split_beside)
    assert detect_kind(root) == "flowers"
    train = build_dataset(_cfg(root), "train", [64], train=True, seed=0)
    assert len(train) == 6 and list(train.class_ids) == [1, 1, 2, 2, 3, 3]
    assert train.captions(2)[0] == f"this flower has {COLOURS[3]} petals, caption 0"
    item = train[0]
    assert item["images"][0].shape == (3, 64, 64) and item["wrong_images"][0].shape == (3, 64, 64)
    assert train.class_ids[train.wrong_index(0, np.random.default_rng(0))] != 1
    test = build_dataset(_cfg(root), "test", [64], train=False, seed=0)
    assert list(test.class_ids) == [4, 4, 5, 5]  # from the 'class_XXXXX/' names


def test_flowers_class_from_caption_folder_without_class_info(tmp_path):
    root = make_flowers(tmp_path / "d", class_info=False)
    train = build_dataset(_cfg(root), "train", [64], train=True, seed=0)
    assert list(train.class_ids) == [1, 1, 2, 2, 3, 3]


def test_flowers_char_cnn_rnn_vectors_and_lookup(tmp_path):
    root = make_flowers(tmp_path / "d")
    cfg = _cfg(root, encoder=EncoderConfig(kind="char-cnn-rnn", dim=DIM))
    train = build_dataset(cfg, "train", [64], train=True, seed=0)
    rows = np.arange(len(TRAIN) * 10 * DIM, dtype=np.float32).reshape(len(TRAIN), 10, DIM) / 1000
    assert np.array_equal(train.embeddings(3).numpy(), rows[3])
    enc = build_encoder(cfg.encoder, data_root=cfg.root)  # looks captions up in the same files
    assert np.array_equal(enc.encode([train.captions(3)[2]]).numpy()[0], rows[3, 2])


def test_flowers_missing_files_named(tmp_path):
    root = make_flowers(tmp_path / "d")
    (root / "flowers" / "jpg" / "image_00003.jpg").unlink()
    with pytest.raises(DataError, match=r"Oxford-102 flowers train split: 1 of 6 images .*image_00003\.jpg"):
        build_dataset(_cfg(root), "train", [64], train=True, seed=0)
    assert len(build_dataset(_cfg(root, skip_missing=True), "train", [64], train=True, seed=0)) == 5


def test_inspect_flowers(tmp_path, capsys):
    root = make_flowers(tmp_path / "d")
    out = tmp_path / "grid.png"
    assert main(["data", "inspect", str(root), "--out", str(out), "--examples", "4"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"Oxford-102 flowers, StackGAN layout, at {root / 'flowers'}")
    rows = {line.split()[0]: line.split() for line in text.splitlines()
            if line.startswith(("train ", "test "))}
    assert rows["train"][1:3] == ["6", "6"] and rows["train"][-1] == "3/3"
    assert rows["test"][1:3] == ["4", "4"]
    assert "train/char-CNN-RNN-embeddings.pickle: shape ok (6, 10, 16)" in text
    assert "ok: every listed item is present and readable" in text
    assert Image.open(out).size[0] >= 4 * 64
    (root / "flowers" / "text_c10" / "class_00002" / "image_00004.txt").unlink()
    assert main(["data", "inspect", str(root), "--kind", "flowers", "--quick"]) == 1
    assert "NOT usable as is" in capsys.readouterr().out
    assert main(["data", "inspect", str(root), "--kind", "flowers", "--skip-missing"]) == 0
    assert main(["data", "inspect", str(root), "--kind", "roses"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"--kind = 'roses': must be one of [a-z, ]*\bflowers, folder, synthetic\b", err)


def test_data_kinds_lists_flowers(capsys):
    assert main(["data", "kinds"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^flowers +Oxford-102 flowers in the StackGAN layout", out, re.M)
    assert re.search(r"^synthetic +built-in synthetic birds.*\[no data.root\]$", out, re.M)


def test_train_and_encoder_train_accept_flowers(tmp_path, capsys, one_thread):
    root = make_flowers(tmp_path / "d")
    sets = ["model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8", "model.stages=1",
            "model.attention_stages=[]", "optim.batch_size=2", "run.max_steps=2",
            "run.sample_every=0", "run.checkpoint_every=0", "run.log_every=1",
            "run.precision=fp32", "data.num_workers=0", "data.kind=flowers", f"data.root={root}",
            "data.encoder.kind=bow", "loss.damsm_match=false", "data.encoder.dim=64"]
    assert main(["train", "--config", "stackgan++", "--out", str(tmp_path / "run"), "--quiet",
                 *[a for s in sets for a in ("--set", s)]]) == 0
    assert "reached run.max_steps at step 2" in capsys.readouterr().out
    assert "kind: flowers" in (tmp_path / "run" / "config.yaml").read_text()
    enc = ["--set", "damsm.dim=16", "--set", "damsm.word_embedding_dim=8", "--set",
           "damsm.cnn_width=4", "--set", "damsm.image_size=32", "--set", "optim.batch_size=2",
           "--set", "run.max_steps=2", "--set", "run.eval_every_epochs=0", "--set",
           "run.eval_samples=0", "--quiet"]
    assert main(["encoder", "train", f"flowers:{root}", "--out", str(tmp_path / "enc"),
                 "--preset", "synthetic-small", *enc]) == 0
    assert "R-precision on 40 real test (image, caption) pairs" in capsys.readouterr().out
    assert "petals" in (tmp_path / "enc" / "vocab.json").read_text()  # the flowers' captions
    assert main(["encoder", "train", str(root), "--out", str(tmp_path / "enc2"),  # detected
                 "--preset", "synthetic-small", *enc]) == 0
    assert "kind: flowers" in (tmp_path / "enc2" / "config.yaml").read_text()
