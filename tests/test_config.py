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


def _field_paths(cls, prefix=""):
    """(dotted path, dataclass, field name) of every leaf field under `cls`."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _field_paths(hints[f.name], path + ".")
        else:
            yield path, cls, f.name


def test_every_config_field_has_a_range_rule():
    """A new field cannot be added without a rule: every leaf has one, every dataclass field
    is itself covered, and no rule is left for a field that is gone."""
    import dataclasses

    from gtgan.config import FIELD_RULES

    leaves = list(_field_paths(RunConfig))
    assert len(leaves) > 60
    for path, cls, name in leaves:
        assert cls in FIELD_RULES, f"{cls.__name__} has no FIELD_RULES entry"
        assert callable((FIELD_RULES[cls].get(name) or (None,))[0]), f"{path}: no rule"
    for cls, rules in FIELD_RULES.items():
        assert set(rules) == {f.name for f in dataclasses.fields(cls)}, cls.__name__


# One value outside the range of every leaf field (a wrong type where the field has no range).
_BAD = {"model.text_dim": -1, "model.c_dim": -1, "model.z_dim": 0, "model.ngf": 0,
        "model.ndf": 0, "model.stages": 4, "model.num_residual": -1,
        "model.attention_stages": [1], "model.pam": "yes", "model.cam": 1,
        "model.cam_form": "x", "model.attention_merge": "x", "model.pam_impl": "x",
        "model.pam_kv_pool": 3, "model.ca_noise_scale": -0.5, "model.text_scale": -1.0,
        "model.d_text_regression": None, "model.d_condition": "x", "model.image_skip": 0,
        "model.projected_d_stages": [1, 1], "model.projected_d_size": 32, "loss.projected_weight": -1.0,
        "model.word_attention": "yes", "loss.damsm_match": 1, "loss.damsm_weight": -1.0,
        "loss.kl_weight": -1.0, "loss.uncond_weight": float("nan"), "loss.fidelity": "no",
        "loss.fidelity_weight": float("inf"), "loss.vgg_weights": "", "loss.fidelity_features": "x",
        "loss.fidelity_pixel_size": 0, "loss.fidelity_mirror": None, "loss.color_weight": -1.0,
        "loss.lite0_weights": "", "loss.fidelity_lite0_stride": 12,
        "loss.fidelity_lite0_size": -1,
        "loss.text_regression_weight": -1.0, "loss.mode_seeking_weight": -1.0,
        "optim.lr_g": -1.0, "optim.lr_d": 0.0, "optim.beta1": 1.0, "optim.beta2": -0.1,
        "optim.batch_size": 0, "optim.epochs": 0, "optim.ema_decay": 2.0,
        "optim.stage_warmup_steps": -1, "optim.stage_warmup_fraction": 1.0,
        "data.encoder.kind": "", "data.encoder.name": 3, "data.encoder.dim": -1,
        "data.kind": "", "data.root": None, "data.train_split": 1, "data.test_split": None,
        "data.skip_missing": "yes", "data.num_workers": -1, "data.synthetic_count": 0,
        "data.synthetic_seed": -1, "run.seed": 2**63, "run.device": 3, "run.precision": "fp8",
        "run.channels_last": 1, "run.deterministic": "no", "run.max_steps": -5,
        "run.max_minutes": -1.0, "run.checkpoint_every": -1, "run.sample_every": -1,
        "run.log_every": 0, "run.eval_every_epochs": -1, "run.eval_samples": 0,
        "run.num_sample_captions": 0, "run.keep_checkpoints": -1, "name": ""}


@pytest.mark.parametrize("path", [p for p, _, _ in _field_paths(RunConfig)])
def test_every_field_refuses_a_value_outside_its_range(path):
    cfg = get_preset("demo")
    assert path in _BAD, f"{path}: add an out-of-range value to _BAD"
    *parents, name = path.split(".")
    node = cfg
    for part in parents:
        node = getattr(node, part)
    setattr(node, name, _BAD[path])
    with pytest.raises(ConfigError) as err:
        cfg.validate()
    assert str(err.value).startswith(f"{path} = {_BAD[path]!r}: ")


@pytest.mark.parametrize("override,message", [
    ("run.log_every=0", "run.log_every = 0: must be an integer >= 1"),
    ("data.num_workers=-1", "data.num_workers = -1: must be an integer in [0, 256]"),
    ("optim.lr_g=-1", "optim.lr_g = -1.0: must be a finite number in (0, 1]"),
    ("optim.ema_decay=2", "optim.ema_decay = 2.0: must be a finite number in [0, 1)"),
    ("run.max_steps=-5", "run.max_steps = -5: must be an integer >= 0"),
    ("run.max_minutes=-1", "run.max_minutes = -1.0: must be a finite number >= 0"),
    ("optim.epochs=0", "optim.epochs = 0: must be an integer >= 1"),
    ("run.seed=-1", "run.seed = -1: must be an integer in [0, 9,223,372,036,854,775,807]"),
])
def test_audit_config_values_are_refused(override, message):
    with pytest.raises(ConfigError) as err:
        apply_overrides(get_preset("demo"), [override])
    assert str(err.value) == message
