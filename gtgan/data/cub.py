"""CUB-200-2011 in the StackGAN / AttnGAN "birds" layout.

    birds/CUB_200_2011/{images/<class>/<image>.jpg, images.txt, bounding_boxes.txt}
    birds/<split>/{filenames.pickle, class_info.pickle, char-CNN-RNN-embeddings.pickle}
    birds/text/<class>/<image>.txt            10 captions, one a line

The split files are the StackGAN ones (Python-2 pickles); embeddings are float32
(n_listed, 10, 1024) in filenames order. Anything listed but absent or broken is an error
that says what is wrong and where, unless `skip_missing` asks to use the rest (counted).
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
from .captions import CaptionFileError, read_caption_file
from .cub_files import CAPTIONS_PER_IMAGE, CubSplit, load_char_cnn_rnn, scan_split
from .embcache import cached_embeddings
from .encoders import TextEncoder

log = logging.getLogger("gtgan.data")

_HINT_MISSING = ("Get the full CUB-200-2011 images and the birds captions, or set "
                 "data.skip_missing=true (CLI --skip-missing) to use only the items present")


class CubDataset(CaptionedImageDataset):
    """One split of CUB. Attributes for reporting: `listed` (names in the split file),
    `skipped` (reason -> count of listed items left out with skip_missing), `problems`
    (file, message) of what was skipped, `fffd_lines` (caption lines repaired)."""

    def __init__(self, root: str | Path, split: str, encoder: TextEncoder, image_sizes: list[int],
                 train: bool, seed: int, skip_missing: bool = False):
        super().__init__(image_sizes, train, seed, encoder.identity, skip_broken=skip_missing)
        info = check_split(root, split, skip_missing)
        self.birds, self.split = info.birds, split
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
                cf = read_caption_file(info.text_path(name), CAPTIONS_PER_IMAGE, strict_empty=True)
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
            raise DataError(f"{self.birds / split}: {len(keep)} usable item(s) of {self.listed} "
                            f"listed; need at least 2")
        if self.fffd_lines:
            log.info("%s: %d caption line(s) had U+FFFD pairs where a space belongs; replaced",
                     self.birds / "text", self.fffd_lines)
        self._rows = np.array(keep, np.int64)  # row in the split files
        self.names = [info.names[i] for i in keep]
        self.class_ids = info.class_ids[self._rows]
        self._boxes = [info.boxes[n] for n in self.names]
        self._paths = [str(info.image_path(n)) for n in self.names]
        self._captions = caps
        self._index_classes()
        if encoder.kind == "char-cnn-rnn":
            emb = load_char_cnn_rnn(self.birds, split, self.listed, encoder.dim)[self._rows]
        else:
            flat = [c for cs in caps for c in cs]
            key = hashlib.sha256(str(self.birds.resolve()).encode()).hexdigest()[:12]
            cache = default_cache_dir() / "embeddings" / f"cub-{key}-{split}"
            emb = cached_embeddings(encoder, flat, cache).reshape(len(keep), CAPTIONS_PER_IMAGE, -1)
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


def check_split(root: str | Path, split: str, skip_missing: bool) -> CubSplit:
    """The split's file list, checked for missing files (no decoding, no text vectors): what a
    run checks before any expensive work."""
    info = scan_split(root, split)
    if (info.missing_images or info.missing_texts) and not skip_missing:
        raise DataError(_missing_message(info))
    return info


def _missing_message(info: CubSplit) -> str:
    n = len(info.names)
    gone_img, gone_txt = info.missing_images, info.missing_texts
    present = len(info.present)
    parts = []
    if gone_img:
        parts.append(f"{len(gone_img):,} of {n:,} images listed in {info.split}/filenames.pickle "
                     f"are missing under {info.birds / 'CUB_200_2011' / 'images'} "
                     f"(e.g. {gone_img[0]}.jpg)")
    if gone_txt:
        parts.append(f"{len(gone_txt):,} caption files are missing under {info.birds / 'text'} "
                     f"(e.g. {gone_txt[0]}.txt)")
    return (f"CUB {info.split} split: {'; '.join(parts)}. {_HINT_MISSING} "
            f"({present:,} of {n:,} present)")
