"""`TextFeatures`: what every text encoder gives and every generator takes.

One type from the caption to the picture, so that a conditioning signal beyond the sentence
vector (the DAMSM's word features, for word attention) travels through the caches, the
batches, training, evaluation, the pipeline and serve without any of them changing.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import torch


@dataclass(frozen=True)
class TextFeatures:
    """A batch of captions as the generator reads them.

    sentence: (n, d) sentence vectors, what conditioning augmentation reads.
    words:    (n, L, dw) word features, or None where the encoder has none (every encoder but
              the DAMSM); padded to L, the longest caption of the batch (or the encoder's
              max_words).
    mask:     (n, L) bool, True at real words; given exactly when `words` is.
    A single item (a data set's) has no batch dimension: sentence (d,), words (L, dw), mask (L,).
    """

    sentence: torch.Tensor
    words: torch.Tensor | None = None
    mask: torch.Tensor | None = None

    def __post_init__(self):
        if (self.words is None) != (self.mask is None):
            raise ValueError("TextFeatures: give word features and their mask together")

    def __len__(self) -> int:
        return int(self.sentence.shape[0])

    @property
    def has_words(self) -> bool:
        return self.words is not None

    def _map(self, fn) -> "TextFeatures":
        return TextFeatures(fn(self.sentence), None if self.words is None else fn(self.words),
                            None if self.mask is None else fn(self.mask))

    def to(self, device=None, dtype: torch.dtype | None = None, non_blocking: bool = False
           ) -> "TextFeatures":
        """On `device`; `dtype` applies to the float parts (never the mask)."""
        out = self._map(lambda t: t.to(device, non_blocking=non_blocking))
        if dtype is not None:
            out = replace(out, sentence=out.sentence.to(dtype),
                          words=None if out.words is None else out.words.to(dtype))
        return out

    def float(self) -> "TextFeatures":
        return self.to(dtype=torch.float32)

    def pin_memory(self) -> "TextFeatures":  # DataLoader(pin_memory=True) calls this
        return self._map(lambda t: t.pin_memory())

    def select(self, index) -> "TextFeatures":
        """Rows `index` (a slice, an index tensor or list)."""
        return self._map(lambda t: t[index])

    def repeat_interleave(self, repeats: int) -> "TextFeatures":
        return self._map(lambda t: t.repeat_interleave(repeats, 0))

    @staticmethod
    def stack(items: Sequence["TextFeatures"]) -> "TextFeatures":
        """A batch from single items (the loader's collate)."""
        return TextFeatures.cat([it._map(lambda t: t.unsqueeze(0)) for it in items])

    @staticmethod
    def cat(parts: Sequence["TextFeatures"]) -> "TextFeatures":
        """Batches joined; word features padded to the longest."""
        parts = list(parts)
        if not parts:
            raise ValueError("TextFeatures.cat of nothing")
        sentence = torch.cat([p.sentence for p in parts])
        if any(p.words is None for p in parts):
            if not all(p.words is None for p in parts):
                raise ValueError("TextFeatures.cat: some parts have word features, some not")
            return TextFeatures(sentence)
        length = max(p.words.shape[1] for p in parts)

        def pad(t: torch.Tensor, value) -> torch.Tensor:
            extra = length - t.shape[1]
            if extra == 0:
                return t
            shape = (t.shape[0], extra) + tuple(t.shape[2:])
            return torch.cat([t, t.new_full(shape, value)], dim=1)

        return TextFeatures(sentence, torch.cat([pad(p.words, 0) for p in parts]),
                            torch.cat([pad(p.mask, False) for p in parts]))
