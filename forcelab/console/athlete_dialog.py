"""The dialog that creates or edits an athlete of the console's athlete list."""

from __future__ import annotations

from PyQt5.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from forcelab.console.athletes import Athlete
from forcelab.errors import InputError


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
