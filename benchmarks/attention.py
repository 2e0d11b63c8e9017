"""Position attention alone, ours vs the naive N x N form, and channel attention in both forms.

Forward + backward of gtgan.models.attention.PositionAttention (naive=True: DANet's literal
bmm over the materialised N x N map; naive=False: chunked on the CPU, SDPA on CUDA) at
N = 32^2, 64^2, 128^2 with C = 64, B = 8, in fp32 and in bf16 autocast + channels_last (bf16
only where the hardware computes it; elsewhere skipped with a note); the
same for ChannelAttention (form "paper" with q/k/v projections, form "danet" without).
Time: median (min-max) of --repeats after --warmup; memory: the peak added on top of the
module and its input, after a first call on a 4 x 4 input has paged in the code and started
the threads (see _common.PeakMemory). A naive configuration whose N x N matrices
cannot fit in half the available memory is reported as skipped with the computed size.

    .venv/bin/python benchmarks/attention.py [--device cuda] [--quick] [--json out.json]
"""
from __future__ import annotations

import sys

import torch

from _common import (fmt_mib, fmt_share, machine_info, machine_lines, make_parser, markdown_table,
                     measure, mem_available_bytes, MIB, native_precisions, OTHERS_NOTE, PeakMemory,
                     start, summary, time_calls, write_json)

# Live N x N matrices at the naive backward's peak (probabilities saved by softmax, the
# gradient of the probabilities, the gradient of the logits), used only to decide skipping.
NAIVE_LIVE_MATRICES = 3


def run_one(spec: dict) -> dict:
    from gtgan.models.attention import ChannelAttention, PositionAttention

    device = torch.device(spec["device"])
    torch.manual_seed(0)
    b, c, side = spec["batch"], spec["channels"], spec["side"]
    bf16 = spec["precision"] == "bf16"
    fmt = torch.channels_last if bf16 else torch.contiguous_format
    if spec["module"] == "PAM":
        m = PositionAttention(c, naive=spec["impl"] == "naive")
    else:
        m = ChannelAttention(c, form=spec["impl"])
    with torch.no_grad():
        m.gamma.fill_(0.5)  # a non-zero gamma so that every gradient is computed
    m = m.to(device, memory_format=fmt)

    def make(side: int):
        x = torch.randn(b, c, side, side, device=device).contiguous(memory_format=fmt).requires_grad_()
        grad = torch.randn(b, c, side, side, device=device).contiguous(memory_format=fmt)

        def fwd_bwd():
            x.grad = None
            m.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                y = m(x)
            y.backward(grad.to(y.dtype))
        return fwd_bwd

    make(4)()  # pages in the kernels' code and starts the thread pools before the baseline
    fwd_bwd = make(side)
    mem = PeakMemory(device)
    mem.start()
    times = time_calls(fwd_bwd, device, spec["warmup"], spec["repeats"])
    return {"time": summary(times), "peak_bytes": mem.peak_bytes(), "memory_method": mem.method}


def main() -> None:
    p = make_parser(__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--sides", default="", help="comma-separated feature-map sides (default 32,64,128)")
    started = start(p, run_one)
    if started is None:
        return
    args, device = started

    quick = args.quick
    batch, channels = (2, 16) if quick else (args.batch, args.channels)
    sides = [int(s) for s in args.sides.split(",")] if args.sides else ([8, 16] if quick else [32, 64, 128])
    warmup = args.warmup or 1
    repeats = args.repeats or (2 if quick else 5)
    info = machine_info(device)
    precisions, skip_note = native_precisions(device)
    print(f"# Attention forward + backward, B={batch}, C={channels}\n\n{machine_lines(info)}\n"
          + (f"\n{skip_note}\n" if skip_note else ""), flush=True)

    avail = mem_available_bytes() if device.type == "cpu" else (
        torch.cuda.get_device_properties(device).total_memory)
    configs = []
    for side in sides:
        for precision in precisions:
            for module, impl in [("PAM", "naive"), ("PAM", "ours"), ("CAM", "paper"), ("CAM", "danet")]:
                configs.append(dict(module=module, impl=impl, side=side, precision=precision))

    results = []
    for cfg in configs:
        n = cfg["side"] ** 2
        nn_bytes = batch * n * n * (2 if cfg["precision"] == "bf16" else 4)
        spec = dict(cfg, device=str(device), batch=batch, channels=channels, warmup=warmup,
                    repeats=repeats)
        label = f"{cfg['module']} {cfg['impl']} N={cfg['side']}^2 {cfg['precision']}"
        if cfg["impl"] == "naive" and avail and NAIVE_LIVE_MATRICES * nn_bytes > avail / 2:
            res = {"skipped": f"needs ~{NAIVE_LIVE_MATRICES} x {nn_bytes / 2**30:.1f} GiB N x N "
                              f"matrices; {avail / 2**30:.1f} GiB available"}
        else:
            res = measure(run_one, __file__, spec, args)
        res.update(spec, n=n, nn_matrix_bytes=nn_bytes)
        results.append(res)
        status = res.get("skipped") or res.get("error") or \
            f"{res['time']['median'] * 1e3:.1f} ms, +{res['peak_bytes'] / MIB:.0f} MiB"
        print(f"  {label}: {status}", file=sys.stderr, flush=True)

    def find(module, impl, side, precision):
        for r in results:
            if (r["module"], r["impl"], r["side"], r["precision"]) == (module, impl, side, precision):
                return r
        return None

    rows = []
    for r in results:
        t = r.get("time")
        naive = find("PAM", "naive", r["side"], r["precision"]) if r["module"] == "PAM" else None
        speed = mem_ratio = ""
        if r["module"] == "PAM" and r["impl"] == "ours" and naive and naive.get("time") and t:
            speed = f"{naive['time']['median'] / t['median']:.1f}x"
            mem_ratio = f"{naive['peak_bytes'] / max(r['peak_bytes'], 1):.0f}x less"
        note = r.get("skipped") or r.get("error") or ""
        impl = {"ours": "ours (chunked)" if device.type == "cpu" else "ours (SDPA)"}.get(r["impl"], r["impl"])
        rows.append([
            r["module"], impl, f"{r['side']}^2 = {r['n']}", r["precision"] + (" + CL" if r["precision"] == "bf16" else ""),
            f"{t['median'] * 1e3:.1f}" if t else "", f"{t['min'] * 1e3:.1f}-{t['max'] * 1e3:.1f}" if t else "",
            f"{t['cpu_median'] * 1e3:.1f}" if t else "",
            fmt_mib(r.get("peak_bytes")), fmt_mib(r["nn_matrix_bytes"]) if r["module"] == "PAM" else "",
            speed, mem_ratio, fmt_share(r.get("other_cpu_share")), note])
    print(markdown_table(["module", "impl", "N", "precision", "fwd+bwd median ms", "min-max ms", "CPU ms",
                          "peak added MiB", "one N x N matrix MiB", "speed vs naive", "memory vs naive",
                          "others' CPU", "note"], rows))
    method = next((r["memory_method"] for r in results if "memory_method" in r), "")
    print(f"\nTime: median of {repeats} after {warmup} warm-up; memory: {method}. {skip_note} {OTHERS_NOTE}")
    write_json(args.json, {"benchmark": "attention", "machine": info, "batch": batch,
                           "channels": channels, "results": results})


if __name__ == "__main__":
    main()
