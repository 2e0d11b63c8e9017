"""A trained DAMSM as files: its folder, written and read (the `damsm` text-encoder kind that
reads it is gtgan.data.damsm; the image encoder's starting weights, gtgan.storage.damsm_init).

ENCODER_DIR/
  damsm.json                 format, DamsmConfig, which parts are here, how the image encoder
                             was initialised, each file's SHA-256, the text and full hashes,
                             training metadata (data, steps, measured R-precision)
  vocab.json                 the vocabulary (damsm_vocab.py)
  text_encoder.safetensors   DamsmTextNet
  image_encoder.safetensors  the image encoder (absent from the text-only copy a model carries)

`text_hash` covers the config, vocabulary and text weights: two folders with the same
text_hash give the same sentence vectors, so it is what a model's encoder identity checks.
`hash` covers everything (the R-precision report stamps it). A folder is built beside its
target and swapped in whole; loading checks every file against damsm.json and never executes
code (safetensors, JSON). A training run directory is accepted for its `encoder/` folder.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..config import ConfigError, from_dict
from ..errors import EncoderError
from ..fileio import FileFormatError, checked_format, naming, sha256_file
from ..fileio import read_json as bounded_json
from ..folders import replace_dir, staging_dir
from ..models.damsm import DamsmConfig, DamsmTextNet, build_image_net
from .damsm_vocab import Vocabulary, read_json

DAMSM_FORMAT = "gtgan-damsm"
DAMSM_VERSION = 1
DAMSM_JSON = "damsm.json"
VOCAB_FILE = "vocab.json"
TEXT_FILE = "text_encoder.safetensors"
IMAGE_FILE = "image_encoder.safetensors"
RUN_ENCODER_DIR = "encoder"  # the encoder folder inside a `gtgan encoder train` run
# DAMSMs shipped inside the package, named `builtin:NAME` (each folder's CARD.md says how it was
# trained and how to remake it); the demo conditions on builtin:synthetic-birds.
BUILTIN_PREFIX = "builtin:"
BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


def builtin_damsms() -> list[str]:
    return sorted(BUILTIN_PREFIX + p.name for p in BUILTIN_DIR.iterdir()
                  if (p / DAMSM_JSON).is_file()) if BUILTIN_DIR.is_dir() else []


ENCODE_BATCH = 256  # captions per text-net call


class Damsm:
    """A DAMSM's text net, image net (None in a text-only copy), vocabulary and description.
    Feature methods run in eval mode without gradients; training uses the nets directly."""

    def __init__(self, cfg: DamsmConfig, vocab: Vocabulary, text_net: DamsmTextNet,
                 image_net: nn.Module | None, info: dict[str, Any] | None = None):
        self.cfg, self.vocab, self.text_net, self.image_net = cfg, vocab, text_net, image_net
        self.info = dict(info or {})  # damsm.json as read (hashes, image weights, metadata)
        self.path: Path | None = None

    @property
    def device(self) -> torch.device:
        return next(self.text_net.parameters()).device

    def to(self, device) -> "Damsm":
        self.text_net.to(device)
        if self.image_net is not None:
            self.image_net.to(device)
        return self

    @torch.no_grad()
    def word_and_sentence_features(self, captions: Sequence[str]
                                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(words (n, d, T), lengths (n,), sentences (n, d)) on the CPU: for word attention."""
        ids, lengths = self.vocab.batch(list(captions), self.cfg.max_words)
        was = self.text_net.training
        self.text_net.eval()
        words, sent = self.text_net(ids.to(self.device), lengths)
        self.text_net.train(was)
        return words.float().cpu(), lengths, sent.float().cpu()

    def sentence_features(self, captions: Sequence[str]) -> torch.Tensor:
        captions = list(captions)
        parts = [self.word_and_sentence_features(captions[i:i + ENCODE_BATCH])[2]
                 for i in range(0, len(captions), ENCODE_BATCH)]
        return torch.cat(parts) if parts else torch.zeros(0, self.cfg.dim)

    @torch.no_grad()
    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Global image features (n, d) for images in [-1, 1] (any size; resized)."""
        if self.image_net is None:
            raise EncoderError(f"{self.path}: this DAMSM folder holds only the text encoder (the "
                               "copy a model carries); give the full encoder folder")
        was = self.image_net.training
        self.image_net.eval()
        out = self.image_net(images.to(self.device))[1].float()
        self.image_net.train(was)
        return out

    # the gtgan.metrics.rprecision TextImageEncoder protocol
    encode_text = sentence_features
    encode_images = image_features

    def describe(self) -> str:
        img = self.info.get("image", {})
        return (f"DAMSM {str(self.info.get('hash', ''))[:16]} ({self.cfg.dim}-d, image encoder "
                f"{self.cfg.image_encoder}, {img.get('weights', '?')} weights)")


# ---------------------------------------------------------------- folders

def _sha(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _hashes(cfg: dict, files: dict[str, str]) -> dict[str, str]:
    text = _sha({"config": cfg, VOCAB_FILE: files[VOCAB_FILE], TEXT_FILE: files[TEXT_FILE]})
    out = {"text_hash": text}
    if IMAGE_FILE in files:
        out["hash"] = _sha({"text_hash": text, IMAGE_FILE: files[IMAGE_FILE]})
    return out


def is_damsm_folder(path: str | Path) -> bool:
    try:
        return bounded_json(Path(path) / DAMSM_JSON).get("format") == DAMSM_FORMAT
    except (OSError, FileFormatError, AttributeError):
        return False


def save_damsm(directory: str | Path, damsm: Damsm, image_info: dict, metadata: dict | None = None
               ) -> dict:
    """Write the whole encoder folder atomically (only over nothing, an empty folder or another
    DAMSM folder); returns its damsm.json."""
    directory = Path(directory)
    _check_target(directory)
    tmp = staging_dir(directory)
    try:
        with naming(directory):  # a full disk: one line naming the folder
            (tmp / VOCAB_FILE).write_text(damsm.vocab.to_json())
            save_file(_cpu(damsm.text_net.state_dict()), str(tmp / TEXT_FILE))
            save_file(_cpu(damsm.image_net.state_dict()), str(tmp / IMAGE_FILE))
            files = {f: sha256_file(tmp / f) for f in (VOCAB_FILE, TEXT_FILE, IMAGE_FILE)}
            cfg = asdict(damsm.cfg)
            info = {"format": DAMSM_FORMAT, "version": DAMSM_VERSION, "config": cfg,
                    "vocab_size": len(damsm.vocab), "parts": ["text", "image"], "image": image_info,
                    "files": files, **_hashes(cfg, files), "metadata": metadata or {}}
            (tmp / DAMSM_JSON).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
            _check_target(directory)
            replace_dir(tmp, directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return info


def copy_text_part(source: str | Path, target: str | Path) -> None:
    """The text-only copy a model folder carries (files copied byte for byte, so its
    text_hash is the original's)."""
    source, target = resolve_damsm_dir(source), Path(target)
    info = _read_info(source)
    target.mkdir(parents=True, exist_ok=True)
    for f in (VOCAB_FILE, TEXT_FILE):
        shutil.copyfile(source / f, target / f)
    text = dict(info, parts=["text"], files={f: info["files"][f] for f in (VOCAB_FILE, TEXT_FILE)})
    text.pop("hash", None)
    text["full_hash"] = info.get("hash") or info.get("full_hash")
    (target / DAMSM_JSON).write_text(json.dumps(text, indent=2, sort_keys=True) + "\n")


def _check_target(directory: Path) -> None:
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise EncoderError(f"{directory}: exists and is not a folder; nothing was written")
    if directory.is_dir() and any(directory.iterdir()) and not is_damsm_folder(directory):
        raise EncoderError(f"{directory}: exists and is not a DAMSM encoder folder; nothing was "
                           "written or deleted: choose a new or empty folder")


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def resolve_damsm_dir(path: str | Path) -> Path:
    """An encoder folder, a `gtgan encoder train` run directory (its encoder/ folder), or
    `builtin:NAME`, a DAMSM shipped with gtgan."""
    if str(path).startswith(BUILTIN_PREFIX):
        name = str(path)[len(BUILTIN_PREFIX):]
        if not name or "/" in name or "\\" in name or name.startswith(".") \
                or not (BUILTIN_DIR / name / DAMSM_JSON).is_file():
            raise EncoderError(f"{str(path)[:80]}: no such built-in DAMSM; built in: "
                               f"{', '.join(builtin_damsms()) or 'none'}")
        return BUILTIN_DIR / name
    path = Path(path).expanduser()
    if (path / DAMSM_JSON).exists():
        return path
    if (path / RUN_ENCODER_DIR / DAMSM_JSON).exists():
        return path / RUN_ENCODER_DIR
    if not path.exists():
        raise EncoderError(f"{path}: no such DAMSM encoder folder; train one with "
                           "`gtgan encoder train DATA --out DIR`")
    raise EncoderError(f"{path}: not a DAMSM encoder folder (no {DAMSM_JSON}, nor "
                       f"{RUN_ENCODER_DIR}/{DAMSM_JSON}); give the folder `gtgan encoder train` "
                       "wrote (its --out, or --out/encoder)")


def _read_info(directory: Path) -> dict:
    path = directory / DAMSM_JSON
    info = read_json(path, "DAMSM description")
    try:
        checked_format(info, str(path), DAMSM_FORMAT, DAMSM_VERSION, "gtgan DAMSM encoder")
    except FileFormatError as exc:
        raise EncoderError(str(exc)) from None
    return info


def load_damsm(path: str | Path, image: bool = True, device: str | torch.device = "cpu") -> Damsm:
    """A DAMSM from its folder (or run directory), every file checked against damsm.json.
    `image=False` reads only the text part (enough to encode captions)."""
    directory = resolve_damsm_dir(path)
    info = _read_info(directory)
    try:
        cfg = from_dict(DamsmConfig, info["config"], "config")
        cfg.validate()
    except (ConfigError, KeyError) as exc:
        raise EncoderError(f"{directory / DAMSM_JSON}: bad config: {exc}") from None
    want = [VOCAB_FILE, TEXT_FILE] + ([IMAGE_FILE] if image else [])
    if image and "image" not in info.get("parts", []):
        raise EncoderError(f"{directory}: holds only the DAMSM text encoder (the copy a model "
                           "folder carries); give the full encoder folder for image features")
    for f in want:
        if not (directory / f).is_file():
            raise EncoderError(f"{directory / f}: missing from the DAMSM encoder folder")
        if sha256_file(directory / f) != info.get("files", {}).get(f):
            raise EncoderError(f"{directory / f}: contents do not match the checksum in "
                               f"{DAMSM_JSON} (damaged or replaced file)")
    expected = _hashes(info["config"], info["files"])
    if expected["text_hash"] != info.get("text_hash"):
        raise EncoderError(f"{directory / DAMSM_JSON}: text_hash does not match its files")
    vocab = Vocabulary.load(directory / VOCAB_FILE)
    text = DamsmTextNet(len(vocab), cfg)
    _load_state(text, directory / TEXT_FILE)
    net = None
    if image:
        net = build_image_net(cfg)
        _load_state(net, directory / IMAGE_FILE)
    damsm = Damsm(cfg, vocab, text.eval(), net.eval() if net is not None else None, info)
    damsm.path = directory.resolve()
    return damsm.to(device)


def _load_state(net: nn.Module, path: Path) -> None:
    try:
        net.load_state_dict(load_file(str(path)))
    except Exception as exc:
        raise EncoderError(f"{path}: does not fit the DAMSM config in {DAMSM_JSON} ({exc})") from None
