"""The `damsm` text-encoder kind (data.encoder.kind=damsm, data.encoder.name = a DAMSM folder,
a `gtgan encoder train` run or `builtin:NAME`): the DAMSM's sentence vectors and word features.
The folder itself is gtgan.data.damsm_folder; importing this module registers the kind.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ..errors import EncoderError
from ..fileio import shown
from ..models.conditioning import TextFeatures
from .bow_synonyms import SYNONYMS_VERSION
from .damsm_folder import (BUILTIN_PREFIX, ENCODE_BATCH, RUN_ENCODER_DIR, Damsm, copy_text_part,
                           is_damsm_folder, load_damsm)
from .encoder_base import TextEncoder, _as_list
from .encoders import register_encoder


class DamsmTextEncoder(TextEncoder):
    """data.encoder.kind=damsm, data.encoder.name=ENCODER_DIR: the DAMSM's sentence features
    (what conditioning augmentation reads) and, in `features`, its word features as well (what
    word attention reads)."""

    kind = "damsm"
    has_word_features = True

    def __init__(self, damsm: Damsm, name: str = "", full_hash: str | None = None):
        self.damsm = damsm
        norm = (damsm.info.get("metadata") or {}).get("sentence_norm")
        self.recorded_norm = float(norm) if isinstance(norm, (int, float)) and norm > 0 else None
        self.name = name or str(damsm.path)
        self.full_hash = full_hash or damsm.info.get("hash") or damsm.info.get("full_hash")

    @property
    def identity(self) -> dict:
        out = {"kind": self.kind, "name": self.name, "dim": self.damsm.cfg.dim,
               "text_hash": self.damsm.info["text_hash"], "hash": self.full_hash,
               "max_words": self.damsm.cfg.max_words,
               "synonyms": SYNONYMS_VERSION}  # the out-of-vocabulary fallback's table
        if self.damsm.path is not None and str(self.damsm.path) != self.name \
                and not self.name.startswith(BUILTIN_PREFIX):
            out["bundled"] = str(self.damsm.path)  # where the files are read from now
        return out

    @property
    def dim(self) -> int:
        return self.damsm.cfg.dim

    def encode(self, captions: Sequence[str]) -> torch.Tensor:
        return self.damsm.sentence_features(_as_list(captions))

    def features(self, captions: Sequence[str]) -> TextFeatures:
        """Sentence vectors and word features (n, max_words, d), masked past each caption."""
        captions = _as_list(captions)
        parts = []
        for i in range(0, len(captions), ENCODE_BATCH):
            words, lengths, sent = self.damsm.word_and_sentence_features(captions[i:i + ENCODE_BATCH])
            words = words.transpose(1, 2)  # (n, T, d)
            length = self.damsm.cfg.max_words
            if words.shape[1] < length:  # the same width for every batch (caches stack them)
                words = torch.cat([words, words.new_zeros(words.shape[0], length - words.shape[1],
                                                          words.shape[2])], dim=1)
            mask = torch.arange(length)[None, :] < lengths[:, None]
            parts.append(TextFeatures(sent, words.contiguous(), mask))
        if not parts:
            return TextFeatures(torch.zeros(0, self.dim), torch.zeros(0, self.damsm.cfg.max_words,
                                self.dim), torch.zeros(0, self.damsm.cfg.max_words, dtype=torch.bool))
        return TextFeatures.cat(parts)

    def unknown_words(self, captions: Sequence[str]) -> list[str]:
        return self.damsm.vocab.unknown_words(_as_list(captions))


def _damsm_factory(spec: dict, data_root) -> TextEncoder:
    name = str(spec.get("name") or "")
    if not name and not spec.get("bundled"):
        raise EncoderError("data.encoder.kind=damsm needs data.encoder.name = the encoder folder "
                           "(`gtgan encoder train DATA --out DIR` makes one)")
    tried = []
    for where in (spec.get("bundled"), name):
        if not where:
            continue
        try:
            damsm = load_damsm(where, image=False)
        except EncoderError as exc:
            tried.append(str(exc))
            continue
        want = spec.get("text_hash")
        if want and damsm.info["text_hash"] != want:
            tried.append(f"{damsm.path}: a different DAMSM (text_hash "
                         f"{damsm.info['text_hash'][:16]}, expected {want[:16]})")
            continue
        portable = spec.get("text_hash") or name.startswith(BUILTIN_PREFIX)
        canonical = name if portable else str(damsm.path.resolve())
        return DamsmTextEncoder(damsm, canonical, spec.get("hash"))
    raise EncoderError("cannot load the DAMSM text encoder: " + "; ".join(tried))


def _bundle(identity: dict, target: Path) -> None:
    for where in (identity.get("bundled"), identity.get("name")):
        if where and (str(where).startswith(BUILTIN_PREFIX) or is_damsm_folder(where)
                      or is_damsm_folder(Path(where) / RUN_ENCODER_DIR)):
            copy_text_part(where, target)
            return
    raise EncoderError(f"the DAMSM encoder {shown(identity.get('name'))} is not on this machine, so "
                       "its text part cannot be stored with the model")


register_encoder("damsm", _damsm_factory, bundle=_bundle)
