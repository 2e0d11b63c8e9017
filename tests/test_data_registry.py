"""The data-kind registry: the one list every place asks (gtgan/data/registry.py)."""
import dataclasses

import pytest

from gtgan.cli import main
from gtgan.cli.cmd_encoder import data_overrides
from gtgan.data import data_kind, data_kinds, register_data_kind
from gtgan.errors import DataError


def test_an_unknown_kind_is_refused_naming_the_known_ones(tmp_path, capsys):
    assert main(["train", "--config", "stackgan++", "--out", str(tmp_path / "run"), "--quiet",
                 "--set", "data.kind=roses"]) == 2
    err = capsys.readouterr().err
    assert "data.kind = 'roses': must be one of " + ", ".join(data_kinds()) in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()
    with pytest.raises(DataError, match="must be one of"):
        data_kind("")


def test_a_name_is_registered_once():
    cub = data_kind("cub")
    assert register_data_kind(cub) is cub  # the same kind again (a module imported twice)
    with pytest.raises(TypeError, match="'cub' is registered twice"):
        register_data_kind(dataclasses.replace(cub, title="other birds"))


@pytest.mark.parametrize("name", sorted(data_kinds()))
def test_encoder_train_data_spec_follows_the_registry(name, tmp_path):
    kind = data_kind(name)
    preset, sets = data_overrides(f"{name}:{tmp_path if kind.needs_root else 120}")
    assert preset == kind.encoder_preset and sets[0] == f"data.kind={name}"
    assert sets[1] == f"data.{kind.spec_field}={tmp_path if kind.needs_root else 120}"
