"""Fixtures for recorder tests: real simulated devices behind ptys, a controller that is always
disconnected at the end, and a helper to wait on the controller without timed assertions."""

from __future__ import annotations

import pytest

from forcelab.acquisition import SessionController


@pytest.fixture
def insoles(sim_setup):
    """Start a simulated INS1 insole pair: ``insoles(seed=3, faults="drop:0.03")``."""
    return lambda **options: sim_setup("insoles", **options)


@pytest.fixture
def controller():
    ctl = SessionController()
    yield ctl
    ctl.close()
