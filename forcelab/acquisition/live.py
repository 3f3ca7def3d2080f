"""Live analysis during recording: streaming stance detection per stream, running per-side figures.

The :class:`LiveAnalyzer` is fed the same :class:`~forcelab.drivers.Block` objects the writer gets
(by the recorder's analyser thread, never by the acquisition threads) and keeps, per side, the
completed stances of the current trial: mean mid-stance peak (N and BW), contact time, stride time,
cadence, and the Robinson symmetry index of the mid-stance peak, SI = (R − L)/((R + L)/2)·100 %
(positive = right higher). Sides come from the device (insole side, treadmill belt) or, for one
plate under both feet, from the medio-lateral centre of pressure of each stance.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forcelab.analysis import StreamingAnalyzer, detection
from forcelab.analysis.metrics import G_M_S2
from forcelab.recording import check_body_mass

MAX_STANCES_KEPT = 20000


@dataclass
class _StreamState:
    name: str
    rate_hz: float
    side: str | None
    fz_column: int
    cop_column: int | None
    options: dict[str, Any]
    body_mass_kg: float | None
    sensor: str = "plate"
    analyzer: Any = None
    next_seq: int | None = None
    t_first_s: float = 0.0
    n_fed: int = 0
    cop_ring: np.ndarray | None = None
    cop_means: collections.deque = field(default_factory=lambda: collections.deque(maxlen=20))

    def new_analyzer(self) -> None:
        options = dict(self.options)
        if not any(k in options for k in ("on_fraction", "off_fraction")):
            # the same per-sensor contact thresholds as the batch analysis of the file
            options.update(detection.SENSOR_OPTIONS.get(self.sensor, {}))
        self.analyzer = StreamingAnalyzer(self.rate_hz, self.body_mass_kg, **options)
        self.n_fed = 0
        if self.cop_column is not None:
            self.cop_ring = np.full(int(30 * self.rate_hz), np.nan)


def symmetry_text(si_pct: float | None, what: str = "") -> str:
    """Direction of an asymmetry in words, e.g. ``"7.8 % higher on the left"``."""
    if si_pct is None or not np.isfinite(si_pct):
        return "n/a"
    prefix = f"{what} " if what else ""
    if abs(si_pct) < 0.05:
        return f"{prefix}equal left and right"
    side = "right" if si_pct > 0 else "left"
    return f"{prefix}{abs(si_pct):.1f} % higher on the {side}"


def robinson_si_pct(left: float, right: float) -> float | None:
    """Robinson symmetry index (R − L)/((R + L)/2)·100 %, or None when it is meaningless."""
    if not (np.isfinite(left) and np.isfinite(right)):
        return None
    mean = (left + right) / 2.0
    if abs(mean) < 1e-9:
        return None
    return float((right - left) / mean * 100.0)


class LiveAnalyzer:
    """Streaming stance detection on several streams with running per-side figures.

    Parameters
    ----------
    body_mass_kg : float or None
        Athlete body mass in kg; enables figures in body weights.
    options : dict or None
        Stance-detection options passed to :class:`forcelab.analysis.StreamingAnalyzer`.
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
    ) -> None:
        """Declare a stream: its rate (Hz), side, the Block columns of Fz and COP ML, and its
        priority as the source of a side's figures when several streams see one foot (lower
        wins; the recorder gives force plates 0, DIY plates 1, insoles 2) and what measures it
        (``"plate"`` or ``"insole"``: insoles get the analysis' insole contact thresholds unless
        the options set them)."""
        self._priority[name] = int(priority)
        state = _StreamState(
            name=name,
            rate_hz=float(rate_hz),
            side=side,
            fz_column=int(fz_column),
            cop_column=None if side is not None else cop_ml_column,
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
            out += self._push(st, np.full(gap, np.nan), np.full(gap, np.nan))
        fz = samples[:, st.fz_column]
        cop = samples[:, st.cop_column] if st.cop_column is not None else None
        out += self._push(st, fz, cop)
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
        """Copies of the stances kept for the running figures."""
        with self._lock:
            return [dict(s) for s in self._stances]

    @property
    def n_stances(self) -> int:
        """Number of stances (valid or not) completed since the analyser started."""
        return self._n_total

    # -- internals -------------------------------------------------------------------------

    def _push(self, st: _StreamState, fz: np.ndarray, cop: np.ndarray | None) -> list[dict]:
        if st.cop_ring is not None:
            n = fz.shape[0]
            cap = st.cop_ring.shape[0]
            idx = (st.n_fed + np.arange(max(0, n - cap), n)) % cap
            st.cop_ring[idx] = (cop if cop is not None else np.full(n, np.nan))[-cap:]
        st.n_fed += fz.shape[0]
        return self._finish(st, st.analyzer.feed(np.ascontiguousarray(fz, dtype=np.float64)))

    def _finish(self, st: _StreamState, stances: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for s in stances:
            d = dict(s)
            d["stream"] = st.name
            d["start_s"] = st.t_first_s + float(s["start_s"])
            d["end_s"] = st.t_first_s + float(s["end_s"])
            d["side"] = st.side if st.side is not None else self._side_from_cop(st, s)
            out.append(d)
        if out:
            with self._lock:
                self._stances.extend(s for s in out if s["start_s"] >= self._since_s)
                self._n_total += len(out)
        return out

    def _side_from_cop(self, st: _StreamState, stance: dict[str, Any]) -> str | None:
        if st.cop_ring is None:
            return None
        cap = st.cop_ring.shape[0]
        i0 = int(round(float(stance["start_s"]) * st.rate_hz))
        i1 = int(round(float(stance["end_s"]) * st.rate_hz))
        q = (i1 - i0) // 4
        lo, hi = i0 + q, max(i0 + q + 1, i1 - q)
        if hi <= lo or st.n_fed - lo > cap:
            return None
        values = st.cop_ring[np.arange(lo, hi) % cap]
        if not np.isfinite(values).any():
            return None
        mean = float(np.nanmean(values))
        st.cop_means.append(mean)
        midline = float(np.median(st.cop_means)) if len(st.cop_means) >= 4 else 0.0
        return "right" if mean > midline else "left"

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
            have a stance), ``symmetry_text``, ``cadence_spm``, ``contact_time_s``.
        """
        with self._lock:
            stances = [s for s in self._stances if s.get("valid", True)]
            n_all = len(self._stances)
        by_stream: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        for s in stances:
            by_stream.setdefault((s["stream"], s["side"]), []).append(s)
        streams = {
            (name if side is None or side in name else f"{name}:{side}"): self._group(group, name)
            for (name, side), group in by_stream.items()
        }
        sides: dict[str, dict[str, Any]] = {}
        order = {name: k for k, name in enumerate(self._streams)}
        for (name, side), group in sorted(
            by_stream.items(),
            key=lambda kv: (self._priority.get(kv[0][0], 0), order.get(kv[0][0], 0)),
        ):
            key = side or name
            if key not in sides:
                sides[key] = self._group(group, name)
        si = None
        if "left" in sides and "right" in sides:
            left = sides["left"]["midstance_peak_n"]
            right = sides["right"]["midstance_peak_n"]
            if left is not None and right is not None:
                si = robinson_si_pct(left, right)
        cadences = [v["cadence_spm"] for v in sides.values() if v["cadence_spm"]]
        contacts = [v["contact_time_s"] for v in sides.values() if v["contact_time_s"]]
        return {
            "sides": sides,
            "streams": streams,
            "n_stances": n_all,
            "n_valid": len(stances),
            "si_pct": si,
            "symmetry_text": symmetry_text(si, "mid-stance peak"),
            "cadence_spm": float(np.mean(cadences)) if cadences else None,
            "contact_time_s": float(np.mean(contacts)) if contacts else None,
            "body_mass_kg": self.body_mass_kg,
        }

    def _group(self, group: list[dict[str, Any]], source: str) -> dict[str, Any]:
        peaks = np.array([_num(s.get("midstance_peak_n")) for s in group])
        contact = np.array([_num(s.get("contact_time_s")) for s in group])
        starts = np.sort(np.array([float(s["start_s"]) for s in group]))
        strides = np.diff(starts)
        strides = strides[strides < 3.0]
        stride_s = float(np.median(strides)) if strides.size else None
        mean_peak = _nanmean(peaks)
        return {
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
            "stride_time_s": stride_s,
            "cadence_spm": 120.0 / stride_s if stride_s else None,
            "source": source,
        }


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
