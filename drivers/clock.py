"""One clock fit for every driver: device time -> host ``time.time()`` time.

FPB1 feeds it PING round trips, INS1 TIME_SYNC round trips, CSV4 (no round trips) the arrival
times of its lines; see :class:`ClockFit`.
"""

from __future__ import annotations

import numpy as np
from forcelab.drivers._clock import fit_clock_line
from forcelab.drivers.errors import ProtocolError


class ClockFit:
    """Map a device clock onto the host ``time.time()`` clock from round-trip measurements.

    Each round trip (INS1 TIME_SYNC, FPB1 PING) gives the host send and receive times and the
    device times at receipt and transmission (FPB1: one device time for both). The device time
    at the middle of its turnaround is taken to be the host time at the middle of the round
    trip; the error is at most half the round trip
    minus the turnaround, so only the lowest round trips are kept: the recent points are split
    into ``n_bins`` time bins, the lowest-round-trip point of each bin is kept, and a line
    ``t_host = offset + skew · (t_dev − t_ref)`` is fitted through them (skew fixed at 1 while
    the points span less than ``min_span_s``). Points farther than ``outlier_s`` from the line
    (e.g. across a device clock jump) are dropped and the line refitted.

    Parameters
    ----------
    keep : int
        Number of most recent round trips considered.
    n_bins : int
        Time bins in which the lowest round trip is kept.
    min_span_s : float
        Device-time span (s) of the points needed before the skew is fitted.
    outlier_s : float
        Residual (s) beyond which a point is rejected.
    gate_s : float or None
        Round trips longer than ``max(gate_s, 4 × their lower quartile)`` are not used (None:
        keep all, for arrival-time points whose "delay" includes the clock offset).
    """

    def __init__(
        self,
        keep: int = 240,
        n_bins: int = 12,
        min_span_s: float = 2.0,
        outlier_s: float = 0.005,
        gate_s: float | None = 0.002,
    ) -> None:
        self.gate_s = gate_s
        self.keep = int(keep)
        self.n_bins = int(n_bins)
        self.min_span_s = float(min_span_s)
        self.outlier_s = float(outlier_s)
        self._dev: list[float] = []
        self._host: list[float] = []
        self._rtt: list[float] = []
        self.t_ref_dev_s = 0.0
        self.offset_s: float | None = None
        self.skew = 1.0

    def reset(self) -> None:
        """Forget every point (after the device rebooted and its clock restarted)."""
        self._dev.clear()
        self._host.clear()
        self._rtt.clear()
        self.offset_s = None
        self.skew = 1.0

    @property
    def n_points(self) -> int:
        """Round trips held."""
        return len(self._dev)

    @property
    def ready(self) -> bool:
        """True once at least one round trip was added."""
        return self.offset_s is not None

    @property
    def best_rtt_s(self) -> float:
        """Lowest round trip (or delay) held, in s (inf before any)."""
        return min(self._rtt, default=float("inf"))

    @property
    def drift_ppm(self) -> float:
        """Fitted rate error of the device clock in ppm (positive: the device clock runs fast;
        device s per host s − 1, × 1e6)."""
        return (1.0 / self.skew - 1.0) * 1e6

    def add(
        self,
        t_host_send_s: float,
        t_host_recv_s: float,
        t_dev_rx_s: float,
        t_dev_tx_s: float | None = None,
    ) -> None:
        """Add one round trip (host send/receive times, device receive/transmit times, s)."""
        if t_dev_tx_s is None:
            t_dev_tx_s = t_dev_rx_s
        turnaround = max(0.0, t_dev_tx_s - t_dev_rx_s)
        rtt = (t_host_recv_s - t_host_send_s) - turnaround
        self.add_point(0.5 * (t_dev_rx_s + t_dev_tx_s), 0.5 * (t_host_send_s + t_host_recv_s),
                       max(rtt, 0.0))

    def add_point(self, t_dev_s: float, t_host_s: float, delay_s: float) -> None:
        """Add one (device time, host time) pair; ``delay_s`` ranks it (lower = more exact).

        For links without round trips (CSV4), ``t_host_s`` is the arrival time and
        ``delay_s = t_host_s − t_dev_s``: the fit then follows the lower envelope of arrivals.
        """
        self._dev.append(float(t_dev_s))
        self._host.append(float(t_host_s))
        self._rtt.append(float(delay_s))
        if len(self._dev) > self.keep:
            del self._dev[0], self._host[0], self._rtt[0]
        self._fit()

    def _fit(self) -> None:
        # compiled (ext/drivers/_clock.pyx): a driver refits after every round trip
        self.t_ref_dev_s, self.offset_s, self.skew = fit_clock_line(
            self._dev, self._host, self._rtt, self.gate_s, self.n_bins, self.min_span_s,
            self.outlier_s)

    def to_host(self, t_dev_s: float | np.ndarray) -> float | np.ndarray:
        """Host time (s, ``time.time()`` epoch) of device time ``t_dev_s``.

        Raises
        ------
        ProtocolError
            If no round trip was added yet.
        """
        if self.offset_s is None:
            raise ProtocolError(
                "the device clock has not been synchronised yet (no TIME_SYNC or PING round "
                "trip)"
            )
        return self.offset_s + self.skew * (np.asarray(t_dev_s) - self.t_ref_dev_s) if isinstance(
            t_dev_s, np.ndarray
        ) else self.offset_s + self.skew * (float(t_dev_s) - self.t_ref_dev_s)
