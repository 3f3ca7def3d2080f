"""The console's *Live* tab and its refreshers.

:class:`LiveTab` is a part of :class:`~forcelab.console.window.ConsoleWindow`: it builds the tab
(scrolling force, insole maps, trial figures, stride bars, asymmetry), redraws the plot from the
ring buffer (~33 Hz timer) and reads the status snapshot and the event queue (5 Hz timer).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from forcelab.console.backend import Snapshot
from forcelab.console.widgets import (
    AsymmetryReadout,
    FigureGrid,
    InsoleMap,
    LiveForcePlot,
    StrideBars,
)

#: Redraw period of the live plot, ms (a precise timer: ~33 redraws/s, so that at least 30 are
#: drawn per second with the timer's jitter and the status refresh in between).
PLOT_INTERVAL_MS = 30
STATUS_INTERVAL_MS = 200
#: Warnings that need the operator's action, shown in the banner (event kind -> banner kind).
BANNER_WARNINGS = {"tare_loaded": "tare"}
#: The insole pressure maps and COP traces are redrawn at most this often, s.
INSOLE_INTERVAL_S = 0.1
#: Total vertical force that starts an armed trial (someone stepped on), N.
AUTO_START_N = 200.0
DEVICE_COLUMNS = ("Device", "Side", "State", "Hz", "Lost", "Err")
FIGURES = ("Trial", "Markers", "Cadence", "Stances", "Contact L", "Contact R", "Elapsed",
           "File size")
FIGURE_TIPS = {
    "Trial": "The trial being recorded (● = recording)",
    "Markers": "Markers placed in this trial",
    "Cadence": "Steps per minute over the recent stances",
    "Stances": "Completed stances in this trial (both feet)",
    "Contact L": "Mean contact time of the left foot, ms",
    "Contact R": "Mean contact time of the right foot, ms",
    "Elapsed": "Time since this trial's Start (mm:ss)",
    "File size": "Size of the session file on disk",
}


def format_bytes(n: float | None) -> str:
    """Human-readable size: ``"1.4 MB"``."""
    if n is None or not math.isfinite(n):
        return "—"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} GB"


def format_elapsed(seconds: float | None) -> str:
    """``"mm:ss"`` (or ``"h:mm:ss"``) for an elapsed time in s."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"



def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


class LiveTab:
    """The Live tab of the console window (a part of :class:`ConsoleWindow`)."""

    def _build_live_tab(self) -> QWidget:
        tab = QWidget()
        lay = QVBoxLayout(tab)
        lay.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.auto_scale = QCheckBox("&Auto scale")
        self.auto_scale.setChecked(True)
        self.auto_scale.setToolTip("Fit the force axis to the data; untick for a fixed scale")
        self.fixed_max = QDoubleSpinBox()
        self.fixed_max.setRange(0.1, 20000.0)
        self.fixed_max.setDecimals(1)
        self.fixed_max.setValue(3000.0)
        self.fixed_max.setToolTip("Top of the fixed force scale (in the unit shown)")
        self.fixed_max.setEnabled(False)
        self.unit_combo = QComboBox()
        self.unit_combo.addItems(["N", "BW"])
        self.unit_combo.setToolTip(
            "Force in newtons or in body weights (BW needs the athlete's body mass)"
        )
        unit_label = QLabel("&Unit")
        unit_label.setBuddy(self.unit_combo)
        self.auto_scale.toggled.connect(self._scale_changed)
        self.fixed_max.valueChanged.connect(self._scale_changed)
        self.unit_combo.currentTextChanged.connect(self._scale_changed)
        row.addWidget(self.auto_scale)
        row.addWidget(QLabel("max"))
        row.addWidget(self.fixed_max)
        row.addSpacing(12)
        row.addWidget(unit_label)
        row.addWidget(self.unit_combo)
        row.addStretch(1)
        lay.addLayout(row)
        split = QSplitter(Qt.Vertical)
        split.setChildrenCollapsible(False)
        top = QWidget()
        tlay = QHBoxLayout(top)
        tlay.setContentsMargins(0, 0, 0, 0)
        self.force_plot = LiveForcePlot(window_s=10.0)
        tlay.addWidget(self.force_plot, 3)
        self.insole_map = InsoleMap()
        self.insole_map.setVisible(False)
        tlay.addWidget(self.insole_map, 1)
        split.addWidget(top)
        middle = QWidget()
        mlay = QVBoxLayout(middle)
        mlay.setContentsMargins(0, 0, 0, 0)
        self.figures = FigureGrid(FIGURES, columns=4, tooltips=FIGURE_TIPS)
        mlay.addWidget(self.figures)
        bottom = QHBoxLayout()
        self.stride_bars = StrideBars()
        bottom.addWidget(self.stride_bars, 3)
        self.asymmetry = AsymmetryReadout()
        self.asymmetry.setMinimumWidth(240)
        self.asymmetry.setMaximumWidth(420)
        bottom.addWidget(self.asymmetry, 2)
        mlay.addLayout(bottom, 1)
        split.addWidget(middle)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([3000, 2000])
        lay.addWidget(split, 1)
        return tab


    def _scale_changed(self, *_: Any) -> None:
        self.fixed_max.setEnabled(not self.auto_scale.isChecked())
        unit = self.unit_combo.currentText()
        if unit == "BW" and not self.body_mass_kg():
            self.unit_combo.setCurrentText("N")
            self.show_error("Showing force in BW needs the athlete's body mass: weigh or type it.")
            return
        self.force_plot.set_unit(unit, self.body_mass_kg())
        self.force_plot.set_fixed_max(None if self.auto_scale.isChecked()
                                      else self.fixed_max.value())

    # ------------------------------------------------------------------ refresh
    def refresh_plot(self) -> None:
        """Redraw the force plot from a ring-buffer peek (~33 Hz timer); run the countdown of a
        fixed-duration trial and the auto start."""
        if not self.backend.is_connected:
            return
        self.feedback_panel.poll()  # also the cues of the last stances, issued at the stop
        data = self.backend.peek(self.force_plot.window_s)
        if data:
            self.force_plot.update_data(data, self.backend.stream_sides())
            if self._weighing:
                self._update_stillness(data)
            if self._armed and not self.jobs.busy:
                latest = [fz[-1] for _t, fz in data.values() if fz.size]
                if latest and np.nansum(latest) > AUTO_START_N:
                    self.log("athlete on: starting")
                    self.start_recording()
        now = time.monotonic()
        if now - self._insoles_drawn >= INSOLE_INTERVAL_S:  # a pressure map needs no 30 Hz
            self._insoles_drawn = now
            insoles = self.backend.peek_insoles()
            self.insole_map.setVisible(bool(insoles))
            if insoles:
                self.insole_map.update_data(insoles)
        if self._trial_end is not None and self.backend.is_recording:
            left = self._trial_end - time.monotonic()
            self.countdown_label.setText(f"{max(0.0, left):.0f} s")
            if left <= 0 and not self.jobs.busy:
                self._trial_end = None
                QApplication.beep()
                self.log("fixed duration reached")
                self.stop_recording()

    def _update_stillness(self, data: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """The light judges the last second with forcelab's one stillness criterion (the one
        the weighing applies), and says when nobody stands on the sensors."""
        from forcelab.acquisition.weighing import MIN_WEIGHT_N, is_still, sway

        totals = []
        for t_s, fz in data.values():
            if len(t_s) < 2:
                return
            totals.append(fz[t_s >= t_s[-1] - 1.0])
        n = min(len(x) for x in totals)
        total = np.sum([x[-n:] for x in totals], axis=0)
        sd_n, range_n = sway(total)
        detail = f"(SD {sd_n:.0f} N, range {range_n:.0f} N)"
        if not np.nanmean(total) > MIN_WEIGHT_N:
            self.stillness.set_state("moving", "(nobody on the sensors)",
                                     tip="Step on the plates and stand still")
        elif is_still(sd_n, range_n):
            self.stillness.set_state("still", detail)
        else:
            self.stillness.set_state("moving", detail, tip="Ask the athlete to stand still")

    def refresh_status(self) -> None:
        """Read the status snapshot and drain the event queue (5 Hz timer)."""
        for event in self.backend.pop_events():
            text = event.get("message") or event.get("kind", "event")
            if event.get("kind") in BANNER_WARNINGS:
                self.show_error(text, kind=BANNER_WARNINGS[event["kind"]])
            elif event.get("severity") == "error":
                kind = "connection" if event.get("kind") == "connection_lost" else "error"
                self.show_error(text, kind=kind)
            else:
                self.log(text)
        snap = self.backend.snapshot()
        self.last_snapshot = snap
        if not any(d.get("state") != "streaming" for d in snap.devices):
            self._clear_banner("connection")  # every device streams again (replugged)
        self.state_label.setText(
            f"State: {snap.state}" + (f" — {snap.error}" if snap.error else "")
        )
        state = snap.state
        if state == "recording" and not self.backend.is_recording:
            state = "session file open, between trials"
        self.statusBar().showMessage(
            f"{state}  ·  {len(snap.devices)} device(s)"
            + (f"  ·  {snap.session_path}" if snap.session_path else "")
        )
        self._fill_device_table(snap)
        unit = "BW" if snap.unit == "BW" else "N"
        self.asymmetry.set_values(
            snap.si_pct, snap.left_mean, snap.right_mean, snap.left_n, snap.right_n, unit,
            noise=snap.si_noise,
        )
        self.stride_bars.set_stances(snap.stances, unit)
        self.figures.set(
            "Cadence", f"{snap.cadence_spm:.0f} spm" if _finite(snap.cadence_spm) else "—"
        )
        for side, key in (("left", "Contact L"), ("right", "Contact R")):
            ct = snap.contact_time_s.get(side)
            self.figures.set(key, f"{ct * 1000:.0f} ms" if _finite(ct) else "—")
        self.figures.set("Stances", str(snap.n_stances))
        self.figures.set("Trial", f"● {snap.trial}" if snap.trial else "—")
        self.figures.set("Markers", str(snap.n_markers) if snap.trial else "—")
        self.figures.set("Elapsed", format_elapsed(snap.elapsed_s))
        self.figures.set("File size", format_bytes(snap.file_size_bytes))
        self._update_controls()

    def _fill_device_table(self, snap: Snapshot) -> None:
        table = self.device_table
        table.setRowCount(len(snap.devices))
        for row, dev in enumerate(snap.devices):
            rate = dev.get("rate_hz")
            state = dev.get("state", "")
            values = (
                dev.get("name", ""), dev.get("side") or "—",
                ("⚠ " + state) if state != "streaming" else state,
                f"{rate:.0f}" if rate is not None else "—", str(dev.get("dropped", 0)),
                str(dev.get("errors", 0)),
            )
            tips = (
                f"{dev.get('model', '')} {dev.get('serial', '')}: "
                f"{dev.get('samples', 0)} samples received"
                + (f"; {dev['error']}" if dev.get("error") else ""),
                "Which foot this device measures",
                "streaming, or lost / error (the banner says what to do)",
                "Samples per second measured over the last second (— while no data arrives)",
                "Samples lost since connecting: dropped by the link or by an overloaded writer",
                "Link errors since connecting (CRC, bad lines, resyncs)",
            )
            for col, value in enumerate(values):
                item = table.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    table.setItem(row, col, item)
                if item.text() != value:
                    item.setText(value)
                item.setToolTip(tips[col])
                if col == 2:
                    item.setForeground(Qt.red if state != "streaming" else Qt.black)
