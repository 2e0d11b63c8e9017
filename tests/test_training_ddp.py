"""Two CPU processes under torchrun (gloo): data-parallel, identical replicas, rank 0 writes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

WORKER = Path(__file__).with_name("_training_ddp_worker.py")
TINY = ["data.synthetic_count=24", "model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8",
        "optim.batch_size=2", "run.max_steps=3", "run.checkpoint_every=2", "run.sample_every=0",
        "run.log_every=1", "run.precision=fp32", "run.channels_last=false", "data.num_workers=0"]


def test_two_gloo_processes_keep_identical_parameters(tmp_path):
    run, out = tmp_path / "run", tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(WORKER), str(run), str(out), "demo", *TINY,
         # the switches with networks of their own or wider inputs, under DDP too
         "loss.reconstruction_weight=1", "model.d_mirror_pairs=true"],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2 and r0["backend"] == "gloo"
    assert r0["step"] == r1["step"] == 3
    # each rank trained on its own shard: their losses differ ...
    assert r0["losses"][0]["d_loss"] != r1["losses"][0]["d_loss"]
    assert "mode_seeking" in r0["losses"][0]  # the demo's second generator pass ran under DDP
    assert "reconstruction" in r0["losses"][0]  # and the noise encoder's redrawing pass
    # ... yet the replicas are identical, bit for bit (parameters, buffers, EMA)
    w0, w1 = load_file(str(out / "rank0.safetensors")), load_file(str(out / "rank1.safetensors"))
    assert w0.keys() == w1.keys() and len(w0) > 50 and any(k.startswith("E.") for k in w0)
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # rank 0 alone wrote the run; the checkpoint records the replicas' common digest
    state = json.loads((run / "checkpoints" / "step-00000003" / "state.json").read_text())
    assert state["world_size"] == 2 and len(state["replica_digest"]) == 64
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3]
    ckpt = load_file(str(run / "checkpoints" / "step-00000003" / "G.safetensors"))
    assert all(torch.equal(ckpt[k], w0[f"G.{k}"]) for k in ckpt)
