"""Fine-tuning: a new run that starts from saved weights (`train(..., init_from=DIR)`, the CLI's
`gtgan train --init-from DIR`), e.g. an imported official StackGAN-v2 model.

The generator's weights become both the live and the EMA generator (the official netG is the
moving average), the discriminators are loaded when the source has them; optimisers start
fresh. The source is recorded in RUN_DIR/init_from.json, so that a run resumed before its
first checkpoint starts from the same weights again.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from ..fileio import atomic_write_json
from ..storage.checkpoint import latest_checkpoint
from ..storage.loading import load_init_weights
from .rundir import read_recorded_json
from .step import Trainer

INIT_RECORD = "init_from.json"


def apply_init_weights(gan: Trainer, run_dir: Path, init_from: str | Path | None, resuming: bool,
                       is_main: bool) -> None:
    """Load `init_from` into `gan` for a new run; on resume, only while no checkpoint exists
    (then the recorded source again). Refuses weights that do not fit the config."""
    record = Path(run_dir) / INIT_RECORD
    if resuming:
        if latest_checkpoint(Path(run_dir) / "checkpoints") is not None or not record.exists():
            return
        init_from = read_recorded_json(record)["path"]
    if init_from is None:
        return
    init = load_init_weights(init_from, gan.cfg.model)
    weights = gan.weights()
    weights.update(init.weights)
    gan.load_weights(weights)
    if is_main:
        if not resuming:
            atomic_write_json(record, {"path": str(Path(init_from).resolve()),
                                       "loaded": sorted(init.weights), "missing": init.missing},
                              durable=True)
        if init.missing:
            warnings.warn(f"--init-from {init_from}: it has no {', '.join(init.missing)}; "
                          "those start from a fresh initialisation", stacklevel=2)
