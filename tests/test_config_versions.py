"""Configs written by an earlier gtgan stay readable: the fields that came in since take the
values that keep what the config did, and a notice names them; a later config, or a field this
code does not know, is refused naming the file and the field.

tests/old_configs/ holds configs as earlier gtgan wrote them (from the git history of
configs/): demo and paper at 23a58eb (2026-11-28, the first config, version 1) and demo at
f7d1907 (2026-12-01, fields through version 5, no config_version key)."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
import yaml

from gtgan.cli import main
from gtgan.config import (CONFIG_VERSION, ConfigError, RunConfig, leaves, load_run_config,
                          save_yaml, to_dict)
from gtgan.errors import GtganWarning
from gtgan.presets import get_preset

OLD = Path(__file__).resolve().parent / "old_configs"
V1_DEMO = OLD / "demo-v1-23a58eb.yaml"
V1_PAPER = OLD / "paper-v1-23a58eb.yaml"
DEC1_DEMO = OLD / "demo-2026-12-01-f7d1907.yaml"


def _flat(data, prefix=""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _added():
    return {name: f.metadata["knob"] for name, f in leaves(RunConfig)}


@pytest.mark.parametrize("path", [V1_DEMO, V1_PAPER])
def test_version_1_fields_are_those_of_the_first_config(path):
    """A field without `added=` counts as version 1; the first config names them all."""
    first = set(_flat(yaml.safe_load(path.read_text())))
    assert first == {name for name, k in _added().items() if k.added == 1}


def test_first_paper_config_is_todays_paper_but_for_what_changed_on_purpose():
    """The paper preset as first written reads as today's, except the precision defaults that
    changed since (fp32 -> auto, recorded in the file)."""
    from gtgan.training.guard import flat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GtganWarning)
        then = flat(load_run_config(V1_PAPER, complete=True))
    now = flat(get_preset("paper"))
    assert {k: (then[k], now[k]) for k in now if then[k] != now[k]} == {
        "run.precision": ("fp32", "auto"), "run.channels_last": (False, "auto")}


def _load_noting(path, **kw):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        cfg = load_run_config(path, **kw)
    notes = [str(w.message) for w in seen if issubclass(w.category, GtganWarning)]
    return cfg, notes


def test_first_config_reads_with_the_values_from_before(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(V1_DEMO, run / "config.yaml")  # a run folder's own config: complete=True
    cfg, notes = _load_noting(run / "config.yaml", complete=True)
    assert len(notes) == 1 and str(run / "config.yaml") in notes[0]
    later = [name for name, k in _added().items() if k.added > 1]
    assert f"{len(later)} field(s)" in notes[0]
    for name in later:
        assert f"{name}=" in notes[0]
    # what the file says is kept; what it lacks is the old behaviour, not today's default
    assert (cfg.model.ngf, cfg.run.precision, cfg.run.channels_last) == (16, "bf16", True)
    assert cfg.model.text_scale == 1.0 and cfg.model.projected_d_stages == []
    assert not (cfg.model.word_attention or cfg.model.image_skip or cfg.loss.damsm_match)
    # a term that did not exist is off by its switch; its weight is today's, so switching it
    # on later gives the documented weight, not a silent zero
    assert cfg.loss.projected_weight == 1.0 and cfg.loss.damsm_weight == 5.0
    assert cfg.model.d_condition == "concat" and cfg.loss.fidelity_features == "vgg19"


def test_unversioned_intermediate_config_fills_only_what_it_lacks():
    cfg, notes = _load_noting(DEC1_DEMO, complete=True)
    assert cfg.model.text_scale == 32.0 and cfg.model.pam_kv_pool == 4  # its own values
    assert cfg.model.image_skip and cfg.optim.stage_warmup_fraction == 0.5
    since = [name for name, k in _added().items() if k.added > 5]  # the file has version 5's
    assert len(notes) == 1 and f"{len(since)} field(s)" in notes[0]
    assert "model.text_scale" not in notes[0] and all(f"{n}=" in notes[0] for n in since)
    assert "model.projected_d_stages=[]" in notes[0] and "loss.projected_weight=1.0" in notes[0]


def test_versioned_old_config_and_round_trip(tmp_path):
    data = {"config_version": 4, **to_dict(get_preset("paper"))}
    later = [n for n, k in _added().items() if k.added > 4]
    for name in later:
        section, key = name.split(".")
        del data[section][key]
    path = tmp_path / "v4.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    cfg, notes = _load_noting(path, complete=True)
    assert len(notes) == 1 and "config version 4" in notes[0] and f"{len(later)} field(s)" in notes[0]
    save_yaml(cfg, tmp_path / "now.yaml")  # written whole, in the current version
    assert (tmp_path / "now.yaml").read_text().startswith(f"config_version: {CONFIG_VERSION}\n")
    again, notes = _load_noting(tmp_path / "now.yaml", complete=True)
    assert again == cfg and notes == []


@pytest.mark.parametrize("version,message", [
    (CONFIG_VERSION + 1, f"config_version = {CONFIG_VERSION + 1}: written by a later gtgan"),
    ("9", "config_version = '9': must be an integer in"),
    (True, "config_version = True: must be an integer in"),
    (0, "config_version = 0: must be an integer in"),
])
def test_later_or_bad_versions_are_refused(tmp_path, version, message):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"config_version": version, **to_dict(RunConfig())}))
    with pytest.raises(ConfigError) as err:
        load_run_config(path, complete=True)
    assert str(err.value).startswith(f"{path}: {message}")


def test_unknown_field_in_an_old_config_is_refused(tmp_path):
    data = yaml.safe_load(V1_DEMO.read_text())
    data["model"]["future_knob"] = 3
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"config.yaml: unknown config key\(s\) model.future_knob"):
        load_run_config(path, complete=True)


def test_a_field_of_its_own_version_missing_is_damage_or_a_partial_file(tmp_path):
    data = {"config_version": CONFIG_VERSION, **to_dict(get_preset("demo"))}
    del data["loss"]["fidelity_lite0_size"]  # version 9's field, in a version 9 file
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match=r"lacks 1 field\(s\) \(loss.fidelity_lite0_size\)"):
        load_run_config(path, complete=True)
    # a partial file given as --config: what it lacks takes today's defaults, silently
    path.write_text(yaml.safe_dump({"model": {"ngf": 32}, "loss": {"fidelity": False}}))
    cfg, notes = _load_noting(path)
    assert notes == [] and cfg.model.ngf == 32 and cfg.loss.projected_weight == 1.0


def test_resume_compares_an_old_record_with_its_earlier_values():
    """A checkpoint's state.json records the config as its gtgan knew it: the fields that came
    in since are compared at their earlier values, not reported as changed."""
    from gtgan.training.guard import check_resume_config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GtganWarning)
        cfg = load_run_config(V1_DEMO, complete=True)
    record = yaml.safe_load(V1_DEMO.read_text())
    where = Path("run/checkpoints/step-100")
    assert check_resume_config(cfg, {"config": record}, where) == []
    record["model"]["ngf"] = 32
    with pytest.raises(ConfigError, match="model.ngf = 16 in config.yaml, 32 in step-100"):
        check_resume_config(cfg, {"config": json.loads(json.dumps(record))}, where)


def test_gtgan_config_writes_an_old_config_in_the_current_version(capsys):
    assert main(["config", str(V1_DEMO)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"config_version: {CONFIG_VERSION}\n")
    assert "  projected_weight: 1.0\n" in out
    assert err.count("\n") == 1 and "gtgan config: " in err and "written by an earlier gtgan" in err
