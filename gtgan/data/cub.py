"""Data sets in the StackGAN / AttnGAN layout (`StackGanDataset`), their `gtgan data inspect`
report, and the data kind `cub`: CUB-200-2011 in the "birds" layout.

    birds/CUB_200_2011/{images/<class>/<image>.jpg, images.txt, bounding_boxes.txt}
    birds/<split>/{filenames.pickle, class_info.pickle, char-CNN-RNN-embeddings.pickle}
    birds/text/<class>/<image>.txt            10 captions, one a line

The split files are the StackGAN ones (Python-2 pickles); embeddings are float32
(n_listed, 10, 1024) in filenames order. Anything listed but absent or broken is an error
that says what is wrong and where, unless `skip_missing` asks to use the rest (counted).
Other data sets in this layout (flowers.py, coco.py) differ only in their `StackGanLayout`
and register the same functions with it (`stackgan_kind`).
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import DataError
from ..fileio import default_cache_dir
from .base import CaptionedImageDataset, load_size, open_image
from .captions import CaptionFileError
from .cub_files import (CUB, StackGanLayout, StackGanSplit, char_cnn_rnn_path, load_char_cnn_rnn,
                        scan_split)
from .embcache import cached_embeddings
from .encoders import TextEncoder
from .registry import DataKind, register_data_kind
from .stackgan_inspect import inspect_stackgan

log = logging.getLogger("gtgan.data")


class StackGanDataset(CaptionedImageDataset):
    """One split of a data set in the StackGAN layout. Attributes for reporting: `listed`
    (names in the split file), `skipped` (reason -> count of listed items left out with
    skip_missing), `problems` (file, message) of what was skipped, `fffd_lines` (caption lines
    repaired)."""

    def __init__(self, root: str | Path, split: str, encoder: TextEncoder, image_sizes: list[int],
                 train: bool, seed: int, skip_missing: bool = False, layout: StackGanLayout = CUB):
        super().__init__(image_sizes, train, seed, encoder.identity, skip_broken=skip_missing)
        info = check_split(root, split, skip_missing, layout)
        self.base, self.split = info.base, split
        self.listed = len(info.names)
        self.skipped: dict[str, int] = {}
        self.problems: list[tuple[str, str]] = []
        if set(info.missing_images) | set(info.missing_texts):
            self.skipped["missing image"] = len(info.missing_images)
            self.skipped["missing captions"] = len(set(info.missing_texts) - set(info.missing_images))
        keep, caps = [], []
        self.fffd_lines = 0
        for i in info.present:
            name = info.names[i]
            try:
                cf = info.read_captions(name)
            except CaptionFileError as exc:
                if not skip_missing:
                    raise
                self.skipped["bad captions"] = self.skipped.get("bad captions", 0) + 1
                self.problems.append((str(info.text_path(name)), str(exc)))
                continue
            self.fffd_lines += cf.fffd_lines
            keep.append(i)
            caps.append(cf.captions)
        if len(keep) < 2:
            raise DataError(f"{info.split_dir}: {len(keep)} usable item(s) of {self.listed} "
                            f"listed; need at least 2")
        if self.fffd_lines:
            log.info("%s: %d caption line(s) had U+FFFD pairs where a space belongs; replaced",
                     info.base, self.fffd_lines)
        self._rows = np.array(keep, np.int64)  # row in the split files
        self.names = [info.names[i] for i in keep]
        self.class_ids = info.class_ids[self._rows]
        self._boxes = [info.box(n) for n in self.names]
        self._paths = [str(info.image_path(n)) for n in self.names]
        self._captions = caps
        self._index_classes()
        if encoder.kind == "char-cnn-rnn":
            emb = load_char_cnn_rnn(info, encoder.dim)[self._rows]
        else:
            flat = [c for cs in caps for c in cs]
            key = hashlib.sha256(str(self.base.resolve()).encode()).hexdigest()[:12]
            cache = default_cache_dir() / "embeddings" / f"{layout.kind}-{key}-{split}"
            emb = cached_embeddings(encoder, flat, cache).reshape(len(keep), layout.captions, -1)
        self._emb = np.ascontiguousarray(emb, dtype=np.float32)

    @property
    def present(self) -> int:
        return len(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def captions(self, index: int) -> list[str]:
        return list(self._captions[index])

    def embeddings(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self._emb[index])

    def text_vector(self, index: int, k: int) -> torch.Tensor:
        return torch.from_numpy(self._emb[index, k].copy())

    def load_image(self, index: int, min_side: int | None = None) -> Image.Image:
        return open_image(self._paths[index], min_side=min_side or load_size(self.image_sizes),
                          bbox=self._boxes[index])

    def image_path(self, index: int) -> str:
        return self._paths[index]


def check_split(root: str | Path, split: str, skip_missing: bool,
                layout: StackGanLayout = CUB) -> StackGanSplit:
    """The split's file list, checked for missing files (no decoding, no text vectors): what a
    run checks before any expensive work."""
    info = scan_split(root, split, layout)
    if (info.missing_images or info.missing_texts) and not skip_missing:
        raise DataError(_missing_message(info))
    return info


def _missing_message(info: StackGanSplit) -> str:
    n, layout = len(info.names), info.layout
    gone_img, gone_txt = info.missing_images, info.missing_texts
    present = len(info.present)
    parts = []
    if gone_img:
        parts.append(f"{len(gone_img):,} of {n:,} images listed in {info.split}/filenames.pickle "
                     f"are missing (e.g. {info.image_path(gone_img[0])})")
    if gone_txt:
        parts.append(f"{len(gone_txt):,} caption files are missing (e.g. "
                     f"{info.text_path(gone_txt[0])})")
    return (f"{layout.title} {info.split} split: {'; '.join(parts)}. Get the full {layout.title} "
            f"images and captions, or set data.skip_missing=true (CLI --skip-missing) to use "
            f"only the items present ({present:,} of {n:,} present)")


def stackgan_kind(layout: StackGanLayout, title: str) -> DataKind:
    """The data kind of a data set in the StackGAN layout: this module's functions with
    `layout`; recognised by its marker folders."""

    def build(data_cfg, split, encoder, image_sizes, train, seed):
        return StackGanDataset(data_cfg.root, split, encoder, image_sizes, train, seed,
                               skip_missing=data_cfg.skip_missing, layout=layout)

    def check(data_cfg, split):
        info = check_split(data_cfg.root, split, data_cfg.skip_missing, layout)
        if data_cfg.encoder.kind == "char-cnn-rnn":
            char_cnn_rnn_path(info)

    def inspect(data_cfg, out, examples, verify):
        return inspect_stackgan(data_cfg.root, layout, data_cfg.skip_missing, out, examples, verify)

    def detect(root: Path) -> bool:
        return any(all((c / m).is_dir() for m in layout.markers) for c in (root / layout.folder, root))

    return DataKind(name=layout.kind, title=title, build=build, check=check, inspect=inspect,
                    detect=detect, layout=layout)


register_data_kind(stackgan_kind(CUB, "CUB-200-2011 birds in the StackGAN / AttnGAN layout "
                                      "(birds/CUB_200_2011/, birds/text/, birds/<split>/)"))
