"""Text encoders: captions -> `TextFeatures` (sentence vectors, and word features where the
encoder has them), behind one small interface.

Every model and run records its encoder's `identity` (a JSON-able dict) so that text is
never fed through a different encoder than the one the generator was trained with:
`encoder_from_identity` rebuilds the encoder from that dict alone, and
`check_encoder_compatible` refuses a mismatch with a message that says what to do.

Kinds:
- "bow": built-in, deterministic hashed bag of words + nearby word pairs; no training, no
  download, works on any text. The CPU demo's encoder.
- "sentence-transformers": any sentence-transformers model, by hub name or local path.
- "char-cnn-rnn": the paper's precomputed char-CNN-RNN vectors (Reed et al. 2016), looked up
  by caption; only the data set's own captions have one.
- "damsm": a DAMSM trained by `gtgan encoder train` (gtgan/data/damsm.py registers it).
New kinds (e.g. a trainable encoder) register a factory with `register_encoder`. The interface
is `encoder_base.TextEncoder` (importable from here too); the sentence-transformers kind lives
in `sentence_encoder.py`.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..config import EncoderConfig
from ..errors import EncoderError
from .bow_synonyms import SYNONYMS, SYNONYMS_VERSION
from .captions import clean_caption
from .cub_files import char_cnn_rnn_table
from .encoder_base import TextEncoder, _as_list
from .sentence_encoder import SentenceTransformerEncoder

BOW_DIM = 1024
BOW_VERSION = 1


# ---------------------------------------------------------------- bag of words

_STOP = frozenset("""
a an the this that these those it its it's is are was were be been being am
of in on at to for from by as into onto over under than then so very
i you he she we they his her their our your my me him them
there here which who whom whose what where when how
do does did has have had having
its itself just also quite rather mostly mainly mostly fairly somewhat
""".split())
# Words that end one phrase and start the next: pairs never cross them, so "a red crown
# and blue wings" binds red-crown and blue-wing, not crown-blue.
_BREAK = frozenset("and with while but has have having or plus whereas although".split())
_CANON = {"gray": "grey", "colour": "color", "colors": "color", "colours": "color",
          "colored": "color", "coloured": "color", "bill": "beak", "bills": "beak",
          "belly": "belly", "breast": "breast", "head": "head", "feathers": "feather"}
_TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)*|[,.;:!?()]")


def _stem(word: str) -> str:
    word = _CANON.get(word, word)
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return _CANON.get(word, word)


class BowEncoder(TextEncoder):
    """Deterministic hashed bag of words plus word pairs; no training, works on any text.

    Features: content-word unigrams, and unordered pairs of content words at most `window`
    content words apart within a phrase (phrases end at punctuation and at "and", "with",
    "has", ...), weighted 1/distance. Each feature is hashed with blake2b (stable across
    processes and machines, unlike `hash()`) to a bucket and a sign; the vector is
    L2-normalised. Pairs make colour-part binding visible: "red crown and blue wings" and
    "blue crown and red wings" share every unigram but no pair.
    """

    kind = "bow"
    unit_norm = True

    def __init__(self, dim: int = BOW_DIM, window: int = 2, pair_weight: float = 1.5,
                 synonyms: bool = False):
        if dim <= 0:
            raise EncoderError(f"bow encoder: dim = {dim}: must be > 0 (default {BOW_DIM})")
        if window < 0:
            raise EncoderError(f"bow encoder: window = {window}: must be >= 0")
        self._dim = int(dim)
        self.window = int(window)
        self.pair_weight = float(pair_weight)
        # data.encoder.name=synonyms: fold other words for colours, parts and settings onto
        # the captions' own (bow_synonyms.py), and read "red-winged" as "red winged".
        self.synonyms = bool(synonyms)
        self._cache: dict[str, tuple[int, float]] = {}

    @property
    def identity(self) -> dict:
        ident = {"kind": "bow", "name": f"gtgan-bow-v{BOW_VERSION}", "dim": self._dim,
                 "version": BOW_VERSION, "window": self.window, "pair_weight": self.pair_weight}
        if self.synonyms:
            ident.update(name=ident["name"] + "+synonyms", synonyms=SYNONYMS_VERSION)
        return ident

    @property
    def dim(self) -> int:
        return self._dim

    def _bucket(self, feature: str) -> tuple[int, float]:
        hit = self._cache.get(feature)
        if hit is None:
            h = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(),
                               "little")
            hit = (h % self._dim, 1.0 if (h >> 63) & 1 else -1.0)
            if len(self._cache) < 200_000:
                self._cache[feature] = hit
        return hit

    def weighted_terms(self, caption: str) -> dict[str, float]:
        """The weighted terms (words and word pairs) of one caption (for tests and for understanding the vector)."""
        tokens = _TOKEN.findall(clean_caption(caption).lower())
        if self.synonyms:
            tokens = [part for tok in tokens for part in tok.split("-") if part]
        phrases: list[list[str]] = [[]]
        for tok in tokens:
            if tok in _BREAK or not tok[0].isalpha():
                if phrases[-1]:
                    phrases.append([])
            elif tok not in _STOP:
                word = _stem(tok)
                if self.synonyms:
                    word = SYNONYMS.get(tok) or SYNONYMS.get(word, word)
                phrases[-1].append(word)
        feats: dict[str, float] = {}
        for words in phrases:
            for i, w in enumerate(words):
                feats["u:" + w] = feats.get("u:" + w, 0.0) + 1.0
                for d in range(1, self.window + 1):
                    if i + d < len(words):
                        a, b = sorted((w, words[i + d]))
                        key = f"p:{a}|{b}"
                        feats[key] = feats.get(key, 0.0) + self.pair_weight / d
        return feats

    def encode(self, captions: Sequence[str]) -> torch.Tensor:
        captions = _as_list(captions)
        out = np.zeros((len(captions), self._dim), dtype=np.float64)
        for row, caption in enumerate(captions):
            for feat, weight in self.weighted_terms(caption).items():
                bucket, sign = self._bucket(feat)
                out[row, bucket] += sign * weight
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
        return torch.from_numpy(out.astype(np.float32))


# ---------------------------------------------------------------- char-CNN-RNN lookup


class CharCnnRnnEncoder(TextEncoder):
    """The paper's precomputed char-CNN-RNN vectors, looked up by (cleaned) caption text.

    Built from a CUB root in the StackGAN layout: every `birds/<split>/char-CNN-RNN-
    embeddings.pickle` present, matched line by line with `birds/text/`. When the same caption
    text belongs to several images, the first in split-file order wins.
    """

    kind = "char-cnn-rnn"
    NAME = "char-CNN-RNN (Reed et al. 2016, StackGAN birds)"

    def __init__(self, data_root: str | Path, dim: int = 1024):
        if not data_root:
            raise EncoderError(
                "the char-cnn-rnn encoder needs the CUB data root (data.root): its vectors are "
                "precomputed for the data set's own captions only")
        self.data_root = str(Path(data_root).expanduser().resolve())
        self._dim = int(dim) if dim else 1024
        self._table: dict[str, np.ndarray] | None = None

    @property
    def identity(self) -> dict:
        return {"kind": "char-cnn-rnn", "name": self.NAME, "dim": self._dim,
                "data_root": self.data_root}

    @property
    def dim(self) -> int:
        return self._dim

    def _lookup_table(self) -> dict[str, np.ndarray]:
        if self._table is None:
            self._table = char_cnn_rnn_table(self.data_root, self._dim)
        return self._table

    def encode(self, captions: Sequence[str]) -> torch.Tensor:
        captions = _as_list(captions)
        table = self._lookup_table()
        out = np.zeros((len(captions), self._dim), dtype=np.float32)
        for row, caption in enumerate(captions):
            vec = table.get(clean_caption(caption).lower())
            if vec is None:
                raise EncoderError(
                    f"no char-CNN-RNN vector for {caption!r}: the precomputed char-CNN-RNN "
                    f"embeddings only cover the captions of the data set under "
                    f"{self.data_root}. Use one of its captions, or train with a "
                    f"sentence-transformers or bow encoder (data.encoder.kind) to use free text")
            out[row] = vec
        return torch.from_numpy(out)


# ---------------------------------------------------------------- factory

EncoderFactory = Callable[[dict, "str | Path | None"], TextEncoder]
_FACTORIES: dict[str, EncoderFactory] = {}
EncoderBundler = Callable[[dict, Path], None]
_BUNDLERS: dict[str, EncoderBundler] = {}


def register_encoder(kind: str, factory: EncoderFactory, bundle: EncoderBundler | None = None) -> None:
    """Add an encoder kind. `factory(spec, data_root)` gets a dict with at least kind, name,
    dim (an EncoderConfig as a dict, or a stored identity) and returns a TextEncoder.
    `bundle(identity, folder)`, for kinds whose identity alone cannot rebuild them (trained
    weights), copies into `folder` what the factory needs; a model folder carries it."""
    _FACTORIES[kind] = factory
    if bundle is not None:
        _BUNDLERS[kind] = bundle


def bundle_encoder_files(identity: dict, folder: Path) -> bool:
    """Copy the files `identity`'s encoder needs beyond its identity into `folder` (made);
    False when its kind needs none. The factory then finds them under spec["bundled"]."""
    bundle = _BUNDLERS.get(identity.get("kind", ""))
    if bundle is None:
        return False
    bundle(identity, Path(folder))
    return True


register_encoder("bow", lambda spec, root: BowEncoder(
    dim=int(spec.get("dim") or BOW_DIM), window=int(spec.get("window", 2)),
    pair_weight=float(spec.get("pair_weight", 1.5)),
    synonyms=bool(spec.get("synonyms")) or str(spec.get("name", "")).endswith("synonyms")))


def _st_factory(spec: dict, root) -> TextEncoder:
    # A stored identity's `source` may be a path on another machine: fall back to the name.
    source = spec.get("source") or ""
    if not source or (("/" in source or "\\" in source) and not Path(source).is_dir()):
        source = spec.get("name", "")
    return SentenceTransformerEncoder(source, dim=int(spec.get("dim") or 0))


register_encoder("sentence-transformers", _st_factory)
register_encoder("char-cnn-rnn", lambda spec, root: CharCnnRnnEncoder(
    root or spec.get("data_root", ""), dim=int(spec.get("dim") or 1024)))


def _make(spec: dict, data_root) -> TextEncoder:
    kind = spec.get("kind", "")
    if kind not in _FACTORIES:
        raise EncoderError(f"unknown text encoder kind {kind!r}; known: {', '.join(_FACTORIES)}")
    return _FACTORIES[kind](spec, data_root)


def build_encoder(encoder_cfg: Any, data_root: str | Path | None = None) -> TextEncoder:
    """An encoder from `DataConfig.encoder` (kind, name, dim). `data_root` is needed by
    char-cnn-rnn (the CUB root whose captions it covers)."""
    if encoder_cfg.kind == "bow" and encoder_cfg.name not in ("", "default", "synonyms"):
        raise EncoderError(f"data.encoder.name = {encoder_cfg.name!r}: the bow encoder takes "
                           f"no name, or 'synonyms' (other words for colours and parts folded "
                           f"onto the captions' own)")
    if encoder_cfg.kind == "bow" and encoder_cfg.dim < 0:
        raise EncoderError(f"data.encoder.dim = {encoder_cfg.dim}: must be >= 0")
    spec = {"kind": encoder_cfg.kind, "name": encoder_cfg.name, "dim": encoder_cfg.dim}
    enc = _make(spec, data_root)
    if encoder_cfg.dim and enc.dim != encoder_cfg.dim:
        raise EncoderError(f"data.encoder.dim = {encoder_cfg.dim} but the {enc.kind} encoder "
                           f"gives {enc.dim}-d vectors; set data.encoder.dim={enc.dim}")
    return enc


def encoder_from_identity(identity: dict, data_root: str | Path | None = None) -> TextEncoder:
    """Rebuild the encoder a model was trained with from its stored identity alone.

    `data_root` overrides a char-cnn-rnn identity's stored root (the data moved)."""
    if not isinstance(identity, dict) or "kind" not in identity:
        raise EncoderError(f"not a text-encoder identity (need a dict with kind, name, dim): "
                           f"{identity!r}")
    enc = _make(identity, data_root)
    check_encoder_compatible(identity, enc)
    return enc


# Keys that must agree for two encoders to give the same vectors for the same text.
_IDENTITY_KEYS = {"bow": ("name", "dim", "version", "window", "pair_weight", "synonyms"),
                  "sentence-transformers": ("name", "dim"),
                  "char-cnn-rnn": ("name", "dim"),
                  "damsm": ("dim", "text_hash")}  # the folder may move; its content may not


def describe_identity(identity: dict) -> str:
    return f"{identity.get('kind')} {identity.get('name')!r} ({identity.get('dim')}-d)"


def check_encoder_compatible(expected_identity: dict, encoder: TextEncoder | dict) -> None:
    """Raise EncoderError unless `encoder` gives the same kind of vectors as the encoder
    described by `expected_identity` (what a model or run was trained with)."""
    got = encoder.identity if isinstance(encoder, TextEncoder) else encoder
    kind = expected_identity.get("kind")
    keys = ("kind",) + _IDENTITY_KEYS.get(kind, ("name", "dim"))
    diffs = [k for k in keys if expected_identity.get(k) != got.get(k)]
    if diffs:
        raise EncoderError(
            f"text encoder mismatch: trained with {describe_identity(expected_identity)}, "
            f"given {describe_identity(got)} (differs in {', '.join(diffs)}); use the encoder "
            f"stored with the model (encoder_from_identity), or retrain with this one")


def parse_encoder_spec(spec: str) -> Any:
    """CLI form -> EncoderConfig: "bow", "sentence-transformers:NAME_OR_PATH", "char-cnn-rnn",
    "damsm:ENCODER_DIR"."""
    kind, _, name = spec.partition(":")
    kind = kind.strip()
    if kind == "bow" and not name:
        return EncoderConfig(kind="bow", dim=BOW_DIM)
    if kind == "sentence-transformers" and name:
        return EncoderConfig(kind=kind, name=name, dim=0)
    if kind == "char-cnn-rnn" and not name:
        return EncoderConfig(kind=kind, dim=1024)
    if kind == "damsm" and name:
        return EncoderConfig(kind=kind, name=name, dim=0)
    raise EncoderError(f"--encoder {spec!r}: use bow, sentence-transformers:NAME_OR_PATH "
                       f"(e.g. sentence-transformers:all-MiniLM-L6-v2), char-cnn-rnn or "
                       f"damsm:ENCODER_DIR (from `gtgan encoder train`)")
