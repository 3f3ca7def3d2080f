"""A technician's day in the real console: what used to show wrong numbers, and the session a
lab runs (one file, many trials). Real simulated devices behind ptys, real SessionController,
store and analysis; the window is a real ConsoleWindow (pytest-qt, offscreen)."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt5.QtCore import QPoint, Qt

from forcelab.console.settings import ConsoleSettings
from forcelab.console.window import ConsoleWindow

pytest.importorskip("forcelab.drivers.open")

CONNECT_TIMEOUT_MS = 30_000


def connect(qtbot, window, device: str) -> None:
    window.device_combo.setCurrentText(device)
    qtbot.keyClick(window, Qt.Key_K, Qt.ControlModifier)
    qtbot.waitUntil(lambda: window.backend.is_connected and not window.jobs.busy,
                    timeout=CONNECT_TIMEOUT_MS)


def start(qtbot, window, name: str) -> None:
    window.trial_name.setText(name)
    qtbot.keyClick(window, Qt.Key_F5)
    # the job's result is handled (session file shown) once the log says so
    qtbot.waitUntil(lambda: any(f"recording '{name}'" in window.log_list.item(i).text()
                                for i in range(window.log_list.count())), timeout=15_000)


def stop(qtbot, window) -> None:
    window.last_summary = ""
    qtbot.keyClick(window, Qt.Key_F5)
    qtbot.waitUntil(lambda: bool(window.last_summary) and not window.jobs.busy, timeout=60_000)


def device_states(window) -> list[str]:
    return [window.device_table.item(r, 2).text() for r in range(window.device_table.rowCount())]


def test_start_is_refused_while_every_device_is_lost(qtbot, console, tmp_path):
    connect(qtbot, console, "sim:treadmill?seed=5&faults=unplug:1.0")
    qtbot.waitUntil(lambda: device_states(console) == ["⚠ lost", "⚠ lost"], timeout=20_000)
    assert console.error_banner.isVisible() and console.banner_kind == "connection"
    # the Hz column does not pretend a rate while nothing arrives
    assert [console.device_table.item(r, 3).text() for r in range(2)] == ["—", "—"]
    assert not console.record_button.isEnabled()
    qtbot.keyClick(console, Qt.Key_F5)
    assert "No device is streaming" in console.last_error
    assert not console.backend.is_recording
    assert not (tmp_path / "sessions").exists() or not list((tmp_path / "sessions").iterdir())


def test_after_a_replug_the_banner_goes_and_the_trial_counts_only_its_own_losses(qtbot,
                                                                                console):
    connect(qtbot, console, "sim:treadmill?seed=6&faults=unplug:1.0,replug:1.0")
    qtbot.waitUntil(lambda: console.error_banner.isVisible(), timeout=20_000)
    assert console.banner_kind == "connection"
    # the automatic replug: streaming again, the banner goes by itself
    qtbot.waitUntil(lambda: device_states(console) == ["streaming", "streaming"]
                    and not console.error_banner.isVisible(), timeout=30_000)
    qtbot.waitUntil(lambda: all(console.device_table.item(r, 3).text() not in ("—", "0")
                                for r in range(2)), timeout=10_000)
    lost_since_connect = [int(console.device_table.item(r, 4).text()) for r in range(2)]
    assert min(lost_since_connect) > 500  # about a second of each plate lost while unplugged
    start(qtbot, console, "after replug")
    qtbot.wait(2000)
    stop(qtbot, console)
    summary = console.summary
    for stream in ("plate_left", "plate_right"):
        assert summary.figure(stream, "missing") == "0"
        assert summary.figure(stream, "dropped") == "0"
        assert int(summary.figure(stream, "samples").replace(",", "")) > 1500
    # the losses before Start stay where they belong: in the device table since connect
    assert [int(console.device_table.item(r, 4).text()) for r in range(2)] >= lost_since_connect


def test_tare_with_a_runner_on_the_belt_is_refused_with_the_reason(qtbot, console):
    connect(qtbot, console, "sim:treadmill?seed=7")
    # at once after connecting: the tare still judges a whole second of force
    qtbot.keyClick(console, Qt.Key_T, Qt.ControlModifier)
    qtbot.waitUntil(lambda: console.error_banner.isVisible(), timeout=20_000)
    assert console.banner_kind == "tare"
    assert "tare refused" in console.last_error and "moves on it" in console.last_error
    assert "step off" in console.error_label.text()
    logged = [console.log_list.item(i).text() for i in range(console.log_list.count())]
    assert not any(line.endswith("  tared") for line in logged)


def test_weighing_nobody_says_so_in_the_banner_and_the_light_agrees(qtbot, console):
    connect(qtbot, console, "sim:treadmill?seed=8&start=100")  # empty belts for 100 s
    qtbot.wait(1200)
    qtbot.keyClick(console, Qt.Key_T, Qt.ControlModifier)  # empty and still: accepted
    qtbot.waitUntil(lambda: any(console.log_list.item(i).text().endswith("  tared")
                                for i in range(console.log_list.count())), timeout=20_000)
    assert not console.error_banner.isVisible()
    qtbot.keyClick(console, Qt.Key_G, Qt.ControlModifier)
    qtbot.waitUntil(lambda: "nobody on the sensors" in console.stillness.text(), timeout=10_000)
    qtbot.waitUntil(lambda: console.stillness.state == "failed", timeout=20_000)
    assert "too low" in console.last_error
    assert "movement" not in console.stillness.text()  # no contradiction with the banner
    assert console.stillness.toolTip() in console.last_error


def test_three_trials_in_one_session_file_with_named_markers(qtbot, console):
    connect(qtbot, console, "sim:treadmill?seed=9")
    console.tabs.setCurrentIndex(2)
    console.trial_speed.setValue(3.5)
    console.trial_shoe.setText("racing flat")
    console.trial_notes.setText("first run of the day")
    start(qtbot, console, "run A")
    assert console.tabs.currentIndex() == 0  # Start shows the Live tab
    qtbot.wait(1500)
    qtbot.keyClick(console, Qt.Key_F9)  # mark now, then type the name
    assert console.marker_name.hasFocus()
    qtbot.keyClicks(console.marker_name.lineEdit(), "speed change")
    qtbot.keyClick(console.marker_name.lineEdit(), Qt.Key_Return)
    labels = console.force_plot.marker_labels()
    assert [label for _, label in labels] == ["speed change"]
    qtbot.wait(1000)
    stop(qtbot, console)
    first_file = console.session_path
    assert console.summary.title.text() == "Trial: run A"
    # second trial: fixed duration, stops by itself
    console.trial_duration.setValue(2)
    start(qtbot, console, "run B")
    qtbot.waitUntil(lambda: not console.backend.is_recording and bool(console.last_summary)
                    and console.summary.title.text() == "Trial: run B", timeout=30_000)
    console.trial_duration.setValue(0)
    start(qtbot, console, "run C")
    qtbot.wait(1000)
    stop(qtbot, console)
    assert console.session_path == first_file  # one file
    qtbot.keyClick(console, Qt.Key_N, Qt.ControlModifier)  # finalise it
    qtbot.waitUntil(lambda: not console.backend.session_open and not console.jobs.busy,
                    timeout=20_000)

    from forcelab.store import open_session

    with open_session(first_file) as session:
        trials, markers = session.trials, session.markers
    assert [t["name"] for t in trials] == ["run A", "run B", "run C"]
    assert trials[0]["speed_m_s"] == pytest.approx(3.5)
    assert trials[0]["shoe"] == "racing flat" and trials[0]["notes"] == "first run of the day"
    assert trials[1]["duration_s"] == pytest.approx(2.0, abs=0.5)
    assert [m["label"] for m in markers] == ["speed change"]
    assert trials[0]["start_s"] < markers[0]["t_s"] < trials[0]["stop_s"]
    # the next Start makes a new file
    start(qtbot, console, "next session")
    assert console.session_path != first_file
    stop(qtbot, console)
    # the whole day in Review: three trials and the marker labelled on the plot
    console.open_review(first_file)
    qtbot.waitUntil(lambda: console.review.analysis is not None, timeout=60_000)
    review = console.review
    assert review.trial_list.count() == 4  # whole session + three trials
    review.trial_list.setCurrentRow(1)
    qtbot.waitUntil(lambda: review.analysis["trial"] == "run A", timeout=60_000)
    assert [m["label"] for m in review.analysis["markers"]] == ["speed change"]
    drawn = [i.label.format for i in review.plot.getPlotItem().items
             if type(i).__name__ == "InfiniteLine" and i.label is not None]
    assert "speed change" in drawn


@pytest.mark.parametrize("size", [(1366, 768), (1024, 640)])
def test_start_and_the_log_stay_in_view_at_the_minimum_size(qtbot, config_dir, size):
    window = ConsoleWindow(settings=ConsoleSettings())
    qtbot.addWidget(window)
    window.show()
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=5_000)
    qtbot.wait(100)
    window.log("a long line the operator must be able to read to its very end, however narrow "
               "the column is: connection lost on plate_left, plug it back in")
    for widget in (window.record_button, window.marker_button, window.new_session_button,
                   window.log_list):
        assert widget.isVisible()
        top_left = widget.mapTo(window, QPoint(0, 0))
        assert top_left.y() >= 0 and top_left.y() + widget.height() <= window.height(), widget
        assert top_left.x() + widget.width() <= window.width()
    assert window.log_list.wordWrap()
    item = window.log_list.item(window.log_list.count() - 1)
    rect = window.log_list.visualItemRect(item)
    assert rect.height() > window.log_list.fontMetrics().height() * 1.5  # wrapped, not cut
    # every number on the live tab says what it is
    for label in window.figures.labels.values():
        assert label.toolTip()
    for action in (window.start_stop_action, window.marker_action, window.tare_action,
                   window.weigh_action, window.new_session_action, window.connect_action,
                   window.open_action):
        assert not action.shortcut().isEmpty()


def test_an_armed_trial_starts_when_the_athlete_steps_on(qtbot, console):
    import time

    connect(qtbot, console, "sim:treadmill?seed=10&start=4")  # on the belt after 4 s
    console.auto_start.setChecked(True)
    qtbot.keyClick(console, Qt.Key_F5)
    armed_at = time.monotonic()
    assert console.record_button.text().startswith("Armed")
    assert not console.backend.is_recording
    qtbot.waitUntil(lambda: console.backend.is_recording, timeout=20_000)
    waited_s = time.monotonic() - armed_at
    qtbot.waitUntil(lambda: console.record_button.text().startswith("Stop"), timeout=10_000)
    qtbot.wait(1000)
    stop(qtbot, console)
    from forcelab.store import read_recording

    rec = read_recording(console.session_path, trial="trial 1")
    total = sum(s.fz[: int(0.3 * s.rate_hz)] for s in rec.streams if s.side is not None)
    assert waited_s > 1.0  # nothing started while the belts were empty
    assert np.nanmax(total) > 200.0  # the trial begins with the athlete on the belt


def test_insoles_show_their_pressure_maps_and_cop_and_force_in_bw(qtbot, console):
    connect(qtbot, console, "sim:insoles?seed=4")
    qtbot.waitUntil(lambda: console.insole_map.isVisible()
                    and len(console.insole_map.stream_names()) == 2, timeout=15_000)
    maps = console.insole_map._views
    assert {plot.titleLabel.text for _, _, plot in maps.values()} == {"left", "right"}

    def loaded() -> bool:  # some cell under load: bigger dots, and a centre-of-pressure path
        for dots, trace, _ in maps.values():
            sizes = np.array([p.size() for p in dots.points()])
            x, y = trace.getData()
            if sizes.size == 16 and sizes.max() > 12 and x is not None and np.isfinite(x).any():
                return True
        return False

    qtbot.waitUntil(loaded, timeout=15_000)
    # force in body weights needs a body mass; with one, the axis says BW
    console.mass_spin.setValue(0.0)
    console.unit_combo.setCurrentText("BW")
    assert console.unit_combo.currentText() == "N" and "body mass" in console.last_error
    console.mass_spin.setValue(68.0)
    console.unit_combo.setCurrentText("BW")
    assert console.force_plot.getPlotItem().getAxis("left").labelText == "Vertical force (BW)"
    qtbot.waitUntil(lambda: bool(console.force_plot.curve_names())
                    and np.nanmax(console.force_plot.curve_data(
                        console.force_plot.curve_names()[0])[1]) < 5.0, timeout=10_000)
