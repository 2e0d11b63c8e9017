"""The benchmark scripts run from a clean checkout and print their tables (no timing asserted).

--quick shrinks every size; --in-process and one thread keep the whole file to a few tens of
seconds on a 2-core machine. Speed itself is measured by the scripts, never by tests.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(script: str, tmp_path: Path, *extra: str) -> tuple[str, dict]:
    out = tmp_path / f"{script}.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), "--quick", "--in-process",
         "--threads", "1", "--json", str(out), *extra],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, json.loads(out.read_text())


@pytest.mark.slow
def test_train_step_quick(tmp_path):
    stdout, data = run("train_step", tmp_path, "--configs", "paper-bf16,stackgan++-fp32")
    assert "| config |" in stdout and "bf16 vs fp32" in stdout
    assert set(data["results"]) == {"paper-bf16", "stackgan++-fp32"}
    for r in data["results"].values():
        assert "error" not in r, r
        assert r["time"]["n"] == 2 and r["flops"] > 0 and r["vgg_random"] is False  # quick: no VGG
    assert data["gemm_peak_flops"]["fp32"] > 0


@pytest.mark.slow
def test_attention_quick(tmp_path):
    stdout, data = run("attention", tmp_path, "--sides", "8")
    assert "| module |" in stdout
    kinds = {(r["module"], r["impl"], r["precision"]) for r in data["results"]}
    assert ("PAM", "ours", "bf16") in kinds and ("CAM", "danet", "fp32") in kinds
    assert all("error" not in r for r in data["results"])


@pytest.mark.slow
def test_generate_quick(tmp_path):
    stdout, data = run("generate", tmp_path)
    assert "images/s (median)" in stdout
    res = data["results"]
    assert res["paper-bf16"]["output_shape"] == [4, 3, 128, 128]
    assert all("error" not in r for r in res.values())
