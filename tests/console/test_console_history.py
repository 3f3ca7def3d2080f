"""The History tab on real session files: an athlete's sessions, trials and asymmetry trend."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt5.QtCore import Qt

from forcelab.analysis.asymmetry import LEVEL_WORDS, level_of
from forcelab.console.athletes import Athlete
from forcelab.console.widgets import LEVEL_COLOURS


@pytest.fixture
def window(window):
    """The console window at the laptop size the history views are laid out for."""
    window.resize(1366, 768)
    return window


def test_history_lists_the_athletes_sessions_and_the_asymmetry_trend(qtbot, window, tmp_path,
                                                                     running_session):
    folder = tmp_path / "sessions"
    folder.mkdir()
    ann = {"name": "Ann Runner", "id": "A1"}
    # three sessions of Ann: 10 % higher on the right, then 5 %, then symmetric
    for i, scale in enumerate((1.105, 1.05, 1.0)):
        running_session(folder / f"2026120{i + 1}-090000_ann.h5", 20.0, athlete=ann,
                        trial=f"run {i + 1}", right_scale=scale)
    running_session(folder / "20261202-100000_bob.h5", 20.0, athlete={"name": "Bob", "id": "B7"})
    (folder / "notes.h5").write_text("not a session")  # skipped, untouched
    window.output_edit.setText(str(folder))
    window.save_athlete(Athlete("Ann Runner", athlete_id="A1", body_mass_kg=70.0))
    qtbot.keyClick(window, Qt.Key_4, Qt.ControlModifier)  # the History tab
    assert window.tabs.currentWidget() is window.history
    qtbot.waitUntil(lambda: window.history.history is not None, timeout=120_000)
    history = window.history.history
    assert [s["trials"][0]["name"] for s in history["sessions"]] == ["run 1", "run 2", "run 3"]
    si = [p["si_pct"] for p in history["points"]]
    assert si[0] == pytest.approx(10.0, abs=1.5) and si[1] == pytest.approx(5.0, abs=1.5)
    assert abs(si[2]) < 1.5
    for p in history["points"]:
        lo, hi = p["ci95_pct"]
        assert lo <= p["si_pct"] <= hi and hi - lo < 5.0
    tree = window.history.tree
    assert tree.topLevelItemCount() == 3
    row = tree.topLevelItem(0).child(0)
    assert row.text(0) == "run 1" and row.text(3).startswith("+")
    assert "higher on the right" in row.toolTip(3)
    # each SI is shown and coloured by its level (the rule of the report): signed and coloured
    # only when the interval tells it from zero, the level in words in the tooltip
    for k, p in enumerate(history["points"]):
        cell = tree.topLevelItem(k).child(0)
        assert p["level"] == level_of({"si_pct": p["si_pct"], "ci95_pct": p["ci95_pct"],
                                       **history["sessions"][k]["trials"][0]["noise"]})
        assert cell.foreground(3).color().name() == LEVEL_COLOURS[p["level"]]
        assert (cell.text(3) == "not detectable") == (p["level"] == "noise")
        assert LEVEL_WORDS[p["level"]] in cell.toolTip(3)
    assert history["points"][0]["level"] in ("ok", "watch", "flag")  # 10 %: detectable
    bars = window.history.error_bars
    assert np.allclose(bars.opts["y"], si)
    assert window.history.title.text() == "Ann Runner: 3 session(s), 3 trial(s)"
    assert (folder / "notes.h5").read_text() == "not a session"
    # a trial opens in Review
    tree.itemActivated.emit(row, 0)
    assert window.tabs.currentWidget() is window.review
    qtbot.waitUntil(lambda: window.review.analysis is not None, timeout=60_000)
    assert window.review.selected_trial() == "run 1"
