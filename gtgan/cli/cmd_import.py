"""`gtgan import-stackgan-v2`: an official StackGAN-v2 checkpoint into a gtgan model folder."""
from __future__ import annotations

from ._shared import DATA_ROOT_HELP


def add_import(sub) -> None:
    p = sub.add_parser("import-stackgan-v2",
                       help="convert an official StackGAN-v2 checkpoint into a gtgan model folder")
    p.add_argument("generator", help="netG_*.pth saved by the official code (torch.save of a state dict)")
    p.add_argument("--discriminators", nargs="*", default=[], metavar="netD*.pth",
                   help="official netD0.pth, netD1.pth, ... (optional)")
    p.add_argument("--out", required=True, help="model folder to write (new, empty, or a model "
                   "folder to replace)")
    p.add_argument("--data-root", metavar="DIR", help=DATA_ROOT_HELP + "; stored with the model")
    p.set_defaults(func=_cmd_import)


def _cmd_import(args) -> int:
    from ..storage import import_checkpoint

    out = import_checkpoint(args.generator, args.discriminators, args.out, data_root=args.data_root)
    print(f"wrote {out}")
    return 0
