"""Data sets in the StackGAN / AttnGAN layout, read and checked without decoding images:
split lists (`<split>/filenames.pickle`, `class_info.pickle`), caption files, bounding boxes
(CUB), the precomputed char-CNN-RNN vectors and the caption -> vector table the char-cnn-rnn
encoder looks captions up in. What differs between CUB, Oxford-102 flowers and COCO is a
`StackGanLayout` (where images and captions lie, how a name gives its class); the reading and
checking is one. Below both the encoders and the data set (gtgan.data.cub), so neither
imports the other's module back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DataError, EncoderError
from ..fileio import shown
from ._io import load_data_pickle
from .captions import CaptionFileError, read_caption_file
from .registry import data_kinds


CAPTIONS_PER_IMAGE = 10
EMBEDDINGS_FILE = "char-CNN-RNN-embeddings.pickle"


@dataclass(frozen=True)
class StackGanLayout:
    """Where one data set in the StackGAN layout keeps its files, relative to its base folder.
    data.root is the base or the folder holding it (`folder`); the split folders
    (`<split>/filenames.pickle`) lie in the base, or in `base/<folder>/` when the preprocessed
    archive was unpacked beside the images."""

    kind: str  # its data.kind (cache names, messages)
    title: str  # "CUB-200-2011"
    folder: str  # "birds"
    markers: tuple[str, ...]  # sub-folders of the base that show it is one
    image: Callable[[str], str]  # split-file name -> image path relative to the base
    # (split-file name, class id) -> caption file relative to the base
    text: Callable[[str, int], str]
    # (base, names, class_info file) -> class ids, when class_info.pickle is absent
    classes: Callable[[Path, list[str], Path], np.ndarray]
    captions: int = CAPTIONS_PER_IMAGE  # used per image (more are cut, fewer an error)
    strict_empty: bool = True  # an empty line is an error (lines are matched to vectors)
    boxes: Callable[[Path], dict] | None = None  # base -> name -> (x, y, w, h)


def find_base(root: str | Path, layout: StackGanLayout) -> Path:
    """`root` may be the folder holding `layout.folder`/ or that folder itself."""
    what = f"{layout.title} in the StackGAN layout"
    if not str(root):
        raise DataError(f"data.root is empty: give the folder that holds {layout.folder}/ ({what})")
    root = Path(root).expanduser()
    for cand in (root / layout.folder, root):
        if all((cand / m).is_dir() for m in layout.markers):
            return cand
    if not root.exists():
        raise DataError(f"{root}: data root not found")
    marks = " and ".join(f"{m}/" for m in layout.markers)
    raise DataError(f"{root}: no {marks} folder under it or under {root / layout.folder}; "
                    f"expected {what}, {layout.folder}/{layout.markers[0]}/ (see docs/data.md)")


def splits_dir(base: Path, layout: StackGanLayout) -> Path:
    """The folder that holds the split folders: the base, or base/<folder>/ (see the layout)."""
    inner = base / layout.folder
    if inner.is_dir() and not split_names(base):
        return inner
    return base


def split_names(sdir: Path) -> list[str]:
    """The splits under a folder (train first, then test, then the rest by name)."""
    return sorted((p.name for p in sdir.iterdir() if (p / "filenames.pickle").is_file()),
                  key=lambda s: (s != "train", s != "test", s))


def cub_classes(base: Path, names: list[str], info: Path) -> np.ndarray:
    """CUB: the number in front of the class folder ("002.Laysan_Albatross/...")."""
    try:
        return np.array([int(n.split("/")[0].split(".")[0]) for n in names], np.int64)
    except ValueError:
        raise DataError(f"{info} missing and the class cannot be read from the names "
                        f"(expected '002.Laysan_Albatross/...')") from None


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


def cub_boxes(base: Path) -> dict[str, tuple[float, float, float, float]]:
    return read_bounding_boxes(base / "CUB_200_2011")


CUB = StackGanLayout(
    kind="cub", title="CUB-200-2011", folder="birds", markers=("CUB_200_2011",),
    image=lambda name: f"CUB_200_2011/images/{name}.jpg",
    text=lambda name, class_id: f"text/{name}.txt", classes=cub_classes, boxes=cub_boxes)


def find_birds_dir(root: str | Path) -> Path:
    """CUB's base: `root` may be the folder holding birds/ or birds/ itself."""
    return find_base(root, CUB)


@dataclass
class StackGanSplit:
    """What the split files list, and what of it is on disk."""

    layout: StackGanLayout
    base: Path
    split: str
    split_dir: Path
    names: list[str]
    class_ids: np.ndarray
    boxes: dict[str, tuple[float, float, float, float]] | None
    missing_images: list[str] = field(default_factory=list)
    missing_texts: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._class_of = dict(zip(self.names, self.class_ids.tolist()))

    def image_path(self, name: str) -> Path:
        return self.base / self.layout.image(name)

    def text_path(self, name: str) -> Path:
        return self.base / self.layout.text(name, self._class_of[name])

    def box(self, name: str) -> tuple[float, float, float, float] | None:
        return None if self.boxes is None else self.boxes[name]

    def read_captions(self, name: str):
        """The item's caption file (captions.CaptionFile), as many captions as the layout uses."""
        return read_caption_file(self.text_path(name), self.layout.captions,
                                 strict_empty=self.layout.strict_empty)

    @property
    def present(self) -> list[int]:
        gone = set(self.missing_images) | set(self.missing_texts)
        return [i for i, n in enumerate(self.names) if n not in gone]


def _class_ids(sdir: Path, names: list[str], base: Path, layout: StackGanLayout) -> np.ndarray:
    info = sdir / "class_info.pickle"
    if not info.exists():
        return layout.classes(base, names, info)
    try:
        class_ids = np.asarray(load_data_pickle(info), dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(f"{info}: expected a list of class ids") from None
    if len(class_ids) != len(names):
        raise DataError(f"{info}: {len(class_ids)} class ids for {len(names)} names in "
                        f"filenames.pickle; the two files must match")
    return class_ids


def scan_split(root: str | Path, split: str, layout: StackGanLayout = CUB) -> StackGanSplit:
    """Read a split's file list and class ids and check which files exist (no decoding)."""
    base = find_base(root, layout)
    sdir = splits_dir(base, layout) / split
    if not sdir.is_dir():
        have = split_names(sdir.parent)
        raise DataError(f"{sdir}: split folder not found (splits here: {', '.join(have) or 'none'})")
    names = load_data_pickle(sdir / "filenames.pickle")
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise DataError(f"{sdir / 'filenames.pickle'}: expected a list of image names "
                        f"(e.g. {layout.image('NAME')} without .jpg)")
    names = [n[:-4] if n.lower().endswith(".jpg") else n for n in names]
    boxes = layout.boxes(base) if layout.boxes else None
    out = StackGanSplit(layout, base, split, sdir, names, _class_ids(sdir, names, base, layout), boxes)
    for n in names:
        if not out.image_path(n).is_file():
            out.missing_images.append(n)
        if not out.text_path(n).is_file():
            out.missing_texts.append(n)
        if boxes is not None and n not in boxes:
            raise DataError(f"{base / 'CUB_200_2011' / 'images.txt'}: {n}.jpg (listed in "
                            f"{sdir / 'filenames.pickle'}) has no entry; the metadata and split "
                            f"files come from different versions of the data set")
    return out


def char_cnn_rnn_path(info: StackGanSplit) -> Path:
    """The split's char-CNN-RNN embeddings file, which must exist (checked before a run's set-up)."""
    path = info.split_dir / EMBEDDINGS_FILE
    if not path.exists():
        raise DataError(
            f"{path}: not found. The char-cnn-rnn encoder needs the StackGAN {info.layout.folder} "
            f"embeddings (from the StackGAN / StackGAN++ preprocessed {info.layout.folder} data) "
            f"in that place; or train with data.encoder.kind=bow or sentence-transformers instead")
    return path


def load_char_cnn_rnn(info: StackGanSplit, dim: int | None = 1024) -> np.ndarray:
    """The split's char-CNN-RNN vectors as float32 (listed names, captions, dim), checked
    (dim None: any width)."""
    path = char_cnn_rnn_path(info)
    n_listed, per = len(info.names), info.layout.captions
    obj = load_data_pickle(path)
    try:
        arr = np.asarray(obj, dtype=np.float32)
        if dim is None and arr.ndim == 3:
            dim = arr.shape[2]
    except (TypeError, ValueError):
        raise DataError(f"{path}: expected an array (or list of arrays) of shape "
                        f"({n_listed}, {per}, {dim}); got ragged "
                        f"{type(obj).__name__} data") from None
    want = (n_listed, per, dim)
    if arr.shape != want:
        what = []
        if arr.ndim != 3:
            what.append(f"{arr.ndim} dimensions instead of 3")
        else:
            if arr.shape[0] != n_listed:
                what.append(f"{arr.shape[0]} rows but {info.split}/filenames.pickle lists "
                            f"{n_listed} images (one row per name, same order)")
            if arr.shape[1] != per:
                what.append(f"{arr.shape[1]} captions per image instead of {per}")
            if arr.shape[2] != dim:
                what.append(f"{arr.shape[2]}-d vectors but data.encoder.dim = {dim}")
        raise DataError(f"{path}: shape {arr.shape}, expected {want}: {'; '.join(what)}")
    if not np.isfinite(arr).all():
        raise DataError(f"{path}: contains NaN or infinite values; re-download the file")
    return arr


def _layout_of(root: str | Path) -> StackGanLayout:
    """The StackGAN layout of a root (the registered kinds that have one), CUB's if none fits."""
    layouts = [k.layout for k in data_kinds().values() if k.layout is not None]
    for layout in layouts:
        try:
            find_base(root, layout)
            return layout
        except DataError:
            continue
    return CUB


def char_cnn_rnn_table(root: str | Path, dim: int = 1024) -> dict[str, np.ndarray]:
    """caption (cleaned, lower-case) -> its char-CNN-RNN vector, over every split whose
    embeddings file exists. Used by the char-cnn-rnn encoder to look captions up."""
    layout = _layout_of(root)
    try:
        base = find_base(root, layout)
    except DataError as exc:
        raise EncoderError(f"char-cnn-rnn encoder: {exc}") from None
    table: dict[str, np.ndarray] = {}
    sdir = splits_dir(base, layout)
    splits = sorted(p.parent.name for p in sdir.glob(f"*/{EMBEDDINGS_FILE}"))
    if not splits:
        raise EncoderError(f"char-cnn-rnn encoder: no */{EMBEDDINGS_FILE} under {sdir}; it "
                           f"looks captions up in those precomputed files")
    for split in splits:
        info = scan_split(base, split, layout)
        emb = load_char_cnn_rnn(info, dim)
        for i in info.present:
            try:
                caps = info.read_captions(info.names[i]).captions
            except CaptionFileError:
                continue
            for k, cap in enumerate(caps):
                table.setdefault(cap.lower(), emb[i, k])
    return table
