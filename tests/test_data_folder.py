"""Own captioned folders: prepare (checks, manifest, cached vectors), splits, bad input."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from gtgan.cli import main
from gtgan.config import DataConfig, EncoderConfig
from gtgan.data import build_dataset
from gtgan.data.encoders import BowEncoder
from gtgan.data.folder import CACHE_DIR, MANIFEST, prepare_folder
from gtgan.errors import DataError


def make_folder(root, n=12, classes=("finch", "gull")):
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = root / classes[i % len(classes)] if classes else root
        sub.mkdir(parents=True, exist_ok=True)
        arr = rng.integers(0, 255, (90 + i, 140, 3), dtype=np.uint8)
        ext = ".jpg" if i % 2 else ".png"
        Image.fromarray(arr).save(sub / f"img{i:02d}{ext}")
        (sub / f"img{i:02d}.txt").write_text(f"a bird number {i} with red wings\nanother caption {i}\n")
    return root


def _cfg(root, **kw):
    return DataConfig(kind="folder", root=str(root), encoder=EncoderConfig(kind="bow", dim=0), **kw)


def test_prepare_and_load(tmp_path):
    root = make_folder(tmp_path / "mine")
    rep = prepare_folder(root, BowEncoder())
    manifest = json.loads((root / MANIFEST).read_text())
    assert len(manifest["items"]) == 12 and manifest["classes"] == "folders"
    assert sum(rep["splits"].values()) == 12
    split = max(rep["splits"], key=rep["splits"].get)
    ds = build_dataset(_cfg(root), split, [64, 128], train=True, seed=0)
    it = ds[0]
    assert [tuple(x.shape) for x in it["images"]] == [(3, 64, 64), (3, 128, 128)]
    assert ds.embeddings(0).shape == (2, 1024) and it["caption"] in ds.captions(0)
    assert torch.allclose(it["text"].sentence, BowEncoder().encode([it["caption"]])[0])
    for i in range(len(ds)):
        assert ds.class_ids[ds.wrong_index(i, np.random.default_rng(i))] != ds.class_ids[i]


def test_split_file_and_hash_split(tmp_path):
    root = make_folder(tmp_path / "mine")
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("img*.*") if p.suffix != ".txt")
    sf = tmp_path / "split.json"
    sf.write_text(json.dumps({"train": names[:8], "test": names[8:11]}))
    rep = prepare_folder(root, BowEncoder(), split_file=sf)
    assert rep["splits"] == {"train": 8, "test": 3} and rep["not_in_split_file"] == 1
    test = build_dataset(_cfg(root), "test", [64], False, 0)  # one class (gull) only
    assert len(test) == 3 and len(set(test.class_ids.tolist())) == 3
    sf.write_text(json.dumps({"train": ["nope.jpg"]}))
    with pytest.raises(DataError, match="'nope.jpg' \\(split 'train'\\) is not an image"):
        prepare_folder(root, BowEncoder(), split_file=sf)
    sf.write_text("[1, 2]")
    with pytest.raises(DataError, match="expected"):
        prepare_folder(root, BowEncoder(), split_file=sf)


def test_cache_invalidated_when_captions_or_encoder_change(tmp_path):
    root = make_folder(tmp_path / "mine", classes=())
    rep = prepare_folder(root, BowEncoder())
    split = max(rep["splits"], key=rep["splits"].get)
    cache = root / CACHE_DIR / split
    first = sorted(cache.iterdir())
    assert len(first) == 1
    ds = build_dataset(_cfg(root), split, [64], False, 0)
    assert len(set(ds.class_ids.tolist())) == len(ds)  # one folder: every image its own class
    txt = ds.image_path(0).rsplit(".", 1)[0] + ".txt"
    open(txt, "w").write("a completely different caption about blue birds\n")
    ds2 = build_dataset(_cfg(root), split, [64], False, 0)
    assert ds2.captions(0) == ["a completely different caption about blue birds"]
    assert torch.allclose(ds2.embeddings(0)[0], BowEncoder().encode(ds2.captions(0))[0])
    second = sorted(cache.iterdir())
    assert len(second) == 1 and second != first  # stale file replaced
    cfg = _cfg(root)
    cfg.encoder.dim = 256
    ds3 = build_dataset(cfg, split, [64], False, 0)
    assert ds3.embeddings(0).shape[1] == 256 and len(list(cache.iterdir())) == 2


def test_bad_items_named_and_skippable(tmp_path):
    root = make_folder(tmp_path / "mine")
    (root / "finch" / "img00.txt").unlink()
    (root / "gull" / "img01.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "finch" / "img02.txt").write_bytes(b"caf\xe9 bird\n")
    (root / "gull" / "img03.txt").write_text("\n\n")
    with pytest.raises(DataError) as err:
        prepare_folder(root, BowEncoder())
    msg = str(err.value)
    assert "4 item(s) cannot be used" in msg and "img00.txt: caption file not found" in msg
    assert "--skip-missing" in msg
    rep = prepare_folder(root, BowEncoder(), skip_missing=True)
    assert rep["skipped"] == 4 and sum(rep["splits"].values()) == 8
    reasons = " ".join(m for _, m in rep["problems"])
    assert "img01.jpg: cannot decode image" in reasons
    assert "img02.txt line 1: not UTF-8" in reasons and "img03.txt: no captions" in reasons


def test_gray_cmyk_rgba_converted(tmp_path):
    root = tmp_path / "modes"
    root.mkdir()
    rng = np.random.default_rng(1)
    for name, mode in (("g", "L"), ("c", "CMYK"), ("a", "RGBA"), ("p", "P")):
        img = Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).convert(mode)
        img.save(root / f"{name}.{'jpg' if mode in ('L', 'CMYK') else 'png'}")
        (root / f"{name}.txt").write_text(f"picture {name}\n")
    sf = tmp_path / "s.json"
    sf.write_text(json.dumps({"train": ["g.jpg", "c.jpg", "a.png", "p.png"]}))
    prepare_folder(root, BowEncoder(), split_file=sf)
    ds = build_dataset(_cfg(root), "train", [64], False, 0)
    for i in range(4):
        assert ds[i]["images"][0].shape == (3, 64, 64)


def test_unprepared_folder_says_what_to_do(tmp_path):
    root = make_folder(tmp_path / "mine")
    with pytest.raises(DataError, match="run `gtgan data prepare"):
        build_dataset(_cfg(root), "train", [64], True, 0)


def test_cli_prepare(tmp_path, capsys):
    root = make_folder(tmp_path / "mine")
    assert main(["data", "prepare", str(root), "--encoder", "bow"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and MANIFEST in out
    assert main(["data", "prepare", str(root), "--encoder", "glove"]) == 2
    assert "--encoder 'glove'" in capsys.readouterr().err
    assert main(["data", "inspect", str(root), "--out", str(tmp_path / "g.png")]) == 0
    out = capsys.readouterr().out
    assert "up to date" in out and (tmp_path / "g.png").exists()
