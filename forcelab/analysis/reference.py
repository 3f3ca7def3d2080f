"""Pure NumPy reference implementation of the compiled kernels in ``ext/_stances.pyx``.

Slow but independent: the detector jumps from threshold crossing to threshold crossing with
vectorised searches instead of stepping sample by sample, and the metrics use NumPy reductions
per stance. The tests require the compiled kernels to agree with it exactly for indices and
within a tight tolerance for floats. Definitions: :mod:`forcelab.analysis.detection` and
:mod:`forcelab.analysis.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from forcelab.analysis.detection import (
    Stances,
    as_force,
    bridge_gaps,
    check_options,
    edge_threshold_n,
    first_finite,
    sample_counts,
)
from forcelab.analysis.metrics import TROUGH_WINDOW_PCT, WALKING_PEAKS_PCT, check_metric_options
from forcelab.recording import check_rate

_OK, _PARTIAL_START, _PARTIAL_END, _GAP = 0, 1, 2, 3


def _find(x: np.ndarray, i: int, hi: int, pred: Callable[[np.ndarray], np.ndarray]) -> int:
    """First index j in [i, hi) with pred(x[j]) true, else hi (searches in growing windows)."""
    step = 256
    while i < hi:
        j = min(hi, i + step)
        hit = pred(x[i:j])
        if hit.any():
            return i + int(np.argmax(hit))
        i = j
        step *= 2
    return hi


def _capped(term: float, cap_frac: float, level: float) -> float:
    cap = cap_frac * level
    if level > 0.0 and term > cap:
        return cap
    return term


def _seq_sum(acc: float, values: np.ndarray) -> float:
    """acc + values[0] + values[1] + ... added in order (as the kernel does)."""
    if values.size == 0:
        return acc
    return float(np.cumsum(np.concatenate(([acc], values)))[-1])


def initial_window_reference(
    window: np.ndarray, min_level_n: float
) -> tuple[float, float, float, float]:
    """NumPy form of the compiled ``initial_window``: (baseline_n, noise_n, level_n,
    flight_noise_n) of the initial window (:func:`~forcelab.analysis.detection.initial_window`)."""
    vals = np.asarray(window, dtype=np.float64)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return 0.0, 0.0, 0.0, 0.0
    ranked = np.sort(vals)

    def percentile(frac: float) -> float:
        pos = frac * (vals.size - 1)
        a = math.floor(pos)
        b = min(a + 1, vals.size - 1)
        return float(ranked[a] + (ranked[b] - ranked[a]) * (pos - a))

    def median(v: np.ndarray) -> float:
        r = np.sort(v)
        h = r.size // 2
        return float(r[h]) if r.size % 2 else float((r[h - 1] + r[h]) / 2.0)

    lo, hi = percentile(0.02), percentile(0.98)
    span = hi - lo
    flight = vals <= lo + 0.1 * span if span >= min_level_n else np.ones(vals.size, bool)
    low = vals[flight]
    base = _seq_sum(0.0, low) / low.size
    noise = math.sqrt(_seq_sum(0.0, (low - base) ** 2) / low.size)
    level = max(hi - base, 0.0) if span >= min_level_n else 0.0
    d = np.diff(vals)[flight[1:] & flight[:-1]]
    if vals.size < 3 or d.size == 0:
        return base, noise, level, 0.0
    return base, noise, level, 1.4826 * median(np.abs(d - median(d))) / math.sqrt(2.0)


class _RefDetector:
    def __init__(self, opts: dict[str, float], counts: dict[str, int], init: tuple) -> None:
        self.o = opts
        self.min_contact = counts["min_contact"]
        self.min_flight = counts["min_flight"]
        self.guard = counts["guard"]
        self.min_stats = counts["min_stats"]
        self.base, self.noise, self.level = (float(v) for v in init)
        self.thresholds()
        self.fl_start = 0
        self.last_low = -1
        self.fs = [0.0] * 4
        self.fss = [0.0] * 4
        self.fn = 0
        self.out: list[tuple[int, int, int, float, float]] = []

    def thresholds(self) -> None:
        o = self.o
        self.on = self.base + max(
            o["on_fraction"] * self.level,
            _capped(o["noise_factor_on"] * self.noise, o["noise_cap_on"], self.level),
            o["min_on_n"],
        )
        self.off = self.base + max(
            o["off_fraction"] * self.level,
            _capped(o["noise_factor_off"] * self.noise, o["noise_cap_off"], self.level),
            o["min_off_n"],
        )

    def accumulate(self, x: np.ndarray, lo: int, hi: int) -> None:
        """Flight statistics while samples [lo, hi) are processed: they lag by `guard`."""
        g = self.guard
        lo = max(lo - g, self.fl_start + g)
        hi = hi - g
        if lo >= hi:
            return
        v = x[lo:hi]
        keep = v < self.off
        idx = np.arange(lo, hi)
        # four partial sums by global sample index mod 4, each added in order (as the kernel)
        for r in range(4):
            sel = keep & (idx % 4 == r)
            d = v[sel] - self.base
            self.fs[r] = _seq_sum(self.fs[r], d)
            self.fss[r] = _seq_sum(self.fss[r], d * d)
        self.fn += int(np.count_nonzero(keep))

    def candidate(self) -> None:
        if self.fn >= self.min_stats:
            fs = (self.fs[0] + self.fs[1]) + (self.fs[2] + self.fs[3])
            fss = (self.fss[0] + self.fss[1]) + (self.fss[2] + self.fss[3])
            mean = fs / self.fn
            var = fss / self.fn - mean * mean
            if var < 0.0:
                var = 0.0
            self.cbase = self.base + mean
            self.cnoise = self.noise + self.o["noise_alpha"] * (math.sqrt(var) - self.noise)
        else:
            self.cbase = self.base
            self.cnoise = self.noise
        o = self.o
        self.st_off = self.cbase + max(
            o["off_fraction"] * self.level,
            _capped(o["noise_factor_off"] * self.cnoise, o["noise_cap_off"], self.level),
            o["min_off_n"],
        )

    def commit(self) -> None:
        self.base = self.cbase
        self.noise = self.cnoise
        self.fs = [0.0] * 4
        self.fss = [0.0] * 4
        self.fn = 0
        self.committed = True
        self.thresholds()

    def emit(self, start: int, end: int, reason: int, learn: bool) -> None:
        self.out.append((start, end, reason, self.cbase, self.st_off))
        if learn and reason == _OK:
            self.level = self.level + self.o["level_alpha"] * (
                (self.st_max - self.cbase) - self.level
            )
            self.thresholds()

    def run(self, x: np.ndarray) -> list[tuple[int, int, int, float, float]]:
        n = x.shape[0]
        i = 0
        phase = "flight"
        edge = _PARTIAL_START
        while i < n:
            if phase == "flight":
                on = self.on
                j = _find(x, i, n, lambda s, on=on: ~(s <= on))
                low = np.flatnonzero(x[i:j] < self.off)
                if low.size:
                    self.last_low = i + int(low[-1])
                    edge = _OK
                self.accumulate(x, i, j)
                if j >= n:
                    i = n
                    break
                v = x[j]
                if math.isnan(v):
                    edge = _GAP
                    self.last_low = j
                    i = j + 1
                    continue
                self.st_start = self.last_low + 1
                self.st_reason = edge
                edge = _OK
                self.st_max = float(v)
                self.committed = False
                self.candidate()
                phase = "stance"
                i = j + 1
            elif phase == "stance":
                st_off = self.st_off
                j = _find(x, i, n, lambda s, t=st_off: ~(s >= t))
                if j > i:
                    self.st_max = max(self.st_max, float(x[i:j].max()))
                if not self.committed and j > self.st_start + self.min_contact - 1:
                    self.commit()
                if j >= n:
                    i = n
                    break
                v = x[j]
                length = j - self.st_start
                if math.isnan(v):
                    if length >= self.min_contact:
                        self.emit(self.st_start, j, _GAP, learn=False)
                        self.fl_start = j
                    phase = "flight"
                    edge = _GAP
                    self.last_low = j
                    i = j + 1
                    continue
                if length < self.min_contact:
                    phase = "flight"
                    i = j
                    continue
                phase = "tentative"
                self.t_end = j
                self.fl_start = j
                self.fs = [0.0] * 4
                self.fss = [0.0] * 4
                self.fn = 0
                i = j
            else:
                lim = min(n, self.t_end + self.min_flight)
                on = self.on
                j = _find(x, i, lim, lambda s, on=on: ~(s <= on))
                low = np.flatnonzero(x[i:j] < self.off)
                if low.size:
                    self.last_low = i + int(low[-1])
                self.accumulate(x, i, j)
                if j >= n:
                    i = n
                    break
                v = x[j]
                if math.isnan(v) or v <= self.on:
                    self.emit(self.st_start, self.t_end, self.st_reason, learn=True)
                    phase = "flight"
                    if math.isnan(v):
                        edge = _GAP
                        self.last_low = j
                        i = j + 1
                    else:
                        i = j
                    continue
                phase = "stance"
                self.fs = [0.0] * 4
                self.fss = [0.0] * 4
                self.fn = 0
                self.st_max = max(self.st_max, float(v))
                i = j + 1
        if phase == "stance":
            if n - self.st_start >= self.min_contact:
                reason = self.st_reason if self.st_reason != _OK else _PARTIAL_END
                self.emit(self.st_start, n, reason, learn=False)
        elif phase == "tentative":
            self.emit(self.st_start, self.t_end, self.st_reason, learn=True)
        return self.out


def detect_stances_reference(force_n: Any, rate_hz: float, **options: Any) -> Stances:
    """NumPy reference of :func:`forcelab.analysis.detect_stances` (same result, slower)."""
    rate = check_rate(rate_hz)
    x = as_force(force_n)
    opts = check_options(options)
    counts = sample_counts(opts, rate)
    x, _ = bridge_gaps(x, counts["max_gap"])
    *init, noise_n = initial_window_reference(
        first_finite(x, counts["init_window"]), opts["min_level_n"]
    )
    out = _RefDetector(opts, counts, tuple(init)).run(x)
    cols = list(zip(*out, strict=True)) if out else [[], [], [], [], []]
    start = np.array(cols[0], dtype=np.int64)
    end = np.array(cols[1], dtype=np.int64)
    base = np.array(cols[3], dtype=np.float64)
    off_n = np.array(cols[4], dtype=np.float64)
    threshold_n = edge_threshold_n(opts, noise_n)
    if threshold_n is not None:
        start, end, off_n = refine_edges_reference(
            x, start, end, base, threshold_n, counts["edge_window"]
        )
    params = {
        "options": opts,
        "initial_baseline_n": init[0],
        "initial_noise_n": init[1],
        "initial_level_n": init[2],
        "contact_threshold_n": threshold_n,
        "implementation": "numpy reference",
    }
    return Stances.from_codes(
        start, end, np.array(cols[2], dtype=np.int64), base, rate, params, off_n=off_n
    )


def refine_edges_reference(x: np.ndarray, start: np.ndarray, end: np.ndarray,
                           baseline_n: np.ndarray, threshold_n: float, window: int
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy reference of the compiled ``refine_edges`` (whole data, ``final=True``).

    Level: mean of the flight samples before the contact (within ``window``, after the previous
    stance's detected end) below ``baseline + threshold / 2``, plus ``threshold_n``. Each edge
    moves to the level crossing: outward over at most ``window`` samples when the edge sample is
    at or above the level and a finite sample below it is found there, inward otherwise.
    """
    new_s, new_e = start.copy(), end.copy()
    level_n = np.empty(start.shape[0])
    n = x.shape[0]
    for k in range(start.shape[0]):
        s, e = int(start[k]), int(end[k])
        lower = int(end[k - 1]) if k else 0
        lo = max(s - window, lower, 0)
        flight = x[lo:s]
        use = flight < baseline_n[k] + 0.5 * threshold_n  # NaN (missing) is never below
        # summed as the kernel sums: four lanes by position, the remainder in lane 0
        lane = np.arange(flight.size) % 4
        lane[4 * (flight.size // 4) :] = 0
        sums = [_seq_sum(0.0, flight[(lane == r) & use]) for r in range(4)]
        count = int(use.sum())
        b = ((sums[0] + sums[1]) + (sums[2] + sums[3])) / count if count >= 3 else baseline_n[k]
        lv = level_n[k] = b + threshold_n
        if x[s] >= lv:
            seg = x[lo:s][::-1]  # s-1, s-2, ..., lo
            stop = np.flatnonzero(~(seg >= lv) | ~np.isfinite(seg))
            if stop.size and np.isfinite(seg[stop[0]]):
                new_s[k] = s - stop[0]
        else:
            inside = np.flatnonzero(x[s:e] >= lv)
            if inside.size == 0:
                continue
            new_s[k] = s + inside[0]
        if x[e - 1] >= lv:
            seg = x[e : min(e + window, n)]
            stop = np.flatnonzero(~(seg >= lv) | ~np.isfinite(seg))
            if stop.size and np.isfinite(seg[stop[0]]):
                new_e[k] = e + stop[0]
        else:
            last = np.flatnonzero(x[new_s[k] : e] >= lv)
            new_e[k] = new_s[k] + (last[-1] + 1 if last.size else 1)
    return new_s, new_e, level_n


def stance_metrics_reference(
    force_n: Any, stances: Stances, rate_hz: float, **options: Any
) -> dict[str, np.ndarray]:
    """NumPy reference of the compiled metric kernel (raw output: indices relative to stance
    start, forces above baseline, method codes 0 none / 1 impact peak / 2 13 % surrogate)."""
    x = as_force(force_n)
    rate = check_rate(rate_hz)
    o = check_metric_options(options)
    win, prom_frac, surr = (
        o["impact_window_pct"] / 100.0,
        o["impact_prominence_fraction"],
        o["surrogate_pct"] / 100.0,
    )
    hump_frac = o["double_hump_fraction"]
    trough_lo, trough_hi = TROUGH_WINDOW_PCT[0] / 100.0, TROUGH_WINDOW_PCT[1] / 100.0
    m = len(stances)
    names = (
        "peak_force_n",
        "peak_idx",
        "midstance_peak_n",
        "midstance_idx",
        "impact_peak_n",
        "impact_idx",
        "first_peak_n",
        "trough_n",
        "second_peak_n",
        "valr_n_s",
        "vilr_n_s",
        "impulse_ns",
    )
    out = {name: np.full(m, np.nan) for name in names}
    method = np.zeros(m, dtype=np.int8)
    pattern = np.zeros(m, dtype=np.int8)
    first_hi, second_lo = WALKING_PEAKS_PCT[0] / 100.0, WALKING_PEAKS_PCT[1] / 100.0
    for k in range(m):
        s, e, b = int(stances.start[k]), int(stances.end[k]), float(stances.baseline_n[k])
        n = e - s
        f = x[s:e] - b
        h = max(n // 2, 1)
        i1 = int(np.argmax(f[:h]))
        m1 = f[i1]
        i2 = h + int(np.argmax(f[h:])) if n > h else -1
        p = i2 if i2 >= 0 and f[i2] > m1 else i1
        mx = f[p]
        out["peak_force_n"][k] = mx
        out["peak_idx"][k] = p
        out["impulse_ns"][k] = np.sum(f) / rate
        if i2 >= 0:
            seg = f[i1 : i2 + 1]
            ti = i1 + int(np.argmin(seg))
            tr = f[ti]
            tl = i1 + int(np.flatnonzero(seg == tr)[-1])  # a flat trough: its middle counts
            hump = hump_frac * mx
            if trough_lo * n <= 0.5 * (ti + tl) <= trough_hi * n:
                if m1 - tr >= hump and f[i2] - tr >= hump:
                    pattern[k] = 1
                elif i1 <= first_hi * n and i2 >= second_lo * n:
                    pattern[k] = 2
            if pattern[k]:
                out["first_peak_n"][k] = m1
                out["second_peak_n"][k] = f[i2]
                out["trough_n"][k] = tr
        # impact peak
        w = math.floor(n * win)
        prom = prom_frac * mx
        rm = np.maximum.accumulate(f)
        rm_prev = np.concatenate(([f[0]], rm[:-1]))
        idx = np.arange(n)
        newmax = f > rm_prev
        event = (newmax & (idx >= w)) | (~newmax & (f < rm_prev - prom))
        ri, di = 0, -1
        if event.any():
            j = int(np.argmax(event))
            if not newmax[j]:
                di = j
                before = np.flatnonzero(newmax[:j])
                ri = int(before[-1]) if before.size else 0
        if di >= 0 and 1 <= ri < w:
            out["impact_peak_n"][k] = f[ri]
            out["impact_idx"][k] = ri
            mi = di + int(np.argmax(f[di:]))
            out["midstance_peak_n"][k] = f[mi]
            out["midstance_idx"][k] = mi
            fref, jend = f[ri], ri
            method[k] = 1
        else:
            out["midstance_peak_n"][k] = mx
            out["midstance_idx"][k] = p
            jend = min(math.floor(n * surr), n - 1)
            fref = f[jend]
            method[k] = 2
        if pattern[k]:
            out["midstance_peak_n"][k] = np.nan
            out["midstance_idx"][k] = np.nan
        if fref <= 0.0 or jend < 1:
            method[k] = 0
            continue
        l20, l80 = 0.2 * fref, 0.8 * fref
        seg = f[: jend + 1]
        hit20 = np.flatnonzero(seg >= l20)
        hit80 = np.flatnonzero(seg >= l80)
        if hit20.size == 0 or hit80.size == 0:
            method[k] = 0
            continue
        j20, j80 = int(hit20[0]), int(hit80[0])

        def cross(j: int, level: float, f: np.ndarray = f) -> float:
            if j < 1:
                return 0.0
            return (j - 1) + (level - f[j - 1]) / (f[j] - f[j - 1])

        t20, t80 = cross(j20, l20), cross(j80, l80)
        if t80 > t20:
            out["valr_n_s"][k] = (l80 - l20) * rate / (t80 - t20)
        lo = max(j20, 1)
        if lo <= j80:
            out["vilr_n_s"][k] = np.max(np.diff(f[lo - 1 : j80 + 1]) * rate)
    out["loading_rate_method"] = method
    out["peak_pattern"] = pattern
    return out


def contact_edges_reference(
    x: np.ndarray, stances: Stances, index_offset: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """NumPy form of :func:`forcelab.analysis.metrics.contact_edges` (same arithmetic)."""
    s, e, off = stances.start, stances.end, stances.off_n
    start_f = (s + index_offset).astype(np.float64)
    end_f = (e + index_offset).astype(np.float64)
    n = x.shape[0]
    if len(stances) == 0 or n == 0:
        return start_f, end_f
    with np.errstate(invalid="ignore", divide="ignore"):
        has = s >= 1
        xa = x[np.where(has, s - 1, 0)]
        xb = x[np.minimum(s, n - 1)]
        ok = has & np.isfinite(xa) & (xa < off) & (xb >= off)
        frac = (off - xa) / (xb - xa)
        start_f[ok] = (s[ok] + index_offset - 1).astype(np.float64) + frac[ok]
        has = e < n
        xa = x[np.maximum(e - 1, 0)]
        xb = x[np.where(has, e, n - 1)]
        ok = has & np.isfinite(xb) & (xb < off) & (xa >= off)
        frac = (xa - off) / (xa - xb)
        end_f[ok] = (e[ok] + index_offset - 1).astype(np.float64) + frac[ok]
    return start_f, end_f


def alternation_reference(looks_right: np.ndarray, same_cost: float) -> np.ndarray:
    """NumPy reference of the compiled ``alternation`` kernel: every foot sequence's cost by
    dynamic programming over both end states (same costs and tie rules), True = right."""
    obs = np.asarray(looks_right, dtype=bool)
    n = obs.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    miss = np.stack([obs.astype(float), (~obs).astype(float)], axis=1)  # cost of left, right
    cost = miss[0] + 1e-6 * miss[0]
    back = np.zeros((n, 2), dtype=np.intp)
    for k in range(1, n):
        new = np.empty(2)
        for state in (0, 1):
            alt, stay = cost[1 - state], cost[state] + same_cost
            back[k, state] = 1 - state if alt <= stay else state
            new[state] = min(alt, stay)
        cost = new + miss[k]
    path = np.empty(n, dtype=bool)
    last = 0 if cost[0] <= cost[1] else 1
    for k in range(n - 1, -1, -1):
        path[k] = bool(last)
        last = back[k, last]
    return path
