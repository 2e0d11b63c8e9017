"""The text-encoder interface every kind implements (gtgan.data.encoders: the kinds, their
registry and the identity checks): captions -> `TextFeatures`."""
from __future__ import annotations

import json
from typing import Sequence

import torch

from ..errors import EncoderError
from ..models.conditioning import TextFeatures


class TextEncoder:
    """captions -> TextFeatures on the CPU (`features`). Subclasses set `identity` and `dim`
    and implement `encode` (the (n, dim) float32 sentence vectors); an encoder with word
    features (the DAMSM) overrides `features` too."""

    kind: str = ""
    # Every sentence vector has L2 norm 1, so model.text_scale=0's rule needs no captions.
    unit_norm: bool = False
    # The mean norm of its own training captions' vectors, where recorded (a DAMSM's
    # damsm.json): what text_scale=0 uses outside a run, where no captions are at hand.
    recorded_norm: float | None = None
    # `features` give word features too (TextFeatures.words): what model.word_attention reads.
    has_word_features: bool = False

    @property
    def identity(self) -> dict:
        raise NotImplementedError

    @property
    def dim(self) -> int:
        return int(self.identity["dim"])

    def encode(self, captions: Sequence[str]) -> torch.Tensor:
        raise NotImplementedError

    def features(self, captions: Sequence[str]) -> TextFeatures:
        """What the generator reads for `captions`."""
        return TextFeatures(self.encode(captions).float())

    def unknown_words(self, captions: Sequence[str]) -> list[str]:
        """Words it ignores, each once (none for encoders of any text; a DAMSM names some)."""
        return []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({json.dumps(self.identity, sort_keys=True)})"


def _as_list(captions: Sequence[str] | str) -> list[str]:
    if isinstance(captions, str):
        return [captions]
    out = list(captions)
    for c in out:
        if not isinstance(c, str):
            raise EncoderError(f"captions must be strings, got {type(c).__name__}: {c!r}")
    return out
