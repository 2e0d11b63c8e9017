"""Typed configs: presets, files, overrides and their error messages."""
from pathlib import Path

import pytest
import yaml

from gtgan.cli import main
from gtgan.config import ConfigError, RunConfig, apply_overrides, from_dict, load_run_config, save_yaml, to_dict
from gtgan.presets import PRESETS, get_preset, resolve_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", list(PRESETS))
def test_configs_folder_matches_presets(name):
    """configs/NAME.yaml is the preset written out; regenerate with `gtgan config NAME`."""
    assert load_run_config(CONFIGS / f"{name}.yaml") == get_preset(name)


def test_yaml_round_trip_and_run_dir(tmp_path):
    cfg = apply_overrides(get_preset("paper"), ["optim.batch_size=16", "model.cam_form=danet",
                                                "model.attention_stages=[2]", "run.precision=bf16"])
    save_yaml(cfg, tmp_path / "config.yaml")
    assert resolve_config(str(tmp_path)) == cfg
    assert cfg.optim.batch_size == 16 and cfg.model.cam_form == "danet"


@pytest.mark.parametrize("override,message", [
    ("optim.batch_size=zero", "optim.batch_size"),
    ("model.stages=4", "model.stages = 4"),
    ("model.cam_form=fancy", "model.cam_form"),
    ("model.bogus=1", "unknown key 'model.bogus'"),
    ("model.pam=maybe", "model.pam"),
    ("model.text_dim=300", "data.encoder.dim"),
    ("batch_size", "expected key=value"),
])
def test_bad_overrides_name_the_field(override, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        apply_overrides(get_preset("paper"), [override])


def test_bad_files_name_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  ngf: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_run_config(bad)
    bad.write_text(yaml.safe_dump({"model": {"ngff": 3}}))
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key\(s\) model.ngff"):
        load_run_config(bad)
    assert main(["config", str(tmp_path / "missing.yaml")]) == 2
    assert "neither a preset" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown preset"):
        get_preset("stackgan3")


def test_from_dict_is_strict_about_types():
    data = to_dict(RunConfig())
    data["optim"]["lr_g"] = "fast"
    with pytest.raises(ConfigError, match="optim.lr_g"):
        from_dict(RunConfig, data)
    data = to_dict(RunConfig())
    data["model"]["ngf"] = 32.5
    with pytest.raises(ConfigError, match="model.ngf"):
        from_dict(RunConfig, data)


def test_paper_preset_is_the_paper():
    cfg = get_preset("paper")
    assert (cfg.optim.lr_g, cfg.optim.lr_d, cfg.optim.batch_size, cfg.optim.epochs) == (1e-4, 1e-4, 8, 160)
    assert (cfg.optim.beta1, cfg.optim.beta2, cfg.optim.ema_decay) == (0.5, 0.999, 0.999)
    assert cfg.loss.fidelity and cfg.loss.fidelity_weight == 0.001 and cfg.loss.color_weight == 0
    assert cfg.model.pam and cfg.model.cam and cfg.model.attention_stages == [2] and cfg.model.stages == 2
    assert (cfg.model.text_dim, cfg.model.c_dim, cfg.model.z_dim) == (1024, 128, 100)
    base = get_preset("stackgan++")
    assert not (base.model.pam or base.model.cam or base.loss.fidelity)
