"""One training step (D update per scale + G update), per configuration, against the naive reference.

Configurations: the `paper` and `stackgan++` presets in fp32 and in bf16 autocast +
channels_last, the `paper` model with model.pam_impl=naive (DANet's materialised N x N
position attention: the straightforward port, the reference point) in both precisions, and the
`demo` model's step at its own batch (32), stage 1 alone (its warm-up) and both stages, in fp32
with and without channels_last and in bf16. bf16 is measured only where the hardware computes
it (see _common.native_precisions); elsewhere its configurations are skipped with a note.
Each runs in a fresh child process: Trainer(cfg) with random weights, VGG19 with random weights
for the paper's fidelity loss (same cost as the ImageNet weights), a random batch
(make_fake_batch); one step at batch 2 to page in code and allocate the optimiser state; then
the memory baseline; --warmup steps; --repeats timed steps; one more step under
torch.utils.flop_counter.FlopCounterMode. Achieved FLOP/s is compared with the best square
matrix multiply this script measures on the same device (fp32 and bf16).

    .venv/bin/python benchmarks/train_step.py [--device cuda] [--quick] [--json out.json]
        [--profile paper-bf16]   # also print a torch.profiler table of that configuration
"""
from __future__ import annotations

import sys

import torch

from _common import (best_peaks, DTYPES, _status_kib, fmt_mib, fmt_s, fmt_share, gemm_peak, gemm_peaks,
                     machine_info, machine_lines, make_parser, markdown_table, measure, MIB,
                     native_precisions, OTHERS_NOTE, peaks_text, PeakMemory, start, summary,
                     time_calls, wait_for_quiet, write_json)

CONFIGS = [  # (label, preset, precision, pam_impl, channels_last, stages trained: 0 = all)
    ("paper-fp32", "paper", "fp32", "sdpa", False, 0),
    ("paper-bf16", "paper", "bf16", "sdpa", True, 0),
    ("stackgan++-fp32", "stackgan++", "fp32", "sdpa", False, 0),
    ("stackgan++-bf16", "stackgan++", "bf16", "sdpa", True, 0),
    ("paper-naive-fp32", "paper", "fp32", "naive", False, 0),
    ("paper-naive-bf16", "paper", "bf16", "naive", True, 0),
    ("demo-stage1-fp32", "demo", "fp32", "sdpa", True, 1),
    ("demo-stage1-fp32-nchw", "demo", "fp32", "sdpa", False, 1),
    ("demo-stage1-bf16", "demo", "bf16", "sdpa", True, 1),
    ("demo-fp32", "demo", "fp32", "sdpa", True, 0),
    ("demo-fp32-nchw", "demo", "fp32", "sdpa", False, 0),
    ("demo-bf16", "demo", "bf16", "sdpa", True, 0),
]
FIELDS = ("preset", "precision", "pam_impl", "channels_last", "stages")
REFERENCE = "paper-naive-fp32"
QUICK_OVERRIDES = ["model.ngf=8", "model.ndf=8", "model.c_dim=8", "model.z_dim=8", "loss.fidelity=false"]


def build(spec: dict):
    """Trainer and a batch for one configuration."""
    from gtgan.config import apply_overrides
    from gtgan.models import VGGFeatures
    from gtgan.presets import get_preset, settled_config
    from gtgan.training.step import Trainer, make_fake_batch

    device = torch.device(spec["device"])
    over = [f"run.precision={spec['precision']}", f"run.channels_last={spec['channels_last']}",
            f"optim.batch_size={spec['batch']}", f"run.device={device}",
            # stage 1 alone (a stage warm-up that never ends) or every stage from the first step
            f"optim.stage_warmup_steps={10**9 if spec['stages'] == 1 else 0}"]
    if spec["preset"] == "paper":
        over.append(f"model.pam_impl={spec['pam_impl']}")
    if spec["quick"]:
        over += QUICK_OVERRIDES
    cfg = settled_config(apply_overrides(get_preset(spec["preset"]), over))
    torch.manual_seed(0)
    lc = cfg.loss
    vgg = VGGFeatures("random") if lc.fidelity and lc.fidelity_weight > 0 and lc.fidelity_features != "pixels" else None
    step = Trainer(cfg, device, fidelity_net=vgg)
    return cfg, step, make_fake_batch


def run_one(spec: dict) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    device = torch.device(spec["device"])
    peak_here = gemm_peak(device, DTYPES[spec["precision"]], spec["quick"])  # same conditions as the step
    cfg, step, make_fake_batch = build(spec)
    step(make_fake_batch(cfg, 2, device, seed=1))  # code paged in, Adam state allocated
    batch = make_fake_batch(cfg, spec["batch"], device)
    mem = PeakMemory(device)
    mem.start()
    times = time_calls(lambda: step(batch), device, spec["warmup"], spec["repeats"])
    peak = mem.peak_bytes()
    rss_peak = (_status_kib("VmHWM") or 0) * 1024 if device.type == "cpu" else None
    counter = FlopCounterMode(display=False)
    with counter:
        step(batch)
    by_module = {}
    for name, counts in counter.get_flop_counts().items():
        if name != "Global" and "." not in name:
            by_module[name] = sum(counts.values())
    return {"time": summary(times), "peak_bytes": peak, "rss_peak_bytes": rss_peak,
            "memory_method": mem.method, "flops": counter.get_total_flops(),
            "flops_by_module": by_module, "vgg_random": step.vgg_random, "gemm_peak_flops": peak_here,
            "threads": torch.get_num_threads()}


def profile(spec: dict, rows: int = 25) -> str:
    """torch.profiler table of one step (after two warm-up steps), sorted by self CPU time."""
    from torch.profiler import ProfilerActivity, profile as tprofile

    device = torch.device(spec["device"])
    cfg, step, make_fake_batch = build(spec)
    batch = make_fake_batch(cfg, spec["batch"], device)
    for _ in range(2):
        step(batch)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with tprofile(activities=acts) as prof:
        step(batch)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows, max_name_column_width=50)


def main() -> None:
    p = make_parser(__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=0, help="default 8 (the paper's) on CPU, 32 on CUDA; "
                   "the demo's rows use the demo's batch (32)")
    p.add_argument("--configs", default="", help="comma-separated labels (default: all): "
                   + ", ".join(c[0] for c in CONFIGS))
    p.add_argument("--profile", metavar="LABEL", help="also profile one step of this configuration")
    started = start(p, run_one)
    if started is None:
        return
    args, device = started

    quick = args.quick
    batch = args.batch or (2 if quick else (8 if device.type == "cpu" else 32))
    demo_batch = args.batch or (2 if quick else 32)
    warmup = args.warmup or (1 if quick else 2)
    repeats = args.repeats or (2 if quick else 5)
    wanted = [c for c in args.configs.split(",") if c] or [c[0] for c in CONFIGS]
    unknown = set(wanted) - {c[0] for c in CONFIGS}
    if args.profile:
        unknown |= {args.profile} - {c[0] for c in CONFIGS}
    if unknown:
        raise SystemExit(f"unknown --configs/--profile {sorted(unknown)}; known: {[c[0] for c in CONFIGS]}")
    info = machine_info(device)
    title = f"# Training step, batch {batch} (demo: {demo_batch})" + (" (QUICK: tiny widths, no VGG; not a measurement)" if quick else "")
    precisions, skip_note = native_precisions(device)
    print(f"{title}\n\n{machine_lines(info)}\n" + (f"\n{skip_note}\n" if skip_note else ""), flush=True)

    if args.quiet_wait:
        wait_for_quiet(args)
    peaks = gemm_peaks(device, precisions, quick)
    print(f"  GEMM peak: {peaks_text(peaks)}", file=sys.stderr, flush=True)

    results, skipped = {}, []
    for label, *fields in CONFIGS:
        if label not in wanted:
            continue
        spec = dict(label=label, **dict(zip(FIELDS, fields)), device=str(device), warmup=warmup,
                    repeats=repeats, quick=quick)
        spec["batch"] = demo_batch if spec["preset"] == "demo" else batch
        if spec["precision"] not in precisions:
            skipped.append(label)
            print(f"  {label}: skipped ({spec['precision']} is emulated here)", file=sys.stderr, flush=True)
            continue
        res = measure(run_one, __file__, spec, args)
        res.update(spec)
        results[label] = res
        msg = res.get("error") or f"median {res['time']['median']:.3f} s, +{res['peak_bytes'] / MIB:.0f} MiB"
        print(f"  {label}: {msg}", file=sys.stderr, flush=True)

    peaks = best_peaks(peaks, results.values())
    ref = results.get(REFERENCE)
    ref_t = ref["time"]["median"] if ref and "time" in ref else None
    rows = []
    for label, r in results.items():
        if "error" in r:
            rows.append([label, r["preset"], r["pam_impl"], r["precision"]] + [""] * 12
                        + ["error: " + r["error"]])
            continue
        t = r["time"]
        med = t["median"]
        achieved = r["flops"] / med
        other = results.get(label.replace("-bf16", "-fp32")) if label.endswith("-bf16") else None
        rows.append([
            label, r["preset"] + (" stage 1" if r["stages"] == 1 else ""),
            "naive N x N" if r["pam_impl"] == "naive" else ("-" if r["preset"] == "stackgan++" or r["stages"] == 1 else "ours"),
            r["precision"] + (" + channels_last" if r["channels_last"] else ""), r["batch"],
            fmt_s(med), f"{fmt_s(t['min'])}-{fmt_s(t['max'])}", fmt_s(t.get("cpu_median")),
            f"{r['batch'] / med:,.1f}",
            fmt_mib(r["peak_bytes"]),
            fmt_mib(r.get("rss_peak_bytes")), f"{r['flops'] / 1e9:,.0f}", f"{achieved / 1e9:,.0f}",
            f"{achieved / peaks[r['precision']]:.0%}",
            f"{ref_t / med:.2f}x" if ref_t else "",
            f"{other['time']['median'] / med:.2f}x" if other and "time" in other else "",
            fmt_share(r.get("other_cpu_share"))])
    print(markdown_table(
        ["config", "preset", "position attention", "precision", "batch", "median s/step", "min-max s",
         "CPU s/step", "images/s", "peak added MiB", "peak RSS MiB", "GFLOP/step", "achieved GFLOP/s", "of GEMM peak",
         f"speed-up vs {REFERENCE}", "bf16 vs fp32", "others' CPU"], rows))
    method = next((r["memory_method"] for r in results.values() if "memory_method" in r), "")
    print(f"\nGEMM peak measured here: {peaks_text(peaks)} (best square torch.mm seen in this run, "
          f"in the parent or in any configuration's process)."
          + (f" {skip_note} Skipped: {', '.join(skipped)}." if skipped else "") + f" Time: median of {repeats} "
          f"steps after {warmup} warm-up; CPU s/step: the process's CPU time (median). Memory: {method}; the baseline holds the models, the "
          f"optimiser state and the batch. FLOPs: FlopCounterMode (matmuls and convolutions, "
          f"forward and backward, as executed). VGG19 and all networks have random weights. "
          + OTHERS_NOTE)
    payload = {"benchmark": "train_step", "machine": info, "batch": batch, "demo_batch": demo_batch,
               "gemm_peak_flops": peaks, "results": results, "skipped": skipped,
               "skip_note": skip_note}
    fields = dict(zip(FIELDS, next((c[1:] for c in CONFIGS if c[0] == args.profile), CONFIGS[0][1:])))
    if args.profile and fields["precision"] not in precisions:
        print(f"\nNo profile of {args.profile}: {skip_note}")
    elif args.profile:
        spec = dict(label=args.profile, device=str(device), quick=quick, **fields,
                    batch=demo_batch if fields["preset"] == "demo" else batch)
        if args.quiet_wait:
            wait_for_quiet(args)
        table = profile(spec)
        print(f"\n## Profile of one step: {args.profile}, batch {spec['batch']}\n\n```\n{table}\n```")
        payload["profile"] = {"label": args.profile, "table": table}
    write_json(args.json, payload)


if __name__ == "__main__":
    main()
