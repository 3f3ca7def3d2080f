"""forcelab.report: the coach report (HTML or PDF) from session files and recordings.

Public API::

    from forcelab.report import write_report, build_report, render_html
    write_report(["session.h5"], "report.html")          # or "report.pdf"
    write_report(["a.h5", "b.h5"], "trend.html")          # adds the trend across sessions

Contents: athlete, date, trials; mean left and right stance curves with SD bands (0-100 %
stance); the mid-stance peak of every stride over time; the asymmetry table (SI, symmetry angle,
95 % CI, direction, colour against the band healthy runners show for each metric, never for a
difference the CI cannot tell from zero); contact time, cadence and
loading rates with the method used; a plain-language paragraph; and the reminder that force
asymmetry is a loading measure, not a diagnosis. Figures are static matplotlib (Agg) images.
"""

from __future__ import annotations

from forcelab.report.build import build_report
from forcelab.report.render import render_html, render_pdf, write_report

__all__ = ["build_report", "render_html", "render_pdf", "write_report"]
