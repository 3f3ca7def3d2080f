"""The real console window driving real simulated devices behind ptys (pytest-qt, offscreen).

Each test streams a few seconds of the simulated treadmill (two FPB1 plates at 1 kHz) through
the real drivers, SessionController, store and analysis.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from PyQt5.QtCore import Qt, QTimer
from PyQt5.QtWidgets import QApplication, QMessageBox

from forcelab.analysis.asymmetry import LEVEL_WORDS
from forcelab.console.widgets import LEVEL_COLOURS, NEUTRAL_COLOUR, WARN_COLOUR

pytest.importorskip("forcelab.drivers.open")

CONNECT_TIMEOUT_MS = 30_000


def pump(qtbot, seconds: float) -> None:
    """Let the event loop (and the console's timers) run for ``seconds``."""
    qtbot.wait(int(seconds * 1000))


def connect(qtbot, window, device: str) -> None:
    window.device_combo.setCurrentText(device)
    qtbot.mouseClick(window.connect_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.backend.is_connected and not window.jobs.busy,
                    timeout=CONNECT_TIMEOUT_MS)


def start(qtbot, window, name: str = "", tags: str = "") -> None:
    window.trial_name.setText(name)
    window.trial_tags.setText(tags)
    qtbot.keyClick(window, Qt.Key_F5)
    qtbot.waitUntil(lambda: window.backend.is_recording and not window.jobs.busy
                    and window.record_button.text().startswith("Stop"), timeout=15_000)


def stop(qtbot, window) -> None:
    window.last_summary = ""
    qtbot.keyClick(window, Qt.Key_F5)
    qtbot.waitUntil(lambda: bool(window.last_summary), timeout=60_000)


def log_lines(window) -> list[str]:
    return [window.log_list.item(i).text() for i in range(window.log_list.count())]


def assert_complete(data, recorded: dict) -> None:
    """Every sample the recorder took from the device is in the file, and every sample the
    link lost is an explicit gap (no silent hole, no overflow)."""
    assert recorded["overflow_writer_samples"] == 0
    # the session file records from its creation on; the trial's samples are part of it
    assert data.samples.shape[0] >= recorded["samples_recorded"] > 0
    missing = int(np.sum(data.gaps["n_missing"])) if data.gaps.size else 0
    assert np.all(np.diff(data.seq) >= 1)
    assert int(data.seq[-1] - data.seq[0] + 1) == data.samples.shape[0] + missing
    assert missing <= recorded["dropped_samples"]


def read_file(path):
    from forcelab.store import open_session

    with open_session(path) as session:
        streams = {name: session.read_stream(name) for name in session.streams}
        return session.trials, session.markers, session.events, streams


def test_connect_tare_weigh_record_stop_and_the_file_holds_the_trial(qtbot, console):
    # empty belts for 5 s (tare, weigh), then the runner starts
    connect(qtbot, console, "sim:treadmill?seed=11&start=5")
    qtbot.waitUntil(lambda: console.device_table.rowCount() == 2, timeout=10_000)
    sides = {console.device_table.item(r, 1).text() for r in range(console.device_table.rowCount())}
    assert sides == {"left", "right"}

    qtbot.keyClick(console, Qt.Key_T, Qt.ControlModifier)  # tare shortcut
    qtbot.waitUntil(lambda: any(line.endswith("tared") for line in log_lines(console)),
                    timeout=20_000)
    assert not console.error_banner.isVisible()

    # weighing nobody (or a runner, on a slow machine): refused, said, nothing changed
    console.mass_spin.setValue(61.5)
    qtbot.keyClick(console, Qt.Key_G, Qt.ControlModifier)
    qtbot.waitUntil(lambda: not console.jobs.busy and console.stillness.state != "moving",
                    timeout=20_000)
    if console.stillness.state == "failed":
        assert console.error_banner.isVisible()
        assert "Weigh failed" in console.last_error
        assert console.mass_spin.value() == pytest.approx(61.5)
    else:  # a simulator standing still: the measured mass lands in the form
        assert console.stillness.state == "done"
        assert 20 < console.mass_spin.value() < 200
    console.mass_spin.setValue(61.5)
    console.dismiss_error()

    def running() -> bool:
        names = console.force_plot.curve_names()
        return bool(names) and np.nanmax(console.force_plot.curve_data(names[0])[1]) > 500.0

    qtbot.waitUntil(running, timeout=20_000)
    start(qtbot, console, "12 km/h", "treadmill, barefoot")
    assert console.record_button.text().startswith("Stop")
    pump(qtbot, 3.0)
    qtbot.keyClick(console, Qt.Key_F9)  # marker shortcut
    pump(qtbot, 0.5)
    qtbot.waitUntil(lambda: console.figures.text("Markers") == "1", timeout=10_000)
    assert console.figures.text("Trial") == "● 12 km/h"
    live_curves = console.force_plot.curve_names()
    assert len(live_curves) == 2
    t_live, fz_live = console.force_plot.curve_data(live_curves[0])
    assert t_live.size > 1000 and np.nanmax(fz_live) > 500.0  # running loads on the belt
    stop(qtbot, console)

    path = console.session_path
    trials, markers, events, streams = read_file(path)
    assert [(t["name"], t["tags"]) for t in trials] == [("12 km/h", ["treadmill", "barefoot"])]
    assert trials[0]["stop_s"] is not None and trials[0]["duration_s"] > 3.0
    assert [m["label"] for m in markers] == ["M1"]
    assert set(streams) == set(live_curves)
    report = console.backend.trials[-1]
    for name, data in streams.items():
        assert data.samples.shape[0] > 3.0 * data.rate_hz
        assert_complete(data, report["recording"]["streams"][name])
        fz = data.channel("fz")
        assert np.nanmax(fz) > 500.0
    assert console.summary.title.text() == "Trial: 12 km/h  [treadmill, barefoot]"
    coach = console.summary.coach.text().splitlines()
    assert coach[0].startswith("Mid-stance peak") and "95 % CI" in coach[0]
    assert console.summary.stance_table.rowCount() > 5
    # a row of the stride table shows that stance's curve
    stance = console.summary.summary["result"]["stances"][3]
    console.summary.stance_table.setCurrentCell(3, 0)
    (curve,) = console.summary.stance_plot.getPlotItem().listDataItems()
    x, y = curve.getData()
    assert x[-1] == pytest.approx(stance["end_s"] - stance["start_s"], abs=0.01)
    assert np.nanmax(y) == pytest.approx(stance["peak_force_n"], rel=0.05)
    assert console.tabs.currentIndex() == 1
    assert report["name"] == "12 km/h"

    # the Review tab opens the same file and analyses the trial
    console.open_review(path)
    qtbot.waitUntil(lambda: console.review.analysis is not None, timeout=60_000)
    assert console.review.trial_list.count() == 2  # whole session + the trial
    assert console.review.selected_trial() == "12 km/h"
    assert console.review.text.toPlainText().strip()


def test_live_asymmetry_converges_to_the_simulated_asymmetry(qtbot, console):
    connect(qtbot, console, "sim:treadmill?asymmetry=-0.15&seed=5")
    console.mass_spin.setValue(70.0)
    start(qtbot, console, "asym")
    qtbot.waitUntil(lambda: console.asymmetry.si_pct is not None
                    and console.last_snapshot.left_n >= 8 and console.last_snapshot.right_n >= 8,
                    timeout=30_000)
    si = console.asymmetry.si_pct
    assert si == pytest.approx(-15.0, abs=2.5)
    assert "higher on the left" in console.asymmetry.words.text()
    noise = console.last_snapshot.si_noise
    if not noise["settled"]:  # the CI is still wider than ±2 %: grey, and the steps still needed
        assert console.asymmetry.colour == NEUTRAL_COLOUR
        assert "more step" in console.asymmetry.words.text()
        qtbot.waitUntil(lambda: console.last_snapshot.si_noise["settled"]
                        and console.asymmetry.settled, timeout=90_000)
    # 15 % with a settled CI is far above the mid-stance peak's healthy band: the warning
    # colour, and the words say so
    assert console.asymmetry.level == "flag" and console.asymmetry.colour == WARN_COLOUR
    band = console.last_snapshot.si_noise["band_si_pct"]
    assert f"above the healthy band ±{band:.1f} %" in console.asymmetry.detail.text()
    assert console.last_snapshot.unit == "BW"
    bars = console.stride_bars.values
    snap = console.last_snapshot
    # one bar per completed stance (the list is read just after the counts: +2 at most)
    assert 0 <= len(bars) - (snap.left_n + snap.right_n) <= 2
    assert {s for s, _ in bars} == {"left", "right"}
    left = np.mean([v for s, v in bars if s == "left"])
    right = np.mean([v for s, v in bars if s == "right"])
    assert (right - left) / ((right + left) / 2) * 100 == pytest.approx(-15.0, abs=4.0)
    cadence = console.figures.text("Cadence")
    assert cadence.endswith("spm") and 120 < float(cadence.split()[0]) < 220
    assert console.figures.text("Contact L").endswith("ms")
    stop(qtbot, console)
    headline = console.summary.coach.text().splitlines()[0]
    assert "higher on the left" in headline
    # the Summary colours the headline by the same level rule: 15 % is above the band
    assert console.summary.coach_level in ("watch", "flag")
    assert LEVEL_WORDS[console.summary.coach_level] in headline
    assert LEVEL_COLOURS[console.summary.coach_level] in console.summary.coach.styleSheet()


def test_unplug_during_a_trial_shows_the_error_and_keeps_the_data(qtbot, console):
    connect(qtbot, console, "sim:treadmill?seed=3&faults=unplug:3.0")
    start(qtbot, console, "unplug")
    qtbot.waitUntil(lambda: console.error_banner.isVisible(), timeout=20_000)
    assert "lost" in console.last_error.lower() or "unplug" in console.last_error.lower()
    qtbot.waitUntil(lambda: console.last_snapshot is not None
                    and console.last_snapshot.state == "error", timeout=5_000)
    assert "error" in console.state_label.text()
    assert console.record_button.isEnabled()  # the operator can still stop and save
    stop(qtbot, console)
    trials, _, events, streams = read_file(console.session_path)
    assert [t["name"] for t in trials] == ["unplug"]
    assert any("lost" in e["kind"] or "unplug" in e["kind"] for e in events)
    for data in streams.values():
        assert data.samples.shape[0] > 1.0 * data.rate_hz  # what came before the unplug
        assert np.all(np.diff(data.seq) >= 1)


def test_a_stalled_gui_thread_loses_no_sample(qtbot, console):
    connect(qtbot, console, "sim:treadmill?seed=8")
    start(qtbot, console, "stall")
    pump(qtbot, 1.0)
    time.sleep(2.0)  # the GUI thread is blocked: no timer, no peek, no event handling
    pump(qtbot, 1.0)
    stop(qtbot, console)
    report = console.backend.trials[-1]
    _, _, _, streams = read_file(report["path"])
    for name, recorded in report["recording"]["streams"].items():
        data = streams[name]
        # every sample the devices delivered during the 4 s, the stalled 2 s included
        assert recorded["samples_recorded"] >= 3.5 * data.rate_hz
        assert_complete(data, recorded)


def _answer_question(button: int, answered: list) -> None:
    box = QApplication.activeModalWidget()
    if isinstance(box, QMessageBox):
        answered.append(box.text())
        box.button(button).click()
    else:
        QTimer.singleShot(50, lambda: _answer_question(button, answered))


def test_closing_while_recording_asks_then_finalises_the_file(qtbot, console):
    connect(qtbot, console, "sim:treadmill?seed=4")
    start(qtbot, console, "close me")
    pump(qtbot, 1.5)
    answered: list[str] = []
    QTimer.singleShot(50, lambda: _answer_question(QMessageBox.No, answered))
    assert console.close() is False  # the operator said no: still recording
    assert answered and "being recorded" in answered[0]
    assert console.backend.is_recording
    pump(qtbot, 0.5)
    QTimer.singleShot(50, lambda: _answer_question(QMessageBox.Yes, answered))
    assert console.close() is True
    assert len(answered) == 2
    assert not console.backend.is_recording
    trials, _, _, streams = read_file(console.session_path)
    assert [t["name"] for t in trials] == ["close me"]
    assert trials[0]["stop_s"] is not None
    for data in streams.values():
        assert data.samples.shape[0] > 1.5 * data.rate_hz


@pytest.mark.parametrize(
    "device, streams",
    [
        ("sim:plate?asymmetry=-0.12&seed=21", 1),  # one plate under both feet: sides from COP
        ("sim:insoles?asymmetry=-0.12&seed=21", 2),  # INS1 pair at 100 Hz, one stream per foot
    ],
)
def test_other_setups_show_sides_and_asymmetry(qtbot, console, device, streams):
    connect(qtbot, console, device)
    console.mass_spin.setValue(70.0)
    start(qtbot, console, "setup")
    qtbot.waitUntil(lambda: console.last_snapshot is not None
                    and console.last_snapshot.left_n >= 8 and console.last_snapshot.right_n >= 8,
                    timeout=30_000)
    assert console.asymmetry.si_pct == pytest.approx(-12.0, abs=3.0)
    assert {s for s, _ in console.stride_bars.values} == {"left", "right"}
    assert len(console.force_plot.curve_names()) == streams
    stop(qtbot, console)
    _, _, _, data = read_file(console.session_path)
    assert len(data) == streams
    assert all(d.samples.shape[0] > 2.0 * d.rate_hz for d in data.values())


def test_full_disk_during_a_trial_shows_the_error_and_keeps_the_data(qtbot, console,
                                                                     monkeypatch):
    """The file system reports almost no free space mid-trial (a full disk cannot be made
    here): the store closes the file cleanly, the console says so, nothing before is lost."""
    import forcelab.store.writer as writer_module

    real_statvfs = writer_module.os.statvfs
    full = {"on": False}

    class _Full:
        def __init__(self, st):
            self.f_frsize = st.f_frsize
            self.f_bavail = 10 if full["on"] else st.f_bavail

    monkeypatch.setattr(writer_module.os, "statvfs", lambda p: _Full(real_statvfs(p)))
    connect(qtbot, console, "sim:treadmill?seed=9")
    start(qtbot, console, "disk")
    pump(qtbot, 2.0)
    full["on"] = True
    qtbot.waitUntil(lambda: console.error_banner.isVisible(), timeout=10_000)
    assert "disk" in console.last_error.lower()
    stop(qtbot, console)
    full["on"] = False
    trials, _, _, streams = read_file(console.session_path)
    assert [t["name"] for t in trials] == ["disk"]
    for data in streams.values():
        assert data.samples.shape[0] > 1.5 * data.rate_hz
        assert np.all(np.diff(data.seq) >= 1)


def test_refresh_lists_running_simulated_ports_and_disconnect_releases_them(qtbot, console):
    connect(qtbot, console, "sim:treadmill?seed=12")
    qtbot.mouseClick(console.refresh_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: any("device(s) found" in line for line in log_lines(console)),
                    timeout=10_000)
    items = [console.device_combo.itemText(i) for i in range(console.device_combo.count())]
    ports = [i for i in items if i.startswith("fpb1://")]
    assert len(ports) >= 2
    assert console.device_combo.currentText() == "sim:treadmill?seed=12"
    qtbot.mouseClick(console.disconnect_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: console.backend.state == "idle" and not console.jobs.busy
                    and console.connect_button.isEnabled(), timeout=15_000)
    assert not console.tare_button.isEnabled()
