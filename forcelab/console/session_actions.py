"""What the console's buttons do: devices, athletes, tare and weighing, trials and markers.

:class:`SessionActions` is a part of :class:`~forcelab.console.window.ConsoleWindow`; slow work
runs on its :class:`~forcelab.console.jobs.JobRunner` and comes back in :meth:`_job_finished`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PyQt5.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
)

from forcelab.console.athlete_dialog import AthleteDialog
from forcelab.console.athletes import Athlete
from forcelab.console.live_tab import AUTO_START_N
from forcelab.errors import FileFormatError, ForcelabError, InputError

#: A marker not named within this time after F9 is placed with the name in the field, ms.
MARKER_NAME_MS = 6000


def parse_tags(text: str) -> list[str]:
    """Tags typed as ``"12 km/h, barefoot"`` -> ``["12 km/h", "barefoot"]`` (comma separated)."""
    return [t.strip() for t in text.split(",") if t.strip()]


class SessionActions:
    """Slots of the console window's devices, athlete, trial and marker controls (a part of
    :class:`ConsoleWindow`)."""

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
    def _refused(self, action: str, what: str) -> bool:
        """Say why ``action`` (named ``what`` to the user) cannot run now; True when refused."""
        if self.backend.can(action):
            return False
        self.show_error(
            f"{what.capitalize()} needs connected devices and no open session file (press New "
            "session first)." if self.backend.is_connected else
            f"Connect a device first; {what} needs a connected, idle device."
        )
        return True

    def tare(self) -> None:
        """Zero every connected device (nobody on them); refused when a sensor is loaded."""
        if self._refused("tare", "tare"):
            return
        self.log("taring…")
        self.jobs.submit("tare", self.backend.tare)

    def weigh(self) -> None:
        """Measure the athlete's body mass from quiet standing."""
        if self._refused("weigh", "weighing"):
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
