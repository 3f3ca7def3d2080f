"""Walking on one plate under both feet: left and right force from the medio-lateral COP.

While walking on a single-plate treadmill the feet overlap in time (double support), so the
plate's total force never returns to zero between steps and stance detection finds one long
contact per bout instead of alternating stances. The COP draws the *butterfly* pattern
(Roerdink et al. 2008, J Biomech 41:2628-2632): during single support it stays on the stance foot's
line, during double support it travels quickly from one foot to the other. Here:

- **Detection** (:func:`walking_on_one_plate`): a stream has merged walking stances when a
  valid stance lasts longer than :data:`MERGED_CONTACT_S` and its ML COP spans more than
  :data:`MIN_FOOT_DISTANCE_M` (the bout may run to the end of the file).
- **Foot lines**: the midline is the moving mean of the ML COP over :data:`LINE_WINDOW_S`
  (about one stride) of loaded samples; each foot's line is the moving mean of the samples on
  its side of the midline where the COP rests (single support: smoothed ML COP slower than
  :data:`STILL_M_S`).
- **Split**: with ``u = (cop - left line) / (right line - left line)`` the right foot carries
  ``clip((u - d) / (1 - 2 d), 0, 1)`` of the vertical force (the lever rule of the moment
  balance, with a dead zone ``d`` = :data:`DEAD_ZONE` for the COP moving within one foot);
  the left foot carries the rest. Unloaded samples are shared half and half.

It assumes each foot's own COP stays near its line during double support; the split force is
an estimate, documented as such in the result (``parameters["streams"][name]["split"]``).
"""

from __future__ import annotations

import numpy as np

MERGED_CONTACT_S = 1.6
"""A contact longer than this (s) on one plate under both feet holds more than one step."""

MIN_FOOT_DISTANCE_M = 0.05
"""The ML COP of a merged walking contact must span at least this (m) to tell the feet apart."""

LINE_WINDOW_S = 1.2
"""Moving-mean window (s) of the midline and of each foot's line."""

SMOOTH_S = 0.02
"""Moving-mean window (s) of the ML COP before its speed is taken."""

STILL_M_S = 0.3
"""ML COP speed (m/s) below which the COP is taken as resting on one foot (single support)."""

DEAD_ZONE = 0.0
"""Fraction of the distance between the foot lines next to each line where one foot carries
all the force."""


def walking_on_one_plate(
    cop_ml: np.ndarray, start: np.ndarray, end: np.ndarray, rate_hz: float
) -> str:
    """Whether the detected stances (complete or cut by the file's ends) of a one-plate stream
    are merged walking steps: "split" (they are, and the COP tells the feet apart), "cannot"
    (long contacts, but the COP does not tell the feet apart) or "" (separate stances)."""
    verdict = ""
    for s, e in zip(start, end, strict=True):
        if (e - s) / rate_hz <= MERGED_CONTACT_S:
            continue
        seg = cop_ml[s:e]
        seg = seg[np.isfinite(seg)]
        if seg.size and np.percentile(seg, 95) - np.percentile(seg, 5) >= MIN_FOOT_DISTANCE_M:
            return "split"
        verdict = "cannot"
    return verdict


def _moving_mean(values: np.ndarray, weight: np.ndarray, half: int) -> np.ndarray:
    """Weighted centred moving mean over ``2 half + 1`` samples (NaN where no weight)."""
    n = values.shape[0]
    cv = np.concatenate(([0.0], np.cumsum(np.where(weight, values, 0.0))))
    cw = np.concatenate(([0.0], np.cumsum(weight.astype(np.float64))))
    idx = np.arange(n)
    lo = np.maximum(idx - half, 0)
    hi = np.minimum(idx + half + 1, n)
    w = cw[hi] - cw[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(w > 0, (cv[hi] - cv[lo]) / w, np.nan)


def _filled(line: np.ndarray) -> np.ndarray:
    """A foot line with its gaps filled from the nearest known values (NaN if none known)."""
    known = np.flatnonzero(np.isfinite(line))
    if known.size == 0 or known.size == line.size:
        return line
    return np.interp(np.arange(line.size), known, line[known])


def split_by_cop(
    fz_n: np.ndarray, cop_ml: np.ndarray, loaded: np.ndarray, rate_hz: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Left and right vertical force (N) and COP (m) of one plate under both walking feet.

    Parameters
    ----------
    fz_n : ndarray
        Total vertical force (N).
    cop_ml : ndarray
        Medio-lateral COP (m, larger = right); NaN where unknown.
    loaded : ndarray of bool
        Samples with someone on the plate.
    rate_hz : float
        Sampling rate (Hz).

    Returns
    -------
    tuple of ndarray
        ``fz_left``, ``fz_right`` (N, adding up to ``fz_n``) and ``cop_left``, ``cop_right``
        (m: the COP where that foot carries all the force, else NaN).
    """
    half = max(1, int(round(LINE_WINDOW_S * rate_hz / 2)))
    ok = loaded & np.isfinite(cop_ml)
    mid = _moving_mean(cop_ml, ok, half)
    # single support: the COP moves slowly (smoothed over SMOOTH_S); during double support
    # it travels from one foot to the other
    smooth = _moving_mean(cop_ml, ok, max(1, int(round(SMOOTH_S * rate_hz / 2))))
    speed = np.abs(np.gradient(np.where(np.isfinite(smooth), smooth, 0.0))) * rate_hz
    still = ok & (speed < STILL_M_S)
    right_line = _moving_mean(cop_ml, still & (cop_ml > mid), half)
    left_line = _moving_mean(cop_ml, still & (cop_ml <= mid), half)
    # where the window holds one foot only (the first step), the two "lines" are that foot's
    # COP: such lines are unknown and taken from the nearest window that sees both feet
    with np.errstate(invalid="ignore"):
        apart = right_line - left_line >= 0.5 * MIN_FOOT_DISTANCE_M
    right_line = _filled(np.where(apart, right_line, np.nan))
    left_line = _filled(np.where(apart, left_line, np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        u = (cop_ml - left_line) / (right_line - left_line)
        share = np.clip((u - DEAD_ZONE) / (1.0 - 2.0 * DEAD_ZONE), 0.0, 1.0)
    share = np.where(ok & np.isfinite(share), share, 0.5)
    fz_right = fz_n * share
    fz_left = fz_n - fz_right
    cop_right = np.where(ok & (share == 1.0), cop_ml, np.nan)
    cop_left = np.where(ok & (share == 0.0), cop_ml, np.nan)
    return fz_left, fz_right, cop_left, cop_right
