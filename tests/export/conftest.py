"""Fixtures for export tests: real session files recorded with the store from the gait model."""

from __future__ import annotations

from pathlib import Path

import pytest
from synth_sessions import make_session


@pytest.fixture(autouse=True)
def _pseudonym_key(monkeypatch, tmp_path):
    """A fixed pseudonym key, and no key file written into the user's real config folder."""
    monkeypatch.setenv("FORCELAB_PSEUDONYM_KEY", "test-key-1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture(scope="session")
def sessions(tmp_path_factory) -> dict[str, Path]:
    """Three session files: two treadmill belts (two trials), one plate, two insoles."""
    d = tmp_path_factory.mktemp("sessions")
    out = {}
    out["treadmill"] = d / "alex_treadmill.h5"
    make_session(out["treadmill"], trials=(("easy run", 5.0, 3.0), ("tempo", 4.0, 3.6)))
    out["plate"] = d / "alex_plate.h5"
    make_session(out["plate"], layout="plate", trials=(("run1", 6.0, 3.2),), seed=4)
    out["insoles"] = d / "alex_insoles.h5"
    make_session(out["insoles"], layout="insoles", trials=(("walk", 6.0, 1.4),), seed=5)
    return out
