"""What `gtgan serve` does, without the web page: one model in memory, its limits, its precision.

The Gradio page (`gtgan.serve.app`) and the tests call `Service`; every bad input raises a
GtganError whose message is the one the CLI prints for the same input (captions are checked by
`gtgan.pipeline.validate_captions`, the one check behind the CLI, the API and this server).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ..errors import GtganError, unknown_words_line
from ..fileio import shown
from ..pipeline import MAX_CAPTION_CHARS, TextToImage
from .model_card import ModelCard, model_card

MAX_SEED = 2**32 - 1  # what a person types and reads back; torch takes any 64-bit seed


@dataclass
class ServeOptions:
    """The server's settings; the defaults are the safe ones (local only, small requests)."""

    host: str = "127.0.0.1"  # only this machine; 0.0.0.0 exposes the page to the network
    port: int = 7860
    max_images: int = 8  # images per request
    max_steps: int = 12  # interpolation frames per request
    max_caption_chars: int = MAX_CAPTION_CHARS
    queue_size: int = 16  # requests waiting; more are refused with "queue full"
    concurrency: int = 1  # generations at once (each already uses every core or the GPU)
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 where the hardware computes it natively, else fp32
    data_root: str | None = None  # CUB root for a char-CNN-RNN model

    def check(self) -> None:
        for name, lo, hi in (("port", 0, 65535), ("max_images", 1, 64), ("max_steps", 2, 64),
                             ("max_caption_chars", 1, 100_000), ("queue_size", 1, 10_000),
                             ("concurrency", 1, 64)):
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise GtganError(f"--{name.replace('_', '-')} {value}: must be between {lo} and {hi}")


@dataclass
class Result:
    images: list[Image.Image]
    labels: list[str]
    line: str  # what was made, with the seed used (and the notice): shown under the gallery
    notice: str = ""  # e.g. "unknown words ignored: crimson, zebra"


def whole_number(name: str, value, lo: int, hi: int, hint: str = "") -> int:
    """`value` as an int in [lo, hi], or a one-line error naming the field."""
    try:
        number = int(value)
        ok = number == float(value) and not isinstance(value, bool)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok or not lo <= number <= hi:
        raise GtganError(f"{name} {shown(value)}: must be a whole number from {lo} to {hi}{hint}")
    return number


def flag(value) -> bool:
    """A checkbox's value as sent: true or false (None, as from an API call leaving it out,
    is false); anything else is a one-line error."""
    if value is None or isinstance(value, bool):
        return bool(value)
    raise GtganError(f"random seed {shown(value)}: must be true or false")


class Service:
    """One TextToImage shared by every request; generation without gradients, in the precision
    the pipeline decides (`--precision`, auto: run.precision=auto's rule, gtgan.device)."""

    def __init__(self, pipe: TextToImage, options: ServeOptions | None = None,
                 source: str | Path | None = None):
        self.options = options or ServeOptions()
        self.options.check()
        self.pipe = pipe
        pipe.max_caption_chars = self.options.max_caption_chars
        pipe.warn_unknown_words = False  # the page shows them (Result.notice) instead
        pipe.set_precision(self.options.precision)
        self.execution = pipe.execution
        self.card: ModelCard = model_card(pipe, source or pipe.source, self.execution.line())

    @classmethod
    def load(cls, path: str | Path, options: ServeOptions | None = None) -> "Service":
        options = options or ServeOptions()
        options.check()
        pipe = TextToImage.from_pretrained(path, device=options.device, data_root=options.data_root)
        return cls(pipe, options, path)

    @property
    def sizes(self) -> list[int]:
        return self.pipe.image_sizes

    def _common(self, seed, scale) -> tuple[int, int]:
        if seed is None or seed == "" or seed == "random":
            seed = secrets.randbelow(MAX_SEED + 1)
        seed = whole_number("seed", seed, 0, MAX_SEED)
        sizes = self.sizes
        scale = sizes[-1] if scale in (None, "") else whole_number("scale", scale, 1, 1 << 16)
        if scale not in sizes:
            raise GtganError(f"scale {scale}: this model makes {', '.join(map(str, sizes))} px images")
        return seed, scale

    def generate(self, caption: str, num_images=4, seed=None, scale=None) -> Result:
        """`num_images` pictures of one caption; seed None draws one (and says which)."""
        n = whole_number("number of images", num_images, 1, self.options.max_images,
                         " (gtgan serve --max-images)")
        seed, scale = self._common(seed, scale)
        with torch.inference_mode():
            images = self.pipe([caption], num_images=n, seed=seed, scale=scale)
        return _noticed(Result(images, [f"seed {seed}, #{j + 1}" for j in range(n)],
                               f"{n} image(s), {scale} px, seed {seed}, {self.execution.precision}"),
                        self.pipe.unknown_words([caption]))

    def interpolate(self, caption_a: str, caption_b: str, steps=8, seed=None, scale=None) -> Result:
        """The same noise while the condition moves from caption a to caption b."""
        steps = whole_number("steps", steps, 2, self.options.max_steps, " (gtgan serve --max-steps)")
        seed, scale = self._common(seed, scale)
        with torch.inference_mode():
            images = self.pipe.interpolate_captions(caption_a, caption_b, steps, seed, scale)
        labels = [f"{t / (steps - 1):.2f}" for t in range(steps)]
        return _noticed(Result(images, labels, f"{steps} steps from caption a to caption b, "
                               f"{scale} px, seed {seed}, {self.execution.precision}"),
                        self.pipe.unknown_words([caption_a, caption_b]))


def _noticed(res: Result, unknown: list[str]) -> Result:
    """The words the encoder ignored, named on the page above the result line."""
    if unknown:
        res.notice = unknown_words_line(unknown)
        res.line = f"**Note: {res.notice}** (the text encoder does not know them)  \n{res.line}"
    return res
