"""The console's *Feedback* tab: set up live biofeedback, run a protocol, show each cue big.

The operator picks the metric, the trained side, the target (a value ``180``, a band
``150:180`` or a change from the baseline trial ``-15%``), the schedule (every stance, faded,
bandwidth, summary every N strides), the phases of the protocol with their durations and the
audio (tones, spoken words or none), then presses *Start protocol*: the console records one trial
per phase (named after the phase, tagged ``feedback:<phase>``) back to back in one new session
file, the controller's feedback engine issues a cue for every stance of the trained side(s)
(:mod:`forcelab.acquisition.feedback`), and the tab shows it:

* :class:`CueDisplay`, readable from a treadmill 2 m away: a bar with the band and the value's
  mark, the number with its unit in large type, and the zone in words. Colours are
  colour-blind safe (Okabe–Ito): bluish green in the band, orange above it, blue below it; the
  word and the mark's position say the same without colour.
* a cue the schedule does not show (faded, bandwidth, summary, and every cue of the baseline,
  post and retention phases) turns the display grey: the runner is given nothing to read, the
  operator still sees the small line under it.
* the phase, the time left in it, and the cues issued and shown.

Cues reach the tab two ways: the controller calls the tab's listener from the analysis thread
as soon as a cue is issued (it plays the sound at once and wakes the GUI thread with a queued
signal), and the window's ~33 Hz redraw timer drains ``SessionController.cues()`` as well, so
no cue is missed when a wake-up is coalesced.
"""

from __future__ import annotations

import collections
import math
import time
from typing import Any

from PyQt5.QtCore import QRectF, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPen
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from forcelab.acquisition.cue_audio import MODES
from forcelab.analysis.feedback import (
    METRICS,
    PHASES,
    SCHEDULES,
    TAG_PREFIX,
    TRAINED_SIDES,
    Cue,
    FeedbackEngine,
)
from forcelab.errors import InputError

#: Okabe–Ito colours: in the band, above it, below it, and a cue not shown.
ZONE_COLOURS = {"in": "#009E73", "above": "#E69F00", "below": "#0072B2", "": "#9E9E9E"}
GREY = "#BDBDBD"
ZONE_WORDS = {"in": "IN BAND", "above": "ABOVE", "below": "BELOW", "": "NO BAND YET"}
#: Metrics offered first in the metric list (the rest of METRICS follow, sorted).
COMMON_METRICS = ("valr_bw_s", "valr_n_s", "midstance_peak_si", "peak_braking_n",
                  "contact_time_s", "cadence_spm", "step_width_m")
#: Default duration of each protocol phase, s.
DEFAULT_PHASE_S = {"baseline": 60.0, "training": 300.0, "post": 60.0, "retention": 60.0}


def format_value(value: float | None, unit: str) -> str:
    """A cue value for the big display: digits by size, the unit after it."""
    if value is None or not math.isfinite(value):
        return "—"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    if unit == "s":
        return f"{value * 1000:.0f} ms"
    if unit == "m":
        return f"{value * 100:.1f} cm"
    return f"{value:.{digits}f} {unit}" if unit != "%" else f"{value:+.1f} %"


class CueDisplay(QWidget):
    """The big cue readout: band bar, value mark, number and zone, grey when not shown.

    Attributes
    ----------
    cue : Cue or None
        The cue on display.
    greyed : bool
        True when the cue on display was not shown to the runner (or none came yet).
    colour : str
        The colour the value is drawn in (:data:`ZONE_COLOURS`, or :data:`GREY`).
    paint_log : collections.deque
        ``(stance_index, host time.time() in s)`` of the first frame that painted each cue
        (for the cue-to-screen benchmark).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(480, 260)
        self.cue: Cue | None = None
        self.unit = ""
        self.greyed = True
        self.colour = GREY
        self.paint_log: collections.deque[tuple[int, float]] = collections.deque(maxlen=5000)
        self._painted_index: int | None = None
        self.setAutoFillBackground(True)
        self.setToolTip("The last cue: the band (shaded), where the stance's value lies, the "
                        "value and the zone; grey when the schedule did not show it")

    @property
    def value_text(self) -> str:
        """The number shown ("—" before the first cue)."""
        return format_value(self.cue.value if self.cue else None, self.unit)

    @property
    def zone_text(self) -> str:
        """The zone in words ("" before the first cue)."""
        return ZONE_WORDS[self.cue.zone] if self.cue else ""

    def set_cue(self, cue: Cue, unit: str) -> None:
        """Show ``cue`` (its value in ``unit``); grey when ``cue.shown`` is False."""
        self.cue = cue
        self.unit = unit
        self.greyed = not cue.shown
        self.colour = GREY if self.greyed else ZONE_COLOURS[cue.zone]
        self.update()

    def clear(self) -> None:
        """Nothing on display (a new protocol)."""
        self.cue = None
        self.greyed = True
        self.colour = GREY
        self._painted_index = None
        self.update()

    def bar_range(self) -> tuple[float, float] | None:
        """Value range of the bar: the band with one band width either side, widened to
        include the value (None without a cue)."""
        cue = self.cue
        if cue is None:
            return None
        if cue.band_low is None or cue.band_high is None:
            span = abs(cue.value) * 0.2 or 1.0
            return cue.value - span, cue.value + span
        width = max(cue.band_high - cue.band_low, 1e-9)
        lo, hi = cue.band_low - width, cue.band_high + width
        lo, hi = min(lo, cue.value - 0.1 * width), max(hi, cue.value + 0.1 * width)
        return lo, hi

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        try:
            self._paint(p)
        finally:
            p.end()
        cue = self.cue
        if cue is not None and self._painted_index != cue.stance_index:
            self._painted_index = cue.stance_index
            self.paint_log.append((cue.stance_index, time.time()))

    def _paint(self, p: QPainter) -> None:
        w, h = self.width(), self.height()
        p.fillRect(0, 0, w, h, QColor("white"))
        colour = QColor(self.colour)
        margin = 0.05 * w
        bar = QRectF(margin, 0.62 * h, w - 2 * margin, 0.16 * h)
        p.setPen(QPen(QColor("#757575"), 2))
        p.setBrush(QColor("#F5F5F5"))
        p.drawRect(bar)
        cue, rng = self.cue, self.bar_range()
        if cue is None or rng is None:
            p.setPen(QColor(GREY))
            p.setFont(self._font(0.16 * h))
            p.drawText(QRectF(0, 0, w, 0.6 * h), Qt.AlignCenter, "waiting for the first cue")
            return

        def x_of(v: float) -> float:
            return bar.left() + (v - rng[0]) / (rng[1] - rng[0]) * bar.width()

        if cue.band_low is not None and cue.band_high is not None:
            band = QRectF(x_of(cue.band_low), bar.top(), x_of(cue.band_high) - x_of(cue.band_low),
                          bar.height())
            p.setPen(Qt.NoPen)
            in_band = QColor(ZONE_COLOURS["in"])
            in_band.setAlpha(70)
            p.setBrush(QColor("#E0E0E0") if self.greyed else in_band)
            p.drawRect(band)
        x = x_of(cue.value)
        p.setPen(QPen(colour, max(6.0, 0.012 * w)))
        p.drawLine(int(x), int(bar.top() - 0.02 * h), int(x), int(bar.bottom() + 0.06 * h))
        p.setPen(colour)
        p.setFont(self._fitted(self.value_text, 0.3 * h, 0.94 * w))
        p.drawText(QRectF(0, 0.02 * h, w, 0.4 * h), Qt.AlignCenter, self.value_text)
        p.setFont(self._font(0.12 * h, bold=True))
        p.drawText(QRectF(0, 0.42 * h, w, 0.18 * h), Qt.AlignCenter,
                   "NOT SHOWN" if self.greyed else self.zone_text)

    @classmethod
    def _fitted(cls, text: str, pixels: float, width: float) -> QFont:
        """A bold font at most ``pixels`` high in which ``text`` fits ``width`` pixels."""
        font = cls._font(pixels, bold=True)
        used = QFontMetrics(font).horizontalAdvance(text)
        if used > width:
            font = cls._font(pixels * width / used, bold=True)
        return font

    @staticmethod
    def _font(pixels: float, bold: bool = False) -> QFont:
        font = QFont()
        font.setPixelSize(max(8, int(pixels)))
        font.setBold(bold)
        return font


def _add_phase_and_cue(layout: QVBoxLayout, text: str, font_px: int) -> tuple[QLabel, CueDisplay]:
    """Add the phase line (bold, ``font_px`` px, centred) and a cue display below it that takes
    the rest of ``layout``; returns both."""
    label = QLabel(text)
    label.setAlignment(Qt.AlignCenter)
    label.setStyleSheet(f"font-size: {font_px}px; font-weight: bold;")
    layout.addWidget(label)
    display = CueDisplay()
    layout.addWidget(display, 1)
    return label, display


class RunnerScreen(QWidget):
    """The cue display alone in a window of its own, for a screen in front of the treadmill
    (F11 or a double click toggles full screen, Esc leaves it)."""

    def __init__(self) -> None:
        super().__init__(None, Qt.Window)
        self.setWindowTitle("forcelab feedback")
        lay = QVBoxLayout(self)
        self.phase_label, self.display = _add_phase_and_cue(lay, "", font_px=36)
        self.resize(1024, 640)

    def toggle_full_screen(self) -> None:
        """Full screen on, or back to a window."""
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        if event.key() == Qt.Key_F11:
            self.toggle_full_screen()
        elif event.key() == Qt.Key_Escape and self.isFullScreen():
            self.showNormal()
        else:
            super().keyPressEvent(event)

    def mouseDoubleClickEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        self.toggle_full_screen()


class FeedbackPanel(QWidget):
    """The Feedback tab (settings, protocol, the big display), part of the console window.

    Parameters
    ----------
    window : ConsoleWindow
        The window: its backend, job runner, trial form and Start/Stop are used to run the
        protocol's trials.
    """

    #: Emitted (queued, from the analysis thread) when the controller issues a cue.
    cue_issued = pyqtSignal()

    def __init__(self, window: Any) -> None:
        super().__init__()
        self.window = window
        self.running = False
        self.phase = ""
        self.phase_end: float | None = None
        self.pending: list[tuple[str, float]] = []
        self.issued: dict[str, int] = collections.Counter()
        self.shown: dict[str, int] = collections.Counter()
        self.unit = ""
        self.player: Any = None
        self._listening_on: Any = None  # the controller the cue listener is on
        self._build()
        self.cue_issued.connect(self.poll, Qt.QueuedConnection)
        window.jobs.finished.connect(self._job_finished)

    # ------------------------------------------------------------------ UI
    def _build(self) -> None:
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        settings = QGroupBox("Feedback")
        form = QFormLayout(settings)
        self.metric_combo = QComboBox()
        metrics = [*COMMON_METRICS, *sorted(m for m in METRICS if m not in COMMON_METRICS)]
        for m in metrics:
            self.metric_combo.addItem(f"{m} ({METRICS[m]})", m)
        self.metric_combo.setToolTip("The metric to train (names as in forcelab analyze --json)")
        self.side_combo = QComboBox()
        self.side_combo.addItems(TRAINED_SIDES)
        self.side_combo.setToolTip("Cues for the stances of this side, or of both")
        self.target_edit = QLineEdit("-15%")
        self.target_edit.setToolTip(
            "A value (180: the band is ±5 % around it), a band (150:180) or a change from the "
            "baseline phase (-15%)")
        self.schedule_combo = QComboBox()
        self.schedule_combo.addItems(SCHEDULES)
        self.schedule_combo.setToolTip(
            "every: every stance; faded: shown less and less over the phase; bandwidth: only "
            "outside the band; summary: one cue with the mean of N strides")
        self.summary_n = QSpinBox()
        self.summary_n.setRange(2, 100)
        self.summary_n.setValue(5)
        self.summary_n.setSuffix(" strides")
        self.summary_n.setToolTip("Strides per summary cue")
        self.audio_combo = QComboBox()
        self.audio_combo.addItems(MODES)
        self.audio_combo.setToolTip("tone: low pitch below, high pitch above, a double beep in "
                                    "band; voice: 'higher', 'lower', 'good'; none: silent")
        form.addRow("&Metric", self.metric_combo)
        form.addRow("S&ide", self.side_combo)
        form.addRow("Tar&get", self.target_edit)
        form.addRow("Sc&hedule", self.schedule_combo)
        form.addRow("Summary of", self.summary_n)
        form.addRow("A&udio", self.audio_combo)
        phases = QWidget()
        grid = QGridLayout(phases)
        grid.setContentsMargins(0, 0, 0, 0)
        self.phase_checks: dict[str, QCheckBox] = {}
        self.phase_spins: dict[str, QDoubleSpinBox] = {}
        for i, phase in enumerate(PHASES):
            check = QCheckBox(phase)
            check.setChecked(True)
            check.setEnabled(phase != "training")
            spin = QDoubleSpinBox()
            spin.setRange(5.0, 3600.0)
            spin.setDecimals(0)
            spin.setSuffix(" s")
            spin.setValue(DEFAULT_PHASE_S[phase])
            check.toggled.connect(spin.setEnabled)
            grid.addWidget(check, i, 0)
            grid.addWidget(spin, i, 1)
            self.phase_checks[phase] = check
            self.phase_spins[phase] = spin
        form.addRow("&Phases", phases)
        row = QHBoxLayout()
        self.start_button = QPushButton("Start protocol")
        self.start_button.setToolTip("Record the phases one after the other in a new session "
                                     "file, with cues in the training phase")
        self.start_button.clicked.connect(self.start_protocol)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_protocol)
        row.addWidget(self.start_button)
        row.addWidget(self.stop_button)
        form.addRow(row)
        self.runner_button = QPushButton("Runner screen")
        self.runner_button.setToolTip("The cue display in a window of its own, for a screen in "
                                      "front of the treadmill (F11: full screen)")
        self.runner_button.clicked.connect(self.show_runner_screen)
        form.addRow(self.runner_button)
        self.audio_label = QLabel("")
        self.audio_label.setWordWrap(True)
        form.addRow(self.audio_label)
        settings.setMaximumWidth(380)
        lay.addWidget(settings)

        right = QVBoxLayout()
        self.phase_label, self.display = _add_phase_and_cue(
            right, "no protocol running", font_px=28
        )
        self.runner_screen: RunnerScreen | None = None
        self.detail_label = QLabel("")
        self.detail_label.setAlignment(Qt.AlignCenter)
        self.detail_label.setToolTip("The last cue for the operator, shown or not")
        right.addWidget(self.detail_label)
        self.count_label = QLabel("")
        self.count_label.setAlignment(Qt.AlignCenter)
        self.count_label.setStyleSheet("font-size: 18px;")
        right.addWidget(self.count_label)
        lay.addLayout(right, 1)

    def show_runner_screen(self) -> None:
        """Open (or raise) the runner's window with the same cue display."""
        if self.runner_screen is None:
            self.runner_screen = RunnerScreen()
            if self.display.cue is not None:
                self.runner_screen.display.set_cue(self.display.cue, self.unit)
        self.runner_screen.show()
        self.runner_screen.raise_()
        self._show_phase()

    def displays(self) -> list[CueDisplay]:
        """The cue displays to update: the tab's, and the runner screen's when it is open."""
        screen = self.runner_screen
        return [self.display] + ([screen.display] if screen is not None and screen.isVisible()
                                 else [])

    # ------------------------------------------------------------------ settings
    def engine_from_form(self) -> tuple[FeedbackEngine, list[tuple[str, float]]]:
        """The feedback engine and the phases (name, s) the form describes.

        Raises
        ------
        InputError
            For a target the metric cannot take, or a change target without a baseline.
        """
        metric = self.metric_combo.currentData()
        schedule = self.schedule_combo.currentText()
        if schedule == "summary":
            schedule = f"summary:{self.summary_n.value()}"
        engine = FeedbackEngine(metric, self.target_edit.text(), self.side_combo.currentText(),
                                schedule)
        phases = [(p, self.phase_spins[p].value()) for p in PHASES
                  if self.phase_checks[p].isChecked()]
        if engine.target.kind == "change" and phases[0][0] != "baseline":
            raise InputError("a change-from-baseline target needs the baseline phase")
        return engine, phases

    def _set_editable(self, on: bool) -> None:
        for w in (self.metric_combo, self.side_combo, self.target_edit, self.schedule_combo,
                  self.summary_n, self.audio_combo, *self.phase_spins.values()):
            w.setEnabled(on)
        for phase, check in self.phase_checks.items():
            check.setEnabled(on and phase != "training")
        self.start_button.setEnabled(on)
        self.stop_button.setEnabled(not on)

    # ------------------------------------------------------------------ protocol
    def start_protocol(self) -> None:
        """Arm the controller's feedback and record the first phase (in a new session file)."""
        win = self.window
        if not win.backend.can("start"):
            win.show_error("Connect a device that streams before starting a feedback protocol.",
                           kind="start")
            return
        if win.backend.session_open:
            win.show_error("Feedback starts with a new session file: press New session (Ctrl+N) "
                           "first, then Start protocol.", kind="start")
            return
        try:
            engine, phases = self.engine_from_form()
        except InputError as exc:
            win.show_error(str(exc), kind="feedback")
            return
        if METRICS[engine.metric].startswith("BW") and not win.body_mass_kg():
            win.show_error(f"Feedback on {engine.metric} (in body weights) needs the athlete's "
                           "body mass: weigh or type it, or pick the metric in N.",
                           kind="feedback")
            return
        win.backend.set_feedback(engine, dict(phases))
        self.unit = METRICS[engine.metric]
        self._start_audio(self.audio_combo.currentText())
        if self._listening_on is not win.backend.controller:  # a reconnect makes a new one
            win.backend.add_cue_listener(self._on_cue)
            self._listening_on = win.backend.controller
        self.issued.clear()
        self.shown.clear()
        for display in self.displays():
            display.clear()
        self.detail_label.setText("")
        self.pending = list(phases)
        self.running = True
        self._set_editable(False)
        win.log(f"feedback: {engine.metric} {engine.target.text} ({engine.side}, "
                f"{engine.schedule.text}); phases "
                + ", ".join(f"{p} {s:.0f} s" for p, s in phases))
        self._next_phase()

    def _next_phase(self) -> None:
        win = self.window
        if not self.pending:
            self._finish("protocol done")
            return
        phase, seconds = self.pending.pop(0)
        self.phase = phase
        self.phase_end = None
        win.trial_name.setText(phase)
        win.trial_tags.setText(f"{TAG_PREFIX}{phase}")
        win.trial_duration.setValue(seconds)
        win.auto_start.setChecked(False)
        win.start_recording()
        self._show_phase()

    def stop_protocol(self) -> None:
        """Stop the protocol: the running phase's trial stops, no further phase starts."""
        self.pending = []
        if self.window.backend.is_recording:
            self.window.stop_recording()
        self._finish("protocol stopped")

    def _finish(self, words: str) -> None:
        """The protocol ends: its session file is finalised and feedback switched off (after
        the jobs already queued, such as the last trial's stop)."""
        self.running = False
        self.phase_end = None
        self._set_editable(True)
        self._set_phase_text(words)
        self.window.log(f"feedback: {words}")
        self.window.jobs.submit("new_session", self.window.backend.end_feedback)

    def _job_finished(self, name: str, result: Any, error: BaseException | None) -> None:
        if not self.running:
            return
        if error is not None and name in ("start", "stop"):
            self.pending = []
            self._finish(f"protocol stopped: {name} failed")
            return
        if name == "start":
            self.phase_end = time.monotonic() + self.window.trial_duration.value()
            self.window.tabs.setCurrentWidget(self)
        elif name == "summary":
            self.window.tabs.setCurrentWidget(self)
        # the next phase starts once the last one is stopped and summarised (the job runner
        # takes one job at a time)
        if name in ("stop", "summary") and not self.window.backend.is_recording \
                and not self.window.jobs.busy:
            self._next_phase()

    # ------------------------------------------------------------------ cues
    def _on_cue(self, cue: Cue) -> None:
        """Cue listener (analysis thread): sound now, wake the GUI thread."""
        if self.player is not None:
            self.player(cue)
        self.cue_issued.emit()

    def _start_audio(self, mode: str) -> None:
        from forcelab.console.audio import CuePlayer

        if self.player is not None and self.player.mode == mode:
            return
        if self.player is not None:
            self.player.close()
        self.player = CuePlayer(mode)
        text = self.player.reason or ("" if mode == "none" else f"audio: {mode}")
        self.audio_label.setText(text)
        if self.player.reason:
            self.window.log(self.player.reason)

    def poll(self) -> None:
        """Take the controller's new cues and show the last one (redraw timer and wake-ups)."""
        cues = self.window.backend.cues()
        for cue in cues:
            self.issued[cue.phase] += 1
            self.shown[cue.phase] += int(cue.shown)
        if cues:
            cue = cues[-1]
            for display in self.displays():
                display.set_cue(cue, self.unit)
            state = ""
            if cue.schedule == "faded" and cue.schedule_state is not None:
                state = f", faded to {cue.schedule_state:.0f} %"
            elif cue.schedule == "summary" and cue.schedule_state is not None:
                state = f", mean of {cue.schedule_state:.0f} strides"
            self.detail_label.setText(
                f"stance {cue.stance_index} ({cue.side}): {format_value(cue.value, self.unit)}"
                f" — {ZONE_WORDS[cue.zone].lower()}, {'shown' if cue.shown else 'not shown'}"
                f"{state}")
        self._show_phase()

    def _show_phase(self) -> None:
        if self.running and self.phase:
            left = "" if self.phase_end is None else \
                f" · {max(0.0, self.phase_end - time.monotonic()):.0f} s left"
            self._set_phase_text(f"{self.phase}{left}")
        self.count_label.setText(
            "cues issued / shown: " + "  ".join(
                f"{p} {self.issued[p]}/{self.shown[p]}" for p in (*PHASES, "")
                if self.issued[p]) if sum(self.issued.values()) else "no cues yet")

    def _set_phase_text(self, text: str) -> None:
        self.phase_label.setText(text)
        if self.runner_screen is not None:
            self.runner_screen.phase_label.setText(text)

    def shutdown(self) -> None:
        """Stop the sound thread and close the runner screen (the window is closing)."""
        if self._listening_on is self.window.backend.controller:
            self.window.backend.remove_cue_listener(self._on_cue)
        self._listening_on = None
        if self.player is not None:
            self.player.close()
            self.player = None
        if self.runner_screen is not None:
            self.runner_screen.close()
