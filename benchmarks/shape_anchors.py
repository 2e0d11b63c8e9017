"""Does the shape measure (metrics/lite0_fd.py) decide? Its anchors on the demo's held-out
birds for several seeds of the halves, at the demo's sample count, and what it costs.

    PYTHONPATH=. python benchmarks/shape_anchors.py --seeds 5 --feed 128 224
    PYTHONPATH=. python benchmarks/shape_anchors.py --parts   # what each flaw of a drawn bird costs

For every seed the split is divided into two disjoint halves (reference A, anchors B) as the
metric does with that seed; FD and KID of B, B blurred and B as one-colour blobs against A.
Features of every picture are computed once per feed size and reused across seeds.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

import gtgan.metrics.lite0_fd as M
from gtgan.config import EncoderConfig
from gtgan.data import BOW_DIM, build_encoder
from gtgan.data.base import multiscale_views
from gtgan.data.synthetic import SyntheticBirds, _pose, draw_bird
from gtgan.metrics.frechet import frechet_distance_from_samples as _fd
from gtgan.metrics.judge_fid import blur
from gtgan.models.lite0 import Lite0Features


def features(net: Lite0Features, pictures: torch.Tensor) -> torch.Tensor:
    """Pooled Lite0 features, 50 pictures at a time (as the metric feeds them)."""
    return torch.cat([M.pooled_features(net, pictures[i:i + 50]) for i in range(0, len(pictures), 50)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=3000, help="data.synthetic_count (demo: 3000)")
    p.add_argument("--samples", type=int, default=500, help="--samples (demo: 500)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--feed", type=int, nargs="+", default=[128])
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--cache", help="a folder to keep the features in between runs")
    p.add_argument("--metric", action="store_true", help="also time the metric as the demo runs it")
    p.add_argument("--parts", action="store_true",
                   help="instead: the position of real birds redrawn with one flaw each (a part left "
                        "out, a bow tie, a flat background, drawn at 64 px, blurred by 1-2 px)")
    args = p.parse_args()
    if args.parts:
        return parts_positions(args.count, args.samples, args.size)
    test = SyntheticBirds("test", args.count, 0, build_encoder(EncoderConfig(kind="bow", dim=BOW_DIM)),
                          [64, args.size], train=False, seed=0)
    reals = torch.stack([test.real_image(i, args.size) for i in range(len(test))])
    variants = {"real": reals, "blurred_real": blur(reals, args.size / 32), "blobs": M.blob_pictures(reals)}
    net = Lite0Features()
    print(f"{len(test)} held-out pictures at {args.size} px, halves of at most {args.samples}; "
          f"{torch.get_num_threads()} threads, load average {open('/proc/loadavg').read().split()[:3]}")
    for feed in args.feed:
        M.FEED_SIZE = feed
        cache = Path(args.cache) / f"lite0-anchors-{args.count}-{args.size}-{feed}.pt" if args.cache else None
        t = time.perf_counter()
        if cache is not None and cache.is_file():
            feats, secs = torch.load(cache, weights_only=True), float("nan")
        else:
            feats = {k: features(net, v) for k, v in variants.items()}
            secs = time.perf_counter() - t
            if cache is not None:
                torch.save(feats, cache)
        rows = {k: [] for k in variants} | {f"kid_{k}": [] for k in variants}
        for seed in range(args.seeds):
            ref, anc = M.halves(len(test), args.samples, seed)
            for k, f in feats.items():
                rows[k].append(_fd(f[anc], feats["real"][ref]))
                rows[f"kid_{k}"].append(1000 * M.kid(f[anc], feats["real"][ref], seed)[0])
        print(f"\nfeed {feed} px: {3 * len(test)} pictures in {secs:.1f} s "
              f"({3 * len(test) / secs:.0f} img/s)")
        print("| anchor | FD mean | FD sd | KID x1000 mean | KID sd |\n|---|---|---|---|---|")
        for k in variants:
            fd, kd = rows[k], rows[f"kid_{k}"]
            print(f"| {k} | {statistics.mean(fd):.2f} | {statistics.stdev(fd):.2f} | "
                  f"{statistics.mean(kd):.3f} | {statistics.stdev(kd):.3f} |")
        for name, key in (("FD", ""), ("KID", "kid_")):
            gap = statistics.mean(rows[key + "blurred_real"]) - statistics.mean(rows[key + "real"])
            spread = max(statistics.stdev(rows[key + "real"]), statistics.stdev(rows[key + "blurred_real"]))
            print(f"{name}: blurred - real = {gap:.3f}, largest seed sd {spread:.3f}: "
                  f"{gap / spread:.0f}x")
    if args.metric:
        time_metric(test, args.samples)


FLAWS = {  # name -> draw_bird options (benchmarks only: the data is always drawn whole)
    "no legs": dict(leave_out=("legs",)), "no beak": dict(leave_out=("beak",)),
    "no eye": dict(leave_out=("eye",)), "no tail": dict(leave_out=("tail",)),
    "no outlines": dict(leave_out=("outline",)),
    "no beak, eye or legs": dict(leave_out=("beak", "eye", "legs")),
    "no beak, eye, legs or tail": dict(leave_out=("beak", "eye", "legs", "tail")),
    "bow tie (a head at both ends, no tail)": dict(both_ways=True),
    "flat background (its mean colour)": dict(flat_background=True),
}


def parts_positions(count: int, samples: int, size: int) -> None:
    """Where flawed but otherwise exact drawings of half B land on the shape measure (position
    against reference half A, as lite0_fd computes it): what a position target asks for."""
    test = SyntheticBirds("test", count, 0, build_encoder(EncoderConfig(kind="bow", dim=BOW_DIM)),
                          [64, size], train=False, seed=0)
    ref, anc = M.halves(len(test), samples)
    net = Lite0Features()

    def redrawn(**options) -> torch.Tensor:
        out = []
        for i in anc:
            a = test.attribute_indices(i)
            im = draw_bird(a, _pose(test.synthetic_seed, test.split, i, a["size"]), **options)
            out.append(multiscale_views(im, [size], None)[0])
        return torch.stack(out)

    reference = features(net, torch.stack([test.real_image(i, size) for i in ref]))
    half_b = torch.stack([test.real_image(i, size) for i in anc])
    real = _fd(features(net, half_b), reference)
    blurred = _fd(features(net, blur(half_b, size / 32)), reference)
    print(f"{len(anc)} held-out birds at {size} px against {len(ref)} others (Lite0, feed "
          f"{M.FEED_SIZE} px); real {real:.1f}, blurred (sigma {size / 32:g} px) {blurred:.1f}; "
          f"load average {open('/proc/loadavg').read().split()[:3]}")
    rows = {name: redrawn(**opts) for name, opts in FLAWS.items()}
    small = torch.stack([test.real_image(i, 64) for i in anc])
    rows["drawn at 64 px, upsampled"] = torch.nn.functional.interpolate(
        small, size=size, mode="bilinear", align_corners=False)
    rows["blurred, sigma 1 px"] = blur(half_b, 1.0)
    rows["blurred, sigma 2 px"] = blur(half_b, 2.0)
    print("| real birds, flawed | FD | position (0 real, 1 blurred) |\n|---|---|---|")
    for name, pics in rows.items():
        value = _fd(features(net, pics), reference)
        print(f"| {name} | {value:.1f} | {(value - real) / (blurred - real):.2f} |")


def time_metric(test, samples: int) -> None:
    """The metric as the demo runs it: `samples` samples (stand-in: each caption's real
    picture at 64 and 128 px) through gtgan's evaluation loop, lite0_fd alone."""
    from gtgan.metrics import EvalOptions, evaluate_generator

    def generate(text, z, eps):
        n = text.shape[0]
        pics = torch.stack([test.real_image(i % len(test), 128) for i in range(n)])
        return [torch.nn.functional.interpolate(pics, size=64, mode="area"), pics]

    opts = EvalOptions(metrics=("lite0_fd",), samples=samples, progress=False)
    t = time.perf_counter()
    res = evaluate_generator(generate, test, [64, 128], 100, 128, opts)
    total = time.perf_counter() - t
    r = res["results"]["128"]["lite0_fd"]
    print(f"\nlite0_fd in the evaluation loop, {samples} samples at 64 and 128 px: {total:.1f} s in all, "
          f"of which generating and scoring {res['seconds']:.1f} s (the rest: reference and anchors); "
          f"anchors real {r['real']:.1f}, blurred {r['blurred_real']:.1f}, blobs {r['blobs']:.1f}; "
          f"load average {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
