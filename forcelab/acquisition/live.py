"""Live analysis during recording: streaming stance detection per stream, running per-side figures.

The :class:`LiveAnalyzer` is fed the same :class:`~forcelab.drivers.Block` objects the writer gets
(by the recorder's analyser thread, never by the acquisition threads) and keeps, per side, the
completed stances of the current trial: mean mid-stance peak (N and BW), contact time, stride time,
cadence, step width and crossover, and the Robinson symmetry index of the mid-stance peak
(:func:`forcelab.analysis.robinson_si_pct`). Sides come from the device (insole side, treadmill
belt) or, for one plate under both feet, from the medio-lateral centre of pressure of each stance
by the batch analysis' own alternation rule (:mod:`forcelab.analysis.sides`), re-run over the
stream's stances as each one completes, so a side may change when a later stance shows a double
contact; once the data ends, every side is the one the batch analysis of the file gives.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forcelab.analysis import StreamingAnalyzer, detection
from forcelab.analysis.asymmetry import (
    CI_TARGET_PCT,
    asymmetry_of,
    robinson_si_pct,
    symmetry_text,
)
from forcelab.analysis.metrics import G_M_S2
from forcelab.analysis.sides import median_cop, middle_half, sides_by_alternation, step_widths
from forcelab.recording import check_body_mass

__all__ = ["MAX_STANCES_KEPT", "LiveAnalyzer", "robinson_si_pct", "symmetry_text"]

MAX_STANCES_KEPT = 20000


@dataclass
class _StreamState:
    name: str
    rate_hz: float
    side: str | None
    fz_column: int
    cop_column: int | None
    ap_column: int | None
    options: dict[str, Any]
    body_mass_kg: float | None
    sensor: str = "plate"
    analyzer: Any = None
    next_seq: int | None = None
    t_first_s: float = 0.0
    n_fed: int = 0
    cop_ring: np.ndarray | None = None
    history: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=MAX_STANCES_KEPT)
    )

    def new_analyzer(self) -> None:
        options = dict(self.options)
        if not any(k in options for k in ("on_fraction", "off_fraction")):
            # the same per-sensor contact thresholds as the batch analysis of the file
            options.update(detection.SENSOR_OPTIONS.get(self.sensor, {}))
        self.analyzer = StreamingAnalyzer(self.rate_hz, self.body_mass_kg, **options)
        self.n_fed = 0
        self.history.clear()
        if self.cop_column is not None:
            self.cop_ring = np.full(int(30 * self.rate_hz), np.nan)


class LiveAnalyzer:
    """Streaming stance detection on several streams with running per-side figures.

    Parameters
    ----------
    body_mass_kg : float or None
        Athlete body mass in kg; enables figures in body weights.
    options : dict or None
        Stance-detection options passed to :class:`forcelab.analysis.StreamingAnalyzer`, and
        ``max_pause_s`` (a pause that starts a new alternation run for COP sides, 1.5 s as in
        the batch analysis).
    max_gap_fill_s : float
        Gaps up to this long (s) are fed as NaN (a stance across them is invalid); longer gaps
        restart the stream's detector.

    Notes
    -----
    ``feed`` is meant for one thread (the recorder's analyser thread); ``figures`` and
    ``stances`` may be called from any thread.
    """

    def __init__(
        self,
        body_mass_kg: float | None = None,
        options: dict[str, Any] | None = None,
        max_gap_fill_s: float = 5.0,
    ) -> None:
        self.body_mass_kg = check_body_mass(body_mass_kg)
        self.options = dict(options or {})
        self.max_pause_s = float(self.options.pop("max_pause_s", 1.5))
        self.max_gap_fill_s = float(max_gap_fill_s)
        self._streams: dict[str, _StreamState] = {}
        self._lock = threading.Lock()
        self._stances: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=MAX_STANCES_KEPT
        )
        self._n_total = 0
        self._since_s = -np.inf
        self._priority: dict[str, int] = {}

    def add_stream(
        self,
        name: str,
        rate_hz: float,
        side: str | None,
        fz_column: int,
        cop_ml_column: int | None = None,
        priority: int = 0,
        sensor: str = "plate",
        ap_column: int | None = None,
    ) -> None:
        """Declare a stream: its rate (Hz), side, the Block columns of Fz and COP ML (sides of a
        stream without a side, and step width; several streams' COP must share one frame), its
        priority as the source of a side's figures when several streams see one foot (lower
        wins; the recorder gives force plates 0, DIY plates 1, insoles 2) and what measures it
        (``"plate"`` or ``"insole"``: insoles get the analysis' insole contact thresholds unless
        the options set them), and the Block column of the fore-aft force (N, positive forward)
        when there is one (peak braking and propulsive forces)."""
        self._priority[name] = int(priority)
        state = _StreamState(
            name=name,
            rate_hz=float(rate_hz),
            side=side,
            fz_column=int(fz_column),
            cop_column=cop_ml_column,
            ap_column=ap_column,
            options=self.options,
            body_mass_kg=self.body_mass_kg,
            sensor=sensor,
        )
        state.new_analyzer()
        self._streams[name] = state

    @property
    def stream_names(self) -> list[str]:
        """Names of the declared streams."""
        return list(self._streams)

    def feed(self, name: str, block: Any, t_first_s: float) -> list[dict[str, Any]]:
        """Feed one block of stream ``name``; returns the stances it completed.

        Parameters
        ----------
        name : str
            Stream name given to :meth:`add_stream`.
        block : Block-like
            ``.seq``, ``.samples`` (n, channels).
        t_first_s : float
            Session time of the block's first sample, s.

        Returns
        -------
        list of dict
            Completed stances with ``stream``, ``side`` and ``start_s``/``end_s`` in session time.
        """
        st = self._streams[name]
        samples = np.asarray(block.samples)
        seq = int(block.seq)
        if st.next_seq is not None:
            gap = seq - st.next_seq
            if gap < 0:  # overlap (duplicate frame): keep only the new part
                samples = samples[-gap:]
                seq = st.next_seq
                t_first_s += -gap / st.rate_hz
                if samples.shape[0] == 0:
                    return []
                gap = 0
        else:
            gap = 0
        out: list[dict[str, Any]] = []
        if st.next_seq is None or gap > self.max_gap_fill_s * st.rate_hz:
            if st.next_seq is not None:
                out += self._finish(st, st.analyzer.flush())
                st.new_analyzer()
            st.t_first_s = t_first_s
        elif gap > 0:
            missing = np.full(gap, np.nan)
            out += self._push(st, missing, missing, missing if st.ap_column is not None else None)
        fz = samples[:, st.fz_column]
        cop = samples[:, st.cop_column] if st.cop_column is not None else None
        ap = samples[:, st.ap_column] if st.ap_column is not None else None
        out += self._push(st, fz, cop, ap)
        st.next_seq = seq + samples.shape[0]
        return out

    def flush(self) -> list[dict[str, Any]]:
        """End of recording: return the stances still open in every stream's detector."""
        out: list[dict[str, Any]] = []
        for st in self._streams.values():
            out += self._finish(st, st.analyzer.flush())
        return out

    def reset_figures(self, since_s: float | None = None) -> None:
        """Forget the stances kept for the running figures (e.g. at a new trial).

        Parameters
        ----------
        since_s : float or None
            Session time (s) of the new trial's start: stances that start earlier and are still
            completing are left out of the figures too.
        """
        with self._lock:
            self._stances.clear()
            self._since_s = -np.inf if since_s is None else float(since_s)

    def stances(self) -> list[dict[str, Any]]:
        """Copies of the stances kept for the running figures, with ``step_width_m`` and
        ``crossover`` (None where unknown)."""
        with self._lock:
            rows = [dict(s) for s in self._stances]
        return _with_step_width(rows)

    @property
    def n_stances(self) -> int:
        """Number of stances (valid or not) completed since the analyser started."""
        return self._n_total

    # -- internals -------------------------------------------------------------------------

    def _push(
        self, st: _StreamState, fz: np.ndarray, cop: np.ndarray | None, ap: np.ndarray | None
    ) -> list[dict]:
        if st.cop_ring is not None:
            n = fz.shape[0]
            cap = st.cop_ring.shape[0]
            idx = (st.n_fed + np.arange(max(0, n - cap), n)) % cap
            st.cop_ring[idx] = (cop if cop is not None else np.full(n, np.nan))[-cap:]
        st.n_fed += fz.shape[0]
        return self._finish(st, st.analyzer.feed(np.ascontiguousarray(fz, dtype=np.float64), ap))

    def _finish(self, st: _StreamState, stances: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for s in stances:
            d = dict(s)
            d["stream"] = st.name
            d["start_s"] = st.t_first_s + float(s["start_s"])
            d["end_s"] = st.t_first_s + float(s["end_s"])
            d["side"] = st.side
            d["cop_ml_m"] = self._stance_cop(st, s)
            d["double_contact"] = False
            out.append(d)
        if out:
            with self._lock:
                if st.side is None and st.cop_ring is not None:
                    st.history.extend(out)
                    self._resolve_sides(st)
                self._stances.extend(s for s in out if s["start_s"] >= self._since_s)
                self._n_total += len(out)
        return [dict(d) for d in out]

    def _stance_cop(self, st: _StreamState, stance: dict[str, Any]) -> float | None:
        """Median ML COP (m) over the middle half of the stance, as the batch analysis."""
        if st.cop_ring is None:
            return None
        cap = st.cop_ring.shape[0]
        lo, hi = middle_half(int(stance["sample_start"]), int(stance["sample_end"]))
        if hi <= lo or st.n_fed - lo > cap:
            return None
        value = median_cop(st.cop_ring[np.arange(lo, hi) % cap])
        return value if np.isfinite(value) else None

    def _resolve_sides(self, st: _StreamState) -> None:
        """Sides of all the stream's stances by the batch alternation rule (under the lock)."""
        rows = list(st.history)
        sides, double = sides_by_alternation(
            [np.nan if r["cop_ml_m"] is None else r["cop_ml_m"] for r in rows],
            [r["start_s"] for r in rows],
            [r["end_s"] for r in rows],
            [r.get("reason") == "gap" for r in rows],
            self.max_pause_s,
        )
        for r, side, dbl in zip(rows, sides, double, strict=True):
            r["side"] = side
            r["double_contact"] = bool(dbl)

    def figures(self) -> dict[str, Any]:
        """Running figures of the current trial.

        Returns
        -------
        dict
            ``sides``: per side (or per stream when the side is unknown) ``n_stances``,
            ``midstance_peak_n`` (mean, N), ``midstance_peak_sd_n``, ``last_midstance_peak_n``,
            ``midstance_peak_bw`` (mean, BW, None without body mass), ``contact_time_s`` (mean),
            ``stride_time_s`` (median), ``cadence_spm`` (steps/min) and ``source`` (the stream
            they come from: when several devices see one foot, e.g. a belt plate and an insole,
            the one added with the lowest ``priority`` (plates before insoles)); ``streams``: the
            same per stream and side (``"plate_left"``, ``"plate:left"`` for a plate under both
            feet); and overall ``n_stances`` (all, valid or not), ``n_valid``, ``si_pct``
            (Robinson SI of the mid-stance peak, positive = right higher, None until both sides
            have a stance), ``symmetry_text`` (worded as its 95 % CI allows, with the steps
            still needed for ±2 %), ``si_ci95_pct``, ``si_detectable`` (the CI excludes 0),
            ``si_verdict`` and ``si_band_pct`` (against healthy runners), ``strides_needed``
            and ``si_settled`` (the CI is within ±2 %: until then readouts grey out),
            ``cadence_spm``, ``contact_time_s``. Per side
            also the means of ``first_peak_n``, ``trough_n``, ``second_peak_n`` (walking),
            ``peak_braking_n``, ``peak_propulsive_n`` (with a fore-aft column), ``valr_n_s``
            with ``loading_rate_quality`` ("indicative" below 500 Hz), ``step_width_m``,
            ``step_width_sd_m`` and ``crossover_pct``.
        """
        with self._lock:
            kept = [dict(s) for s in self._stances]
        n_all = len(kept)
        stances = [s for s in _with_step_width(kept) if s.get("valid", True)]
        by_stream: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        for s in stances:
            by_stream.setdefault((s["stream"], s["side"]), []).append(s)
        streams = {
            (name if side is None or side in name else f"{name}:{side}"): self._group(group, name)
            for (name, side), group in by_stream.items()
        }
        sides: dict[str, dict[str, Any]] = {}
        peaks: dict[str, np.ndarray] = {}
        order = {name: k for k, name in enumerate(self._streams)}
        for (name, side), group in sorted(
            by_stream.items(),
            key=lambda kv: (self._priority.get(kv[0][0], 0), order.get(kv[0][0], 0)),
        ):
            key = side or name
            if key not in sides:
                sides[key] = self._group(group, name)
                peaks[key] = np.array([_num(s.get("midstance_peak_n")) for s in group])
        si = None
        noise: dict[str, Any] = {}
        if "left" in sides and "right" in sides:
            left = sides["left"]["midstance_peak_n"]
            right = sides["right"]["midstance_peak_n"]
            if left is not None and right is not None:
                si = robinson_si_pct(left, right)
                noise = asymmetry_of(peaks["left"], peaks["right"], "midstance_peak_n",
                                     "Mid-stance peak")
        cadences = [v["cadence_spm"] for v in sides.values() if v["cadence_spm"]]
        contacts = [v["contact_time_s"] for v in sides.values() if v["contact_time_s"]]
        return {
            "sides": sides,
            "streams": streams,
            "n_stances": n_all,
            "n_valid": len(stances),
            "si_pct": si,
            "symmetry_text": _live_words(si, noise),
            "si_ci95_pct": noise.get("ci95_pct"),
            "si_detectable": bool(noise.get("detectable")),
            "si_verdict": noise.get("verdict"),
            "si_band_pct": noise.get("band_si_pct"),
            "strides_needed": noise.get("strides_needed"),
            "si_settled": noise.get("ci95_pct") is not None and noise.get("strides_needed") == 0,
            "cadence_spm": float(np.mean(cadences)) if cadences else None,
            "contact_time_s": float(np.mean(contacts)) if contacts else None,
            "body_mass_kg": self.body_mass_kg,
        }

    def _group(self, group: list[dict[str, Any]], source: str) -> dict[str, Any]:
        peaks = np.array([_num(s.get("midstance_peak_n")) for s in group])
        contact = np.array([_num(s.get("contact_time_s")) for s in group])
        widths = np.array([_num(s.get("step_width_m")) for s in group])
        crossed = np.array([bool(s["crossover"]) for s in group if s.get("crossover") is not None])
        starts = np.sort(np.array([float(s["start_s"]) for s in group]))
        strides = np.diff(starts)
        strides = strides[strides < 3.0]
        stride_s = float(np.median(strides)) if strides.size else None
        mean_peak = _nanmean(peaks)
        extra = {
            key: _nanmean(np.array([_num(s.get(key)) for s in group]))
            for key in (
                "first_peak_n",
                "trough_n",
                "second_peak_n",
                "peak_braking_n",
                "peak_propulsive_n",
                "valr_n_s",
            )
        }
        indicative = any(s.get("loading_rate_quality") == "indicative" for s in group)
        return {
            **extra,
            "loading_rate_quality": "indicative" if indicative else "measured",
            "n_stances": len(group),
            "midstance_peak_n": mean_peak,
            "midstance_peak_sd_n": _nanstd(peaks),
            "last_midstance_peak_n": _num_or_none(peaks[-1]) if peaks.size else None,
            "midstance_peak_bw": (
                mean_peak / (self.body_mass_kg * G_M_S2)
                if mean_peak is not None and self.body_mass_kg
                else None
            ),
            "contact_time_s": _nanmean(contact),
            "step_width_m": _nanmean(widths),
            "step_width_sd_m": _nanstd(widths),
            "crossover_pct": (100.0 * float(np.mean(crossed)) if crossed.size else None),
            "stride_time_s": stride_s,
            "cadence_spm": 120.0 / stride_s if stride_s else None,
            "source": source,
        }


def _live_words(si: float | None, a: dict[str, Any]) -> str:
    """The live asymmetry readout in words, as sure as its confidence interval allows."""
    if si is None:
        return symmetry_text(None)
    ci, more = a.get("ci95_pct"), a.get("strides_needed")
    if ci is None:
        return "mid-stance peak: too few strides to compare yet"
    text = (symmetry_text(si, "mid-stance peak") if a.get("detectable")
            else "mid-stance peak: no detectable difference")
    lo, hi = ci
    text += f" (95 % CI {lo:+.1f} to {hi:+.1f} %)"
    if more:
        text += f"; {more} more step{'s' if more != 1 else ''} per side for ±{CI_TARGET_PCT:g} %"
    return text


def _with_step_width(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add step_width_m and crossover to stance dicts (time order across streams)."""
    rows.sort(key=lambda r: r["start_s"])
    widths = step_widths(
        [r["side"] for r in rows],
        [r["start_s"] for r in rows],
        [_num(r.get("cop_ml_m")) for r in rows],
    )
    for r, w in zip(rows, widths, strict=True):
        known = bool(np.isfinite(w))
        r["step_width_m"] = float(w) if known else None
        r["crossover"] = bool(w < 0.0) if known else None
    return rows


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _num_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _nanmean(a: np.ndarray) -> float | None:
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else None


def _nanstd(a: np.ndarray) -> float | None:
    a = a[np.isfinite(a)]
    return float(a.std(ddof=1)) if a.size > 1 else None
