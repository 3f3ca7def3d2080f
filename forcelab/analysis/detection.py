"""Stance detection on vertical ground-reaction force.

The detector is a causal state machine with three phases: *flight* (no load; for one foot of a
per-side stream this is its swing), *stance*, and *tentative flight* (the force fell below the
off threshold, but not yet for ``min_flight_s``). It works on the force measured above a
baseline that is tracked from the flight phases, so untared plates (+30 N, -20 N), mains ripple
and slow drift do not change what is found:

- **Initial state.** From the first ``init_window_s`` of finite samples: ``lo``/``hi`` = 2nd/98th
  percentile. When ``hi - lo >= min_level_n`` the samples below ``lo + 0.1 (hi - lo)`` are the
  flight samples: their mean is the baseline, their SD the noise, and the level (a robust peak
  height above baseline) is ``hi - baseline``. Otherwise the window holds no stance: baseline =
  mean, noise = SD, level = 0.
- **Thresholds.** ``on = baseline + max(on_fraction * level, noise_factor_on * noise, min_on_n)``
  and ``off = baseline + max(off_fraction * level, noise_factor_off * noise, min_off_n)``
  (hysteresis: every "on" parameter must exceed its "off" counterpart). Once a level is known,
  the noise terms are capped at ``noise_cap_on`` / ``noise_cap_off`` x level, so a noise
  estimate inflated by an unusual flight (standing on the plate before running) cannot lift
  the thresholds into the stances.
- **Baseline tracking.** During each flight, samples below ``off`` are accumulated, leaving out
  ``guard_s`` after toe-off and before the next contact (the accumulation lags the input by the
  guard); when the next stance starts, their mean becomes the stance's baseline and the noise
  follows their SD (exponential weight ``noise_alpha``). After every
  valid stance the level follows its peak above baseline (weight ``level_alpha``).
- **Contact edges.** A stance is an excursion above ``off`` that reaches ``on``: it starts at the
  first sample after the last sample below ``off`` and ends (exclusive) at the first sample
  below ``off`` again, so ``on`` only confirms the contact and does not delay it. The metrics
  place contact and toe-off between samples where the force crosses ``off`` (linear
  interpolation; ``Stances.off_n``).
- **Contact edges by the field's convention.** Detection only finds the stances. Each edge is
  then moved to where the force crosses ``b + threshold``, b the mean of the flight samples in
  the ``edge_window_s`` before the contact that lie below ``baseline + threshold / 2`` (the
  tracked baseline without the edges of slow stances in it), with ``threshold =
  max(contact_threshold_n, contact_noise_factor x flight noise)`` (robust SD of the flight samples
  of the initial window) (20 N by default, the
  convention of running studies; higher when the flight noise makes 20 N meaningless; the
  value used is ``parameters["contact_threshold_n"]``): outward while the samples stay at or
  above it (at most ``edge_window_s``, never back past the previous stance's detected end;
  an edge whose crossing is not found there, e.g. next to a gap, stays where it was found),
  inward when the detected edge lies below it. ``Stances.off_n`` is then the crossing level.
  ``contact_threshold_n = 0`` keeps the detector's edges (the insole setting).
- **Durations.** A contact shorter than ``min_contact_s`` is a blip, not a stance (the flight
  goes on). A drop below ``off`` for less than ``min_flight_s`` does not end the stance.
- **Gaps and edges.** Runs of at most ``max_gap_s`` missing samples between two measured ones
  (a dropped row) are bridged by linear interpolation for the analysis (counted in
  ``parameters["bridged_samples"]``). A longer run of NaN (or inf) samples is a gap: a stance
  loaded when the gap begins ends there, and a stance that begins after a gap before any
  unloaded sample was seen both get reason ``"gap"`` (invalid). A stance that begins before any
  unloaded sample was seen in the file is ``"partial_start"``; one still loaded at the last
  sample is ``"partial_end"``.

Because the detector only keeps running sums, feeding the samples in chunks gives exactly the
stances of a single call (see :class:`forcelab.analysis.StreamingAnalyzer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forcelab import _stances
from forcelab.errors import InputError
from forcelab.recording import check_rate

REASONS = ("", "partial_start", "partial_end", "gap")
"""Reason text per reason code; "" means valid."""
_REASON_TEXT = np.array(REASONS, dtype=object)

DEFAULT_OPTIONS: dict[str, float] = {
    "on_fraction": 0.05,
    "off_fraction": 0.03,
    "noise_factor_on": 4.0,
    "noise_factor_off": 3.0,
    "noise_cap_on": 0.25,
    "noise_cap_off": 0.2,
    "min_on_n": 12.0,
    "min_off_n": 8.0,
    "min_contact_s": 0.05,
    "min_flight_s": 0.01,
    "guard_s": 0.01,
    "init_window_s": 5.0,
    "min_level_n": 80.0,
    "level_alpha": 0.3,
    "noise_alpha": 0.5,
    "min_flight_samples": 3,
    "max_gap_s": 0.02,
    "contact_threshold_n": 20.0,
    "contact_noise_factor": 4.0,
    "edge_window_s": 0.15,
}
"""Detection options and their defaults (forces in N, durations in s, fractions of level).

``contact_threshold_n`` (0 = off), ``contact_noise_factor`` and ``edge_window_s`` set where
contact and toe-off are placed after detection (see :func:`edge_threshold_n` and the module
docstring)."""

SENSOR_OPTIONS: dict[str, dict[str, float]] = {
    "plate": {},
    "insole": {"on_fraction": 0.10, "off_fraction": 0.08, "contact_threshold_n": 0.0},
}
"""Detection settings per sensor kind (``Stream.sensor``) that replace :data:`DEFAULT_OPTIONS`.

A pressure insole measures the normal force under the sole, which rises and falls more
gradually than the ground reaction on a plate; contact and toe-off thresholds at 10 % / 8 % of
the level match the Moticon OpenGo vendor report best (docs/metrics.md), so the edges stay
there (``contact_threshold_n`` 0: no 20 N refinement) unless the caller sets
``contact_threshold_n``. The fractions apply as a pair: a caller who sets ``on_fraction`` or
``off_fraction`` gets exactly the fractions asked for.
"""

_PAIRED = ("on_fraction", "off_fraction")


def sensor_options(
    sensor: str, options: dict[str, Any] | None = None
) -> tuple[dict[str, float], str]:
    """Full, checked detection options for a stream measured by ``sensor``.

    Parameters
    ----------
    sensor : {"plate", "insole"}
        What measured the force (``Stream.sensor``).
    options : dict, optional
        Options given by the caller; they take precedence. If the caller sets ``on_fraction``
        or ``off_fraction``, the sensor's threshold fractions are not used at all.

    Returns
    -------
    options : dict
        Every detection option (as :func:`check_options` returns them).
    source : str
        ``"<sensor> defaults"`` when the sensor's settings were used, ``"caller"`` when the
        caller's fractions won, ``"defaults"`` for a sensor without settings of its own.

    Raises
    ------
    InputError
        For an unknown sensor kind or bad options.
    """
    if sensor not in SENSOR_OPTIONS:
        raise InputError(
            f"unknown sensor kind {sensor!r}; known kinds: {', '.join(SENSOR_OPTIONS)}"
        )
    given = dict(options or {})
    own = SENSOR_OPTIONS[sensor]
    if not own:
        return check_options(given), "defaults"
    if any(k in given for k in _PAIRED):
        rest = {k: v for k, v in own.items() if k not in _PAIRED}
        return check_options({**rest, **given}), "caller"
    return check_options({**own, **given}), f"{sensor} defaults"


def check_options(options: dict[str, Any] | None) -> dict[str, float]:
    """Return the full, checked set of detection options.

    Parameters
    ----------
    options : dict or None
        Options to override (names of :data:`DEFAULT_OPTIONS`).

    Returns
    -------
    dict
        Every option with its value as float (``min_flight_samples`` as int).

    Raises
    ------
    InputError
        On an unknown name, a non-finite or negative value, or thresholds without hysteresis.
    """
    opts = dict(DEFAULT_OPTIONS)
    for key, value in (options or {}).items():
        if key not in DEFAULT_OPTIONS:
            raise InputError(
                f"unknown stance detection option {key!r}; known options are "
                f"{', '.join(sorted(DEFAULT_OPTIONS))}"
            )
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(f"detection option {key} must be a number, got {value!r}") from None
        if not np.isfinite(number) or number < 0:
            raise InputError(f"detection option {key} must be a finite number >= 0, got {value!r}")
        opts[key] = number
    opts["min_flight_samples"] = int(opts["min_flight_samples"])
    for on, off in (
        ("on_fraction", "off_fraction"),
        ("noise_factor_on", "noise_factor_off"),
        ("noise_cap_on", "noise_cap_off"),
        ("min_on_n", "min_off_n"),
    ):
        if not opts[on] > opts[off]:
            raise InputError(
                f"{on} ({opts[on]}) must be larger than {off} ({opts[off]}): the detector needs "
                "hysteresis (switch on above where it switches off)"
            )
    if opts["on_fraction"] >= 1.0:
        raise InputError(f"on_fraction must be below 1, got {opts['on_fraction']}")
    for key in ("level_alpha", "noise_alpha"):
        if opts[key] > 1.0:
            raise InputError(f"{key} must be between 0 and 1, got {opts[key]}")
    if opts["init_window_s"] <= 0:
        raise InputError("init_window_s must be positive")
    return opts


def as_force(force_n: Any, name: str = "force_n", check_inf: bool = True) -> np.ndarray:
    """Return ``force_n`` as a contiguous 1-D float64 array (inf becomes NaN = gap).

    With ``check_inf=False`` infinities are left in place (the caller detects them later).

    Raises
    ------
    InputError
        If the input is not 1-D or not numeric.
    """
    try:
        arr = np.asarray(force_n, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a 1-D array of numbers in N") from None
    if arr.ndim != 1:
        raise InputError(f"{name} must be a 1-D array in N, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr)
    if check_inf and _stances.count_infinite(arr):
        arr = np.where(np.isinf(arr), np.nan, arr)
    return arr


def sample_counts(opts: dict[str, float], rate_hz: float) -> dict[str, int]:
    """Durations of the options in samples at ``rate_hz`` (at least 1, guard at least 0)."""
    return {
        "min_contact": max(1, int(round(opts["min_contact_s"] * rate_hz))),
        "min_flight": max(1, int(round(opts["min_flight_s"] * rate_hz))),
        "guard": max(0, int(round(opts["guard_s"] * rate_hz))),
        "min_stats": max(1, int(opts["min_flight_samples"])),
        "init_window": max(1, int(round(opts["init_window_s"] * rate_hz))),
        "max_gap": max(0, int(round(opts["max_gap_s"] * rate_hz))),
        "edge_window": max(0, int(round(opts["edge_window_s"] * rate_hz))),
    }


def bridge_gaps(x: np.ndarray, max_gap: int) -> tuple[np.ndarray, int]:
    """Fill runs of at most ``max_gap`` missing samples (NaN/inf) by linear interpolation.

    Only runs with a measured sample on both sides are filled; longer runs stay gaps. Used for
    analysis only (a one-row dropout in an insole export must not split a stance); stored data
    is never changed.

    Returns
    -------
    tuple
        The signal (the input itself when nothing was filled) and the number of filled samples.
    """
    if max_gap <= 0 or x.size == 0:
        return x, 0
    bad = ~np.isfinite(x)
    if not bad.any():
        return x, 0
    edges = np.diff(np.concatenate(([0], bad.view(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    ok = (ends - starts <= max_gap) & (starts > 0) & (ends < x.size)
    if not ok.any():
        return x, 0
    y = x.copy()
    for a, b in zip(starts[ok], ends[ok], strict=True):
        left, right = x[a - 1], x[b]
        frac = np.arange(1, b - a + 1) / (b - a + 1)
        y[a:b] = left + (right - left) * frac
    return y, int(np.sum(ends[ok] - starts[ok]))


def initial_window(window: np.ndarray, opts: dict[str, float]) -> tuple[float, float, float, float]:
    """Initial (baseline_n, noise_n, level_n) and the flight noise (N) of the first finite
    samples, in one compiled pass (``_stances.initial_window``; NumPy form:
    ``reference.initial_window_reference``).

    Parameters
    ----------
    window : ndarray
        The first ``init_window`` finite samples (N), fewer when the data is shorter.
    opts : dict
        Checked options.

    Returns
    -------
    tuple of float
        Baseline (N), noise SD (N) and level above baseline (N) (the module's "Initial
        state"), then the flight noise: ``1.4826 x MAD / sqrt(2)`` of the differences between
        neighbouring flight samples (those taken for the baseline). Differences ignore a slow
        drift, the median ignores the few rising and falling edge samples, so a clean, zeroed
        flight gives 0 N and white noise or mains ripple gives its SD; it sets the contact
        threshold (:func:`edge_threshold_n`), not the detector's. Means and SDs are sums in
        sample order.
    """
    return _stances.initial_window(np.ascontiguousarray(window, dtype=np.float64),
                                   float(opts["min_level_n"]))


def first_finite(x: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` finite samples of ``x`` (all of them when there are fewer)."""
    out = x[:count]
    if not np.isfinite(out).all() or out.size < count:
        # holes: look further until `count` finite samples are found (or the data ends)
        finite = x[np.isfinite(x)]
        return finite[:count]
    return out


def make_detector(opts: dict[str, float], rate_hz: float, init: tuple[float, float, float]):
    """A fresh compiled detector (``forcelab._stances.Detector``) for these options."""
    n = sample_counts(opts, rate_hz)
    base0, noise0, level0 = init
    return _stances.Detector(
        opts["on_fraction"],
        opts["off_fraction"],
        opts["noise_factor_on"],
        opts["noise_factor_off"],
        opts["min_on_n"],
        opts["min_off_n"],
        opts["level_alpha"],
        opts["noise_alpha"],
        n["min_contact"],
        n["min_flight"],
        n["guard"],
        n["min_stats"],
        base0,
        noise0,
        level0,
        opts["noise_cap_on"],
        opts["noise_cap_off"],
    )


def edge_threshold_n(opts: dict[str, float], noise_n: float) -> float | None:
    """Force above baseline (N) where contact and toe-off are placed, or None (edges as found).

    ``max(contact_threshold_n, contact_noise_factor * noise_n)`` with the stream's flight noise
    ``noise_n`` (N, from :func:`initial_window`); None when ``contact_threshold_n`` is 0.
    """
    if opts["contact_threshold_n"] <= 0:
        return None
    return float(max(opts["contact_threshold_n"], opts["contact_noise_factor"] * noise_n))


def refine_edges(
    x: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    baseline_n: np.ndarray,
    threshold_n: float,
    window: int,
    prev_end: int,
    final: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Contact edges at ``baseline + threshold_n`` (compiled kernel ``refine_edges``).

    Parameters
    ----------
    x : ndarray
        The force (N) the stance indices refer to (missing samples bridged as detected).
    start, end : ndarray of int64
        Detected stance edges (end exclusive).
    baseline_n : ndarray
        Per-stance baseline (N) tracked by the detector; the level is measured above the mean
        of the flight samples just before each contact that lie below it + ``threshold_n / 2``
        (this baseline when there are fewer than 3).
    threshold_n : float
        Crossing level above the baseline (N).
    window : int
        Samples an edge may move outward at most.
    prev_end : int
        Detected end of the stance before ``start[0]`` (the first walk back stops there).
    final : bool
        False while more samples may still come (streaming).

    Returns
    -------
    tuple
        New start, new end, the edge level per stance (N; contact and toe-off are interpolated
        at it) and the pending flags (toe-off walk needs more samples; only when not ``final``).
    """
    lower = np.empty_like(start)
    if start.size:
        lower[0] = prev_end
        lower[1:] = end[:-1]
    new_s, new_e, level, pending = _stances.refine_edges(
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(start, dtype=np.int64),
        np.ascontiguousarray(end, dtype=np.int64),
        np.ascontiguousarray(baseline_n, dtype=np.float64),
        float(threshold_n),
        np.ascontiguousarray(lower, dtype=np.int64),
        int(window),
        bool(final),
    )
    return new_s, new_e, level, pending.astype(bool)


@dataclass
class Stances:
    """Detected stances of one force signal, as columns.

    Attributes
    ----------
    start, end : ndarray of int64
        First sample and one past the last sample of each stance (end exclusive).
    valid : ndarray of bool
        True for complete stances that can be used in statistics.
    reason : ndarray of str
        Why a stance is invalid ("partial_start", "partial_end", "gap"); "" when valid.
    baseline_n : ndarray of float64
        Baseline (N) tracked from the flight before each stance; metrics are measured above it.
    rate_hz : float
        Sampling rate in Hz of the signal the indices refer to.
    parameters : dict
        Options used and the initial baseline/noise/level estimates.
    off_n : ndarray of float64, optional
        The absolute force (N) at which each stance's contact edges were found; used to place
        contact and toe-off between samples. NaN (the default) keeps whole samples.
    """

    start: np.ndarray
    end: np.ndarray
    valid: np.ndarray
    reason: np.ndarray
    baseline_n: np.ndarray
    rate_hz: float = 1.0
    parameters: dict[str, Any] = field(default_factory=dict)
    off_n: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.start = np.asarray(self.start, dtype=np.int64).reshape(-1)
        self.end = np.asarray(self.end, dtype=np.int64).reshape(-1)
        m = self.start.shape[0]
        if self.end.shape[0] != m:
            raise InputError("stances need as many end indices as start indices")
        self.valid = np.asarray(self.valid, dtype=bool).reshape(-1)
        self.reason = np.asarray(self.reason, dtype=object).reshape(-1)
        self.baseline_n = np.asarray(self.baseline_n, dtype=np.float64).reshape(-1)
        if self.off_n is None:
            self.off_n = np.full(m, np.nan)
        self.off_n = np.asarray(self.off_n, dtype=np.float64).reshape(-1)
        for name in ("valid", "reason", "baseline_n", "off_n"):
            if getattr(self, name).shape[0] != m:
                raise InputError(f"stances column {name} has the wrong length")
        if m and (np.any(self.end <= self.start) or np.any(self.start < 0)):
            raise InputError("every stance needs 0 <= start < end (sample indices)")

    def __len__(self) -> int:
        return int(self.start.shape[0])

    @classmethod
    def from_codes(
        cls,
        start: np.ndarray,
        end: np.ndarray,
        reason_code: np.ndarray,
        baseline_n: np.ndarray,
        rate_hz: float,
        parameters: dict[str, Any] | None = None,
        off_n: np.ndarray | None = None,
    ) -> Stances:
        """Build from the detector's reason codes (0 = valid, see :data:`REASONS`)."""
        codes = np.asarray(reason_code, dtype=np.int64)
        reasons = _REASON_TEXT[codes]
        return cls(
            start, end, codes == 0, reasons, baseline_n, rate_hz, dict(parameters or {}), off_n
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable columns (times in s)."""
        return {
            "start": self.start.tolist(),
            "end": self.end.tolist(),
            "start_s": (self.start / self.rate_hz).tolist(),
            "end_s": (self.end / self.rate_hz).tolist(),
            "valid": self.valid.tolist(),
            "reason": [str(r) for r in self.reason],
            "baseline_n": self.baseline_n.tolist(),
            "off_n": [None if np.isnan(v) else float(v) for v in self.off_n],
        }


def detect_stances(force_n: Any, rate_hz: float, **options: Any) -> Stances:
    """Find stances (foot contacts) in a vertical ground-reaction force signal.

    Parameters
    ----------
    force_n : array_like, shape (n,)
        Vertical force in N (positive = load). NaN marks samples that were not measured.
    rate_hz : float
        Sampling rate in Hz.
    **options
        Detection options (see :data:`DEFAULT_OPTIONS` and the module docstring), e.g.
        ``min_contact_s=0.08`` or ``on_fraction=0.1``.

    Returns
    -------
    Stances
        Start/end sample indices (end exclusive), validity, reasons and the baseline (N) each
        stance is measured above. ``parameters`` records the options and initial estimates.

    Raises
    ------
    InputError
        For a bad rate, a non-1-D or non-numeric signal, or bad options.
    """
    rate = check_rate(rate_hz)
    x = as_force(force_n, check_inf=False)  # the kernel treats +-inf as NaN (a gap)
    return find_stances(x, rate, check_options(options))[0]


def find_stances(
    x: np.ndarray,
    rate: float,
    opts: dict[str, float],
    measure: Any = None,
) -> tuple[Stances, tuple[np.ndarray, dict[str, np.ndarray]] | None]:
    """:func:`detect_stances` on a checked signal (float64), rate and options.

    With ``measure`` (a compiled ``Measure``: the metric definitions' parameters), each stance
    is measured as the detector finds it, while its samples are still in the cache. Returns
    the stances and, with ``measure``, the kernel's metric columns with the contact and toe-off
    (``contact_f``, ``toe_off_f``, as :func:`~forcelab.analysis.metrics.contact_edges` gives
    them); None when the signal had missing samples or edges are not refined (the caller
    measures the stances).
    """
    counts = sample_counts(opts, rate)

    def run(signal: np.ndarray, measure: Any) -> tuple:
        *init, noise_n = initial_window(first_finite(signal, counts["init_window"]), opts)
        det = make_detector(opts, rate, init)
        threshold_n = edge_threshold_n(opts, noise_n)
        if threshold_n is None:
            return init, det, threshold_n, det.feed(signal, True)
        # edges refined as each stance is found (its samples still in the cache); fed in one
        # piece, every stance is refined there
        found = det.feed_edges(signal, threshold_n, counts["edge_window"], measure, True)
        # the refined start and end, reason, baseline, edge level[, the metric columns]
        return init, det, threshold_n, (found[5], found[6], found[2], found[3], found[7],
                                        *found[9:])

    init, det, threshold_n, found = run(x, measure)
    measured = found[5] if measure is not None and threshold_n is not None else None
    n_bridged = 0
    if det.saw_missing:
        measured = None
        if counts["max_gap"] > 0:
            # the detector met missing samples: bridge short dropouts and detect again
            bridged, n_bridged = bridge_gaps(x, counts["max_gap"])
            if n_bridged:
                x = bridged
                init, det, threshold_n, found = run(bridged, None)
    start, end, code, base, off_n = found[:5]
    params = {
        "options": opts,
        "initial_baseline_n": init[0],
        "initial_noise_n": init[1],
        "initial_level_n": init[2],
        "bridged_samples": n_bridged,
        "contact_threshold_n": threshold_n,
        "method": "hysteresis thresholds above a baseline tracked from flight phases",
        "implementation": "compiled",
    }
    return Stances.from_codes(start, end, code, base, rate, params, off_n), measured
