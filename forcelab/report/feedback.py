"""The report page of a feedback protocol: baseline vs post vs retention, in plain words.

A session file holds a feedback protocol when it has a ``feedback`` event (the settings: metric,
side, target, band, schedule) and trials tagged ``feedback:<phase>``; every stance of the trained
side(s) left a ``cue`` event with its value and phase (the cue contract, ``docs/feedback.md``).
:func:`feedback_report` reads them back; :func:`feedback_html` and :func:`feedback_lines` lay
the page out for the HTML and PDF reports.

Per phase: the mean of the trained metric over the phase's cues with its 95 % confidence
interval (Student t across stances; a summary schedule's cue is the mean of its strides and
counts once), the band, and the cues issued and shown. The change of post and retention from
baseline is compared with the smallest real change (1.96 × the standard error of the
difference, :func:`forcelab.analysis.asymmetry.real_change`): only a change larger than that is
called a change, and only such a change is coloured.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from forcelab.analysis.asymmetry import real_change, t_quantile_975
from forcelab.analysis.feedback import PHASES, TAG_PREFIX, Cue
from forcelab.errors import InputError
from forcelab.report.content import TABLE_METRICS, digits_for
from forcelab.store import open_session

#: Background of a change the CI can tell from zero: towards the band / away from it. A change
#: within the smallest real change is never coloured. Blue/orange stay apart for colour-blind
#: readers, and the words say the same.
CHANGE_COLOURS = {"toward": "#cfe3f5", "away": "#fde0c2", "none": "#ffffff"}
#: The phases compared with the baseline, in order.
COMPARED = ("post", "retention")


@dataclass
class PhaseFigures:
    """The trained metric in one phase of the protocol.

    Attributes
    ----------
    phase : str
        "baseline", "training", "post" or "retention".
    trial : str
        Name of the phase's trial ("" when only cues name the phase).
    n : int
        Values averaged (one per cue).
    mean : float or None
        Mean of the values, in the metric's unit.
    ci95 : (float, float) or None
        95 % confidence interval of the mean (None with fewer than 2 values).
    band : (float, float) or None
        The target band in force during the phase.
    cues_issued, cues_shown : int
        Cues formed in the phase, and those the schedule presented to the runner.
    in_band_pct : float or None
        Share of the cues in the band, %.
    """

    phase: str
    trial: str
    n: int
    mean: float | None
    ci95: tuple[float, float] | None
    band: tuple[float, float] | None
    cues_issued: int
    cues_shown: int
    in_band_pct: float | None


@dataclass
class PhaseChange:
    """A phase compared with the baseline.

    Attributes
    ----------
    phase : str
        "post" or "retention".
    change : float
        Phase mean − baseline mean, in the metric's unit.
    change_pct : float or None
        The change in % of the baseline mean.
    smallest_real_change : float
        1.96 × the standard error of the difference, in the metric's unit.
    real : bool
        Whether ``|change|`` exceeds the smallest real change.
    direction : str
        "toward" or "away" from the band (for a real change), else "none".
    text : str
        The change in plain words.
    """

    phase: str
    change: float
    change_pct: float | None
    smallest_real_change: float
    real: bool
    direction: str
    text: str


@dataclass
class FeedbackReport:
    """The feedback protocol of one session file."""

    settings: dict[str, Any]
    metric: str
    label: str
    unit: str
    phases: list[PhaseFigures]
    changes: list[PhaseChange] = field(default_factory=list)

    @property
    def headline(self) -> str:
        """One sentence: what was trained, and how it changed."""
        side = self.settings.get("side") or "both"
        sides = "both sides" if side == "both" else f"the {side} side"
        target = str(self.settings.get("target", "?"))
        kind = self.settings.get("target_kind")
        if kind == "change":
            target = f"a change of {target} from the baseline"
        elif kind == "band":
            target = "the band " + target.replace(":", " to ")
        label = self.label[:1].lower() + self.label[1:]
        words = [f"Feedback trained the {label} on {sides} towards {target} "
                 f"({self.settings.get('schedule', '?')} schedule)."]
        words += [f"{c.phase.capitalize()}: {c.text}." for c in self.changes]
        return " ".join(words)


def metric_label(metric: str) -> str:
    """``"Average loading rate (VALR, valr_n_s)"``: the report's name for a metric key."""
    for base, label, _kind in TABLE_METRICS:
        if metric == base or metric.startswith(base + "_"):
            return f"{label[:-1]}, {metric})" if label.endswith(")") else f"{label} ({metric})"
    return metric


def _unit(settings: dict[str, Any]) -> str:
    unit = str(settings.get("unit") or "")
    return "spm" if unit == "steps/min" else unit


def _num(value: float | None, unit: str, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    text = f"{value:{'+' if signed else ''}.{digits_for(unit, value)}f}"
    return text + ("" if not unit else " %" if unit == "%" else f" {unit}")


def _band_text(band: tuple[float, float] | None, unit: str) -> str:
    if band is None:
        return "not set yet"
    d = digits_for(unit, band[1])
    return f"{band[0]:.{d}f}–{band[1]:.{d}f}" + (f" {unit}" if unit else "")


def _ci_text(ci: tuple[float, float] | None, unit: str) -> str:
    if ci is None:
        return "n/a"
    d = digits_for(unit, ci[1])
    return f"{ci[0]:.{d}f}–{ci[1]:.{d}f}"


def phase_figures(phase: str, trial: str, cues: list[Cue],
                  band: tuple[float, float] | None) -> PhaseFigures:
    """Mean, 95 % CI, band and cue counts of one phase from its cues."""
    values = np.array([c.value for c in cues if math.isfinite(c.value)], dtype=float)
    n = int(values.size)
    mean = float(values.mean()) if n else None
    ci = None
    if n >= 2:
        half = t_quantile_975(n - 1) * float(values.std(ddof=1)) / math.sqrt(n)
        ci = (mean - half, mean + half)
    bands = [(c.band_low, c.band_high) for c in cues
             if c.band_low is not None and c.band_high is not None]
    zoned = [c for c in cues if c.zone]
    return PhaseFigures(
        phase=phase, trial=trial, n=n, mean=mean, ci95=ci,
        band=bands[-1] if bands else band, cues_issued=len(cues),
        cues_shown=sum(c.shown for c in cues),
        in_band_pct=(100.0 * sum(c.zone == "in" for c in zoned) / len(zoned)) if zoned else None,
    )


def compare(base: PhaseFigures, other: PhaseFigures, unit: str) -> PhaseChange | None:
    """``other`` against the baseline; None when either has no CI."""
    if base.mean is None or other.mean is None or base.ci95 is None or other.ci95 is None:
        return None
    c = real_change(
        {"si_pct": base.mean, "ci95_pct": base.ci95, "left_n": base.n, "right_n": base.n},
        {"si_pct": other.mean, "ci95_pct": other.ci95, "left_n": other.n, "right_n": other.n},
    )
    if c is None:
        return None
    change, src = float(c["change_pct"]), float(c["smallest_real_change_pct"])
    pct = 100.0 * change / base.mean if abs(base.mean) > 1e-12 else None
    direction = "none"
    if c["changed"]:
        band = other.band or base.band
        if band is not None:
            centre = (band[0] + band[1]) / 2.0
            direction = ("toward" if abs(other.mean - centre) < abs(base.mean - centre)
                         else "away")
    if c["changed"]:
        how = "higher" if change > 0 else "lower"
        amount = f"{abs(pct):.1f} % {how} than baseline" if pct is not None else how
        text = (f"{amount} ({_num(change, unit, signed=True)}), more than the smallest real "
                f"change of {_num(src, unit)}")
        if direction != "none":
            text += "; towards the band" if direction == "toward" else "; away from the band"
    else:
        text = (f"no real change from baseline ({_num(change, unit, signed=True)}; changes "
                f"within ±{_num(src, unit)} cannot be told from stride-to-stride noise)")
    return PhaseChange(other.phase, change, pct, src, bool(c["changed"]), direction, text)


def feedback_report(path: str | Path) -> FeedbackReport | None:
    """The feedback protocol of a session file, or None when it holds none.

    Raises
    ------
    InputError
        When the ``feedback`` event or a ``cue`` event is not readable JSON.
    """
    with open_session(path) as sf:
        events = sf.events
        trials = sf.trials
    settings_events = [e for e in events if e["kind"] == "feedback"]
    if not settings_events:
        return None
    try:
        settings = json.loads(settings_events[-1]["message"])
    except ValueError as exc:
        raise InputError(f"the feedback settings in {Path(path).name} are not readable: "
                         f"{exc}") from None
    cues = [Cue.from_json(e["message"]) for e in events if e["kind"] == "cue"]
    unit = _unit(settings)
    metric = str(settings.get("metric") or (cues[0].metric if cues else "?"))
    band = None
    if settings.get("band_low") is not None and settings.get("band_high") is not None:
        band = (float(settings["band_low"]), float(settings["band_high"]))
    trial_of = {}
    for t in trials:
        for tag in t.get("tags") or []:
            if str(tag).startswith(TAG_PREFIX):
                trial_of[str(tag)[len(TAG_PREFIX):]] = t["name"]
    present = [p for p in PHASES if p in trial_of or any(c.phase == p for c in cues)]
    phases = [phase_figures(p, trial_of.get(p, ""), [c for c in cues if c.phase == p], band)
              for p in present]
    report = FeedbackReport(settings, metric, metric_label(metric), unit, phases)
    base = next((p for p in phases if p.phase == "baseline"), None)
    if base is not None:
        for p in phases:
            if p.phase in COMPARED:
                change = compare(base, p, unit)
                if change is not None:
                    report.changes.append(change)
    return report


def feedback_lines(fr: FeedbackReport) -> list[str]:
    """The page as plain text lines (the PDF's page, and what a terminal shows)."""
    lines = [f"Feedback protocol: {fr.label}", fr.headline]
    for p in fr.phases:
        lines.append(
            f"{p.phase}{f' (trial {p.trial})' if p.trial and p.trial != p.phase else ''}: "
            f"mean {_num(p.mean, fr.unit)}, 95 % CI {_ci_text(p.ci95, fr.unit)}, "
            f"band {_band_text(p.band, fr.unit)}, {p.n} values; cues issued {p.cues_issued}, "
            f"shown {p.cues_shown}"
            + (f", {p.in_band_pct:.0f} % in band" if p.in_band_pct is not None else ""))
    return lines


def feedback_html(fr: FeedbackReport) -> str:
    """The page as an HTML section (inside the report's page)."""
    e = html.escape
    out = [f"<h3>Feedback protocol: {e(fr.label)}</h3>",
           f'<p class="summary">{e(fr.headline)}</p>',
           "<table class=feedback><tr><th>phase</th><th>trial</th>"
           "<th>mean</th><th>95 % CI</th><th>band</th><th>values</th>"
           "<th>cues issued</th><th>cues shown</th><th>in band</th>"
           "<th>change from baseline</th></tr>"]
    changes = {c.phase: c for c in fr.changes}
    for p in fr.phases:
        c = changes.get(p.phase)
        level = ("none" if c is None or not c.real else c.direction)
        colour = CHANGE_COLOURS.get(level, CHANGE_COLOURS["none"])
        in_band = "n/a" if p.in_band_pct is None else f"{p.in_band_pct:.0f} %"
        out.append(
            f'<tr class="change-{level}" style="background:{colour}">'
            f"<td>{e(p.phase)}</td><td>{e(p.trial or '—')}</td>"
            f"<td>{e(_num(p.mean, fr.unit))}</td><td>{e(_ci_text(p.ci95, fr.unit))}</td>"
            f"<td>{e(_band_text(p.band, fr.unit))}</td><td>{p.n}</td>"
            f"<td>{p.cues_issued}</td><td>{p.cues_shown}</td><td>{e(in_band)}</td>"
            f"<td>{e(c.text if c else '—')}</td></tr>")
    out.append("</table><p class=small>Values are the trained metric of every stance of the "
               "trained side(s), as measured live. A change is called real only when it is "
               "larger than the smallest real change (1.96 × the standard error of the "
               "difference of the two means); only real changes are coloured (blue: towards "
               "the band, orange: away from it).</p>")
    return "\n".join(out)
