"""Built-in synthetic birds: captioned 128x128 pictures made by code, deterministic by seed.

The demo's and CI's data set: no download, a few thousand images in seconds, and the true
attributes of every picture (and which of them each caption mentions), so metrics can check
whether a generated picture follows its text.

Attributes (`ATTRIBUTE_VALUES`): body (breast and belly), wing, crown (the whole head) and
tail colour from 8 clearly different colours; beak colour (4) and length; size; background.
Large, flat colour regions: the calibration notes showed that a small CPU model can only
learn colours it can see.

"Class" (what a mismatched pair must differ in) is the (body, wing) colour pair, 64 classes:
class_id = 8 * body + wing. The test split holds the 8 (body, wing) pairs with
(body - wing) mod 8 == 3 (`HELD_OUT_PAIRS`), which the train split never shows, so test
captions describe colour combinations the model has never seen.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..errors import DataError
from .base import CaptionedImageDataset
from .checks import InspectReport, caption_stats, pick_examples, table_lines, write_grid
from .registry import DataKind, register_data_kind

IMAGE_SIZE = 128
MAX_CACHED_BIRDS = 5000  # drawn birds kept in memory per split (49 KB each at 128 px)
# Bump when drawing, attribute sampling or captions change: caches keyed on the data (e.g. a
# trained attribute judge) must then be rebuilt.
SYNTHETIC_VERSION = 1
_SS = 2  # drawn at 2x and reduced: cheap anti-aliasing

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 30, 35), "orange": (245, 135, 20), "yellow": (250, 222, 40),
    "green": (40, 165, 55), "blue": (35, 80, 215), "purple": (140, 50, 175),
    "black": (22, 22, 22), "white": (245, 245, 245),
}
COLOUR_NAMES = list(COLOURS)
BEAK_COLOURS = ["black", "yellow", "orange", "red"]
BACKGROUNDS = ["sky", "foliage", "sand", "dark"]
ATTRIBUTE_VALUES: dict[str, list[str]] = {
    "body": COLOUR_NAMES, "wing": COLOUR_NAMES, "crown": COLOUR_NAMES, "tail": COLOUR_NAMES,
    "beak_colour": BEAK_COLOURS, "beak_length": ["short", "long"], "size": ["small", "large"],
    "background": BACKGROUNDS,
}
ATTRIBUTE_NAMES = list(ATTRIBUTE_VALUES)
HELD_OUT_SHIFT = 3
HELD_OUT_PAIRS = [(COLOUR_NAMES[(w + HELD_OUT_SHIFT) % 8], COLOUR_NAMES[w]) for w in range(8)]
TAIL_MATCHES_WING = 0.6  # real birds' tails often match their wings; fewer combinations to learn

_SPLIT_CODE = {"train": 1, "test": 2}


def is_held_out(body: int, wing: int) -> bool:
    return (body - wing) % 8 == HELD_OUT_SHIFT


def split_count(split: str, count: int) -> int:
    """Images in a split: `count` for train, max(100, count // 6) for test."""
    return count if split == "train" else max(100, count // 6)


# ---------------------------------------------------------------- attributes


def sample_attributes(seed: int, split: str, index: int) -> dict[str, int]:
    """Attribute value indices of one picture: a pure function of (seed, split, index)."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, _SPLIT_CODE[split], int(index), 11])
    wing = int(rng.integers(8))
    if split == "test":
        body = (wing + HELD_OUT_SHIFT) % 8
    else:
        body = int(rng.integers(7))  # uniform over the 7 bodies not held out with this wing
        if body >= (wing + HELD_OUT_SHIFT) % 8:
            body += 1
    tail = wing if rng.random() < TAIL_MATCHES_WING else int(rng.integers(8))
    return {"body": body, "wing": wing, "crown": int(rng.integers(8)), "tail": tail,
            "beak_colour": int(rng.integers(4)), "beak_length": int(rng.integers(2)),
            "size": int(rng.integers(2)), "background": int(rng.integers(4))}


# How each picture's pose is read as classes (the pose metric's judge learns these): which way
# the bird faces, and each of place and tilt in three equally likely bins of its range.
POSE_VALUES: dict[str, list[str]] = {
    "facing": ["left", "right"], "across": ["left", "centre", "right"],
    "height": ["high", "middle", "low"], "tilt": ["anticlockwise", "level", "clockwise"],
}


def pose_classes(pose: dict[str, float]) -> dict[str, str]:
    """`_pose`'s draw as POSE_VALUES classes."""
    def third(v: float, half_range: float, names: list[str]) -> str:
        return names[0 if v < -half_range / 3 else 2 if v > half_range / 3 else 1]
    return {"facing": "left" if pose["mirror"] else "right",  # drawn facing right, mirrored
            "across": third(pose["dx"], 8, POSE_VALUES["across"]),
            "height": third(pose["dy"], 6, POSE_VALUES["height"]),
            "tilt": third(pose["angle"], 18, POSE_VALUES["tilt"])}


def _pose(seed: int, split: str, index: int, size: int) -> dict[str, float]:
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, _SPLIT_CODE[split], int(index), 12])
    return {"mirror": bool(rng.random() < 0.5), "angle": float(rng.uniform(-18, 18)),
            "scale": (0.78 if size == 0 else 1.0) * float(rng.uniform(0.92, 1.08)),
            "dx": float(rng.uniform(-8, 8)), "dy": float(rng.uniform(-6, 6)),
            "bg_seed": int(rng.integers(2**31))}


# ---------------------------------------------------------------- drawing


_GRADIENTS = {"sky": ((95, 150, 230), (195, 222, 250)), "sand": ((232, 218, 185), (212, 192, 150)),
              "dark": ((62, 64, 80), (42, 42, 52))}
_BG_CACHE: dict[tuple[str, int], Image.Image] = {}


def _background(kind: int, rng: np.random.Generator, n: int) -> Image.Image:
    name = BACKGROUNDS[kind]
    if name == "foliage":  # smooth random mottling: a 6x6 mix of two greens, upsampled
        mix = rng.uniform(0, 1, size=(6, 6, 1))
        dark, light = np.array([30, 70, 35]), np.array([95, 140, 70])
        low = (dark + (light - dark) * mix).astype(np.uint8)
        return Image.fromarray(low, "RGB").resize((n, n), Image.Resampling.BICUBIC)
    key = (name, n)
    if key not in _BG_CACHE:
        top, bottom = (np.array(c, np.float32) for c in _GRADIENTS[name])
        y = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None, None]
        arr = (top + (bottom - top) * y + np.zeros((n, n, 3), np.float32)).astype(np.uint8)
        _BG_CACHE[key] = Image.fromarray(arr, "RGB")
    return _BG_CACHE[key].copy()


def _ellipse(cx: float, cy: float, rx: float, ry: float, rot: float = 0.0, k: int = 28,
             a0: float = 0.0, a1: float = 2 * np.pi) -> np.ndarray:
    t = np.linspace(a0, a1, k, endpoint=False)
    pts = np.stack([rx * np.cos(t), ry * np.sin(t)], 1)
    c, s = np.cos(rot), np.sin(rot)
    return pts @ np.array([[c, s], [-s, c]]) + [cx, cy]


BIRD_PARTS = ("legs", "tail", "beak", "eye", "outline")  # what draw_bird can leave out


def draw_bird(attrs: dict[str, int], pose: dict[str, float], size: int = IMAGE_SIZE, *,
              leave_out: tuple[str, ...] = (), both_ways: bool = False,
              flat_background: bool = False) -> Image.Image:
    """Render one bird (body, wing, head/crown, tail, beak, eye, legs) on its background.

    The keyword-only options draw the flawed birds that calibrate the shape measure
    (benchmarks/shape_anchors.py --parts): `leave_out` any of BIRD_PARTS; `both_ways` a
    mirror-symmetric "bow tie" (a head at both ends, no tail), what an early generator
    draws; `flat_background` the background's mean colour instead of its gradient or leaves.
    """
    unknown = sorted(set(leave_out) - set(BIRD_PARTS))
    if unknown:
        raise ValueError(f"draw_bird: leave_out {unknown} unknown; parts are {list(BIRD_PARTS)}")
    n = size * _SS
    img = _background(attrs["background"], np.random.default_rng(pose["bg_seed"]), n)
    if flat_background:
        mean = np.asarray(img, np.float64).reshape(-1, 3).mean(0)
        img = Image.new("RGB", (n, n), tuple(int(v) for v in mean))
    draw = ImageDraw.Draw(img)
    unit = 0.45 * n * pose["scale"]  # body length ~ 0.9 unit
    a = np.deg2rad(pose["angle"])
    rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    centre = np.array([n / 2 + pose["dx"] * _SS, n / 2 + 0.06 * n + pose["dy"] * _SS])
    col = {k: COLOURS[COLOUR_NAMES[attrs[k]]] for k in ("body", "wing", "crown", "tail")}
    beak_col = COLOURS[BEAK_COLOURS[attrs["beak_colour"]]]
    outline = None if "outline" in leave_out else (30, 30, 30)
    w = max(1, int(round(0.012 * n)))
    leg = (70, 60, 50)
    facings = (1.0, -1.0) if both_ways else (-1.0 if pose["mirror"] else 1.0,)
    for sx in facings:
        def tr(pts) -> list[tuple[float, float]]:
            p = np.asarray(pts, np.float64) * [sx, 1.0]
            p = (p @ rot) * unit + centre
            return [tuple(q) for q in p]

        if "legs" not in leave_out:
            for lx in (-0.06, 0.08):
                draw.line(tr([(lx, 0.2), (lx + 0.02, 0.45)]), fill=leg, width=max(2, 2 * w))
                draw.line(tr([(lx + 0.02, 0.45), (lx + 0.1, 0.47)]), fill=leg, width=max(2, 2 * w))
        if "tail" not in leave_out and not both_ways:  # a fan behind the body
            draw.polygon(tr([(-0.32, -0.06), (-0.82, -0.2), (-0.86, 0.02), (-0.8, 0.2),
                             (-0.32, 0.08)]), fill=col["tail"], outline=outline, width=w)
        # body (breast and belly)
        draw.polygon(tr(_ellipse(0.0, 0.0, 0.45, 0.27)), fill=col["body"], outline=outline, width=w)
        # head (crown colour), beak, eye
        hx, hy, hr = 0.42, -0.27, 0.22
        beak_len = 0.13 if attrs["beak_length"] == 0 else 0.32
        if "beak" not in leave_out:
            draw.polygon(tr([(hx + 0.12, hy - 0.05), (hx + hr + beak_len, hy + 0.03),
                             (hx + 0.12, hy + 0.09)]), fill=beak_col, outline=outline, width=w)
        draw.polygon(tr(_ellipse(hx, hy, hr, hr)), fill=col["crown"], outline=outline, width=w)
        if "eye" not in leave_out:
            eye = tr(_ellipse(hx + 0.06, hy - 0.03, 0.045, 0.045, k=12))
            draw.polygon(eye, fill=(250, 250, 250), outline=(10, 10, 10), width=w)
            draw.polygon(tr(_ellipse(hx + 0.07, hy - 0.03, 0.022, 0.022, k=10)), fill=(10, 10, 10))
        # wing: a large folded wing over the back of the body
        draw.polygon(tr(_ellipse(-0.1, -0.05, 0.36, 0.16, rot=-0.12)), fill=col["wing"],
                     outline=outline, width=w)
    return img.reduce(_SS)


# ---------------------------------------------------------------- captions

_SIZE_WORDS = {0: ["small", "little", "small"], 1: ["large", "big", "large"]}
_BG_PHRASES = {
    "sky": ["in front of a blue sky", "against the blue sky", "flying in a clear blue sky"],
    "foliage": ["among green leaves", "in front of green foliage", "perched in the leafy trees"],
    "sand": ["on a sandy background", "against pale sand", "standing on the sand"],
    "dark": ["on a dark background", "against a dark backdrop", "in the dark"],
}
_PHRASES = {
    "body": ["a {c} breast", "a {c} belly", "a {c} body", "a breast that is {c}",
             "a {c} breast and belly", "a belly that is {c}"],
    "wing": ["{c} wings", "wings that are {c}", "{c} wing feathers", "{c} wings folded at its sides"],
    "crown": ["a {c} crown", "a {c} head", "a crown that is {c}", "a {c} crown and nape"],
    "tail": ["a {c} tail", "{c} tail feathers", "a tail that is {c}"],
}
_BEAK = ["a {l} {c} beak", "a {c} beak that is {l}", "a {l} pointed {c} bill"]
_BEAK_C = ["a {c} beak", "a {c} bill"]
_BEAK_L = ["a {l} beak", "a {l} bill", "a beak that is {l}"]
_PREFIX = ["this bird has", "a bird with", "the bird has", "this is a bird with",
           "this particular bird has"]
_PREFIX_SIZE = ["a {s} bird with", "this {s} bird has", "a {s} bird that has", "this {s} bird has"]
_PREFIX_BODY = ["this bird is mostly {c} with", "a {c} bird with", "this {c} bird has"]
_PREFIX_BODY_SIZE = ["a {s} {c} bird with", "this {s} bird is mostly {c} and has"]


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _caption(attrs: dict[str, int], rng: np.random.Generator, force: tuple[str, ...]) -> tuple[str, dict]:
    """One CUB-style caption and the attribute values it mentions."""
    p = {"body": 0.8, "wing": 0.8, "crown": 0.7, "tail": 0.45, "beak": 0.5, "size": 0.35,
         "background": 0.3}
    while True:
        mention = {k for k, q in p.items() if k in force or rng.random() < q}
        if len(mention & {"body", "wing", "crown", "tail"}) >= 2:
            break
    said: dict[str, str] = {}
    colour = {k: COLOUR_NAMES[attrs[k]] for k in ("body", "wing", "crown", "tail")}
    size_word = _SIZE_WORDS[attrs["size"]][int(rng.integers(3))]
    body_in_prefix = "body" in mention and rng.random() < 0.35
    if body_in_prefix:
        said["body"] = colour["body"]
        if "size" in mention:
            said["size"] = ATTRIBUTE_VALUES["size"][attrs["size"]]
            prefix = _pick(rng, _PREFIX_BODY_SIZE).format(s=size_word, c=colour["body"])
        else:
            prefix = _pick(rng, _PREFIX_BODY).format(c=colour["body"])
    elif "size" in mention:
        said["size"] = ATTRIBUTE_VALUES["size"][attrs["size"]]
        prefix = _pick(rng, _PREFIX_SIZE).format(s=size_word)
    else:
        prefix = _pick(rng, _PREFIX)
    parts = []
    for k in ("crown", "body", "wing", "tail"):
        if k in mention and k not in said:
            said[k] = colour[k]
            parts.append(_pick(rng, _PHRASES[k]).format(c=colour[k]))
    if "beak" in mention:
        bc, bl = BEAK_COLOURS[attrs["beak_colour"]], ATTRIBUTE_VALUES["beak_length"][attrs["beak_length"]]
        which = rng.random()
        if which < 0.5:
            parts.append(_pick(rng, _BEAK).format(c=bc, l=bl))
            said["beak_colour"], said["beak_length"] = bc, bl
        elif which < 0.75:
            parts.append(_pick(rng, _BEAK_C).format(c=bc))
            said["beak_colour"] = bc
        else:
            parts.append(_pick(rng, _BEAK_L).format(l=bl))
            said["beak_length"] = bl
    order = rng.permutation(len(parts))
    parts = [parts[i] for i in order]
    if len(parts) == 1:
        body = parts[0]
    elif parts:
        body = ", ".join(parts[:-1]) + (", and " if rng.random() < 0.3 else " and ") + parts[-1]
    else:
        body = ""
    text = f"{prefix} {body}".strip() if body else prefix.rsplit(" ", 1)[0]
    if "background" in mention:
        bg = BACKGROUNDS[attrs["background"]]
        said["background"] = bg
        text += " " + _pick(rng, _BG_PHRASES[bg])
    if rng.random() < 0.6:
        text += "."
    return text, said


def make_captions(attrs: dict[str, int], seed: int, split: str, index: int,
                  n: int = 10) -> list[tuple[str, dict]]:
    """`n` captions of one picture; caption 0 always names body, wing and crown colours."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, _SPLIT_CODE[split], int(index), 13])
    return [_caption(attrs, rng, ("body", "wing", "crown") if k == 0 else ()) for k in range(n)]


# ---------------------------------------------------------------- data set


class SyntheticBirds(CaptionedImageDataset):
    """`count` synthetic birds of one split, drawn lazily (about a millisecond each).

    Captions are made up front; their vectors are encoded once (unique captions only) with
    the given encoder and kept in memory.
    """

    def __init__(self, split: str, count: int, synthetic_seed: int, encoder, image_sizes: list[int],
                 train: bool, seed: int, captions_per_image: int = 10):
        if split not in _SPLIT_CODE:
            raise DataError(f"synthetic birds: split {split!r} unknown; use 'train' or 'test' "
                            f"(the test split holds the colour pairs {HELD_OUT_PAIRS})")
        if count < 2:
            raise DataError(f"data.synthetic_count = {count}: need at least 2 images")
        super().__init__(image_sizes, train, seed, encoder.identity)
        self.split = split
        self.synthetic_seed = int(synthetic_seed)
        self.n = split_count(split, int(count))
        self._attrs = [sample_attributes(self.synthetic_seed, split, i) for i in range(self.n)]
        self._caps = [make_captions(a, self.synthetic_seed, split, i, captions_per_image)
                      for i, a in enumerate(self._attrs)]
        self.class_ids = np.array([8 * a["body"] + a["wing"] for a in self._attrs], np.int64)
        self._index_classes()
        unique: dict[str, int] = {}
        self._emb_rows = np.array([[unique.setdefault(c, len(unique)) for c, _ in caps]
                                   for caps in self._caps], np.int64)
        self._emb = encoder.encode(list(unique)).float().numpy()
        self._drawn: dict[int, Image.Image] = {}

    attribute_names = ATTRIBUTE_NAMES
    attribute_values = ATTRIBUTE_VALUES
    data_version = SYNTHETIC_VERSION
    held_out_pairs = HELD_OUT_PAIRS

    def __len__(self) -> int:
        return self.n

    def attributes(self, index: int) -> dict[str, str]:
        """The picture's true attribute values, by name."""
        return {k: ATTRIBUTE_VALUES[k][v] for k, v in self._attrs[index].items()}

    def attribute_indices(self, index: int) -> dict[str, int]:
        return dict(self._attrs[index])

    pose_values = POSE_VALUES

    def pose(self, index: int) -> dict[str, str]:
        """The picture's pose (facing, place, tilt) as POSE_VALUES classes: what a caption
        never says, so what the noise must vary."""
        return pose_classes(_pose(self.synthetic_seed, self.split, index, self._attrs[index]["size"]))

    def caption_attributes(self, index: int, k: int) -> dict[str, str]:
        """The attributes caption `k` of picture `index` mentions, with their values."""
        return dict(self._caps[index][k][1])

    def contradicts(self, index: int, k: int, other: int) -> bool:
        """A drawn attribute of `other` differs from one that caption `k` of `index` states."""
        drawn = self.attributes(other)
        return any(drawn[name] != value for name, value in self._caps[index][k][1].items())

    def captions(self, index: int) -> list[str]:
        return [c for c, _ in self._caps[index]]

    def embeddings(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self._emb[self._emb_rows[index]])

    def text_vector(self, index: int, k: int) -> torch.Tensor:
        return torch.from_numpy(self._emb[self._emb_rows[index, k]].copy())

    def load_image(self, index: int, min_side: int | None = None) -> Image.Image:
        # Drawing is about half of an item's cost; a drawn bird never changes, so small splits
        # keep them (3,000 birds: 147 MB), which makes later epochs' loading about twice as fast.
        img = self._drawn.get(index)
        if img is None:
            a = self._attrs[index]
            img = draw_bird(a, _pose(self.synthetic_seed, self.split, index, a["size"]))
            if self.n <= MAX_CACHED_BIRDS:
                self._drawn[index] = img
        return img


# ---------------------------------------------------------------- inspect and registration


def inspect_synthetic(data_cfg, out=None, examples: int = 8, verify: bool = True) -> InspectReport:
    count, seed = data_cfg.synthetic_count, data_cfg.synthetic_seed
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
            for j in pick_examples(n, examples):
                a = attrs[j]
                shown.append((draw_bird(a, _pose(seed, split, j, a["size"])), split_caps[j][0][0]))
    rep.lines += table_lines(rows)
    rep.lines.append("attributes: " + "; ".join(f"{k} ({len(v)})" for k, v in ATTRIBUTE_VALUES.items()))
    rep.lines.append("held-out (body, wing) pairs, test split only: "
                     + ", ".join(f"{b}/{w}" for b, w in HELD_OUT_PAIRS))
    rep.lines.append(caption_stats(caps))
    write_grid(rep, out, shown)
    rep.lines.append("ok")
    return rep


def _build(data_cfg, split, encoder, image_sizes, train, seed):
    return SyntheticBirds(split, data_cfg.synthetic_count, data_cfg.synthetic_seed, encoder,
                          image_sizes, train, seed)


register_data_kind(DataKind(
    name="synthetic", title="built-in synthetic birds, drawn on demand (data.synthetic_count, "
    "data.synthetic_seed; no root)", build=_build, check=lambda data_cfg, split: None,
    inspect=inspect_synthetic, needs_root=False, spec_field="synthetic_count",
    defining_fields=("synthetic_seed", "synthetic_count"), encoder_preset="synthetic-small",
    knows_caption_contents=True))
