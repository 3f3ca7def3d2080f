"""Left/right asymmetry of stance metrics.

- Robinson symmetry index ``SI = (R - L) / ((R + L) / 2) * 100`` % of the left and right means;
  positive = right higher (Robinson, Herzog & Nigg 1987).
- Symmetry angle (Zifchock et al. 2008): ``SA = (45 deg - atan(L / R)) / 90 deg * 100`` %,
  shifted by 180 deg when above 90 deg; same sign convention as SI.
- 95 % confidence interval of SI across strides: delta method on the two means (stride-to-stride
  SDs and counts of each side), Student t with ``min(n_left, n_right) - 1`` degrees of freedom.
- "n/a" (None) when a side has no values, the means have opposite signs, or both means are below
  the metric's comparison floor (e.g. 1 N, 1 ms, 0.001 BW); the CI needs two values per side.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

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


def asymmetry_of(left: Any, right: Any, metric: str = "", label: str = "") -> dict[str, Any]:
    """Asymmetry of one metric from per-stance values of each side.

    Parameters
    ----------
    left, right : array_like
        Values of the metric for the left and right stances (NaN ignored).
    metric : str
        JSON name of the metric (chooses the comparison floor and the unit in the text).
    label : str
        Words for the metric in the text ("Mid-stance peak").

    Returns
    -------
    dict
        left_mean, left_sd, left_n, right_mean, right_sd, right_n, si_pct,
        symmetry_angle_pct, ci95_pct ([lo, hi] or None), higher ("left"/"right"/None), text.
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
    si = (rm - lm) / ((rm + lm) / 2.0) * 100.0
    out["si_pct"] = si
    out["symmetry_angle_pct"] = symmetry_angle_pct(lm, rm)
    if lv.size > 1 and rv.size > 1:
        s = rm + lm
        d_r = 400.0 * lm / (s * s)
        d_l = -400.0 * rm / (s * s)
        var = d_r**2 * out["right_sd"] ** 2 / rv.size + d_l**2 * out["left_sd"] ** 2 / lv.size
        half = t_quantile_975(min(lv.size, rv.size) - 1) * math.sqrt(var)
        out["ci95_pct"] = [si - half, si + half]
    if si > 0:
        out["higher"] = "right"
    elif si < 0:
        out["higher"] = "left"
    out["text"] = describe(name, metric, out)
    return out


def _fmt_value(value: float, metric: str) -> str:
    if metric.endswith("_bw"):
        return f"{value:.2f} BW"
    if metric.endswith("_bw_s"):
        return f"{value:.1f} BW/s" if "valr" in metric or "vilr" in metric else f"{value:.3f} BWs"
    if metric.endswith("_n_s"):
        return f"{value:.0f} N/s"
    if metric.endswith("_ns"):
        return f"{value:.1f} Ns"
    if metric.endswith("_n"):
        return f"{value:.0f} N"
    if metric.endswith("_pct"):
        return f"{value:.1f} %"
    if metric.endswith("_spm"):
        return f"{value:.1f} steps/min"
    if metric.endswith("_s"):
        return f"{value * 1000:.0f} ms"
    return f"{value:.3g}"


def describe(name: str, metric: str, a: dict[str, Any]) -> str:
    """The coach's line: "Mid-stance peak 2.41 BW left, 2.23 BW right: 7.8 % higher on the left
    (95 % CI 5.9–9.7 %)"."""
    head = (
        f"{name} {_fmt_value(a['left_mean'], metric)} left, "
        f"{_fmt_value(a['right_mean'], metric)} right: "
    )
    si = a["si_pct"]
    if si is None:
        return head + "n/a"
    if abs(si) < 0.05:
        text = head + "no difference"
    else:
        text = head + f"{abs(si):.1f} % higher on the {a['higher']}"
    ci = a["ci95_pct"]
    if ci is not None:
        lo, hi = (ci[0], ci[1]) if si >= 0 else (-ci[1], -ci[0])
        text += f" (95 % CI {lo:.1f}–{hi:.1f} %)"
    return text


def asymmetry(left: Any, right: Any, metrics: Any = None) -> dict[str, Any]:
    """Left/right asymmetry per metric.

    Parameters
    ----------
    left, right : dict of str to array_like, or array_like
        Columnar tables of the (valid) left and right stances, or the values of one metric.
    metrics : iterable of str, optional
        Metrics to compare (default: every numeric column present on both sides).

    Returns
    -------
    dict
        With tables: metric name -> :func:`asymmetry_of` result. With plain arrays: the result
        for that one metric.
    """
    if not isinstance(left, dict) or not isinstance(right, dict):
        return asymmetry_of(left, right)
    if metrics is None:
        metrics = [
            k
            for k in left
            if k in right and np.asarray(left[k]).dtype.kind == "f" and k not in _NOT_COMPARED
        ]
    return {m: asymmetry_of(left[m], right[m], m, LABELS.get(m, "")) for m in metrics}


_NOT_COMPARED = {"start_s", "end_s", "baseline_n"}

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
    "stride_time_s": "Stride time",
    "pelvic_drop_deg": "Contralateral pelvic drop",
    "pelvic_drop_pct": "Pelvic drop timing",
}
