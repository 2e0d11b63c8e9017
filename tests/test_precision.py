"""run.precision / run.channels_last = auto: decided by what the hardware computes natively.

The CPU's flags, torch's CPU capability and the CUDA compute capability are mocked, so every
kind of machine is covered on whichever one runs the tests."""
from __future__ import annotations

import json

import pytest
import torch

from gtgan.config import ConfigError, RunSettings, apply_overrides
from gtgan.presets import PRESETS, get_preset, settled_config
from gtgan.device import CpuFeatures, resolve_execution

CPU = torch.device("cpu")
CUDA = torch.device("cuda")
AVX2 = CpuFeatures(frozenset({"sse4_2", "avx", "avx2", "fma"}), "AVX2")
AVX512 = CpuFeatures(AVX2.flags | {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"}, "AVX512")
AVX512_BF16 = CpuFeatures(AVX512.flags | {"avx512_bf16"}, "AVX512")
AMX = CpuFeatures(AVX512_BF16.flags | {"amx_tile", "amx_bf16", "amx_int8"}, "AVX512")
AUTO = RunSettings()


def test_auto_is_the_default_of_every_preset():
    assert (AUTO.precision, AUTO.channels_last) == ("auto", "auto")
    for name in PRESETS:
        run = get_preset(name).run
        assert (run.precision, run.channels_last) == ("auto", "auto"), name


@pytest.mark.parametrize("cpu, precision, why", [
    (AVX2, "fp32", "AVX2"),
    (AVX512, "fp32", "AVX-512 without bf16"),
    (AVX512_BF16, "bf16", "avx512_bf16"),
    (AMX, "bf16", "AMX"),
    (CpuFeatures(frozenset(), ""), "fp32", "flags unknown"),  # no /proc/cpuinfo (macOS, ...)
])
def test_cpu_auto_takes_bf16_only_where_it_is_native(cpu, precision, why):
    choice = resolve_execution(AUTO, CPU, cpu=cpu)
    assert choice.precision == precision
    assert choice.amp_dtype == (torch.bfloat16 if precision == "bf16" else None)
    assert choice.channels_last  # measured faster on CPUs in fp32 and bf16 (docs/training.md)
    assert why in choice.reason and "auto" in choice.reason
    assert not choice.warning
    assert choice.line().startswith(f"precision {precision}, channels_last on: ")


@pytest.mark.parametrize("limit", [("ATEN_CPU_CAPABILITY", "avx2"), ("ONEDNN_MAX_CPU_ISA", "AVX2"),
                                   ("DNNL_MAX_CPU_ISA", "avx512_core"),
                                   ("MKL_ENABLE_INSTRUCTIONS", "AVX2"),
                                   ("MKL_ENABLE_INSTRUCTIONS", "AVX")])
def test_isa_variables_that_emulate_a_weaker_cpu_are_honoured(limit):
    limited = CpuFeatures(AMX.flags, "AVX512", (limit,))
    choice = resolve_execution(AUTO, CPU, cpu=limited)
    assert choice.precision == "fp32"
    assert f"{limit[0]}={limit[1]}" in choice.reason


def test_isa_variables_that_keep_bf16_do_not_switch_it_off():
    for name, value in [("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16"), ("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX"),
                        ("ONEDNN_MAX_CPU_ISA", "ALL"), ("ONEDNN_MAX_CPU_ISA", "something-new"),
                        ("MKL_ENABLE_INSTRUCTIONS", "AVX512"), ("ATEN_CPU_CAPABILITY", "avx512")]:
        cpu = CpuFeatures(AMX.flags, "AVX512", ((name, value),))
        assert resolve_execution(AUTO, CPU, cpu=cpu).precision == "bf16", (name, value)
    # torch's own capability says AVX2 (e.g. set by a wrapper): treated as an AVX2 machine
    assert resolve_execution(AUTO, CPU, cpu=CpuFeatures(AMX.flags, "AVX2")).precision == "fp32"


def test_probe_reads_the_emulation_variables(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    probed = CpuFeatures.probe()
    assert ("ONEDNN_MAX_CPU_ISA", "AVX2") in probed.isa_limits
    assert resolve_execution(AUTO, CPU, cpu=probed).precision == "fp32"
    assert probed.aten_capability  # torch.backends.cpu.get_cpu_capability()


@pytest.mark.parametrize("cc, precision, channels_last", [
    ((9, 0), "bf16", True), ((8, 0), "bf16", True),  # Hopper, Ampere
    ((7, 5), "fp16", True), ((7, 0), "fp16", True),  # Turing, Volta: fp16 tensor cores + GradScaler
    ((6, 1), "fp32", False),  # Pascal: neither
])
def test_cuda_auto_follows_the_compute_capability(cc, precision, channels_last):
    choice = resolve_execution(AUTO, CUDA, cuda_capability=cc)
    assert (choice.precision, choice.channels_last) == (precision, channels_last)
    assert f"{cc[0]}.{cc[1]}" in choice.reason


def test_explicit_bf16_without_native_support_warns_and_is_kept():
    run = RunSettings(precision="bf16")
    slow = resolve_execution(run, CPU, cpu=AVX2)
    assert slow.precision == "bf16" and "emulated" in slow.warning and "80x" in slow.warning
    assert not resolve_execution(run, CPU, cpu=AVX512_BF16).warning
    assert "emulated" in resolve_execution(run, CUDA, cuda_capability=(7, 5)).warning


def test_explicit_choices_are_kept():
    choice = resolve_execution(RunSettings(precision="fp32", channels_last=False), CPU, cpu=AMX)
    assert (choice.precision, choice.channels_last, choice.amp_dtype) == ("fp32", False, None)
    assert "as configured" in choice.reason
    on = resolve_execution(RunSettings(precision="fp32", channels_last=True), CUDA, cuda_capability=(9, 0))
    assert on.channels_last
    with pytest.raises(ConfigError, match="fp16.*CUDA"):
        resolve_execution(RunSettings(precision="fp16"), CPU, cpu=AMX)


def test_record_is_json_for_the_run_directory():
    rec = resolve_execution(AUTO, CPU, cpu=AVX2).record()
    assert json.loads(json.dumps(rec)) == rec
    assert rec["precision"] == "fp32" and rec["channels_last"] is True and "AVX2" in rec["precision_reason"]


def test_config_accepts_auto_and_booleans_and_rejects_the_rest():
    cfg = get_preset("demo")
    assert apply_overrides(cfg, ["run.channels_last=true"]).run.channels_last is True
    assert apply_overrides(cfg, ["run.channels_last=off"]).run.channels_last is False
    assert apply_overrides(cfg, ["run.precision=fp32", "run.channels_last=auto"]).run.precision == "fp32"
    with pytest.raises(ConfigError, match="run.channels_last = 1"):
        apply_overrides(cfg, ["run.channels_last=1"])
    with pytest.raises(ConfigError, match="run.precision = 'fp64'"):
        apply_overrides(cfg, ["run.precision=fp64"])


def test_training_step_uses_the_resolved_choice(monkeypatch):
    from gtgan.training.step import Trainer

    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")  # read by our probe; torch's kernels keep theirs
    cfg = apply_overrides(get_preset("demo"), ["model.ngf=4", "model.ndf=4", "model.c_dim=8",
                                               "model.z_dim=8"])
    step = Trainer(settled_config(cfg), CPU)
    assert step.execution.precision == "fp32" and step.amp_dtype is None
    assert step.memory_format == torch.channels_last
    assert next(step.G.parameters()).dtype == torch.float32


def test_run_prints_and_records_its_choice(tmp_path, capsys):
    from gtgan.training import train

    cfg = apply_overrides(get_preset("demo"), [
        "model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8", "optim.batch_size=2",
        "run.max_steps=1", "run.sample_every=0", "run.checkpoint_every=0", "run.log_every=1",
        "data.synthetic_count=8", "run.precision=fp32"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine: one thread is faster for tiny steps
    try:
        train(cfg, tmp_path / "run", progress=False)
    finally:
        torch.set_num_threads(threads)
    line = [s for s in capsys.readouterr().err.splitlines() if "precision fp32" in s]
    assert line == ["gtgan train: precision fp32, channels_last on: run.precision=fp32 as configured; "
                    "channels_last=auto: on for fp32 on cpu"]
    env = json.loads((tmp_path / "run" / "env.json").read_text())["runs"][-1]
    assert (env["precision"], env["channels_last"]) == ("fp32", True)
    assert "channels_last=auto" in env["precision_reason"]
