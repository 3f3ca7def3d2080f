"""The Feedback tab on a real simulated treadmill session (real ptys, drivers, controller,
feedback engine, store and widgets; pytest-qt, offscreen): what the big display shows for cues in
and out of the band, the greyed-out rule for cues the schedule does not show, and the protocol's
trials and cues in the session file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PyQt5.QtCore import Qt
from PyQt5.QtGui import QColor

from forcelab.analysis.feedback import Cue
from forcelab.console.feedback import GREY, ZONE_COLOURS, ZONE_WORDS, CueDisplay, format_value
from forcelab.errors import InputError

pytest.importorskip("forcelab.drivers.open")


def connect(qtbot, window, device: str) -> None:
    window.device_combo.setCurrentText(device)
    qtbot.mouseClick(window.connect_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.backend.is_connected and not window.jobs.busy,
                    timeout=30_000)


def colour_pixels(widget, colour: str) -> int:
    """Pixels of exactly ``colour`` in a fresh rendering of ``widget``."""
    img = widget.grab().toImage()
    rgb = QColor(colour).rgb()
    ptr = img.constBits()
    ptr.setsize(img.byteCount())
    px = np.frombuffer(ptr, dtype=np.uint32).reshape(img.height(), img.bytesPerLine() // 4)
    return int(np.count_nonzero((px & 0xFFFFFF) == (rgb & 0xFFFFFF)))


def make_cue(value, zone, shown, band=(60.0, 70.0), index=3):
    return Cue(index, "right", "valr_bw_s", value, band[0], band[1], zone, "bandwidth", shown,
               None, "training", 1.0, 1.004)


@pytest.mark.parametrize("value, zone", [(65.0, "in"), (75.0, "above"), (52.0, "below")])
def test_display_shows_zone_colour_number_and_words(qtbot, value, zone):
    display = CueDisplay()
    qtbot.addWidget(display)
    display.resize(800, 400)
    display.set_cue(make_cue(value, zone, shown=True), "BW/s")
    assert display.value_text == f"{value:.1f} BW/s" and display.zone_text == ZONE_WORDS[zone]
    assert not display.greyed and display.colour == ZONE_COLOURS[zone]
    drawn = colour_pixels(display, ZONE_COLOURS[zone])
    assert drawn > 2000  # the big number and the mark, in the zone's colour
    others = [c for z, c in ZONE_COLOURS.items() if z not in (zone, "")]
    assert all(colour_pixels(display, c) == 0 for c in others)
    # the mark sits left of the band below it, right of it above it
    rng = display.bar_range()
    assert rng[0] < 52.0 and rng[1] > 75.0


def test_a_cue_not_shown_is_grey_and_has_no_zone_colour(qtbot):
    display = CueDisplay()
    qtbot.addWidget(display)
    display.resize(800, 400)
    display.set_cue(make_cue(75.0, "above", shown=False), "BW/s")
    assert display.greyed and display.colour == GREY
    assert all(colour_pixels(display, c) == 0 for c in ZONE_COLOURS.values() if c != GREY)
    assert colour_pixels(display, GREY) > 2000
    # the next shown cue is coloured again
    display.set_cue(make_cue(65.0, "in", shown=True, index=5), "BW/s")
    assert colour_pixels(display, ZONE_COLOURS["in"]) > 2000


def test_runner_screen_toggles_full_screen(qtbot):
    from forcelab.console.feedback import RunnerScreen

    screen = RunnerScreen()
    qtbot.addWidget(screen)
    screen.show()
    assert not screen.isFullScreen()
    qtbot.keyClick(screen, Qt.Key_F11)
    qtbot.waitUntil(screen.isFullScreen, timeout=5000)
    qtbot.keyClick(screen, Qt.Key_Escape)
    qtbot.waitUntil(lambda: not screen.isFullScreen(), timeout=5000)


def test_format_value_units():
    assert format_value(0.2512, "s") == "251 ms"
    assert format_value(-3.25, "%") == "-3.2 %"
    assert format_value(172.4, "steps/min") == "172 steps/min"
    assert format_value(None, "N") == "—"


def test_form_rejects_a_change_target_without_baseline(qtbot, console):
    panel = console.feedback_panel
    panel.target_edit.setText("-15%")
    panel.phase_checks["baseline"].setChecked(False)
    with pytest.raises(InputError, match="baseline phase"):
        panel.engine_from_form()
    panel.target_edit.setText("fast")
    panel.phase_checks["baseline"].setChecked(True)
    with pytest.raises(InputError, match="not a value"):
        panel.engine_from_form()
    # through the button: one line in the banner, nothing recorded
    connect(qtbot, console, "sim:treadmill?seed=3")
    qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    assert "not a value" in console.last_error and not panel.running
    assert not console.backend.session_open


def test_protocol_on_the_simulated_treadmill(qtbot, console, tmp_path):
    """Baseline (no cues shown) then training with the bandwidth schedule: every cue the
    display shows matches the cue, grey exactly when the schedule did not show it."""
    panel = console.feedback_panel
    console.tabs.setCurrentWidget(panel)
    connect(qtbot, console, "sim:treadmill?seed=5&rate=1000")
    panel.metric_combo.setCurrentIndex(panel.metric_combo.findData("contact_time_s"))
    panel.side_combo.setCurrentText("both")
    # the band is 0.90-1.00 x the baseline mean: stances longer than that mean are above
    panel.target_edit.setText("-5%")
    panel.schedule_combo.setCurrentText("bandwidth")
    panel.audio_combo.setCurrentText("tone")
    for phase, seconds in (("baseline", 9.0), ("training", 9.0)):
        panel.phase_checks[phase].setChecked(True)
        panel.phase_spins[phase].setValue(seconds)
    for phase in ("post", "retention"):
        panel.phase_checks[phase].setChecked(False)

    seen: list[tuple[Cue, bool, str, str, str]] = []
    set_cue = panel.display.set_cue

    def spy(cue, unit):
        set_cue(cue, unit)
        seen.append((cue, panel.display.greyed, panel.display.colour, panel.display.value_text,
                     panel.display.zone_text))

    panel.display.set_cue = spy
    qtbot.mouseClick(panel.runner_button, Qt.LeftButton)  # the runner's own window
    screen = panel.runner_screen
    assert screen.isVisible() and screen.display in panel.displays()
    issued: list[Cue] = []
    console.backend.add_cue_listener(issued.append)
    qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    assert panel.running and not panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: panel.phase == "training", timeout=60_000)
    assert console.backend.is_recording or console.jobs.busy
    qtbot.waitUntil(lambda: not panel.running, timeout=90_000)
    qtbot.waitUntil(lambda: not console.jobs.busy and not console.backend.session_open,
                    timeout=60_000)
    assert panel.phase_label.text() == "protocol done"
    assert screen.phase_label.text() == "protocol done"
    assert seen, "no cue reached the display"
    # the runner screen shows the same last cue, as large as the window allows
    assert screen.display.cue == panel.display.cue
    assert screen.display.colour == panel.display.colour
    assert screen.display.value_text == panel.display.value_text
    for cue, greyed, colour, value_text, zone_text in seen:
        assert greyed == (not cue.shown)
        assert colour == (GREY if greyed else ZONE_COLOURS[cue.zone])
        assert value_text == format_value(cue.value, "s")
        assert zone_text == ZONE_WORDS[cue.zone]
    baseline = [c for c in issued if c.phase == "baseline"]
    training = [c for c in issued if c.phase == "training"]
    assert baseline and training
    assert not any(c.shown for c in baseline)  # no feedback in the baseline phase
    # bandwidth: shown exactly when outside the band
    assert all(c.shown == (c.zone in ("below", "above")) for c in training)
    assert {c.zone for c in training} == {"in", "above"}
    # the counts on screen are the cues issued
    assert panel.issued["baseline"] == len(baseline)
    assert panel.issued["training"] == len(training)
    assert panel.shown["training"] == sum(c.shown for c in training)
    assert f"training {len(training)}/{panel.shown['training']}" in panel.count_label.text()
    # the session file holds the phases, every cue and the settings
    from forcelab.store import open_session

    with open_session(console.session_path) as sf:
        trials, events = sf.trials, sf.events
    assert [(t["name"], t["tags"]) for t in trials] == [
        ("baseline", ["feedback:baseline"]), ("training", ["feedback:training"])]
    cues = [Cue.from_json(e["message"]) for e in events if e["kind"] == "cue"]
    assert [c.stance_index for c in cues] == [c.stance_index for c in issued]
    settings = [json.loads(e["message"]) for e in events if e["kind"] == "feedback"]
    assert settings[-1]["metric"] == "contact_time_s" and settings[-1]["schedule"] == "bandwidth"
    # the report page of this console-recorded protocol
    from forcelab.report.feedback import feedback_report

    fr = feedback_report(console.session_path)
    assert [p.phase for p in fr.phases] == ["baseline", "training"]
    assert fr.phases[1].cues_issued == len(training)
    assert fr.phases[1].cues_shown == sum(c.shown for c in training)


def test_stop_ends_the_protocol_and_finalises_its_file(qtbot, console):
    panel = console.feedback_panel
    connect(qtbot, console, "sim:treadmill?seed=7")
    # a metric in body weights needs the body mass: refused in one line until it is known
    panel.metric_combo.setCurrentIndex(panel.metric_combo.findData("valr_bw_s"))
    console.mass_spin.setValue(0.0)
    qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    assert "needs the athlete's body mass" in console.last_error and not panel.running
    assert not console.backend.session_open
    console.mass_spin.setValue(68.0)
    panel.target_edit.setText("0%")
    panel.phase_spins["baseline"].setValue(600.0)
    qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: console.backend.is_recording and not console.jobs.busy,
                    timeout=30_000)
    assert panel.phase == "baseline" and console.backend.controller.feedback is not None
    assert not panel.metric_combo.isEnabled() and panel.stop_button.isEnabled()
    qtbot.mouseClick(panel.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not console.backend.session_open and not console.jobs.busy,
                    timeout=60_000)
    assert panel.phase_label.text() == "protocol stopped" and not panel.running
    assert panel.metric_combo.isEnabled() and panel.start_button.isEnabled()
    assert console.backend.controller.feedback is None  # the next session gives no cues
    from forcelab.store import open_session

    with open_session(console.session_path) as sf:
        assert [t["name"] for t in sf.trials] == ["baseline"]
        assert sf.state["closed"]
        assert any(e["kind"] == "feedback" for e in sf.events)
