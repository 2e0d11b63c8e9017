"""What every data set shares: per-item randomness from (seed, epoch, index), the multi-scale
crop, guaranteed different-class negatives, and skipping of broken items on request."""
from __future__ import annotations

import logging
import warnings

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..errors import DataError
from ..models.conditioning import TextFeatures

log = logging.getLogger("gtgan.data")

LOAD_RATIO = 76 / 64  # StackGAN++: resize to 76/64 of the final size, then crop


class ImageDecodeError(DataError):
    """An image file exists but cannot be decoded (corrupt, truncated, not an image)."""


class ImageMissingError(ImageDecodeError):
    """An image file is gone (deleted after the data set was checked); skipped like a broken one."""


def item_rng(seed: int, epoch: int, index: int, salt: int = 0) -> np.random.Generator:
    """The generator for one item: a pure function of (seed, epoch, index), so worker count,
    sampling order and resumption never change what an item looks like."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, int(epoch), int(index), salt])


def load_size(image_sizes: list[int]) -> int:
    return int(max(image_sizes) * LOAD_RATIO)


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB from any PIL mode: grayscale, CMYK, palette, 16-bit and alpha are converted."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return img.convert("RGB")


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """uint8 RGB PIL -> 3xHxW float32 in [-1, 1]."""
    # numpy, not torch: tiny torch ops pay thread start-up in every DataLoader worker.
    arr = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).astype(np.float32)
    arr *= 1.0 / 127.5
    arr -= 1.0
    return torch.from_numpy(arr)


def multiscale_views(img: Image.Image, image_sizes: list[int], rng: np.random.Generator | None,
                     flip: bool = True) -> list[torch.Tensor]:
    """StackGAN++'s transform: scale the shorter side to 76/64 of the largest size (aspect
    kept), crop a square of the largest size (random with `rng`, centred without), flip half
    the time (with `rng` and `flip`); every smaller size is resized from that same crop."""
    big = max(image_sizes)
    load = load_size(image_sizes)
    w, h = img.size
    if min(w, h) != load:
        f = load / min(w, h)
        w, h = max(load, round(w * f)), max(load, round(h * f))
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    if rng is not None:
        x, y = int(rng.integers(0, w - big + 1)), int(rng.integers(0, h - big + 1))
        do_flip = flip and bool(rng.random() < 0.5)
    else:
        x, y = (w - big) // 2, (h - big) // 2
        do_flip = False
    crop = img.crop((x, y, x + big, y + big))
    if do_flip:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return [pil_to_tensor(crop if s == big else crop.resize((s, s), Image.Resampling.BILINEAR))
            for s in image_sizes]


def stackgan_box(bbox: tuple[float, float, float, float], width: int, height: int
                 ) -> tuple[int, int, int, int]:
    """StackGAN++'s crop for a CUB box (x, y, w, h): a square of half-side 0.75 * max(w, h)
    around the box centre, clipped to the image. Returns (x1, y1, x2, y2)."""
    x, y, w, h = bbox
    r = int(max(w, h) * 0.75)
    cx, cy = int((2 * x + w) / 2), int((2 * y + h) / 2)
    return max(0, cx - r), max(0, cy - r), min(width, cx + r), min(height, cy + r)


def open_image(path, min_side: int | None = None,
               bbox: tuple[float, float, float, float] | None = None) -> Image.Image:
    """Decode an image file to RGB, cropped StackGAN++-style around `bbox` (x, y, w, h) if
    given. With `min_side`, big JPEGs decode at a reduced scale (Image.draft) as long as the
    cropped region keeps at least `min_side` pixels on its shorter side: several times faster.
    Grayscale, CMYK, palette and alpha images are converted to RGB. Undecodable files raise
    ImageDecodeError naming the file, and so do images past Pillow's pixel limit (its warning
    made an error: a small compressed file may decode to gigabytes)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _open_image(path, min_side, bbox)
    except FileNotFoundError:
        raise ImageMissingError(
            f"{path}: image file not found; restore it, or skip unusable items with "
            f"data.skip_missing=true (CLI --skip-missing)") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageDecodeError(
            f"{path}: more than {Image.MAX_IMAGE_PIXELS:,} pixels, Pillow's limit (it could be a "
            f"decompression bomb); resize it, or skip such items with data.skip_missing=true "
            f"(CLI --skip-missing)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(
            f"{path}: cannot decode image ({type(exc).__name__}: {exc}); replace the file, or "
            f"skip broken items with data.skip_missing=true (CLI --skip-missing); "
            f"`gtgan data inspect` lists every broken file") from None


def _open_image(path, min_side: int | None, bbox) -> Image.Image:
    with Image.open(path) as img:
        full_w, full_h = img.size
        box = stackgan_box(bbox, full_w, full_h) if bbox is not None else None
        if box is not None and (box[2] <= box[0] or box[3] <= box[1]):
            raise DataError(f"{path}: bounding box {bbox} lies outside the "
                            f"{full_w}x{full_h} image; check bounding_boxes.txt")
        if min_side and img.format == "JPEG":
            bw, bh = ((box[2] - box[0], box[3] - box[1]) if box else (full_w, full_h))
            factor = min(bw, bh) / min_side
            if factor >= 2:
                img.draft(img.mode if img.mode in ("RGB", "L") else None,
                          (int(full_w / factor) + 1, int(full_h / factor) + 1))
        img.load()
        sx, sy = img.size[0] / full_w, img.size[1] / full_h
        out = to_rgb(img)
        if box is not None:
            out = out.crop((round(box[0] * sx), round(box[1] * sy),
                            round(box[2] * sx), round(box[3] * sy)))
        return out


class CaptionedImageDataset(Dataset):
    """Base of the data sets: items are dicts as in docs/CONTRIBUTING-interfaces.md.

    Subclasses provide `__len__`, `load_image(i)` (the item's full region, RGB PIL, before the
    multi-scale crop), `captions(i)`, `embeddings(i)` and set `class_ids` (one int per item).
    """

    flip = True
    # The text encoder, when its features include word features (a DAMSM): those are computed
    # per item (one caption through the encoder, about a millisecond) instead of cached, since
    # they are max_words times the sentence vector's size. Set by build_dataset.
    word_encoder = None
    # The share of mismatched pictures drawn from the item's own class among those that
    # contradict its caption (data.hard_negatives; training only). Set by build_dataset, for
    # data sets whose `contradicts` can tell (their kind's knows_caption_contents).
    hard_negatives = 0.0
    HARD_NEGATIVE_TRIES = 16  # draws within the class before falling back to another class

    def __init__(self, image_sizes: list[int], train: bool, seed: int, encoder_identity: dict,
                 skip_broken: bool = False):
        if not image_sizes:
            raise DataError("image_sizes is empty; give e.g. [64, 128]")
        self.image_sizes = [int(s) for s in image_sizes]
        self.train = bool(train)
        self.seed = int(seed)
        self.epoch = 0
        self.encoder_identity = dict(encoder_identity)
        self.skip_broken = skip_broken
        self.broken: set[int] = set()  # indices found undecodable in this process
        self.class_ids = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------ to provide
    def __len__(self) -> int:
        raise NotImplementedError

    def load_image(self, index: int, min_side: int | None = None) -> Image.Image:
        """The item's full region (RGB), at least `min_side` px on its shorter side where the
        source allows (default: what the data set's image sizes need)."""
        raise NotImplementedError

    def captions(self, index: int) -> list[str]:
        raise NotImplementedError

    def embeddings(self, index: int) -> torch.Tensor:
        raise NotImplementedError

    def image_path(self, index: int) -> str:
        """The item's file, for messages (data sets drawn in memory name the index)."""
        return f"item {index}"

    # ------------------------------------------------------------ shared
    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _index_classes(self) -> None:
        """Prepare O(1) uniform sampling of an index whose class differs from a given one."""
        ids = np.asarray(self.class_ids, dtype=np.int64)
        if len(ids) != len(self):
            raise DataError(f"internal: {len(ids)} class ids for {len(self)} items")
        self._order = np.argsort(ids, kind="stable")
        classes, starts, counts = np.unique(ids[self._order], return_index=True,
                                            return_counts=True)
        self._class_start = dict(zip(classes.tolist(), starts.tolist()))
        self._class_count = dict(zip(classes.tolist(), counts.tolist()))
        if len(classes) < 2:
            raise DataError(
                f"{type(self).__name__}: all {len(ids)} items are of one class ({int(classes[0])}); "
                f"mismatched pairs need images of at least two classes")

    def contradicts(self, index: int, k: int, other: int) -> bool:
        """Does item `other`'s picture contradict caption `k` of item `index` in something that
        caption states? Only data sets whose kind knows_caption_contents can tell."""
        raise NotImplementedError

    def wrong_index(self, index: int, rng: np.random.Generator, caption: int | None = None) -> int:
        """A mismatched picture for caption `caption` of item `index`: with probability
        `hard_negatives`, one of its own class that contradicts the caption (if one is found in
        HARD_NEGATIVE_TRIES draws), else a uniformly drawn one of another class (StackGAN++)."""
        if self.hard_negatives > 0 and caption is not None and rng.random() < self.hard_negatives:
            hard = self._hard_wrong_index(index, caption, rng)
            if hard is not None:
                return hard
        start, count = self._class_span(index)
        r = int(rng.integers(0, len(self._order) - count))
        return int(self._order[r if r < start else r + count])

    def _class_span(self, index: int) -> tuple[int, int]:
        """Where `index`'s class starts in the class-sorted order, and how many it holds."""
        c = int(self.class_ids[index])
        return self._class_start[c], self._class_count[c]

    def _hard_wrong_index(self, index: int, caption: int, rng: np.random.Generator) -> int | None:
        start, count = self._class_span(index)
        if count < 2:
            return None
        for _ in range(self.HARD_NEGATIVE_TRIES):
            j = int(self._order[start + int(rng.integers(0, count))])
            if j != index and self.contradicts(index, caption, j):
                return j
        return None

    def _image(self, index: int) -> Image.Image:
        try:
            return self.load_image(index)
        except ImageDecodeError as exc:
            if not self.skip_broken:
                raise
            if index not in self.broken:  # once per file (and per loader worker)
                self.broken.add(index)
                what = "missing" if isinstance(exc, ImageMissingError) else "broken"
                # info: training warns once per file in the main process (item["skipped"])
                log.info("skipping %s image %s (%d skipped so far): %s", what,
                         self.image_path(index), len(self.broken), exc)
            raise

    def __getitem__(self, index: int) -> dict:
        n = len(self)
        if not 0 <= index < n:
            raise IndexError(index)
        # With skip_broken, a broken item is replaced by the next good one (deterministically).
        skipped: list[str] = []  # files left out for this item: training counts them in its log
        for attempt in range(n if self.skip_broken else 1):
            i = (index + attempt) % n
            try:
                item = self._item(i, skipped)
                item["skipped"] = "\n".join(skipped)
                return item
            except ImageDecodeError:
                if not self.skip_broken:
                    raise
                skipped.append(self.image_path(i))
        raise DataError(f"{type(self).__name__}: no decodable image left")

    def _item(self, i: int, skipped: list[str]) -> dict:
        rng = item_rng(self.seed, self.epoch, i)
        caps = self.captions(i)
        k = int(rng.integers(0, len(caps))) if self.train else 0
        views = multiscale_views(self._image(i), self.image_sizes, rng if self.train else None,
                                 self.flip)
        for _ in range(8):  # a broken negative is replaced by another draw
            j = self.wrong_index(i, rng, k)
            try:
                wrong = multiscale_views(self._image(j), self.image_sizes,
                                         rng if self.train else None, self.flip)
                break
            except ImageDecodeError:
                if not self.skip_broken:
                    raise
                skipped.append(self.image_path(j))
        else:
            raise DataError(f"{type(self).__name__}: could not find a decodable negative image")
        return {"images": views, "wrong_images": wrong, "text": self.text_features(i, k),
                "caption": caps[k], "caption_index": k, "index": i,
                "class_id": int(self.class_ids[i])}

    def text_vector(self, index: int, k: int) -> torch.Tensor:
        """The sentence vector of caption `k` of item `index`, (d,) float32."""
        return self.embeddings(index)[k].float()

    def text_features(self, index: int, k: int) -> TextFeatures:
        """What the generator reads for caption `k` of item `index` (one item: no batch
        dimension): the cached sentence vector, and the word features where the encoder has
        them."""
        sentence = self.text_vector(index, k)
        if self.word_encoder is None:
            return TextFeatures(sentence)
        words = self.word_encoder.features([self.captions(index)[k]])
        return TextFeatures(sentence, words.words[0], words.mask[0])

    def real_image(self, index: int, size: int) -> torch.Tensor:
        """The item's image at `size`, centre crop as for evaluation (3xSxS in [-1, 1])."""
        big = max(max(self.image_sizes), size)
        sizes = [big] if size == big else [size, big]
        return multiscale_views(self.load_image(index, load_size(sizes)), sizes, None)[0]
