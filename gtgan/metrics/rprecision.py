"""R-precision on CUB (AttnGAN's text-image retrieval metric): the interface, NOT implemented.

AttnGAN's R-precision needs its DAMSM text and image encoders trained on CUB (not shipped
here, and no gtgan code trains them). The protocol, for whoever adds it: for each generated
image, rank its own caption against 99 captions of other images by cosine similarity of the
encoders' global vectors; R-precision is the fraction of images whose own caption ranks first
(R = 1), reported as mean and std over 10 runs of the random distractor draw.

A text-image encoder plugs in through `TextImageEncoder`; `RPrecision.update` then takes
batches of generated images with their caption vectors. Until an encoder exists, constructing
`RPrecision` raises NotImplementedError with this explanation.
"""
from __future__ import annotations

from typing import Protocol

import torch


class TextImageEncoder(Protocol):
    """Maps images and captions into one space (e.g. AttnGAN's DAMSM)."""

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:  # (n, 3, S, S) -> (n, d)
        ...

    def encode_text(self, captions: list[str]) -> torch.Tensor:  # -> (n, d)
        ...


class RPrecision:
    """R-precision accumulator (R = 1, 99 distractors): not implemented yet."""

    def __init__(self, encoder: TextImageEncoder, distractors: int = 99, runs: int = 10,
                 seed: int = 0):
        raise NotImplementedError(
            "R-precision is not implemented: it needs a CUB text-image encoder (AttnGAN's DAMSM), "
            "which gtgan neither ships nor trains. See gtgan/metrics/rprecision.py and "
            "docs/evaluation.md for the protocol and the interface to fill in.")
