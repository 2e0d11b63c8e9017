"""CUB in the StackGAN layout, read from the real cub-mini slice (../shared/data/cub-mini)."""
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gtgan.config import DataConfig, EncoderConfig
from gtgan.data import build_dataset, encoder_from_identity
from gtgan.data._io import load_data_pickle
from gtgan.data.base import item_rng, open_image, stackgan_box
from gtgan.errors import DataError, GtganError

CUB_MINI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cub-mini"
pytestmark = pytest.mark.skipif(not (CUB_MINI / "birds").is_dir(),
                                reason=f"real CUB slice not found at {CUB_MINI}")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GTGAN_CACHE_DIR", str(tmp_path / "cache"))


class Py2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle (protocol 2) wrote: str as byte strings, numpy.core names."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj):
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj if n < 256
                   else pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    def save_str(self, obj):
        self.save_bytes(obj.encode("latin1"))

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", "").replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)

    dispatch[bytes] = save_bytes
    dispatch[str] = save_str


def py2_dump(obj, path: Path):
    with open(path, "wb") as f:
        Py2Pickler(f, protocol=2).dump(obj)


def _cfg(root, **kw):
    enc = kw.pop("encoder", EncoderConfig(kind="bow", dim=0))
    return DataConfig(kind="cub", root=str(root), encoder=enc, **kw)


def make_cub(tmp_path, names, split="train", embeddings=None):
    """A CUB root in tmp: real images/captions for `names`, real metadata, own split files."""
    birds = tmp_path / "birds"
    src = CUB_MINI / "birds"
    for n in names:
        for rel in (f"CUB_200_2011/images/{n}.jpg", f"text/{n}.txt"):
            (birds / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src / rel, birds / rel)
    for f in ("images.txt", "bounding_boxes.txt"):
        shutil.copy(src / "CUB_200_2011" / f, birds / "CUB_200_2011" / f)
    (birds / split).mkdir(parents=True, exist_ok=True)
    py2_dump(list(names), birds / split / "filenames.pickle")
    py2_dump([int(n[:3]) for n in names], birds / split / "class_info.pickle")
    if embeddings is not None:
        py2_dump(embeddings, birds / split / "char-CNN-RNN-embeddings.pickle")
    return tmp_path


def present_names(split):
    names = load_data_pickle(CUB_MINI / "birds" / split / "filenames.pickle")
    return [n for n in names if (CUB_MINI / "birds/CUB_200_2011/images" / f"{n}.jpg").exists()]


def test_missing_files_clear_error_without_option():
    with pytest.raises(DataError) as err:
        build_dataset(_cfg(CUB_MINI), "train", [64, 128], train=True, seed=0)
    msg = str(err.value)
    assert "8,693 of 8,855 images" in msg and "162 of 8,855 present" in msg
    assert "skip_missing" in msg and "--skip-missing" in msg
    with pytest.raises(DataError, match="2,813 of 2,933 images"):
        build_dataset(_cfg(CUB_MINI), "test", [64, 128], train=False, seed=0)


def test_present_items_with_skip_missing():
    train = build_dataset(_cfg(CUB_MINI, skip_missing=True), "train", [64, 128], True, 0)
    test = build_dataset(_cfg(CUB_MINI, skip_missing=True), "test", [64, 128], False, 0)
    assert (len(train), train.listed, len(test), test.listed) == (162, 8855, 120, 2933)
    assert set(train.class_ids.tolist()) == {2, 3, 5} and set(test.class_ids.tolist()) == {1, 4}
    assert train.skipped["missing image"] == 8693
    it = train[10]
    assert [tuple(x.shape) for x in it["images"]] == [(3, 64, 64), (3, 128, 128)]
    assert it["images"][1].min() >= -1 and it["images"][1].max() <= 1
    assert it["caption"] in train.captions(10) and len(train.captions(10)) == 10
    assert train.embeddings(10).shape == (10, train.encoder_identity["dim"])
    for i in range(len(train)):  # the negative is always a real image of another class
        assert train.class_ids[train.wrong_index(i, item_rng(0, 0, i))] != train.class_ids[i]
    # the test split is deterministic: same items and same pixels every time
    again = build_dataset(_cfg(CUB_MINI, skip_missing=True), "test", [64, 128], False, 0)
    assert again.names == test.names
    a, b = test[7], again[7]
    assert torch.equal(a["images"][1], b["images"][1]) and a["caption"] == test.captions(7)[0]
    assert torch.equal(test.real_image(7, 128), a["images"][1])
    assert test.real_image(7, 299).shape == (3, 299, 299)  # e.g. for Inception, decoded big enough


def test_fffd_pairs_repaired():
    train = build_dataset(_cfg(CUB_MINI, skip_missing=True), "train", [64], True, 0)
    assert train.fffd_lines >= 1
    assert not any("\ufffd" in c for i in range(len(train)) for c in train.captions(i))
    i = train.names.index("003.Sooty_Albatross/Sooty_Albatross_0029_796357")
    assert "this bird has a dark grey belly" in train.captions(i)[4]


def test_stackgan_box():
    # image 1 of CUB: box (60, 27, 325, 304) -> r = 243 around (222, 179), clipped
    assert stackgan_box((60, 27, 325, 304), 500, 336) == (0, 0, 465, 336)
    assert stackgan_box((10, 10, 20, 20), 100, 100) == (5, 5, 35, 35)


def test_draft_decode_matches_full_decode():
    p = CUB_MINI / "birds/CUB_200_2011/images/001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg"
    full = open_image(p, bbox=(60, 27, 325, 304))
    fast = open_image(p, min_side=76, bbox=(60, 27, 325, 304))
    assert full.size == (465, min(336, Image.open(p).size[1])) or full.size[0] == 465
    assert min(fast.size) >= 76 and fast.size[0] < full.size[0]
    a = np.asarray(full.resize((76, 76), Image.Resampling.BILINEAR), np.float32)
    b = np.asarray(fast.resize((76, 76), Image.Resampling.BILINEAR), np.float32)
    assert np.abs(a - b).mean() < 6  # same picture, decoded at a lower scale


def test_py2_char_cnn_rnn_pickle_read_and_checked(tmp_path):
    names = present_names("train")
    assert len(names) == 162
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((len(names), 10, 1024)).astype(np.float32)
    root = make_cub(tmp_path, names, embeddings=emb)
    raw = (root / "birds/train/char-CNN-RNN-embeddings.pickle").read_bytes()
    assert b"numpy.core.multiarray" in raw and b"X" not in raw[:2]  # Python-2 style, no unicode ops
    cfg = _cfg(root, encoder=EncoderConfig(kind="char-cnn-rnn", dim=1024))
    ds = build_dataset(cfg, "train", [64], train=True, seed=0)
    assert len(ds) == 162
    it = ds[5]
    assert torch.equal(it["text"].sentence, torch.from_numpy(emb[5, it["caption_index"]]))
    assert torch.equal(ds.embeddings(9), torch.from_numpy(emb[9]))
    # the lookup encoder, rebuilt from the identity alone, finds the data set's captions
    enc = encoder_from_identity(ds.encoder_identity)
    assert torch.equal(enc.encode([ds.captions(3)[2]])[0], torch.from_numpy(emb[3, 2]))
    with pytest.raises(GtganError, match="only cover the captions.*sentence-transformers or bow"):
        enc.encode(["a purple bird riding a bicycle"])


@pytest.mark.parametrize("shape,expect", [
    ((161, 10, 1024), "161 rows but train/filenames.pickle lists 162"),
    ((162, 5, 1024), "5 captions per image instead of 10"),
    ((162, 10, 512), "512-d vectors but data.encoder.dim = 1024"),
    ((162, 10240), "2 dimensions instead of 3"),
])
def test_wrong_embedding_shapes(tmp_path, shape, expect):
    names = present_names("train")
    root = make_cub(tmp_path, names, embeddings=np.zeros(shape, np.float32))
    cfg = _cfg(root, encoder=EncoderConfig(kind="char-cnn-rnn", dim=1024))
    with pytest.raises(DataError, match=expect) as err:
        build_dataset(cfg, "train", [64], train=True, seed=0)
    assert "char-CNN-RNN-embeddings.pickle" in str(err.value)


def test_embeddings_as_list_and_missing_file(tmp_path):
    names = present_names("train")[::4]
    emb = [np.full((10, 1024), i, np.float32) for i in range(len(names))]
    root = make_cub(tmp_path, names, embeddings=emb)
    cfg = _cfg(root, encoder=EncoderConfig(kind="char-cnn-rnn", dim=1024))
    ds = build_dataset(cfg, "train", [64], train=True, seed=0)
    assert float(ds.embeddings(7)[3, 0]) == 7
    (root / "birds/train/char-CNN-RNN-embeddings.pickle").unlink()
    with pytest.raises(DataError, match="not found.*bow or sentence-transformers"):
        build_dataset(cfg, "train", [64], train=True, seed=0)


def _few_names():
    names = present_names("train")
    return [n for n in names if n.startswith("002")][:5] + [n for n in names if n.startswith("003")][:5]


def test_gray_and_cmyk_converted(tmp_path):
    names = _few_names()
    root = make_cub(tmp_path, names)
    img_dir = root / "birds/CUB_200_2011/images"
    Image.open(img_dir / f"{names[0]}.jpg").convert("L").save(img_dir / f"{names[0]}.jpg")
    Image.open(img_dir / f"{names[1]}.jpg").convert("CMYK").save(img_dir / f"{names[1]}.jpg")
    ds = build_dataset(_cfg(root), "train", [64], train=False, seed=0)
    gray = ds[0]["images"][0]
    assert gray.shape == (3, 64, 64) and torch.allclose(gray[0], gray[1], atol=1 / 127)
    cmyk = ds[1]["images"][0]
    assert cmyk.shape == (3, 64, 64) and cmyk.std() > 0.05


def test_corrupt_jpeg_named_and_skippable(tmp_path):
    names = _few_names()
    root = make_cub(tmp_path, names)
    bad = root / "birds/CUB_200_2011/images" / f"{names[2]}.jpg"
    bad.write_bytes(bad.read_bytes()[:300])
    ds = build_dataset(_cfg(root), "train", [64], train=False, seed=0)
    with pytest.raises(DataError, match=f"{names[2]}.jpg: cannot decode image.*--skip-missing"):
        ds[2]
    ds = build_dataset(_cfg(root, skip_missing=True), "train", [64], train=False, seed=0)
    it = ds[2]
    assert it["index"] == 3 and 2 in ds.broken
    for i in range(len(ds)):
        assert ds[i]["class_id"] != -1  # every item (and negative) still loads


@pytest.mark.parametrize("lines,expect", [
    (["a caption"] * 7, "7 caption line\\(s\\), 10 needed"),
    (["a caption"] * 4 + [""] + ["a caption"] * 6, "line 5 is empty"),
])
def test_bad_caption_files(tmp_path, lines, expect):
    names = _few_names()
    root = make_cub(tmp_path, names)
    (root / "birds/text" / f"{names[4]}.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=expect) as err:
        build_dataset(_cfg(root), "train", [64], train=True, seed=0)
    assert f"{names[4]}.txt" in str(err.value) and "--skip-missing" in str(err.value)
    ds = build_dataset(_cfg(root, skip_missing=True), "train", [64], train=True, seed=0)
    assert len(ds) == 9 and ds.skipped == {"bad captions": 1}


def test_listed_but_missing_in_small_root(tmp_path):
    names = _few_names()
    root = make_cub(tmp_path, names)
    (root / "birds/text" / f"{names[1]}.txt").unlink()
    with pytest.raises(DataError, match="1 caption files are missing.*9 of 10 present"):
        build_dataset(_cfg(root), "train", [64], train=True, seed=0)
    ds = build_dataset(_cfg(root, skip_missing=True), "train", [64], train=True, seed=0)
    assert len(ds) == 9 and ds.skipped["missing captions"] == 1


def test_bad_roots(tmp_path):
    with pytest.raises(DataError, match="data root not found"):
        build_dataset(_cfg(tmp_path / "nope"), "train", [64], True, 0)
    with pytest.raises(DataError, match="no CUB_200_2011"):
        build_dataset(_cfg(tmp_path), "train", [64], True, 0)
    with pytest.raises(DataError, match="split folder not found"):
        build_dataset(_cfg(CUB_MINI, skip_missing=True), "val", [64], True, 0)
