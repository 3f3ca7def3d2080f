"""Fixtures for driver tests: simulated setups over real ptys, always stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from driver_helpers import per_sample
from driver_helpers import stream_for as stream_for_
from forcelab.drivers import open_devices
from forcelab.drivers.base import Block, Device


@pytest.fixture
def open_sim(request: pytest.FixtureRequest) -> Callable[..., list[Device]]:
    """``open_sim("sim:plate?seed=1")`` -> devices; every device is closed at teardown."""

    def _open(url: str, **kw: object) -> list[Device]:
        devs = open_devices(url, **kw)
        for d in devs:
            request.addfinalizer(d.close)
        return devs

    return _open


@pytest.fixture
def stream_for() -> Callable[[list[Device], float], list[list[Block]]]:
    """Start devices, read for some seconds, stop and drain: Blocks per device."""
    return stream_for_


@pytest.fixture
def concat() -> Callable[[list[Block]], tuple[np.ndarray, np.ndarray]]:
    """(seq per sample, samples) of a list of Blocks."""
    return per_sample
