"""MS-COCO in the AttnGAN / DF-GAN layout (data.kind=coco), on a fixture written here."""
import pickle
from pathlib import Path

import pytest
from PIL import Image

from gtgan.cli import main
from gtgan.config import DataConfig, EncoderConfig
from gtgan.data import build_dataset, detect_kind
from gtgan.errors import DataError

TRAIN = [f"COCO_train2014_{i:012d}" for i in (9, 25, 30, 34)]
TEST = [f"COCO_val2014_{i:012d}" for i in (42, 73, 74)]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GTGAN_CACHE_DIR", str(tmp_path / "cache"))


def make_coco(root: Path) -> Path:
    base = root / "coco"
    (base / "images").mkdir(parents=True)
    (base / "text").mkdir()
    for i, name in enumerate(TRAIN + TEST):
        Image.new("RGB", (64 + 8 * i, 48), (30 * i, 120, 200 - 20 * i)).save(base / "images" / f"{name}.jpg")
        lines = [f"a picture number {i} of a street, caption {k}" for k in range(7)]
        lines.insert(2, "")  # AttnGAN skips empty lines
        (base / "text" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    for split, names in (("train", TRAIN), ("test", TEST)):
        (base / split).mkdir()
        with open(base / split / "filenames.pickle", "wb") as f:
            pickle.dump(names, f, protocol=2)
    return root


def _cfg(root, **kw):
    return DataConfig(kind="coco", root=str(root), num_workers=0,
                      encoder=EncoderConfig(kind="bow", dim=64), **kw)


def test_coco_items_five_captions_own_classes(tmp_path):
    root = make_coco(tmp_path / "d")
    assert detect_kind(root) == "coco"
    train = build_dataset(_cfg(root), "train", [64], train=True, seed=0)
    assert len(train) == 4 and list(train.class_ids) == [0, 1, 2, 3]
    caps = train.captions(1)
    assert len(caps) == 5 and caps[2] == "a picture number 1 of a street, caption 2"
    assert train.embeddings(1).shape == (5, 64)
    assert train[0]["images"][0].shape == (3, 64, 64)
    (root / "coco" / "text" / f"{TEST[1]}.txt").write_text("only\ntwo\n")
    with pytest.raises(DataError, match="2 caption line\\(s\\), 5 needed"):
        build_dataset(_cfg(root), "test", [64], train=False, seed=0)
    assert len(build_dataset(_cfg(root, skip_missing=True), "test", [64], train=False, seed=0)) == 2


def test_inspect_and_train_coco(tmp_path, capsys, one_thread):
    root = make_coco(tmp_path / "d")
    assert main(["data", "inspect", str(root / "coco"), "--quick"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("COCO-2014, StackGAN layout, at") and "(5-5 per image)" in text
    sets = ["model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8", "model.stages=1",
            "model.attention_stages=[]", "optim.batch_size=2", "run.max_steps=2",
            "run.sample_every=0", "run.checkpoint_every=0", "run.precision=fp32",
            "data.num_workers=0", "data.kind=coco", f"data.root={root}",
            "data.encoder.kind=bow", "loss.damsm_match=false", "data.encoder.dim=64"]
    assert main(["train", "--config", "stackgan++", "--out", str(tmp_path / "run"), "--quiet",
                 *[a for s in sets for a in ("--set", s)]]) == 0
    assert "reached run.max_steps at step 2" in capsys.readouterr().out
