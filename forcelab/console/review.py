"""The console's Review tab: open a previous session file, look at its trials and asymmetry.

Reading and analysing run on the console's :class:`~forcelab.console.jobs.JobRunner`, so a
large file never freezes the window. The file is opened read-only (SWMR-aware), so a session that
is still being recorded by another process can be reviewed too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from forcelab.analysis.metrics import G_M_S2
from forcelab.console.exports import available_exports, run_export
from forcelab.console.jobs import JobRunner
from forcelab.console.widgets import (
    EVENT_COLOUR,
    MARKER_COLOUR,
    StanceTable,
    monospace_text,
    side_colour,
    side_pen_style,
)

#: Events the file holds for every stance or for bookkeeping: not drawn as labels in Review.
QUIET_EVENTS = frozenset({"stance"})
#: Points of a stance curve normalised to 0–100 % of stance.
STANCE_CURVE_POINTS = 101
#: Span the zoomed Review plot shows when a trial opens, s.
REVIEW_ZOOM_S = 10.0

def load_session_overview(path: str) -> dict[str, Any]:
    """Read what the Review tab lists about a session file (athlete, streams, trials, markers).

    Raises
    ------
    forcelab.errors.SessionFileError
        If the file is not a readable forcelab session.
    """
    from forcelab.store import open_session

    with _opened(open_session(path)) as session:
        trials = [dict(t) if isinstance(t, dict) else _as_dict(t) for t in session.trials]
        return {
            "path": str(path),
            "athlete": dict(session.athlete or {}),
            "streams": list(session.streams),
            "trials": trials,
            "markers": [m if isinstance(m, dict) else _as_dict(m) for m in session.markers],
        }


def analyse_trial(path: str, trial: str | None, body_mass_kg: float | None = None) -> dict:
    """Read one trial (or the whole session when ``trial`` is None) and analyse it.

    Returns
    -------
    dict
        ``trial``; ``text`` (``AnalysisResult.format_text()``); ``result``
        (``AnalysisResult.to_dict()`` or None); ``curves``: ``{stream: (t_s, fz_n, side)}`` with
        every sample (gaps are NaN, drawn as breaks; pyqtgraph downsamples for the screen);
        ``interval``: (start_s, stop_s) of the trial on the session time base; ``markers`` and
        ``events`` (``{"t_s", "label"}``) inside it; ``stance_curves``: ``{side: (mean, sd)}``
        over 0–100 % of stance (101 points) and ``curve_unit`` ("BW" or "N").
    """
    from forcelab.analysis import analyze_recording
    from forcelab.errors import AnalysisError
    from forcelab.store import open_session, read_recording

    recording = read_recording(path, trial=trial)
    with _opened(open_session(path)) as session:
        markers, events = session.markers, session.events
    mass = recording.body_mass_kg
    options: dict[str, Any] = {}
    if body_mass_kg is not None and mass is None:
        options["body_mass_kg"] = body_mass_kg
        mass = body_mass_kg
    curves = {s.name: (s.time_s(), s.fz, s.side) for s in recording.streams}
    starts = [s.t0_s for s in recording.streams]
    ends = [s.t0_s + s.duration_s for s in recording.streams]
    interval = (min(starts, default=0.0), max(ends, default=0.0))
    inside = [m for m in markers if interval[0] <= m["t_s"] <= interval[1]]
    labelled_events = [
        {"t_s": e["t_s"], "label": (f"{e['stream']}: " if e["stream"] else "") + e["kind"]}
        for e in events
        if e["kind"] not in QUIET_EVENTS and interval[0] <= e["t_s"] <= interval[1]
    ]
    out = {"trial": trial, "curves": curves, "interval": interval,
           "markers": [{"t_s": m["t_s"], "label": m["label"]} for m in inside],
           "events": labelled_events, "stance_curves": {}, "curve_unit": "N"}
    try:
        result = analyze_recording(recording, options or None)
    except AnalysisError as exc:
        return {**out, "text": f"No analysis: {exc}", "result": None}
    result_dict = result.to_dict()
    out["stance_curves"], out["curve_unit"] = mean_stance_curves(
        recording, result_dict["stances"], mass
    )
    return {**out, "text": result.format_text(), "result": result_dict}


def mean_stance_curves(
    recording: Any, stances: list[dict[str, Any]], body_mass_kg: float | None
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    """Mean and SD of the vertical force over 0–100 % of stance (101 points) per side.

    Every valid stance without a gap is resampled to 101 points after subtracting its
    baseline (``baseline_n``); sides are "left"/"right", or the stream name when a stance has
    no side.

    Returns
    -------
    dict, str
        ``{side: (mean, sd)}`` (SD 0 for a single stance) in BW with a body mass, else in N;
        and the unit ("BW" or "N").
    """
    scale, unit = (1.0 / (body_mass_kg * G_M_S2), "BW") if body_mass_kg else (
        1.0, "N")
    grid = np.linspace(0.0, 1.0, STANCE_CURVE_POINTS)
    streams = {s.name: s for s in recording.streams}
    groups: dict[str, list[np.ndarray]] = {}
    for st in stances:
        stream = streams.get(st.get("stream"))
        if not st.get("valid") or stream is None:
            continue
        i0 = max(int(round((float(st["start_s"]) - stream.t0_s) * stream.rate_hz)), 0)
        i1 = min(int(round((float(st["end_s"]) - stream.t0_s) * stream.rate_hz)),
                 stream.n_samples)
        segment = stream.fz[i0:i1] - float(st.get("baseline_n") or 0.0)
        if segment.size < 3 or not np.isfinite(segment).all():
            continue
        curve = np.interp(grid, np.linspace(0.0, 1.0, segment.size), segment) * scale
        groups.setdefault(st.get("side") or stream.name, []).append(curve)
    out = {}
    for side, curves in groups.items():
        arr = np.vstack(curves)
        out[side] = (arr.mean(axis=0), arr.std(axis=0, ddof=1) if len(arr) > 1 else 0 * arr[0])
    return out, unit


class ReviewPanel(QWidget):
    """Open a session file; list its trials; plot and analyse the selected one; export it.

    Signals
    -------
    error(str)
        A message for the operator (file unreadable, export failed, ...).
    """

    error = pyqtSignal(str)

    def __init__(self, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.jobs.finished.connect(self._job_finished)
        self.path: str | None = None
        self.overview: dict[str, Any] | None = None
        self.analysis: dict[str, Any] | None = None
        self._stances: list[dict[str, Any]] = []
        self._select: str | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        self.open_button = QPushButton("Open session file… (Ctrl+O)")
        self.open_button.setToolTip("Open a forcelab session file (.h5) to review and export")
        self.open_button.clicked.connect(self._browse)
        self.file_label = QLabel("No file open")
        self.file_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.file_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        top.addWidget(self.open_button)
        top.addWidget(self.file_label, 1)
        lay.addLayout(top)
        split = QSplitter(Qt.Horizontal)
        left = QWidget()
        llay = QVBoxLayout(left)
        llay.setContentsMargins(0, 0, 0, 0)
        self.info_label = QLabel("")
        self.info_label.setWordWrap(True)
        llay.addWidget(self.info_label)
        trials_label = QLabel("&Trials")
        self.trial_list = QListWidget()
        self.trial_list.setToolTip("Pick a trial to plot and analyse it (arrow keys move)")
        trials_label.setBuddy(self.trial_list)
        self.trial_list.currentItemChanged.connect(self._trial_selected)
        llay.addWidget(trials_label)
        llay.addWidget(self.trial_list, 1)
        self.export_row = QVBoxLayout()
        llay.addLayout(self.export_row)
        self.export_buttons: dict[str, QPushButton] = {}
        for fmt, label in available_exports().items():
            button = QPushButton(f"Export {label}…")
            button.setToolTip(f"Write the selected trial as {label}")
            button.clicked.connect(lambda _=False, f=fmt: self.export(f))
            button.setEnabled(False)
            self.export_row.addWidget(button)
            self.export_buttons[fmt] = button
        left.setMinimumWidth(190)
        left.setMaximumWidth(300)
        split.addWidget(left)
        right = QSplitter(Qt.Vertical)
        right.setChildrenCollapsible(False)
        self.overview_plot = _force_plot("Whole trial: drag the shaded band to zoom")
        self.overview_plot.setMinimumHeight(80)
        self.overview_plot.getPlotItem().setMouseEnabled(x=False, y=False)
        self.overview_plot.getPlotItem().setLabel("left", "")
        self.overview_plot.getPlotItem().setLabel("bottom", "")
        self.zoom_region = pg.LinearRegionItem(brush=pg.mkBrush(100, 100, 200, 40))
        self.zoom_region.setZValue(10)
        self.overview_plot.addItem(self.zoom_region)
        self.plot = _force_plot("")
        self.plot.setMinimumHeight(120)
        self.plot.getPlotItem().addLegend(offset=(10, 5))
        self.zoom_region.sigRegionChanged.connect(self._region_moved)
        self.plot.getPlotItem().sigXRangeChanged.connect(self._zoom_moved)
        right.addWidget(self.overview_plot)
        right.addWidget(self.plot)
        self.details = QTabWidget()
        self.stance_table = StanceTable()
        self.stance_table.stance_chosen.connect(self.show_stance)
        self.details.addTab(self.stance_table, "Strides")
        self.mean_plot = pg.PlotWidget(background="w")
        item = self.mean_plot.getPlotItem()
        item.setLabel("bottom", "Stance", units="%")
        item.showGrid(x=True, y=True, alpha=0.3)
        item.addLegend(offset=(10, 5))
        self.mean_plot.setToolTip("Mean vertical force of the valid stances per side, ± 1 SD band")
        self.details.addTab(self.mean_plot, "Mean curves")
        self.text = monospace_text()
        self.details.addTab(self.text, "Analysis")
        right.addWidget(self.details)
        right.setStretchFactor(0, 1)
        right.setStretchFactor(1, 3)
        right.setStretchFactor(2, 3)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        lay.addWidget(split, 1)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open session file", "", "Sessions (*.h5)")
        if path:
            self.open_file(path)

    def open_file(self, path: str, trial: str | None = None) -> None:
        """Read a session file's overview in the background, then list its trials (and select
        ``trial`` when given, else the first)."""
        self.path = str(path)
        self._select = trial
        self.file_label.setText(f"Opening {path}…")
        self.trial_list.clear()
        self.text.clear()
        self._stances = []
        self.stance_table.set_stances([], "N")
        self.jobs.submit("review_open", load_session_overview, self.path)

    def close_file(self) -> None:
        """Forget the open file (nothing is held open between jobs)."""
        self.path = None
        self.overview = None

    def _trial_selected(self, item: QListWidgetItem | None, _prev: Any = None) -> None:
        if item is None or self.path is None:
            return
        trial = item.data(Qt.UserRole)
        mass = (self.overview or {}).get("athlete", {}).get("body_mass_kg")
        self.text.setPlainText(f"Analysing {trial or 'the whole session'}…")
        for button in self.export_buttons.values():
            button.setEnabled(False)
        self.jobs.submit("review_trial", analyse_trial, self.path, trial, mass)

    def selected_trial(self) -> str | None:
        """Name of the selected trial (None = whole session)."""
        item = self.trial_list.currentItem()
        return item.data(Qt.UserRole) if item is not None else None

    def export(self, fmt: str, out_path: str | None = None) -> None:
        """Export the selected trial in ``fmt`` (asks where when ``out_path`` is None)."""
        if self.path is None:
            self.error.emit("Open a session file first.")
            return
        if out_path is None:
            suggested = str(Path(self.path).with_suffix(f".{fmt}"))
            out_path, _ = QFileDialog.getSaveFileName(self, f"Export {fmt}", suggested)
            if not out_path:
                return
        self.jobs.submit("review_export", run_export, fmt, self.path, self.selected_trial(),
                         out_path)

    def _job_finished(self, name: str, result: Any, error: BaseException | None) -> None:
        if not name.startswith("review_"):
            return
        if error is not None:
            if name == "review_open":
                self.file_label.setText(f"Cannot open {self.path}")
                self.path = None
            self.text.setPlainText(str(error))
            self.error.emit(f"Review: {error}")
            return
        if name == "review_open":
            self._show_overview(result)
        elif name == "review_trial":
            self._show_analysis(result)
        elif name == "review_export":
            self.text.appendPlainText(f"\nExported to {result}")

    def _show_overview(self, overview: dict[str, Any]) -> None:
        self.overview = overview
        self.file_label.setText(overview["path"])
        athlete = overview["athlete"]
        mass = athlete.get("body_mass_kg")
        self.info_label.setText(
            f"Athlete: {athlete.get('name') or '—'}"
            + (f" ({mass:.1f} kg)" if isinstance(mass, (int, float)) else "")
            + f"\nStreams: {', '.join(overview['streams']) or '—'}"
            + f"\nMarkers: {len(overview['markers'])}"
        )
        self.trial_list.clear()
        whole = QListWidgetItem("(whole session)")
        whole.setData(Qt.UserRole, None)
        self.trial_list.addItem(whole)
        for trial in overview["trials"]:
            tags = trial.get("tags") or []
            label = str(trial.get("name", "?")) + (f"  [{', '.join(tags)}]" if tags else "")
            item = QListWidgetItem(label)
            item.setData(Qt.UserRole, trial.get("name"))
            self.trial_list.addItem(item)
        names = [t.get("name") for t in overview["trials"]]
        wanted = names.index(self._select) + 1 if self._select in names else 1
        self.trial_list.setCurrentRow(wanted if overview["trials"] else 0)

    def _show_analysis(self, analysis: dict[str, Any]) -> None:
        self.analysis = analysis
        for plot in (self.plot, self.overview_plot):
            for item in list(plot.getPlotItem().items):
                if item is not self.zoom_region:
                    plot.removeItem(item)
        legend = self.plot.getPlotItem().legend
        if legend is not None:
            legend.clear()
        for i, (name, (t_s, fz, side)) in enumerate(analysis["curves"].items()):
            pen = pg.mkPen(side_colour(side, i), width=1, style=side_pen_style(side))
            label = name if side in (None, name) else f"{name} ({side})"
            self.plot.plot(t_s, fz, pen=pen, name=label, connect="finite")
            self.overview_plot.plot(t_s, fz, pen=pen, connect="finite")
        for m in analysis.get("markers", []):
            self._vline(m["t_s"], m["label"], MARKER_COLOUR, Qt.SolidLine)
        for e in analysis.get("events", []):
            self._vline(e["t_s"], e["label"], EVENT_COLOUR, Qt.DotLine)
        t0, t1 = analysis.get("interval", (0.0, 0.0))
        for plot in (self.plot, self.overview_plot):
            plot.getPlotItem().enableAutoRange(y=True)
        self.overview_plot.setXRange(t0, max(t1, t0 + 1e-3), padding=0.01)
        self.zoom_region.setBounds((t0, max(t1, t0 + 1e-3)))
        self.zoom_region.setRegion((t0, min(t1, t0 + REVIEW_ZOOM_S)))
        self._draw_mean_curves(analysis.get("stance_curves", {}), analysis.get("curve_unit", "N"))
        result = analysis.get("result") or {}
        self._stances = list(result.get("stances") or [])
        self.stance_table.set_stances(self._stances, "BW" if result.get("body_mass_kg") else "N")
        self.text.setPlainText(analysis["text"])
        for button in self.export_buttons.values():
            button.setEnabled(True)

    def _vline(self, t_s: float, label: str, colour: str, style: Qt.PenStyle) -> None:
        pen = pg.mkPen(colour, width=1, style=style)
        self.plot.addItem(pg.InfiniteLine(
            pos=t_s, angle=90, pen=pen, movable=False, label=label,
            labelOpts={"position": 0.92, "color": colour, "fill": (255, 255, 255, 200)},
        ))
        self.overview_plot.addItem(pg.InfiniteLine(pos=t_s, angle=90, pen=pen, movable=False))

    def _draw_mean_curves(
        self, curves: dict[str, tuple[np.ndarray, np.ndarray]], unit: str
    ) -> None:
        item = self.mean_plot.getPlotItem()
        item.clear()
        if item.legend is not None:
            item.legend.clear()
        item.setLabel("left", "Vertical force", units=None if unit == "BW" else "N")
        if unit == "BW":
            item.setLabel("left", "Vertical force (BW)")
        pct = np.linspace(0.0, 100.0, 101)
        for i, (side, (mean, sd)) in enumerate(sorted(curves.items())):
            colour = side_colour(side if side in ("left", "right") else None, i)
            upper = pg.PlotDataItem(pct, mean + sd, pen=pg.mkPen(None))
            lower = pg.PlotDataItem(pct, mean - sd, pen=pg.mkPen(None))
            band = pg.FillBetweenItem(upper, lower, brush=pg.mkBrush(*colour, 60))
            item.addItem(band)
            item.plot(pct, mean, pen=pg.mkPen(colour, width=2, style=side_pen_style(side)),
                      name=f"{side} mean ± SD")

    def _region_moved(self) -> None:
        lo, hi = self.zoom_region.getRegion()
        self.plot.getPlotItem().sigXRangeChanged.disconnect(self._zoom_moved)
        try:
            self.plot.setXRange(lo, hi, padding=0)
        finally:
            self.plot.getPlotItem().sigXRangeChanged.connect(self._zoom_moved)

    def _zoom_moved(self, _view: Any, rng: tuple[float, float]) -> None:
        self.zoom_region.blockSignals(True)
        try:
            self.zoom_region.setRegion(rng)
        finally:
            self.zoom_region.blockSignals(False)

    def zoom_range(self) -> tuple[float, float]:
        """The time span shown in the zoomed plot, s."""
        lo, hi = self.plot.getPlotItem().viewRange()[0]
        return float(lo), float(hi)

    def show_stance(self, index: int) -> None:
        """Zoom to stance ``index`` of the analysis (a row of the stride table)."""
        if not 0 <= index < len(self._stances):
            return
        st = self._stances[index]
        pad = 0.25 * (float(st["end_s"]) - float(st["start_s"]))
        self.zoom_region.setRegion((float(st["start_s"]) - pad, float(st["end_s"]) + pad))


def _force_plot(title: str) -> pg.PlotWidget:
    """A vertical-force plot over session time that draws long trials with pyqtgraph's own
    peak downsampling and clip-to-view (so the whole trial is there, only the screen is
    reduced)."""
    plot = pg.PlotWidget(background="w")
    item = plot.getPlotItem()
    item.setLabel("left", "Vertical force", units="N")
    item.setLabel("bottom", "Session time", units="s")
    item.showGrid(x=True, y=True, alpha=0.3)
    item.setDownsampling(auto=True, mode="peak")
    item.setClipToView(True)
    item.hideButtons()
    if title:
        item.setTitle(title, size="8pt")
    return plot


def _as_dict(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    if hasattr(obj, "__dict__"):
        return dict(vars(obj))
    return {"name": str(obj)}


class _opened:
    """Context manager that closes a SessionFile if it has ``close``."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def __enter__(self) -> Any:
        return self.session

    def __exit__(self, *exc: object) -> None:
        close = getattr(self.session, "close", None)
        if close is not None:
            close()
