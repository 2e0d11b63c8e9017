"""The `gtgan` command: thin subcommands over the library. Each `_add_*` registers one."""
from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import GtganError


# ---------------------------------------------------------------- config
def _add_config(sub) -> None:
    p = sub.add_parser("config", help="print a preset or config file, resolved, as YAML")
    p.add_argument("preset", help="preset name or YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=_cmd_config)


def _cmd_config(args) -> int:
    import yaml

    from .config import apply_overrides, to_dict
    from .presets import resolve_config

    cfg = apply_overrides(resolve_config(args.preset), args.overrides)
    sys.stdout.write(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return 0


# ---------------------------------------------------------------- import-stackgan-v2
def _add_import(sub) -> None:
    p = sub.add_parser("import-stackgan-v2",
                       help="convert an official StackGAN-v2 checkpoint into a gtgan model folder")
    p.add_argument("generator", help="netG_*.pth saved by the official code (torch.save of a state dict)")
    p.add_argument("--discriminators", nargs="*", default=[], metavar="netD*.pth",
                   help="official netD0.pth, netD1.pth, ... (optional)")
    p.add_argument("--out", required=True, help="model folder to write")
    p.set_defaults(func=_cmd_import)


def _cmd_import(args) -> int:
    from .stackgan_v2 import import_checkpoint

    out = import_checkpoint(args.generator, args.discriminators, args.out)
    print(f"wrote {out}")
    return 0


# ---------------------------------------------------------------- generate / interpolate
def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="images from your own captions, as a grid PNG")
    p.add_argument("model", help="a training run directory or a model folder")
    p.add_argument("captions", nargs="+", help="one or more captions (quote each)")
    p.add_argument("-n", "--num-images", type=int, default=8, help="images per caption (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=int, default=None, help="image size, e.g. 64 or 128 (default: largest)")
    p.add_argument("-o", "--out", default="generated.png", help="grid PNG to write")
    p.add_argument("--each", metavar="DIR", help="also write every image as its own PNG into DIR")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_generate)


def _cmd_generate(args) -> int:
    from pathlib import Path

    from .pipeline import TextToImage, captioned_grid, tensor_to_pil

    pipe = TextToImage.from_pretrained(args.model, device=args.device)
    grid = pipe.generate_grid_tensors(args.captions, args.num_images, args.seed, args.scale)
    rows = [tensor_to_pil(row) for row in grid]
    _write_png(captioned_grid(rows, [" ".join(c.split()) for c in args.captions]), args.out)
    print(f"wrote {args.out} ({len(rows)} caption(s) x {args.num_images} image(s), "
          f"{grid.shape[-1]}px, seed {args.seed})")
    if args.each:
        out_dir = Path(args.each)
        out_dir.mkdir(parents=True, exist_ok=True)
        for i, row in enumerate(rows):
            for j, im in enumerate(row):
                _write_png(im, out_dir / f"caption{i:02d}_seed{args.seed}_{j:02d}.png")
        print(f"wrote {len(rows) * args.num_images} images into {out_dir}")
    return 0


def _add_interpolate(sub) -> None:
    p = sub.add_parser("interpolate", help="a strip PNG between two captions, or between two noises")
    p.add_argument("model", help="a training run directory or a model folder")
    p.add_argument("caption_a")
    p.add_argument("caption_b", nargs="?", help="second caption; without it the noise is interpolated")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seed-b", type=int, default=None, help="end noise seed (noise mode; default seed+1)")
    p.add_argument("--scale", type=int, default=None)
    p.add_argument("-o", "--out", default="interpolation.png")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_interpolate)


def _cmd_interpolate(args) -> int:
    from .pipeline import TextToImage, image_strip

    pipe = TextToImage.from_pretrained(args.model, device=args.device)
    if args.caption_b:
        images = pipe.interpolate_captions(args.caption_a, args.caption_b, args.steps, args.seed, args.scale)
        label = f"{args.caption_a}  ->  {args.caption_b}"
    else:
        images = pipe.interpolate_noise(args.caption_a, args.steps, args.seed, args.seed_b, args.scale)
        label = f"{args.caption_a}  (noise {args.seed} -> {args.seed_b if args.seed_b is not None else args.seed + 1})"
    _write_png(image_strip(images, label[:150]), args.out)
    print(f"wrote {args.out} ({len(images)} steps)")
    return 0


def _write_png(image, path) -> None:
    """Atomic PNG write: a half-written file never replaces a good one."""
    import os
    from pathlib import Path

    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, path)


# ---------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gtgan",
        description="Gt-StackGAN text-to-image GAN: train, evaluate and generate birds from text.")
    parser.add_argument("--version", action="version", version=f"gtgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_config, _add_import, _add_generate, _add_interpolate):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except GtganError as exc:
        print(f"gtgan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gtgan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
