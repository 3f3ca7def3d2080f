"""Weighing from the console with a standing athlete.

The simulators only model running and walking, so a quiet-standing athlete is an in-test FPB1-
like plate (a real :class:`forcelab.drivers.Device` producing 1 kHz blocks in real time) handed
to the real SessionController; everything above it (controller, weighing, window) is real.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from forcelab.drivers import Channel, DeviceInfo
from forcelab.drivers.base import ROLE_COP_ML, ROLE_VERTICAL
from PyQt5.QtCore import Qt
from realtime_device import RealTimeDevice

from forcelab.console.athletes import Athlete

G = 9.80665


class StandingPlate(RealTimeDevice):
    """A plate with someone standing on it: ``weight_n`` plus noise and optional sway (N)."""

    def __init__(self, weight_n: float, sway_n: float = 0.0, rate_hz: float = 1000.0) -> None:
        super().__init__(DeviceInfo("FPB1", "test plate", "TP-1", "1.0", None, rate_hz,
                                    (Channel("fz", "N", ROLE_VERTICAL),
                                     Channel("cop_x", "m", ROLE_COP_ML))))
        self.weight_n, self.sway_n = weight_n, sway_n
        self._rng = np.random.default_rng(3)

    def samples(self, t_s: np.ndarray) -> np.ndarray:
        fz = (self.weight_n + self.sway_n * np.sin(2 * np.pi * 1.3 * t_s)
              + self._rng.normal(0, 1.5, t_s.size))
        return np.column_stack([fz, np.zeros(t_s.size)])


def test_weighing_a_still_athlete_fills_in_and_saves_the_body_mass(qtbot, window):
    window.save_athlete(Athlete("Still Stan", body_mass_kg=65.0))
    window.backend.controller.connect_devices([StandingPlate(72.4 * G)])
    qtbot.waitUntil(lambda: window.backend.is_connected, timeout=5_000)
    pump_until = time.monotonic() + 0.5
    while time.monotonic() < pump_until:
        qtbot.wait(50)
    qtbot.keyClick(window, Qt.Key_G, Qt.ControlModifier)
    qtbot.waitUntil(lambda: window.stillness.state == "still", timeout=10_000)  # live light
    qtbot.waitUntil(lambda: not window.jobs.busy and window.stillness.state == "done",
                    timeout=20_000)
    assert window.mass_spin.value() == pytest.approx(72.4, abs=0.2)
    assert "72.4 kg" in window.stillness.text()
    assert not window.error_banner.isVisible()
    # weighing never overwrites the athlete's stored mass by itself: the operator saves it
    from forcelab.console.athletes import AthleteStore

    def stored():
        return [(a.name, round(a.body_mass_kg, 1))
                for a in AthleteStore(window.settings.folder / "athletes.json").load()]

    assert stored() == [("Still Stan", 65.0)]
    assert window.save_mass_button.isVisible()
    assert window.save_mass_button.text() == "Save 72.4 kg to Still Stan"
    # the session file says the mass was weighed, not entered
    athlete = window._athlete_for_file()
    assert athlete["body_mass_kg"] == pytest.approx(72.4, abs=0.2)
    assert athlete["body_mass_method"].startswith("weighed on")
    # a trial: the session file records the weighed mass and how it was measured
    window.output_edit.setText(str(window.settings.folder / "sessions"))
    qtbot.keyClick(window, Qt.Key_F5)
    qtbot.waitUntil(lambda: window.session_path is not None and not window.jobs.busy,
                    timeout=15_000)
    qtbot.wait(300)
    window.last_summary = ""
    qtbot.keyClick(window, Qt.Key_F5)
    qtbot.waitUntil(lambda: bool(window.last_summary), timeout=60_000)
    from forcelab.store import open_session

    with open_session(window.session_path) as session:
        recorded = session.athlete
    assert recorded["name"] == "Still Stan"
    assert recorded["body_mass_kg"] == pytest.approx(72.4, abs=0.2)
    assert recorded["body_mass_method"].startswith("weighed on")
    qtbot.mouseClick(window.save_mass_button, Qt.LeftButton)
    assert stored() == [("Still Stan", 72.4)]
    assert not window.save_mass_button.isVisible()
    # a mass typed over the weighed one is recorded as entered
    window.mass_spin.setValue(70.0)
    assert "body_mass_method" not in window._athlete_for_file()


def test_a_swaying_athlete_is_not_weighed_and_nothing_changes(qtbot, window):
    window.save_athlete(Athlete("Wobbly Walt", body_mass_kg=80.0))
    window.backend.controller.connect_devices([StandingPlate(80 * G, sway_n=150.0)])
    qtbot.waitUntil(lambda: window.backend.is_connected, timeout=5_000)
    qtbot.wait(300)
    qtbot.mouseClick(window.weigh_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.stillness.state == "moving", timeout=5_000)
    qtbot.waitUntil(lambda: not window.jobs.busy and window.stillness.state == "failed",
                    timeout=20_000)
    assert window.error_banner.isVisible() and "Weigh failed" in window.last_error
    assert window.mass_spin.value() == pytest.approx(80.0)
    assert window.current_athlete().body_mass_kg == pytest.approx(80.0)
