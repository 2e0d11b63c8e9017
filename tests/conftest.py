import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CUB_MINI = SHARED / "data" / "cub-mini"
REFERENCE = SHARED / "reference" / "stackgan-v2-state-dicts.json"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="module")
def bow_model(tmp_path_factory) -> Path:
    """A tiny untrained model folder on the bag of words (tests of what bad input does to it)."""
    from gtgan.config import ModelConfig
    from gtgan.data.encoders import BowEncoder
    from gtgan.models import build_generator
    from gtgan.storage import save_model

    enc = BowEncoder()
    cfg = ModelConfig(text_dim=enc.dim, c_dim=8, z_dim=8, ngf=8, ndf=8)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("bow-model") / "model"
    save_model(out, cfg, build_generator(cfg).state_dict(), enc.identity, {})
    return out


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """A cache folder of the test's own, and no GTGAN_DEBUG from the caller's shell."""
    monkeypatch.setenv("GTGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GTGAN_DEBUG", raising=False)


@pytest.fixture
def one_thread():
    """One intra-op thread for tiny training runs (a shared 2-core machine: OpenMP barriers
    across oversubscribed cores made tiny steps 2-4x slower); put back afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cub_mini() -> Path:
    if not (CUB_MINI / "birds").exists():
        pytest.skip(f"cub-mini not found at {CUB_MINI} (CI puts ../shared beside the repo)")
    return CUB_MINI


@pytest.fixture
def reference_shapes() -> dict:
    import json

    if not REFERENCE.exists():
        pytest.skip(f"{REFERENCE} not found")
    return json.loads(REFERENCE.read_text())


@pytest.fixture(scope="session")
def small_birds_judge(tmp_path_factory):
    """(test split of 600 synthetic birds at 64 and 128 px, a small attribute judge trained on
    their train split): shared by the judge-based metric tests, trained once per session."""
    from gtgan.config import EncoderConfig
    from gtgan.data import BOW_DIM, build_encoder
    from gtgan.data.synthetic import SyntheticBirds
    from gtgan.metrics import JudgeConfig, load_or_train_judge

    enc = build_encoder(EncoderConfig(kind="bow", dim=BOW_DIM))
    train = SyntheticBirds("train", 600, 0, enc, [64], train=False, seed=0)
    test = SyntheticBirds("test", 600, 0, enc, [64, 128], train=False, seed=0)
    ident = {"kind": "synthetic", "split": "train", "synthetic_seed": 0, "synthetic_count": 600}
    judge, info = load_or_train_judge(train, ident, tmp_path_factory.mktemp("judge"),
                                      JudgeConfig(max_train_images=340, holdout_images=60, epochs=4))
    judge.info = info
    return test, judge


@pytest.fixture(scope="session")
def serve_model(tmp_path_factory) -> Path:
    """The model the `gtgan serve` tests serve: a tiny demo-preset run trained for 20 steps
    (fewer leave its pictures blank grey), or GTGAN_SERVE_MODEL (a run or model folder, e.g.
    a demo run, to make docs/serve.png)."""
    from _serve_support import train_tiny_run

    given = os.environ.get("GTGAN_SERVE_MODEL")
    return Path(given) if given else train_tiny_run(tmp_path_factory.mktemp("serve") / "run")


@pytest.fixture(scope="session")
def serve_server(serve_model):
    """`gtgan serve` on serve_model in a subprocess on a free port, shared by the HTTP, load and
    browser tests."""
    from _serve_support import Server

    server = Server(serve_model)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_damsm_dir(tmp_path_factory) -> Path:
    """An untrained tiny DAMSM folder (16-d, small CNN at 32 px, vocabulary of the synthetic
    birds' train captions): a real encoder folder for tests that need one, made in a second."""
    from gtgan.data import build_encoder
    from gtgan.config import EncoderConfig
    from gtgan.data.damsm_folder import Damsm, save_damsm
    from gtgan.storage.damsm_init import initial_image_net
    from gtgan.data.damsm_vocab import Vocabulary
    from gtgan.data.synthetic import SyntheticBirds
    from gtgan.models.damsm import DamsmConfig, DamsmTextNet

    birds = SyntheticBirds("train", 200, 0, build_encoder(EncoderConfig(kind="bow", dim=1024)),
                           [64], train=False, seed=0)
    vocab = Vocabulary.build(c for i in range(len(birds)) for c in birds.captions(i))
    cfg = DamsmConfig(dim=16, word_embedding_dim=8, image_encoder="small-cnn", image_size=32,
                      cnn_width=4)
    torch.manual_seed(0)
    image, info = initial_image_net(cfg, "from-scratch")
    out = tmp_path_factory.mktemp("damsm") / "enc"
    save_damsm(out, Damsm(cfg, vocab, DamsmTextNet(len(vocab), cfg), image), info, {"test": True})
    return out
