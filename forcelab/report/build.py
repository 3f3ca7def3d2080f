"""Assemble a coach report from one or more session files or recordings.

``build_report`` opens every input (forcelab session files through the store; any other
recording through ``forcelab.interop.load_recording`` with the reader options), analyses each
trial with :func:`forcelab.analysis.analyze_recording` and collects the report content. When
several sessions of the same athlete are given, the report adds the trend of the mid-stance
peak asymmetry across them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from forcelab import __version__
from forcelab.analysis.asymmetry import real_change
from forcelab.errors import InputError
from forcelab.report.content import TrialReport, trial_report
from forcelab.report.feedback import FeedbackReport, feedback_report
from forcelab.sources import is_session_file, load_source


@dataclass
class SessionReport:
    """The report content of one input file."""

    label: str
    path: Path
    kind: str
    athlete: dict[str, Any]
    date: str
    session: dict[str, Any]
    trials: list[TrialReport]
    #: The session's feedback protocol (:mod:`forcelab.report.feedback`), None without one.
    feedback: FeedbackReport | None = None


@dataclass
class Report:
    """A whole report: sessions, trends per athlete, and how it was made."""

    sessions: list[SessionReport]
    trends: dict[str, list[dict[str, Any]]]
    generated_utc: str
    anonymized: bool
    software: str = f"forcelab {__version__}"
    analysis_parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def athletes(self) -> list[dict[str, Any]]:
        """Distinct athletes of the report, in input order."""
        seen: dict[str, dict[str, Any]] = {}
        for s in self.sessions:
            key = str(s.athlete.get("id") or s.athlete.get("name") or s.label)
            seen.setdefault(key, s.athlete)
        return list(seen.values())


def build_report(
    paths: list[str | Path],
    *,
    reader_options: dict[str, Any] | None = None,
    trial: str | None = None,
    bands: dict[str, Any] | None = None,
    anonymize: bool = False,
    analysis_options: dict[str, Any] | None = None,
) -> Report:
    """Analyse the inputs and collect the report content.

    Parameters
    ----------
    paths : list of str or Path
        Session files and/or recordings (one report for all of them).
    reader_options : dict, optional
        Options for non-session recordings (rate_hz, vertical, map, cop_ml, body_mass_kg, ...).
    trial : str, optional
        Only this trial of each session file.
    bands : dict, optional
        The lab's asymmetry reference bands (see
        :func:`forcelab.analysis.asymmetry.reference_band`); default: the published bands of
        healthy runners.
    anonymize : bool
        Show pseudonyms instead of names and ids, drop free-text notes.
    analysis_options : dict, optional
        Options passed to ``analyze_recording``.

    Returns
    -------
    Report

    Raises
    ------
    InputError
        If no input is given.
    """
    if not paths:
        raise InputError("give at least one session file or recording to report on")
    if bands:
        analysis_options = {**(analysis_options or {}), "bands": bands}
    sessions = []
    parameters: dict[str, Any] = {}
    for p in paths:
        if trial is not None and not is_session_file(p):
            raise InputError(f"`trial` only applies to forcelab session files; {p} is not one")
        source = load_source(p, trial=trial, reader_options=reader_options, anonymize=anonymize,
                             lenient=len(paths) > 1)
        label = source.date or (source.stem if anonymize else source.path.stem)
        trials = []
        for t in source.trials:
            result = t.analysis(analysis_options) if t.stances(analysis_options) else None
            if result is not None and not parameters:
                parameters = dict(getattr(result, "parameters", {}) or {})
            tr = trial_report(label, t.name, t.info, t.recording, result)
            if t.analysis_error:
                tr.warnings.append(f"No stances analysed: {t.analysis_error}")
            trials.append(tr)
        feedback = feedback_report(source.path) if source.kind == "session" else None
        sessions.append(SessionReport(label, source.path, source.kind, source.athlete,
                                      source.date, source.session, trials, feedback))
    return Report(sessions, _trends(sessions),
                  datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), anonymize,
                  analysis_parameters=parameters)


def _mark_real_changes(points: list[dict[str, Any]]) -> None:
    """Say per point whether its SI really changed from the previous comparable point
    (``change``: "changed by +3.1 points" / "no real change (±2.4 points is noise)" / "")."""
    previous = None
    for point in points:
        point["change"] = ""
        a = point.pop("asymmetry", None)
        if not a or a.get("si_pct") is None:
            continue
        if previous is not None:
            c = real_change(previous, a)
            if c is not None:
                point["change"] = (
                    f"changed by {c['change_pct']:+.1f} points" if c["changed"] else
                    f"no real change ({c['change_pct']:+.1f} points; "
                    f"±{c['smallest_real_change_pct']:.1f} is noise)"
                )
        previous = a


def _trends(sessions: list[SessionReport]) -> dict[str, list[dict[str, Any]]]:
    """Per athlete with two or more sessions: SI of the mid-stance peak per session × trial
    (only when at least two of them could compare left and right)."""
    by_athlete: dict[str, list[SessionReport]] = {}
    for s in sessions:
        aid = str(s.athlete.get("id") or "")
        if aid:
            by_athlete.setdefault(aid, []).append(s)
    trends = {}
    for aid, group in by_athlete.items():
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda s: (s.date or "9999", str(s.path)))
        points = []
        for s in group:
            for t in s.trials:
                p = t.primary
                label = s.date or s.path.stem
                if len(s.trials) > 1:
                    label += f" {t.trial}"
                points.append({"label": label, "session": s.label, "trial": t.trial,
                               "si_pct": p.si_pct if p else None,
                               "ci95_pct": p.ci95_pct if p else None,
                               "higher": p.higher if p else None,
                               "band_si_pct": p.band_si_pct if p else None,
                               "asymmetry": p.asymmetry if p else None,
                               "left": p.left if p else "n/a", "right": p.right if p else "n/a"})
        if sum(p["si_pct"] is not None for p in points) >= 2:
            _mark_real_changes(points)
            trends[aid] = points
    return trends
