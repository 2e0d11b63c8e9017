"""Your own captioned images: a folder of images, each with a caption file next to it.

    ROOT/<any/sub/folders>/<name>.<jpg|jpeg|png|bmp|webp|tif|tiff>
    ROOT/<any/sub/folders>/<name>.txt        one caption per line (UTF-8), at least one

`prepare_folder` (CLI `gtgan data prepare ROOT`) checks every image and caption file, writes
ROOT/gtgan_manifest.json (items, split, class) and caches the text vectors under
ROOT/gtgan_cache/. The split comes from an optional JSON split file {"train": [paths],
"test": [paths]} (paths relative to ROOT), else from a hash of each path (about 1 in 10 to
test), stable when images are added. The class (for mismatched pairs) is the image's
sub-folder when there are several; otherwise every image is its own class.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..errors import DataError
from ..fileio import FileFormatError, atomic_write_json, read_json, shown
from .base import CaptionedImageDataset, load_size, open_image
from .captions import CaptionFileError, read_caption_file
from .checks import InspectReport, caption_stats, centre_crop, pick_examples, table_lines, write_grid
from .embcache import cached_embeddings, captions_key
from .encoders import TextEncoder
from .registry import DataKind, register_data_kind

log = logging.getLogger("gtgan.data")

MANIFEST = "gtgan_manifest.json"
CACHE_DIR = "gtgan_cache"
MANIFEST_FORMAT = "gtgan-folder-manifest"
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
MAX_LIST_BYTES = 1 << 30  # a manifest or split file: about 5 million items
_SKIP_HINT = "or leave such items out with --skip-missing (data.skip_missing=true)"


@dataclass
class FolderScan:
    root: Path
    items: list[dict] = field(default_factory=list)  # image, captions, split, class, n_captions
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, what is wrong)
    not_in_split_file: int = 0
    empty_lines: int = 0
    fffd_lines: int = 0
    class_mode: str = "folders"
    orphan_captions: list[str] = field(default_factory=list)  # .txt files with no image beside


def _check_root(root: str | Path) -> Path:
    if not str(root):
        raise DataError("data.root is empty: give the folder of captioned images")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: folder not found")
    return root


def _utf8_name(rel: Path) -> bool:
    try:
        str(rel).encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
        return False
    return True


def _hash_split(rel: str) -> str:
    return "test" if int(hashlib.sha1(rel.encode("utf-8")).hexdigest(), 16) % 10 == 0 else "train"


def read_split_file(path: str | Path, root: Path, images: set[str]) -> dict[str, str]:
    """image path (relative, '/') -> split name, from a JSON {"split": [paths]} file."""
    path = Path(path)
    try:
        data = read_json(path, MAX_LIST_BYTES)
    except FileNotFoundError:
        raise DataError(f"{path}: split file not found") from None
    except FileFormatError as exc:
        raise DataError(f"{exc}; expected "
                        f'{{"train": ["a.jpg", ...], "test": [...]}}') from None
    if not isinstance(data, dict) or not all(
            isinstance(v, list) and all(isinstance(p, str) for p in v) for v in data.values()):
        raise DataError(f'{path}: expected {{"train": ["a.jpg", ...], "test": [...]}} '
                        f"(split name -> list of image paths relative to {root})")
    out: dict[str, str] = {}
    for split, paths in data.items():
        for p in paths:
            rel = Path(p).as_posix()
            if rel not in images:
                raise DataError(f"{path}: {shown(p)} (split {shown(split)}) is not an image under {root}")
            if rel in out and out[rel] != split:
                raise DataError(f"{path}: {shown(p)} is in both {shown(out[rel])} and {shown(split)}")
            out[rel] = split
    return out


def scan_folder(root: str | Path, split_file: str | Path | None = None,
                verify_images: bool = True, progress: bool = False) -> FolderScan:
    """Find and check every image and caption file (decoding images when `verify_images`)."""
    root = _check_root(root)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file()
                   and CACHE_DIR not in p.relative_to(root).parts)
    if not files:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_EXTS)}) in this folder or below")
    scan = FolderScan(root)
    named = []
    for p in files:  # a name that is not UTF-8 cannot go into the manifest: named by its bytes
        if _utf8_name(p.relative_to(root)):
            named.append(p)
        else:
            scan.problems.append((repr(os.fsencode(p)), f"{os.fsencode(p)!r}: the file name is not "
                                  "valid UTF-8; rename the file"))
    images = {p.with_suffix("") for p in files}
    scan.orphan_captions = [
        p.relative_to(root).as_posix() if _utf8_name(p) else repr(os.fsencode(p.relative_to(root)))
        for p in sorted(root.rglob("*.txt"))
        if p.with_suffix("") not in images and CACHE_DIR not in p.relative_to(root).parts]
    files = named
    rels = [p.relative_to(root).as_posix() for p in files]
    splits = read_split_file(split_file, root, set(rels)) if split_file else None
    it = zip(files, rels)
    if progress:
        it = tqdm(list(it), desc="checking", unit="img", leave=False)
    for path, rel in it:
        if splits is not None and rel not in splits:
            scan.not_in_split_file += 1
            continue
        txt = path.with_suffix(".txt")
        try:
            cf = read_caption_file(txt, skip_hint=_SKIP_HINT)
        except CaptionFileError as exc:
            scan.problems.append((str(txt), str(exc)))
            continue
        if verify_images:
            try:
                open_image(path, min_side=64)
            except DataError as exc:
                scan.problems.append((str(path), str(exc)))
                continue
        scan.empty_lines += cf.empty_lines
        scan.fffd_lines += cf.fffd_lines
        parent = Path(rel).parent.as_posix()
        scan.items.append({"image": rel, "captions": Path(rel).with_suffix(".txt").as_posix(),
                           "split": splits[rel] if splits else _hash_split(rel),
                           "class": parent, "text": cf.captions})
    if splits is None and 0 < sum(it["split"] == "test" for it in scan.items) < 2:
        for it in scan.items:  # too few for a test split of its own: all train
            it["split"] = "train"
    if len({it["class"] for it in scan.items}) < 2:
        scan.class_mode = "images"
        for it in scan.items:
            it["class"] = it["image"]
    return scan


def _problems_message(root: Path, problems: list[tuple[str, str]]) -> str:
    shown = "; ".join(msg for _, msg in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return (f"{root}: {len(problems)} item(s) cannot be used: {shown}{more}. Fix them, "
            f"{_SKIP_HINT}")


def prepare_folder(root: str | Path, encoder: TextEncoder, split_file: str | Path | None = None,
                   skip_missing: bool = False, progress: bool = False) -> dict:
    """Check a folder of captioned images, write its manifest and cache its text vectors.
    Returns a report (counts per split, problems, manifest and cache paths)."""
    scan = scan_folder(root, split_file, verify_images=True, progress=progress)
    if scan.problems and not skip_missing:
        raise DataError(_problems_message(scan.root, scan.problems))
    if not scan.items:
        raise DataError(f"{scan.root}: no usable captioned images")
    counts: dict[str, int] = {}
    for it in scan.items:
        counts[it["split"]] = counts.get(it["split"], 0) + 1
    manifest = {
        "format": MANIFEST_FORMAT, "version": 1, "classes": scan.class_mode,
        "split_file": str(split_file) if split_file else None, "splits": counts,
        "items": [{k: it[k] for k in ("image", "captions", "split", "class")} for it in scan.items],
        "skipped": [{"path": p, "reason": m} for p, m in scan.problems],
        "not_in_split_file": scan.not_in_split_file,
    }
    atomic_write_json(scan.root / MANIFEST, manifest, durable=True)  # training depends on it
    caches = {}
    for split in counts:  # the same captions in the same order as FolderDataset reads them
        flat = [c for it in scan.items if it["split"] == split for c in it["text"]]
        caches[split] = str(scan.root / CACHE_DIR / split)
        cached_embeddings(encoder, flat, caches[split])
    return {"root": str(scan.root), "manifest": str(scan.root / MANIFEST), "splits": counts,
            "skipped": len(scan.problems), "problems": scan.problems,
            "not_in_split_file": scan.not_in_split_file, "empty_lines": scan.empty_lines,
            "fffd_lines": scan.fffd_lines, "classes": scan.class_mode,
            "orphan_captions": scan.orphan_captions,
            "encoder": encoder.identity, "caches": caches}


def read_manifest(root: Path) -> dict:
    path = root / MANIFEST
    try:
        data = read_json(path, MAX_LIST_BYTES)
    except FileNotFoundError:
        raise DataError(f"{root}: no {MANIFEST}; run `gtgan data prepare {root}` first") from None
    except FileFormatError as exc:
        raise DataError(f"{exc}; run `gtgan data prepare {root}` again") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or \
            not isinstance(data.get("items"), list):
        raise DataError(f"{path}: not a gtgan folder manifest; run `gtgan data prepare {root}`")
    for n, it in enumerate(data["items"]):
        bad = _outside(root, it)
        if bad is not None:
            raise DataError(f"{path}: item {n} names {shown(bad)}, which is not a file inside "
                            f"{root}; run `gtgan data prepare {root}` again")
    return data


def _outside(root: Path, item) -> object | None:
    """What in a manifest item is not a relative path inside `root` (None when all is)."""
    if not isinstance(item, dict):
        return item
    for key in ("image", "captions"):
        rel = item.get(key)
        if not isinstance(rel, str) or not rel or Path(rel).is_absolute() or \
                ".." in Path(rel).parts or "\0" in rel:
            return rel
    if not isinstance(item.get("class"), str) or not isinstance(item.get("split"), str):
        return item.get("class")
    return None


def check_prepared(root: str | Path, split: str) -> list[dict]:
    """The folder exists, is prepared, and has items in `split` (no images or captions read).
    Returns the manifest's items, so a caller that goes on reads the manifest once."""
    root = _check_root(root)
    items = read_manifest(root)["items"]
    if not any(it.get("split") == split for it in items):
        have = sorted({str(it.get("split")) for it in items})
        raise DataError(f"{root}: no items in split {split!r} (splits: {', '.join(have)})")
    return items


@dataclass
class SplitItems:
    """What training uses of one split of a prepared folder, and what it leaves out."""

    listed: int
    paths: list[str] = field(default_factory=list)
    captions: list[list[str]] = field(default_factory=list)
    class_ids: list[int] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)


def split_items(root: Path, split: str, skip_missing: bool) -> SplitItems:
    """The items of `split` as training takes them (manifest read, images present, caption
    files read; at least 2), raising the DataError training raises. `gtgan data inspect` calls
    this too, so the two cannot disagree on what is usable."""
    items = check_prepared(root, split)
    class_of = {c: i for i, c in enumerate(sorted({it["class"] for it in items}))}
    mine = [it for it in items if it.get("split") == split]
    out = SplitItems(len(mine))
    for it in mine:
        img = root / it["image"]
        try:
            if not img.is_file():
                raise DataError(f"{img}: image listed in {MANIFEST} is gone; run `gtgan data "
                                f"prepare {root}` again, {_SKIP_HINT}")
            caps = read_caption_file(root / it["captions"], skip_hint=_SKIP_HINT).captions
        except DataError as exc:
            if not skip_missing:
                raise
            out.skipped["missing or bad"] = out.skipped.get("missing or bad", 0) + 1
            out.problems.append((str(img), str(exc)))
            continue
        out.paths.append(str(img))
        out.captions.append(caps)
        out.class_ids.append(class_of[it["class"]])
    if len(out.paths) < 2:
        raise DataError(f"{root}: split {split!r} has {len(out.paths)} usable item(s); "
                        f"need at least 2")
    return out


class FolderDataset(CaptionedImageDataset):
    """One split of a prepared folder. Captions are re-read from their files (the files are
    the truth; vectors are recomputed when they change)."""

    def __init__(self, root: str | Path, split: str, encoder: TextEncoder, image_sizes: list[int],
                 train: bool, seed: int, skip_missing: bool = False):
        super().__init__(image_sizes, train, seed, encoder.identity, skip_broken=skip_missing)
        self.root = _check_root(root)
        use = split_items(self.root, split, skip_missing)
        self.listed, self.skipped, self.problems = use.listed, use.skipped, use.problems
        self._paths, self._captions, ids = use.paths, use.captions, use.class_ids
        if len(set(ids)) < 2:  # one class in this split: mismatched pairs by image instead
            log.info("%s split %s: one class only; each image counts as its own class", root, split)
            ids = list(range(len(ids)))
        self.class_ids = np.array(ids, np.int64)
        self._index_classes()
        counts = np.array([len(c) for c in self._captions])
        self._offsets = np.concatenate([[0], np.cumsum(counts)])
        flat = [c for cs in self._captions for c in cs]
        self.cache_dir = self.root / CACHE_DIR / split
        self.captions_sha256 = captions_key(flat)
        self._emb = np.ascontiguousarray(cached_embeddings(encoder, flat, self.cache_dir),
                                         dtype=np.float32)

    def __len__(self) -> int:
        return len(self._paths)

    def captions(self, index: int) -> list[str]:
        return list(self._captions[index])

    def embeddings(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self._emb[self._offsets[index]:self._offsets[index + 1]])

    def text_vector(self, index: int, k: int) -> torch.Tensor:
        return torch.from_numpy(self._emb[self._offsets[index] + k].copy())

    def load_image(self, index: int, min_side: int | None = None) -> Image.Image:
        return open_image(self._paths[index], min_side=min_side or load_size(self.image_sizes))

    def image_path(self, index: int) -> str:
        return self._paths[index]


# ---------------------------------------------------------------- inspect and registration


def inspect_folder(data_cfg, out=None, examples: int = 8, verify: bool = True) -> InspectReport:
    """What is in the folder now (as `prepare` would find it), and the verdict training would
    reach: its own item checks (`split_items`) on the manifest, plus the decoding of each item."""
    skip_missing, train_split = data_cfg.skip_missing, data_cfg.train_split or "train"
    scan = scan_folder(data_cfg.root, verify_images=verify)
    rep = InspectReport([f"captioned image folder at {scan.root}"])
    rows = [["split", "images", "classes"]]
    by_split: dict[str, list[dict]] = {}
    for it in scan.items:
        by_split.setdefault(it["split"], []).append(it)
    for split, items in sorted(by_split.items()):
        rows.append([split, f"{len(items):,}", f"{len({i['class'] for i in items}):,}"])
    rep.lines += table_lines(rows)
    rep.lines.append(f"class of an image: {'its sub-folder' if scan.class_mode == 'folders' else 'itself (one folder only)'}")
    caps = [it["text"] for it in scan.items]
    rep.lines.append(caption_stats(caps))
    if scan.empty_lines:
        rep.lines.append(f"captions: {scan.empty_lines} empty line(s) ignored")
    if scan.fffd_lines:
        rep.lines.append(f"captions: {scan.fffd_lines} line(s) had U+FFFD characters, replaced by spaces")
    if scan.not_in_split_file:
        rep.lines.append(f"{scan.not_in_split_file} image(s) not in the split file, left out")
    if scan.orphan_captions:
        rep.lines.append(f"{len(scan.orphan_captions)} caption file(s) with no image beside them "
                         f"(not used), e.g. {scan.orphan_captions[0]}")
    if scan.problems:
        rep.lines.append(f"{len(scan.problems)} item(s) that `gtgan data prepare` leaves out with "
                         "--skip-missing (and refuses without it):")
        rep.lines += [f"problem: {m}" for _, m in scan.problems[:10]]
    _folder_verdict(rep, scan, skip_missing, verify, train_split)
    shown = []
    for j in pick_examples(len(scan.items), examples):
        try:
            shown.append((centre_crop(open_image(scan.root / scan.items[j]["image"],
                                                  min_side=152)), caps[j][0]))
        except DataError as exc:  # --quick decodes only these: a broken one is left out
            rep.lines.append(f"grid: left out {exc}")
    write_grid(rep, out, shown)
    rep.lines.append("ok: training accepts this folder" if rep.ok else
                     "NOT usable as is: training would stop (see above)")
    return rep


def _folder_verdict(rep: InspectReport, scan, skip_missing: bool, verify: bool,
                    train_split: str) -> None:
    """Judge the prepared manifest as training does: its items of each split (the train split
    decides; training falls back to training captions without a test split)."""
    try:
        manifest = read_manifest(scan.root)
    except DataError as exc:
        rep.ok = False
        rep.lines.append(f"training would stop: {exc}")
        return
    same = sorted(i["image"] for i in manifest["items"]) == sorted(i["image"] for i in scan.items)
    rep.lines.append(f"{MANIFEST}: present, " + ("up to date" if same else
                     f"differs from what `gtgan data prepare {scan.root}` would write now (run it "
                     "again to take the changes in)"))
    broken = {p for p, _ in scan.problems}
    for split in sorted({str(it.get("split")) for it in manifest["items"]}):
        try:
            use = split_items(scan.root, split, skip_missing)
        except DataError as exc:
            rep.counts[split] = {"listed": 0, "present": 0}
            rep.lines.append(f"{split}: training would stop: {exc}")
            rep.ok = rep.ok and split != train_split
            continue
        bad = [p for p in use.paths if p in broken] if verify else []
        rep.counts[split] = {"listed": use.listed, "present": len(use.paths) - len(bad)}
        for path, msg in use.problems[:3]:
            rep.lines.append(f"{split}: skipped by training (--skip-missing): {msg}")
        if bad and not skip_missing:
            rep.lines.append(f"{split}: training would stop at {bad[0]}: it cannot be decoded "
                             f"({len(bad)} such image(s))")
            rep.ok = rep.ok and split != train_split
        elif bad:
            rep.lines.append(f"{split}: {len(bad)} undecodable image(s) replaced by the next good "
                             f"one during training (--skip-missing)")
    if train_split not in rep.counts:
        rep.ok = False
        rep.lines.append(f"training would stop: {scan.root}: no items in split {train_split!r}")


def _build(data_cfg, split, encoder, image_sizes, train, seed):
    return FolderDataset(data_cfg.root, split, encoder, image_sizes, train, seed,
                         skip_missing=data_cfg.skip_missing)


register_data_kind(DataKind(
    name="folder", title="your own captioned images: a .txt of captions beside each image, "
    "prepared by `gtgan data prepare ROOT`", build=_build,
    check=lambda data_cfg, split: check_prepared(data_cfg.root, split), inspect=inspect_folder,
    catch_all=True))
