"""The left column of the console window: devices, athlete and trial form, and the action panel.

:class:`ControlColumn` is a part of :class:`~forcelab.console.window.ConsoleWindow` that builds
these boxes; their slots live in :mod:`forcelab.console.session_actions`.
"""

from __future__ import annotations

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from forcelab.console.live_tab import AUTO_START_N, DEVICE_COLUMNS
from forcelab.console.widgets import (
    StillnessIndicator,
)

MARKER_PRESETS = ("warm-up end", "speed change", "fatigue", "pain", "shoe change", "incline")


class ControlColumn:
    """The devices, athlete and trial boxes and the action panel (a part of
    :class:`ConsoleWindow`)."""

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
