"""What goes into a coach report: per-trial curves, peaks, tables and plain-language text.

This module turns analysed trials into plain data (numbers, strings, arrays); the figures
(:mod:`forcelab.report.figures`) and the HTML/PDF pages (:mod:`forcelab.report.render`) only
lay that data out, so the wording and the numbers are the same in every output.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forcelab.analysis import symmetry_text
from forcelab.analysis.asymmetry import level_of
from forcelab.analysis.metrics import G_M_S2
from forcelab.analysis.result import loading_rate_method
from forcelab.recording import Recording, finite_or_none

#: the force-asymmetry disclaimer every report carries
DISCLAIMER = (
    "Force asymmetry describes how the load is shared between the legs while running or "
    "walking. It is a loading measure, not a diagnosis: a difference can be normal for this "
    "athlete, and it says nothing by itself about injury or its cause."
)

CURVE_POINTS = 101

#: metrics of the asymmetry table, in order: (base name, label, kind)
TABLE_METRICS = (
    ("midstance_peak", "Mid-stance peak", "force"),
    ("peak_force", "Peak force", "force"),
    ("impact_peak", "Impact peak", "force"),
    ("valr", "Average loading rate (VALR)", "rate"),
    ("vilr", "Instantaneous loading rate (VILR)", "rate"),
    ("impulse", "Vertical impulse", "impulse"),
    ("contact_time_s", "Contact time", "time"),
    ("flight_time_s", "Flight time", "time"),
    ("first_peak", "First peak (walking)", "walking"),
    ("trough", "Trough between the peaks (walking)", "walking"),
    ("second_peak", "Second peak (walking)", "walking"),
    ("peak_braking", "Peak braking force", "fore-aft"),
    ("peak_propulsive", "Peak propulsive force", "fore-aft"),
    ("pelvic_drop", "Contralateral pelvic drop (by stance foot)", "pelvis"),
)
#: kinds of TABLE_METRICS rows left out when neither side has a value (a run has no walking
#: peaks, a plate without a fore-aft channel no braking force, a recording without pelvis
#: markers no pelvic drop)
OPTIONAL_KINDS = ("walking", "fore-aft", "pelvis")


def metric_key(available: Any, base: str, prefer_bw: bool = True) -> tuple[str, str] | None:
    """The key of a metric in an analysis table and its display unit.

    Body-weight variants (``*_bw``, ``*_bw_s``) are preferred when present.

    Returns
    -------
    (key, unit) or None
    """
    keys = set(available)
    if base.endswith("_s") and base in keys:
        return base, "s"
    if f"{base}_deg" in keys:
        return f"{base}_deg", "°"
    bw = [(f"{base}_bw", "BW"), (f"{base}_bw_s", "BW·s" if base == "impulse" else "BW/s")]
    newton = [(f"{base}_n", "N"), (f"{base}_n_s", "N/s"), (f"{base}_ns", "N·s")]
    for key, unit in (bw + newton) if prefer_bw else (newton + bw):
        if key in keys:
            return key, unit
    return None


def digits_for(unit: str, value: float = 0.0) -> int:
    """Decimals shown for a value in ``unit``."""
    if unit in ("BW", "BW·s"):
        return 2
    if unit == "s":
        return 3
    if unit in ("%", "BW/s", "spm", "°"):
        return 1
    return 0 if abs(value) >= 100 else 1


def fmt(value: Any, unit: str = "", digits: int | None = None, show_unit: bool = True) -> str:
    """Format a number for people: sensible digits per unit, "n/a" for missing values."""
    f = finite_or_none(value)
    if f is None:
        return "n/a"
    text = f"{f:.{digits if digits is not None else digits_for(unit, f)}f}"
    if not unit or not show_unit:
        return text
    return f"{text} %" if unit == "%" else f"{text} {unit}"


def mean_sd(mean: Any, sd: Any, unit: str) -> str:
    """``"2.41 ± 0.05 BW"`` (SD with the mean's decimals; just the mean without an SD)."""
    m = finite_or_none(mean)
    if m is None:
        return "n/a"
    s = finite_or_none(sd)
    d = digits_for(unit, m)
    if s is None:
        return fmt(m, unit, d)
    return f"{m:.{d}f} ± {s:.{d}f} {unit}".rstrip()


@dataclass
class AsymmetryRow:
    """One line of the asymmetry table."""

    label: str
    key: str
    unit: str
    left: str
    right: str
    si_pct: float | None
    symmetry_angle_pct: float | None
    ci95_pct: tuple[float, float] | None
    higher: str | None
    text: str
    level: str  # see forcelab.analysis.asymmetry.LEVELS
    band_si_pct: float | None = None
    band_source: str | None = None
    asymmetry: dict[str, Any] | None = None  # the analysis's own figures of this metric


@dataclass
class TrialReport:
    """Everything the report shows for one analysed trial."""

    session_label: str
    trial: str
    info: dict[str, Any]
    unit: str  # "BW" or "N" for force curves/peaks
    curves: dict[str, np.ndarray]  # side -> (n_stances, CURVE_POINTS)
    peaks: dict[str, tuple[np.ndarray, np.ndarray]]  # side -> (time s, peak)
    asymmetry: list[AsymmetryRow]
    gait_rows: list[tuple[str, str, str]]  # (label, left/stream-1, right/stream-2)
    gait_columns: tuple[str, str]
    loading_rate_method: str
    paragraph: str
    n_stances: dict[str, int]
    n_invalid: int
    duration_s: float
    primary: AsymmetryRow | None = None
    warnings: list[str] = field(default_factory=list)


def stance_curves(recording: Recording, stances: list[dict[str, Any]], body_mass_kg: float | None
                  ) -> tuple[dict[str, np.ndarray], str]:
    """Vertical force of every valid stance, normalised to 0–100 % of stance (101 points).

    Curves are grouped by side ("left"/"right"), or by stream name when sides are unknown;
    values are in body weights when the body mass is known, otherwise in N. A stance's
    baseline (``baseline_n`` when the analysis reports one) is subtracted.
    """
    scale, unit = (1.0 / (body_mass_kg * G_M_S2), "BW") if body_mass_kg else (1.0, "N")
    grid = np.linspace(0.0, 1.0, CURVE_POINTS)
    groups: dict[str, list[np.ndarray]] = {}
    streams = {s.name: s for s in recording.streams}
    for st in stances:
        if not st.get("valid", False):
            continue
        stream = streams.get(st.get("stream")) or (recording.streams[0]
                                                   if len(recording.streams) == 1 else None)
        if stream is None:
            continue
        i0 = int(round((float(st["start_s"]) - stream.t0_s) * stream.rate_hz))
        i1 = int(round((float(st["end_s"]) - stream.t0_s) * stream.rate_hz))
        i0, i1 = max(i0, 0), min(i1, stream.n_samples)
        if i1 - i0 < 3:
            continue
        seg = stream.fz[i0:i1] - float(finite_or_none(st.get("baseline_n")) or 0.0)
        if not np.all(np.isfinite(seg)):
            continue
        x = np.linspace(0.0, 1.0, seg.size)
        key = st.get("side") or stream.name
        groups.setdefault(key, []).append(np.interp(grid, x, seg) * scale)
    return {k: np.vstack(v) for k, v in groups.items()}, unit


def stride_peaks(stances: list[dict[str, Any]], body_mass_kg: float | None
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Mid-stance peak of every valid stance over time, per side (or stream); in body weights
    when the body mass is known, otherwise in N.
    """
    out: dict[str, tuple[list[float], list[float]]] = {}
    for st in stances:
        value = finite_or_none(st.get("midstance_peak_n"))
        if body_mass_kg:
            bw = finite_or_none(st.get("midstance_peak_bw"))
            value = bw if bw is not None else (
                None if value is None else value / (body_mass_kg * G_M_S2))
        if not st.get("valid", False) or value is None:
            continue
        side = st.get("side") or st.get("stream") or "all"
        out.setdefault(side, ([], []))
        out[side][0].append(float(st["start_s"]))
        out[side][1].append(value)
    return {k: (np.asarray(t), np.asarray(v)) for k, (t, v) in out.items()}


def asymmetry_rows(asymmetry: dict[str, Any]) -> list[AsymmetryRow]:
    """The asymmetry table rows for the metrics the analysis compared."""
    rows = []
    for base, label, _kind in TABLE_METRICS:
        found = metric_key(asymmetry, base)
        if found is None:
            continue
        key, unit = found
        a = asymmetry[key] or {}
        if _kind in OPTIONAL_KINDS and not (a.get("left_n") or a.get("right_n")):
            continue
        left = f"{mean_sd(a.get('left_mean'), a.get('left_sd'), unit)} (n={a.get('left_n', 0)})"
        right = (f"{mean_sd(a.get('right_mean'), a.get('right_sd'), unit)}"
                 f" (n={a.get('right_n', 0)})")
        si = finite_or_none(a.get("si_pct"))
        ci = a.get("ci95_pct")
        ci_t = (float(ci[0]), float(ci[1])) if ci is not None and len(ci) == 2 and all(
            finite_or_none(c) is not None for c in ci) else None
        rows.append(AsymmetryRow(label, key, unit, left, right, si,
                                 finite_or_none(a.get("symmetry_angle_pct")), ci_t, a.get("higher"),
                                 str(a.get("text") or ""), level_of(a),
                                 finite_or_none(a.get("band_si_pct")), a.get("band_source"),
                                 dict(a)))
    return rows


def _summary_value(summary: dict[str, Any], key: str) -> Any:
    v = summary.get(key)
    if isinstance(v, dict):
        return v.get("mean")
    return v


def gait_table(summary: dict[str, Any]) -> tuple[list[tuple[str, str, str]], tuple[str, str]]:
    """Contact time, step/stride time, cadence and loading rates per side (or stream)."""
    groups = [g for g in ("left", "right") if g in summary] or list(summary)[:2]
    if not groups:
        return [], ("", "")
    cols = tuple(groups) if len(groups) == 2 else (groups[0], "")
    rows = []
    specs = [("contact_time_s", "Contact time", "s"), ("flight_time_s", "Flight time", "s"),
             ("step_time_s", "Step time", "s"), ("stride_time_s", "Stride time", "s"),
             ("cadence_spm", "Cadence", "spm"), ("step_width_m", "Step width", "mm"),
             ("crossover_pct", "Crossover steps", "%")]
    indicative = any((summary.get(g) or {}).get("loading_rate_quality") == "indicative"
                     for g in groups)
    for base, label in (("valr", "Average loading rate (VALR)"),
                        ("vilr", "Instantaneous loading rate (VILR)")):
        found = metric_key(summary[groups[0]], base)
        if found:
            # below 500 Hz the analysis flags loading rates as indicative
            specs.append((found[0], label + (" (indicative)" if indicative else ""), found[1]))
    for key, label, unit in specs:
        vals = []
        for g in cols:
            if not g:
                vals.append("")
                continue
            s = summary.get(g) or {}
            v = s.get(key)
            if unit == "mm":  # step width is stored in m
                v = ({k: (x * 1000.0 if x is not None else None) for k, x in v.items()}
                     if isinstance(v, dict) else v)
            if isinstance(v, dict):
                text = mean_sd(v.get("mean"), v.get("sd"), unit)
            else:
                text = fmt(v, unit)
            vals.append(text)
        if any(v not in ("", "n/a") for v in vals):
            rows.append((label, vals[0], vals[1]))
    return rows, (cols[0], cols[1])


def plain_paragraph(tr: TrialReport, summary: dict[str, Any]) -> str:
    """A few sentences a coach reads first."""
    parts = []
    if tr.n_stances:
        counted = ", ".join(f"{n} {side}" if side in ("left", "right") else f"{n} on {side}"
                            for side, n in tr.n_stances.items())
        parts.append(f"{sum(tr.n_stances.values())} stances were analysed ({counted}).")
    if tr.n_invalid == 1:
        parts.append("1 incomplete or interrupted stance was left out.")
    elif tr.n_invalid:
        parts.append(f"{tr.n_invalid} incomplete or interrupted stances were left out.")
    p = tr.primary
    if p is not None and p.si_pct is not None:
        if p.text:  # the analysis's own coach line, worded by its confidence interval
            parts.append(p.text.rstrip(".") + ".")
        else:
            parts.append(f"{p.label}: {symmetry_text(p.si_pct)}.")
        if p.level == "noise":
            parts.append("The stride-to-stride spread is as large as the difference, so the "
                         "two sides cannot be told apart; more strides would narrow it.")
        elif p.level in ("flag", "watch"):
            parts.append(f"That is more than the {p.band_si_pct:.1f} % healthy runners show"
                         + (", so it is worth watching over the next sessions."
                            if p.level == "flag" else
                            ", though the interval still reaches into that range."))
        elif p.band_si_pct is not None:
            parts.append(f"That is within the {p.band_si_pct:.1f} % healthy runners show.")
    elif p is not None:
        parts.append(f"{p.label}: the two sides could not be compared (too few stances "
                     "or values too small).")
    else:
        parts.append("Left and right could not be compared: the recording does not say which "
                     "foot each stance belongs to.")
    cadence = [finite_or_none(_summary_value(summary.get(g, {}), "cadence_spm")) for g in summary]
    cadence = [c for c in cadence if c is not None]
    contact = [
        finite_or_none(_summary_value(summary.get(g, {}), "contact_time_s")) for g in summary
    ]
    contact = [c for c in contact if c is not None]
    if contact:
        text = f"Contact time averaged {1000 * float(np.mean(contact)):.0f} ms"
        if cadence:
            text += f" at a cadence of {float(np.mean(cadence)):.0f} steps per minute"
        parts.append(text + ".")
    return " ".join(parts)


def trial_report(session_label: str, trial_name: str, info: dict[str, Any], recording: Recording,
                 result: Any) -> TrialReport:
    """Build the report content of one analysed trial (``result`` None: nothing was found)."""
    stances = list(result.stances) if result is not None else []
    body_mass = getattr(result, "body_mass_kg", None) or recording.body_mass_kg
    curves, unit = stance_curves(recording, stances, body_mass)
    peaks = stride_peaks(stances, body_mass)
    rows = asymmetry_rows(dict(getattr(result, "asymmetry", None) or {}))
    summary = dict(getattr(result, "summary", None) or {})
    gait_rows, gait_cols = gait_table(summary)
    n_by_side = Counter(str(s.get("side") or s.get("stream") or "all") for s in stances
                        if s.get("valid", False))
    duration = max((s.duration_s for s in recording.streams), default=0.0)
    tr = TrialReport(
        session_label=session_label, trial=trial_name, info=info, unit=unit, curves=curves,
        peaks=peaks, asymmetry=rows, gait_rows=gait_rows, gait_columns=gait_cols,
        loading_rate_method=loading_rate_method(stances), paragraph="",
        n_stances=dict(sorted(n_by_side.items())),
        n_invalid=sum(1 for s in stances if not s.get("valid", False)), duration_s=duration,
    )
    tr.primary = next((r for r in rows if r.key.startswith("midstance_peak")), None)
    if not stances:
        tr.warnings.append("No stances were found in this trial.")
    tr.paragraph = plain_paragraph(tr, summary)
    pelvis = (getattr(result, "parameters", None) or {}).get("pelvis") or {}
    if pelvis.get("text"):
        tr.paragraph += f" {pelvis['text'][0].upper()}{pelvis['text'][1:]}."
    for key in ("error", "warning"):
        if pelvis.get(key):
            tr.warnings.append(f"Pelvis: {pelvis[key]}")
    return tr
