"""`gtgan serve`: a local web page over a model (Gradio; the `serve` extra)."""
from __future__ import annotations

from ._shared import DATA_ROOT_HELP


def add_serve(sub) -> None:
    from ..device import PRECISIONS
    from ..serve.service import ServeOptions

    d = ServeOptions()
    p = sub.add_parser("serve", help="a web page to type captions and see the birds (needs gtgan[serve])")
    p.add_argument("model", help="a training run directory, a model folder or a checkpoint")
    p.add_argument("--host", default=d.host,
                   help=f"address to listen on (default {d.host}: this machine only; 0.0.0.0 opens it to the network)")
    p.add_argument("--port", type=int, default=d.port, help=f"default {d.port}")
    p.add_argument("--max-images", type=int, default=d.max_images, help=f"images per request, at most (default {d.max_images})")
    p.add_argument("--max-steps", type=int, default=d.max_steps,
                   help=f"interpolation steps per request, at most (default {d.max_steps})")
    p.add_argument("--max-caption-chars", type=int, default=d.max_caption_chars,
                   help=f"longest caption accepted (default {d.max_caption_chars})")
    p.add_argument("--queue-size", type=int, default=d.queue_size,
                   help=f"requests that may wait; more are refused (default {d.queue_size})")
    p.add_argument("--concurrency", type=int, default=d.concurrency,
                   help=f"requests generated at once (default {d.concurrency})")
    p.add_argument("--device", default=d.device)
    p.add_argument("--precision", default=d.precision, choices=PRECISIONS,
                   help="auto (default): bf16 where the hardware computes it natively, else fp32")
    p.add_argument("--data-root", metavar="DIR", help=DATA_ROOT_HELP)
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args) -> int:
    from ..serve import ServeOptions, Service, import_gradio, serve

    import_gradio()  # the missing extra is said before the model loads
    options = ServeOptions(args.host, args.port, args.max_images, args.max_steps,
                           args.max_caption_chars, args.queue_size, args.concurrency,
                           args.device, args.precision, args.data_root)
    serve(Service.load(args.model, options))
    return 0
