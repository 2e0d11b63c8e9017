"""One cache folder for everything gtgan caches (embeddings, FID references, attribute judges)."""
from pathlib import Path

from gtgan.fileio import default_cache_dir
from gtgan.metrics import EvalOptions


def test_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("GTGAN_CACHE_DIR", str(tmp_path / "own"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "own"
    monkeypatch.delenv("GTGAN_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "xdg" / "gtgan"
    assert EvalOptions().cache_path() == tmp_path / "xdg" / "gtgan"  # metrics use the same one
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # empty means unset (XDG base directory spec)
    assert default_cache_dir() == Path.home() / ".cache" / "gtgan"
