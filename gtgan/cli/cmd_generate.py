"""`gtgan generate` and `gtgan interpolate`: pictures from captions, as PNGs."""
from __future__ import annotations

from ._shared import DATA_ROOT_HELP


def add_generate(sub) -> None:
    p = sub.add_parser("generate", help="images from your own captions, as a grid PNG")
    p.add_argument("model", help="a training run directory or a model folder")
    p.add_argument("captions", nargs="+", help="one or more captions (quote each)")
    p.add_argument("-n", "--num-images", type=int, default=8, help="images per caption (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=int, default=None, help="image size, e.g. 64 or 128 (default: largest)")
    p.add_argument("-o", "--out", default="generated.png", help="grid PNG to write")
    p.add_argument("--each", metavar="DIR", help="also write every image as its own PNG into DIR")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", metavar="DIR", help=DATA_ROOT_HELP)
    p.set_defaults(func=_cmd_generate)


def _cmd_generate(args) -> int:
    from pathlib import Path

    from ..fileio import atomic_save_image
    from ..images import captioned_grid, tensor_to_pil
    from ..pipeline import TextToImage

    pipe = TextToImage.from_pretrained(args.model, device=args.device, data_root=args.data_root)
    grid = pipe.generate_grid_tensors(args.captions, args.num_images, args.seed, args.scale)
    rows = [tensor_to_pil(row) for row in grid]
    atomic_save_image(args.out, captioned_grid(rows, [" ".join(c.split()) for c in args.captions]))
    print(f"wrote {args.out} ({len(rows)} caption(s) x {args.num_images} image(s), "
          f"{grid.shape[-1]}px, seed {args.seed})")
    if args.each:
        out_dir = Path(args.each)
        out_dir.mkdir(parents=True, exist_ok=True)
        for i, row in enumerate(rows):
            for j, im in enumerate(row):
                atomic_save_image(out_dir / f"caption{i:02d}_seed{args.seed}_{j:02d}.png", im)
        print(f"wrote {len(rows) * args.num_images} images into {out_dir}")
    return 0


def add_interpolate(sub) -> None:
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
    p.add_argument("--data-root", metavar="DIR", help=DATA_ROOT_HELP)
    p.set_defaults(func=_cmd_interpolate)


def _cmd_interpolate(args) -> int:
    from ..fileio import atomic_save_image
    from ..images import image_strip
    from ..pipeline import TextToImage

    pipe = TextToImage.from_pretrained(args.model, device=args.device, data_root=args.data_root)
    if args.caption_b:
        images = pipe.interpolate_captions(args.caption_a, args.caption_b, args.steps, args.seed, args.scale)
        label = f"{args.caption_a}  ->  {args.caption_b}"
    else:
        images = pipe.interpolate_noise(args.caption_a, args.steps, args.seed, args.seed_b, args.scale)
        label = f"{args.caption_a}  (noise {args.seed} -> {args.seed_b if args.seed_b is not None else args.seed + 1})"
    atomic_save_image(args.out, image_strip(images, label[:150]))
    print(f"wrote {args.out} ({len(images)} steps)")
    return 0
