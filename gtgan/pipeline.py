"""Text-to-image pipeline in the style of diffusers: from_pretrained, __call__, save_pretrained.

    pipe = TextToImage.from_pretrained("runs/demo")   # a run directory, model folder or checkpoint
    images = pipe(["a red bird with black wings"], num_images=4, seed=0)   # PIL images

Noise is drawn on the CPU from a seeded torch.Generator, so the same seed gives the same
images on any device (up to floating-point differences between devices) and through the CLI
and the API alike. Column j of every caption uses the same noise, so rows differ only by text.
"""
from __future__ import annotations

import numbers
import unicodedata
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import torch
from PIL import Image

from .config import MAX_IMAGES, MAX_SEED, ModelConfig, RunConfig
from .data.encoders import CharCnnRnnEncoder, TextEncoder, encoder_from_identity
from .device import autocast, inference_execution, resolve_device
from .errors import CheckpointError, GtganError, UnknownWordsWarning
from .fileio import shown
from .images import tensor_to_pil
from .models import TextFeatures
from .storage import LoadedGenerator, load_generator, save_model
from .storage.model_folder import ENCODER_FILES_DIR

MAX_CAPTION_CHARS = 1000
MAX_BATCH = 64


class CaptionError(GtganError):
    """A caption cannot be used with this model."""


def validate_captions(captions: Sequence[str] | str, encoder_kind: str,
                      max_chars: int = MAX_CAPTION_CHARS) -> list[str]:
    """Clean captions or say exactly which one is wrong and why: the one check behind the
    CLI, the API and `gtgan serve`, so all three give the same message."""
    if isinstance(captions, str):
        captions = [captions]
    captions = list(captions)
    if not captions:
        raise CaptionError("no caption given; pass at least one, e.g. \"a small red bird with black wings\"")
    out = []
    for i, text in enumerate(captions, 1):
        if not isinstance(text, str):
            raise CaptionError(f"caption {i} is a {type(text).__name__}, not text")
        text = unicodedata.normalize("NFKC", text).strip()
        if not text:
            raise CaptionError(f"caption {i} is empty; describe a bird, e.g. \"a small red bird with black wings\"")
        if len(text) > max_chars:
            raise CaptionError(f"caption {i} has {len(text):,} characters; the limit is {max_chars:,} "
                               "(the data set's captions have under 300): shorten it to a sentence or two")
        bad = next((ch for ch in text if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs")), None)
        if bad is not None:
            raise CaptionError(f"caption {i} contains the control character U+{ord(bad):04X}; remove it")
        if encoder_kind != "sentence-transformers":
            odd = next((ch for ch in text if ord(ch) > 127), None)
            if odd is not None:
                raise CaptionError(
                    f"caption {i} contains {odd!r} (U+{ord(odd):04X}); this model's text encoder "
                    f"({encoder_kind}) knows only plain English (ASCII) text: rewrite the caption in "
                    "English without it, or use a model trained with a sentence-transformers encoder")
        out.append(" ".join(text.split()))
    return out


def model_encoder(loaded: LoadedGenerator, data_root: str | Path | None = None) -> TextEncoder:
    """The text encoder a model was trained with. char-CNN-RNN vectors are precomputed for the
    CUB captions, so that encoder needs the data root: given, else the run's, else the one
    stored with the model."""
    identity = loaded.encoder_identity
    if identity.get("kind") == CharCnnRnnEncoder.kind and data_root is None:
        run_root = loaded.run_config.data.root if loaded.run_config is not None else ""
        data_root = run_root or identity.get("data_root") or None
        if data_root is None:
            raise CheckpointError(
                f"{loaded.source}: this model's text encoder is char-CNN-RNN, whose vectors are "
                "precomputed for the CUB captions: give the CUB data root holding "
                "birds/*/char-CNN-RNN-embeddings.pickle (--data-root DIR, or data_root=)")
    source = Path(loaded.source)  # a model folder, or a checkpoint inside RUN_DIR/checkpoints
    for folder in (source, source.parent.parent / "model"):
        if (folder / ENCODER_FILES_DIR).is_dir():  # the trained encoder's files it carries
            identity = {**identity, "bundled": str(folder / ENCODER_FILES_DIR)}
            break
    return encoder_from_identity(identity, data_root)


def _resolve_device(device: str | torch.device) -> torch.device:
    return device if isinstance(device, torch.device) else resolve_device(device)


class TextToImage:
    """A trained EMA generator with its text encoder.

    Generation runs in `precision` (default: the run's `run.precision`, else auto), decided by
    the rule training uses (`gtgan.device.inference_execution`); `execution` says what it chose."""

    max_images: int = MAX_IMAGES  # images per call at most; the CLI's --max-images sets it

    def __init__(self, generator: torch.nn.Module, encoder, model_config: ModelConfig,
                 run_config: RunConfig | None = None, metadata: dict | None = None,
                 device: str | torch.device = "cpu", source: str = "", precision: str | None = None):
        self.device = _resolve_device(device)
        self.generator = generator.to(self.device).eval()
        self.encoder = encoder
        self.model_config = model_config
        self.run_config = run_config
        self.metadata = metadata or {}
        self.source = source
        self.weights_file: Path | None = None  # the safetensors file the weights came from
        self.max_caption_chars = MAX_CAPTION_CHARS  # a server may lower it (gtgan serve)
        # Each encode() names the words its encoder ignored in one UnknownWordsWarning; a
        # server that shows them itself (gtgan serve) turns this off.
        self.warn_unknown_words = True
        self.set_precision(precision)

    def set_precision(self, precision: str | None = None) -> None:
        """Generate in `precision` (auto, fp32, bf16, fp16); None: the run's, else auto."""
        if precision is None:
            precision = self.run_config.run.precision if self.run_config is not None else "auto"
        self.execution = inference_execution(precision, self.device)

    # ------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu",
                        data_root: str | Path | None = None, *,
                        run_dir: str | Path | None = None,
                        precision: str | None = None) -> "TextToImage":
        """A model folder (save_pretrained, import-stackgan-v2), a training run directory (its
        `model/` folder: the EMA generator of the latest checkpoint) or a training checkpoint
        (RUN_DIR/checkpoints/step-N). `data_root`: the CUB root for a char-CNN-RNN model;
        `run_dir`: the run describing a model folder or checkpoint kept outside it;
        `precision`: see the class."""
        loaded = load_generator(path, run_dir=run_dir)
        encoder = model_encoder(loaded, data_root)
        pipe = cls(loaded.generator, encoder, loaded.model_config, loaded.run_config, loaded.metadata,
                   device, source=str(loaded.source), precision=precision)
        pipe.weights_file = loaded.weights_file
        return pipe

    def save_pretrained(self, directory: str | Path) -> Path:
        """A self-contained folder: gtgan_model.json (config, encoder identity) + safetensors."""
        meta = dict(self.metadata)
        meta.setdefault("saved_from", self.source)
        return save_model(directory, self.model_config, self.generator.state_dict(),
                          self.encoder.identity, meta)

    # ------------------------------------------------------------ generation
    @property
    def image_sizes(self) -> list[int]:
        return self.model_config.image_sizes

    def encode(self, captions: Sequence[str] | str) -> TextFeatures:
        captions = validate_captions(captions, self.encoder.identity.get("kind", ""),
                                     self.max_caption_chars)
        if self.warn_unknown_words:
            unknown = self.unknown_words(captions)
            if unknown:
                warnings.warn(UnknownWordsWarning(unknown), stacklevel=3)
        features = self.encoder.features(captions)
        if features.sentence.shape[-1] != self.model_config.text_dim:
            raise CheckpointError(f"the text encoder gives {features.sentence.shape[-1]}-d vectors "
                                  f"but the model expects {self.model_config.text_dim}-d")
        return features.float()

    def unknown_words(self, captions: Sequence[str] | str) -> list[str]:
        """The words of `captions` the text encoder ignores (after its synonym fallback)."""
        return self.encoder.unknown_words([captions] if isinstance(captions, str) else list(captions))

    def noise(self, n: int, seed: int | None = None, generator: torch.Generator | None = None):
        """(z, ca_eps) for n images, drawn on the CPU so every device sees the same noise."""
        if generator is None:
            seed = 0 if seed is None else whole("seed", seed, 0, MAX_SEED)
            generator = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.model_config.z_dim, generator=generator)
        eps = torch.randn(n, self.model_config.c_dim, generator=generator)
        return z, eps

    def _generate(self, features: TextFeatures, z: torch.Tensor, eps: torch.Tensor
                  ) -> list[torch.Tensor]:
        """The generator's one path, on this device, in this pipeline's precision."""
        with autocast(self.device, self.execution.amp_dtype):
            return self.generator(features.to(self.device), z.to(self.device),
                                  eps.to(self.device)).images

    @torch.inference_mode()
    def generate_tensors(self, features: TextFeatures, seed: int | None = None,
                         generator: torch.Generator | None = None, z: torch.Tensor | None = None,
                         ca_eps: torch.Tensor | None = None) -> list[torch.Tensor]:
        """One (n, 3, S, S) float32 tensor in [-1, 1] per scale, on the CPU."""
        n = len(features)
        if z is None or ca_eps is None:
            z_new, eps_new = self.noise(n, seed, generator)
            z = z_new if z is None else z
            ca_eps = eps_new if ca_eps is None else ca_eps
        outs: list[list[torch.Tensor]] = []
        for start in range(0, n, MAX_BATCH):
            sl = slice(start, start + MAX_BATCH)
            images = self._generate(features.select(sl), z[sl], ca_eps[sl])
            outs.append([im.float().cpu() for im in images])
        return [torch.cat([o[k] for o in outs]) for k in range(len(outs[0]))]

    def generate_grid_tensors(self, captions: Sequence[str] | str, num_images: int = 1,
                              seed: int = 0, scale: int | None = None) -> torch.Tensor:
        """(len(captions), num_images, 3, S, S): row i = caption i, column j = noise j."""
        num_images = self._check_count(captions, num_images)
        features = self.encode(captions)
        k = self._scale_index(scale)
        z, eps = self.noise(num_images, seed)
        n_cap = len(features)
        images = self.generate_tensors(features.repeat_interleave(num_images), z=z.repeat(n_cap, 1),
                                       ca_eps=eps.repeat(n_cap, 1))[k]
        return images.view(n_cap, num_images, *images.shape[1:])

    @torch.inference_mode()
    def iter_images(self, captions: Sequence[str] | str, num_images: int = 1, seed: int = 0,
                    scale: int | None = None) -> Iterator[tuple[int, int, Image.Image]]:
        """(row, column, PIL image) of `generate_grid_tensors`'s grid, bit-identical to it, made
        MAX_BATCH at a time: memory stays flat however many images are asked for (only the
        noise, 0.9 KB an image at the paper's sizes, is held for all of them)."""
        num_images = self._check_count(captions, num_images)
        features = self.encode(captions)
        k = self._scale_index(scale)
        z, eps = self.noise(num_images, seed)
        total = len(features) * num_images
        for start in range(0, total, MAX_BATCH):
            idx = torch.arange(start, min(start + MAX_BATCH, total))
            rows, cols = idx // num_images, idx % num_images
            images = self._generate(features.select(rows), z[cols], eps[cols])[k]
            for r, c, im in zip(rows.tolist(), cols.tolist(), tensor_to_pil(images.float())):
                yield r, c, im

    def __call__(self, captions: Sequence[str] | str, num_images: int = 1, seed: int = 0,
                 scale: int | None = None) -> list[Image.Image]:
        """PIL images, caption-major: the num_images images of caption 0 first (made a batch at
        a time: only the PIL images are kept)."""
        return [im for _, _, im in self.iter_images(captions, num_images, seed, scale)]

    def _check_count(self, captions, num_images) -> int:
        """num_images a whole number, and captions x num_images within `max_images` (the CLI's
        --max-images, the page's own cap), before any work."""
        num_images = whole("num_images", num_images, 1, MAX_SEED)
        n_cap = 1 if isinstance(captions, str) else len(captions)
        if n_cap * num_images > self.max_images:
            raise CaptionError(f"num_images = {num_images:,} x {n_cap:,} caption(s) = "
                               f"{n_cap * num_images:,} images, over the cap of {self.max_images:,} "
                               f"per call (raise it with TextToImage.max_images)")
        return num_images

    def _scale_index(self, scale: int | None) -> int:
        sizes = self.image_sizes
        if scale is None:
            return len(sizes) - 1
        if scale not in sizes:
            raise CaptionError(f"--scale {scale}: this model makes {', '.join(map(str, sizes))} px images")
        return sizes.index(scale)

    # ------------------------------------------------------------ interpolation
    @torch.inference_mode()
    def interpolate_captions(self, caption_a: str, caption_b: str, steps: int = 8, seed: int = 0,
                             scale: int | None = None) -> list[Image.Image]:
        """Same noise, the condition code moving linearly from caption a to caption b (in CA
        space: the generator's `condition`, then its `synthesise`; word features, where the
        model reads them, switch from a's to b's halfway)."""
        steps = _check_steps(steps, self.max_images)
        features = self.encode([caption_a, caption_b]).to(self.device)
        z, eps = self.noise(1, seed)
        with autocast(self.device, self.execution.amp_dtype):
            c, _, _ = self.generator.condition(features, eps.expand(2, -1).to(self.device))
        c = c.float()
        t = torch.linspace(0, 1, steps, device=self.device)[:, None]
        codes = (1 - t) * c[0] + t * c[1]
        words = features.select((t[:, 0] >= 0.5).long())
        return self._synthesise_pil(z.to(self.device).expand(len(codes), -1), codes, words, scale)

    @torch.inference_mode()
    def interpolate_noise(self, caption: str, steps: int = 8, seed: int = 0, seed_b: int | None = None,
                          scale: int | None = None) -> list[Image.Image]:
        """Same caption and condition code, the noise moving along a great circle (slerp)."""
        steps = _check_steps(steps, self.max_images)
        seed = whole("seed", seed, 0, MAX_SEED - 1 if seed_b is None else MAX_SEED)
        features = self.encode([caption]).to(self.device)
        z0, eps = self.noise(1, seed)
        z1, _ = self.noise(1, seed + 1 if seed_b is None else seed_b)
        with autocast(self.device, self.execution.amp_dtype):
            c, _, _ = self.generator.condition(features, eps.to(self.device))
        c = c.float()
        t = torch.linspace(0, 1, steps)[:, None]
        omega = torch.arccos((z0 / z0.norm() * z1 / z1.norm()).sum().clamp(-1, 1))
        if float(omega) < 1e-4:
            zs = (1 - t) * z0 + t * z1
        else:
            zs = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)
        words = features.select(torch.zeros(len(zs), dtype=torch.long, device=self.device))
        return self._synthesise_pil(zs.to(self.device), c.expand(len(zs), -1), words, scale)

    def _synthesise_pil(self, z: torch.Tensor, codes: torch.Tensor, features: TextFeatures,
                        scale: int | None) -> list[Image.Image]:
        """Images at `scale` from noise and condition codes, MAX_BATCH at a time."""
        k = self._scale_index(scale)
        out: list[Image.Image] = []
        for start in range(0, len(z), MAX_BATCH):
            sl = slice(start, start + MAX_BATCH)
            with autocast(self.device, self.execution.amp_dtype):
                images = self.generator.synthesise(z[sl], codes[sl], None, features.select(sl))
            out += tensor_to_pil(images[k].float())
        return out


def _check_steps(steps, cap: int) -> int:
    """Interpolation steps: both ends at least, so never fewer than 2; at most `cap`."""
    return whole("steps", steps, 2, cap)


def whole(name: str, value, lo: int, hi: int) -> int:
    """`value` as an int in [lo, hi] (an int, not 2.5, '3' or True), or a one-line CaptionError
    naming the argument, before torch sees it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise CaptionError(f"{name} = {shown(value)}: must be a whole number, not a "
                           f"{type(value).__name__}")
    if not lo <= value <= hi:
        raise CaptionError(f"{name} = {shown(value)}: must be from {lo:,} to {hi:,}")
    return int(value)
