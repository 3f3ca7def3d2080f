"""Per-stance loading metrics (definitions in docs/metrics.md).

All forces are measured above the stance's tracked baseline (``Stances.baseline_n``).

- ``contact_time_s``: (end - start) / rate.
- ``peak_force_n``: maximum vertical force in the stance.
- ``first_peak_n`` / ``second_peak_n``: maximum in the first / second half of the stance;
  ``trough_n``: minimum between them (walking's loading-response peak, mid-stance valley and
  push-off peak). Walking-only: all three are None (NaN) unless the stance has a walking
  double hump: the trough lies within :data:`TROUGH_WINDOW_PCT` (30-70 %) of stance and both
  humps exceed it by ``double_hump_fraction`` x peak force (``peak_pattern``
  "double_hump"), or the valley is shallow or flat but the first peak lies in the first 35 %
  and the second in the last 35 % of stance (:data:`WALKING_PEAKS_PCT`; "shallow_valley":
  the values are given and flagged, as a gait report gives them). A running stance (one
  active peak) has none ("single_peak").
- ``impact_peak_n`` / ``impact_peak_pct``: the running maximum inside the first
  ``impact_window_pct`` % of stance that is followed by a drop of more than
  ``impact_prominence_fraction`` x peak before the force exceeds it again; None (NaN) otherwise.
- ``midstance_peak_n`` / ``midstance_peak_pct``: the active peak: the maximum after that drop when
  there is an impact peak, else the stance maximum; timing in % of contact time. A running
  metric: None for a double-hump stance (its two peaks are compared instead).
- ``valr_n_s`` / ``vilr_n_s``: average / instantaneous (largest sample-to-sample) loading rate
  between 20 % and 80 % of the impact peak on the rising edge (crossings linearly interpolated);
  without an impact peak the reference force is the force at ``surrogate_pct`` % (13 %) of
  stance (Ueda et al. 2016). ``loading_rate_method`` names what was used per stance:
  "impact_peak", "stance_13pct" or "none".
- ``impulse_ns``: sum of force / rate (rectangle rule), N*s.
- ``loading_rate_quality``: "indicative" when the rate is below :data:`MIN_LOADING_RATE_HZ`
  (500 Hz: insoles, HX711 boards), else "measured". ``loading_rate_note``:
  :data:`VILR_BELOW_VALR` when the VILR came out below the VALR, which the definitions rule
  out (too few samples on the rising edge); that VILR is then None, "" otherwise.
- ``braking_impulse_ns`` / ``propulsive_impulse_ns``: time integral of the negative / positive
  part of the anterior-posterior force (only with ``ap_force_n``).
- ``peak_braking_n`` / ``peak_propulsive_n``: largest backward (braking, reported positive) /
  forward (propulsive) anterior-posterior force in the stance, 0 when the force never points
  that way (only with ``ap_force_n``; Napier et al. 2018: peak braking force predicted running
  injury prospectively).
- ``sample_start`` / ``sample_end``: first and one-past-last sample index of the stance.
- ``start_s`` / ``end_s`` / ``contact_time_s``: contact and toe-off are placed between samples
  where the force crosses the stance's ``off`` threshold (linear interpolation).
- ``flight_time_s``: time from the previous stance's end to this stance's start in the same
  signal (NaN for the first stance and next to a gap).
- With a body mass: every force also in body weights (``*_bw``), loading rates in BW/s and
  impulses in BW*s (``*_bw_s``), BW = mass x 9.80665 m/s^2.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forcelab import _stances
from forcelab.analysis.detection import (
    Stances,
    as_force,
    bridge_gaps,
    check_options,
    find_stances,
)
from forcelab.errors import InputError
from forcelab.recording import check_body_mass, check_rate

G_M_S2 = 9.80665
"""Standard gravity (m/s^2), BIPM/ISO 80000-3: body mass to body weight, the home of this
constant for every forcelab room. The device room keeps the same value in
:data:`forcelab.drivers.units.STANDARD_GRAVITY_M_S2` (analysis imports no device room: the
drivers package pulls in pyserial); a test holds the two equal."""

LOADING_RATE_METHODS = ("none", "impact_peak", "stance_13pct")
"""Loading-rate method name per method code of the kernel."""
_METHOD_TEXT = np.array(LOADING_RATE_METHODS, dtype=object)

METRIC_OPTIONS: dict[str, float] = {
    "impact_window_pct": 20.0,
    "impact_prominence_fraction": 0.10,
    "surrogate_pct": 13.0,
    "double_hump_fraction": 0.05,
}
"""Metric options and their defaults."""

TROUGH_WINDOW_PCT = (30.0, 70.0)
"""Where the trough of a double hump must lie, in % of stance (first index, last index)."""

WALKING_PEAKS_PCT = (35.0, 65.0)
"""A shallow or flat valley still makes a walking double hump when the first peak lies at most
35 % and the second at least 65 % into the stance (a running peak lies near the middle)."""

PEAK_PATTERNS = ("single_peak", "double_hump", "shallow_valley")
"""Peak pattern name per pattern code of the kernel."""
_PATTERN_TEXT = np.array(PEAK_PATTERNS, dtype=object)

FORCE_METRICS = (
    "peak_force_n",
    "midstance_peak_n",
    "impact_peak_n",
    "first_peak_n",
    "trough_n",
    "second_peak_n",
    "peak_braking_n",
    "peak_propulsive_n",
)

MIN_LOADING_RATE_HZ = 500.0
"""Loading rates from data sampled below this rate (Hz) are flagged "indicative": the 20-80 %
rise of a running impact lasts 10-30 ms, a handful of samples at 100-300 Hz."""

LOADING_RATE_QUALITY = ("measured", "indicative")
"""``loading_rate_quality`` per stance: measured at >= 500 Hz, or indicative below."""

VILR_BELOW_VALR = "vilr_below_valr"
"""``loading_rate_note`` of a stance whose VILR came out below its VALR (impossible by the
definitions: too few samples on the rising edge); its VILR is not given."""
RATE_METRICS = ("valr_n_s", "vilr_n_s")
IMPULSE_METRICS = ("impulse_ns", "braking_impulse_ns", "propulsive_impulse_ns")


def bw_name(name: str) -> str:
    """Body-weight name of a metric: peak_force_n -> peak_force_bw, valr_n_s -> valr_bw_s."""
    if name.endswith("_n"):
        return name[:-2] + "_bw"
    if name.endswith("_n_s"):
        return name[:-4] + "_bw_s"
    if name.endswith("_ns"):
        return name[:-3] + "_bw_s"
    raise ValueError(name)


def check_metric_options(options: dict[str, Any] | None) -> dict[str, float]:
    """Full, checked metric options.

    Raises
    ------
    InputError
        On unknown names or values out of range.
    """
    opts = dict(METRIC_OPTIONS)
    for key, value in (options or {}).items():
        if key not in METRIC_OPTIONS:
            raise InputError(
                f"unknown metric option {key!r}; known options are {', '.join(METRIC_OPTIONS)}"
            )
        try:
            opts[key] = float(value)
        except (TypeError, ValueError):
            raise InputError(f"metric option {key} must be a number, got {value!r}") from None
    for key in ("impact_window_pct", "surrogate_pct"):
        if not 0.0 < opts[key] < 100.0:
            raise InputError(f"{key} must be between 0 and 100 %, got {opts[key]}")
    if not 0.0 <= opts["impact_prominence_fraction"] < 1.0:
        raise InputError("impact_prominence_fraction must be between 0 and 1")
    if not 0.0 <= opts["double_hump_fraction"] < 1.0:
        raise InputError(
            f"double_hump_fraction must be between 0 and 1 (of the peak force), got "
            f"{opts['double_hump_fraction']}"
        )
    return opts


def kernel_metrics(
    x: np.ndarray, stances: Stances, rate_hz: float, opts: dict[str, float]
) -> dict[str, np.ndarray]:
    """Raw kernel output (indices relative to each stance start, forces above baseline)."""
    return _kernel(x, stances.start, stances.end, stances.baseline_n, rate_hz, opts)


def _kernel(
    x: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    baseline_n: np.ndarray,
    rate_hz: float,
    opts: dict[str, float],
) -> dict[str, np.ndarray]:
    return _stances.stance_metrics(
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(start, dtype=np.int64),
        np.ascontiguousarray(end, dtype=np.int64),
        np.ascontiguousarray(baseline_n, dtype=np.float64),
        *_kernel_params(rate_hz, opts),
    )


def _kernel_params(rate_hz: float, opts: dict[str, float]) -> tuple[float, ...]:
    """The metric kernel's parameters after the signal and the stances (fractions, not %)."""
    return (
        float(rate_hz),
        opts["impact_window_pct"] / 100.0,
        opts["impact_prominence_fraction"],
        opts["surrogate_pct"] / 100.0,
        opts["double_hump_fraction"],
        TROUGH_WINDOW_PCT[0] / 100.0,
        TROUGH_WINDOW_PCT[1] / 100.0,
        WALKING_PEAKS_PCT[0] / 100.0,
        WALKING_PEAKS_PCT[1] / 100.0,
    )


def contact_edges(
    x: np.ndarray, stances: Stances, index_offset: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Contact and toe-off in (fractional) samples where the force crosses ``stances.off_n``.

    Linear interpolation between the last unloaded and the first loaded sample (and the other
    way round at toe-off); whole samples where a neighbour is missing or ``off_n`` is NaN.
    ``x`` holds the samples from global index ``index_offset`` on; the result is global.
    Compiled (one pass over the stances); NumPy form: ``reference.contact_edges_reference``.
    """
    return _stances.contact_edges(
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(stances.start, dtype=np.int64),
        np.ascontiguousarray(stances.end, dtype=np.int64),
        np.ascontiguousarray(stances.off_n, dtype=np.float64),
        int(index_offset),
    )


def _text_column(m: int, text: str) -> np.ndarray:
    """A column of ``m`` times ``text`` (dtype object; np.full converts the text once per row)."""
    col = np.empty(m, dtype=object)
    col.fill(text)
    return col


def assemble(
    raw: dict[str, np.ndarray],
    stances: Stances,
    rate_hz: float,
    body_mass_kg: float | None,
    ap: np.ndarray | None,
    t0_s: float = 0.0,
    x: np.ndarray | None = None,
    index_offset: int = 0,
    edges: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Turn kernel output into the public columnar table with JSON metric names.

    With the signal ``x`` (samples from global index ``index_offset``), contact and toe-off are
    placed between samples (:func:`contact_edges`); ``edges`` gives them when already known
    (global, as :func:`contact_edges` returns them).
    """
    start = stances.start
    end = stances.end
    n = (end - start).astype(np.float64)
    if edges is not None:
        start_f, end_f = edges
    elif x is not None:
        start_f, end_f = contact_edges(x, stances, index_offset)
    else:
        start_f = (start + index_offset).astype(np.float64)
        end_f = (end + index_offset).astype(np.float64)
    table: dict[str, np.ndarray] = {
        "start_s": t0_s + start_f / rate_hz,
        "end_s": t0_s + end_f / rate_hz,
        "sample_start": start + index_offset,
        "sample_end": end + index_offset,
        "contact_time_s": (end_f - start_f) / rate_hz,
    }
    for name in ("peak_force_n", "midstance_peak_n", "impact_peak_n"):
        table[name] = raw[name]
    with np.errstate(invalid="ignore", divide="ignore"):
        table["midstance_peak_pct"] = 100.0 * raw["midstance_idx"] / n
        table["impact_peak_pct"] = 100.0 * raw["impact_idx"] / n
    for name in ("first_peak_n", "trough_n", "second_peak_n", "valr_n_s"):
        table[name] = raw[name]
    with np.errstate(invalid="ignore"):
        impossible = raw["vilr_n_s"] < raw["valr_n_s"]
    table["vilr_n_s"] = np.where(impossible, np.nan, raw["vilr_n_s"])
    note = _text_column(len(stances), "")
    note[impossible] = VILR_BELOW_VALR
    table["loading_rate_note"] = note
    quality = LOADING_RATE_QUALITY[int(rate_hz < MIN_LOADING_RATE_HZ)]
    table["loading_rate_quality"] = _text_column(len(stances), quality)
    table["peak_pattern"] = _PATTERN_TEXT[raw["peak_pattern"].astype(np.intp)]
    table["loading_rate_method"] = _METHOD_TEXT[raw["loading_rate_method"].astype(np.intp)]
    table["impulse_ns"] = raw["impulse_ns"]
    braking = np.full(len(stances), np.nan)
    propulsive = np.full(len(stances), np.nan)
    if ap is not None and len(stances):
        csb = np.concatenate(([0.0], np.cumsum(np.where(ap < 0, ap, 0.0))))
        csp = np.concatenate(([0.0], np.cumsum(np.where(ap > 0, ap, 0.0))))
        braking = (csb[end] - csb[start]) / rate_hz
        propulsive = (csp[end] - csp[start]) / rate_hz
    table["braking_impulse_ns"] = braking
    table["propulsive_impulse_ns"] = propulsive
    table["peak_braking_n"], table["peak_propulsive_n"] = ap_peaks(ap, start, end)
    flight = np.full(len(stances), np.nan)
    if len(stances) > 1:
        flight[1:] = (start_f[1:] - end_f[:-1]) / rate_hz
        # no flight time next to a stance that ends or starts at a gap (the invalid few)
        invalid = np.flatnonzero(~stances.valid)
        gap = invalid[stances.reason[invalid] == "gap"]
        flight[gap[gap > 0]] = np.nan
        flight[gap[gap + 1 < len(stances)] + 1] = np.nan
    table["flight_time_s"] = flight
    table["valid"] = stances.valid.copy()
    table["reason"] = stances.reason.copy()
    table["baseline_n"] = stances.baseline_n.copy()
    if body_mass_kg is not None:
        bw_n = body_mass_kg * G_M_S2
        for name in FORCE_METRICS + RATE_METRICS + IMPULSE_METRICS:
            table[bw_name(name)] = table[name] / bw_n
    return table


def ap_peaks(
    ap: np.ndarray | None, start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Peak braking and propulsive force (N, both >= 0) per stance, NaN without ``ap``.

    ``ap`` is the anterior-posterior force (N, positive forward) of the samples the stance
    indices refer to; a stance with a missing AP sample gets NaN.
    """
    m = start.shape[0]
    if ap is None or m == 0:
        return np.full(m, np.nan), np.full(m, np.nan)
    idx = np.column_stack([start, end]).ravel()
    last = idx[-1] >= ap.shape[0]
    cut = idx[:-1] if last else idx
    lowest = np.minimum.reduceat(ap, cut)[::2]
    highest = np.maximum.reduceat(ap, cut)[::2]
    return np.maximum(-lowest, 0.0), np.maximum(highest, 0.0)


def stance_metrics(
    force_n: Any,
    stances: Stances,
    rate_hz: float,
    body_mass_kg: float | None = None,
    ap_force_n: Any = None,
    **options: Any,
) -> dict[str, np.ndarray]:
    """Loading metrics of every stance, as a columnar table.

    Parameters
    ----------
    force_n : array_like, shape (n,)
        Vertical force in N, the signal the stances were detected in.
    stances : Stances
        Output of :func:`detect_stances` (or built by hand: start/end indices and baseline_n).
    rate_hz : float
        Sampling rate in Hz.
    body_mass_kg : float, optional
        Body mass in kg; adds ``*_bw`` / ``*_bw_s`` columns in body weights.
    ap_force_n : array_like, optional
        Anterior-posterior force in N (positive forward) for braking/propulsive impulse.
    **options
        ``impact_window_pct`` (20), ``impact_prominence_fraction`` (0.10), ``surrogate_pct`` (13).

    Returns
    -------
    dict of str to ndarray
        One array per metric (see module docstring): times in s, forces in N, loading rates in
        N/s, impulses in N*s, timings in % of stance; NaN where a metric does not exist.

    Raises
    ------
    InputError
        If the stances do not fit the signal, a stance contains NaN, or inputs are malformed.
    """
    rate = check_rate(rate_hz)
    mass = check_body_mass(body_mass_kg)
    x = as_force(force_n, check_inf=False)  # a non-finite sample shows in the stance's impulse
    if not isinstance(stances, Stances):
        raise InputError("stances must be a Stances object (from detect_stances)")
    max_gap_s = float(stances.parameters.get("options", {}).get("max_gap_s", 0.0))
    opts = check_metric_options(options)
    if len(stances) and stances.end.max() > x.shape[0]:
        raise InputError(
            f"a stance ends at sample {int(stances.end.max())} but the force has only "
            f"{x.shape[0]} samples; use the signal the stances were detected in"
        )
    ap = _ap_force(ap_force_n, x)
    raw = kernel_metrics(x, stances, rate, opts)
    bad = ~np.isfinite(raw["impulse_ns"])
    if max_gap_s > 0 and (bad.any() or _edge_missing(x, stances)):
        # the dropouts the detector bridged are bridged the same way here
        x, _ = bridge_gaps(x, max(0, int(round(max_gap_s * rate))))
        raw = kernel_metrics(x, stances, rate, opts)
        bad = ~np.isfinite(raw["impulse_ns"])  # NaN or inf anywhere in a stance shows in its sum
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"stance {k} (samples {stances.start[k]}..{stances.end[k]}) contains NaN or inf; "
            "stances from detect_stances never do"
        )
    return assemble(raw, stances, rate, mass, ap, x=x)


def detect_and_measure(
    force_n: Any,
    rate_hz: float,
    body_mass_kg: float | None = None,
    ap_force_n: Any = None,
    detection_options: dict[str, Any] | None = None,
    metric_options: dict[str, Any] | None = None,
) -> tuple[Stances, dict[str, np.ndarray]]:
    """:func:`~forcelab.analysis.detect_stances` and :func:`stance_metrics` in one pass.

    Gives the stances and the table of ``detect_stances(force_n, rate_hz,
    **detection_options)`` followed by ``stance_metrics(force_n, stances, rate_hz,
    body_mass_kg, ap_force_n, **metric_options)``, faster on long signals: each stance is
    measured as the detector finds it, while its samples are still in the cache (a signal with
    missing samples is measured after detection, as the two calls do).

    Raises
    ------
    InputError
        As the two calls do.
    """
    rate = check_rate(rate_hz)
    mass = check_body_mass(body_mass_kg)
    x = as_force(force_n, check_inf=False)  # the kernels treat +-inf as NaN (a gap)
    d_opts = check_options(detection_options)
    m_opts = check_metric_options(metric_options)
    ap = _ap_force(ap_force_n, x)
    measure = _stances.Measure(*_kernel_params(rate, m_opts))
    stances, raw = find_stances(x, rate, d_opts, measure)
    if raw is None or not np.isfinite(raw["impulse_ns"]).all():
        # missing samples (measured after detection), or a sum overflowed (stance_metrics
        # says so)
        return stances, stance_metrics(x, stances, rate, mass, ap, **m_opts)
    edges = raw.pop("contact_f"), raw.pop("toe_off_f")
    return stances, assemble(raw, stances, rate, mass, ap, edges=edges)


def _ap_force(ap_force_n: Any, x: np.ndarray) -> np.ndarray | None:
    """The checked anterior-posterior force (N) beside the vertical force ``x``, or None."""
    if ap_force_n is None:
        return None
    ap = as_force(ap_force_n, "ap_force_n")
    if ap.shape != x.shape:
        raise InputError("ap_force_n must have as many samples as force_n")
    return ap


def _edge_missing(x: np.ndarray, stances: Stances) -> bool:
    """True when a sample next to a stance (used for the contact edges) is missing."""
    if len(stances) == 0 or x.size == 0:
        return False
    before = x[np.maximum(stances.start - 1, 0)]
    after = x[np.minimum(stances.end, x.size - 1)]
    return bool(~np.isfinite(before).all() or ~np.isfinite(after).all())
