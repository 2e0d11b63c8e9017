"""The Gradio page over `Service`: a Generate tab, an Interpolate tab and the model's card.

Gradio is an optional extra (`pip install 'gtgan[serve]'`); it is imported inside
`build_app` so that the rest of gtgan, and this module's import, work without it.
"""
from __future__ import annotations

import atexit
import io
import os
import shutil
import signal
import tempfile
import time
import uuid
from pathlib import Path

from ..errors import GtganError
from ..fileio import atomic_write_bytes, cut
from .service import Result, Service, flag

NEEDS_EXTRA = "gtgan serve needs the serve extra: pip install 'gtgan[serve]'"
API_GENERATE = "generate"  # gradio_client: Client(url).predict(..., api_name="/generate")
API_INTERPOLATE = "interpolate"
CACHE_CLEANUP = (600, 3600)  # every 10 min Gradio deletes served images older than an hour
ONE_MODEL = "model"  # every event shares one queue: --concurrency bounds all generation together
STAGING_KEEP_S = 120.0  # our PNGs only live until Gradio has copied them into its cache


class PngStage:
    """Hands Gradio finished PNG files rather than PIL images. Gradio writes a PIL output into
    its content-addressed cache in place, so two requests making the same picture (same
    caption and seed) could serve a half-written file (seen here: 1 or 2 of 50 requests from
    8 clients failed in 2 of 3 load-test runs). A file it copies under a temporary name and
    renames, which is safe; ours are written the same way (gtgan.fileio) and swept after
    STAGING_KEEP_S, and their folder is removed when the server stops."""

    def __init__(self, folder: Path | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="gtgan-serve-", dir=folder))
        atexit.register(shutil.rmtree, self.dir, True)

    def __call__(self, res: Result) -> list[tuple[str, str]]:
        now, out = time.time(), []
        for old in self.dir.glob("*.png"):
            try:
                if now - old.stat().st_mtime > STAGING_KEEP_S:
                    old.unlink()
            except FileNotFoundError:
                pass
        for image, label in zip(res.images, res.labels):
            buf = io.BytesIO()
            image.save(buf, format="PNG")
            path = self.dir / f"{uuid.uuid4().hex}.png"  # never shared: the sweep cannot take a fresh one
            atomic_write_bytes(path, buf.getvalue())
            out.append((str(path), label))
        return out


def import_gradio():
    """gradio, with its usage analytics off (set before the import, which reads it)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as exc:
        raise GtganError(f"{NEEDS_EXTRA} ({exc})") from None
    return gradio


_BASE_TEMP = os.environ.get("GRADIO_TEMP_DIR")  # the user's choice, if any, before ours


def own_gradio_cache() -> Path:
    """A folder of this server's own for every file Gradio serves (its cache, our PNGs), removed
    when the server stops: Gradio's own clean-up keeps an hour of files, and leaves them behind
    at exit in the shared temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="gtgan-serve-cache-", dir=_BASE_TEMP))
    os.environ["GRADIO_TEMP_DIR"] = str(folder)  # read by Gradio's components as they are made
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _refusal(gr, text: str):
    """The page's error box and the API's error with the CLI's one line; the console gets one
    line too, never a traceback."""
    text = cut(" ".join(str(text).split()), 500)
    print(f"gtgan serve: refused a request: {text}", flush=True)
    return gr.Error(text, duration=20, print_exception=False)


def _shown(gr, fn):
    """Run a request on the raw values sent (Gradio's own checks are off, `preprocess=False`:
    they printed tracebacks and told API clients nothing); a GtganError becomes the page's
    error box with the CLI's one-line text, anything else one line too (the server goes on)."""
    def wrapped(*args):
        try:
            return fn(*args)
        except GtganError as exc:
            raise _refusal(gr, str(exc)) from None
        except Exception as exc:  # a bug of ours: still one line, and the server goes on
            raise _refusal(gr, f"{type(exc).__name__}: {exc} (this is a bug)") from None
    wrapped.__name__ = fn.__name__
    return wrapped


def _check_arity(gr, app) -> None:
    """Requests with the wrong number of values: one line, as for any other bad input
    (Gradio's own check raises a ValueError with a traceback)."""
    def validate_inputs(block_fn, inputs):
        want = len(block_fn.inputs)
        if len(inputs) != want:
            raise _refusal(gr, f"{len(inputs)} value(s) sent, {want} expected ("
                           + ", ".join(getattr(b, "label", None) or type(b).__name__
                                       for b in block_fn.inputs) + ")")
    app.validate_inputs = validate_inputs


def build_app(service: Service):
    """The page; call `.queue(...)` and `.launch(...)` on it (see `serve`)."""
    stage = PngStage(own_gradio_cache())
    gr = import_gradio()
    card, sizes, opts = service.card, service.sizes, service.options

    def generate(caption, num_images, seed, random_seed, scale):
        res = service.generate(caption, num_images, None if flag(random_seed) else seed, scale)
        return stage(res), res.line

    def interpolate(caption_a, caption_b, steps, seed, random_seed, scale):
        res = service.interpolate(caption_a, caption_b, steps, None if flag(random_seed) else seed,
                                  scale)
        return stage(res), res.line

    # System fonts: the default theme would fetch its font from a third-party server.
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])
    with gr.Blocks(title="gtgan: text to birds", analytics_enabled=False,
                   delete_cache=CACHE_CLEANUP) as app:
        app.gtgan_theme = theme
        gr.Markdown(f"## gtgan: type a caption, get birds\n{card.title}; "
                    f"at most {opts.max_images} images and {opts.max_caption_chars:,} characters per request.")
        with gr.Tabs():
            with gr.Tab("Generate"):
                caption = gr.Textbox(label="Caption", lines=2, elem_id="caption",
                                     placeholder=card.examples[0].caption if card.examples else "")
                gr.Examples([[e.caption] for e in card.examples], inputs=[caption],
                            example_labels=[e.label for e in card.examples],
                            label="Captions from the model's data set (held out = not trained on)")
                with gr.Row():
                    n = gr.Slider(1, opts.max_images, value=min(4, opts.max_images), step=1,
                                  label="Number of images", elem_id="num_images")
                    seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="seed")
                    rnd = gr.Checkbox(False, label="Random seed", elem_id="random_seed")
                    scale = gr.Radio(sizes, value=sizes[-1], label="Scale (px)", elem_id="scale")
                go = gr.Button("Generate", variant="primary", elem_id="generate")
                gallery = gr.Gallery(label="Birds", columns=4, height="fit-content", format="png",
                                     object_fit="contain", elem_id="gallery")
                line = gr.Markdown(elem_id="result_line")
                inputs = [caption, n, seed, rnd, scale]
                go.click(_shown(gr, generate), inputs, [gallery, line], api_name=API_GENERATE,
                         concurrency_id=ONE_MODEL, preprocess=False)
                caption.submit(_shown(gr, generate), inputs, [gallery, line], api_visibility="private",
                               concurrency_id=ONE_MODEL, preprocess=False)
            with gr.Tab("Interpolate"):
                with gr.Row():
                    cap_a = gr.Textbox(label="Caption a", elem_id="caption_a",
                                       value=card.examples[0].caption if card.examples else "")
                    cap_b = gr.Textbox(label="Caption b", elem_id="caption_b",
                                       value=card.examples[-1].caption if card.examples else "")
                with gr.Row():
                    steps = gr.Slider(2, opts.max_steps, value=min(8, opts.max_steps), step=1, label="Steps")
                    seed_i = gr.Number(0, precision=0, minimum=0, label="Seed")
                    rnd_i = gr.Checkbox(False, label="Random seed")
                    scale_i = gr.Radio(sizes, value=sizes[-1], label="Scale (px)")
                go_i = gr.Button("Interpolate", variant="primary", elem_id="interpolate")
                strip = gr.Gallery(label="From caption a to caption b", columns=min(8, opts.max_steps),
                                   height="fit-content", format="png", object_fit="contain")
                line_i = gr.Markdown()
                go_i.click(_shown(gr, interpolate), [cap_a, cap_b, steps, seed_i, rnd_i, scale_i],
                           [strip, line_i], api_name=API_INTERPOLATE, concurrency_id=ONE_MODEL,
                           preprocess=False)
        with gr.Accordion("About this model", open=True, elem_id="model_card"):
            gr.Markdown(card.markdown())
    _check_arity(gr, app)
    return app


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def serve(service: Service, block: bool = True, quiet: bool = False):
    """Queue (bounded, `concurrency` at a time) and launch on host:port; returns (app, url)."""
    app = build_app(service)
    opts = service.options
    app.queue(max_size=opts.queue_size, default_concurrency_limit=opts.concurrency)
    _, url, _ = app.launch(server_name=opts.host, server_port=opts.port, share=False,
                           prevent_thread_lock=True, quiet=True, show_error=False,
                           ssr_mode=False, mcp_server=False, theme=app.gtgan_theme,
                           footer_links=["api"])
    if not quiet:
        where = "this machine only" if opts.host in ("127.0.0.1", "localhost", "::1") else "the network"
        print(f"gtgan serve: {service.card.title} on {url} (open to {where}; Ctrl+C stops it)",
              flush=True)
    if block:
        # SIGTERM (service managers, `kill`) stops it as Ctrl+C does: the server closes and
        # the atexit clean-up runs.
        signal.signal(signal.SIGTERM, _interrupt)
        app.block_thread()
    return app, url
