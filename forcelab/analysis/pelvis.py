"""Pelvic obliquity and contralateral pelvic drop per stance, from pelvis markers.

Pure computation on marker trajectories (NumPy); definitions and references in docs/metrics.md.

- **Pelvic obliquity** is the angle, in the lab's frontal plane (vertical x medio-lateral axes),
  of the line from the left to the right pelvis landmark; positive when the right side is higher.
  The landmarks are the iliac crests when both are present, else the mean of ASIS and PSIS per side.
- **Contralateral pelvic drop** of a stance is the largest drop of the swing side during that
  stance, in degrees below the athlete's neutral obliquity (a static standing trial when one is
  recorded, else the mean over the trial), with its time in % of stance. Positive values mean the
  swing side fell below neutral (Bramah et al. 2018 measured it at mid-stance; each extra degree
  went with about 80 % higher odds of a running injury).
- Marker gaps stay gaps: a stance whose window holds a missing landmark sample gets no value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forcelab.errors import AnalysisError, InputError
from forcelab.recording import MarkerTrajectories

#: Landmark label spellings per side, in order of preference (case-insensitive; a ``subject:``
#: prefix is ignored). Fukuchi et al. 2017 (R.Iliac.Crest, R.ASIS, R.PSIS), Plug-in Gait
#: (RASI, RPSI) and the spelled-out variants (RASIS, RPSIS, RIC).
_CREST = ("{s}.iliac.crest", "{s}_iliac_crest", "{s}iliaccrest", "{s}ic", "{s}icr")
_ASIS = ("{s}.asis", "{s}_asis", "{s}asis", "{s}asi")
_PSIS = ("{s}.psis", "{s}_psis", "{s}psis", "{s}psi")

#: A stance is given a drop only when its window holds at least this many marker samples.
MIN_SAMPLES_PER_STANCE = 3

METHOD_CRESTS = "iliac crests"
METHOD_ASIS_PSIS = "mean of ASIS and PSIS"
NEUTRAL_STATIC = "static standing trial"
NEUTRAL_TRIAL_MEAN = "mean over the trial"


@dataclass(frozen=True)
class PelvisMarkers:
    """Which labels make the left and the right pelvis landmark.

    Attributes
    ----------
    method : str
        :data:`METHOD_CRESTS` or :data:`METHOD_ASIS_PSIS`.
    left, right : tuple of str
        The labels averaged into each side's landmark (one crest, or ASIS and PSIS).
    """

    method: str
    left: tuple[str, ...]
    right: tuple[str, ...]


@dataclass(frozen=True)
class PelvicDrop:
    """Contralateral pelvic drop of each stance.

    Attributes
    ----------
    drop_deg : ndarray of float
        Largest drop of the swing side below neutral during each stance, in degrees
        (NaN where the markers have a gap in the stance or the side is unknown).
    time_pct : ndarray of float
        When that largest drop happened, in % of stance (NaN where ``drop_deg`` is NaN).
    neutral_deg : float
        The neutral obliquity the drops are measured from, in degrees (right side higher > 0).
    neutral_method : str
        :data:`NEUTRAL_STATIC` or :data:`NEUTRAL_TRIAL_MEAN`.
    """

    drop_deg: np.ndarray
    time_pct: np.ndarray
    neutral_deg: float
    neutral_method: str


def _normalise(label: str) -> str:
    return label.rsplit(":", 1)[-1].strip().lower()


def find_pelvis_markers(labels: Sequence[str]) -> PelvisMarkers:
    """Pick the pelvis landmarks from a marker set's labels.

    Parameters
    ----------
    labels : sequence of str
        Marker labels as the file names them.

    Returns
    -------
    PelvisMarkers
        Iliac crests when both sides have one, else ASIS and PSIS of both sides.

    Raises
    ------
    AnalysisError
        Neither both iliac crests nor ASIS and PSIS on both sides are present.
    """
    by_norm = {_normalise(lab): lab for lab in labels}

    def pick(patterns: tuple[str, ...], side: str) -> str | None:
        for p in patterns:
            for s in (side, side.upper()):
                hit = by_norm.get(p.format(s=s.lower()))
                if hit is not None:
                    return hit
        return None

    crests = [pick(_CREST, s) for s in "lr"]
    if all(crests):
        return PelvisMarkers(METHOD_CRESTS, (crests[0],), (crests[1],))
    asis = [pick(_ASIS, s) for s in "lr"]
    psis = [pick(_PSIS, s) for s in "lr"]
    if all(asis) and all(psis):
        return PelvisMarkers(METHOD_ASIS_PSIS, (asis[0], psis[0]), (asis[1], psis[1]))
    pelvic = sorted(lab for lab in labels if re.search(r"asi|psi|iliac|crest", lab, re.I))
    raise AnalysisError(
        "no pelvis markers: need left and right iliac crests, or left and right ASIS and PSIS "
        f"(pelvis-like labels found: {', '.join(pelvic) if pelvic else 'none'})"
    )


def landmark(points: dict[str, np.ndarray], labels: tuple[str, ...]) -> np.ndarray:
    """The mean trajectory of ``labels`` (each ``(n, 3)``); NaN wherever any of them is missing."""
    return np.mean(np.stack([np.asarray(points[lab], dtype=np.float64) for lab in labels]), axis=0)


def pelvic_obliquity_deg(
    left_xyz: np.ndarray, right_xyz: np.ndarray, vertical_axis: int, ml_axis: int
) -> np.ndarray:
    """Pelvic obliquity in degrees, positive when the right side is higher.

    Parameters
    ----------
    left_xyz, right_xyz : ndarray, shape (n, 3)
        Left and right landmark positions in the lab frame (any one length unit).
    vertical_axis : int
        Index (0, 1, 2) of the lab's vertical axis, pointing up.
    ml_axis : int
        Index of the lab's medio-lateral axis; its sign is taken from the markers themselves
        (the right landmark lies to the right of the left one).

    Returns
    -------
    ndarray of float, shape (n,)
        Obliquity per sample in degrees (NaN where a landmark is missing).

    Raises
    ------
    InputError
        Axes that are not two different indices of 0..2, or markers whose left-right line is
        not medio-lateral on ``ml_axis`` (swapped labels or a wrong axis).
    """
    axes = (vertical_axis, ml_axis)
    if any(a not in (0, 1, 2) for a in axes) or vertical_axis == ml_axis:
        raise InputError(
            f"the vertical and medio-lateral axes must be two different axes of x, y, z; got "
            f"{vertical_axis} and {ml_axis}"
        )
    left = np.asarray(left_xyz, dtype=np.float64)
    right = np.asarray(right_xyz, dtype=np.float64)
    if left.ndim != 2 or left.shape[1] != 3 or left.shape != right.shape:
        raise InputError("landmark trajectories must both have shape (n, 3)")
    d = right - left
    width = np.linalg.norm(d, axis=1)
    ml = d[:, ml_axis]
    finite = np.isfinite(ml) & np.isfinite(width) & (width > 0)
    if not finite.any():
        raise AnalysisError("the pelvis markers have no sample where both sides are present")
    # The pelvis width must lie mostly along the medio-lateral axis (obliquity and rotation
    # of a running pelvis stay well below 45 degrees).
    share = np.abs(ml[finite]) / width[finite]
    if np.median(share) < np.cos(np.radians(45.0)):
        raise InputError(
            f"the left-right pelvis line does not lie along axis {'xyz'[ml_axis]}: give the "
            "medio-lateral axis of the lab (option --ml-axis)"
        )
    sign = 1.0 if np.median(ml[finite]) > 0 else -1.0
    return np.degrees(np.arctan2(d[:, vertical_axis], sign * ml))


def neutral_obliquity_deg(
    trial_obliquity_deg: np.ndarray, static_obliquity_deg: np.ndarray | None = None
) -> tuple[float, str]:
    """The athlete's neutral obliquity and how it was found.

    Parameters
    ----------
    trial_obliquity_deg : ndarray
        Obliquity during the trial (degrees).
    static_obliquity_deg : ndarray or None
        Obliquity during a static standing trial, when one was recorded.

    Returns
    -------
    (float, str)
        Neutral in degrees and :data:`NEUTRAL_STATIC` or :data:`NEUTRAL_TRIAL_MEAN`.
    """
    if static_obliquity_deg is not None:
        static = np.asarray(static_obliquity_deg, dtype=np.float64)
        if np.isfinite(static).any():
            return float(np.nanmean(static)), NEUTRAL_STATIC
    trial = np.asarray(trial_obliquity_deg, dtype=np.float64)
    if not np.isfinite(trial).any():
        raise AnalysisError("no pelvis marker sample in the trial to take a neutral from")
    return float(np.nanmean(trial)), NEUTRAL_TRIAL_MEAN


def pelvic_drop_per_stance(
    obliquity_deg: np.ndarray,
    rate_hz: float,
    t0_s: float,
    start_s: np.ndarray,
    end_s: np.ndarray,
    sides: Sequence[str | None],
    neutral_deg: float,
    neutral_method: str = NEUTRAL_TRIAL_MEAN,
) -> PelvicDrop:
    """Contralateral pelvic drop of every stance.

    Parameters
    ----------
    obliquity_deg : ndarray, shape (n,)
        Pelvic obliquity (degrees, right side higher > 0), uniformly sampled.
    rate_hz : float
        Marker rate in Hz.
    t0_s : float
        Time of the first marker sample on the recording's time base (s).
    start_s, end_s : ndarray
        Contact and toe-off time of each stance (s, same time base).
    sides : sequence of {"left", "right", None}
        Stance foot of each stance; the swing side is the other one.
    neutral_deg : float
        Neutral obliquity (degrees), see :func:`neutral_obliquity_deg`.
    neutral_method : str
        How the neutral was found (stored with the result).

    Returns
    -------
    PelvicDrop
    """
    obl = np.asarray(obliquity_deg, dtype=np.float64)
    start = np.asarray(start_s, dtype=np.float64)
    end = np.asarray(end_s, dtype=np.float64)
    if not (start.shape == end.shape == (len(sides),)):
        raise InputError("stance starts, ends and sides must have the same length")
    if not np.isfinite(rate_hz) or rate_hz <= 0:
        raise InputError(f"marker rate must be a positive number of Hz, got {rate_hz!r}")
    drop = np.full(start.shape, np.nan)
    when = np.full(start.shape, np.nan)
    rel = obl - neutral_deg
    for k, side in enumerate(sides):
        if side not in ("left", "right") or not end[k] > start[k]:
            continue
        i0 = max(0, int(np.ceil((start[k] - t0_s) * rate_hz - 1e-9)))
        i1 = min(obl.size - 1, int(np.floor((end[k] - t0_s) * rate_hz + 1e-9)))
        window = rel[i0 : i1 + 1]
        if window.size < MIN_SAMPLES_PER_STANCE or not np.isfinite(window).all():
            continue
        # Right stance: the left (swing) side drops when the right side is relatively higher.
        swing_drop = window if side == "right" else -window
        j = int(np.argmax(swing_drop))
        drop[k] = swing_drop[j]
        t = t0_s + (i0 + j) / rate_hz
        when[k] = 100.0 * (t - start[k]) / (end[k] - start[k])
    return PelvicDrop(drop, when, float(neutral_deg), neutral_method)


def describe_pelvic_drop(drop_deg: np.ndarray, sides: Sequence[str | None]) -> str | None:
    """One line for the coach, e.g. "on right-foot stances the left hip drops 7.2° ± 1.1°;
    3.1° more than on left-foot stances"; None when no stance has a value.

    Parameters
    ----------
    drop_deg : ndarray
        Per-stance contralateral drop (degrees), NaN where unknown.
    sides : sequence of str or None
        Stance foot per stance.
    """
    drop = np.asarray(drop_deg, dtype=np.float64)
    side_arr = np.asarray([s or "" for s in sides])
    stats = {}
    for side in ("left", "right"):
        vals = drop[(side_arr == side) & np.isfinite(drop)]
        if vals.size:
            sd = float(np.std(vals, ddof=1)) if vals.size > 1 else 0.0
            stats[side] = (float(np.mean(vals)), sd, vals.size)
    if not stats:
        return None
    other = {"left": "right", "right": "left"}
    # Lead with the side whose stances show the larger drop.
    lead = max(stats, key=lambda s: stats[s][0])
    mean, sd, _ = stats[lead]
    verb = "drops" if mean >= 0 else "stays above neutral by"
    text = f"on {lead}-foot stances the {other[lead]} hip {verb} {abs(mean):.1f}° ± {sd:.1f}°"
    if other[lead] in stats:
        diff = mean - stats[other[lead]][0]
        text += f"; {diff:.1f}° more than on {other[lead]}-foot stances"
    return text


#: At least this share of the valid sided stances must get a value, else the markers are
#: "too gappy" to describe the trial (the values that exist are still kept per stance).
MIN_SHARE_WITH_DROP = 0.5


def medio_lateral_axis(left_xyz: np.ndarray, right_xyz: np.ndarray, vertical_axis: int) -> int:
    """The lab axis (not the vertical) along which the left and right landmarks lie apart."""
    d = np.abs(np.asarray(right_xyz, dtype=np.float64) - np.asarray(left_xyz, dtype=np.float64))
    spread = [
        np.nanmedian(d[:, a]) if a != vertical_axis and np.isfinite(d[:, a]).any() else -1.0
        for a in range(3)
    ]
    return int(np.argmax(spread))


def add_pelvic_drop(
    rows: list[dict],
    trajectories: MarkerTrajectories,
    static: MarkerTrajectories | None = None,
    vertical_axis: int | None = None,
) -> dict:
    """Add ``pelvic_drop_deg`` and ``pelvic_drop_pct`` to every stance row (None where unknown).

    Parameters
    ----------
    rows : list of dict
        Stance rows with ``start_s``, ``end_s`` (recording time base, s) and ``side``.
    trajectories : MarkerTrajectories
        The trial's marker trajectories.
    static : MarkerTrajectories, optional
        A static standing trial of the same athlete: its mean obliquity is the neutral.
    vertical_axis : int, optional
        The lab's upward axis, when the trajectories do not say.

    Returns
    -------
    dict
        What was used: ``landmarks`` (method), ``left``/``right`` labels, ``vertical_axis``,
        ``ml_axis``, ``neutral_deg``, ``neutral_method``, ``n_stances_with_value``, ``text``
        (the coach's line or None), and ``warning`` when the markers are too gappy.

    Raises
    ------
    AnalysisError
        No pelvis markers, or no usable marker sample; the rows keep None then.
    InputError
        The vertical axis is unknown or the axes contradict the markers.
    """
    for r in rows:
        r["pelvic_drop_deg"] = None
        r["pelvic_drop_pct"] = None
    found = find_pelvis_markers(trajectories.labels)
    up = trajectories.vertical_axis if vertical_axis is None else vertical_axis
    if up is None:
        raise InputError(
            "the vertical axis of the marker trajectories is unknown: give it (option "
            "--marker-vertical x|y|z)"
        )
    points = {lab: trajectories.point(lab) for lab in found.left + found.right}
    left, right = landmark(points, found.left), landmark(points, found.right)
    ml = medio_lateral_axis(left, right, up)
    obl = pelvic_obliquity_deg(left, right, up, ml)
    static_obl = None
    if static is not None:
        s_found = find_pelvis_markers(static.labels)
        s_points = {lab: static.point(lab) for lab in s_found.left + s_found.right}
        static_obl = pelvic_obliquity_deg(
            landmark(s_points, s_found.left), landmark(s_points, s_found.right), up, ml
        )
    neutral, how = neutral_obliquity_deg(obl, static_obl)
    sides = [r.get("side") for r in rows]
    res = pelvic_drop_per_stance(
        obl,
        trajectories.rate_hz,
        trajectories.t0_s,
        np.array([r["start_s"] for r in rows], dtype=np.float64),
        np.array([r["end_s"] for r in rows], dtype=np.float64),
        sides,
        neutral,
        how,
    )
    for r, d, p in zip(rows, res.drop_deg, res.time_pct, strict=True):
        if np.isfinite(d):
            r["pelvic_drop_deg"] = float(d)
            r["pelvic_drop_pct"] = float(p)
    candidates = [r for r in rows if r.get("valid", True) and r.get("side") in ("left", "right")]
    with_value = [r for r in candidates if r["pelvic_drop_deg"] is not None]
    info = {
        "landmarks": found.method,
        "left": list(found.left),
        "right": list(found.right),
        "vertical_axis": "xyz"[up],
        "ml_axis": "xyz"[ml],
        "neutral_deg": neutral,
        "neutral_method": how,
        "n_stances_with_value": len(with_value),
        "text": describe_pelvic_drop(
            np.array(
                [
                    r["pelvic_drop_deg"] if r["pelvic_drop_deg"] is not None else np.nan
                    for r in candidates
                ]
            ),
            [r["side"] for r in candidates],
        ),
    }
    if candidates and len(with_value) < MIN_SHARE_WITH_DROP * len(candidates):
        info["warning"] = (
            f"pelvis markers too gappy: only {len(with_value)} of {len(candidates)} stances have "
            "a complete pelvis during contact"
        )
    return info
