"""The Summary tab: the finished trial in readable panels.

What was recorded (per device: samples in the file, missing samples, link drops and overflow
between Start and Stop), the headline asymmetry in the analysis's own words, the per-stride
table (a row shows that stance's curve) and the full analysis text under *Details*.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from forcelab.console.widgets import (
    LEVEL_COLOURS,
    StanceTable,
    monospace_text,
    side_colour,
    side_pen_style,
)

#: Per-device figures of the recording panel: (key, title, what it is).
RECORDING_FIGURES = (
    ("samples", "Samples", "Samples of this trial in the session file"),
    ("missing", "Missing", "Samples of this trial missing in the file (gaps: unplug, link loss)"),
    ("dropped", "Link drops", "Samples the link lost between Start and Stop"),
    ("overflow", "Overflow", "Samples lost because the writer fell behind (should be 0)"),
)


class SummaryPanel(QWidget):
    """The finished trial: recording panel, asymmetry panel, stride table, stance curve."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary: dict[str, Any] | None = None
        self._stances: list[dict[str, Any]] = []
        self.figure_labels: dict[tuple[str, str], QLabel] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("The summary of a trial appears here when it stops.")
        font = self.title.font()
        font.setPointSize(font.pointSize() + 3)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        lay.addWidget(self.title)
        self.file_label = QLabel("")
        self.file_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.file_label.setWordWrap(True)
        lay.addWidget(self.file_label)
        self.coach = QLabel("")
        self.coach.setWordWrap(True)
        self.coach.setFrameShape(QFrame.StyledPanel)
        self.coach.setToolTip("Left/right asymmetry of the trial with its 95 % confidence interval")
        self.coach.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Maximum)
        cfont = self.coach.font()
        cfont.setPointSize(cfont.pointSize() + 1)
        self.coach.setFont(cfont)
        lay.addWidget(self.coach)
        self.recording = QFrame()
        self.recording.setFrameShape(QFrame.StyledPanel)
        self.recording.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Maximum)
        self.recording_grid = QGridLayout(self.recording)
        self.recording_grid.setContentsMargins(6, 2, 6, 2)
        self.recording_grid.setVerticalSpacing(0)
        lay.addWidget(self.recording)
        self.tabs = QTabWidget()
        strides = QSplitter(Qt.Horizontal)
        self.stance_table = StanceTable()
        self.stance_table.stance_chosen.connect(self.show_stance)
        strides.addWidget(self.stance_table)
        self.stance_plot = pg.PlotWidget(background="w")
        item = self.stance_plot.getPlotItem()
        item.setLabel("left", "Vertical force", units="N")
        item.setLabel("bottom", "Time in stance", units="s")
        item.showGrid(x=True, y=True, alpha=0.3)
        self.stance_plot.setToolTip("The stance picked in the table")
        self.stance_plot.setMinimumWidth(150)
        strides.addWidget(self.stance_plot)
        strides.setStretchFactor(0, 3)
        strides.setStretchFactor(1, 1)
        strides.setSizes([3000, 1000])
        self.tabs.addTab(strides, "Strides")
        self.details = monospace_text()
        self.tabs.addTab(self.details, "Details")
        lay.addWidget(self.tabs, 1)
        lay.setStretch(lay.indexOf(self.tabs), 1)

    def show_pending(self, name: str) -> None:
        """Say that ``name`` is being analysed."""
        self.title.setText(f"Analysing {name}…")

    def show_error(self, message: str) -> None:
        """Show why there is no summary."""
        self.title.setText(message)

    def show_summary(self, summary: dict[str, Any]) -> None:
        """Fill the panels from :meth:`ConsoleBackend.summarise_trial`."""
        self.summary = summary
        tags = summary.get("tags") or []
        self.title.setText(f"Trial: {summary.get('name')}" + (f"  [{', '.join(tags)}]"
                                                              if tags else ""))
        self.file_label.setText(f"File: {summary.get('path')}")
        coach = list(summary.get("coach") or [])
        lines = [text for text, _level in coach]
        if summary.get("error"):
            lines.append(f"⚠ during recording: {summary['error']}")
        self.coach.setText("\n".join(lines) or "No asymmetry: " + str(summary.get("text", ""))
                           .splitlines()[0])
        # coloured by the headline's level: never for a difference inside the noise
        self.coach_level = coach[0][1] if coach else "na"
        self.coach.setStyleSheet(f"color: {LEVEL_COLOURS[self.coach_level]};")
        self._fill_recording(summary.get("streams") or {})
        result = summary.get("result") or {}
        self._stances = list(result.get("stances") or [])
        self.stance_table.set_stances(self._stances, "BW" if result.get("body_mass_kg") else "N")
        self.details.setPlainText(str(summary.get("text", "")))
        self.stance_plot.clear()
        if self._stances:
            self.stance_table.selectRow(0)
            self.show_stance(0)

    def _fill_recording(self, streams: dict[str, dict[str, int]]) -> None:
        grid = self.recording_grid
        while grid.count():
            widget = grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        for col, (_key, title, tip) in enumerate(RECORDING_FIGURES, start=1):
            label = QLabel(f"<b>{title}</b>")
            label.setToolTip(tip)
            grid.addWidget(label, 0, col)
        self.figure_labels = {}
        for row, (name, figures) in enumerate(streams.items(), start=1):
            grid.addWidget(QLabel(name), row, 0)
            for col, (key, _title, tip) in enumerate(RECORDING_FIGURES, start=1):
                value = int(figures.get(key, 0))
                label = QLabel(f"{value:,}")
                label.setToolTip(f"{name}: {tip}")
                if key != "samples" and value:
                    label.setText(f"⚠ {value:,}")
                    label.setStyleSheet("color: #c62828;")
                grid.addWidget(label, row, col, Qt.AlignRight)
                self.figure_labels[(name, key)] = label

    def figure(self, stream: str, key: str) -> str:
        """The text shown for ``key`` ("samples", "missing", ...) of ``stream``."""
        return self.figure_labels[(stream, key)].text()

    def show_stance(self, index: int) -> None:
        """Draw stance ``index`` of the table from the trial's force."""
        if self.summary is None or not 0 <= index < len(self._stances):
            return
        st = self._stances[index]
        curves = self.summary.get("curves") or {}
        if st.get("stream") not in curves:
            return
        t_s, fz, side = curves[st["stream"]]
        keep = (t_s >= st["start_s"]) & (t_s <= st["end_s"])
        self.stance_plot.clear()
        self.stance_plot.plot(
            t_s[keep] - st["start_s"], np.asarray(fz)[keep], connect="finite",
            pen=pg.mkPen(side_colour(side), width=2, style=side_pen_style(side)),
        )
        self.stance_plot.getPlotItem().setTitle(
            f"Stance {index + 1} ({st.get('side') or st.get('stream')})", size="9pt")
