"""The benchmark scripts run from a clean checkout and print their tables (no timing asserted).

--quick shrinks every size; --in-process and one thread keep the whole file to a few tens of
seconds on a 2-core machine. Speed itself is measured by the scripts, never by tests.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gtgan.device import native_bf16

ROOT = Path(__file__).resolve().parents[1]
NATIVE_BF16 = native_bf16(torch.device("cpu"))[0]  # else bf16 configurations are skipped
AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def run(script: str, tmp_path: Path, *extra: str, env: dict | None = None) -> tuple[str, dict]:
    out = tmp_path / f"{script}.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), "--quick", "--in-process",
         "--threads", "1", "--json", str(out), *extra],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, json.loads(out.read_text())


@pytest.mark.slow
def test_train_step_quick(tmp_path):
    stdout, data = run("train_step", tmp_path, "--configs", "paper-bf16,stackgan++-fp32,demo-stage1-fp32")
    assert "| config |" in stdout and "bf16 vs fp32" in stdout and "images/s" in stdout
    measured = {"stackgan++-fp32", "demo-stage1-fp32"} | ({"paper-bf16"} if NATIVE_BF16 else set())
    assert set(data["results"]) == measured
    for r in data["results"].values():
        assert "error" not in r, r
        assert r["time"]["n"] == 2 and r["flops"] > 0 and r["vgg_random"] is False  # quick: no VGG
    assert data["gemm_peak_flops"]["fp32"] > 0
    assert data["results"]["demo-stage1-fp32"]["channels_last"] is True


@pytest.mark.slow
def test_train_step_skips_emulated_bf16(tmp_path):
    """On an AVX2-only CPU (emulated here) bf16 is neither timed nor its GEMM peak measured."""
    stdout, data = run("train_step", tmp_path, "--configs", "demo-stage1-bf16,demo-stage1-fp32",
                       env=AVX2_ONLY)
    assert set(data["results"]) == {"demo-stage1-fp32"} and data["skipped"] == ["demo-stage1-bf16"]
    assert set(data["gemm_peak_flops"]) == {"fp32"} and "ONEDNN_MAX_CPU_ISA=AVX2" in stdout
    assert "bf16 not measured" in stdout and "CPU capability AVX2" in stdout


@pytest.mark.slow
def test_attention_quick(tmp_path):
    stdout, data = run("attention", tmp_path, "--sides", "8")
    assert "| module |" in stdout
    kinds = {(r["module"], r["impl"], r["precision"]) for r in data["results"]}
    assert ("CAM", "danet", "fp32") in kinds
    assert (("PAM", "ours", "bf16") in kinds) == NATIVE_BF16
    assert all("error" not in r for r in data["results"])


@pytest.mark.slow
def test_generate_quick(tmp_path):
    stdout, data = run("generate", tmp_path)
    assert "images/s (median)" in stdout
    res = data["results"]
    assert res["paper-fp32"]["output_shape"] == [4, 3, 128, 128]
    assert ("paper-bf16" in res) == NATIVE_BF16 == ("paper-bf16" not in data["skipped"])
    assert all("error" not in r for r in res.values())


@pytest.mark.slow
def test_shape_anchors_parts_prints_every_flaw(tmp_path):
    """benchmarks/shape_anchors.py --parts: real birds redrawn with one flaw each, placed
    between the real and blurred anchors (a small split: the numbers are not the docs')."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "shape_anchors.py"), "--parts", "--count", "240",
         "--samples", "20"], capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {line.split(" | ")[0].strip("| "): float(line.rsplit("|", 2)[1])
            for line in proc.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| real birds")}
    assert len(rows) == 12 and all(v == v for v in rows.values()), proc.stdout
    assert rows["no beak, eye, legs or tail"] > rows["no beak"]
    assert rows["no beak, eye, legs or tail"] > 0.2
