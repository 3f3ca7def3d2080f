"""The operator console's main window.

Layout (usable from 1024×640, fits 1366×768): on the left a scrollable column (devices, athlete,
trial form) above an always-visible action panel (Start/Stop, markers, New session, the log);
on the right tabs: *Live* (scrolling force, insole maps, trial figures, stride bars, asymmetry),
*Summary* (the finished trial in panels, with the per-stride table), *Review* (a session file:
overview and zoom, markers and events, strides, mean curves, exports) and *History* (the
athlete's sessions and asymmetry trend).

One session file holds many trials: Start/Stop make trials in it, *New session* finalises it.

The window never waits on the acquisition: a ~33 Hz timer peeks at the controller's ring buffer
for the plot, a 5 Hz timer reads the status snapshot and drains the event queue, and slow
operations (connect, tare, weigh, stop, analysis) run on a
:class:`~forcelab.console.jobs.JobRunner`.

Shortcuts (every action has one; the Session and View menus list them): F5 / Ctrl+R start or stop
a trial, F9 / Ctrl+M marker (then type its name, Enter), Ctrl+N new session file, Ctrl+T tare,
Ctrl+G weigh, Ctrl+K / Ctrl+Shift+K connect / disconnect, Ctrl+O open a session file for review,
Ctrl+1…4 tabs, Esc dismiss the banner, Ctrl+Q quit.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from PyQt5.QtCore import Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QCloseEvent, QKeySequence
from PyQt5.QtWidgets import (
    QAction,
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from forcelab.console.athletes import Athlete, AthleteStore
from forcelab.console.backend import ConsoleBackend, Snapshot
from forcelab.console.history import HistoryPanel
from forcelab.console.jobs import JobRunner
from forcelab.console.review import ReviewPanel
from forcelab.console.settings import ConsoleSettings
from forcelab.console.summary import SummaryPanel
from forcelab.console.widgets import (
    AsymmetryReadout,
    FigureGrid,
    InsoleMap,
    LiveForcePlot,
    StillnessIndicator,
    StrideBars,
)
from forcelab.errors import FileFormatError, ForcelabError, InputError

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
#: A marker not named within this time after F9 is placed with the name in the field, ms.
MARKER_NAME_MS = 6000
MARKER_PRESETS = ("warm-up end", "speed change", "fatigue", "pain", "shoe change", "incline")
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


def parse_tags(text: str) -> list[str]:
    """Tags typed as ``"12 km/h, barefoot"`` -> ``["12 km/h", "barefoot"]`` (comma separated)."""
    return [t.strip() for t in text.split(",") if t.strip()]


class AthleteDialog(QDialog):
    """Create or edit an athlete (name, id, body mass, notes)."""

    def __init__(self, athlete: Athlete | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit athlete" if athlete else "New athlete")
        form = QFormLayout(self)
        self.name = QLineEdit(athlete.name if athlete else "")
        self.athlete_id = QLineEdit(athlete.athlete_id if athlete else "")
        self.mass = QDoubleSpinBox()
        self.mass.setRange(0.0, 500.0)
        self.mass.setDecimals(1)
        self.mass.setSuffix(" kg")
        self.mass.setSpecialValueText("unknown")
        self.mass.setValue(athlete.body_mass_kg or 0.0 if athlete else 0.0)
        self.notes = QLineEdit(athlete.notes if athlete else "")
        form.addRow("Name", self.name)
        form.addRow("ID", self.athlete_id)
        form.addRow("Body mass", self.mass)
        form.addRow("Notes", self.notes)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #c62828;")
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.result_athlete: Athlete | None = None

    def _accept(self) -> None:
        try:
            self.result_athlete = Athlete(
                name=self.name.text(),
                athlete_id=self.athlete_id.text(),
                body_mass_kg=self.mass.value() or None,
                notes=self.notes.text(),
            )
        except InputError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


class ConsoleWindow(QMainWindow):
    """The operator console.

    Parameters
    ----------
    backend : ConsoleBackend or None
        The acquisition backend; a new one (on the real SessionController) by default.
    settings : ConsoleSettings or None
        Persistent settings; the user's configuration folder by default.
    devices : list of str
        Device strings to put in the device field (e.g. from ``--device``).
    autoconnect : bool
        Connect ``devices`` at once.
    """

    error_shown = pyqtSignal(str)

    def __init__(
        self,
        backend: ConsoleBackend | None = None,
        settings: ConsoleSettings | None = None,
        devices: list[str] | None = None,
        autoconnect: bool = False,
    ) -> None:
        super().__init__()
        self.settings = settings or ConsoleSettings()
        self.backend = backend or ConsoleBackend()
        self.jobs = JobRunner(self)
        self.jobs.finished.connect(self._job_finished)
        self.athletes = AthleteStore(self.settings.folder / "athletes.json")
        self.last_snapshot: Snapshot | None = None
        self.last_error: str = ""
        self.last_summary: str = ""
        self.last_trial: dict[str, Any] | None = None
        self.session_path: str | None = None
        self._closing = False
        self._close_confirmed = False
        self._close_failed = False
        self._closed = False
        self._weighing = False
        self._armed = False
        self._insoles_drawn = 0.0
        self._trial_end: float | None = None
        self.weighed: dict[str, Any] | None = None
        self._pending_marker_t: float | None = None
        self.banner_kind = ""
        self._marker_timer = QTimer(self)
        self._marker_timer.setSingleShot(True)
        self._marker_timer.setInterval(MARKER_NAME_MS)
        self._marker_timer.timeout.connect(self.commit_marker)
        self.setWindowTitle("forcelab console")
        self.setMinimumSize(1024, 640)
        self._build_ui()
        self._build_actions()
        self._load_athletes()
        self._fill_devices(devices or [])
        self._restore_geometry()
        self.plot_timer = QTimer(self)
        self.plot_timer.setTimerType(Qt.PreciseTimer)
        self.plot_timer.setInterval(PLOT_INTERVAL_MS)
        self.plot_timer.timeout.connect(self.refresh_plot)
        self.plot_timer.start()
        self.status_timer = QTimer(self)
        self.status_timer.setInterval(STATUS_INTERVAL_MS)
        self.status_timer.timeout.connect(self.refresh_status)
        self.status_timer.start()
        self._update_controls()
        if autoconnect and devices:
            QTimer.singleShot(0, self.connect_devices)

    # ------------------------------------------------------------------ UI construction
    def _build_ui(self) -> None:
        central = QSplitter(Qt.Horizontal)
        central.setChildrenCollapsible(False)
        self.setCentralWidget(central)

        controls = QWidget()
        col = QVBoxLayout(controls)
        col.setContentsMargins(4, 4, 4, 4)
        col.addWidget(self._build_devices_box())
        col.addWidget(self._build_athlete_box())
        col.addWidget(self._build_trial_box())
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        for combo in (self.device_combo, self.athlete_combo):
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        width = controls.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(max(400, width + 6))
        scroll.setMaximumWidth(max(480, width + 6))
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        column = QWidget()
        clay = QVBoxLayout(column)
        clay.setContentsMargins(0, 0, 0, 0)
        clay.setSpacing(2)
        clay.addWidget(scroll, 1)
        clay.addWidget(self._build_action_panel())
        column.setMinimumWidth(scroll.minimumWidth())
        column.setMaximumWidth(scroll.maximumWidth())
        central.addWidget(column)

        right = QWidget()
        rlay = QVBoxLayout(right)
        rlay.setContentsMargins(0, 0, 0, 0)
        self.error_banner = QWidget()
        blay = QHBoxLayout(self.error_banner)
        blay.setContentsMargins(8, 4, 8, 4)
        self.error_banner.setStyleSheet("background: #ffebee; border: 1px solid #c62828;")
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b71c1c; font-weight: bold; border: none;")
        self.error_dismiss = QPushButton("Dismiss")
        self.error_dismiss.clicked.connect(self.dismiss_error)
        blay.addWidget(self.error_label, 1)
        blay.addWidget(self.error_dismiss)
        self.error_banner.setVisible(False)
        rlay.addWidget(self.error_banner)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_live_tab(), "Live")
        self.summary = SummaryPanel()
        summary_tab = QWidget()
        slay = QVBoxLayout(summary_tab)
        slay.setContentsMargins(4, 4, 4, 4)
        slay.addWidget(self.summary, 1)
        self.review_last_button = QPushButton("Review and export this session…")
        self.review_last_button.setToolTip("Open this session file in the Review tab")
        self.review_last_button.setEnabled(False)
        self.review_last_button.clicked.connect(
            lambda: self.open_review(self.session_path or None)
        )
        slay.addWidget(self.review_last_button, 0, Qt.AlignRight)
        self.tabs.addTab(summary_tab, "Summary")
        self.review = ReviewPanel(self.jobs)
        self.review.error.connect(self.show_error)
        self.tabs.addTab(self.review, "Review")
        self.history = HistoryPanel(self.jobs)
        self.history.threshold_pct = self.settings.threshold_pct
        self.history.open_trial.connect(self.open_review)
        self.tabs.addTab(self.history, "History")
        self.tabs.currentChanged.connect(self._tab_changed)
        rlay.addWidget(self.tabs, 1)
        central.addWidget(right)
        central.setStretchFactor(0, 0)
        central.setStretchFactor(1, 1)
        self.statusBar().showMessage("Not connected")

    def _build_devices_box(self) -> QGroupBox:
        box = QGroupBox("Devices")
        lay = QVBoxLayout(box)
        row = QHBoxLayout()
        self.device_combo = QComboBox()
        self.device_combo.setEditable(True)
        self.device_combo.setToolTip(
            "A device string: sim:treadmill, sim:plate, sim:insoles, sim:diy, "
            "fpb1:///dev/ttyACM0, ins1:///dev/ttyUSB0, csv4:///dev/ttyUSB1?baud=115200. "
            "Several devices: separate them with ';'."
        )
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_device_list)
        row.addWidget(self.device_combo, 1)
        row.addWidget(self.refresh_button)
        lay.addLayout(row)
        row = QHBoxLayout()
        self.connect_button = QPushButton("Connect")
        self.connect_button.clicked.connect(self.connect_devices)
        self.disconnect_button = QPushButton("Disconnect")
        self.disconnect_button.clicked.connect(self.disconnect_devices)
        row.addWidget(self.connect_button)
        row.addWidget(self.disconnect_button)
        lay.addLayout(row)
        self.device_table = QTableWidget(0, len(DEVICE_COLUMNS))
        self.device_table.setHorizontalHeaderLabels(DEVICE_COLUMNS)
        self.device_table.verticalHeader().setVisible(False)
        self.device_table.setEditTriggers(QTableWidget.NoEditTriggers)
        header = self.device_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(28)
        self.device_table.setMinimumHeight(90)
        self.device_table.setMaximumHeight(150)
        lay.addWidget(self.device_table)
        self.state_label = QLabel("State: idle")
        self.state_label.setWordWrap(True)
        self.state_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        lay.addWidget(self.state_label)
        return box

    def _build_athlete_box(self) -> QGroupBox:
        box = QGroupBox("Athlete")
        lay = QVBoxLayout(box)
        row = QHBoxLayout()
        self.athlete_combo = QComboBox()
        self.athlete_combo.currentIndexChanged.connect(self._athlete_picked)
        self.new_athlete_button = QPushButton("New…")
        self.new_athlete_button.clicked.connect(self.new_athlete)
        self.edit_athlete_button = QPushButton("Edit…")
        self.edit_athlete_button.clicked.connect(self.edit_athlete)
        row.addWidget(self.athlete_combo, 1)
        row.addWidget(self.new_athlete_button)
        row.addWidget(self.edit_athlete_button)
        lay.addLayout(row)
        form = QFormLayout()
        self.mass_spin = QDoubleSpinBox()
        self.mass_spin.setRange(0.0, 500.0)
        self.mass_spin.setDecimals(1)
        self.mass_spin.setSuffix(" kg")
        self.mass_spin.setSpecialValueText("unknown")
        form.addRow("Body mass", self.mass_spin)
        lay.addLayout(form)
        row = QHBoxLayout()
        self.tare_button = QPushButton("Tare (Ctrl+T)")
        self.tare_button.setToolTip("Zero every device; nobody on the plates or insoles unloaded.")
        self.tare_button.clicked.connect(self.tare)
        self.weigh_button = QPushButton("Weigh (Ctrl+G)")
        self.weigh_button.setToolTip("Measure body mass: the athlete stands still on the plates.")
        self.weigh_button.clicked.connect(self.weigh)
        row.addWidget(self.tare_button)
        row.addWidget(self.weigh_button)
        lay.addLayout(row)
        self.save_mass_button = QPushButton("Save to athlete")
        self.save_mass_button.setToolTip(
            "Store the weighed body mass in the athlete's record (the list keeps the old value "
            "until you do)"
        )
        self.save_mass_button.clicked.connect(self.save_weighed_mass)
        self.save_mass_button.setVisible(False)
        lay.addWidget(self.save_mass_button)
        row = QHBoxLayout()
        row.addWidget(QLabel("Stillness:"))
        self.stillness = StillnessIndicator()
        row.addWidget(self.stillness, 1)
        lay.addLayout(row)
        return box

    def _build_trial_box(self) -> QGroupBox:
        box = QGroupBox("Trial")
        form = QFormLayout(box)
        self.trial_name = QLineEdit()
        self.trial_name.setPlaceholderText("trial 1")
        self.trial_tags = QLineEdit()
        self.trial_tags.setPlaceholderText("12 km/h, barefoot")
        self.operator_edit = QLineEdit(self.settings.operator)
        self.operator_edit.setPlaceholderText("who runs the session")
        self.operator_edit.editingFinished.connect(
            lambda: setattr(self.settings, "operator", self.operator_edit.text().strip())
        )
        self.trial_speed = QDoubleSpinBox()
        self.trial_speed.setRange(0.0, 15.0)
        self.trial_speed.setDecimals(2)
        self.trial_speed.setSingleStep(0.1)
        self.trial_speed.setSuffix(" m/s")
        self.trial_speed.setSpecialValueText("—")
        self.trial_speed.setToolTip("Treadmill or running speed of the trial, m/s (— = not given)")
        self.trial_shoe = QLineEdit()
        self.trial_shoe.setPlaceholderText("shoe model or barefoot")
        self.trial_notes = QLineEdit()
        self.trial_notes.setPlaceholderText("anything worth keeping with the trial")
        self.trial_duration = QDoubleSpinBox()
        self.trial_duration.setRange(0.0, 3600.0)
        self.trial_duration.setDecimals(0)
        self.trial_duration.setSuffix(" s")
        self.trial_duration.setSpecialValueText("until Stop")
        self.trial_duration.setToolTip(
            "Fixed-duration trials stop by themselves after this time (a beep marks start and "
            "stop); 'until Stop' records until you press Stop"
        )
        self.auto_start = QCheckBox("Start when the athlete steps on")
        self.auto_start.setToolTip(
            "Armed after Start is pressed with this ticked: the trial begins when the force "
            f"rises above {AUTO_START_N:.0f} N"
        )
        self.trial_name.setToolTip("Name of the next trial (unique in the session file)")
        self.trial_tags.setToolTip("Comma-separated tags, e.g. 12 km/h, barefoot")
        self.operator_edit.setToolTip("Who runs the session; stored in the session file")
        for label, widget in (("&Name", self.trial_name), ("T&ags", self.trial_tags),
                              ("S&peed", self.trial_speed), ("S&hoe", self.trial_shoe),
                              ("N&otes", self.trial_notes), ("&Duration", self.trial_duration)):
            form.addRow(label, widget)
        form.addRow(self.auto_start)
        form.addRow("O&perator", self.operator_edit)
        row = QHBoxLayout()
        self.output_edit = QLineEdit(str(self.settings.output_dir))
        self.output_edit.setToolTip("Folder where the session file is created (never overwritten).")
        browse = QPushButton("…")
        browse.setToolTip("Pick the session folder")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._browse_output)
        row.addWidget(self.output_edit, 1)
        row.addWidget(browse)
        form.addRow("&Folder", row)
        self.session_label = QLabel("no session file yet")
        self.session_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.session_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        form.addRow("File", self.session_label)
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setRange(0.5, 100.0)
        self.threshold_spin.setDecimals(1)
        self.threshold_spin.setSuffix(" %")
        self.threshold_spin.setValue(self.settings.threshold_pct)
        self.threshold_spin.setToolTip("The live asymmetry turns red at or above this |SI|")
        self.threshold_spin.valueChanged.connect(self._threshold_changed)
        form.addRow("SI &warning at", self.threshold_spin)
        return box

    def _build_action_panel(self) -> QWidget:
        """Start/Stop, markers, new session and the log: always visible, whatever the height."""
        panel = QWidget()
        lay = QVBoxLayout(panel)
        lay.setContentsMargins(4, 0, 4, 4)
        lay.setSpacing(3)
        row = QHBoxLayout()
        self.record_button = QPushButton("Start (F5)")
        self.record_button.setMinimumHeight(34)
        self.record_button.setToolTip("Start a trial in the session file, or stop the running one")
        self.record_button.clicked.connect(self.toggle_recording)
        self.countdown_label = QLabel("")
        self.countdown_label.setToolTip("Time left in a fixed-duration trial")
        self.new_session_button = QPushButton("New session")
        self.new_session_button.setToolTip(
            "Finalise this session file; the next Start creates a new one (Ctrl+N)"
        )
        self.new_session_button.clicked.connect(self.new_session)
        row.addWidget(self.record_button, 2)
        row.addWidget(self.countdown_label)
        row.addWidget(self.new_session_button, 1)
        lay.addLayout(row)
        row = QHBoxLayout()
        self.marker_name = QComboBox()
        self.marker_name.setEditable(True)
        self.marker_name.setInsertPolicy(QComboBox.NoInsert)
        self.marker_name.addItems(MARKER_PRESETS)
        self.marker_name.setCurrentText("")
        self.marker_name.lineEdit().setPlaceholderText("marker name (F9, type, Enter)")
        self.marker_name.setToolTip(
            "F9 marks the moment; type a name (or pick a preset) and press Enter. "
            "Empty: M1, M2, ..."
        )
        self.marker_name.lineEdit().returnPressed.connect(self.commit_marker)
        self.marker_button = QPushButton("Marker (F9)")
        self.marker_button.setToolTip("Mark this moment of the trial (F9)")
        self.marker_button.clicked.connect(self.add_marker)
        row.addWidget(self.marker_name, 2)
        row.addWidget(self.marker_button, 1)
        lay.addLayout(row)
        self.log_list = QListWidget()
        self.log_list.setWordWrap(True)
        self.log_list.setTextElideMode(Qt.ElideNone)
        self.log_list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.log_list.setMinimumHeight(70)
        self.log_list.setMaximumHeight(120)
        self.log_list.setToolTip("What happened, newest at the bottom")
        lay.addWidget(self.log_list)
        return panel

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
        self.asymmetry = AsymmetryReadout(self.settings.threshold_pct)
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

    def _build_actions(self) -> None:
        def action(text: str, keys: list[str], slot: Any) -> QAction:
            act = QAction(text, self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.WindowShortcut)
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.start_stop_action = action("Start/stop trial", ["F5", "Ctrl+R"], self.toggle_recording)
        self.marker_action = action("Add marker", ["F9", "Ctrl+M"], self.add_marker)
        self.new_session_action = action("New session file", ["Ctrl+N"], self.new_session)
        self.tare_action = action("Tare", ["Ctrl+T"], self.tare)
        self.weigh_action = action("Weigh", ["Ctrl+G"], self.weigh)
        self.connect_action = action("Connect devices", ["Ctrl+K"], self.connect_devices)
        self.disconnect_action = action("Disconnect devices", ["Ctrl+Shift+K"],
                                        self.disconnect_devices)
        self.refresh_action = action("Look for devices", ["Ctrl+Shift+R"],
                                     self.refresh_device_list)
        self.new_athlete_action = action("New athlete…", ["Ctrl+Shift+N"], self.new_athlete)
        self.edit_athlete_action = action("Edit athlete…", ["Ctrl+E"], self.edit_athlete)
        self.open_action = action("Open session file…", ["Ctrl+O"], self.open_review)
        self.dismiss_action = action("Dismiss message", ["Esc"], self.dismiss_error)
        self.quit_action = action("Quit", ["Ctrl+Q"], self.close)
        menu = self.menuBar().addMenu("&Session")
        for act in (self.start_stop_action, self.marker_action, self.new_session_action,
                    self.tare_action, self.weigh_action, self.connect_action,
                    self.disconnect_action, self.refresh_action, self.new_athlete_action,
                    self.edit_athlete_action, self.open_action, self.dismiss_action,
                    self.quit_action):
            menu.addAction(act)
        view = self.menuBar().addMenu("&View")
        self.tab_actions = []
        for i in range(self.tabs.count()):
            act = action(f"{self.tabs.tabText(i)} tab", [f"Ctrl+{i + 1}"],
                         lambda _=False, i=i: self.tabs.setCurrentIndex(i))
            view.addAction(act)
            self.tab_actions.append(act)
        for widget, keys in ((self.record_button, "F5"), (self.marker_button, "F9"),
                             (self.new_session_button, "Ctrl+N"), (self.tare_button, "Ctrl+T"),
                             (self.weigh_button, "Ctrl+G"), (self.connect_button, "Ctrl+K"),
                             (self.disconnect_button, "Ctrl+Shift+K"),
                             (self.refresh_button, "Ctrl+Shift+R"),
                             (self.new_athlete_button, "Ctrl+Shift+N"),
                             (self.edit_athlete_button, "Ctrl+E")):
            tip = widget.toolTip() or widget.text()
            if keys not in tip:
                widget.setToolTip(f"{tip} ({keys})")

    # ------------------------------------------------------------------ devices
    def _fill_devices(self, devices: list[str]) -> None:
        seen: list[str] = []
        joined = ";".join(devices)
        for d in ([joined] if joined else []) + self.settings.devices + list(
            self.backend.simulated_setups()
        ):
            if d and d not in seen:
                seen.append(d)
        self.device_combo.clear()
        self.device_combo.addItems(seen)
        self.device_combo.setCurrentIndex(0)

    def refresh_device_list(self) -> None:
        """Ask the drivers for serial ports and running simulated ports (off the GUI thread)."""
        self.jobs.submit("list_devices", self.backend.list_devices)

    def device_strings(self) -> list[str]:
        """Device strings typed in the device field (';' separates several)."""
        return [d.strip() for d in self.device_combo.currentText().split(";") if d.strip()]

    def connect_devices(self) -> None:
        """Connect the devices named in the device field."""
        devices = self.device_strings()
        if not devices:
            self.show_error("Type or pick a device first (sim:treadmill needs no hardware).")
            return
        self.log(f"connecting {', '.join(devices)}…")
        self.connect_button.setEnabled(False)
        self.jobs.submit("connect", self.backend.connect, devices)

    def disconnect_devices(self) -> None:
        """Disconnect every device (stops a running trial and finalises its file first)."""
        if self.backend.is_recording and not self._confirm(
            "Recording in progress",
            "A trial is being recorded. Stop it, save the file and disconnect?",
        ):
            return
        self.jobs.submit("disconnect", self.backend.disconnect)

    # ------------------------------------------------------------------ athletes
    def _load_athletes(self) -> None:
        try:
            self.athletes.load()
        except FileFormatError as exc:
            moved = self.athletes.quarantine()
            self.show_error(f"{exc}. It was moved to {moved} and a new list was started.")
        self._refresh_athlete_combo(self.settings.last_athlete)

    def _refresh_athlete_combo(self, select: str = "") -> None:
        self.athlete_combo.blockSignals(True)
        self.athlete_combo.clear()
        self.athlete_combo.addItem("(no athlete)", None)
        for a in self.athletes.athletes:
            label = a.name + (f"  [{a.athlete_id}]" if a.athlete_id else "")
            self.athlete_combo.addItem(label, a.name)
        idx = self.athlete_combo.findData(select) if select else 0
        self.athlete_combo.setCurrentIndex(max(idx, 0))
        self.athlete_combo.blockSignals(False)
        self._athlete_picked()

    def current_athlete(self) -> Athlete | None:
        """The athlete picked in the athlete list, or None."""
        name = self.athlete_combo.currentData()
        return self.athletes.find(name) if name else None

    def _athlete_picked(self, *_: Any) -> None:
        self.save_mass_button.setVisible(False)  # a weighed mass is offered to its athlete only
        athlete = self.current_athlete()
        self.mass_spin.setValue(athlete.body_mass_kg or 0.0 if athlete else 0.0)
        self.settings.last_athlete = athlete.name if athlete else ""

    def new_athlete(self) -> None:
        """Create an athlete with a dialog and select them."""
        self._edit_athlete_dialog(None)

    def edit_athlete(self) -> None:
        """Edit the selected athlete."""
        athlete = self.current_athlete()
        if athlete is None:
            self.new_athlete()
        else:
            self._edit_athlete_dialog(athlete)

    def _edit_athlete_dialog(self, athlete: Athlete | None) -> None:
        dialog = AthleteDialog(athlete, self)
        if dialog.exec_() != QDialog.Accepted or dialog.result_athlete is None:
            return
        self.save_athlete(dialog.result_athlete, replace=athlete.name if athlete else None)

    def save_athlete(self, athlete: Athlete, replace: str | None = None) -> None:
        """Add or update an athlete in the persistent list and select them."""
        try:
            self.athletes.upsert(athlete, replace=replace)
        except (InputError, OSError) as exc:
            self.show_error(f"Athlete not saved: {exc}")
            return
        self._refresh_athlete_combo(athlete.name)

    def body_mass_kg(self) -> float | None:
        """Body mass in the form (kg), or None when unknown."""
        return self.mass_spin.value() or None

    # ------------------------------------------------------------------ tare / weigh
    def tare(self) -> None:
        """Zero every connected device (nobody on them); refused when a sensor is loaded."""
        if not self.backend.can("tare"):
            self.show_error(
                "Tare needs connected devices and no open session file (press New session "
                "first)." if self.backend.is_connected else
                "Connect a device first; tare needs a connected, idle device."
            )
            return
        self.log("taring…")
        self.jobs.submit("tare", self.backend.tare)

    def weigh(self) -> None:
        """Measure the athlete's body mass from quiet standing."""
        if not self.backend.can("weigh"):
            self.show_error(
                "Weighing needs connected devices and no open session file (press New session "
                "first)." if self.backend.is_connected else
                "Connect a device first; weighing needs a connected, idle device."
            )
            return
        self.log("weighing: the athlete stands still…")
        self._weighing = True
        self.weighed = None
        self.save_mass_button.setVisible(False)
        self.stillness.set_state("moving")
        self.jobs.submit("weigh", self.backend.weigh)

    def save_weighed_mass(self) -> None:
        """Store the last weighed body mass in the selected athlete's record (on request only)."""
        athlete = self.current_athlete()
        if athlete is None or self.weighed is None:
            return
        athlete.body_mass_kg = round(float(self.weighed["body_mass_kg"]), 1)
        self.save_athlete(athlete, replace=athlete.name)
        self.mass_spin.setValue(float(self.weighed["body_mass_kg"]))
        self.save_mass_button.setVisible(False)
        self.log(f"{athlete.name}: body mass {athlete.body_mass_kg:.1f} kg saved")

    def _athlete_for_file(self) -> dict[str, Any]:
        """The athlete as the session file records them: a weighed mass says how it was
        measured; a typed one is "entered"."""
        athlete = self.current_athlete()
        out = athlete.to_dict() if athlete else {"name": "", "id": ""}
        mass = self.body_mass_kg()
        w = self.weighed
        if w is not None and mass is not None and abs(mass - w["body_mass_kg"]) < 0.05:
            out["body_mass_kg"] = float(w["body_mass_kg"])
            out["body_mass_method"] = str(w.get("method") or "weighed")
        else:
            out["body_mass_kg"] = mass
            out.pop("body_mass_method", None)
        return out

    # ------------------------------------------------------------------ trials
    def toggle_recording(self) -> None:
        """Start a trial, or stop the running (or armed) one."""
        if self.backend.is_recording or self._armed:
            self.stop_recording()
        else:
            self.start_recording()

    def start_recording(self) -> None:
        """Start a trial with the form's name, tags, speed, shoe and notes in the session file
        (created at the first Start). With *auto start* ticked the trial is armed and begins
        when the athlete steps on."""
        if not self.backend.can("start"):
            if self.backend.is_connected and not self.backend.streaming_devices():
                self.show_error("No device is streaming (all lost): plug them back in or "
                                "reconnect before starting a trial.", kind="start")
            else:
                self.show_error("Connect a device before starting a trial.", kind="start")
            return
        if self.jobs.busy:
            self.show_error(f"Wait until '{self.jobs.busy_with or 'the last job'}' has finished.")
            return
        self.tabs.setCurrentIndex(0)
        if self.auto_start.isChecked() and not self._armed:
            self._armed = True
            self.log(f"armed: the trial starts when the force rises above {AUTO_START_N:.0f} N")
            self._update_controls()
            return
        self._armed = False
        name = self.trial_name.text().strip() or self._next_trial_name()
        tags = parse_tags(self.trial_tags.text())
        output_dir = Path(self.output_edit.text().strip() or self.settings.output_dir)
        self.settings.output_dir = output_dir
        self.record_button.setEnabled(False)
        self.stride_bars.set_stances([])
        self.force_plot.clear_markers()
        self.jobs.submit(
            "start", self.backend.start_trial, name, tags, athlete=self._athlete_for_file(),
            operator=self.operator_edit.text().strip(), output_dir=output_dir,
            speed_m_s=self.trial_speed.value() or None, shoe=self.trial_shoe.text().strip(),
            notes=self.trial_notes.text().strip(),
        )
        self.last_trial = {"name": name, "tags": tags}

    def _next_trial_name(self) -> str:
        return f"trial {self.backend.trial_count() + 1}"

    def stop_recording(self) -> None:
        """Stop the running trial (the session file stays open for the next one); then
        summarise it."""
        if self._armed:
            self._armed = False
            self.log("auto start disarmed")
            self._update_controls()
            return
        self._trial_end = None
        self.countdown_label.setText("")
        self.record_button.setEnabled(False)
        self.jobs.submit("stop", self.backend.stop_trial)

    def new_session(self) -> None:
        """Finalise the session file; the next Start creates a new one."""
        if not self.backend.session_open:
            self.log("no session file open; the next Start creates one")
            return
        if self.backend.is_recording and not self._confirm(
            "Trial running", "A trial is running. Stop it and finalise the session file?"
        ):
            return
        self.jobs.submit("new_session", self.backend.new_session)

    def summarise_trial(self, info: dict[str, Any]) -> None:
        """Analyse the trial that just ended (background job) and show the summary tab."""
        self.summary.show_pending(str(info.get("name", "trial")))
        self.jobs.submit("summary", self.backend.summarise_trial, info, self.body_mass_kg())

    def add_marker(self) -> None:
        """F9: mark this moment; the name typed next (Enter) or the preset picked labels it.
        A marker not named within a few seconds is kept with the name in the field (or M1,
        M2, ...)."""
        if not self.backend.is_recording:
            self.show_error("Markers are added while a trial is recording.")
            return
        if self._pending_marker_t is not None:
            self.commit_marker()
        self._pending_marker_t = self.backend.session_time_s()
        self.marker_name.setFocus()
        self.marker_name.lineEdit().selectAll()
        self._marker_timer.start()

    def commit_marker(self) -> None:
        """Place the marker pending since F9 with the name in the marker field."""
        self._marker_timer.stop()
        t_s, self._pending_marker_t = self._pending_marker_t, None
        if t_s is None or not self.backend.is_recording:
            return
        try:
            label, t_s = self.backend.add_marker(self.marker_name.currentText(), t_s)
        except (ForcelabError, Exception) as exc:  # shown to the operator
            self.show_error(f"Marker not added: {exc}")
            return
        self.force_plot.add_marker(t_s, label)
        self.marker_name.setCurrentText("")
        self.force_plot.setFocus()

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Session folder", self.output_edit.text())
        if folder:
            self.output_edit.setText(folder)

    def _threshold_changed(self, value: float) -> None:
        self.settings.threshold_pct = value
        self.asymmetry.set_threshold(value)

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

    def open_review(self, path: str | None = None, trial: str | None = None) -> None:
        """Open a session file in the Review tab (asks for it when ``path`` is None), with
        ``trial`` selected when given."""
        self.tabs.setCurrentWidget(self.review)
        if not path:
            path, _ = QFileDialog.getOpenFileName(
                self, "Open session file", str(self.settings.output_dir), "Sessions (*.h5)"
            )
        if path:
            self.review.open_file(path, trial)

    def show_history(self) -> None:
        """Load the selected athlete's sessions from the session folder into the History tab."""
        athlete = self.current_athlete()
        folder = Path(self.output_edit.text().strip() or self.settings.output_dir)
        self.history.threshold_pct = self.settings.threshold_pct
        self.history.show_athlete(folder, athlete.name if athlete else "",
                                  athlete.athlete_id if athlete else "")

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.history:
            self.show_history()

    # ------------------------------------------------------------------ job results
    def _job_finished(self, name: str, result: Any, error: BaseException | None) -> None:
        if name == "connect":
            self.connect_button.setEnabled(True)
        if name == "weigh":
            self._weighing = False
        if error is not None:
            if name == "weigh":
                self.stillness.set_state("failed", tip=str(error))
            if name == "summary":
                self.last_summary = f"Summary not available: {error}"
                self.summary.show_error(self.last_summary)
                self.review_last_button.setEnabled(True)
            kind = "tare" if name == "tare" else name
            self.show_error(f"{name.replace('_', ' ').capitalize()} failed: {error}", kind=kind)
            self._update_controls()
            return
        if name == "connect":
            for d in self.device_strings()[::-1]:
                self.settings.remember_device(d)
            self.settings.remember_device(";".join(self.device_strings()))
            self.force_plot.clear_curves()
            self.log("connected: " + ", ".join(result or []))
        elif name == "disconnect":
            self.log("disconnected" + (f"; file {result}" if result else ""))
            self.insole_map.setVisible(False)
        elif name == "start":
            self.session_path = str(result)
            self.session_label.setText(Path(result).name)
            self.session_label.setToolTip(str(result))
            trial = self.last_trial or {}
            self.log(f"recording '{trial.get('name', '')}'"
                     + (f" [{', '.join(trial.get('tags', []))}]" if trial.get("tags") else ""))
            self.trial_name.setText(self._next_trial_name())
            duration = self.trial_duration.value()
            self._trial_end = time.monotonic() + duration if duration > 0 else None
            if duration > 0:
                QApplication.beep()
        elif name == "stop":
            self.log(f"stopped '{result.get('name', '')}', saved in {result.get('path')}")
            if self._trial_end is None and self.trial_duration.value() > 0:
                QApplication.beep()
            self._clear_banner("connection")
            self._clear_banner("start")
            self.summarise_trial(result)
        elif name == "new_session":
            self.log(f"session file finalised: {result}" if result else "no session file open")
            self.session_label.setText("a new file at the next Start")
            self.trial_name.setText("")
        elif name == "tare":
            self.log("tared")
            self._clear_banner("tare")
        elif name == "weigh":
            self.weighed = dict(result)
            mass = float(result["body_mass_kg"])
            self.mass_spin.setValue(mass)
            self.stillness.set_state("done", f"{mass:.1f} kg")
            self.log(f"weighed {mass:.1f} kg (SD {result.get('sd_n', float('nan')):.1f} N)")
            athlete = self.current_athlete()
            stored = athlete.body_mass_kg if athlete is not None else None
            if athlete is not None and (stored is None or abs(stored - mass) >= 0.05):
                self.save_mass_button.setText(f"Save {mass:.1f} kg to {athlete.name}")
                self.save_mass_button.setVisible(True)
        elif name == "summary":
            self.last_summary = str(result.get("text", ""))
            self.summary.show_summary(result)
            self.review_last_button.setEnabled(True)
            self.tabs.setCurrentIndex(1)
        elif name == "list_devices":
            current = self.device_combo.currentText()
            known = [self.device_combo.itemText(i) for i in range(self.device_combo.count())]
            for entry in result:
                if entry not in known:
                    self.device_combo.addItem(entry)
            self.device_combo.setCurrentText(current)
            self.log(f"{len(result)} device(s) found")
        self._update_controls()

    # ------------------------------------------------------------------ refresh
    def refresh_plot(self) -> None:
        """Redraw the force plot from a ring-buffer peek (~33 Hz timer); run the countdown of a
        fixed-duration trial and the auto start."""
        if not self.backend.is_connected:
            return
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
            snap.si_pct, snap.left_mean, snap.right_mean, snap.left_n, snap.right_n, unit
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

    def _update_controls(self) -> None:
        recording = self.backend.is_recording
        connected = self.backend.is_connected
        session = self.backend.session_open
        busy = self.jobs.busy
        self.connect_button.setEnabled(not connected and not busy)
        self.disconnect_button.setEnabled(connected and not busy)
        self.device_combo.setEnabled(not connected)
        self.tare_button.setEnabled(self.backend.can("tare") and not busy)
        self.weigh_button.setEnabled(self.backend.can("weigh") and not busy)
        self.record_button.setEnabled(
            not busy and (recording or self._armed or self.backend.can("start"))
        )
        if recording:
            text, style = "Stop (F5)", "background: #c62828; color: white; font-weight: bold;"
        elif self._armed:
            text, style = "Armed… (F5 cancels)", "background: #ef6c00; font-weight: bold;"
        else:
            text, style = "Start (F5)", "font-weight: bold;"
        self.record_button.setText(text)
        self.record_button.setStyleSheet(style)
        self.marker_button.setEnabled(recording)
        self.new_session_button.setEnabled(session and not busy)

    # ------------------------------------------------------------------ messages
    def show_error(self, message: str, kind: str = "error") -> None:
        """Show an error in the banner above the tabs and in the log. ``kind`` says what it is
        about ("connection", "tare", "start", ...) so it can go away when that is resolved."""
        self.last_error = message
        self.banner_kind = kind
        self.error_label.setText(message)
        self.error_label.setToolTip(message)
        self.error_banner.setVisible(True)
        self.log("ERROR: " + message)
        self.error_shown.emit(message)

    def _clear_banner(self, kind: str) -> None:
        if self.error_banner.isVisible() and self.banner_kind == kind:
            self.dismiss_error()

    def dismiss_error(self) -> None:
        """Hide the error banner."""
        self.error_banner.setVisible(False)
        self.banner_kind = ""

    def log(self, message: str) -> None:
        """Add a time-stamped line to the log list."""
        self.log_list.addItem(f"{time.strftime('%H:%M:%S')}  {message}")
        while self.log_list.count() > 200:
            self.log_list.takeItem(0)
        self.log_list.scrollToBottom()

    def _confirm(self, title: str, text: str) -> bool:
        box = QMessageBox(QMessageBox.Question, title, text, QMessageBox.Yes | QMessageBox.No, self)
        box.setDefaultButton(QMessageBox.No)
        return box.exec_() == QMessageBox.Yes

    # ------------------------------------------------------------------ geometry / close
    def _restore_geometry(self) -> None:
        geometry, state = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1366, 768)
        if state is not None:
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        """Ask before closing while recording; then finalise the session file and release the
        devices. If that fails the window stays open once with the reason in the banner (what
        was flushed is in the file); closing again quits."""
        if self._closed:
            event.accept()
            return
        if self.backend.is_recording and not self._close_confirmed:
            if not self._confirm(
                "Recording in progress",
                "A trial is being recorded. Stop it, save the session file and quit?",
            ):
                event.ignore()
                return
        self._close_confirmed = True
        self.plot_timer.stop()
        self.status_timer.stop()
        self.settings.save_geometry(self.saveGeometry(), self.saveState())
        self.settings.sync()
        self.jobs.drain(timeout_s=60.0)
        try:
            self.backend.close()
        except Exception as exc:  # shown to the operator; a second close quits anyway
            if not self._close_failed:
                self._close_failed = True
                self.status_timer.start()
                self.show_error(
                    f"Closing the session failed: {exc}. Everything flushed before this is in "
                    "the file; close the window again to quit."
                )
                event.ignore()
                return
        self.jobs.shutdown(wait=False)
        self.review.close_file()
        self._closed = True
        event.accept()


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
