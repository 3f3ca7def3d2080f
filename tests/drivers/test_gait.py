"""Gait model: determinism, chunk independence, asymmetry, strike patterns, insole pressures."""

from __future__ import annotations

import numpy as np
import pytest
from forcelab.drivers.sim.gait import GaitModel, GaitParams, insole_pressures
from forcelab.drivers.units import STANDARD_GRAVITY_M_S2


def _si(right: float, left: float) -> float:
    return (right - left) / ((right + left) / 2)


def test_same_seed_same_gait_and_chunking_does_not_matter():
    t = np.arange(0, 6, 0.001)
    a = GaitModel(GaitParams(), seed=4).foot("left", t)
    m = GaitModel(GaitParams(), seed=4)
    pieces = [m.foot("left", c) for c in np.array_split(t, 17)]
    joined = np.concatenate([p["fz"] for p in pieces])
    np.testing.assert_array_equal(a["fz"], joined)
    b = GaitModel(GaitParams(), seed=5).foot("left", t)
    assert not np.array_equal(a["fz"], b["fz"])


def test_stances_alternate_and_match_the_signal():
    m = GaitModel(GaitParams(speed_m_s=3.5), seed=1)
    t = np.arange(0, 5, 0.0005)
    st = m.stances(0, 5)
    assert [s.side for s in st[:4]] == ["left", "right", "left", "right"]
    for s in st:
        f = m.foot(s.side, t)["fz"]
        inside = (t >= s.start_s) & (t < s.end_s)
        if s.end_s > t[-1]:
            continue
        assert f[inside].max() == pytest.approx(s.peak_n, rel=2e-3)
        # zero off the ground on either side of the stance
        assert f[(t > s.end_s) & (t < s.end_s + 0.02)].max(initial=0) == 0
    # running: flight phases exist between contacts of opposite feet
    for a, b in zip(st[:-1], st[1:], strict=True):
        assert b.start_s > a.end_s


def test_asymmetry_and_contact_asymmetry_are_what_was_asked():
    p = GaitParams(asymmetry=-0.08, contact_asymmetry=0.05, variability=0.02)
    m = GaitModel(p, seed=9)
    st = m.stances(0, 200)
    left = [s for s in st if s.side == "left"]
    right = [s for s in st if s.side == "right"]
    si_peak = _si(np.mean([s.midstance_peak_n for s in right]),
                  np.mean([s.midstance_peak_n for s in left]))
    si_ct = _si(np.mean([s.contact_time_s for s in right]),
                np.mean([s.contact_time_s for s in left]))
    assert si_peak == pytest.approx(-0.08, abs=0.006)
    assert si_ct == pytest.approx(0.05, abs=0.006)
    # the mean mid-stance peak is the requested body-weight multiple
    mean_bw = np.mean([s.midstance_peak_n for s in st]) / (70 * STANDARD_GRAVITY_M_S2)
    assert mean_bw == pytest.approx(p.mean_peak_bw, rel=0.01)


def test_strike_patterns_and_walking_shape():
    rear = GaitModel(GaitParams(strike="rear"), seed=1).stances(0, 3)
    fore = GaitModel(GaitParams(strike="fore"), seed=1).stances(0, 3)
    assert all(s.impact_peak_n is not None and s.impact_peak_n < s.midstance_peak_n
               for s in rear)
    assert all(s.impact_peak_n is None for s in fore)
    walk = GaitModel(GaitParams(mode="walk", speed_m_s=1.3), seed=1)
    st = walk.stances(0, 4)
    s = st[1]
    t = np.linspace(s.start_s, s.end_s, 2001)[:-1]
    f = walk.foot(s.side, t)["fz"]
    tau = (t - s.start_s) / (s.end_s - s.start_s)
    first, second = f[tau < 0.5].max(), f[tau >= 0.5].max()
    trough = f[(tau > 0.4) & (tau < 0.6)].min()
    assert trough < 0.9 * min(first, second)  # two humps
    # walking has double support: the next contact starts before this one ends
    assert st[2].start_s < st[1].end_s


def test_plate_under_both_feet_separates_by_cop():
    m = GaitModel(GaitParams(step_width_m=0.14), seed=2)
    t = np.arange(0, 3, 0.001)
    p = m.plate(t)
    left = m.foot("left", t)["fz"] > 50
    right = m.foot("right", t)["fz"] > 50
    assert np.all(p["cop_x"][left & ~right] < 0)
    assert np.all(p["cop_x"][right & ~left] > 0)
    assert np.isnan(p["cop_x"][p["fz"] < 20]).all()


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="speed_m_s"):
        GaitParams(speed_m_s=-1)
    with pytest.raises(ValueError, match="strike"):
        GaitParams(strike="toe")
    with pytest.raises(ValueError, match="asymmetry"):
        GaitParams(asymmetry=2.0)
    with pytest.raises(ValueError, match="too long"):
        GaitParams(contact_time_s=1.5, cadence_spm=180)
    with pytest.raises(ValueError, match="side"):
        GaitModel().foot("middle", np.zeros(3))


def test_insole_pressures_add_up_to_the_force():
    rng = np.random.default_rng(0)
    x = rng.uniform(-40, 40, 16)
    y = rng.uniform(0, 230, 16)
    area = rng.uniform(200, 600, 16)
    fz = np.array([0.0, 100.0, 850.0, 1500.0])
    p = insole_pressures(fz, np.array([0, 0.1, -0.1, 0]), np.array([-0.4, 0, 0.3, 0.4]),
                         x, y, area)
    assert p.shape == (4, 16)
    assert np.all(p >= 0)
    np.testing.assert_allclose((p * area).sum(axis=1) / 1000.0, fz, rtol=1e-9, atol=1e-9)
    # heel loading puts the highest pressure on a heel sensor
    assert y[np.argmax(p[1])] < y[np.argmax(p[3])] or fz[1] == 0
