"""`gtgan data prepare`, `gtgan data inspect` and `gtgan data kinds`."""
from __future__ import annotations

from ._paths import ArgumentError, check_count, check_seed, make_folder, output_file, say


def add_data(sub) -> None:
    p = sub.add_parser("data", help="prepare your own captioned images, or inspect a data root")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    pp = dsub.add_parser("prepare", help="check a folder of captioned images, write its "
                         "manifest and cache its text vectors")
    pp.add_argument("folder", help="images, each with a .txt of captions (one a line) beside it")
    pp.add_argument("--encoder", default="bow", metavar="SPEC",
                    help="bow (default) | sentence-transformers:NAME_OR_PATH")
    pp.add_argument("--split-file", help='JSON {"train": [paths], "test": [paths]}, paths '
                    "relative to FOLDER (default: a stable hash puts ~1 in 10 in test)")
    pp.add_argument("--skip-missing", action="store_true",
                    help="leave out unreadable images and bad caption files (counted) "
                    "instead of stopping")
    pp.set_defaults(func=_cmd_data_prepare)
    pi = dsub.add_parser("inspect", help="counts per split, missing and broken files, caption "
                         "statistics, and a PNG grid of example crops")
    pi.add_argument("root", nargs="?", default="", help="data root (not needed for a built-in "
                    "data set such as synthetic)")
    pi.add_argument("--kind", help="a data kind (`gtgan data kinds` lists them); default: "
                    "recognised from the root's folders, else a folder of captioned images")
    pi.add_argument("--skip-missing", action="store_true",
                    help="judge the data as training with data.skip_missing=true would")
    pi.add_argument("--out", metavar="FILE.png", help="write the example grid to this PNG "
                    "(without it no picture is written; the report says so)")
    pi.add_argument("--examples", type=int, default=8)
    pi.add_argument("--quick", action="store_true", help="do not decode every image")
    pi.add_argument("--synthetic-count", type=int, default=3000)
    pi.add_argument("--synthetic-seed", type=int, default=0)
    pi.set_defaults(func=_cmd_data_inspect)
    pk = dsub.add_parser("kinds", help="the data kinds data.kind and --kind accept")
    pk.set_defaults(func=_cmd_data_kinds)


def _cmd_data_prepare(args) -> int:
    from pathlib import Path

    if not Path(args.folder).expanduser().is_dir():  # before the encoder is built
        raise ArgumentError(f"{args.folder}: " + ("is a file, not a folder of captioned images"
                            if Path(args.folder).exists() else "folder not found"))
    from ..data.encoders import build_encoder, parse_encoder_spec
    from ..data.folder import prepare_folder

    encoder = build_encoder(parse_encoder_spec(args.encoder))
    rep = prepare_folder(args.folder, encoder, args.split_file, args.skip_missing, progress=True)
    print(f"{rep['root']}: " + ", ".join(f"{s} {n:,}" for s, n in sorted(rep["splits"].items()))
          + f" images; classes by {rep['classes'][:-1]}")
    for what, n in (("skipped (unusable)", rep["skipped"]), ("not in the split file",
                    rep["not_in_split_file"]), ("empty caption lines ignored", rep["empty_lines"]),
                    ("caption lines with U+FFFD repaired", rep["fffd_lines"])):
        if n:
            print(f"  {what}: {n}")
    for _, msg in rep["problems"][:10]:
        print(f"  skipped: {msg}")
    if rep["orphan_captions"]:
        print(f"  caption files with no image beside them (not used): {len(rep['orphan_captions'])}, "
              f"e.g. {rep['orphan_captions'][0]}")
    print(f"wrote {rep['manifest']}; text vectors ({rep['encoder']['kind']}, "
          f"{rep['encoder']['dim']}-d) cached under {rep['root']}/gtgan_cache/")
    return 0


def _cmd_data_kinds(args) -> int:
    from ..data import data_kinds

    kinds = data_kinds()
    width = max(map(len, kinds))
    for name, kind in kinds.items():
        print(f"{name:<{width}}  {kind.title}" + ("" if kind.needs_root else " [no data.root]"))
    return 0


def _cmd_data_inspect(args) -> int:
    check_count(args.examples, "--examples", lo=0)
    check_count(args.synthetic_count, "--synthetic-count", lo=2)
    check_seed(args.synthetic_seed, "--synthetic-seed")
    out = output_file(args.out, "--out") if args.out else None
    if out is not None:
        say(make_folder(out.parent))

    from ..data.checks import inspect_data

    rep = inspect_data(args.root, args.kind, args.skip_missing, out, args.examples,
                       verify=not args.quick, synthetic_count=args.synthetic_count,
                       synthetic_seed=args.synthetic_seed)
    print(rep.text)
    return 0 if rep.ok else 1
