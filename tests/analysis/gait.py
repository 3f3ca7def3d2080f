"""Synthetic vertical-force signals with known stances, for the analysis tests."""

from __future__ import annotations

import numpy as np


def stance_shape(n: int, peak_n: float, kind: str = "running") -> np.ndarray:
    """Force of one stance of n samples (N), starting and ending near zero."""
    t = (np.arange(n) + 0.5) / n
    if kind == "running":
        return peak_n * np.sin(np.pi * t)
    if kind == "walking":
        # two humps (loading response, push-off) with a mid-stance valley
        return peak_n * (np.sin(np.pi * t) * (0.75 + 0.25 * np.cos(4 * np.pi * t)) + 0.0)
    if kind == "double_hump":
        # real walking: loading-response and push-off humps with a mid-stance trough at 50 %
        return peak_n * np.sin(np.pi * t) * (1.0 - 0.35 * np.cos(4 * np.pi * t))
    if kind == "box":
        return np.full(n, peak_n)
    raise ValueError(kind)


def make_gait(
    rate_hz: float = 1000.0,
    n_stances: int = 12,
    contact_s: float = 0.25,
    flight_s: float = 0.12,
    peak_n: float = 1500.0,
    kind: str = "running",
    lead_s: float = 0.3,
    tail_s: float = 0.3,
    offset_n: float = 0.0,
    ripple_n: float = 0.0,
    ripple_hz: float = 50.0,
    drift_n: float = 0.0,
    noise_n: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A run of stances; returns (force_n, true_start, true_end) with end exclusive."""
    rng = np.random.default_rng(seed)
    nc = int(round(contact_s * rate_hz))
    nf = int(round(flight_s * rate_hz))
    lead = int(round(lead_s * rate_hz))
    tail = int(round(tail_s * rate_hz))
    total = lead + n_stances * nc + max(n_stances - 1, 0) * nf + tail
    x = np.zeros(total)
    starts = lead + np.arange(n_stances) * (nc + nf)
    for s in starts:
        x[s : s + nc] = stance_shape(nc, peak_n, kind)
    t = np.arange(total) / rate_hz
    x += offset_n + ripple_n * np.sin(2 * np.pi * ripple_hz * t)
    x += drift_n * t / max(t[-1] if total else 0.0, 1e-9)
    if noise_n:
        x += rng.normal(0.0, noise_n, total)
    return x, starts.astype(np.int64), (starts + nc).astype(np.int64)
