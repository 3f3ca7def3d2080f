"""Which foot made each stance, and where it landed: sides, step width and crossover.

**Sides on one plate under both feet** (an instrumented treadmill with a single plate). Each
stance's medio-lateral COP is the median over the middle half of the stance
(:func:`stance_cop`). In running, with a flight between contacts, the feet alternate: the COP
only decides the *phase* of the alternation. Within each run of consecutive stances (no pause
longer than ``max_pause_s``, no gap, COP known), stance k *looks right* when its COP lies to
the right of the mean of its two neighbours' COPs (larger = right, the Recording convention;
comparing with neighbours copes with an athlete drifting across the belt). The foot sequence
is the one that disagrees least with these looks, where each disagreement costs 1 and two
contacts of the same foot in a row cost :data:`SAME_FOOT_COST` (a two-state Viterbi path,
compiled kernel ``alternation``). So an isolated crossover step (the foot lands across the
midline) keeps its side by alternation and stays valid, while a real same-foot double contact
(a skip, a stumble), after which the COP looks the other way for good, is found and flagged
(``double_contact``). A stance alone in its run is sided by the two-means boundary of all
stance COPs. Live analysis (:mod:`forcelab.acquisition.live`) calls the same functions.

**Step width** (signed, m): the right foot's ML position minus the left foot's, between this
stance and the previous contact of the other foot (within :data:`MAX_STEP_S`); positive for a
normal step, negative when the feet cross. **Crossover**: step width below zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forcelab import _stances
from forcelab.analysis.detection import Stances, as_force
from forcelab.errors import InputError

SAME_FOOT_COST = 4.0
"""Cost of two contacts of the same foot in a row, in disagreeing stances: a double contact is
accepted when it explains more than four stances' COP better than strict alternation."""

MAX_STEP_S = 2.5
"""Step times above this (s) are pauses, not steps (no step time, no step width)."""


def middle_half(start: int, end: int) -> tuple[int, int]:
    """Sample range ``[lo, hi)`` of the middle half of a stance (all of it below 4 samples)."""
    q = (end - start) // 4 if end - start >= 4 else 0
    return start + q, end - q


def median_cop(segment: np.ndarray) -> float:
    """Median of the finite COP samples (m), NaN when there are none."""
    seg = segment[np.isfinite(segment)]
    return float(np.median(seg)) if seg.size else float("nan")


def stance_cop(cop_ml: np.ndarray, stances: Stances) -> np.ndarray:
    """Median medio-lateral COP (m) over the middle half of each stance (NaN when unknown)."""
    out = np.full(len(stances), np.nan)
    for k, (s, e) in enumerate(zip(stances.start, stances.end, strict=True)):
        lo, hi = middle_half(int(s), int(e))
        out[k] = median_cop(cop_ml[lo:hi])
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
    is robust to one foot's COP varying more than the other's (seen in real treadmill data).
    At a run's ends the one neighbour is the reference.
    """
    n = c.shape[0]
    ref = np.empty(n)
    ref[1:-1] = 0.5 * (c[:-2] + c[2:])
    ref[0] = c[1]
    ref[-1] = c[-2]
    return c > ref


def alternation(looks_right: np.ndarray, same_cost: float = SAME_FOOT_COST) -> np.ndarray:
    """Foot sequence of one run (True = right) from what each stance looks like (compiled)."""
    obs = np.ascontiguousarray(looks_right, dtype=np.int8)
    return _stances.alternation(obs, float(same_cost)).astype(bool)


def run_breaks(
    cop_m: np.ndarray,
    start_s: np.ndarray,
    end_s: np.ndarray,
    gap: np.ndarray,
    max_pause_s: float,
) -> np.ndarray:
    """True where a stance starts a new alternation run (first stance, after a pause longer
    than ``max_pause_s``, next to a gap, or where the COP is unknown)."""
    m = cop_m.shape[0]
    known = np.isfinite(cop_m)
    breaks = ~known
    if m:
        breaks[1:] |= (start_s[1:] - end_s[:-1]) > max_pause_s
        breaks[1:] |= gap[1:] | gap[:-1] | ~known[:-1]
        breaks[0] = True
    return breaks


def sides_by_alternation(
    cop_m: Any,
    start_s: Any,
    end_s: Any,
    gap: Any,
    max_pause_s: float = 1.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Sides of the stances of one plate under both feet (time order), by alternation.

    Parameters
    ----------
    cop_m : array_like, shape (m,)
        Medio-lateral COP of each stance in m (:func:`stance_cop`; NaN when unknown).
    start_s, end_s : array_like, shape (m,)
        Contact and toe-off of each stance in s.
    gap : array_like of bool, shape (m,)
        True for stances cut by a gap (a new run starts there).
    max_pause_s : float
        A pause longer than this (s) between stances starts a new run.

    Returns
    -------
    sides : ndarray of object
        "left", "right" or None (COP unknown).
    double_contact : ndarray of bool
        True for the second of two contacts of the same foot in a row.
    """
    c = np.asarray(cop_m, dtype=np.float64).reshape(-1)
    start = np.asarray(start_s, dtype=np.float64).reshape(-1)
    end = np.asarray(end_s, dtype=np.float64).reshape(-1)
    gaps = np.asarray(gap, dtype=bool).reshape(-1)
    m = c.shape[0]
    sides = np.full(m, None, dtype=object)
    double = np.zeros(m, dtype=bool)
    if m == 0:
        return sides, double
    breaks = run_breaks(c, start, end, gaps, max_pause_s)
    run_starts = np.flatnonzero(breaks)
    run_ends = np.append(run_starts[1:], m)
    split = two_means_split(c)
    for a, b in zip(run_starts, run_ends, strict=True):
        if not np.isfinite(c[a]):
            continue
        if b - a == 1:
            sides[a] = "right" if c[a] > split else "left"
            continue
        is_right = alternation(local_right(c[a:b]))
        sides[a:b] = np.where(is_right, "right", "left")
        double[a + 1 : b] = is_right[1:] == is_right[:-1]
    return sides, double


def assign_sides_from_cop(
    cop_ml: Any, stances: Stances, max_pause_s: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """Side of each stance of one plate under both feet, from the medio-lateral COP.

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
    double_contact : ndarray of bool
        True for the second of two contacts of the same foot in a row (a skip, a stumble).

    Raises
    ------
    InputError
        If the COP does not cover the stances.
    """
    cop = as_force(cop_ml, "cop_ml")
    if len(stances) and stances.end.max() > cop.shape[0]:
        raise InputError("cop_ml is shorter than the force the stances were detected in")
    c = stance_cop(cop, stances)
    rate = stances.rate_hz
    return sides_by_alternation(
        c, stances.start / rate, stances.end / rate, stances.reason == "gap", max_pause_s
    )


def step_widths(side: Any, start_s: Any, cop_m: Any, max_step_s: float = MAX_STEP_S) -> np.ndarray:
    """Signed step width (m) of each stance: right foot's ML position minus the left foot's.

    Parameters
    ----------
    side : array_like of str or None, shape (m,)
        "left" / "right" per stance, in time order (stances of every stream together).
    start_s : array_like, shape (m,)
        Contact time of each stance (s).
    cop_m : array_like, shape (m,)
        ML position of each stance (m, :func:`stance_cop`; one common frame for all streams).
    max_step_s : float
        The previous contact of the other foot must lie at most this long (s) before.

    Returns
    -------
    ndarray
        Step width in m, between each stance and the previous contact of the other foot;
        positive for a normal step, negative when the feet cross (crossover); NaN when unknown.
    """
    sides = np.asarray(side, dtype=object).reshape(-1)
    t = np.asarray(start_s, dtype=np.float64).reshape(-1)
    c = np.asarray(cop_m, dtype=np.float64).reshape(-1)
    m = sides.shape[0]
    out = np.full(m, np.nan)
    if m < 2:
        return out
    idx = np.arange(m)
    is_left = sides == "left"
    is_right = sides == "right"
    last_left = np.maximum.accumulate(np.where(is_left, idx, -1))
    last_right = np.maximum.accumulate(np.where(is_right, idx, -1))
    prev = np.full(m, -1)
    prev[1:] = np.where(is_left[1:], last_right[:-1], np.where(is_right[1:], last_left[:-1], -1))
    ok = prev >= 0
    p = np.where(ok, prev, 0)
    ok &= (t - t[p]) <= max_step_s
    width = np.where(is_right, c - c[p], c[p] - c)
    out[ok] = width[ok]
    return out
