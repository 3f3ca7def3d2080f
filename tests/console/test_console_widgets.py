"""Live-view widgets and settings, as real Qt widgets (offscreen)."""

from __future__ import annotations

import numpy as np
import pytest

from forcelab.analysis.asymmetry import asymmetry_of, reference_band
from forcelab.console.settings import ConsoleSettings, config_dir
from forcelab.console.widgets import (
    NEUTRAL_COLOUR,
    OK_COLOUR,
    WARN_COLOUR,
    WATCH_COLOUR,
    AsymmetryReadout,
    LiveForcePlot,
    StillnessIndicator,
    StrideBars,
    describe_si,
)


@pytest.mark.parametrize(
    "si, words",
    [
        (-7.76, "7.8 % higher on the left"),
        (12.04, "12.0 % higher on the right"),
        (0.01, "symmetric"),
        (None, "n/a"),
        (float("nan"), "n/a"),
    ],
)
def test_si_in_words(si, words):
    assert describe_si(si) == words


def _strides(mean_n: float, sd_n: float, n: int = 30) -> np.ndarray:
    """n stride values with exactly this mean and sample SD, N."""
    x = np.linspace(-1.0, 1.0, n)
    return mean_n + sd_n * (x - x.mean()) / x.std(ddof=1)


def _noise(left: np.ndarray, right: np.ndarray) -> tuple[float, dict]:
    """SI and noise of the mid-stance peak as the analysis gives them (settled = CI ±2 %)."""
    a = asymmetry_of(left, right, "midstance_peak_n", "Mid-stance peak")
    return a["si_pct"], {**a, "settled": a["strides_needed"] == 0}


def test_asymmetry_readout_colours_only_detectable_differences_by_band(qtbot):
    readout = AsymmetryReadout()
    qtbot.addWidget(readout)
    band = reference_band("midstance_peak_n").si_pct
    # CI reaches across zero: grey, no direction, the analysis's words
    si, noise = _noise(_strides(1000.0, 60.0, 10), _strides(1010.0, 60.0, 10))
    assert not noise["detectable"]
    readout.set_values(si, 1000.0, 1010.0, 10, 10, "N", noise=noise)
    assert readout.colour == NEUTRAL_COLOUR and readout.level == "noise"
    assert readout.value.text() == "not detectable"
    assert "higher" not in readout.words.text() and "higher" not in readout.value.text()
    assert "not distinguishable from symmetric with 10 strides" in readout.words.text()
    # detectable, within the healthy band: ok colour and the band in words and tooltip
    si, noise = _noise(_strides(1000.0, 5.0), _strides(1030.0, 5.0))
    readout.set_values(si, 1000.0, 1030.0, 30, 30, "N", noise=noise)
    assert readout.colour == OK_COLOUR and readout.value.text() == "SI +3.0 %"
    assert "3.0 % higher on the right" in readout.words.text()
    assert f"within the healthy band ±{band:.1f} %" in readout.detail.text()
    assert f"|SI| ≤ {band:.1f} %" in readout.toolTip()
    assert "L 1000 N (n=30)" in readout.detail.text()
    # the whole CI above the band: warning colour, "above" in words
    si, noise = _noise(_strides(1000.0, 5.0), _strides(1150.0, 5.0))
    readout.set_values(si, 1000.0, 1150.0, 30, 30, "N", noise=noise)
    assert readout.colour == WARN_COLOUR and readout.level == "flag"
    assert "above the healthy band" in readout.detail.text()
    # above the band, but the CI reaches into it: the amber "may be above"
    si, noise = _noise(_strides(1000.0, 30.0), _strides(1122.0, 30.0))
    assert noise["ci95_pct"][0] < band < si and noise["settled"]
    readout.set_values(si, 1000.0, 1122.0, 30, 30, "N", noise=noise)
    assert readout.colour == WATCH_COLOUR and "may be above" in readout.detail.text()
    # detectable and far above the band, but the CI is wider than ±2 %: grey until settled
    si, noise = _noise(_strides(1000.0, 80.0, 8), _strides(1150.0, 80.0, 8))
    assert noise["detectable"] and noise["strides_needed"] > 0
    readout.set_values(si, 1000.0, 1150.0, 8, 8, "N", noise=noise)
    assert readout.colour == NEUTRAL_COLOUR and not readout.settled
    assert "grey until the 95 % CI is within ±2 %" in readout.detail.text()
    readout.set_values(None)
    assert readout.value.text() == "—" and readout.colour == NEUTRAL_COLOUR


def test_live_plot_scrolls_a_ten_second_window(qtbot):
    plot = LiveForcePlot(window_s=10.0)
    qtbot.addWidget(plot)
    rate = 2000.0
    t = np.arange(int(25 * rate)) / rate
    left = 1000 * np.clip(np.sin(2 * np.pi * 1.4 * t), 0, None)
    right = 1100 * np.clip(-np.sin(2 * np.pi * 1.4 * t), 0, None)
    plot.update_data({"belt_l": (t, left), "belt_r": (t, right)},
                     {"belt_l": "left", "belt_r": "right"})
    (x0, x1), _ = plot.getPlotItem().viewRange()
    assert x0 == pytest.approx(t[-1] - 10.0, abs=1e-6)
    assert x1 == pytest.approx(t[-1], abs=1e-6)
    x, y = plot.curve_data("belt_r")
    assert np.array_equal(y, right) and np.array_equal(x, t)
    assert plot.curve_names() == ["belt_l", "belt_r"]
    curve = plot.getPlotItem().listDataItems()[0]
    assert curve.opts["downsampleMethod"] == "peak" and curve.opts["autoDownsample"]
    assert curve.opts["clipToView"]
    plot.clear_curves()
    assert plot.curve_names() == []


def test_stride_bars_keep_the_last_stances_per_side(qtbot):
    bars = StrideBars(n_max=4)
    qtbot.addWidget(bars)
    stances = [("left", 1.0), ("right", 2.0), ("left", 3.0), ("right", 4.0), ("left", 5.0),
               ("right", float("nan")), ("right", 6.0)]
    bars.set_stances(stances, "BW")
    left = bars._bars["left"].opts
    right = bars._bars["right"].opts
    assert list(left["height"]) == [3.0, 5.0] and list(left["x"]) == [0, 2]
    assert list(right["height"]) == [4.0, 6.0] and list(right["x"]) == [1, 3]
    assert bars._means["left"].value() == pytest.approx(4.0)
    assert bars.getPlotItem().getAxis("left").labelText == "Mid-stance peak (BW)"


def test_stillness_indicator_states(qtbot):
    light = StillnessIndicator()
    qtbot.addWidget(light)
    for state, word in [("moving", "not still"), ("still", "still"), ("done", "weighed"),
                        ("failed", "not weighed"), ("bogus", "not weighing")]:
        light.set_state(state, tip="why")
        assert word in light.text()
        assert light.toolTip() == "why"


def test_settings_are_isolated_and_persist(config_dir, tmp_path):
    assert config_dir_of_env() == config_dir
    s = ConsoleSettings()
    assert s.folder == config_dir
    assert s.devices == []
    s.remember_device("sim:plate")
    s.remember_device("sim:treadmill")
    s.remember_device("sim:plate")
    s.output_dir = tmp_path / "sessions"
    s.operator = "Sam"
    s.sync()
    assert (config_dir / "console.ini").is_file()
    again = ConsoleSettings()
    assert again.devices == ["sim:plate", "sim:treadmill"]
    assert again.output_dir == tmp_path / "sessions"
    assert again.operator == "Sam"


def config_dir_of_env():
    return config_dir()


def test_live_plot_breaks_the_line_at_a_gap_instead_of_drawing_force(qtbot):
    """An unplug (no samples for 1.5 s) must be a break, not a straight line that looks like
    force."""
    plot = LiveForcePlot(window_s=10.0)
    qtbot.addWidget(plot)
    rate = 1000.0
    t = np.concatenate([np.arange(0, 3.0, 1 / rate), np.arange(4.5, 6.0, 1 / rate)])
    fz = np.full(t.size, 800.0)
    plot.update_data({"plate": (t, fz)}, {"plate": "left"})
    x, y = plot.curve_data("plate")
    inside = np.flatnonzero((x >= 2.999) & (x <= 4.5))
    assert np.isnan(y[inside]).any()  # the curve is broken inside the gap
    assert np.count_nonzero(np.isnan(y)) == 1
    assert np.array_equal(y[np.isfinite(y)], fz)
    assert plot.getPlotItem().listDataItems()[0].opts["connect"] == "finite"


def test_live_plot_scales_to_a_heavy_runner_or_to_a_fixed_top(qtbot):
    """A 110 kg runner at 5 m/s peaks near 2.9 kN: auto scale shows the peak; the fixed scale
    keeps the chosen top; BW divides by body weight."""
    plot = LiveForcePlot(window_s=10.0)
    qtbot.addWidget(plot)
    plot.resize(600, 300)
    plot.show()
    t = np.arange(0, 8.0, 1e-3)
    fz = 2900.0 * np.clip(np.sin(2 * np.pi * 1.5 * t), 0, None)
    plot.update_data({"plate": (t, fz)})
    qtbot.waitUntil(lambda: plot.y_range()[1] >= 2900.0, timeout=5_000)
    plot.set_fixed_max(2000.0)
    plot.update_data({"plate": (t, fz)})
    assert plot.y_range()[1] == pytest.approx(2000.0)
    plot.set_fixed_max(None)
    plot.set_unit("BW", 110.0)
    plot.update_data({"plate": (t, fz)})
    _, y = plot.curve_data("plate")
    assert np.nanmax(y) == pytest.approx(2900.0 / (110.0 * 9.80665), rel=1e-3)
    qtbot.waitUntil(lambda: 2.6 < plot.y_range()[1] < 4.0, timeout=5_000)
    assert plot.getPlotItem().getAxis("left").labelText == "Vertical force (BW)"


def test_live_plot_draws_labelled_markers(qtbot):
    plot = LiveForcePlot()
    qtbot.addWidget(plot)
    plot.add_marker(3.5, "speed change")
    assert plot.marker_labels() == [(3.5, "speed change")]
    plot.clear_markers()
    assert plot.marker_labels() == []
