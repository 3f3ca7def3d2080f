"""The Review tab on real recordings (OpenSim walking, imported into a session file)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forcelab.console.exports import available_exports, export_command
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
    # plotted curves are the real force, every sample
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


def test_review_draws_a_long_trial_to_its_end_with_gaps_as_breaks(qtbot, window, tmp_path,
                                                                  running_session):
    """A 48 s trial at 1 kHz: every sample is plotted (the screen is reduced by pyqtgraph's own
    peak downsampling), the end is there, the gap is a break, the zoom follows the overview."""
    path = running_session(tmp_path / "long.h5", 48.0, trial="48 s")
    window.open_review(str(path))
    qtbot.waitUntil(lambda: window.review.analysis is not None or window.error_banner.isVisible(),
                    timeout=60_000)
    assert not window.error_banner.isVisible(), window.last_error
    review = window.review
    curves = review.plot.getPlotItem().listDataItems()
    assert len(curves) == 2
    for curve in curves:
        x, y = curve.getOriginalDataset()
        assert x[-1] == pytest.approx(47.999, abs=1e-6)
        assert x.size == 48_000
        assert np.isnan(y[(x >= 20.0) & (x < 20.5)]).all()  # the gap stays a break
        assert curve.opts["connect"] == "finite"
        assert curve.opts["autoDownsample"] and curve.opts["downsampleMethod"] == "peak"
    over = review.overview_plot.getPlotItem()
    assert over.viewRange()[0][1] >= 47.9  # the overview shows the whole trial
    review.zoom_region.setRegion((30.0, 34.0))
    lo, hi = review.zoom_range()
    assert lo == pytest.approx(30.0, abs=0.05) and hi == pytest.approx(34.0, abs=0.05)
    # the per-stride table: one row per stance, clicking a row zooms to that stance
    table = review.stance_table
    stances = review.analysis["result"]["stances"]
    assert table.rowCount() == len(stances) > 100
    row = 40
    table.setCurrentCell(row, 0)
    lo, hi = review.zoom_range()
    st = stances[row]
    assert lo < st["start_s"] < st["end_s"] < hi and hi - lo < 1.0
    assert table.item(row, 1).text() in ("L", "R")
    assert table.item(row, 2).text() == st["stream"]
    assert "BW" in table.horizontalHeaderItem(6).text()
    assert table.item(row, 6).toolTip().startswith("Mid-stance")
    # mean curves with SD bands per side
    mean = review.analysis["stance_curves"]
    assert set(mean) == {"left", "right"}
    for avg, sd in mean.values():
        assert avg.shape == (101,) and np.nanmax(avg) == pytest.approx(1600 / (70 * 9.80665),
                                                                        rel=0.1)
        assert np.all(sd >= 0)
    bands = [i for i in review.mean_plot.getPlotItem().items
             if type(i).__name__ == "FillBetweenItem"]
    assert len(bands) == 2
