"""Analyse a whole Recording: stances per stream, sides, per-side summary and asymmetry."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forcelab.analysis.asymmetry import LABELS, asymmetry
from forcelab.analysis.detection import Stances, detect_stances, sensor_options
from forcelab.analysis.metrics import (
    LOADING_RATE_METHODS,
    LOADING_RATE_QUALITY,
    MIN_LOADING_RATE_HZ,
    VILR_BELOW_VALR,
    detect_and_measure,
    stance_metrics,
)
from forcelab.analysis.pelvis import add_pelvic_drop
from forcelab.analysis.sides import MAX_STEP_S, sides_by_alternation, stance_cop, step_widths
from forcelab.analysis.split import split_by_cop, walking_on_one_plate
from forcelab.analysis.streaming import split_options, table_rows
from forcelab.errors import AnalysisError, InputError
from forcelab.recording import SIDES, Recording, Stream, check_body_mass

NOT_SUMMARISED = {
    "start_s",
    "end_s",
    "sample_start",
    "sample_end",
    "baseline_n",
    "step_time_s",
    "stride_time_s",
    "cop_ml_m",
}
"""Numeric stance keys that are not averaged in the summary (times of day, corrections)."""

MISSING = "-"
"""How a missing value is shown in the text tables."""

COACH_METRICS = (
    "midstance_peak",
    "first_peak",
    "second_peak",
    "peak_force",
    "impact_peak",
    "peak_braking",
    "valr",
    "contact_time_s",
    "impulse",
    "step_time_s",
)


@dataclass
class AnalysisResult:
    """Stances, per-side summary and left/right asymmetry of one recording.

    Attributes
    ----------
    stances : list of dict
        One dict per stance: ``stream``, ``side`` and the metric keys of
        :func:`forcelab.analysis.stance_metrics` (None where a metric does not exist), plus
        ``step_time_s`` and ``stride_time_s`` when sides are known.
    summary : dict
        Per side ("left"/"right") when sides are known, else per stream: ``n_stances`` (valid),
        ``{"mean", "sd"}`` per metric, ``step_time_s``, ``stride_time_s``, ``cadence_spm``.
    asymmetry : dict
        Per metric: see :func:`forcelab.analysis.asymmetry.asymmetry_of`; empty without both
        sides.
    parameters : dict
        Options, method names, initial estimates and baseline corrections per stream.
    body_mass_kg : float or None
        Body mass used for ``*_bw`` values.
    source : str
        Where the recording came from.
    """

    stances: list[dict[str, Any]]
    summary: dict[str, Any]
    asymmetry: dict[str, Any]
    parameters: dict[str, Any] = field(default_factory=dict)
    body_mass_kg: float | None = None
    source: str = ""

    def si(self) -> dict[str, float | None]:
        """Robinson SI (%) per metric under a short name: ``midstance_peak_si``,
        ``peak_braking_si``, ``valr_si``, ``contact_time_si``, ... (from the body-weight
        values when there are both; None where the SI is n/a)."""
        out: dict[str, float | None] = {}
        for name, a in self.asymmetry.items():
            short = re.sub(r"_(bw_s|n_s|bw|ns|n|s|pct|m|spm)$", "", name) + "_si"
            if short.endswith("_pct_si"):
                continue
            if short not in out or name.endswith(("_bw", "_bw_s")):
                out[short] = a.get("si_pct")
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (NaN never appears; missing values are None)."""
        return {
            "stances": [dict(s) for s in self.stances],
            "summary": self.summary,
            "asymmetry": self.asymmetry,
            "si": self.si(),
            "parameters": self.parameters,
            "body_mass_kg": self.body_mass_kg,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnalysisResult:
        """Rebuild a result from :meth:`to_dict` output.

        Raises
        ------
        InputError
            If required keys are missing.
        """
        try:
            return cls(
                stances=list(d["stances"]),
                summary=dict(d["summary"]),
                asymmetry=dict(d["asymmetry"]),
                parameters=dict(d.get("parameters", {})),
                body_mass_kg=d.get("body_mass_kg"),
                source=str(d.get("source", "")),
            )
        except (KeyError, TypeError) as exc:
            raise InputError(f"not an analysis result: missing or malformed {exc}") from None

    def coach_lines(self) -> list[str]:
        """The asymmetry lines a coach reads, most important first (metrics measured on
        neither side, such as the walking peaks of a run, are left out)."""
        lines = []
        for base in COACH_METRICS:
            for name in (f"{base}_bw", f"{base}_n") if not base.endswith("_s") else (base,):
                a = self.asymmetry.get(name)
                if a is not None and not (a.get("left_n") or a.get("right_n")):
                    break  # measured on neither side (e.g. walking peaks of a run)
                if a is not None and a.get("text"):
                    lines.append(a["text"])
                    break
        pelvis_line = self.parameters.get("pelvis", {}).get("text")
        if pelvis_line:
            lines.append(pelvis_line[0].upper() + pelvis_line[1:])
        return lines

    def notes(self) -> list[str]:
        """Lines that say how to read the figures: walking peaks, indicative loading rates,
        VILR left out (empty when there is nothing to say)."""
        out: list[str] = []
        valid = [s for s in self.stances if s.get("valid")]
        humps = [s for s in valid if s.get("peak_pattern") in ("double_hump", "shallow_valley")]
        if humps:
            shallow = sum(1 for s in humps if s["peak_pattern"] == "shallow_valley")
            line = (
                f"Walking: {len(humps)} stances have two peaks (first peak, trough, second peak "
                "compared left/right; no running mid-stance peak for them)"
            )
            if shallow:
                line += f"; {shallow} with a shallow or flat valley (peaks still given)"
            out.append(line + ".")
        slow = sorted(
            {
                p["rate_hz"]
                for p in self.parameters.get("streams", {}).values()
                if p.get("loading_rate_quality") == "indicative"
            }
        )
        if slow and any(s.get("valr_n_s") is not None for s in valid):
            rates = ", ".join(f"{r:g}" for r in slow)
            out.append(
                f"Loading rates are indicative: sampled at {rates} Hz, below the "
                f"{MIN_LOADING_RATE_HZ:g} Hz a loading rate needs."
            )
        split = sorted(
            {
                p["split_from"]
                for p in self.parameters.get("streams", {}).values()
                if "split_from" in p
            }
        )
        cannot = sorted(
            n
            for n, p in self.parameters.get("streams", {}).items()
            if p.get("split") == CANNOT_SPLIT
        )
        if cannot:
            out.append(f"One plate under both feet ({', '.join(cannot)}): {CANNOT_SPLIT}.")
        if split:
            out.append(
                f"Walking on one plate ({', '.join(split)}): the feet overlap in time, so left "
                "and right force were estimated from the medio-lateral COP (butterfly pattern, "
                "Roerdink et al. 2008); treat them as estimates."
            )
        dropped = sum(1 for s in valid if s.get("loading_rate_note") == VILR_BELOW_VALR)
        if dropped:
            out.append(
                f"VILR not given for {dropped} stance(s): it came out below VALR, which the "
                "definitions rule out (too few samples on the rising edge)."
            )
        if out:
            out.insert(0, "")
        return out

    def format_text(self) -> str:
        """Human-readable report: a table per side (or stream) and the coach's lines.

        Rows whose value is missing for every side (or stream) are left out.
        """
        out: list[str] = []
        if self.source:
            out.append(f"Recording: {self.source}")
        if self.body_mass_kg is not None:
            out.append(f"Body mass: {self.body_mass_kg:.1f} kg")
        n_all = len(self.stances)
        n_valid = sum(1 for s in self.stances if s.get("valid"))
        out.append(f"Stances: {n_all} found, {n_valid} valid")
        reasons: dict[str, int] = {}
        for s in self.stances:
            if s.get("reason"):
                reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
        if reasons:
            out.append("Excluded: " + ", ".join(f"{v} {k}" for k, v in sorted(reasons.items())))
        n_double = sum(1 for s in self.stances if s.get("double_contact"))
        if n_double:
            out.append(
                f"Double contacts (the same foot twice in a row, a skip or stumble): {n_double}"
            )
        out.append("")
        groups = list(self.summary)
        rows = _table_rows(self.summary, self.body_mass_kg is not None)
        width = max([len(r[0]) for r in rows] + [10])
        out.append(" " * width + "".join(f"{g:>16}" for g in groups))
        for label, key, fmt in rows:
            values = [_cell(self.summary[g], key, fmt) for g in groups]
            if fmt != "int" and all(v == MISSING for v in values):
                continue  # e.g. walking-only double-hump metrics of a run
            out.append(f"{label:<{width}}" + "".join(f"{v:>16}" for v in values))
        out.extend(self.notes())
        pelvis = self.parameters.get("pelvis", {})
        for key in ("error", "warning"):
            if pelvis.get(key):
                out.append(f"Pelvis: {pelvis[key]}")
        lines = self.coach_lines()
        if lines:
            out.append("")
            out.append("Left/right asymmetry (Robinson SI, 95 % CI across strides):")
            out.extend("  " + line for line in lines)
        elif len(groups) and all(g not in SIDES for g in groups):
            out.append("")
            out.append(
                "Sides unknown: no left/right asymmetry (map streams to sides or give a "
                "medio-lateral COP)."
            )
        return "\n".join(out)


def _table_rows(summary: dict[str, Any], with_bw: bool) -> list[tuple[str, str, str]]:
    rows = [("Stances (valid)", "n_stances", "int")]
    spec = [
        ("Contact time (ms)", "contact_time_s", "ms"),
        ("Flight time (ms)", "flight_time_s", "ms"),
        ("Step time (ms)", "step_time_s", "ms1"),
        ("Stride time (ms)", "stride_time_s", "ms1"),
        ("Cadence (steps/min)", "cadence_spm", "f1_1"),
        ("Step width (mm)", "step_width_m", "mm"),
        ("Crossover steps (%)", "crossover_pct", "f1_1"),
    ]
    forces = [
        "peak_force",
        "midstance_peak",
        "impact_peak",
        "first_peak",
        "trough",
        "second_peak",
        "peak_braking",
        "peak_propulsive",
    ]
    rows.extend(spec)
    for f in forces:
        if with_bw:
            rows.append((f"{LABELS[f + '_n']} (BW)", f + "_bw", "f2"))
        rows.append((f"{LABELS[f + '_n']} (N)", f + "_n", "f0"))
    rows.append(("Mid-stance peak timing (%)", "midstance_peak_pct", "f1"))
    rows.append(
        (
            "VALR (BW/s)" if with_bw else "VALR (N/s)",
            "valr_bw_s" if with_bw else "valr_n_s",
            "f1" if with_bw else "f0",
        )
    )
    rows.append(
        (
            "VILR (BW/s)" if with_bw else "VILR (N/s)",
            "vilr_bw_s" if with_bw else "vilr_n_s",
            "f1" if with_bw else "f0",
        )
    )
    rows.append(("Impulse (N s)", "impulse_ns", "f1"))
    rows.append(("Pelvic drop, swing side (deg)", "pelvic_drop_deg", "f1"))
    return rows


def _cell(group: dict[str, Any], key: str, fmt: str) -> str:
    v = group.get(key)
    if fmt == "int":
        return str(v if v is not None else 0)
    if fmt in ("ms1", "f1_1"):
        if v is None:
            return MISSING
        return f"{v * 1000:.0f}" if fmt == "ms1" else f"{v:.1f}"
    if not isinstance(v, dict) or v.get("mean") is None:
        return MISSING
    m, sd = v["mean"], v.get("sd")
    if fmt in ("ms", "mm"):
        m, sd = m * 1000, (sd * 1000 if sd is not None else None)
        digits = 0
    else:
        digits = {"f0": 0, "f1": 1, "f2": 2}[fmt]
    return f"{m:.{digits}f} ± {sd:.{digits}f}" if sd is not None else f"{m:.{digits}f}"


def _step_stride(rows: list[dict[str, Any]]) -> None:
    """Add step_time_s / stride_time_s to stances with a known side (in place).

    Step: from the previous contact of the other foot; stride: from the previous contact of the
    same foot. Contacts cut by a gap or by the start of the file are not used, and the counting
    restarts after them.
    """
    sided = sorted((r for r in rows if r["side"] in SIDES), key=lambda r: r["start_s"])
    last: dict[str, float | None] = {"left": None, "right": None}
    for r in sided:
        if r["reason"] in ("gap", "partial_start"):
            # contacts inside a gap (or before the file) are unknown: counting restarts after
            r["step_time_s"] = None
            r["stride_time_s"] = None
            last = {"left": None, "right": None}
            continue
        side = r["side"]
        other = "right" if side == "left" else "left"
        t = r["start_s"]
        step = None
        if last[other] is not None and (last[side] is None or last[other] > last[side]):
            step = t - last[other]
        stride = None if last[side] is None else t - last[side]
        r["step_time_s"] = step if step is not None and step <= MAX_STEP_S else None
        r["stride_time_s"] = stride if stride is not None and stride <= 2 * MAX_STEP_S else None
        last[side] = t
    for r in rows:
        r.setdefault("step_time_s", None)
        r.setdefault("stride_time_s", None)


def _contralateral_flight(rows: list[dict[str, Any]]) -> None:
    """Flight time between feet: from the latest earlier toe-off of any stance (0 = overlap)."""
    sided = sorted((r for r in rows if r["side"] in SIDES), key=lambda r: r["start_s"])
    latest_end = None
    latest_gap = False
    for r in sided:
        if latest_end is None or r["reason"] == "gap" or latest_gap:
            r["flight_time_s"] = None
        else:
            r["flight_time_s"] = max(0.0, r["start_s"] - latest_end)
        if latest_end is None or r["end_s"] > latest_end:
            latest_end = r["end_s"]
            latest_gap = r["reason"] == "gap"


def _step_width(rows: list[dict[str, Any]]) -> None:
    """Add step_width_m and crossover to every stance (in place; None where unknown)."""
    widths = step_widths(
        [r["side"] for r in rows],
        [r["start_s"] for r in rows],
        [np.nan if r.get("cop_ml_m") is None else r["cop_ml_m"] for r in rows],
    )
    for r, w in zip(rows, widths, strict=True):
        known = bool(np.isfinite(w))
        r["step_width_m"] = float(w) if known else None
        r["crossover"] = bool(w < 0.0) if known else None


def _summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    valid = [r for r in rows if r.get("valid")]
    out: dict[str, Any] = {"n_stances": len(valid)}
    keys = [k for k in (rows[0] if rows else {}) if k not in NOT_SUMMARISED]
    for key in keys:
        vals = [r.get(key) for r in valid]
        nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not nums and not all(v is None for v in vals):
            continue
        if key in ("valid", "crossover", "double_contact"):
            continue
        arr = np.array(nums, dtype=np.float64)
        out[key] = {
            "mean": float(arr.mean()) if arr.size else None,
            "sd": float(arr.std(ddof=1)) if arr.size > 1 else None,
        }
    for key in ("step_time_s", "stride_time_s"):
        vals = [r[key] for r in valid if r.get(key) is not None]
        out[key] = float(np.mean(vals)) if vals else None
    step = out["step_time_s"]
    out["cadence_spm"] = 60.0 / step if step else None
    quality = {r.get("loading_rate_quality") for r in valid}
    out["loading_rate_quality"] = (
        "indicative" if "indicative" in quality else ("measured" if quality else None)
    )
    cross = [r["crossover"] for r in valid if r.get("crossover") is not None]
    out["crossover_pct"] = 100.0 * sum(cross) / len(cross) if cross else None
    return out


_COMPARED_TIMES = {"step_time_s", "stride_time_s"}
"""Not averaged per stance in the summary (one figure per side) but compared left/right."""


def _columns(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    keys = [
        k
        for k in (rows[0] if rows else {})
        if k not in ("start_s", "end_s", "baseline_n", "cop_ml_m")
    ]
    cols: dict[str, np.ndarray] = {}
    for key in keys:
        vals = [r.get(key) for r in rows]
        if all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in vals
        ):
            cols[key] = np.array([np.nan if v is None else v for v in vals], dtype=np.float64)
    return cols


def analyze_recording(
    recording: Recording, options: dict[str, Any] | None = None
) -> AnalysisResult:
    """Detect stances in every stream, find sides, summarise per side and compare sides.

    Parameters
    ----------
    recording : Recording
        Streams with a vertical force channel ``fz`` (N); per-side streams carry ``side``; a
        stream with side None and a ``cop_ml`` channel (m) is split into left/right by COP.
    options : dict, optional
        Detection and metric options (see :func:`detect_stances`, :func:`stance_metrics`);
        streams with ``sensor == "insole"`` use the insole thresholds of
        :data:`forcelab.analysis.detection.SENSOR_OPTIONS` unless ``on_fraction`` or
        ``off_fraction`` is given (``parameters["streams"][name]`` says which were used),
        plus ``body_mass_kg`` (overrides the recording's), ``max_pause_s`` (alternation runs
        for COP sides, default 1.5 s), ``bands`` (the lab's asymmetry reference bands, see
        :func:`forcelab.analysis.asymmetry.reference_band`), ``static`` and ``vertical_axis``
        (pelvis markers, see :func:`forcelab.analysis.pelvis.add_pelvic_drop`).

    Returns
    -------
    AnalysisResult

    Raises
    ------
    InputError
        For bad options.
    AnalysisError
        When no stance is found in any stream.
    """
    if not isinstance(recording, Recording):
        raise InputError("analyze_recording needs a forcelab.recording.Recording")
    opts = dict(options or {})
    mass = check_body_mass(opts.pop("body_mass_kg", None)) or recording.body_mass_kg
    max_pause_s = float(opts.pop("max_pause_s", 1.5))
    opts_pelvis = {k: opts.pop(k) for k in ("static", "vertical_axis") if k in opts}
    bands = opts.pop("bands", None)
    det_opts, met_opts = split_options(opts)
    given_det = {k: v for k, v in opts.items() if k in det_opts}
    rows: list[dict[str, Any]] = []
    per_stream: dict[str, Any] = {}
    side_source = None
    streams, split_notes, found = _split_walking(recording.streams, given_det)
    for stream in streams:
        stream_det, det_source = sensor_options(stream.sensor, given_det)
        ap = stream.channels.get("fap")
        st = found.get(stream.name)
        if st is None:
            st, table = detect_and_measure(
                stream.fz, stream.rate_hz, mass, ap, stream_det, met_opts
            )
        else:
            table = stance_metrics(stream.fz, st, stream.rate_hz, mass, ap, **met_opts)
        table["start_s"] = table["start_s"] + stream.t0_s
        table["end_s"] = table["end_s"] + stream.t0_s
        sides = np.full(len(st), stream.side, dtype=object)
        double = np.zeros(len(st), dtype=bool)
        cop = np.full(len(st), np.nan)
        if "cop_ml" in stream.channels and len(st):
            cop = stance_cop(np.asarray(stream.channels["cop_ml"], dtype=np.float64), st)
        mergeable = split_notes.get(stream.name, {}).get("split") != CANNOT_SPLIT
        if stream.side is None and "cop_ml" in stream.channels and len(st) and mergeable:
            sides, double = sides_by_alternation(
                cop, table["start_s"], table["end_s"], st.reason == "gap", max_pause_s
            )
            side_source = "cop_ml"
        elif stream.side is not None:
            side_source = side_source or "stream"
        table["cop_ml_m"] = cop
        table["double_contact"] = double
        srows = table_rows(table)
        for r, side in zip(srows, sides, strict=True):
            r["stream"] = stream.name
            r["side"] = side
        rows.extend(srows)
        base = st.baseline_n
        per_stream[stream.name] = {
            **split_notes.get(stream.name, {}),
            "side": stream.side,
            "sensor": stream.sensor,
            "detection": stream_det,
            "detection_source": det_source,
            "rate_hz": stream.rate_hz,
            "n_samples": stream.n_samples,
            "n_stances": len(st),
            "n_double_contacts": int(double.sum()),
            "loading_rate_quality": LOADING_RATE_QUALITY[int(stream.rate_hz < MIN_LOADING_RATE_HZ)],
            "contact_threshold_n": st.parameters["contact_threshold_n"],
            "initial_baseline_n": st.parameters["initial_baseline_n"],
            "initial_noise_n": st.parameters["initial_noise_n"],
            "initial_level_n": st.parameters["initial_level_n"],
            "baseline_correction_n": {
                "mean": float(base.mean()) if base.size else None,
                "min": float(base.min()) if base.size else None,
                "max": float(base.max()) if base.size else None,
            },
        }
    if not rows:
        raise AnalysisError(
            "no stances found in any stream; check that the vertical force column is the right "
            "one (positive = load, in N) and that the rate is correct"
        )
    rows.sort(key=lambda r: (r["start_s"], r["stream"]))
    order = ["stream", "side"]
    rows = [
        {**{k: r[k] for k in order}, **{k: v for k, v in r.items() if k not in order}} for r in rows
    ]
    has_sides = any(r["side"] in SIDES for r in rows)
    if has_sides:
        _step_stride(rows)
        _contralateral_flight(rows)
        _step_width(rows)
    pelvis = _pelvis(rows, recording, opts_pelvis) if recording.trajectories is not None else None
    summary: dict[str, Any] = {}
    asym: dict[str, Any] = {}
    if has_sides:
        for side in SIDES:
            summary[side] = _summarise([r for r in rows if r["side"] == side])
        left = _columns([r for r in rows if r["side"] == "left" and r["valid"]])
        right = _columns([r for r in rows if r["side"] == "right" and r["valid"]])
        if left and right:
            asym = asymmetry(left, right, bands=bands)
            asym = {k: _jsonable(v) for k, v in asym.items()}
    else:
        for stream in streams:
            summary[stream.name] = _summarise([r for r in rows if r["stream"] == stream.name])
    parameters = {
        "detection": det_opts,
        "metrics": met_opts,
        "max_pause_s": max_pause_s,
        "methods": {
            "stance_detection": "hysteresis above a baseline tracked from flight phases",
            "loading_rate": list(LOADING_RATE_METHODS[1:]),
            "symmetry_index": "Robinson 1987, positive = right higher",
            "symmetry_angle": "Zifchock 2008",
            "ci95": "delta method across strides, Student t",
            "sides": side_source,
        },
        "streams": per_stream,
    }
    if pelvis is not None:
        parameters["pelvis"] = pelvis
    return AnalysisResult(rows, summary, asym, parameters, mass, recording.source)


SPLIT_METHOD = (
    "walking on one plate: left and right force estimated from the medio-lateral COP "
    "(butterfly pattern, Roerdink et al. 2008; lever rule between the foot lines)"
)


CANNOT_SPLIT = (
    "contacts longer than one walking step on one plate, but the medio-lateral COP does not "
    "tell the feet apart: left and right cannot be split (use two plates, a split-belt "
    "treadmill or insoles)"
)


def _split_walking(
    streams: list[Stream], given_det: dict[str, Any]
) -> tuple[list[Stream], dict[str, dict[str, Any]], dict[str, Stances]]:
    """Streams to analyse: a one-plate stream whose stances are merged walking steps becomes a
    left and a right stream split from the COP (:mod:`forcelab.analysis.split`). Also returns
    the stances found in each one-plate stream that stays as it is (by stream name), so that
    they are not detected twice."""
    out: list[Stream] = []
    notes: dict[str, dict[str, Any]] = {}
    found: dict[str, Stances] = {}
    for stream in streams:
        if stream.side is not None or "cop_ml" not in stream.channels:
            out.append(stream)
            continue
        cop = np.asarray(stream.channels["cop_ml"], dtype=np.float64)
        det, _ = sensor_options(stream.sensor, given_det)
        st = detect_stances(stream.fz, stream.rate_hz, **det)
        verdict = walking_on_one_plate(cop, st.start, st.end, stream.rate_hz)
        if verdict != "split":
            out.append(stream)
            found[stream.name] = st
            if verdict == "cannot":
                notes[stream.name] = {"split": CANNOT_SPLIT}
            continue
        loaded = np.zeros(stream.n_samples, dtype=bool)
        for a, b in zip(st.start, st.end, strict=True):
            loaded[a:b] = True
        fz = np.asarray(stream.fz, dtype=np.float64)
        fz_l, fz_r, cop_l, cop_r = split_by_cop(fz, cop, loaded, stream.rate_hz)
        with np.errstate(invalid="ignore", divide="ignore"):
            share_r = np.where(fz != 0, fz_r / fz, 0.5)
        for side, f, c in (("left", fz_l, cop_l), ("right", fz_r, cop_r)):
            channels = {"fz": f, "cop_ml": c}
            if "fap" in stream.channels:
                ap = np.asarray(stream.channels["fap"], dtype=np.float64)
                channels["fap"] = ap * (share_r if side == "right" else 1.0 - share_r)
            name = f"{stream.name}:{side}"
            out.append(
                Stream(
                    name,
                    stream.rate_hz,
                    channels,
                    side=side,
                    t0_s=stream.t0_s,
                    sensor=stream.sensor,
                )
            )
            notes[name] = {"split_from": stream.name, "split": SPLIT_METHOD}
    return out, notes, found


def _pelvis(rows: list[dict[str, Any]], recording: Recording, opts: dict[str, Any]) -> dict:
    """Contralateral pelvic drop per stance from the recording's marker trajectories; a
    problem with the markers is one line in the result, and the force analysis stands."""
    try:
        return add_pelvic_drop(rows, recording.trajectories, **opts)
    except (AnalysisError, InputError) as exc:
        return {"error": str(exc)}


def _jsonable(a: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in a.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out


def loading_rate_method(stances: list[dict[str, Any]]) -> str:
    """The loading-rate method used by most valid stances (and how many used another)."""
    methods = Counter(str(s.get("loading_rate_method") or "") for s in stances
                      if s.get("valid", False))
    methods.pop("", None)
    if not methods:
        return "n/a"
    (top, n), total = methods.most_common(1)[0], sum(methods.values())
    if n == total:
        return top
    return f"{top} ({n} of {total} stances; others: " + ", ".join(
        f"{m} ×{c}" for m, c in methods.items() if m != top) + ")"
