"""Live stance analysis: feed chunks of vertical force, get completed stances.

:class:`StreamingAnalyzer` drives the same compiled detector and metric kernel as the batch
functions. The detector keeps only running sums, and the analyzer holds the samples of the stance
in progress, so the stances and metrics it returns are exactly those of :func:`detect_stances` +
:func:`stance_metrics` on the concatenated data, whatever the chunk sizes. Until the first
``init_window_s`` of finite samples has arrived (5 s by default) it only buffers, because the
initial baseline and level are estimated from that window (as the batch detector does).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forcelab.analysis.detection import (
    DEFAULT_OPTIONS,
    Stances,
    as_force,
    bridge_gaps,
    check_options,
    edge_threshold_n,
    initial_window,
    make_detector,
    refine_edges,
    sample_counts,
)
from forcelab.analysis.metrics import (
    METRIC_OPTIONS,
    assemble,
    check_metric_options,
    contact_edges,
    kernel_metrics,
)
from forcelab.errors import InputError
from forcelab.recording import check_body_mass, check_rate


def split_options(options: dict[str, Any] | None) -> tuple[dict[str, float], dict[str, float]]:
    """Split mixed options into checked (detection, metric) option dicts.

    Raises
    ------
    InputError
        On an option that is neither.
    """
    det: dict[str, Any] = {}
    met: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if key in DEFAULT_OPTIONS:
            det[key] = value
        elif key in METRIC_OPTIONS:
            met[key] = value
        else:
            known = sorted(DEFAULT_OPTIONS) + sorted(METRIC_OPTIONS)
            raise InputError(f"unknown analysis option {key!r}; known options: {', '.join(known)}")
    return check_options(det), check_metric_options(met)


def table_rows(table: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Columnar table -> list of JSON-friendly dicts (NaN becomes None)."""
    n = len(table["start_s"])
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, col in table.items():
        for k in range(n):
            v = col[k]
            if isinstance(v, (bool, np.bool_)):
                rows[k][key] = bool(v)
            elif isinstance(v, (float, np.floating)):
                rows[k][key] = float(v) if np.isfinite(v) else None
            elif isinstance(v, (int, np.integer)):
                rows[k][key] = int(v)
            else:
                rows[k][key] = v
    return rows


class StreamingAnalyzer:
    """Completed stances, with their metrics, from a force signal that arrives in chunks.

    Parameters
    ----------
    rate_hz : float
        Sampling rate in Hz.
    body_mass_kg : float, optional
        Body mass in kg (adds ``*_bw`` / ``*_bw_s`` keys).
    **options
        Detection options (:data:`forcelab.analysis.detection.DEFAULT_OPTIONS`) and metric
        options (:data:`forcelab.analysis.metrics.METRIC_OPTIONS`).

    Examples
    --------
    >>> live = StreamingAnalyzer(1000.0, body_mass_kg=70.0)   # doctest: +SKIP
    >>> for chunk in chunks:                                  # doctest: +SKIP
    ...     for stance in live.feed(chunk):
    ...         print(stance["midstance_peak_bw"])
    >>> rest = live.flush()                                   # doctest: +SKIP
    """

    def __init__(self, rate_hz: float, body_mass_kg: float | None = None, **options: Any):
        self.rate_hz = check_rate(rate_hz)
        self.body_mass_kg = check_body_mass(body_mass_kg)
        self.options, self.metric_options = split_options(options)
        self._counts = sample_counts(self.options, self.rate_hz)
        self._detector = None
        self._buf = np.empty(0, dtype=np.float64)
        self._buf0 = 0  # global index of self._buf[0]
        self._ap = np.empty(0, dtype=np.float64)  # AP force from global index self._ap0 on
        self._ap0 = 0
        self._has_ap = False
        self._n_finite = 0
        self._prev_end = float("nan")  # toe-off of the last stance returned (samples)
        self._prev_gap = False
        self._flushed = False
        self.n_samples = 0
        self.bridged_samples = 0
        self.initial_state: tuple[float, float, float] | None = None
        self._held = np.empty(0, dtype=np.float64)  # trailing dropout that may be bridged
        self._prev = np.nan  # last sample passed to the detector
        self.contact_threshold_n: float | None = None
        # detected stances whose toe-off crossing is not in the buffer yet (global indices)
        self._pending: list[np.ndarray] = [np.empty(0, np.int64)] * 2 + [
            np.empty(0, np.int8),
            np.empty(0, np.float64),
        ]
        self._prev_det_end = 0  # detected end of the last stance released

    @property
    def baseline_n(self) -> float | None:
        """Current tracked baseline (N), or None while the analyzer is still initialising."""
        return None if self._detector is None else float(self._detector.base)

    def feed(self, fz_chunk: Any, ap_chunk: Any = None) -> list[dict[str, Any]]:
        """Add samples; return the stances completed by them.

        Parameters
        ----------
        fz_chunk : array_like, shape (k,)
            Next vertical force samples in N (NaN = not measured).
        ap_chunk : array_like, shape (k,), optional
            The anterior-posterior force of the same samples in N (positive forward), for
            braking/propulsive peaks and impulses; NaN (unknown) when not given.

        Returns
        -------
        list of dict
            Completed stances in time order; keys as ``AnalysisResult.stances`` without
            ``stream``/``side``; ``start_s``/``end_s`` relative to the first fed sample, and
            ``sample_start``/``sample_end`` (first and one-past-last sample index of the
            stance, counted from the first fed sample).

        Raises
        ------
        InputError
            If the chunk is malformed or the analyzer was already flushed.
        """
        if self._flushed:
            raise InputError("this StreamingAnalyzer was flushed; create a new one")
        x = as_force(fz_chunk, "fz_chunk")
        if ap_chunk is not None:
            ap = as_force(ap_chunk, "ap_chunk")
            if ap.shape != x.shape:
                raise InputError("ap_chunk must have as many samples as fz_chunk")
            self._has_ap = True
        else:
            ap = np.full(x.shape[0], np.nan)
        self._ap = np.concatenate((self._ap, ap))
        self.n_samples += x.shape[0]
        return self._push(self._bridge(x, final=False))

    def _bridge(self, x: np.ndarray, final: bool) -> np.ndarray:
        """Bridge short dropouts exactly as the batch detector does; a missing run at the end
        of the data seen so far is held back until the next sample shows how long it is."""
        z = np.concatenate((self._held, x)) if self._held.size else x
        gap = self._counts["max_gap"]
        hold = 0
        if not final and gap > 0 and z.size and not np.isfinite(z[-1]):
            finite = np.flatnonzero(np.isfinite(z))
            run = z.size - (int(finite[-1]) + 1) if finite.size else z.size
            if run <= gap and (finite.size or np.isfinite(self._prev)):
                hold = run
        self._held = z[z.size - hold :].copy() if hold else np.empty(0, dtype=np.float64)
        out = z[: z.size - hold]
        if gap > 0 and out.size:
            bridged, count = bridge_gaps(np.concatenate(([self._prev], out)), gap)
            if count:
                out = bridged[1:]
                self.bridged_samples += count
        if out.size:
            self._prev = float(out[-1])
        return out

    def _push(self, x: np.ndarray) -> list[dict[str, Any]]:
        if x.size == 0:
            return []
        self._buf = np.concatenate((self._buf, x)) if self._buf.size else x.copy()
        if self._detector is None:
            self._n_finite += int(np.count_nonzero(np.isfinite(x)))
            if self._n_finite < self._counts["init_window"]:
                return []
            self._start_detector()
            return self._run(self._buf)
        return self._run(x)

    def flush(self) -> list[dict[str, Any]]:
        """End of data: return the remaining stances (a stance still loaded is partial_end)."""
        if self._flushed:
            return []
        rows = self._push(self._bridge(np.empty(0, dtype=np.float64), final=True))
        if self._detector is None:
            self._start_detector()
            rows += self._run(self._buf)
        self._flushed = True
        return rows + self._emit(self._detector.finish(), final=True)

    def _start_detector(self) -> None:
        finite = self._buf[np.isfinite(self._buf)][: self._counts["init_window"]]
        *init, noise_n = initial_window(finite, self.options)  # one pass over the window
        self.initial_state = tuple(init)
        self.contact_threshold_n = edge_threshold_n(self.options, noise_n)
        self._detector = make_detector(self.options, self.rate_hz, self.initial_state)

    def _run(self, x: np.ndarray) -> list[dict[str, Any]]:
        rows = self._emit(self._detector.feed(np.ascontiguousarray(x)), final=False)
        keep = int(self._detector.keep_from)
        if self._pending[0].size:
            keep = min(keep, int(self._pending[0][0]))
        if self.contact_threshold_n is not None:
            # the contact edge may move back up to edge_window samples
            keep = max(keep - self._counts["edge_window"] - 1, 0)
        if keep > self._buf0:
            self._buf = self._buf[keep - self._buf0 :].copy()
            self._buf0 = keep
            self._ap = self._ap[keep - self._ap0 :].copy()
            self._ap0 = keep
        return rows

    def _emit(self, found: tuple[np.ndarray, ...], final: bool) -> list[dict[str, Any]]:
        start, end, code, base, off_n = found
        if self.contact_threshold_n is not None:
            start, end, code, base = (
                np.concatenate((p, f))
                for p, f in zip(self._pending, (start, end, code, base), strict=True)
            )
            if start.shape[0] == 0:
                return []
            rs, re, off_n, pending = refine_edges(
                self._buf,
                start - self._buf0,
                end - self._buf0,
                base,
                self.contact_threshold_n,
                self._counts["edge_window"],
                prev_end=self._prev_det_end - self._buf0,
                final=final,
            )
            ready = int(np.argmax(pending)) if pending.any() else start.shape[0]
            self._pending = [a[ready:] for a in (start, end, code, base)]
            if ready == 0:
                return []
            self._prev_det_end = int(end[ready - 1])
            start, end = rs[:ready] + self._buf0, re[:ready] + self._buf0
            code, base, off_n = code[:ready], base[:ready], off_n[:ready]
        if start.shape[0] == 0:
            return []
        st = Stances.from_codes(
            start - self._buf0, end - self._buf0, code, base, self.rate_hz, off_n=off_n
        )
        raw = kernel_metrics(self._buf, st, self.rate_hz, self.metric_options)
        ap = None
        if self._has_ap:
            ap = self._ap[self._buf0 - self._ap0 :][: self._buf.shape[0]]
        start_f, end_f = contact_edges(self._buf, st, self._buf0)
        table = assemble(
            raw, st, self.rate_hz, self.body_mass_kg, ap,
            index_offset=self._buf0, edges=(start_f, end_f),
        )
        # flight time across calls: the previous stance may have been emitted earlier
        gap = st.reason == "gap"
        prev_end = np.concatenate(([self._prev_end], end_f[:-1]))
        prev_gap = np.concatenate(([self._prev_gap], gap[:-1]))
        flight = (start_f - prev_end) / self.rate_hz
        flight[np.isnan(prev_end) | gap | prev_gap] = np.nan
        table["flight_time_s"] = flight
        self._prev_end = float(end_f[-1])
        self._prev_gap = bool(gap[-1])
        return table_rows(table)
