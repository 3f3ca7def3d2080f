"""Fixtures of the console tests: an isolated configuration folder for every test."""

from __future__ import annotations

import pytest


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    """A fresh FORCELAB_CONFIG_DIR so tests never touch the user's athletes or settings."""
    folder = tmp_path / "config"
    folder.mkdir()
    monkeypatch.setenv("FORCELAB_CONFIG_DIR", str(folder))
    return folder
