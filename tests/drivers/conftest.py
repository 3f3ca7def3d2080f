"""Fixtures for driver tests: simulated setups over real ptys, always stopped afterwards."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from forcelab.drivers.base import Block, Device


@pytest.fixture
def open_sim() -> Iterator[Callable[..., list[Device]]]:
    """``open_sim("sim:plate?seed=1")`` -> devices; every device is closed at teardown."""
    from forcelab.drivers import open_devices

    opened: list[Device] = []

    def _open(url: str, **kw: object) -> list[Device]:
        devs = open_devices(url, **kw)
        opened.extend(devs)
        return devs

    yield _open
    for d in opened:
        d.close()


def _stream_for(devices: list[Device], seconds: float) -> list[list[Block]]:
    """Start the devices, read for ``seconds`` s, stop, drain; Blocks per device."""
    out: list[list[Block]] = [[] for _ in devices]
    for d in devices:
        d.start()
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        for i, d in enumerate(devices):
            out[i] += d.read(0.01)
    for i, d in enumerate(devices):
        d.stop()
        out[i] += d.read(0.05)
    return out


def _concat(blocks: list[Block]) -> tuple[np.ndarray, np.ndarray]:
    """(seq per sample, samples) of a list of Blocks."""
    seq = np.concatenate([b.seq + np.arange(b.n) for b in blocks])
    samples = np.concatenate([b.samples for b in blocks])
    return seq, samples


@pytest.fixture
def stream_for() -> Callable[[list[Device], float], list[list[Block]]]:
    """Start devices, read for some seconds, stop and drain: Blocks per device."""
    return _stream_for


@pytest.fixture
def concat() -> Callable[[list[Block]], tuple[np.ndarray, np.ndarray]]:
    """(seq per sample, samples) of a list of Blocks."""
    return _concat
