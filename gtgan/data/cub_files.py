"""The files of CUB-200-2011 in the StackGAN / AttnGAN "birds" layout, read and checked
without decoding images: split lists, bounding boxes, the precomputed char-CNN-RNN vectors and
the caption -> vector table the char-cnn-rnn encoder looks captions up in. Below both the
encoders and the data set (gtgan.data.cub), so neither imports the other's module back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, EncoderError
from ..fileio import shown
from ._io import load_data_pickle
from .captions import CaptionFileError, read_caption_file


CAPTIONS_PER_IMAGE = 10
EMBEDDINGS_FILE = "char-CNN-RNN-embeddings.pickle"


def find_birds_dir(root: str | Path) -> Path:
    """`root` may be the folder holding birds/ or birds/ itself."""
    if not str(root):
        raise DataError("data.root is empty: give the folder that holds birds/ (CUB in the "
                        "StackGAN layout)")
    root = Path(root).expanduser()
    for cand in (root / "birds", root):
        if (cand / "CUB_200_2011").is_dir():
            return cand
    if not root.exists():
        raise DataError(f"{root}: data root not found")
    raise DataError(f"{root}: no CUB_200_2011/ folder under it or under {root / 'birds'}; "
                    f"expected the StackGAN layout birds/CUB_200_2011/images/ (see docs/data.md)")


def _read_table(path: Path) -> dict[int, list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: not found; it ships with CUB-200-2011 (copy it from the "
                        f"original archive)") from None
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            parts = line.split()
            try:
                out[int(parts[0])] = parts[1:]
            except (ValueError, IndexError):
                raise DataError(f"{path} line {n}: expected '<image id> ...', got {shown(line)}") from None
    return out


def read_bounding_boxes(cub_dir: Path) -> dict[str, tuple[float, float, float, float]]:
    """Image key ('<class>/<image>' without .jpg) -> (x, y, w, h) in pixels."""
    images = _read_table(cub_dir / "images.txt")
    boxes = _read_table(cub_dir / "bounding_boxes.txt")
    out = {}
    for img_id, (rel, *_rest) in images.items():
        if img_id not in boxes:
            raise DataError(f"{cub_dir / 'bounding_boxes.txt'}: no box for image id {img_id} ({rel})")
        try:
            x, y, w, h = (float(v) for v in boxes[img_id][:4])
        except ValueError:
            raise DataError(f"{cub_dir / 'bounding_boxes.txt'}: bad box for image id {img_id}: "
                            f"{boxes[img_id]}") from None
        out[rel[:-4] if rel.lower().endswith(".jpg") else rel] = (x, y, w, h)
    return out


@dataclass
class CubSplit:
    """What the split files list, and what of it is on disk."""

    birds: Path
    split: str
    names: list[str]
    class_ids: np.ndarray
    boxes: dict[str, tuple[float, float, float, float]]
    missing_images: list[str] = field(default_factory=list)
    missing_texts: list[str] = field(default_factory=list)

    def image_path(self, name: str) -> Path:
        return self.birds / "CUB_200_2011" / "images" / f"{name}.jpg"

    def text_path(self, name: str) -> Path:
        return self.birds / "text" / f"{name}.txt"

    @property
    def present(self) -> list[int]:
        gone = set(self.missing_images) | set(self.missing_texts)
        return [i for i, n in enumerate(self.names) if n not in gone]


def scan_split(root: str | Path, split: str) -> CubSplit:
    """Read a split's file list and class ids and check which files exist (no decoding)."""
    birds = find_birds_dir(root)
    sdir = birds / split
    if not sdir.is_dir():
        have = sorted(p.name for p in birds.iterdir() if (p / "filenames.pickle").exists())
        raise DataError(f"{sdir}: split folder not found (splits here: {', '.join(have) or 'none'})")
    names = load_data_pickle(sdir / "filenames.pickle")
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise DataError(f"{sdir / 'filenames.pickle'}: expected a list of '<class>/<image>' names")
    names = [n[:-4] if n.lower().endswith(".jpg") else n for n in names]
    if (sdir / "class_info.pickle").exists():
        cls = load_data_pickle(sdir / "class_info.pickle")
        try:
            class_ids = np.asarray(cls, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError):
            raise DataError(f"{sdir / 'class_info.pickle'}: expected a list of class ids") from None
        if len(class_ids) != len(names):
            raise DataError(f"{sdir / 'class_info.pickle'}: {len(class_ids)} class ids for "
                            f"{len(names)} names in filenames.pickle; the two files must match")
    else:  # the class is the number in front of the class folder ("002.Laysan_Albatross")
        try:
            class_ids = np.array([int(n.split("/")[0].split(".")[0]) for n in names], np.int64)
        except ValueError:
            raise DataError(f"{sdir / 'class_info.pickle'} missing and the class cannot be read "
                            f"from the names (expected '002.Laysan_Albatross/...')") from None
    boxes = read_bounding_boxes(birds / "CUB_200_2011")
    out = CubSplit(birds, split, names, class_ids, boxes)
    for n in names:
        if not out.image_path(n).is_file():
            out.missing_images.append(n)
        if not out.text_path(n).is_file():
            out.missing_texts.append(n)
        if n not in boxes:
            raise DataError(f"{birds / 'CUB_200_2011' / 'images.txt'}: {n}.jpg (listed in "
                            f"{sdir / 'filenames.pickle'}) has no entry; the metadata and split "
                            f"files come from different versions of the data set")
    return out


def char_cnn_rnn_path(birds: Path, split: str) -> Path:
    """The split's char-CNN-RNN embeddings file, which must exist (checked before a run's set-up)."""
    path = Path(birds) / split / EMBEDDINGS_FILE
    if not path.exists():
        raise DataError(
            f"{path}: not found. The char-cnn-rnn encoder needs the StackGAN birds embeddings "
            f"(from the StackGAN / StackGAN++ preprocessed birds data) in that place; or train "
            f"with data.encoder.kind=bow or sentence-transformers instead")
    return path


def load_char_cnn_rnn(birds: Path, split: str, n_listed: int, dim: int = 1024) -> np.ndarray:
    """The split's char-CNN-RNN vectors as float32 (n_listed, 10, dim), checked."""
    path = char_cnn_rnn_path(birds, split)
    obj = load_data_pickle(path)
    try:
        arr = np.asarray(obj, dtype=np.float32)
    except (TypeError, ValueError):
        raise DataError(f"{path}: expected an array (or list of arrays) of shape "
                        f"({n_listed}, {CAPTIONS_PER_IMAGE}, {dim}); got ragged "
                        f"{type(obj).__name__} data") from None
    want = (n_listed, CAPTIONS_PER_IMAGE, dim)
    if arr.shape != want:
        what = []
        if arr.ndim != 3:
            what.append(f"{arr.ndim} dimensions instead of 3")
        else:
            if arr.shape[0] != n_listed:
                what.append(f"{arr.shape[0]} rows but {split}/filenames.pickle lists {n_listed} "
                            f"images (one row per name, same order)")
            if arr.shape[1] != CAPTIONS_PER_IMAGE:
                what.append(f"{arr.shape[1]} captions per image instead of {CAPTIONS_PER_IMAGE}")
            if arr.shape[2] != dim:
                what.append(f"{arr.shape[2]}-d vectors but data.encoder.dim = {dim}")
        raise DataError(f"{path}: shape {arr.shape}, expected {want}: {'; '.join(what)}")
    if not np.isfinite(arr).all():
        raise DataError(f"{path}: contains NaN or infinite values; re-download the file")
    return arr


def char_cnn_rnn_table(root: str | Path, dim: int = 1024) -> dict[str, np.ndarray]:
    """caption (cleaned, lower-case) -> its char-CNN-RNN vector, over every split whose
    embeddings file exists. Used by the char-cnn-rnn encoder to look captions up."""
    try:
        birds = find_birds_dir(root)
    except DataError as exc:
        raise EncoderError(f"char-cnn-rnn encoder: {exc}") from None
    table: dict[str, np.ndarray] = {}
    splits = sorted(p.parent.name for p in birds.glob(f"*/{EMBEDDINGS_FILE}"))
    if not splits:
        raise EncoderError(f"char-cnn-rnn encoder: no */{EMBEDDINGS_FILE} under {birds}; it "
                           f"looks captions up in those precomputed files")
    for split in splits:
        info = scan_split(birds, split)
        emb = load_char_cnn_rnn(birds, split, len(info.names), dim)
        for i in info.present:
            try:
                caps = read_caption_file(info.text_path(info.names[i]), CAPTIONS_PER_IMAGE,
                                         strict_empty=True).captions
            except CaptionFileError:
                continue
            for k, cap in enumerate(caps):
                table.setdefault(cap.lower(), emb[i, k])
    return table
