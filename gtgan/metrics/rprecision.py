"""R-precision (`--metrics r_precision`): does a DAMSM pick each image's own caption?

The AttnGAN / DM-GAN protocol (DM-GAN's main.py, the field's reference code): each generated
image is scored against its own caption and 99 captions drawn from images of OTHER classes
(image uniform among them, then one of its captions), by the cosine similarity of the DAMSM's
global image feature and sentence features; a hit when its own caption scores highest (ties
count for the own caption, as torch.argmax returning the first maximum does there). The hits,
in generation order, are cut into folds of 3,000 (10 folds at 30,000 samples); the mean and
std (ddof 0) over the folds are reported. Distractors come from a generator seeded by (seed,
image, caption, round), so they depend on neither batch size nor device, and every scale
and the real pictures see the same ones. The real pictures of the same captions, scored the
same way, give the ceiling beside it, and chance (1 in 100) beside both; a ceiling under 10x
chance is warned about. The DAMSM's hash is stamped in the report, with how its image encoder
was initialised (a random or from-scratch backbone labels every number NOT COMPARABLE).
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data.damsm_folder import Damsm, load_damsm
from ..errors import EncoderError
from .comparability import damsm_backbone_label, r_precision_ceiling_warning
from .registry import EvalError, Metric, register_metric
from .report import fmt, table_row

DISTRACTORS = 99
FOLD_SIZE = 3000
_SALT = 0x5250  # "RP": the distractor stream, apart from every other seeded stream
CHANCE = 1.0 / (DISTRACTORS + 1)  # the own caption ranked first by luck
RP_ROLE = "R-precision's DAMSM"
RANDOM_BACKBONE_LABEL = damsm_backbone_label({"weights": "random"}, RP_ROLE)


class TextImageEncoder(Protocol):
    """Maps images and captions into one space (gtgan.data.damsm_folder.Damsm)."""

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:  # (n, 3, S, S) -> (n, d)
        ...

    def encode_text(self, captions: list[str]) -> torch.Tensor:  # -> (n, d)
        ...


TIE_TOLERANCE = 1e-12  # cosine similarities in float64 closer than this are equal


def hits(image_features: torch.Tensor, own: torch.Tensor, distractors: torch.Tensor) -> torch.Tensor:
    """(n,) bool: image i's own caption (own[i], (n, d)) scores at least as high as each of its
    distractors (distractors[i], (n, k, d)) by cosine similarity. A tie within TIE_TOLERANCE
    is a hit, as DM-GAN's argmax gives ties to the own caption: the two scores come from
    different kernels, whose rounding differs from CPU to CPU."""
    img = F.normalize(image_features.double(), dim=1, eps=1e-8)
    own_s = (img * F.normalize(own.double(), dim=1, eps=1e-8)).sum(1)
    dis_s = torch.einsum("nd,nkd->nk", img, F.normalize(distractors.double(), dim=2, eps=1e-8))
    return own_s >= dis_s.max(dim=1).values - TIE_TOLERANCE


def fold_stats(hit_list: Sequence[bool], fold_size: int = FOLD_SIZE) -> dict[str, Any]:
    """Mean and std (ddof 0) over consecutive folds of `fold_size` (the remainder is left out,
    as DM-GAN); fewer samples than a fold: one fold of all of them, std None."""
    h = np.asarray(hit_list, dtype=np.float64)
    n = len(h)
    if n == 0:
        return {"mean": None, "std": None, "folds": 0, "fold_size": fold_size, "n": 0}
    if n < fold_size:
        return {"mean": float(h.mean()), "std": None, "folds": 1, "fold_size": n, "n": n,
                "per_fold": [float(h.mean())], "all_samples": float(h.mean())}
    k = n // fold_size
    per = h[:k * fold_size].reshape(k, fold_size).mean(axis=1)
    return {"mean": float(per.mean()), "std": float(per.std()), "folds": int(k),
            "fold_size": fold_size, "n": n, "per_fold": [float(x) for x in per],
            "all_samples": float(h.mean())}


class CaptionBank:
    """Sentence features of every caption of a split, and each sample's 99 distractors."""

    def __init__(self, encoder: TextImageEncoder, dataset, seed: int, count: int = DISTRACTORS):
        self.dataset, self.seed, self.count = dataset, int(seed), count
        caps = [dataset.captions(i) for i in range(len(dataset))]
        self.n_caps = np.array([len(c) for c in caps], np.int64)
        self.offset = np.concatenate([[0], np.cumsum(self.n_caps)[:-1]]).astype(np.int64)
        self.features = encoder.encode_text([c for cs in caps for c in cs]).float().cpu()

    def distractor_rows(self, i: int, k: int, rnd: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, _SALT, int(i), int(k), int(rnd)])
        rows = np.empty(self.count, np.int64)
        for m in range(self.count):
            j = self.dataset.wrong_index(int(i), rng)  # uniform over images of other classes
            rows[m] = self.offset[j] + int(rng.integers(self.n_caps[j]))
        return rows

    def for_items(self, items: Sequence[tuple[int, int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """(own (n, d), distractors (n, 99, d)) for (image, caption, round) samples."""
        own = torch.stack([self.features[self.offset[i] + k] for i, k, _ in items])
        rows = np.stack([self.distractor_rows(i, k, r) for i, k, r in items])
        return own, self.features[torch.from_numpy(rows)]


def describe_damsm(damsm: Damsm) -> dict[str, Any]:
    img = damsm.info.get("image", {})
    return {"description": damsm.describe(), "hash": damsm.info.get("hash"),
            "text_hash": damsm.info.get("text_hash"), "path": str(damsm.path),
            "image_encoder": damsm.cfg.image_encoder, "image_weights": img.get("weights"),
            "image_weights_description": img.get("description"),
            "random_backbone": img.get("weights") == "random"}


def real_r_precision(damsm: Damsm, dataset, samples: int = 0, seed: int = 0, batch: int = 50,
                     fold_size: int = FOLD_SIZE) -> dict[str, Any]:
    """R-precision of the split's real pictures (centre crops): every image's captions in
    order (the evaluation's order), the first `samples` of them (0: all)."""
    bank = CaptionBank(damsm, dataset, seed)
    items = [(i, k, 0) for i in range(len(dataset)) for k in range(int(bank.n_caps[i]))]
    if samples > 0:
        items = items[:samples]
    size = damsm.cfg.image_size
    used = sorted({i for i, _, _ in items})  # each picture once, however many captions it has
    feats: dict[int, torch.Tensor] = {}
    for b in range(0, len(used), batch):
        part = used[b:b + batch]
        got = damsm.image_features(torch.stack([dataset.real_image(i, size) for i in part])).cpu()
        feats.update(zip(part, got))
    out: list[bool] = []
    for b in range(0, len(items), batch):
        part = items[b:b + batch]
        own, dis = bank.for_items(part)
        out += hits(torch.stack([feats[i] for i, _, _ in part]), own, dis).tolist()
    return {"r_precision": fold_stats(out, fold_size)["mean"], **fold_stats(out, fold_size),
            "chance": CHANCE, "damsm": describe_damsm(damsm), "split": getattr(dataset, "split", "?")}


def resolve_rp_encoder(spec: str | None, model_encoder=None, device="cpu") -> Damsm:
    """--rp-encoder DIR, else the model's own text encoder when it is a DAMSM (its full folder,
    image encoder included, must be on this machine)."""
    try:
        if spec:
            return load_damsm(spec, image=True, device=device)
        ident = getattr(model_encoder, "identity", None) or {}
        if ident.get("kind") != "damsm":
            raise EvalError(f"--metrics r_precision needs a DAMSM: this model's text encoder is "
                            f"{ident.get('kind') or 'unknown'}; give --rp-encoder ENCODER_DIR (train "
                            "one with `gtgan encoder train DATA --out DIR`)")
        try:
            damsm = load_damsm(ident["name"], image=True, device=device)
        except EncoderError as exc:
            raise EvalError(f"r_precision uses the model's own DAMSM, {ident['name']}, which is not "
                            f"usable here ({exc}); a model folder carries only its text part: give "
                            "--rp-encoder ENCODER_DIR") from None
    except EncoderError as exc:
        raise EvalError(f"--rp-encoder: {exc}") from None
    if damsm.info.get("text_hash") != ident.get("text_hash"):
        raise EvalError(f"{damsm.path}: not the DAMSM this model was trained with (text_hash "
                        "differs); give --rp-encoder ENCODER_DIR")
    return damsm


@register_metric
class RPrecisionMetric(Metric):
    name = "r_precision"
    order = 56

    def __init__(self, ctx):
        super().__init__(ctx)
        self.damsm = resolve_rp_encoder(ctx.opts.rp_encoder, getattr(ctx, "text_encoder", None),
                                        ctx.device)
        if len(ctx.dataset) < 2:
            raise EvalError("R-precision needs a split with images of at least two classes")
        self.bank = CaptionBank(self.damsm, ctx.dataset, ctx.opts.seed)
        self.info = describe_damsm(self.damsm)
        ctx.weights["r_precision_damsm"] = self.info
        label = damsm_backbone_label(self.damsm.info.get("image"), RP_ROLE)
        if label and label not in ctx.labels:
            ctx.labels.append(label)
        self.hits: dict[int, list[bool]] = {s: [] for s in ctx.sizes}
        self.real: dict[int, list[bool]] = {s: [] for s in ctx.sizes}

    def update(self, batch) -> None:
        own, dis = self.bank.for_items(batch.items)
        feats = self.damsm.image_features(batch.images).cpu()
        self.hits[batch.size] += hits(feats, own, dis).tolist()
        self.real[batch.size] += hits(self.damsm.image_features(batch.reals()).cpu(), own, dis).tolist()

    def result(self, size: int) -> dict[str, Any]:
        gen, real = fold_stats(self.hits[size]), fold_stats(self.real[size])
        out = {**gen, "real": {k: real[k] for k in ("mean", "std", "folds", "all_samples")},
               "chance": CHANCE, "damsm_hash": self.info["hash"],
               "image_weights": self.info["image_weights"]}
        out["warning"] = r_precision_ceiling_warning(out)
        return out

    def settings(self) -> dict[str, Any]:
        return {"protocol": "AttnGAN / DM-GAN: own caption vs 99 captions of other-class images "
                            "(with replacement), cosine of DAMSM global image and sentence "
                            "features, R = 1, ties to the own caption; folds of 3,000 in "
                            "generation order, mean and std (ddof 0) over folds",
                "distractor_seed": "numpy default_rng([seed, 0x5250, image, caption, round])",
                "damsm": self.info["description"], "damsm_hash": self.info["hash"],
                "real": "the real pictures of the same captions (centre crop at each scale), "
                        "same distractors"}

    @classmethod
    def report_rows(cls, size, result, report) -> list[str]:
        r, real = result, result["real"]
        note = (f"chance {fmt(r.get('chance', CHANCE), 3)}; real test images "
                f"{fmt(real['mean'], 3)} +- {fmt(real['std'], 3)} (ceiling); "
                f"{r['folds']} fold(s) of {r['fold_size']}; DAMSM {str(r['damsm_hash'])[:16]}, "
                f"image weights {r['image_weights']}")
        if r.get("warning"):
            note += "; WARNING: ceiling near chance"
        return [table_row("R-precision (DAMSM, R=1 of 100)", size, fmt(r["mean"], 3),
                          fmt(r["std"], 3), r["n"], note)]

    @classmethod
    def weights_line(cls, key, weights) -> str | None:
        if key != "r_precision_damsm":
            return None
        return (f"- {key}: {weights.get('description')}; hash {weights.get('hash')}; "
                f"image encoder {weights.get('image_weights_description')}; folder {weights.get('path')}")

    @classmethod
    def training_scalars(cls, size, result) -> dict[str, float]:
        return {} if result["mean"] is None else {f"r_precision_{size}": result["mean"]}


def check_vocabulary(damsm: Damsm, dataset, max_unknown: float = 0.02) -> None:
    """EvalError unless the DAMSM's vocabulary knows the split's caption words (at most
    `max_unknown` of the tokens unknown): an encoder of other captions ranks <unk>s."""
    from ..data.damsm_vocab import tokenize

    tokens = [t for i in range(len(dataset)) for c in dataset.captions(i) for t in tokenize(c)]
    unknown = [t for t in tokens if damsm.vocab.lookup(t) == 1]  # after the synonym fallback
    if tokens and len(unknown) > max_unknown * len(tokens):
        from collections import Counter

        words = ", ".join(w for w, _ in Counter(unknown).most_common(5))
        raise EvalError(f"this DAMSM's vocabulary does not know "
                        f"{len(unknown) / len(tokens):.0%} of the words of these captions (e.g. "
                        f"{words}); it was trained on other captions")


def measure_cost(damsm: Damsm, dataset, sizes: Sequence[int], seed: int = 0,
                 batch: int = 50) -> tuple[float, float]:
    """(fixed seconds: the caption bank; seconds per sample at all `sizes`: distractors,
    image features of generated and real pictures, ranking) as the metric spends them here;
    images are random (the cost does not depend on them)."""
    import time

    t = time.perf_counter()
    bank = CaptionBank(damsm, dataset, seed)
    fixed = time.perf_counter() - t
    items = [(i, k, 0) for i in range(len(dataset)) for k in range(int(bank.n_caps[i]))][:batch]

    def update(part):
        for s in sizes:
            own, dis = bank.for_items(part)
            for _ in range(2):  # generated, real
                hits(damsm.image_features(torch.rand(len(part), 3, s, s) * 2 - 1).cpu(), own, dis)

    update(items)  # warm-up: first-call allocations and kernel selection at this batch size
    t = time.perf_counter()
    update(items)
    return fixed, (time.perf_counter() - t) / len(items)


def encoder_eval_fn(samples: int, seed: int = 0, batch: int = 50):
    """The `gtgan encoder train` evaluation hook: R-precision of real test pictures."""
    return lambda damsm, dataset: real_r_precision(damsm, dataset, samples, seed, batch)


__all__ = ["CaptionBank", "RPrecisionMetric", "TextImageEncoder", "check_vocabulary", "encoder_eval_fn",
           "fold_stats", "hits", "measure_cost", "real_r_precision", "resolve_rp_encoder"]
