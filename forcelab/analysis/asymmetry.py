"""Left/right asymmetry of stance metrics.

- Robinson symmetry index ``SI = (R - L) / ((R + L) / 2) * 100`` % of the left and right means;
  positive = right higher (Robinson, Herzog & Nigg 1987).
- Symmetry angle (Zifchock et al. 2008): ``SA = (45 deg - atan(L / R)) / 90 deg * 100`` %,
  shifted by 180 deg when above 90 deg; same sign convention as SI.
- 95 % confidence interval of SI across strides: delta method on the two means (stride-to-stride
  SDs and counts of each side), Student t with ``min(n_left, n_right) - 1`` degrees of freedom.
- "n/a" (None) when a side has no values, the means have opposite signs, or both means are below
  the metric's comparison floor (e.g. 1 N, 1 ms, 0.001 BW); the CI needs two values per side.
- A difference is **detectable** only when its 95 % CI excludes zero; otherwise the words say
  "not distinguishable from symmetric with N strides" and nothing colours it.
- **Reference bands**: how asymmetric healthy, well-trained runners are, per metric (Girard et
  al. 2019, instrumented treadmill, symmetry angle, upper end of the reported range, converted
  to the Robinson SI). A detectable difference is "within" or "above" its metric's band; labs
  may replace the bands (see :func:`reference_band`).
- **Strides needed**: how many more strides per side until the CI is within ±2 % (the
  half-width shrinks with the square root of the count).
- **Real change between sessions**: a change of SI counts as real when it exceeds the smallest
  real change ``1.96 * sqrt(se1² + se2²)`` from both sessions' stride-to-stride noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from forcelab.recording import finite_or_none

_T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    12: 2.179,
    15: 2.131,
    20: 2.086,
    25: 2.060,
    30: 2.042,
    40: 2.021,
    60: 2.000,
    120: 1.980,
}


def t_quantile_975(df: int) -> float:
    """Two-sided 95 % Student t quantile for ``df`` degrees of freedom (table, interpolated)."""
    if df < 1:
        return float("nan")
    keys = sorted(_T975)
    if df >= keys[-1]:
        return 1.96 + (1.980 - 1.96) * keys[-1] / df
    if df in _T975:
        return _T975[df]
    lo = max(k for k in keys if k < df)
    hi = min(k for k in keys if k > df)
    # interpolate in 1/df, which is close to linear for t quantiles
    w = (1 / df - 1 / hi) / (1 / lo - 1 / hi)
    return _T975[hi] + w * (_T975[lo] - _T975[hi])


def comparison_floor(metric: str) -> float:
    """Smallest mean magnitude (in the metric's unit) that is worth comparing."""
    if metric.endswith("_bw_s") or metric.endswith("_bw"):
        return 1e-3
    if metric.endswith("_n_s"):
        return 1.0
    if metric.endswith("_ns"):
        return 1e-2
    if metric.endswith("_n"):
        return 1.0
    if metric.endswith("_pct"):
        return 0.5
    if metric.endswith("_spm"):
        return 1.0
    if metric.endswith("_s"):
        return 1e-3
    return 1e-9


@dataclass(frozen=True)
class ReferenceBand:
    """How asymmetric healthy runners are in one metric.

    Attributes
    ----------
    si_pct : float
        Upper limit of |SI| (%) seen in healthy, well-trained runners.
    source : str
        Where the limit comes from (shown with the band).
    words : str
        How the text names the band ("healthy runners show", "lab band", "default band").
    """

    si_pct: float
    source: str
    words: str = "healthy runners show"


def si_from_symmetry_angle(sa_pct: float) -> float:
    """The Robinson SI (%) of a pair whose Zifchock symmetry angle is ``sa_pct`` (%).

    SA = (45° − atan(L/R)) / 90° · 100 and SI = 200 (R − L)/(R + L) give
    SI = 200 · tan(0.9° · SA) exactly.
    """
    return 200.0 * math.tan(math.radians(0.9 * sa_pct))


_GIRARD_2019 = (
    "Girard et al. 2019 (9 well-trained runners, instrumented treadmill, 10-25 km/h): upper end "
    "of the range of symmetry angles, {sa:g} %"
)
#: Healthy bands per metric family (the metric name up to its unit suffix). Symmetry angles
#: from Girard O, Morin JB, Ryu J, Read P, Townsend N (2019), Running velocity does not
#: influence lower limb mechanical asymmetry, Front Sports Act Living 1:36.
_BANDS_SA = {
    "contact_time": 0.7,
    "flight_time": 2.1,
    "step_time": 0.9,
    "stride_time": 0.9,
    "cadence": 0.9,
    "valr": 6.9,
    "vilr": 6.9,
    "peak_force": 3.4,
    "midstance_peak": 3.4,
    "peak_braking": 3.6,
    "peak_propulsive": 2.2,
    "braking_impulse": 5.8,
    "propulsive_impulse": 2.6,
}
REFERENCE_BANDS: dict[str, ReferenceBand] = {
    family: ReferenceBand(si_from_symmetry_angle(sa), _GIRARD_2019.format(sa=sa))
    for family, sa in _BANDS_SA.items()
}
DEFAULT_BAND = ReferenceBand(
    10.0, "no published healthy band for this metric: the 10 % default", "default band"
)
"""Band of metrics without a published healthy reference."""

CI_TARGET_PCT = 2.0
"""Live readouts grey out until the 95 % CI of the SI is within ± this (%)."""

_UNIT_SUFFIXES = ("_bw_s", "_n_s", "_bw", "_ns", "_n", "_pct", "_spm", "_s", "_m", "_deg")


def metric_family(metric: str) -> str:
    """The metric name without its unit suffix (``valr_bw_s`` -> ``valr``)."""
    for suffix in _UNIT_SUFFIXES:
        if metric.endswith(suffix):
            return metric[: -len(suffix)]
    return metric


def reference_band(metric: str, bands: dict[str, Any] | None = None) -> ReferenceBand:
    """The healthy band of a metric: the lab's own when given, else the published one.

    Parameters
    ----------
    metric : str
        JSON metric name (``valr_bw_s``) or family (``valr``).
    bands : dict, optional
        A lab's bands by family or metric name: ``{"valr": 15}`` or
        ``{"valr": {"si_pct": 15, "source": "our lab, 2025"}}``.
    """
    family = metric_family(metric)
    for key in (metric, family):
        if bands and key in bands:
            value = bands[key]
            if isinstance(value, dict):
                source = str(value.get("source") or "the lab's band")
                return ReferenceBand(float(value["si_pct"]), source, "lab band")
            return ReferenceBand(float(value), "the lab's band", "lab band")
    return REFERENCE_BANDS.get(family, DEFAULT_BAND)


def strides_for_ci(half_width_pct: float, n: int, target_pct: float = CI_TARGET_PCT) -> int:
    """More strides per side until a CI of ``half_width_pct`` from ``n`` strides shrinks to
    ``target_pct`` (0 when it already is): the half-width falls as ``1/sqrt(n)``."""
    if not (math.isfinite(half_width_pct) and n > 0) or half_width_pct <= target_pct:
        return 0
    return max(0, math.ceil(n * (half_width_pct / target_pct) ** 2) - n)


def real_change(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """Whether the SI of a metric really changed between two sessions.

    Parameters
    ----------
    old, new : dict
        :func:`asymmetry_of` results of the same metric in two sessions (with CIs).

    Returns
    -------
    dict or None
        ``change_pct`` (new − old SI, points of %), ``smallest_real_change_pct``
        (1.96·sqrt(se_old² + se_new²), se from each CI) and ``changed`` (bool); None when a
        session has no SI or no CI.
    """
    parts = []
    for a in (old, new):
        si, ci = a.get("si_pct"), a.get("ci95_pct")
        n = min(a.get("left_n") or 0, a.get("right_n") or 0)
        if si is None or ci is None or n < 2:
            return None
        parts.append((si, (ci[1] - ci[0]) / 2.0 / t_quantile_975(n - 1)))
    (si_old, se_old), (si_new, se_new) = parts
    src = 1.96 * math.sqrt(se_old**2 + se_new**2)
    change = si_new - si_old
    return {"change_pct": change, "smallest_real_change_pct": src, "changed": abs(change) > src}


def robinson_si_pct(left: float, right: float) -> float | None:
    """Robinson symmetry index ``(R - L) / ((R + L) / 2) * 100`` in %, positive = right higher.

    The one home of the formula (batch asymmetry, live figures, demo and reports call it).

    Parameters
    ----------
    left, right : float
        Mean of the metric on the left and on the right (any one unit).

    Returns
    -------
    float or None
        The index in %, or None when a value is not finite or the mean of both is zero.
    """
    if not (math.isfinite(left) and math.isfinite(right)):
        return None
    mean = (left + right) / 2.0
    if abs(mean) < 1e-9:
        return None
    return float((right - left) / mean * 100.0)


SYMMETRIC_BELOW_PCT = 0.05
"""A symmetry index smaller than this (%) is shown as "symmetric" (it rounds to 0.0 %)."""


def symmetry_text(si_pct: float | None, what: str = "") -> str:
    """A symmetry index in words: ``"7.8 % higher on the left"``, ``"symmetric"``, ``"n/a"``.

    The one home of "SI in words" (analysis text, live figures, console and reports call it).

    Parameters
    ----------
    si_pct : float or None
        Robinson SI in % (positive = right higher); None or NaN when unknown.
    what : str
        Optional words put in front, e.g. ``"contact time"``.
    """
    if si_pct is None or not math.isfinite(si_pct):
        return "n/a"
    prefix = f"{what} " if what else ""
    if abs(si_pct) < SYMMETRIC_BELOW_PCT:
        return f"{prefix}symmetric"
    side = "right" if si_pct > 0 else "left"
    return f"{prefix}{abs(si_pct):.1f} % higher on the {side}"


def symmetry_angle_pct(left: float, right: float) -> float:
    """Zifchock symmetry angle in % (positive = right higher)."""
    theta = math.degrees(math.atan2(left, right))
    sa = 45.0 - theta
    if sa > 90.0:
        sa -= 180.0
    return sa / 90.0 * 100.0


def _clean(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    return arr[np.isfinite(arr)]


def asymmetry_of(
    left: Any, right: Any, metric: str = "", label: str = "", bands: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Asymmetry of one metric from per-stance values of each side.

    Parameters
    ----------
    left, right : array_like
        Values of the metric for the left and right stances (NaN ignored).
    metric : str
        JSON name of the metric (chooses the comparison floor and the unit in the text).
    label : str
        Words for the metric in the text ("Mid-stance peak").
    bands : dict, optional
        The lab's reference bands (see :func:`reference_band`).

    Returns
    -------
    dict
        left_mean, left_sd, left_n, right_mean, right_sd, right_n, si_pct,
        symmetry_angle_pct, ci95_pct ([lo, hi] or None), higher ("left"/"right"/None, only for a
        detectable difference), detectable (the CI excludes 0), band_si_pct, band_source,
        verdict ("not_detectable", "within_band", "above_band" or None when n/a),
        strides_needed (more strides per side until the CI is within ±2 %), text.
    """
    lv, rv = _clean(left), _clean(right)
    out: dict[str, Any] = {
        "left_mean": float(lv.mean()) if lv.size else None,
        "left_sd": float(lv.std(ddof=1)) if lv.size > 1 else None,
        "left_n": int(lv.size),
        "right_mean": float(rv.mean()) if rv.size else None,
        "right_sd": float(rv.std(ddof=1)) if rv.size > 1 else None,
        "right_n": int(rv.size),
        "si_pct": None,
        "symmetry_angle_pct": None,
        "ci95_pct": None,
        "higher": None,
        "detectable": False,
        "band_si_pct": None,
        "band_source": None,
        "band_words": None,
        "verdict": None,
        "strides_needed": None,
        "text": "",
    }
    name = label or metric or "value"
    if not lv.size or not rv.size:
        out["text"] = f"{name}: n/a (not measured on both sides)"
        return out
    lm, rm = out["left_mean"], out["right_mean"]
    floor = comparison_floor(metric)
    if (lm * rm < 0) or max(abs(lm), abs(rm)) < floor or abs(lm + rm) < 1e-12:
        out["text"] = f"{name}: n/a (too small to compare)"
        return out
    si = robinson_si_pct(lm, rm)
    out["si_pct"] = si
    out["symmetry_angle_pct"] = symmetry_angle_pct(lm, rm)
    if lv.size > 1 and rv.size > 1:
        s = rm + lm
        d_r = 400.0 * lm / (s * s)
        d_l = -400.0 * rm / (s * s)
        var = d_r**2 * out["right_sd"] ** 2 / rv.size + d_l**2 * out["left_sd"] ** 2 / lv.size
        n = min(lv.size, rv.size)
        half = t_quantile_975(n - 1) * math.sqrt(var)
        out["ci95_pct"] = [si - half, si + half]
        out["detectable"] = bool(si - half > 0.0 or si + half < 0.0)
        out["strides_needed"] = strides_for_ci(half, n)
    band = reference_band(metric, bands)
    out["band_si_pct"] = band.si_pct
    out["band_source"] = band.source
    out["band_words"] = band.words
    if not out["detectable"]:
        out["verdict"] = "not_detectable"
    else:
        out["higher"] = "right" if si > 0 else "left"
        out["verdict"] = "above_band" if abs(si) > band.si_pct else "within_band"
    out["text"] = describe(name, metric, out)
    return out


#: Colour classes of an asymmetry row: "noise" (the CI cannot tell it from zero: never
#: coloured), "ok" (detectable, within the metric's healthy band), "watch" (|SI| above the band
#: but the CI reaches into it), "flag" (the whole CI beyond the band), "na" (not compared).
LEVELS = ("na", "noise", "ok", "watch", "flag")

#: The words of each level, beside any colour (colour is never the only signal).
LEVEL_WORDS = {"ok": "within the healthy band", "watch": "may be above the healthy band",
               "flag": "above the healthy band", "na": "n/a",
               "noise": "not distinguishable from symmetric"}


def level_of(a: dict[str, Any]) -> str:
    """Colour class of one metric's asymmetry, see :data:`LEVELS`.

    The one rule the report, the console and ``analyze`` colour by.

    Parameters
    ----------
    a : dict
        An :func:`asymmetry_of` result (``si_pct``, ``ci95_pct``, ``detectable``, ``verdict``,
        ``band_si_pct``, all in % of SI).

    Returns
    -------
    str
        One of :data:`LEVELS`.
    """
    si, ci = finite_or_none(a.get("si_pct")), a.get("ci95_pct")
    band = finite_or_none(a.get("band_si_pct"))
    if si is None:
        return "na"
    if not a.get("detectable") or ci is None:
        return "noise"
    if band is None or a.get("verdict") != "above_band":
        return "ok"
    nearest = min(abs(float(ci[0])), abs(float(ci[1])))
    return "flag" if nearest > band else "watch"


#: how a value is written by the unit its metric's name ends with (the first match wins)
_VALUE_FORMATS = (
    ("_bw", "{:.2f} BW"), ("_bw_s", "{:.3f} BWs"), ("_n_s", "{:.0f} N/s"), ("_ns", "{:.1f} Ns"),
    ("_n", "{:.0f} N"), ("_pct", "{:.1f} %"), ("_spm", "{:.1f} steps/min"),
)


def _fmt_value(value: float, metric: str) -> str:
    if metric.endswith("_bw_s") and ("valr" in metric or "vilr" in metric):
        return f"{value:.1f} BW/s"
    for suffix, fmt in _VALUE_FORMATS:
        if metric.endswith(suffix):
            return fmt.format(value)
    if metric.endswith("_s"):
        return f"{value * 1000:.0f} ms"
    return f"{value:.3g}"


def describe(name: str, metric: str, a: dict[str, Any]) -> str:
    """The coach's line, worded by what the confidence interval can tell:

    - "Mid-stance peak 2.41 BW left, 2.23 BW right: 7.8 % higher on the left (95 % CI
      5.9–9.7 %), within the 10.7 % healthy runners show" (detectable);
    - "...: not distinguishable from symmetric with 7 strides (95 % CI −3.1 to 4.0 %)";
    - "...: no detectable difference with 1 stride per side" (no CI yet).
    """
    head = (
        f"{name} {_fmt_value(a['left_mean'], metric)} left, "
        f"{_fmt_value(a['right_mean'], metric)} right: "
    )
    si = a["si_pct"]
    if si is None:
        return head + "n/a"
    ci = a["ci95_pct"]
    n = min(a["left_n"], a["right_n"])
    if ci is None:
        return head + f"no detectable difference with {n} stride{'s' if n != 1 else ''} per side"
    if not a.get("detectable"):
        return head + (
            f"not distinguishable from symmetric with {n} strides "
            f"(95 % CI {ci[0]:.1f} to {ci[1]:.1f} %)"
        )
    lo, hi = (ci[0], ci[1]) if si >= 0 else (-ci[1], -ci[0])
    text = head + symmetry_text(si) + f" (95 % CI {lo:.1f}–{hi:.1f} %)"
    band = a.get("band_si_pct")
    if band is not None:
        where = "above" if a.get("verdict") == "above_band" else "within"
        words = a.get("band_words") or "band"
        text += f", {where} the {band:.1f} % {words}"
    return text


def asymmetry(
    left: Any, right: Any, metrics: Any = None, bands: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Left/right asymmetry per metric.

    Parameters
    ----------
    left, right : dict of str to array_like, or array_like
        Columnar tables of the (valid) left and right stances, or the values of one metric.
    metrics : iterable of str, optional
        Metrics to compare (default: every numeric column present on both sides).
    bands : dict, optional
        The lab's reference bands (see :func:`reference_band`).

    Returns
    -------
    dict
        With tables: metric name -> :func:`asymmetry_of` result. With plain arrays: the result
        for that one metric.
    """
    if not isinstance(left, dict) or not isinstance(right, dict):
        return asymmetry_of(left, right, bands=bands)
    if metrics is None:
        metrics = [
            k
            for k in left
            if k in right and np.asarray(left[k]).dtype.kind == "f" and k not in _NOT_COMPARED
        ]
    return {m: asymmetry_of(left[m], right[m], m, LABELS.get(m, ""), bands) for m in metrics}


_NOT_COMPARED = {"start_s", "end_s", "sample_start", "sample_end", "baseline_n", "cop_ml_m"}

LABELS = {
    "contact_time_s": "Contact time",
    "flight_time_s": "Flight time",
    "peak_force_n": "Peak force",
    "peak_force_bw": "Peak force",
    "midstance_peak_n": "Mid-stance peak",
    "midstance_peak_bw": "Mid-stance peak",
    "midstance_peak_pct": "Mid-stance peak timing",
    "impact_peak_n": "Impact peak",
    "impact_peak_bw": "Impact peak",
    "impact_peak_pct": "Impact peak timing",
    "first_peak_n": "First peak",
    "first_peak_bw": "First peak",
    "trough_n": "Trough",
    "trough_bw": "Trough",
    "second_peak_n": "Second peak",
    "second_peak_bw": "Second peak",
    "valr_n_s": "VALR",
    "valr_bw_s": "VALR",
    "vilr_n_s": "VILR",
    "vilr_bw_s": "VILR",
    "impulse_ns": "Vertical impulse",
    "impulse_bw_s": "Vertical impulse",
    "braking_impulse_ns": "Braking impulse",
    "braking_impulse_bw_s": "Braking impulse",
    "propulsive_impulse_ns": "Propulsive impulse",
    "propulsive_impulse_bw_s": "Propulsive impulse",
    "step_time_s": "Step time",
    "step_width_m": "Step width",
    "peak_braking_n": "Peak braking force",
    "peak_braking_bw": "Peak braking force",
    "peak_propulsive_n": "Peak propulsive force",
    "peak_propulsive_bw": "Peak propulsive force",
    "stride_time_s": "Stride time",
    "pelvic_drop_deg": "Contralateral pelvic drop",
    "pelvic_drop_pct": "Pelvic drop timing",
}
