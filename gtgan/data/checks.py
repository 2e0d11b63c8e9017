"""`gtgan data inspect`: what a data root holds, what is missing or broken, caption
statistics, and a PNG grid of example crops with their captions. (Named checks, not inspect,
so as not to shadow the standard library's module.)"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError
from ..fileio import atomic_save_image
from ..images import caption_grid
from .base import multiscale_views, open_image
from .captions import CaptionFileError, read_caption_file
from .cub_files import CAPTIONS_PER_IMAGE, EMBEDDINGS_FILE, find_birds_dir, load_char_cnn_rnn, scan_split
from .folder import MANIFEST, read_manifest, scan_folder, split_items
from .synthetic import (ATTRIBUTE_VALUES, HELD_OUT_PAIRS, _pose, draw_bird, make_captions,
                        sample_attributes, split_count)


@dataclass
class InspectReport:
    lines: list[str] = field(default_factory=list)
    ok: bool = True  # usable as it is (with the given skip_missing)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    grid: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def detect_kind(root: str | Path) -> str:
    root = Path(root)
    if (root / "birds" / "CUB_200_2011").is_dir() or (root / "CUB_200_2011").is_dir():
        return "cub"
    return "folder"


def caption_stats(captions: list[list[str]]) -> str:
    lines = [c for cs in captions for c in cs]
    if not lines:
        return "captions: none"
    words = np.array([len(c.split()) for c in lines])
    vocab = {w.strip(".,;:!?") for c in lines for w in c.lower().split()}
    per = np.array([len(cs) for cs in captions])
    return (f"captions: {len(lines):,} in {len(captions):,} files ({per.min()}-{per.max()} per image); "
            f"words per caption min {words.min()} / mean {words.mean():.1f} / max {words.max()}; "
            f"vocabulary {len(vocab):,} words")


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
            for r in rows]


def _centre_crop(img: Image.Image, size: int = 128) -> Image.Image:
    t = multiscale_views(img, [size], None)[0]
    return Image.fromarray(((t.permute(1, 2, 0).numpy() + 1) * 127.5 + 0.5).clip(0, 255).astype(np.uint8))


def _pick(n: int, k: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, n - 1, min(k, n))}) if n else []


def _write_grid(report: InspectReport, out, examples) -> None:
    if out and examples:
        atomic_save_image(out, caption_grid(examples))
        report.grid = str(out)
        report.lines.append(f"grid: wrote {out} ({len(examples)} example crops with a caption)")
    elif out:
        report.lines.append("grid: nothing to show (no usable items)")
    elif examples:  # asked for no file: say how to get the picture, never write one unasked
        report.lines.append(f"grid: not written; add --out grid.png to see {len(examples)} "
                            "example crops with a caption")


# ---------------------------------------------------------------- CUB


def inspect_cub(root, skip_missing: bool, out=None, examples: int = 8, verify: bool = True
                ) -> InspectReport:
    birds = find_birds_dir(root)
    rep = InspectReport([f"CUB-200-2011, StackGAN layout, at {birds}"])
    splits = sorted((p.name for p in birds.iterdir() if (p / "filenames.pickle").is_file()),
                    key=lambda s: (s != "train", s != "test", s))
    if not splits:
        raise DataError(f"{birds}: no <split>/filenames.pickle (e.g. train/, test/)")
    rows = [["split", "listed", "present", "missing images", "missing captions", "bad captions",
             "broken images", "classes present"]]
    notes, problems, grid_items, all_caps = [], [], [], []
    fffd, modes, sizes = [], {}, []
    for split in splits:
        info = scan_split(birds, split)
        present = info.present
        bad_caps = broken = 0
        for i in present:
            name = info.names[i]
            try:
                cf = read_caption_file(info.text_path(name), CAPTIONS_PER_IMAGE, strict_empty=True)
            except CaptionFileError as exc:
                bad_caps += 1
                problems.append(str(exc))
                continue
            all_caps.append(cf.captions)
            if cf.fffd_lines:
                fffd.append((str(info.text_path(name)), cf.fffd_lines))
            if verify:
                try:  # decoded first: a file whose header cannot be read is a broken image too
                    img = open_image(info.image_path(name), min_side=152, bbox=info.boxes[name])
                    with Image.open(info.image_path(name)) as im:
                        modes[im.mode] = modes.get(im.mode, 0) + 1
                        sizes.append(im.size)
                except DataError as exc:
                    broken += 1
                    problems.append(str(exc))
                    continue
            else:
                img = None
            grid_items.append((split, info, name, cf.captions[0], img))
        usable = len(present) - bad_caps - broken
        classes = len(set(info.class_ids[present].tolist()))
        rows.append([split, f"{len(info.names):,}", f"{usable:,}", f"{len(info.missing_images):,}",
                     f"{len(set(info.missing_texts) - set(info.missing_images)):,}", f"{bad_caps:,}",
                     f"{broken:,}" if verify else "-",
                     f"{classes}/{len(set(info.class_ids.tolist()))}"])
        rep.counts[split] = {"listed": len(info.names), "present": usable,
                             "missing_images": len(info.missing_images),
                             "missing_captions": len(info.missing_texts), "bad_captions": bad_caps,
                             "broken_images": broken}
        note, emb_ok = _embeddings_note(birds, split, len(info.names))
        notes.append(note)
        rep.ok = rep.ok and emb_ok
        if len(present) < len(info.names) or bad_caps or broken:
            if not skip_missing:
                rep.ok = False
    rep.lines += _table(rows)
    rep.lines.append(caption_stats(all_caps))
    if fffd:
        rep.lines.append(f"captions: {sum(n for _, n in fffd)} line(s) had a U+FFFD pair where a "
                         f"space belongs, repaired on reading (nothing to do; first: {fffd[0][0]})")
    if verify and sizes:
        w = np.array([s[0] for s in sizes]); h = np.array([s[1] for s in sizes])
        rep.lines.append(f"images: {len(sizes):,} decoded; modes "
                         + ", ".join(f"{m} {n}" for m, n in sorted(modes.items()))
                         + f" (non-RGB are converted); sizes {w.min()}x{h.min()} to {w.max()}x{h.max()}")
    rep.lines += notes
    for msg in problems[:10]:
        rep.lines.append(f"problem: {msg}")
    if len(problems) > 10:
        rep.lines.append(f"... and {len(problems) - 10} more problems")
    _write_grid(rep, out, _cub_examples(rep, grid_items, examples))
    _verdict(rep, skip_missing)
    return rep


def _embeddings_note(birds: Path, split: str, n: int) -> tuple[str, bool]:
    """What the split's char-CNN-RNN embeddings file holds, and False when it is unusable."""
    if not (birds / split / EMBEDDINGS_FILE).exists():
        return (f"embeddings: {split}/{EMBEDDINGS_FILE} not present (needed only by the "
                f"char-cnn-rnn encoder)"), True
    try:
        load_char_cnn_rnn(birds, split, n)
    except DataError as exc:
        return f"embeddings: {exc}", False
    return f"embeddings: {split}/{EMBEDDINGS_FILE}: shape ok ({n}, {CAPTIONS_PER_IMAGE}, 1024)", True


def _cub_examples(rep: InspectReport, grid_items: list, examples: int) -> list:
    """Up to `examples` (centre crop, caption) pairs spread over the usable items."""
    shown = []
    for j in _pick(len(grid_items), examples):
        split, info, name, cap, img = grid_items[j]
        try:
            img = img or open_image(info.image_path(name), min_side=152, bbox=info.boxes[name])
        except DataError as exc:  # --quick decodes only these: a broken one is left out
            rep.lines.append(f"grid: left out {exc}")
            continue
        shown.append((_centre_crop(img), cap))
    return shown


def _verdict(rep: InspectReport, skip_missing: bool) -> None:
    present = {s: c["present"] for s, c in rep.counts.items()}
    listed = {s: c["listed"] for s, c in rep.counts.items()}
    if all(present[s] == listed[s] for s in present):
        rep.lines.append("ok: every listed item is present and readable")
    elif skip_missing:
        rep.lines.append("ok with --skip-missing: training uses only the present items ("
                         + ", ".join(f"{s} {present[s]:,} of {listed[s]:,}" for s in present) + ")")
    else:
        rep.lines.append("NOT usable as is: listed items are missing or broken; training stops "
                         "with an error. Get the missing files, or set data.skip_missing=true "
                         "(--skip-missing) to use the present items ("
                         + ", ".join(f"{s} {present[s]:,} of {listed[s]:,}" for s in present) + ")")


# ---------------------------------------------------------------- own folder


def inspect_folder(root, skip_missing: bool, out=None, examples: int = 8,
                   split_file=None, verify: bool = True, train_split: str = "train"
                   ) -> InspectReport:
    """What is in the folder now (as `prepare` would find it), and the verdict training would
    reach: its own item checks (`split_items`) on the manifest, plus the decoding of each item."""
    scan = scan_folder(root, split_file, verify_images=verify)
    rep = InspectReport([f"captioned image folder at {scan.root}"])
    rows = [["split", "images", "classes"]]
    by_split: dict[str, list[dict]] = {}
    for it in scan.items:
        by_split.setdefault(it["split"], []).append(it)
    for split, items in sorted(by_split.items()):
        rows.append([split, f"{len(items):,}", f"{len({i['class'] for i in items}):,}"])
    rep.lines += _table(rows)
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
    for j in _pick(len(scan.items), examples):
        try:
            shown.append((_centre_crop(open_image(scan.root / scan.items[j]["image"],
                                                  min_side=152)), caps[j][0]))
        except DataError as exc:  # --quick decodes only these: a broken one is left out
            rep.lines.append(f"grid: left out {exc}")
    _write_grid(rep, out, shown)
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


# ---------------------------------------------------------------- synthetic


def inspect_synthetic(count: int = 3000, seed: int = 0, out=None, examples: int = 8) -> InspectReport:
    rep = InspectReport([f"built-in synthetic birds (count {count}, seed {seed}), 128x128, "
                         f"drawn on demand"])
    rows = [["split", "images", "classes (body, wing)"]]
    shown, caps = [], []
    for split in ("train", "test"):
        n = split_count(split, count)
        attrs = [sample_attributes(seed, split, i) for i in range(n)]
        rows.append([split, f"{n:,}", f"{len({(a['body'], a['wing']) for a in attrs})}"])
        rep.counts[split] = {"listed": n, "present": n}
        split_caps = [make_captions(a, seed, split, i) for i, a in enumerate(attrs)]
        caps += [[c for c, _ in cs] for cs in split_caps]
        if split == "train":
            for j in _pick(n, examples):
                a = attrs[j]
                shown.append((draw_bird(a, _pose(seed, split, j, a["size"])), split_caps[j][0][0]))
    rep.lines += _table(rows)
    rep.lines.append("attributes: " + "; ".join(f"{k} ({len(v)})" for k, v in ATTRIBUTE_VALUES.items()))
    rep.lines.append("held-out (body, wing) pairs, test split only: "
                     + ", ".join(f"{b}/{w}" for b, w in HELD_OUT_PAIRS))
    rep.lines.append(caption_stats(caps))
    _write_grid(rep, out, shown)
    rep.lines.append("ok")
    return rep


def inspect_data(root: str | Path | None, kind: str | None = None, skip_missing: bool = False,
                 out: str | Path | None = None, examples: int = 8, split_file=None,
                 verify: bool = True, synthetic_count: int = 3000, synthetic_seed: int = 0
                 ) -> InspectReport:
    """Report on a data root (kind auto-detected: cub if CUB_200_2011/ is there, else folder)."""
    if kind == "synthetic":
        return inspect_synthetic(synthetic_count, synthetic_seed, out, examples)
    if not root:
        raise DataError("give a data root (or --kind synthetic)")
    if not Path(root).exists():
        raise DataError(f"{root}: data root not found")
    kind = kind or detect_kind(root)
    if kind == "cub":
        return inspect_cub(root, skip_missing, out, examples, verify)
    if kind == "folder":
        return inspect_folder(root, skip_missing, out, examples, split_file, verify)
    raise DataError(f"--kind {kind!r}: must be cub, folder or synthetic")
