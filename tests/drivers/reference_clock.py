"""The NumPy clock-line fit forcelab used before the compiled one (forcelab.drivers._clock),
kept only as the reference for the tests: the compiled fit must pick the same points and give
the same line.

The tests compare with the exact least-squares line through the chosen points (rational
arithmetic, ``line=exact_line``), not ``np.polyfit``'s (the default, as it was; the benchmark's
baseline): polyfit solves for host times near 1.7e9 s without centring them and was off by up
to 7 ppm in the skew on a few points, while the compiled fit centres its sums and gives the
exact line to the last bit.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def exact_line(x: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    """The least-squares line ``z = off + slope · x`` in exact arithmetic: (slope, off)."""
    xs = [Fraction(float(v)) for v in x]
    zs = [Fraction(float(v)) for v in z]
    xbar, zbar = sum(xs) / len(xs), sum(zs) / len(zs)
    slope = sum((a - xbar) * (b - zbar) for a, b in zip(xs, zs, strict=True)) / sum(
        (a - xbar) ** 2 for a in xs)
    return float(slope), float(zbar - slope * xbar)


def polyfit_line(x: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    """The line ``z = off + slope · x`` as ``ClockFit`` fitted it: ``np.polyfit``, (slope, off)."""
    slope, off = np.polyfit(x, z, 1)
    return slope, off


def fit_clock_line_numpy(dev_s, host_s, delay_s, gate_s, n_bins, min_span_s, outlier_s,
                         line=polyfit_line):
    """``ClockFit._fit`` as it was: ``(t_ref_dev_s, offset_s, skew)``; ``line`` fits the line
    through the chosen points."""
    dev = np.asarray(dev_s)
    host = np.asarray(host_s)
    rtt = np.asarray(delay_s)
    if gate_s is not None and len(rtt) >= 4:
        # round trips far above the usual ones were delayed on one leg: not used
        good = rtt <= max(gate_s, 4.0 * float(np.percentile(rtt, 25)))
        if good.sum() >= 2:
            dev, host, rtt = dev[good], host[good], rtt[good]
    span = dev.max() - dev.min()
    if span < min_span_s or len(dev) < 3:
        # too short to see a rate error: offset from the best of the most recent points
        recent = max(0, len(dev) - 5)
        k = recent + int(np.argmin(rtt[recent:]))
        return float(dev[k]), float(host[k]), 1.0
    edges = np.linspace(dev.min(), dev.max(), n_bins + 1)
    bins = np.clip(np.searchsorted(edges, dev, side="right") - 1, 0, n_bins - 1)
    order = np.lexsort((rtt, bins))
    first = np.ones(len(order), dtype=bool)
    first[1:] = bins[order][1:] != bins[order][:-1]
    sel = order[first]
    ref = float(dev[sel].mean())
    x = dev[sel] - ref
    y = host[sel]
    for _ in range(2):
        if len(x) >= 2 and np.ptp(x) > 0:
            skew, off = line(x, y - x)
            skew += 1.0
        else:
            skew, off = 1.0, float(np.mean(y - x))
        resid = y - (off + skew * x)
        good = np.abs(resid) <= outlier_s
        if good.all() or good.sum() < 2:
            break
        x, y = x[good], y[good]
    return ref, float(off), float(skew)
