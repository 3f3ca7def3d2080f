"""The live asymmetry readout knows its noise: the interval, the steps still needed for ±2 %,
and no direction while the interval cannot tell the sides apart."""

import numpy as np
from forcelab.drivers import Block
from forcelab.drivers.sim.gait import GaitModel, GaitParams

from forcelab.acquisition import LiveAnalyzer
from forcelab.analysis.asymmetry import CI_TARGET_PCT, asymmetry_of


def _feed_belts(asymmetry, seconds, seed=4, rate=500.0):
    model = GaitModel(GaitParams(speed_m_s=3.5, asymmetry=asymmetry, body_mass_kg=70), seed=seed)
    t = np.arange(int(seconds * rate)) / rate
    live = LiveAnalyzer(body_mass_kg=70)
    for side in ("left", "right"):
        live.add_stream(f"plate_{side}", rate, side, fz_column=0)
        fz = model.foot(side, t)["fz"][:, None]
        for i in range(0, fz.shape[0], 250):
            live.feed(f"plate_{side}", Block(i, i / rate, 1000.0 + i / rate, fz[i : i + 250]),
                      i / rate)
    live.flush()
    return live


def _peaks(live, side):
    return [s["midstance_peak_n"] for s in live.stances()
            if s["side"] == side and s.get("valid", True)]


def test_a_clear_asymmetry_reads_with_its_interval_and_settles():
    live = _feed_belts(-0.08, 40.0)
    fig = live.figures()
    expected = asymmetry_of(_peaks(live, "left"), _peaks(live, "right"), "midstance_peak_n")
    assert fig["si_detectable"] and fig["si_ci95_pct"] == expected["ci95_pct"]
    assert fig["strides_needed"] == expected["strides_needed"]
    assert fig["symmetry_text"].startswith("mid-stance peak ")
    assert "higher on the left (95 % CI" in fig["symmetry_text"]
    half = (fig["si_ci95_pct"][1] - fig["si_ci95_pct"][0]) / 2
    assert fig["si_settled"] == (half <= CI_TARGET_PCT)


def test_few_noisy_strides_give_no_direction_and_the_steps_still_needed():
    live = _feed_belts(0.0, 3.0, seed=9)  # a symmetric runner, a handful of strides
    fig = live.figures()
    expected = asymmetry_of(_peaks(live, "left"), _peaks(live, "right"), "midstance_peak_n")
    assert expected["ci95_pct"] is not None and not expected["detectable"]
    assert not fig["si_detectable"] and not fig["si_settled"]
    more = fig["strides_needed"]
    assert more == expected["strides_needed"] > 0
    lo, hi = fig["si_ci95_pct"]
    assert fig["symmetry_text"] == (
        f"mid-stance peak: no detectable difference (95 % CI {lo:+.1f} to {hi:+.1f} %); "
        f"{more} more steps per side for ±2 %"
    )


def test_too_few_strides_say_so():
    live = _feed_belts(0.0, 1.2, seed=9)
    fig = live.figures()
    assert fig["si_ci95_pct"] is None and not fig["si_settled"]
    assert fig["symmetry_text"] == "mid-stance peak: too few strides to compare yet"
