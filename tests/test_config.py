"""Typed configs: presets, files, overrides and their error messages."""
from pathlib import Path

import pytest
import yaml

from gtgan.cli import main
from gtgan.config import (ConfigError, RunConfig, apply_overrides, config_text, from_dict,
                          load_run_config, save_yaml, to_dict)
from gtgan.presets import PRESETS, get_preset, resolve_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("name", list(PRESETS))
def test_configs_folder_matches_presets(name, capsys):
    """configs/NAME.yaml is the preset written out, to the letter; regenerate with
    `gtgan config NAME > configs/NAME.yaml`."""
    assert main(["config", name]) == 0
    text = capsys.readouterr().out
    assert text == config_text(get_preset(name))
    assert (CONFIGS / f"{name}.yaml").read_text() == text, f"configs/{name}.yaml is stale"
    assert load_run_config(CONFIGS / f"{name}.yaml", complete=True) == get_preset(name)


def test_configs_folder_holds_the_presets_only():
    assert sorted(p.stem for p in CONFIGS.glob("*.yaml")) == sorted(PRESETS)


def test_config_reference_is_the_knobs(capsys):
    """docs/config.md is `gtgan config --explain`, written from the knobs."""
    from gtgan.config.reference import explain

    assert main(["config", "--explain"]) == 0
    text = capsys.readouterr().out
    assert text == explain()
    assert (DOCS / "config.md").read_text() == text, "regenerate: gtgan config --explain > docs/config.md"
    for path, k in _knobs():
        assert f"| `{path}` |" in text
    assert main(["config", "--explain", "paper"]) == 2


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


def _knobs():
    from gtgan.config import leaves

    return [(path, f.metadata.get("knob")) for path, f in leaves(RunConfig)]


def test_every_config_field_is_a_knob():
    """A field cannot be added without its rule, doc and history: every leaf is a knob(...),
    its default and its earlier value pass its rule, its version is a known one, and each
    version's field count is right (a new field in the current version, without a new
    version, would make configs written before it unreadable)."""
    from gtgan.config import CONFIG_VERSION, VERSIONS

    knobs = _knobs()
    assert len(knobs) > 60
    default = RunConfig()
    for path, k in knobs:
        assert k is not None, f"{path}: not a knob(...)"
        assert k.doc.strip() and callable(k.rule.ok), path
        assert k.rule.ok(_get(default, path)), f"{path}: the default breaks its own rule"
        assert k.added in VERSIONS, f"{path}: added={k.added} is not in VERSIONS"
        if k.added > 1:
            assert k.rule.ok(k.before), f"{path}: before={k.before!r} breaks its rule"
    assert sorted(VERSIONS) == list(range(1, CONFIG_VERSION + 1))
    for version, (_, count) in VERSIONS.items():
        assert sum(k.added <= version for _, k in knobs) == count, \
            f"version {version} had {count} fields: a field added since needs a new version"


def _get(cfg, path):
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg


@pytest.mark.parametrize("path", [p for p, _, _ in _field_paths(RunConfig)])
def test_every_field_refuses_a_value_outside_its_range(path):
    """Each field's rule names one value it refuses; validate() refuses it, naming the field."""
    cfg = get_preset("demo")
    bad = dict(_knobs())[path].rule.refused
    *parents, name = path.split(".")
    setattr(_get(cfg, ".".join(parents)) if parents else cfg, name, bad)
    with pytest.raises(ConfigError) as err:
        cfg.validate()
    assert str(err.value).startswith(f"{path} = {bad!r}: ")


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
