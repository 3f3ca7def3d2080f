"""The operator console's main window.

Layout (usable from 1024×640, fits 1366×768): on the left a scrollable column (devices, athlete,
trial form) above an always-visible action panel (Start/Stop, markers, New session, the log);
on the right tabs: *Live* (scrolling force, insole maps, trial figures, stride bars, asymmetry),
*Summary* (the finished trial in panels, with the per-stride table), *Review* (a session file:
overview and zoom, markers and events, strides, mean curves, exports), *History* (the
athlete's sessions and asymmetry trend) and *Feedback* (live biofeedback protocols, see
:mod:`forcelab.console.feedback`).

One session file holds many trials: Start/Stop make trials in it, *New session* finalises it.

The window never waits on the acquisition: a ~33 Hz timer peeks at the controller's ring buffer
for the plot, a 5 Hz timer reads the status snapshot and drains the event queue, and slow
operations (connect, tare, weigh, stop, analysis) run on a
:class:`~forcelab.console.jobs.JobRunner`.

Shortcuts (every action has one; the Session and View menus list them): F5 / Ctrl+R start or stop
a trial, F9 / Ctrl+M marker (then type its name, Enter), Ctrl+N new session file, Ctrl+T tare,
Ctrl+G weigh, Ctrl+K / Ctrl+Shift+K connect / disconnect, Ctrl+O open a session file for review,
Ctrl+1…5 tabs, Esc dismiss the banner, Ctrl+Q quit.

The window is assembled from parts by responsibility: :mod:`~forcelab.console.controls` (the
left column), :mod:`~forcelab.console.live_tab` (the Live tab and its timers),
:mod:`~forcelab.console.session_actions` (devices, athletes, trials, markers, job results);
this module puts them together with the Summary, Review and History tabs, the menus, the
banner and closing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PyQt5.QtCore import Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QCloseEvent, QKeySequence
from PyQt5.QtWidgets import (
    QAction,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from forcelab.console.athletes import AthleteStore
from forcelab.console.backend import ConsoleBackend, Snapshot
from forcelab.console.controls import ControlColumn
from forcelab.console.feedback import FeedbackPanel
from forcelab.console.history import HistoryPanel
from forcelab.console.jobs import JobRunner
from forcelab.console.live_tab import (
    PLOT_INTERVAL_MS,
    STATUS_INTERVAL_MS,
    LiveTab,
    format_bytes,
    format_elapsed,
)
from forcelab.console.review import ReviewPanel
from forcelab.console.session_actions import MARKER_NAME_MS, SessionActions, parse_tags
from forcelab.console.settings import ConsoleSettings
from forcelab.console.summary import SummaryPanel

__all__ = ["ConsoleWindow", "format_bytes", "format_elapsed", "parse_tags"]


class ConsoleWindow(ControlColumn, LiveTab, SessionActions, QMainWindow):
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
        self.history.open_trial.connect(self.open_review)
        self.tabs.addTab(self.history, "History")
        self.feedback_panel = FeedbackPanel(self)
        self.tabs.addTab(self.feedback_panel, "Feedback")
        self.tabs.currentChanged.connect(self._tab_changed)
        rlay.addWidget(self.tabs, 1)
        central.addWidget(right)
        central.setStretchFactor(0, 0)
        central.setStretchFactor(1, 1)
        self.statusBar().showMessage("Not connected")


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
        self.history.show_athlete(folder, athlete.name if athlete else "",
                                  athlete.athlete_id if athlete else "")

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.history:
            self.show_history()

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
        self.feedback_panel.shutdown()
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
