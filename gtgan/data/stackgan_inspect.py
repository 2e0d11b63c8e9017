"""`gtgan data inspect` for a data set in the StackGAN layout (CUB, flowers, COCO): per split,
what is listed, present, missing or broken; the char-CNN-RNN vectors' shape; and the verdict
training would reach (the same split scan and caption reading as `StackGanDataset`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..errors import DataError
from .base import open_image
from .captions import CaptionFileError
from .checks import InspectReport, caption_stats, centre_crop, pick_examples, table_lines, write_grid
from .cub_files import (EMBEDDINGS_FILE, StackGanLayout, StackGanSplit, find_base, load_char_cnn_rnn,
                        scan_split, split_names, splits_dir)

GRID_SIDE = 152  # decoded at least this large for the 128 px example crops


@dataclass
class _Seen:
    """What the splits' pass found, for the lines after the table."""

    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    grid_items: list[tuple] = field(default_factory=list)  # (info, name, caption, image or None)
    captions: list[list[str]] = field(default_factory=list)
    fffd: list[tuple[str, int]] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)
    sizes: list[tuple[int, int]] = field(default_factory=list)


def inspect_stackgan(root, layout: StackGanLayout, skip_missing: bool, out=None, examples: int = 8,
                     verify: bool = True) -> InspectReport:
    base = find_base(root, layout)
    rep = InspectReport([f"{layout.title}, StackGAN layout, at {base}"])
    sdir = splits_dir(base, layout)
    splits = split_names(sdir)
    if not splits:
        raise DataError(f"{sdir}: no <split>/filenames.pickle (e.g. train/, test/)")
    rows = [["split", "listed", "present", "missing images", "missing captions", "bad captions",
             "broken images", "classes present"]]
    seen = _Seen()
    for split in splits:
        info = scan_split(base, split, layout)
        rows.append(_inspect_split(rep, seen, info, verify))
        if rep.counts[split]["present"] < len(info.names) and not skip_missing:
            rep.ok = False
    rep.lines += table_lines(rows)
    rep.lines.append(caption_stats(seen.captions))
    if seen.fffd:
        rep.lines.append(f"captions: {sum(n for _, n in seen.fffd)} line(s) had a U+FFFD pair where "
                         f"a space belongs, repaired on reading (nothing to do; first: {seen.fffd[0][0]})")
    if verify and seen.sizes:
        w = np.array([s[0] for s in seen.sizes])
        h = np.array([s[1] for s in seen.sizes])
        rep.lines.append(f"images: {len(seen.sizes):,} decoded; modes "
                         + ", ".join(f"{m} {n}" for m, n in sorted(seen.modes.items()))
                         + f" (non-RGB are converted); sizes {w.min()}x{h.min()} to {w.max()}x{h.max()}")
    rep.lines += seen.notes
    rep.lines += [f"problem: {msg}" for msg in seen.problems[:10]]
    if len(seen.problems) > 10:
        rep.lines.append(f"... and {len(seen.problems) - 10} more problems")
    write_grid(rep, out, _grid(rep, seen, examples))
    _verdict(rep, skip_missing)
    return rep


def _inspect_split(rep: InspectReport, seen: _Seen, info: StackGanSplit, verify: bool) -> list[str]:
    """Read every present item of one split (captions; images when `verify`); its table row."""
    present = info.present
    bad_caps = broken = 0
    for i in present:
        name = info.names[i]
        try:
            cf = info.read_captions(name)
        except CaptionFileError as exc:
            bad_caps += 1
            seen.problems.append(str(exc))
            continue
        seen.captions.append(cf.captions)
        if cf.fffd_lines:
            seen.fffd.append((str(info.text_path(name)), cf.fffd_lines))
        img = None
        if verify:
            try:  # decoded first: a file whose header cannot be read is a broken image too
                img = open_image(info.image_path(name), min_side=GRID_SIDE, bbox=info.box(name))
                with Image.open(info.image_path(name)) as im:
                    seen.modes[im.mode] = seen.modes.get(im.mode, 0) + 1
                    seen.sizes.append(im.size)
            except DataError as exc:
                broken += 1
                seen.problems.append(str(exc))
                continue
        seen.grid_items.append((info, name, cf.captions[0], img))
    usable = len(present) - bad_caps - broken
    split, n = info.split, len(info.names)
    rep.counts[split] = {"listed": n, "present": usable, "missing_images": len(info.missing_images),
                         "missing_captions": len(info.missing_texts), "bad_captions": bad_caps,
                         "broken_images": broken}
    _embeddings_note(rep, seen, info)
    classes = len(set(info.class_ids[present].tolist()))
    return [split, f"{n:,}", f"{usable:,}", f"{len(info.missing_images):,}",
            f"{len(set(info.missing_texts) - set(info.missing_images)):,}", f"{bad_caps:,}",
            f"{broken:,}" if verify else "-", f"{classes}/{len(set(info.class_ids.tolist()))}"]


def _embeddings_note(rep: InspectReport, seen: _Seen, info: StackGanSplit) -> None:
    if not (info.split_dir / EMBEDDINGS_FILE).exists():
        seen.notes.append(f"embeddings: {info.split}/{EMBEDDINGS_FILE} not present (needed only "
                          f"by the char-cnn-rnn encoder)")
        return
    try:
        shape = load_char_cnn_rnn(info, dim=None).shape  # any width: data.encoder.dim decides
        seen.notes.append(f"embeddings: {info.split}/{EMBEDDINGS_FILE}: shape ok {shape}")
    except DataError as exc:
        seen.notes.append(f"embeddings: {exc}")
        rep.ok = False


def _grid(rep: InspectReport, seen: _Seen, examples: int) -> list:
    shown = []
    for j in pick_examples(len(seen.grid_items), examples):
        info, name, cap, img = seen.grid_items[j]
        try:
            img = img or open_image(info.image_path(name), min_side=GRID_SIDE, bbox=info.box(name))
        except DataError as exc:  # --quick decodes only these: a broken one is left out
            rep.lines.append(f"grid: left out {exc}")
            continue
        shown.append((centre_crop(img), cap))
    return shown


def _verdict(rep: InspectReport, skip_missing: bool) -> None:
    present = {s: c["present"] for s, c in rep.counts.items()}
    listed = {s: c["listed"] for s, c in rep.counts.items()}
    counts = ", ".join(f"{s} {present[s]:,} of {listed[s]:,}" for s in present)
    if all(present[s] == listed[s] for s in present):
        rep.lines.append("ok: every listed item is present and readable")
    elif skip_missing:
        rep.lines.append(f"ok with --skip-missing: training uses only the present items ({counts})")
    else:
        rep.lines.append("NOT usable as is: listed items are missing or broken; training stops "
                         "with an error. Get the missing files, or set data.skip_missing=true "
                         f"(--skip-missing) to use the present items ({counts})")
