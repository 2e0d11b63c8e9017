"""Generation and evaluation throughput.

Generation: the generator of the `paper` and `demo` presets (random weights), eval mode, under
torch.inference_mode, batch 64 (256 on CUDA) of 128x128 images (both stages run; the 128 px
output is what is counted), in fp32 and in bf16 autocast + channels_last (bf16 only where the
hardware computes it; elsewhere skipped with a note, see _common.native_precisions).
Evaluation: torchvision's Inception-v3 forward (what the Inception Score needs) at 299 px with
RANDOM weights (same cost as the ImageNet weights), same precisions.
Each configuration runs in a fresh child process; see _common for the memory method.

    .venv/bin/python benchmarks/generate.py [--device cuda] [--quick] [--json out.json]
"""
from __future__ import annotations

import sys

import torch

from _common import (best_peaks, fmt_mib, fmt_share, gemm_peak, gemm_peaks, machine_info,
                     machine_lines, make_parser, markdown_table, measure, native_precisions,
                     OTHERS_NOTE, peaks_text, PeakMemory, start, summary, time_calls,
                     wait_for_quiet, write_json)

CONFIGS = [  # (label, what, precision)
    ("paper-fp32", "paper", "fp32"),
    ("paper-bf16", "paper", "bf16"),
    ("demo-fp32", "demo", "fp32"),
    ("demo-bf16", "demo", "bf16"),
    ("inception-fp32", "inception", "fp32"),
    ("inception-bf16", "inception", "bf16"),
]


def build(spec: dict):
    """(network, make_input(batch)) for one configuration."""
    device = torch.device(spec["device"])
    fmt = torch.channels_last if spec["precision"] == "bf16" else torch.contiguous_format
    torch.manual_seed(0)
    if spec["what"] == "inception":
        from torchvision.models import inception_v3

        side = 75 if spec["quick"] else 299  # 75 is Inception-v3's smallest input
        net = inception_v3(weights=None, aux_logits=False, init_weights=False)
        net = net.eval().to(device, memory_format=fmt)

        def make_input(n: int):
            x = torch.randn(n, 3, side, side, device=device).contiguous(memory_format=fmt)
            return lambda: net(x)
        return net, make_input

    from gtgan.config import apply_overrides
    from gtgan.models import TextFeatures, build_generator
    from gtgan.presets import get_preset, settled_config

    cfg = settled_config(get_preset(spec["what"]))
    if spec["quick"]:
        cfg = apply_overrides(cfg, ["model.ngf=8", "model.c_dim=8", "model.z_dim=8"])
    g = build_generator(cfg.model).eval().to(device, memory_format=fmt)

    def make_input(n: int):
        z = torch.randn(n, cfg.model.z_dim, device=device)
        text = TextFeatures(torch.randn(n, cfg.model.text_dim, device=device))
        return lambda: g(text, z).images[-1]
    return g, make_input


def run_one(spec: dict) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    device = torch.device(spec["device"])
    bf16 = spec["precision"] == "bf16"
    peak_here = gemm_peak(device, torch.bfloat16 if bf16 else torch.float32, spec["quick"])
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        net, make_input = build(spec)
        make_input(2)()  # code paged in, thread pools started
        fn = make_input(spec["batch"])
        mem = PeakMemory(device)
        mem.start()
        times = time_calls(fn, device, spec["warmup"], spec["repeats"])
        peak = mem.peak_bytes()
        shape = tuple(fn().shape)
        counter = FlopCounterMode(display=False)
        with counter:
            fn()
    return {"time": summary(times), "peak_bytes": peak, "memory_method": mem.method,
            "flops": counter.get_total_flops(), "output_shape": shape, "gemm_peak_flops": peak_here}


def main() -> None:
    p = make_parser(__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=0, help="default 64 on CPU, 256 on CUDA")
    started = start(p, run_one)
    if started is None:
        return
    args, device = started

    quick = args.quick
    batch = args.batch or (4 if quick else (64 if device.type == "cpu" else 256))
    warmup = args.warmup or 1
    repeats = args.repeats or (2 if quick else 5)
    info = machine_info(device)
    title = f"# Generation and evaluation throughput, batch {batch}" + (
        " (QUICK: tiny widths, 75 px Inception; not a measurement)" if quick else "")
    precisions, skip_note = native_precisions(device)
    print(f"{title}\n\n{machine_lines(info)}\n" + (f"\n{skip_note}\n" if skip_note else ""), flush=True)
    if args.quiet_wait:
        wait_for_quiet(args)
    peaks = gemm_peaks(device, precisions, quick)
    print(f"  GEMM peak: {peaks_text(peaks)}", file=sys.stderr, flush=True)

    results, skipped = {}, []
    for label, what, precision in CONFIGS:
        if precision not in precisions:
            skipped.append(label)
            print(f"  {label}: skipped ({precision} is emulated here)", file=sys.stderr, flush=True)
            continue
        spec = dict(label=label, what=what, precision=precision, device=str(device), batch=batch,
                    warmup=warmup, repeats=repeats, quick=quick)
        res = measure(run_one, __file__, spec, args)
        res.update(spec)
        results[label] = res
        msg = res.get("error") or f"{batch / res['time']['median']:.1f} images/s"
        print(f"  {label}: {msg}", file=sys.stderr, flush=True)

    peaks = best_peaks(peaks, results.values())
    rows = []
    for label, r in results.items():
        if "error" in r:
            rows.append([label, "", r["precision"]] + [""] * 8 + ["error: " + r["error"]])
            continue
        t = r["time"]
        per_s = batch / t["median"]
        what = ("Inception-v3 forward, random weights" if r["what"] == "inception"
                else f"`{r['what']}` generator, eval, inference_mode")
        rows.append([label, what, r["precision"] + (" + channels_last" if r["precision"] == "bf16" else ""),
                     "x".join(str(s) for s in r["output_shape"][-2:]) if r["what"] != "inception" else
                     ("75x75" if quick else "299x299") + " in",
                     f"{per_s:,.1f}", f"{batch / t['max']:,.1f}-{batch / t['min']:,.1f}",
                     f"{t['median'] * 1e3:,.0f}", f"{t['cpu_median'] * 1e3:,.0f}", fmt_mib(r["peak_bytes"]),
                     f"{r['flops'] / batch / 1e9:.2f}",
                     f"{r['flops'] / t['median'] / peaks[r['precision']]:.0%}",
                     fmt_share(r.get("other_cpu_share"))])
    print(markdown_table(["config", "network", "precision", "images", "images/s (median)",
                          "images/s (min-max)", "ms/batch", "CPU ms/batch", "peak added MiB", "GFLOP/image",
                          "of GEMM peak", "others' CPU"], rows))
    method = next((r["memory_method"] for r in results.values() if "memory_method" in r), "")
    print(f"\nBatch {batch}; median of {repeats} after {warmup} warm-up. GEMM peak measured here: "
          f"{peaks_text(peaks)} (best seen)." + (f" {skip_note} Skipped: {', '.join(skipped)}." if skipped else "")
          + " "
          f"Memory: {method}. All networks have random weights. {OTHERS_NOTE}")
    write_json(args.json, {"benchmark": "generate", "machine": info, "batch": batch,
                           "gemm_peak_flops": peaks, "results": results, "skipped": skipped,
                           "skip_note": skip_note})


if __name__ == "__main__":
    main()
