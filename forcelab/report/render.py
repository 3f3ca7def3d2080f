"""Lay a :class:`forcelab.report.build.Report` out as a self-contained HTML page or a PDF.

HTML: one file, no external resources; figures are PNGs embedded as base64 ``data:`` URIs and
the style sheet is inline, so the page can be e-mailed or opened offline.
PDF: matplotlib's PdfPages, one A4 page per trial (plus one for trends), same text and numbers.
"""

from __future__ import annotations

import base64
import html
import textwrap
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from forcelab.analysis import symmetry_text
from forcelab.analysis.asymmetry import LEVEL_WORDS
from forcelab.errors import ExportError, InputError
from forcelab.interop.export_common import make_output_folder
from forcelab.report.build import Report, SessionReport, build_report
from forcelab.report.content import DISCLAIMER, TrialReport
from forcelab.report.feedback import feedback_html, feedback_lines
from forcelab.report.figures import (
    draw_stance_curves,
    draw_stride_peaks,
    draw_trend,
    png_bytes,
    stance_curve_figure,
    stride_peak_figure,
    trend_figure,
)

#: Row colours by level (forcelab.analysis.asymmetry.LEVELS): a difference the confidence interval
#: cannot tell from zero is never coloured.
LEVEL_COLOURS = {"ok": "#d9f0d9", "watch": "#fff1c2", "flag": "#f8d0c8", "na": "#ffffff",
                 "noise": "#ffffff"}


def _level_words(r: Any) -> str:
    words = LEVEL_WORDS[r.level]
    if r.level in ("ok", "watch", "flag") and r.band_si_pct is not None:
        words += f" ({r.band_si_pct:.1f} %)"
    return words

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#222;max-width:1000px;
margin:24px auto;padding:0 16px;line-height:1.4}
h1{font-size:1.6em;margin-bottom:4px}h2{font-size:1.25em;margin-top:28px;border-bottom:1px solid
#ccc;padding-bottom:4px}h3{font-size:1.05em;margin-bottom:4px}
.meta{color:#555;margin:2px 0}.figs{display:flex;flex-wrap:wrap;gap:8px}
.figs img{width:calc(50% - 4px);min-width:320px;height:auto;border:1px solid #eee}
table{border-collapse:collapse;margin:8px 0;font-size:0.92em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f4f4f4}
.summary{font-size:1.05em;background:#f7f9fc;border-left:4px solid #0072B2;padding:8px 12px}
.disclaimer{margin-top:28px;padding:8px 12px;border:1px solid #bbb;background:#fafafa}
.small{color:#666;font-size:0.85em}
@media print{body{max-width:none;margin:0;font-size:10pt}.figs img{width:49%;min-width:0}
h3{break-after:avoid}table,.figs{break-inside:avoid}}
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _si(row: Any) -> str:
    return "n/a" if row.si_pct is None else f"{row.si_pct:+.1f} %"


def _ci(row: Any) -> str:
    if row.ci95_pct is None:
        return "n/a"
    return f"{row.ci95_pct[0]:+.1f} to {row.ci95_pct[1]:+.1f} %"


def _direction(row: Any) -> str:
    if row.si_pct is None or row.higher not in ("left", "right"):
        return "n/a"
    return symmetry_text(row.si_pct)


def _athlete_line(athlete: dict[str, Any], anonymized: bool) -> str:
    parts = []
    name = athlete.get("name")
    aid = athlete.get("id")
    if name and not anonymized:
        parts.append(str(name))
    if aid:
        parts.append(f"id {aid}")
    mass = athlete.get("body_mass_kg")
    try:
        if mass is not None:
            parts.append(f"body mass {float(mass):.1f} kg")
    except (TypeError, ValueError):
        pass
    return ", ".join(parts) or "athlete not recorded"


def _trial_line(tr: TrialReport) -> str:
    info = tr.info or {}
    bits = [f"{tr.duration_s:.1f} s"]
    speed = info.get("speed_m_s")
    if speed not in (None, ""):
        try:
            bits.append(f"{float(speed):.1f} m/s")
        except (TypeError, ValueError):
            pass
    if info.get("shoe"):
        bits.append(f"shoe {info['shoe']}")
    tags = info.get("tags")
    if tags:
        bits.append("tags " + ", ".join(str(t) for t in tags))
    return ", ".join(bits)


def _trial_html(tr: TrialReport, report: Report) -> str:
    e = html.escape
    out = [f"<h3>Trial {e(tr.trial)} <span class=small>({e(_trial_line(tr))})</span></h3>"]
    out.append(f'<p class="summary">{e(tr.paragraph)}</p>')
    if tr.curves:
        curves = png_bytes(stance_curve_figure(tr.curves, tr.unit))
        peaks = png_bytes(stride_peak_figure(tr.peaks, tr.unit))
        out.append('<div class="figs">' + _img(curves, "mean stance curves left and right")
                   + _img(peaks, "mid-stance peak stride by stride") + "</div>")
    else:
        out.append("<p class=small>No complete stance to plot.</p>")
    if tr.asymmetry:
        out.append("<table class=asym><tr><th>metric</th><th>left (mean ± SD)</th>"
                   "<th>right (mean ± SD)</th><th>SI</th><th>symmetry angle</th>"
                   "<th>95 % CI of SI</th><th>direction</th>"
                   "<th>vs healthy runners</th></tr>")
        for r in tr.asymmetry:
            colour = LEVEL_COLOURS[r.level]
            angle = "n/a" if r.symmetry_angle_pct is None else f"{r.symmetry_angle_pct:+.1f} %"
            out.append(
                f'<tr class="level-{r.level}" style="background:{colour}">'
                f"<td>{e(r.label)}</td><td>{e(r.left)}</td><td>{e(r.right)}</td>"
                f"<td>{e(_si(r))}</td><td>{e(angle)}</td><td>{e(_ci(r))}</td>"
                f"<td>{e(_direction(r))}</td><td>{e(_level_words(r))}</td></tr>")
        out.append("</table><p class=small>SI = (right − left) / mean × 100: positive means "
                   "the right side is higher. Symmetry angle after Zifchock et al. 2008.</p>")
    if tr.gait_rows:
        c1, c2 = tr.gait_columns
        out.append(f"<table class=gait><tr><th></th><th>{e(c1)}</th><th>{e(c2)}</th></tr>")
        for label, v1, v2 in tr.gait_rows:
            out.append(f"<tr><td>{e(label)}</td><td>{e(v1)}</td><td>{e(v2)}</td></tr>")
        out.append("</table>")
    out.append(f"<p class=small>Loading rates: {e(tr.loading_rate_method)} "
               "(VALR: mean slope between 20 % and 80 % of the impact peak).</p>")
    for w in tr.warnings:
        out.append(f"<p class=small>{e(w)}</p>")
    return "\n".join(out)


def _session_html(s: SessionReport, report: Report) -> str:
    e = html.escape
    title = f"Session {s.date}" if s.date else f"Recording {s.label}"
    out = [f"<h2>{e(title)}</h2>",
           f"<p class=meta>Athlete: {e(_athlete_line(s.athlete, report.anonymized))}</p>",
           f"<p class=meta>Trials: {e(', '.join(t.trial for t in s.trials))}</p>"]
    if not report.anonymized:
        out.append(f"<p class=meta>File: {e(s.path.name)}</p>")
    if s.feedback is not None:
        out.append(feedback_html(s.feedback))
    for tr in s.trials:
        out.append(_trial_html(tr, report))
    return "\n".join(out)


def _trend_html(report: Report) -> str:
    e = html.escape
    out = []
    for aid, points in report.trends.items():
        out.append(f"<h2>Trend across sessions: athlete {e(aid)}</h2>")
        out.append('<div class="figs">' + _img(png_bytes(trend_figure(
            points)), "asymmetry trend across sessions") + "</div>")
        out.append("<table class=trend><tr><th>session</th><th>left</th><th>right</th>"
                   "<th>SI</th><th>95 % CI</th><th>since the previous session</th></tr>")
        for p in points:
            si = "n/a" if p["si_pct"] is None else f"{p['si_pct']:+.1f} %"
            ci = ("n/a" if not p["ci95_pct"] else
                  f"{p['ci95_pct'][0]:+.1f} to {p['ci95_pct'][1]:+.1f} %")
            out.append(f"<tr><td>{e(p['label'])}</td><td>{e(p['left'])}</td>"
                       f"<td>{e(p['right'])}</td><td>{e(si)}</td><td>{e(ci)}</td>"
                       f"<td>{e(p.get('change', ''))}</td></tr>")
        out.append("</table>")
    return "\n".join(out)


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page."""
    e = html.escape
    athletes = report.athletes
    who = "; ".join(_athlete_line(a, report.anonymized) for a in athletes)
    dates = sorted({s.date for s in report.sessions if s.date})
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Loading report — {e(who)}</title><style>{CSS}</style></head><body>",
        "<h1>Loading report</h1>",
        f"<p class=meta>Athlete: {e(who)}</p>",
        f"<p class=meta>Date: {e(', '.join(dates) or 'not recorded')}</p>",
    ]
    for s in report.sessions:
        parts.append(_session_html(s, report))
    parts.append(_trend_html(report))
    parts.append(f'<p class="disclaimer">{e(DISCLAIMER)}</p>')
    parts.append(f"<p class=small>Made by {e(report.software)} on {e(report.generated_utc)}. "
                 "Colours compare each difference with what healthy runners show for that metric "
                 "(Girard et al. 2019, or the lab's own bands); a difference the 95 % CI cannot "
                 "tell from zero is not coloured. Only complete stances are "
                 "counted.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------- PDF

A4_IN = (8.27, 11.69)


def _pdf_trial_page(pdf: Any, s: SessionReport, tr: TrialReport, report: Report) -> None:

    fig = Figure(figsize=A4_IN, dpi=100)
    FigureCanvasAgg(fig)
    y = 0.975

    def text(line: str, size: float = 9.0, weight: str = "normal", colour: str = "#222222",
             width: int = 110) -> None:
        nonlocal y
        for wrapped in textwrap.wrap(line, width) or [""]:
            fig.text(0.06, y, wrapped, fontsize=size, weight=weight, color=colour, va="top")
            y -= size * 0.0019
        y -= 0.004

    text("Loading report", 15, "bold")
    text(f"Athlete: {_athlete_line(s.athlete, report.anonymized)}")
    text(f"Session: {s.date or s.label}    Trial: {tr.trial} ({_trial_line(tr)})")
    text(tr.paragraph, 9.5, width=100)
    # figures: two side by side
    top = y - 0.005
    h = 0.2
    for i, (fn, args) in enumerate(((draw_stance_curves, (tr.curves, tr.unit)),
                                    (draw_stride_peaks, (tr.peaks, tr.unit)))):
        ax = fig.add_axes((0.08 + i * 0.48, top - h, 0.4, h - 0.03))
        ax.grid(True, color="#dddddd", linewidth=0.5)
        fn(ax, *args)
        _small(ax)
    y = top - h - 0.045
    if tr.asymmetry:
        rows = [[r.label, r.left, r.right, _si(r), _ci(r), _direction(r)]
                for r in tr.asymmetry]
        colours = [[LEVEL_COLOURS[r.level]] * 6 for r in tr.asymmetry]
        height = 0.022 * (len(rows) + 1)
        ax = fig.add_axes((0.04, y - height, 0.92, height))
        ax.axis("off")
        table = ax.table(cellText=rows, cellColours=colours, bbox=(0, 0, 1, 1),
                         colLabels=["metric", "left", "right", "SI", "95 % CI", "direction"],
                         colWidths=[0.25, 0.17, 0.17, 0.07, 0.14, 0.20], cellLoc="center")
        table.auto_set_font_size(False)
        table.set_fontsize(6.5)
        y -= height + 0.02
    if tr.gait_rows:
        c1, c2 = tr.gait_columns
        height = 0.02 * (len(tr.gait_rows) + 1)
        ax = fig.add_axes((0.15, y - height, 0.7, height))
        ax.axis("off")
        table = ax.table(cellText=[list(r) for r in tr.gait_rows], colLabels=["", c1, c2],
                         bbox=(0, 0, 1, 1), colWidths=[0.4, 0.3, 0.3])
        table.auto_set_font_size(False)
        table.set_fontsize(7)
        y -= height + 0.02
    text(f"Loading rates: {tr.loading_rate_method}. Colours: green within the band healthy "
         "runners show for that metric, yellow possibly above it, red above it; no colour when "
         "the 95 % CI cannot tell the difference from zero (SI positive = right higher).", 7.5,
         colour="#555555",
         width=140)
    y = min(y, 0.07)
    text(DISCLAIMER, 8, colour="#333333", width=120)
    text(f"Made by {report.software} on {report.generated_utc}.", 7, colour="#777777")
    pdf.savefig(fig)


def _small(ax: Any) -> None:
    ax.xaxis.label.set_fontsize(7)
    ax.yaxis.label.set_fontsize(7)
    ax.title.set_fontsize(8)
    ax.tick_params(labelsize=6.5)
    legend = ax.get_legend()
    if legend is not None:
        for t in legend.get_texts():
            t.set_fontsize(6.5)


def _pdf_trend_page(pdf: Any, report: Report) -> None:

    for aid, points in report.trends.items():
        fig = Figure(figsize=A4_IN, dpi=100)
        FigureCanvasAgg(fig)
        fig.text(0.06, 0.96, f"Trend across sessions: athlete {aid}", fontsize=13,
                 weight="bold", va="top")
        ax = fig.add_axes((0.1, 0.55, 0.8, 0.35))
        draw_trend(ax, points)
        _small(ax)
        fig.text(0.06, 0.06, DISCLAIMER, fontsize=8, wrap=True)
        pdf.savefig(fig)


def _pdf_feedback_page(pdf: Any, s: SessionReport) -> None:
    """The session's feedback protocol as a text page (:func:`feedback_lines`)."""
    fig = Figure(figsize=A4_IN, dpi=100)
    FigureCanvasAgg(fig)
    y = 0.96
    lines = [f"Session: {s.date or s.label}", *feedback_lines(s.feedback)]
    for i, line in enumerate(lines):
        for wrapped in textwrap.wrap(line, 100) or [""]:
            fig.text(0.06, y, wrapped, fontsize=13 if i == 1 else 9,
                     weight="bold" if i == 1 else "normal", va="top")
            y -= 0.03 if i == 1 else 0.02
        y -= 0.006
    fig.text(0.06, 0.06, DISCLAIMER, fontsize=8, wrap=True)
    pdf.savefig(fig)


def render_pdf(report: Report, path: Path) -> None:
    """Write the report as a PDF (one A4 page per feedback protocol, one per trial, one per
    athlete trend)."""

    with PdfPages(path, metadata={"Title": "Loading report",
                                  "Creator": report.software}) as pdf:
        for s in report.sessions:
            if s.feedback is not None:
                _pdf_feedback_page(pdf, s)
            for tr in s.trials:
                _pdf_trial_page(pdf, s, tr, report)
        _pdf_trend_page(pdf, report)


def write_report(
    paths: list[str | Path],
    out: str | Path,
    *,
    overwrite: bool = False,
    **options: Any,
) -> Path:
    """Build and write a report; the format follows the suffix of ``out`` (.html/.htm or .pdf).

    Parameters
    ----------
    paths : list of str or Path
        Session files and/or recordings.
    out : str or Path
        Output file.
    overwrite : bool
        Replace an existing file.
    **options
        reader_options, trial, bands, anonymize, analysis_options (see
        :func:`forcelab.report.build.build_report`).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InputError
        For an unknown output suffix or an existing output file.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".htm", ".pdf"):
        raise InputError(f"report output must end in .html or .pdf, got {out.name!r}")
    if out.exists() and not overwrite:
        raise InputError(f"{out} already exists; remove it, pick another `out`, or use `overwrite`")
    if out.exists() and out.is_dir():
        raise InputError(f"{out} is a directory; give a file name ending in .html or .pdf")
    make_output_folder(out.parent)
    report = build_report(list(paths), **options)
    tmp = out.with_name(out.name + ".part")
    try:
        if suffix == ".pdf":
            render_pdf(report, tmp)
        else:
            tmp.write_text(render_html(report), encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise ExportError(f"could not write {out}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out
