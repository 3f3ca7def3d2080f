"""The Review tab on real recordings (OpenSim walking, imported into a session file)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forcelab.console.exports import available_exports, export_command
from forcelab.console.review import decimate_minmax
from forcelab.console.settings import ConsoleSettings
from forcelab.console.window import ConsoleWindow
from forcelab.errors import ExportError


@pytest.fixture
def walking_session(shared_data, tmp_path):
    from forcelab.interop import load_recording
    from forcelab.store import write_recording

    rec = load_recording(shared_data / "opensim_walking" / "subject01_walk1_grf.mot")
    path = tmp_path / "walk.h5"
    write_recording(rec, path, athlete={"name": "OpenSim subject01", "body_mass_kg": 72.6},
                    trial="walk1")
    return path


@pytest.fixture
def window(qtbot, config_dir):
    w = ConsoleWindow(settings=ConsoleSettings())
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


def test_review_a_real_walking_session_and_export_it(qtbot, window, walking_session, tmp_path):
    window.open_review(str(walking_session))
    assert window.tabs.currentWidget() is window.review
    qtbot.waitUntil(lambda: window.review.analysis is not None or window.error_banner.isVisible(),
                    timeout=60_000)
    assert not window.error_banner.isVisible(), window.last_error
    review = window.review
    assert review.trial_list.count() == 2 and review.selected_trial() == "walk1"
    assert "OpenSim subject01 (72.6 kg)" in review.info_label.text()
    text = review.text.toPlainText()
    # walking: two peaks per stance, compared as first/second peak (never a mid-stance peak)
    assert "First peak" in text and "Mid-stance peak" not in text and "higher on the" in text
    result = review.analysis["result"]
    sides = {s["side"] for s in result["stances"] if s["valid"]}
    assert sides == {"left", "right"}
    # plotted curves are the real force (decimated with peaks kept)
    for _name, (_t, fz, _side) in review.analysis["curves"].items():
        assert 700 < np.nanmax(fz) < 900  # ~1.1 BW of a 72.6 kg walker
    assert set(review.export_buttons) == set(available_exports())
    if "json" in review.export_buttons:
        assert review.export_buttons["json"].isEnabled()
        out = tmp_path / "walk.json"
        review.export("json", str(out))
        qtbot.waitUntil(lambda: "Exported to" in review.text.toPlainText() or
                        window.error_banner.isVisible(), timeout=60_000)
        assert not window.error_banner.isVisible(), window.last_error
        doc = json.loads(out.read_text(encoding="utf-8"))
        assert isinstance(doc, dict) and doc


def test_reviewing_a_file_that_is_not_a_session_shows_a_clear_error(qtbot, window, tmp_path):
    bogus = tmp_path / "notes.h5"
    bogus.write_text("this is not HDF5")
    window.open_review(str(bogus))
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=30_000)
    assert window.last_error.startswith("Review:")
    assert "Cannot open" in window.review.file_label.text()
    assert bogus.read_text() == "this is not HDF5"  # untouched


def test_export_command_lines():
    cmd = export_command("c3d", "s.h5", "run 1", "out.c3d")
    assert cmd[1:] == ["-m", "forcelab", "export", "s.h5", "--format", "c3d", "-o", "out.c3d",
                       "--trial", "run 1"]
    assert export_command("html", "s.h5", None, "r.html")[1:] == [
        "-m", "forcelab", "report", "s.h5", "-o", "r.html"]
    with pytest.raises(ExportError, match="unknown export format"):
        export_command("xls", "s.h5", None, "x")


def test_minmax_decimation_keeps_every_peak():
    rng = np.random.default_rng(1)
    t = np.arange(100_003) / 1000.0
    y = rng.normal(size=t.size)
    y[[17, 5000, 77_777]] = [50.0, -40.0, 60.0]
    y[200:260] = np.nan
    td, yd = decimate_minmax(t, y, 2000)
    assert yd.size <= 2000
    assert {50.0, -40.0, 60.0} <= set(yd.tolist())
    assert np.all(np.diff(td) >= 0)
    same_t, same_y = decimate_minmax(t[:100], y[:100], 2000)
    assert np.array_equal(same_y, y[:100], equal_nan=True)
