"""Run under torchrun by tests/test_training_ddp.py: trains a tiny run with gloo and dumps
each rank's final weights (after the run's final checkpoint) and per-step losses, so the test
can compare the ranks."""
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist


def main() -> None:
    from safetensors.torch import save_file

    from gtgan.config import apply_overrides
    from gtgan.presets import get_preset
    from gtgan.training import train

    run_dir, out_dir, preset, *overrides = sys.argv[1:]
    out = Path(out_dir)
    torch.set_num_threads(1)
    cfg = apply_overrides(get_preset(preset), overrides)
    seen = {"losses": []}

    def on_step(step, losses, gan):
        seen["losses"].append(losses)
        seen["gan"] = gan
        seen["rank"] = dist.get_rank()
        seen["backend"] = dist.get_backend()
        seen["world_size"] = dist.get_world_size()

    result = train(cfg, run_dir, progress=False, on_step=on_step)
    gan, rank = seen["gan"], seen["rank"]
    state = {f"{name}.{k}": v for name, weights in gan.weights().items()
             for k, v in weights.items()}  # G, G_ema, D*, P* and E where the run has them
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()},
              str(out / f"rank{rank}.safetensors"))
    (out / f"rank{rank}.json").write_text(json.dumps(
        {"losses": seen["losses"], "world_size": seen["world_size"], "backend": seen["backend"],
         "status": result.status, "step": result.step}))


if __name__ == "__main__":
    main()
