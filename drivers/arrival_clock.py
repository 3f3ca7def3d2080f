"""Host times for devices without time sync: a line through the earliest arrivals.

A sample can arrive late (buffering, a busy host, a burst after a stall) but never before it
was made, so the lower envelope of (device time, arrival time) points is the device clock on the
host's time base. :class:`ArrivalClock` keeps, per ``bin_s`` of device time, the point with the
smallest lag (arrival − device time) and hands one point per closed bin to a
:class:`~forcelab.drivers.clock.ClockFit` fitted to that envelope (offset, and skew once the
points span ``min_span_s``). Fitting once per bin, not per sample, keeps a 100 Hz stream's clock
at a few fits per second.
"""

from __future__ import annotations

import math

import numpy as np
from forcelab.drivers.clock import ClockFit


class ArrivalClock:
    """Device time -> host time from arrival times (see the module docstring).

    Parameters
    ----------
    bin_s : float
        Device-time bin (s) in which the earliest arrival is kept.
    """

    def __init__(self, bin_s: float = 0.5) -> None:
        self.bin_s = float(bin_s)
        self.fit = ClockFit(keep=600, n_bins=16, min_span_s=2.0, outlier_s=0.05, gate_s=None)
        self._bin: int | None = None
        self._best: tuple[float, float, float] | None = None

    def add(self, t_dev_s: np.ndarray, arrival_s: np.ndarray) -> None:
        """Add samples' device times (s, continuous) and host arrival times (s, epoch)."""
        t_dev_s = np.asarray(t_dev_s, float)
        arrival_s = np.asarray(arrival_s, float)
        lag = arrival_s - t_dev_s
        bins = (t_dev_s // self.bin_s).tolist()
        a, n = 0, len(bins)
        while a < n:  # one pass per bin touched (usually one)
            b = a + 1
            while b < n and bins[b] == bins[a]:
                b += 1
            k = a + int(np.argmin(lag[a:b]))
            point = (float(t_dev_s[k]), float(arrival_s[k]), float(lag[k]))
            if self._bin is None or int(bins[a]) != self._bin:
                if self._best is not None:
                    self.fit.add_point(*self._best)  # the previous bin is closed
                self._bin, self._best = int(bins[a]), point
            elif point[2] < self._best[2]:
                self._best = point
            a = b
        if not self.fit.ready and self._best is not None:
            self.fit.add_point(*self._best)  # the very first samples need a time at once

    def to_host(self, t_dev_s: np.ndarray) -> np.ndarray:
        """Host times (s, ``time.time()`` epoch) of device times ``t_dev_s`` (s)."""
        return np.asarray(self.fit.to_host(np.asarray(t_dev_s, float)))

    @property
    def lag_s(self) -> float:
        """Smallest lag in the current bin (s), NaN before any sample."""
        return self._best[2] if self._best is not None else math.nan
