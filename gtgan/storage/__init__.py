"""What gtgan keeps on disk, one module per kind of thing (see docs/training.md, "Files"):

- `model_folder`: a self-contained generator (gtgan_model.json + generator.safetensors, and
  discriminators.safetensors for imported weights): save_pretrained, RUN_DIR/model, import;
- `checkpoint`: training checkpoints RUN_DIR/checkpoints/step-N (weights, optimiser and RNG state);
- `stackgan_v2_import`: official StackGAN-v2 .pth files -> a model folder;
- `loading`: what is at a path -> a generator (`load_generator`) or fine-tuning weights;
- `state_dicts`: reading weight files and loading them into modules with clear messages.
- `damsm_init`: the DAMSM image encoder's starting weights (ImageNet Inception-v3 or Lite0,
  a file, or random) for `gtgan encoder train`; imported on its own, not re-exported here.

Nothing here executes code from a file: safetensors, or torch.load(weights_only=True).
"""
from __future__ import annotations

from .checkpoint import (latest_checkpoint, list_checkpoints, load_checkpoint, load_checkpoint_weights,
                         save_checkpoint)
from .loading import InitWeights, LoadedGenerator, load_generator, load_init_weights
from .model_folder import (DISCRIMINATORS_FILE, GENERATOR_FILE, MODEL_JSON, ModelInfo, is_model_folder,
                           load_model, read_model_info, save_model)
from .stackgan_v2_import import import_checkpoint
from .state_dicts import load_state_checked

__all__ = ["DISCRIMINATORS_FILE", "GENERATOR_FILE", "MODEL_JSON", "InitWeights", "LoadedGenerator",
           "ModelInfo", "import_checkpoint", "is_model_folder", "latest_checkpoint", "list_checkpoints",
           "load_checkpoint", "load_checkpoint_weights", "load_generator", "load_init_weights",
           "load_model", "load_state_checked", "read_model_info", "save_checkpoint", "save_model"]
