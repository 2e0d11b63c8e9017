"""What is on disk (gtgan.storage): official StackGAN-v2 checkpoints as PyTorch 0.3 saved them,
imported and used end to end (API, `gtgan generate`, `gtgan train --init-from`), and model
folders that never destroy what a user had."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from gtgan.cli import main
from gtgan.config import ModelConfig, apply_overrides
from gtgan.data.encoders import CharCnnRnnEncoder
from gtgan.errors import CheckpointError
from gtgan.models import build_discriminators, build_generator
from gtgan.pipeline import TextToImage
from gtgan.presets import get_preset, settled_config
from gtgan.storage import (DISCRIMINATORS_FILE, load_generator, load_init_weights, load_model,
                           load_state_checked, save_model)
from gtgan.training import Trainer
from gtgan.training.finetune import INIT_RECORD, apply_init_weights
from test_data_cub import CUB_MINI, make_cub, present_names

# A small architecture in the official key layout (module names are the official ones).
SMALL = ModelConfig(text_dim=1024, c_dim=8, z_dim=8, ngf=8, ndf=8, attention_stages=[], pam=False,
                    cam=False)
FINETUNE_SET = ["model.ngf=8", "model.ndf=8", "model.c_dim=8", "model.z_dim=8",
                "model.attention_stages=[]", "model.pam=false", "model.cam=false",
                "model.d_text_regression=false", "model.d_condition=concat", "model.image_skip=false",
                "model.text_scale=1.0", "model.ca_noise_scale=1.0", "data.synthetic_count=64",
                "optim.batch_size=8", "optim.stage_warmup_steps=0", "run.max_steps=1",
                "run.sample_every=0", "run.checkpoint_every=0", "run.eval_every_epochs=0",
                "run.device=cpu", "model.projected_d_stages=[]",
                # StackGAN-v2's 1024-d text input: the bag of words, not the demo's 128-d DAMSM
                "data.encoder.kind=bow", "loss.damsm_match=false", "data.encoder.name=synonyms"]


def pytorch03_state(keys_shapes: dict, seed: int, prefix: str = "") -> dict[str, torch.Tensor]:
    """Random weights as the official code saved them under PyTorch 0.3: no batch-norm
    `num_batches_tracked`, DataParallel's "module." prefix."""
    gen = torch.Generator().manual_seed(seed)
    return {prefix + k: torch.rand(shape, generator=gen) + 0.5 if k.endswith("running_var")
            else torch.randn(shape, generator=gen)
            for k, shape in keys_shapes.items() if not k.endswith("num_batches_tracked")}


def write_official(tmp_path, g_shapes, d_shapes_list) -> tuple:
    g_file = tmp_path / "netG_120000.pth"
    torch.save(pytorch03_state(g_shapes, 0, "module."), g_file)
    d_files = []
    for i, shapes in enumerate(d_shapes_list):
        d_files.append(tmp_path / f"netD{i}.pth")
        torch.save(pytorch03_state(shapes, 10 + i), d_files[-1])
    return g_file, d_files


def shapes_of(module) -> dict:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


@pytest.fixture
def cub_root(tmp_path, monkeypatch):
    """Real CUB images and captions with char-CNN-RNN vectors (random: the real ones are not
    shipped in cub-mini) in the official layout."""
    monkeypatch.setenv("GTGAN_CACHE_DIR", str(tmp_path / "cache"))
    if not (CUB_MINI / "birds").is_dir():
        pytest.skip(f"cub-mini not found at {CUB_MINI}")
    names = present_names("test")[:3]
    emb = np.random.default_rng(0).standard_normal((len(names), 10, 1024)).astype(np.float32)
    root = make_cub(tmp_path / "cub", names, split="test", embeddings=emb)
    caption = (CUB_MINI / "birds" / "text" / f"{names[0]}.txt").read_text().splitlines()[0]
    return root, caption


def test_pytorch03_checkpoint_loads_where_pytorch_accepts_it():
    g = build_generator(SMALL, init=False)
    state = pytorch03_state(shapes_of(g), 0)
    assert not any(k.endswith("num_batches_tracked") for k in state)
    load_state_checked(g, state, "netG.pth")  # was refused: "missing 11 ..."
    assert all(int(v) == 0 for k, v in g.state_dict().items() if k.endswith("num_batches_tracked"))
    plain = build_generator(SMALL, init=False)
    plain.load_state_dict(state)  # what PyTorch itself does with the same dict
    for k, v in plain.state_dict().items():
        assert torch.equal(v, g.state_dict()[k]), k
    del state["ca_net.fc.weight"]
    with pytest.raises(CheckpointError, match=r"missing 1 .*ca_net.fc.weight"):
        load_state_checked(g, state, "netG.pth")


def test_official_import_generates_end_to_end(tmp_path, reference_shapes, cub_root, capsys):
    """Official-size weights in the PyTorch 0.3 layout -> import -> API and CLI images."""
    root, caption = cub_root
    shapes = reference_shapes["state_dict_shapes"]
    g_file, d_files = write_official(tmp_path, shapes["G_NET_2stages"], [shapes["D_NET64"], shapes["D_NET128"]])
    out = tmp_path / "imported"
    assert main(["import-stackgan-v2", str(g_file), "--discriminators", *map(str, d_files),
                 "--out", str(out)]) == 0
    cfg, state, encoder, _ = load_model(out)
    assert encoder == {"kind": "char-cnn-rnn", "name": CharCnnRnnEncoder.NAME, "dim": 1024}
    assert (out / DISCRIMINATORS_FILE).is_file()

    # Without the embeddings' data root: one clear line, not "text encoder mismatch".
    capsys.readouterr()
    assert main(["generate", str(out), caption, "-o", str(tmp_path / "x.png"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "char-CNN-RNN" in err and "--data-root" in err and "mismatch" not in err
    assert len(err.strip().splitlines()) == 1

    pipe = TextToImage.from_pretrained(out, data_root=root)
    api = pipe.generate_grid_tensors([caption], num_images=2, seed=3)
    assert api.shape == (1, 2, 3, 128, 128) and api.abs().max() <= 1
    png = tmp_path / "grid.png"
    assert main(["generate", str(out), caption, "-n", "2", "--seed", "3", "-o", str(png),
                 "--each", str(tmp_path / "each"), "--data-root", str(root), "--device", "cpu"]) == 0
    each = sorted((tmp_path / "each").glob("*.png"))
    from gtgan.images import tensor_to_pil

    for im, expected in zip(each, tensor_to_pil(api[0])):
        assert (np.asarray(Image.open(im)) == np.asarray(expected)).all()
    assert main(["interpolate", str(out), caption, "--steps", "3", "-o", str(tmp_path / "i.png"),
                 "--data-root", str(root), "--device", "cpu"]) == 0
    with pytest.raises(Exception, match="no char-CNN-RNN vector"):
        pipe(["a caption that is not in the data set"])

    # The data root given at import is stored, so generating needs no --data-root.
    stored = tmp_path / "imported_with_root"
    assert main(["import-stackgan-v2", str(g_file), "--out", str(stored), "--data-root", str(root)]) == 0
    again = TextToImage.from_pretrained(stored).generate_grid_tensors([caption], num_images=2, seed=3)
    assert torch.equal(again, api)
    # The preset for official birds weights fits them, discriminators included (--init-from).
    assert load_init_weights(out, get_preset("stackgan++").model).missing == []


def test_folder_imported_by_an_older_gtgan_still_loads(tmp_path, cub_root):
    root, caption = cub_root
    g = build_generator(SMALL)
    save_model(tmp_path / "old", SMALL, g.state_dict(), {"kind": "char-cnn-rnn", "name": "", "dim": 1024})
    pipe = TextToImage.from_pretrained(tmp_path / "old", data_root=root)
    assert pipe(caption)[0].size == (128, 128)


def _small_official(tmp_path):
    g_file, d_files = write_official(tmp_path, shapes_of(build_generator(SMALL, init=False)),
                                     [shapes_of(d) for d in build_discriminators(SMALL, init=False)])
    out = tmp_path / "imported"
    assert main(["import-stackgan-v2", str(g_file), "--discriminators", *map(str, d_files),
                 "--out", str(out)]) == 0
    return out, g_file, d_files


def test_init_from_imported_folder_loads_generator_and_discriminators(tmp_path):
    out, g_file, d_files = _small_official(tmp_path)
    cfg = settled_config(apply_overrides(get_preset("demo"), FINETUNE_SET))
    gan = Trainer(cfg, torch.device("cpu"))
    apply_init_weights(gan, tmp_path / "run", out, resuming=False, is_main=True)
    official_g = torch.load(g_file, weights_only=True)
    for k, v in gan.G.state_dict().items():
        expected = official_g.get("module." + k, torch.tensor(0))  # num_batches_tracked: 0
        assert torch.equal(v, expected) and torch.equal(gan.ema.module.state_dict()[k], expected), k
    for d, f in zip(gan.Ds, d_files):
        official_d = torch.load(f, weights_only=True)
        for k, v in d.state_dict().items():
            assert torch.equal(v, official_d.get(k, torch.tensor(0))), k
    assert json.loads((tmp_path / "run" / INIT_RECORD).read_text())["missing"] == []


def test_cli_train_init_from_and_mismatch(tmp_path, capsys):
    out, g_file, _ = _small_official(tmp_path)
    sets = [a for s in FINETUNE_SET for a in ("--set", s)]
    run = tmp_path / "run"
    assert main(["train", "--config", "demo", *sets, "--out", str(run), "--init-from", str(out),
                 "--quiet"]) == 0
    assert (run / "model" / "generator.safetensors").is_file() and (run / INIT_RECORD).is_file()
    # One step at lr 2e-4 moves the weights only a little away from the official ones.
    official = torch.load(g_file, weights_only=True)["module.img_net2.img.0.weight"]
    trained = load_generator(run).generator.state_dict()["img_net2.img.0.weight"]
    assert (trained - official).abs().max() < 0.01
    # A run directory can be the source too (its latest checkpoint).
    assert load_init_weights(run, settled_config(apply_overrides(get_preset("demo"), FINETUNE_SET)).model).missing == []

    capsys.readouterr()
    bad = [a for s in FINETUNE_SET + ["model.ngf=16"] for a in ("--set", s)]
    assert main(["train", "--config", "demo", *bad, "--out", str(tmp_path / "run2"),
                 "--init-from", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "model.ngf 8 there vs 16 here" in err and "wrong shapes" in err
    assert not (tmp_path / "run2").exists()  # a failed start leaves nothing that blocks a retry
    assert main(["train", "--config", "demo", *sets, "--out", str(tmp_path / "run3"),
                 "--init-from", str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "no such model folder" in capsys.readouterr().err and not (tmp_path / "run3").exists()


# ---------------------------------------------------------------- never destroy a user's files
def test_writing_a_model_never_destroys_other_files(tmp_path, capsys):
    out, g_file, _ = _small_official(tmp_path)
    user = tmp_path / "thesis"
    user.mkdir()
    (user / "thesis.tex").write_text("years of work")
    (user / "results.csv").write_text("a,b\n1,2\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["import-stackgan-v2", str(g_file), "--out", str(user)]) == 2
    err = capsys.readouterr().err
    assert "not a gtgan model folder" in err and "nothing was written or deleted" in err
    assert sorted(p.name for p in user.iterdir()) == ["results.csv", "thesis.tex"]
    assert (user / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no staging folder left

    pipe = TextToImage.from_pretrained(tmp_path / "imported", data_root="unused-for-loading")
    with pytest.raises(CheckpointError, match="not a gtgan model folder"):
        pipe.save_pretrained(user)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep")
    with pytest.raises(CheckpointError, match="not a folder"):
        pipe.save_pretrained(a_file)
    assert a_file.read_text() == "keep"

    # An existing model folder (or an empty folder) is replaced whole, with nothing left over.
    (tmp_path / "empty").mkdir()
    pipe.save_pretrained(tmp_path / "empty")
    saved = pipe.save_pretrained(out)
    assert sorted(p.name for p in saved.iterdir()) == ["generator.safetensors", "gtgan_model.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before + ["empty", "notes.txt"])
    assert not list(tmp_path.glob(".*"))


def test_killed_model_writes_leave_nothing_behind(tmp_path):
    """A staging or replaced folder left by a killed writer is swept at the next write."""
    g = build_generator(SMALL)
    target = tmp_path / "model"
    dead = 2**22 + 12345  # above the default pid_max: no such process
    (tmp_path / f".model.tmp-{dead}-abc").mkdir()
    (tmp_path / f".model.old-{dead}").mkdir()
    save_model(target, SMALL, g.state_dict(), {"kind": "bow", "name": "", "dim": 1024})
    save_model(target, SMALL, g.state_dict(), {"kind": "bow", "name": "", "dim": 1024})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    # Killed between moving the old folder aside and moving the new one in: the old one is
    # put back before the next write looks at the target (a user folder stays protected).
    os.replace(target, tmp_path / f".model.old-{dead}")
    (tmp_path / f".model.tmp-{dead}-xyz").mkdir()
    save_model(target, SMALL, g.state_dict(), {"kind": "bow", "name": "", "dim": 1024}, {"n": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert load_model(target)[3] == {"n": 2}
