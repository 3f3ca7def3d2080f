"""Report tests reuse the synthetic session builder of the export tests."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))


@pytest.fixture(autouse=True)
def _pseudonym_key(monkeypatch, tmp_path):
    monkeypatch.setenv("FORCELAB_PSEUDONYM_KEY", "test-key-1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
