"""What EfficientNet-Lite0 features cost: the fidelity loss's forward + backward (to the images,
as the generator's update needs) per batch, and the shape measure's pooled-feature throughput.

    PYTHONPATH=. python benchmarks/lite0.py              # the tables of docs/benchmarks.md
    PYTHONPATH=. python benchmarks/lite0.py --reps 5 --batch 32

Median of --reps timed repetitions after one warm-up, in this process, torch's default threads.
On a machine other work shares, `--threads 1 --cpu-time` gives the work itself: one thread's
CPU seconds, which preemption does not inflate (wall seconds on an idle 2-core machine are
about half of them, less the threads' imperfect scaling).
"""
from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from gtgan.models.lite0 import Lite0Features, _StridedDepthwiseInFp32


CLOCK = time.perf_counter  # --cpu-time: this process's CPU time instead (see the docstring)


def _time(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = CLOCK()
        fn()
        times.append(CLOCK() - t)
    return statistics.median(times)


def fidelity_cost(net, batch: int, size: int, feed: int, stride: int, bf16: bool, reps: int) -> float:
    """Seconds for features of a fake and a real batch, L1, backward to the fake images."""
    fake = (torch.rand(batch, 3, size, size) * 2 - 1).requires_grad_(True)
    real = torch.rand(batch, 3, size, size) * 2 - 1

    def step():
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            f, r = fake, real
            if feed != size:
                f = F.interpolate(f, size=feed, mode="bilinear", align_corners=False)
                r = F.interpolate(r, size=feed, mode="bilinear", align_corners=False)
            with torch.no_grad():
                rf = net(r, (stride,))[stride]
            loss = (net(f, (stride,))[stride].float() - rf.float()).abs().mean()
        loss.backward()
        fake.grad = None

    return _time(step, reps)


def projected_cost(net, batch: int, bf16: bool, reps: int) -> float:
    """Seconds for the projected discriminators' view of a 64-px stage: strides 4, 8 and 16 of a
    real batch (no gradients) and a generated one, backward to the generated pictures."""
    fake = (torch.rand(batch, 3, 64, 64) * 2 - 1).requires_grad_(True)
    real = torch.rand(batch, 3, 64, 64) * 2 - 1
    strides = (4, 8, 16)

    def step():
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            with torch.no_grad():
                net(real, strides)
            out = net(fake, strides)
            loss = sum(v.float().square().mean() for v in out.values())
        loss.backward()
        fake.grad = None

    return _time(step, reps)


def without_fp32_depthwise(net):
    """The same network with its strided depthwise convolutions left to autocast (as before
    2026-12-07), to show what running them in fp32 saves."""
    plain = copy.deepcopy(net)
    for block in plain.net._blocks:
        if isinstance(block._depthwise_conv, _StridedDepthwiseInFp32):
            block._depthwise_conv = block._depthwise_conv.conv
    return plain


def pooled_throughput(net, batch: int, size: int, feed: int, bf16: bool, reps: int) -> float:
    """Images per second of pooled 1280-d features (no gradients), resizing included."""
    x = torch.rand(batch, 3, size, size) * 2 - 1

    def run():
        with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            y = x if feed == size else F.interpolate(x, size=feed, mode="bilinear", antialias=True,
                                                     align_corners=False)
            net(y, ("pooled",))

    return batch / _time(run, reps)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--cpu-time", action="store_true", help="time with process CPU time")
    args = p.parse_args()
    global CLOCK
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cpu_time:
        CLOCK = time.process_time
    net = Lite0Features()
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {'CPU' if args.cpu_time else 'wall'} seconds, "
          f"load average {open('/proc/loadavg').read().split()[:3]}")
    print(f"\nfidelity: forward (fake + real, no grad for real) + backward, batch {args.batch}")
    print("| image | fed at | stride | fp32 s | bf16 s |\n|---|---|---|---|---|")
    for size, feed, stride in [(64, 64, 16), (64, 128, 16), (128, 128, 16), (128, 128, 8),
                               (128, 224, 16)]:
        fp32 = fidelity_cost(net, args.batch, size, feed, stride, False, args.reps)
        bf16 = fidelity_cost(net, args.batch, size, feed, stride, True, args.reps)
        print(f"| {size} | {feed} | {stride} | {fp32:.3f} | {bf16:.3f} |", flush=True)
    print(f"\nprojected discriminators' features (strides 4, 8, 16 at 64 px): real + generated "
          f"forward, backward to the generated, batch {args.batch}")
    print("| fp32 s | bf16 s, strided depthwise in bf16 | bf16 s, strided depthwise in fp32 "
          "(shipped) |\n|---|---|---|")
    plain = without_fp32_depthwise(net)
    fp32 = projected_cost(net, args.batch, False, args.reps)
    before = projected_cost(plain, args.batch, True, args.reps)
    shipped = projected_cost(net, args.batch, True, args.reps)
    print(f"| {fp32:.3f} | {before:.3f} | {shipped:.3f} |", flush=True)
    print(f"\npooled features (shape measure), batch {args.batch}, images per second")
    print("| image | fed at | fp32 img/s | bf16 img/s |\n|---|---|---|---|")
    for size, feed in [(128, 128), (128, 224)]:
        fp32 = pooled_throughput(net, args.batch, size, feed, False, args.reps)
        bf16 = pooled_throughput(net, args.batch, size, feed, True, args.reps)
        print(f"| {size} | {feed} | {fp32:.0f} | {bf16:.0f} |", flush=True)


if __name__ == "__main__":
    main()
