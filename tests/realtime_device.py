"""A device for tests that streams, in real time, rows its subclass computes from the time.

Used where the simulators have no model (someone standing still, a board of a protocol forcelab
does not know): a real :class:`forcelab.drivers.Device` handed to the real controller.
"""

from __future__ import annotations

import time

import numpy as np
from forcelab.drivers import Block, Device, DeviceInfo, LinkStats


class RealTimeDevice(Device):
    """Streams the samples due since :meth:`start` at ``info.rate_hz``; :meth:`samples` gives
    their rows (one column per channel of ``info``) from their times (s since start)."""

    def __init__(self, info: DeviceInfo) -> None:
        self.info = info
        self.stats = LinkStats()
        self.rate_hz = info.rate_hz
        self._t0: float | None = None
        self._seq = 0

    def samples(self, t_s: np.ndarray) -> np.ndarray:
        """The rows of the samples at times ``t_s`` (s since start)."""
        raise NotImplementedError

    def start(self) -> None:
        self._t0 = time.time()

    def zero(self) -> None:
        """Nothing to zero on a simulated board."""

    def stop(self) -> None:
        self.close()

    def close(self) -> None:
        self._t0 = None

    def read(self, timeout: float = 0.1) -> list[Block]:
        """The samples due since the last read (as a real board streams them)."""
        time.sleep(min(timeout, 0.02))
        if self._t0 is None:
            return []
        n_due = int((time.time() - self._t0) * self.rate_hz)
        if n_due <= self._seq:
            return []
        t_s = np.arange(self._seq, n_due) / self.rate_hz
        block = Block(self._seq, t_s[0], self._t0 + t_s[0], self.samples(t_s))
        self._seq = n_due
        return [block]
