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
from PyQt5.QtGui import QFont
from PyQt5.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from forcelab.console.exports import available_exports, run_export
from forcelab.console.jobs import JobRunner
from forcelab.console.widgets import side_colour

MAX_PLOT_POINTS = 20000


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
        ``{"trial", "text" (format_text()), "result" (AnalysisResult.to_dict()),
        "curves": {stream: (t_s, fz_n, side)}}``; curves are decimated by peak-preserving
        min/max pairs to at most ~20,000 points for plotting.
    """
    from forcelab.analysis import analyze_recording
    from forcelab.errors import AnalysisError
    from forcelab.store import read_recording

    recording = read_recording(path, trial=trial)
    options: dict[str, Any] = {}
    if body_mass_kg is not None and recording.body_mass_kg is None:
        options["body_mass_kg"] = body_mass_kg
    curves = {}
    for stream in recording.streams:
        t_s, fz = decimate_minmax(stream.time_s(), stream.fz, MAX_PLOT_POINTS)
        curves[stream.name] = (t_s, fz, stream.side)
    try:
        result = analyze_recording(recording, options or None)
    except AnalysisError as exc:
        return {"trial": trial, "text": f"No analysis: {exc}", "result": None, "curves": curves}
    return {"trial": trial, "text": result.format_text(), "result": result.to_dict(),
            "curves": curves}


def decimate_minmax(t_s: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, ...]:
    """Keep the min and max of each bucket so peaks survive plotting (no per-sample loop)."""
    n = len(y)
    if n <= max_points:
        return np.asarray(t_s), np.asarray(y)
    buckets = max_points // 2
    size = n // buckets
    m = buckets * size
    yb = np.asarray(y[:m]).reshape(buckets, size)
    tb = np.asarray(t_s[:m]).reshape(buckets, size)
    with np.errstate(invalid="ignore"):
        lo = np.nanargmin(np.where(np.isnan(yb), np.inf, yb), axis=1)
        hi = np.nanargmax(np.where(np.isnan(yb), -np.inf, yb), axis=1)
    first = np.minimum(lo, hi)
    second = np.maximum(lo, hi)
    rows = np.arange(buckets)
    t_out = np.column_stack([tb[rows, first], tb[rows, second]]).ravel()
    y_out = np.column_stack([yb[rows, first], yb[rows, second]]).ravel()
    return t_out, y_out


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
        lay = QVBoxLayout(self)
        top = QHBoxLayout()
        self.open_button = QPushButton("Open session file… (Ctrl+O)")
        self.open_button.clicked.connect(self._browse)
        self.file_label = QLabel("No file open")
        self.file_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
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
        llay.addWidget(QLabel("Trials"))
        self.trial_list = QListWidget()
        self.trial_list.currentItemChanged.connect(self._trial_selected)
        llay.addWidget(self.trial_list, 1)
        self.export_row = QVBoxLayout()
        llay.addLayout(self.export_row)
        self.export_buttons: dict[str, QPushButton] = {}
        for fmt, label in available_exports().items():
            button = QPushButton(f"Export {label}…")
            button.clicked.connect(lambda _=False, f=fmt: self.export(f))
            button.setEnabled(False)
            self.export_row.addWidget(button)
            self.export_buttons[fmt] = button
        left.setMinimumWidth(220)
        left.setMaximumWidth(320)
        split.addWidget(left)
        right = QSplitter(Qt.Vertical)
        self.plot = pg.PlotWidget(background="w")
        self.plot.getPlotItem().setLabel("left", "Vertical force", units="N")
        self.plot.getPlotItem().setLabel("bottom", "Session time", units="s")
        self.plot.getPlotItem().showGrid(x=True, y=True, alpha=0.3)
        self.plot.getPlotItem().addLegend(offset=(10, 5))
        right.addWidget(self.plot)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        mono = QFont("Monospace")
        mono.setStyleHint(QFont.TypeWriter)
        self.text.setFont(mono)
        right.addWidget(self.text)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        lay.addWidget(split, 1)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open session file", "", "Sessions (*.h5)")
        if path:
            self.open_file(path)

    def open_file(self, path: str) -> None:
        """Read a session file's overview in the background, then list its trials."""
        self.path = str(path)
        self.file_label.setText(f"Opening {path}…")
        self.trial_list.clear()
        self.text.clear()
        self.plot.clear()
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
        self.trial_list.setCurrentRow(1 if overview["trials"] else 0)

    def _show_analysis(self, analysis: dict[str, Any]) -> None:
        self.analysis = analysis
        self.plot.clear()
        for i, (name, (t_s, fz, side)) in enumerate(analysis["curves"].items()):
            self.plot.plot(t_s, fz, pen=pg.mkPen(side_colour(side, i), width=1), name=name,
                           connect="finite")
        self.text.setPlainText(analysis["text"])
        for button in self.export_buttons.values():
            button.setEnabled(True)


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
