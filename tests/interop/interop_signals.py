"""Shaped ground-reaction-force signals for reader tests (known stances, known values)."""

from __future__ import annotations

import numpy as np


def stance_train(
    rate_hz: float,
    n_stances: int = 6,
    contact_s: float = 0.25,
    flight_s: float = 0.12,
    peak_n: float = 1500.0,
    lead_s: float = 0.2,
) -> np.ndarray:
    """Half-sine stances separated by zero flight, starting and ending in flight (N)."""
    n_contact = int(round(contact_s * rate_hz))
    n_flight = int(round(flight_s * rate_hz))
    n_lead = int(round(lead_s * rate_hz))
    one = peak_n * np.sin(np.pi * (np.arange(n_contact) + 0.5) / n_contact)
    parts = [np.zeros(n_lead)]
    for _ in range(n_stances):
        parts += [one, np.zeros(n_flight)]
    return np.concatenate(parts)


def alternating_cop_mm(force_n: np.ndarray, left_mm: float = 1050.0, right_mm: float = 1200.0):
    """Medio-lateral COP (mm) alternating left/right per stance, first stance left."""
    loaded = force_n > 1.0
    starts = np.flatnonzero(loaded & ~np.r_[False, loaded[:-1]])
    cop = np.full(force_n.shape, np.nan)
    for k, start in enumerate(starts):
        end = start
        while end < loaded.size and loaded[end]:
            end += 1
        cop[start:end] = left_mm if k % 2 == 0 else right_mm
    return cop
