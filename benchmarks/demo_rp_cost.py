"""What R-precision adds to the demo's evaluation (`gtgan demo --rp-encoder DIR`), measured
the way the demo measures it in its preparation (gtgan.demo.check_rp_encoder, measure_rp),
and checked against the metric itself: `evaluate_generator` with r_precision alone on a
generator of random pictures, at two sample counts (slope: seconds per sample; intercept:
the fixed part). Without --rp-encoder it uses an untrained DAMSM of the `synthetic-small`
encoder preset (its cost does not depend on its weights).

    python benchmarks/demo_rp_cost.py [--rp-encoder DIR] [--samples 100,300] [--threads N]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, machine_lines, make_parser, setup_torch  # noqa: E402

from gtgan.data import build_dataset  # noqa: E402
from gtgan.demo import check_rp_encoder, demo_config, measure_rp  # noqa: E402
from gtgan.metrics import EvalOptions, evaluate_generator  # noqa: E402


def untrained_synthetic_small(directory: Path, cfg) -> Path:
    from gtgan.data.damsm_folder import Damsm, save_damsm
    from gtgan.storage.damsm_init import initial_image_net
    from gtgan.data.damsm_vocab import Vocabulary
    from gtgan.models.damsm import DamsmTextNet
    from gtgan.training.damsm_config import encoder_preset
    from gtgan.training.damsm_train import all_captions, encoder_datasets

    enc = encoder_preset("synthetic-small")
    train, _ = encoder_datasets(enc, train_only=True)
    vocab = Vocabulary.build(all_captions(train))
    image, info = initial_image_net(enc.damsm, enc.image_weights)
    save_damsm(directory, Damsm(enc.damsm, vocab, DamsmTextNet(len(vocab), enc.damsm), image), info,
               {"data": {"kind": "synthetic"}, "note": "untrained, for timing"})
    return directory


def main() -> None:
    p = make_parser(__doc__.splitlines()[0])
    p.add_argument("--rp-encoder", metavar="DIR", help="a DAMSM folder (default: untrained synthetic-small)")
    p.add_argument("--samples", default="100,300", help="two sample counts for the check")
    args = p.parse_args()
    setup_torch(args.threads)
    import torch

    print(machine_lines(machine_info(torch.device("cpu"))))
    counts = [int(x) for x in args.samples.split(",")][:2]
    if args.quick:
        counts = [20, 60]
    cfg = demo_config(15)
    with tempfile.TemporaryDirectory() as tmp:
        spec = args.rp_encoder or str(untrained_synthetic_small(Path(tmp) / "damsm", cfg))
        damsm, load_s = check_rp_encoder(cfg, spec)
        fixed, per_sample = measure_rp(cfg, damsm, 50)
        print(f"{damsm.describe()}: check and load {load_s:.2f} s; caption bank {fixed:.2f} s; "
              f"{1000 * per_sample:.1f} ms per sample at {cfg.model.image_sizes} (demo's measurement)")
        sizes = cfg.model.image_sizes
        test = build_dataset(cfg.data, "test", sizes, train=False, seed=cfg.run.seed)

        def generate(text, z, eps):
            return [torch.rand(len(text), 3, s, s) * 2 - 1 for s in sizes]

        seconds = []
        for n in counts:
            opts = EvalOptions(metrics=("r_precision",), samples=n, seed=0, progress=False,
                               rp_encoder=str(damsm.path))
            t = time.perf_counter()
            evaluate_generator(generate, test, sizes, 8, 8, opts)
            seconds.append(time.perf_counter() - t)
            print(f"r_precision alone, {n} samples per scale: {seconds[-1]:.1f} s")
    slope = (seconds[1] - seconds[0]) / (counts[1] - counts[0])
    print(f"metric itself: {1000 * slope:.1f} ms per sample (real pictures drawn included), fixed "
          f"{seconds[0] - slope * counts[0]:.1f} s; at the demo's 500 samples the plan adds "
          f"{load_s + fixed + 500 * per_sample:.0f} s")


if __name__ == "__main__":
    main()
