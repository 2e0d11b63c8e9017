"""Import checkpoints of the official StackGAN-v2 code (hanzhanggit/StackGAN-v2).

The official trainer saves `netG.state_dict()` (after loading the averaged parameters, so
it is the moving-average generator) and `netD{i}.state_dict()` with torch.save, usually
through nn.DataParallel ("module." prefixes), from PyTorch 0.3 (so without batch norm's
`num_batches_tracked`). Our module names follow the official ones, so the conversion is: read
safely, strip prefixes, infer the architecture from the shapes, check every key and shape,
and write a gtgan model folder whose text encoder is the char-CNN-RNN the official birds
model was trained on (its vectors come from the CUB data root: stored when given).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import ModelConfig
from ..data.cub_files import find_birds_dir
from ..data.encoders import CharCnnRnnEncoder
from ..errors import CheckpointError, DataError
from ..fileio import FileFormatError, load_torch_weights, sha256_file, shown
from ..models import build_discriminators, build_generator
from .model_folder import check_model_target, save_model
from .state_dicts import load_state_checked


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """torch.load with weights_only=True: a file holding code or objects is refused, not run."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        obj = load_torch_weights(path)
    except FileFormatError as exc:
        raise CheckpointError(f"{exc}. Only weights saved with torch.save(model.state_dict()) "
                              "are accepted") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors, found {type(obj).__name__}")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def infer_model_config(state: dict[str, torch.Tensor], source: str) -> ModelConfig:
    """Architecture of an official generator from its tensor shapes."""
    try:
        fc = state["ca_net.fc.weight"]  # (4 * c_dim, text_dim)
        h1 = state["h_net1.fc.0.weight"]  # (ngf16 * 32, c_dim + z_dim)
        img1 = state["img_net1.img.0.weight"]  # (3, ngf, 3, 3)
    except KeyError as exc:
        raise CheckpointError(f"{source}: not a StackGAN-v2 generator state dict (no {shown(exc.args[0])})") from None
    c_dim = fc.shape[0] // 4
    ngf = img1.shape[1]
    stages = 1 + sum(f"img_net{i}.img.0.weight" in state for i in (2, 3))
    residual = {int(k.split(".")[2]) for k in state if k.startswith("h_net2.residual.")}
    cfg = ModelConfig(text_dim=fc.shape[1], c_dim=c_dim, z_dim=h1.shape[1] - c_dim, ngf=ngf,
                      stages=stages, num_residual=len(residual) if residual else 2,
                      attention_stages=[], pam=False, cam=False)
    if h1.shape[0] != ngf * 16 * 32:
        raise CheckpointError(f"{source}: h_net1.fc.0.weight has {h1.shape[0]} rows; a StackGAN-v2 "
                              f"generator with GF_DIM={ngf} has {ngf * 16 * 32}")
    return cfg


def char_cnn_rnn_identity(text_dim: int, data_root: str | Path | None) -> dict:
    """The identity the char-CNN-RNN encoder gives itself, with `data_root` when known."""
    if data_root is None:
        return {"kind": CharCnnRnnEncoder.kind, "name": CharCnnRnnEncoder.NAME, "dim": text_dim}
    try:
        find_birds_dir(data_root)
    except DataError as exc:
        raise CheckpointError(f"--data-root {data_root}: {exc}") from None
    return dict(CharCnnRnnEncoder(data_root, text_dim).identity)


def import_checkpoint(generator_path: str | Path, discriminator_paths: list[str | Path],
                      out_dir: str | Path, ndf: int | None = None,
                      data_root: str | Path | None = None) -> Path:
    """Convert official netG (and optionally netD*) files into a gtgan model folder.
    `data_root`: the CUB root holding the char-CNN-RNN embeddings, stored with the model so
    that generating needs no --data-root."""
    check_model_target(out_dir)
    g_state = read_state_dict(generator_path)
    cfg = infer_model_config(g_state, str(generator_path))
    d_states = [read_state_dict(p) for p in discriminator_paths]
    if d_states:
        first = d_states[0].get("img_code_s16.0.weight")
        if first is None:
            raise CheckpointError(f"{discriminator_paths[0]}: not a StackGAN-v2 discriminator "
                                  "(no img_code_s16.0.weight)")
        cfg.ndf = int(first.shape[0])
    elif ndf:
        cfg.ndf = ndf
    cfg.validate()
    encoder = char_cnn_rnn_identity(cfg.text_dim, data_root)

    generator = build_generator(cfg, init=False)
    load_state_checked(generator, g_state, str(generator_path))
    discriminators = []
    if d_states:
        if len(d_states) != cfg.stages:
            raise CheckpointError(f"the generator has {cfg.stages} stages, so {cfg.stages} "
                                  f"discriminator files are needed (netD0.pth ...), got {len(d_states)}")
        for i, (d, state, path) in enumerate(zip(build_discriminators(cfg, init=False), d_states,
                                                 discriminator_paths)):
            load_state_checked(d, state, f"{path} (as the {64 * 2 ** i}px discriminator)")
            discriminators.append(d.state_dict())

    meta = {"source": "StackGAN-v2 official checkpoint", "generator_file": str(generator_path),
            "generator_sha256": sha256_file(generator_path),
            "discriminators": [str(p) for p in discriminator_paths],
            "note": "official netG is the moving-average generator"}
    return save_model(out_dir, cfg, generator.state_dict(), encoder, meta, discriminators or None)
