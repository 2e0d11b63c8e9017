"""`gtgan generate` and `gtgan interpolate`: pictures from captions, as PNGs."""
from __future__ import annotations

from ..config import MAX_IMAGES
from ._paths import (ArgumentError, check_count, check_seed, make_folder, output_dir,
                     output_file, say as _say)
from ._shared import DATA_ROOT_HELP

_CAP_HELP = (f"cap on images made by one call (default {MAX_IMAGES:,}): a guard against a typo "
             "costing hours; images are written as they are made, so memory does not grow")


def add_generate(sub) -> None:
    p = sub.add_parser("generate", help="images from your own captions, as a grid PNG")
    p.add_argument("model", help="a training run directory or a model folder")
    p.add_argument("captions", nargs="+", help="one or more captions (quote each)")
    p.add_argument("-n", "--num-images", type=int, default=8, help="images per caption (default 8)")
    p.add_argument("--seed", type=int, default=0, help="noise seed, 0 to 2**63-1 (default 0)")
    p.add_argument("--scale", type=int, default=None, help="image size, e.g. 64 or 128 (default: largest)")
    p.add_argument("-o", "--out", default=None, help="grid PNG to write (default generated.png; "
                   "with --each, no grid unless -o is given)")
    p.add_argument("--each", metavar="DIR", help="write every image as its own PNG into DIR, "
                   "batch by batch (memory stays flat for any -n)")
    p.add_argument("--force", action="store_true", help="replace the -o file if it exists")
    p.add_argument("--max-images", type=int, default=MAX_IMAGES, metavar="N", help=_CAP_HELP)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", metavar="DIR", help=DATA_ROOT_HELP)
    p.set_defaults(func=_cmd_generate)


def _check_cap(count: int, what: str, cap: int) -> None:
    if cap < 1:
        raise ArgumentError(f"--max-images {cap}: must be at least 1")
    if count > cap:
        raise ArgumentError(f"{what} = {count:,} images, over the cap of {cap:,} per call; "
                            f"raise it with --max-images {count}")


def _image_size(pipe, scale: int | None) -> int:
    if scale is not None and scale not in pipe.image_sizes:
        raise ArgumentError(f"--scale {scale}: this model makes "
                            f"{', '.join(map(str, pipe.image_sizes))} px images")
    return scale or max(pipe.image_sizes)


def _grid_fits(out, width: int, height: int, instead: str) -> None:
    """A grid is one picture in memory and on disk: refuse one past what Pillow opens without
    a decompression-bomb warning, or past what the format holds."""
    from PIL import Image

    from ..fileio import image_format

    fmt, side = image_format(out)
    limit = Image.MAX_IMAGE_PIXELS or 89_478_485
    if width * height > limit or max(width, height) > side:
        raise ArgumentError(
            f"-o {out}: the grid would be {width:,} x {height:,} px "
            f"({width * height / 1e6:.0f} Mpx; at most {limit / 1e6:.0f} Mpx, {side:,} px a side "
            f"for {fmt}); {instead}")


def _cmd_generate(args) -> int:
    check_count(args.num_images, "-n")
    check_seed(args.seed, "--seed")
    _check_cap(len(args.captions) * args.num_images,
               f"-n {args.num_images} x {len(args.captions)} caption(s)", args.max_images)
    out = args.out if args.out is not None else (None if args.each else "generated.png")
    out = output_file(out, "-o", replace=args.force) if out is not None else None
    each = output_dir(args.each, "--each") if args.each else None

    from ..fileio import atomic_save_image
    from ..images import CaptionedGrid
    from ..pipeline import TextToImage

    pipe = TextToImage.from_pretrained(args.model, device=args.device, data_root=args.data_root)
    pipe.max_images = args.max_images
    size = _image_size(pipe, args.scale)
    grid = None
    if out is not None:
        _grid_fits(out, *CaptionedGrid.size_of(len(args.captions), args.num_images, size),
                   "write the images one by one with --each DIR (without -o), or ask for fewer "
                   "with -n")
    for folder in ([out.parent] if out is not None else []) + ([each] if each is not None else []):
        _say(make_folder(folder))
    made = 0
    for r, c, im in pipe.iter_images(args.captions, args.num_images, args.seed, args.scale):
        if out is not None:
            if grid is None:
                grid = CaptionedGrid([" ".join(t.split()) for t in args.captions],
                                     args.num_images, im.width)
            grid.paste(r, c, im)
        if each is not None:
            atomic_save_image(each / f"caption{r:02d}_seed{args.seed}_{c:02d}.png", im)
        made += 1
    if grid is not None:
        atomic_save_image(out, grid.image)
        print(f"wrote {out} ({len(args.captions)} caption(s) x {args.num_images} image(s), "
              f"{size}px, seed {args.seed})")
    if each is not None:
        print(f"wrote {made} images into {each}")
    return 0


def add_interpolate(sub) -> None:
    p = sub.add_parser("interpolate", help="a strip PNG between two captions, or between two noises")
    p.add_argument("model", help="a training run directory or a model folder")
    p.add_argument("caption_a")
    p.add_argument("caption_b", nargs="?", help="second caption; without it the noise is interpolated")
    p.add_argument("--steps", type=int, default=8, help="pictures in the strip, ends included "
                   "(at least 2; default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seed-b", type=int, default=None, help="end noise seed (noise mode; default seed+1)")
    p.add_argument("--scale", type=int, default=None)
    p.add_argument("-o", "--out", default="interpolation.png")
    p.add_argument("--force", action="store_true", help="replace the -o file if it exists")
    p.add_argument("--max-images", type=int, default=MAX_IMAGES, metavar="N", help=_CAP_HELP)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", metavar="DIR", help=DATA_ROOT_HELP)
    p.set_defaults(func=_cmd_interpolate)


def _cmd_interpolate(args) -> int:
    check_count(args.steps, "--steps", lo=2)
    check_seed(args.seed, "--seed")
    check_seed(args.seed_b, "--seed-b")
    if args.seed_b is None and args.caption_b is None:
        check_seed(args.seed + 1, "--seed (+1, the default --seed-b)")
    _check_cap(args.steps, f"--steps {args.steps}", args.max_images)
    out = output_file(args.out, "-o", replace=args.force)

    from ..fileio import atomic_save_image
    from ..images import image_strip
    from ..pipeline import TextToImage

    pipe = TextToImage.from_pretrained(args.model, device=args.device, data_root=args.data_root)
    pipe.max_images = args.max_images
    size = _image_size(pipe, args.scale)
    _grid_fits(out, args.steps * (size + 2) + 2, size + 24, "ask for fewer --steps")
    _say(make_folder(out.parent))
    if args.caption_b:
        images = pipe.interpolate_captions(args.caption_a, args.caption_b, args.steps, args.seed, args.scale)
        label = f"{args.caption_a}  ->  {args.caption_b}"
    else:
        images = pipe.interpolate_noise(args.caption_a, args.steps, args.seed, args.seed_b, args.scale)
        label = f"{args.caption_a}  (noise {args.seed} -> {args.seed_b if args.seed_b is not None else args.seed + 1})"
    atomic_save_image(out, image_strip(images, label[:150]))
    print(f"wrote {out} ({len(images)} steps)")
    return 0
