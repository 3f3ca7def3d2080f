"""Which foot made each stance: from the stream, or from the medio-lateral centre of pressure.

For one plate under both feet (an instrumented treadmill with a single plate), each stance's
medio-lateral COP is the median over the middle half of the stance. A stance whose COP lies to
the right of the mean of its two neighbours' COPs (larger = right, the Recording convention) is
a right-foot candidate; comparing with neighbours instead of one fixed boundary copes with an
athlete drifting across the belt. Feet must alternate, so within each run of consecutive
stances (no pause longer than ``max_pause_s``, no gap) the alternating sequence L, R, L, ... or
R, L, R, ... that agrees with more candidates is taken; a stance whose COP disagrees with the
alternation is a *cross-step* (the foot landed across the midline) and is flagged. A stance
alone in its run is sided by the two-means boundary of all stance COPs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forcelab.analysis.detection import Stances, as_force
from forcelab.errors import InputError


def stance_cop(cop_ml: np.ndarray, stances: Stances) -> np.ndarray:
    """Median medio-lateral COP (m) over the middle half of each stance (NaN when unknown)."""
    out = np.full(len(stances), np.nan)
    for k, (s, e) in enumerate(zip(stances.start, stances.end, strict=True)):
        q = (e - s) // 4
        seg = cop_ml[s + q : e - q] if e - s >= 4 else cop_ml[s:e]
        seg = seg[np.isfinite(seg)]
        if seg.size:
            out[k] = float(np.median(seg))
    return out


def two_means_split(values: np.ndarray) -> float:
    """Boundary between the two clusters of 1-D values (midpoint of the two means)."""
    v = np.sort(values[np.isfinite(values)])
    if v.size == 0:
        return float("nan")
    lo, hi = float(v[0]), float(v[-1])
    if hi == lo:
        return lo
    split = 0.5 * (lo + hi)
    for _ in range(50):
        left = v[v <= split]
        right = v[v > split]
        if left.size == 0 or right.size == 0:
            break
        new = 0.5 * (float(left.mean()) + float(right.mean()))
        if new == split:
            break
        split = new
    return split


def local_right(c: np.ndarray) -> np.ndarray:
    """True where a stance's COP lies to the right of the mean of its two neighbours' COPs.

    Comparing with the neighbours (the other foot when feet alternate) rather than with one
    global boundary keeps the decision right while the athlete drifts across the belt, and it
    is robust to one foot's COP varying more than the other's (seen in real treadmill data,
    where a wider window misreads normal steps). A cross-step is therefore seen when the foot
    lands past where the other foot lands around it.
    """
    n = c.shape[0]
    ref = np.empty(n)
    ref[1:-1] = 0.5 * (c[:-2] + c[2:])
    ref[0] = c[1]
    ref[-1] = c[-2]
    return c > ref


def assign_sides_from_cop(
    cop_ml: Any, stances: Stances, max_pause_s: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """Side of each stance from the medio-lateral centre of pressure, with alternation check.

    Parameters
    ----------
    cop_ml : array_like, shape (n,)
        Medio-lateral COP in m (larger = the subject's right), same samples as the force.
    stances : Stances
        Stances detected in the vertical force.
    max_pause_s : float
        A pause longer than this (s) between stances starts a new alternation run.

    Returns
    -------
    sides : ndarray of object
        "left", "right" or None (no COP during the stance).
    cross_step : ndarray of bool
        True where the COP side contradicts the left/right alternation.

    Raises
    ------
    InputError
        If the COP does not cover the stances.
    """
    cop = as_force(cop_ml, "cop_ml")
    if len(stances) and stances.end.max() > cop.shape[0]:
        raise InputError("cop_ml is shorter than the force the stances were detected in")
    m = len(stances)
    sides = np.full(m, None, dtype=object)
    cross = np.zeros(m, dtype=bool)
    if m == 0:
        return sides, cross
    c = stance_cop(cop, stances)
    known = np.isfinite(c)
    # runs of consecutive stances with a known COP, no gap and no long pause between them
    pause = np.zeros(m, dtype=bool)
    pause[1:] = (stances.start[1:] - stances.end[:-1]) / stances.rate_hz > max_pause_s
    gap = stances.reason == "gap"
    breaks = pause | ~known
    breaks[1:] |= gap[1:] | gap[:-1] | ~known[:-1]
    breaks[0] = True
    run_starts = np.flatnonzero(breaks)
    run_ends = np.append(run_starts[1:], m)
    split = two_means_split(c)
    for a, b in zip(run_starts, run_ends, strict=True):
        if not known[a]:
            continue
        if b - a == 1:
            sides[a] = "right" if c[a] > split else "left"
            continue
        obs = local_right(c[a:b])
        parity = (np.arange(b - a) % 2).astype(bool)
        agree_a = int(np.sum(obs == parity))  # starts left
        agree_b = int(np.sum(obs == ~parity))  # starts right
        if agree_a > agree_b or (agree_a == agree_b and not obs[0]):
            is_right = parity
        else:
            is_right = ~parity
        sides[a:b] = np.where(is_right, "right", "left")
        cross[a:b] = obs != is_right
    return sides, cross
