"""The compiled clock-line fit against the NumPy form it replaced (tests/drivers/reference_clock.py,
with the exact least-squares line): the same points chosen and the same line, for the settings
each driver uses, after every round trip of long noisy runs (drift, delayed legs, device clock
jumps, tied delays)."""

from __future__ import annotations

import numpy as np
import pytest
from forcelab.drivers._clock import fit_clock_line
from forcelab.drivers.clock import ClockFit
from reference_clock import exact_line, fit_clock_line_numpy

#: (ClockFit keywords, round trips per s) as INS1, FPB1 and CSV4 (arrival times) use them.
SETTINGS = {
    "ins1": ({}, 4.0),
    "fpb1": ({"keep": 512, "n_bins": 8, "min_span_s": 10.0}, 1.0),
    "csv4": ({"keep": 600, "n_bins": 16, "min_span_s": 2.0, "outlier_s": 0.05,
              "gate_s": None}, 20.0),
}


def _round_trips(rng: np.random.Generator, n: int, rate_hz: float, tie: bool):
    """n noisy round trips: (host send, host receive, device rx, device tx) in s."""
    ppm = rng.uniform(-400, 400)
    host_send = 1.7e9 + np.arange(n) / rate_hz + rng.uniform(0, 0.01, n)
    up = 0.0002 + rng.exponential(0.0005, n)
    down = 0.0002 + rng.exponential(0.0005, n)
    late = rng.random(n) < 0.05  # a leg delayed by the host (a busy machine)
    down[late] += rng.uniform(0.002, 0.05, late.sum())
    if tie:  # delays in whole 100 µs steps: many equal round trips
        up, down = np.round(up, 4), np.round(down, 4)
    host_rx = host_send + up
    dev_rx = 50.0 + (host_rx - 1.7e9) * (1 + ppm * 1e-6)
    jump = int(rng.integers(n // 2, n)) if rng.random() < 0.3 else n  # device clock jump
    dev_rx[jump:] += rng.uniform(0.01, 0.1)
    dev_tx = dev_rx + 20e-6
    host_recv = host_rx + 20e-6 + down
    return host_send, host_recv, dev_rx, dev_tx


@pytest.mark.parametrize("name", list(SETTINGS))
@pytest.mark.parametrize("seed", range(6))
def test_the_compiled_fit_gives_the_numpy_line_after_every_round_trip(name, seed):
    kw, rate_hz = SETTINGS[name]
    rng = np.random.default_rng(seed)
    fit = ClockFit(**kw)
    n = int(rng.integers(20, 700))
    for hs, hr, dr, dt in zip(*_round_trips(rng, n, rate_hz, tie=seed % 2 == 1), strict=True):
        if fit.gate_s is None:  # CSV4: arrival times, the delay includes the offset
            fit.add_point(dr, hr, hr - dr)
        else:
            fit.add(hs, hr, dr, dt)
        ref, off, skew = fit_clock_line_numpy(fit._dev, fit._host, fit._rtt, fit.gate_s,
                                              fit.n_bins, fit.min_span_s, fit.outlier_s,
                                              line=exact_line)
        assert fit.t_ref_dev_s == pytest.approx(ref, rel=1e-12, abs=1e-9)
        assert fit.skew == pytest.approx(skew, rel=1e-13)
        # the host time of the newest device time: the same to a few steps of a double
        # near 1.7e9 s (2.4e-7 s each)
        t_dev = fit._dev[-1]
        assert fit.to_host(t_dev) == pytest.approx(off + skew * (t_dev - ref), abs=1e-6)


@pytest.mark.parametrize("points", [
    ([5.0], [1.7e9], [0.001]),                                   # one round trip
    ([5.0, 5.0, 5.0, 5.0], [1.7e9, 1.7e9 + 1, 1.7e9 + 2, 1.7e9 + 3], [0.3, 0.2, 0.2, 0.4]),
    ([1.0, 2.0, 30.0, 31.0], [1.0, 2.0, 30.0, 31.0], [0.0, 0.0, 1.0, 1.0]),  # the gate keeps 2
    (list(np.arange(30.0)), list(1.7e9 + np.arange(30.0)), [0.001] * 30),  # all delays tied
])
def test_the_compiled_fit_gives_the_numpy_line_at_the_edges(points):
    dev, host, rtt = points
    got = fit_clock_line(dev, host, rtt, 0.002, 12, 2.0, 0.005)
    want = fit_clock_line_numpy(dev, host, rtt, 0.002, 12, 2.0, 0.005, line=exact_line)
    assert got[0] == pytest.approx(want[0], abs=1e-9)  # the reference device time
    assert got[1] == pytest.approx(want[1], abs=1e-6)  # the offset, host s near 1.7e9
    assert got[2] == pytest.approx(want[2], rel=1e-13)  # the skew


def test_the_compiled_fit_refuses_what_is_not_a_set_of_points():
    with pytest.raises(ValueError, match="same number"):
        fit_clock_line([], [], [], 0.002, 12, 2.0, 0.005)
    with pytest.raises(ValueError, match="same number"):
        fit_clock_line([1.0], [1.0, 2.0], [0.0], 0.002, 12, 2.0, 0.005)
