"""`gtgan serve`: the service's functions in-process, the model card, the HTTP API through
gradio_client against a server in a subprocess, and a load of 50 requests from 8 clients.
(The browser test is tests/test_serve_browser.py.) The model is a tiny demo-preset run trained
for 20 steps (conftest.serve_model)."""
from __future__ import annotations

import json
import re
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gtgan.cli import main
from gtgan.errors import GtganError
from gtgan.fileio import sha256_file
from gtgan.pipeline import TextToImage
from gtgan.serve import NEEDS_EXTRA, ServeOptions, Service, import_gradio

CAPTION = "a small red bird with blue wings and a yellow crown"
BAD = [("", "caption 1 is empty"), ("x" * 2000, "2,000 characters"),
       ("un oiseau à ailes noires", "U+00E0"), ("a red\x07bird", "control character")]


@pytest.fixture(scope="module")
def service(serve_model) -> Service:
    return Service.load(serve_model, ServeOptions(device="cpu", max_images=6))


def _pixels(images) -> list[np.ndarray]:
    return [np.asarray(im.convert("RGB")) for im in images]


# ---------------------------------------------------------------- in-process
def test_generate_gives_n_seeded_images_of_the_model_size(service):
    size = service.sizes[-1]
    res = service.generate(CAPTION, 3, 11)
    assert len(res.images) == 3 and all(im.size == (size, size) for im in res.images)
    assert "seed 11" in res.line and service.execution.precision in res.line
    again, other = service.generate(CAPTION, 3, 11), service.generate(CAPTION, 3, 12)
    assert all((a == b).all() for a, b in zip(_pixels(res.images), _pixels(again.images)))
    assert not all((a == b).all() for a, b in zip(_pixels(res.images), _pixels(other.images)))
    small = service.sizes[0]
    assert service.generate(CAPTION, 1, 0, small).images[0].size == (small, small)


def test_random_seed_is_reported_and_reproduces(service):
    res = service.generate(CAPTION, 2, None)
    seed = int(res.line.split("seed ")[1].split(",")[0])
    again = service.generate(CAPTION, 2, seed)
    assert all((a == b).all() for a, b in zip(_pixels(res.images), _pixels(again.images)))


def test_fp32_service_gives_the_api_pixels(serve_model):
    """With --precision fp32 the page shows exactly what TextToImage (and the CLI) make."""
    service = Service.load(serve_model, ServeOptions(device="cpu", precision="fp32"))
    api = TextToImage.from_pretrained(serve_model, device="cpu", precision="fp32")([CAPTION], num_images=2, seed=3)
    assert all((a == b).all() for a, b in zip(_pixels(service.generate(CAPTION, 2, 3).images), _pixels(api)))
    frames = service.interpolate(CAPTION, "a blue bird with green wings", 4, 3).images
    assert len(frames) == 4 and frames[0].size == api[0].size
    assert not (np.asarray(frames[0]) == np.asarray(frames[-1])).all()  # the caption moved


@pytest.mark.parametrize("caption,message", BAD)
def test_bad_caption_gives_the_clis_message(service, serve_model, capsys, caption, message):
    with pytest.raises(GtganError) as err:
        service.generate(caption, 1, 0)
    assert message in str(err.value)
    rc = main(["generate", str(serve_model), caption, "-o", "/nonexistent/never.png", "--device", "cpu"])
    assert rc == 2
    assert capsys.readouterr().err.strip() == f"gtgan generate: error: {err.value}"


def test_limits_are_enforced_and_settable(serve_model, service):
    with pytest.raises(GtganError, match=r"number of images 7: must be a whole number from 1 to 6 "
                                         r"\(gtgan serve --max-images\)"):
        service.generate(CAPTION, 7, 0)
    for bad, field in ((0, "number of images"), (2.5, "number of images")):
        with pytest.raises(GtganError, match=field):
            service.generate(CAPTION, bad, 0)
    with pytest.raises(GtganError, match="seed -1"):
        service.generate(CAPTION, 1, -1)
    with pytest.raises(GtganError, match="scale 96: this model makes"):
        service.generate(CAPTION, 1, 0, 96)
    with pytest.raises(GtganError, match="steps 13"):
        service.interpolate(CAPTION, CAPTION, 13, 0)
    short = Service(TextToImage.from_pretrained(serve_model, device="cpu"),
                    ServeOptions(max_caption_chars=20))
    with pytest.raises(GtganError, match="the limit is 20"):
        short.generate("a bird with a long tail", 1, 0)
    with pytest.raises(GtganError, match="--queue-size 0"):
        ServeOptions(queue_size=0).check()
    assert ServeOptions().host == "127.0.0.1"


def test_missing_gradio_is_a_clear_error(monkeypatch, serve_model, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    with pytest.raises(GtganError, match=NEEDS_EXTRA.replace("[", r"\[").replace("]", r"\]")):
        import_gradio()
    assert main(["serve", str(serve_model)]) == 2
    assert f"gtgan serve: error: {NEEDS_EXTRA}" in capsys.readouterr().err


def test_bad_model_path_is_a_clear_error(tmp_path, capsys):
    pytest.importorskip("gradio", reason=NEEDS_EXTRA)
    assert main(["serve", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "gtgan serve: error:" in err and "no such model folder" in err and "Traceback" not in err


def test_queue_is_bounded_and_host_local(service):
    """serve() queues at most --queue-size requests, --concurrency at a time, on 127.0.0.1."""
    pytest.importorskip("gradio", reason=NEEDS_EXTRA)
    from _serve_support import free_port
    from gtgan.serve import serve

    before = service.options.port, service.options.queue_size
    service.options.port, service.options.queue_size = free_port(), 5
    app, url = serve(service, block=False, quiet=True)
    service.options.port, service.options.queue_size = before
    try:
        assert app._queue.max_size == 5 and url.startswith("http://127.0.0.1:")
        assert app._queue.default_concurrency_limit == 1
        events = [fn for fn in app.fns.values() if fn.name in ("generate", "interpolate")]
        assert len(events) == 3 and {fn.concurrency_id for fn in events} == {"model"}
    finally:
        app.close()


# ---------------------------------------------------------------- the model card
def _write_report(path: Path, sha: str, accuracy: float) -> None:
    path.write_text(json.dumps({"format": "gtgan-eval", "model": {"generator_sha256": sha},
                                "samples": 50, "split": "test", "labels": [],
                                "results": {"64": {"attr": {"accuracy": accuracy, "real_accuracy": 0.9,
                                                            "chance": 0.2}}}}))


def test_model_card_says_what_model_this_is(serve_model, tmp_path):
    import shutil

    run = shutil.copytree(serve_model, tmp_path / "run")
    pipe = TextToImage.from_pretrained(run, device="cpu")
    _write_report(run / "eval.json", sha256_file(pipe.weights_file), 0.4321)
    _write_report(tmp_path / "metrics.json", "0" * 64, 0.9999)  # another model's report: ignored
    card = Service(pipe, ServeOptions(), run).card
    facts = dict(card.facts)
    assert facts["preset"] == "`demo`" and facts["training steps"] == "20"
    assert "synthetic birds (40 pictures" in facts["data"]
    assert len(card.evaluation) == 1 and "attr 0.432 (real pictures 0.900" in card.evaluation[0]
    assert "0.9999" not in card.markdown()
    # The deviations are computed against the paper preset, not written down.
    assert "model.ngf = 4 (paper: 64)" in card.deviations
    assert "loss.fidelity_features = 'pixels' (paper: 'vgg19')" in card.deviations
    assert "data.kind = 'synthetic' (paper: 'cub')" in card.deviations
    assert not any(d.startswith(("run.", "data.root", "data.num_workers")) for d in card.deviations)
    held = [e for e in card.examples if e.held_out]
    assert held and len(held) < len(card.examples) and held[0].label.startswith("held out: ")


# ---------------------------------------------------------------- over HTTP
@pytest.fixture(scope="module")
def client(serve_server, tmp_path_factory):
    pytest.importorskip("gradio_client", reason=NEEDS_EXTRA)
    from gradio_client import Client

    return Client(serve_server.url, verbose=False, analytics_enabled=False,
                  download_files=str(tmp_path_factory.mktemp("dl")))


def _images(result) -> list[np.ndarray]:
    gallery, line = result
    return [np.asarray(Image.open(item["image"]).convert("RGB")) for item in gallery]


def test_http_api_generates_seeded_images_and_survives_bad_input(serve_server, client, service):
    size = service.sizes[-1]
    first = _images(client.predict(CAPTION, 3, 5, False, size, api_name="/generate"))
    assert len(first) == 3 and all(a.shape == (size, size, 3) for a in first)
    same = _images(client.predict(CAPTION, 3, 5, False, size, api_name="/generate"))
    assert all((a == b).all() for a, b in zip(first, same))
    # The server's images are the in-process service's (same precision rule on the same
    # machine; a thread count other than the tests' may move a bf16 rounding by a level).
    mine = _pixels(service.generate(CAPTION, 3, 5).images)
    assert all(np.abs(a.astype(int) - b).max() <= 2 for a, b in zip(first, mine))
    from gradio_client.exceptions import AppError

    for caption, message in BAD[:3]:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(caption, 3, 5, False, size, api_name="/generate")
    with pytest.raises(AppError, match=r"number of images 99: .* from 1 to 8"):  # ours, not Gradio's
        client.predict(CAPTION, 99, 5, False, size, api_name="/generate")
    assert serve_server.alive()
    strip = _images(client.predict(CAPTION, "a blue bird", 5, 1, False, size, api_name="/interpolate"))
    assert len(strip) == 5
    assert any("refused a request: caption 1 is empty" in line for line in serve_server.lines)
    assert serve_server.url.startswith("http://127.0.0.1:")  # the safe default host


@pytest.mark.slow
def test_load_50_requests_from_8_clients(serve_server, client, service, tmp_path):
    """All answered correctly, and the server's memory after the run within 10% of what it
    held after the first request."""
    from gradio_client import Client

    size = service.sizes[-1]
    expected = {s: _images(client.predict(CAPTION, 2, s, False, size, api_name="/generate"))
                for s in range(5)}  # the first request(s); every answer below must repeat them
    rss_first = serve_server.rss_kib()
    jobs = list(range(50))
    errors, done, lock = [], [], threading.Lock()

    def worker(k: int):  # each client its own download folder, as on separate machines
        c = Client(serve_server.url, verbose=False, analytics_enabled=False,
                   download_files=str(tmp_path / f"client{k}"))
        while True:
            with lock:
                if not jobs:
                    return
                i = jobs.pop()
            try:
                got = _images(c.predict(CAPTION, 2, i % 5, False, size, api_name="/generate"))
                ok = len(got) == 2 and all((a == b).all() for a, b in zip(got, expected[i % 5]))
                with lock:
                    (done if ok else errors).append(i if ok else f"request {i}: wrong images")
            except Exception as exc:  # noqa: BLE001 - every failure is reported below
                with lock:
                    errors.append(f"request {i}: {exc!r}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    rss_after = serve_server.rss_kib()
    assert errors == [] and len(done) == 50
    assert serve_server.alive()
    print(f"server RSS after the first request {rss_first / 1024:.1f} MiB, after 50 more "
          f"{rss_after / 1024:.1f} MiB ({(rss_after / rss_first - 1) * 100:+.1f}%)")
    assert rss_after <= 1.10 * rss_first
