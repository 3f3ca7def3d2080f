"""Walking on one plate under both feet: left and right split from the medio-lateral COP."""

import numpy as np
import pytest
from forcelab.drivers.sim.gait import GaitModel, GaitParams

from forcelab.analysis import analyze_recording, result
from forcelab.recording import Recording, Stream


def walk(speed_m_s, seed, rate_hz=500.0, seconds=40.0):
    model = GaitModel(GaitParams(mode="walk", speed_m_s=speed_m_s, asymmetry=0.08), seed=seed)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    return model, t, model.plate(t)


@pytest.mark.parametrize("speed_m_s, seed", [(0.9, 4), (1.2, 3), (1.6, 5)])
def test_one_plate_walk_is_split_like_two_plates(speed_m_s, seed):
    """The split gives the stances two plates give on the same simulated walk: contact and
    toe-off within 10 ms, first and second peaks within 4 %, the asymmetry within 1.5 %."""
    rate = 500.0
    model, t, plate = walk(speed_m_s, seed, rate)
    one = analyze_recording(
        Recording([Stream("plate", rate, {"fz": plate["fz"], "cop_ml": plate["cop_x"]})], 70.0)
    )
    two = analyze_recording(
        Recording(
            [
                Stream(side, rate, {"fz": model.foot(side, t)["fz"]}, side=side)
                for side in ("left", "right")
            ],
            70.0,
        )
    )
    assert one.parameters["streams"]["plate:left"]["split_from"] == "plate"
    assert "Walking on one plate (plate)" in one.format_text()
    for side in ("left", "right"):
        ours = [s for s in one.stances if s["side"] == side and s["valid"]]
        ref = [s for s in two.stances if s["side"] == side and s["valid"]]
        assert abs(len(ours) - len(ref)) <= 1 and len(ours) >= 30
        for s in ours:
            r = min(ref, key=lambda r: abs(r["start_s"] - s["start_s"]))
            assert s["start_s"] == pytest.approx(r["start_s"], abs=0.010)
            assert s["end_s"] == pytest.approx(r["end_s"], abs=0.010)
            assert s["peak_pattern"] in ("double_hump", "shallow_valley")
            for key in ("first_peak_n", "second_peak_n"):
                assert s[key] == pytest.approx(r[key], rel=0.04)
    for key in ("first_peak_bw", "second_peak_bw"):
        assert one.asymmetry[key]["si_pct"] == pytest.approx(two.asymmetry[key]["si_pct"], abs=1.5)


def test_a_run_on_one_plate_is_not_split_and_its_stances_are_found_once(monkeypatch):
    rate = 500.0
    model = GaitModel(GaitParams(speed_m_s=3.5), seed=2)
    t = np.arange(int(20 * rate)) / rate
    plate = model.plate(t)
    calls = []
    real = result.detect_stances
    monkeypatch.setattr(result, "detect_stances", lambda *a, **k: calls.append(1) or real(*a, **k))
    out = analyze_recording(
        Recording([Stream("plate", rate, {"fz": plate["fz"], "cop_ml": plate["cop_x"]})])
    )
    assert list(out.parameters["streams"]) == ["plate"]
    assert "split" not in out.parameters["streams"]["plate"]
    assert len(calls) == 1  # the split check's stances are the ones analysed
    assert sum(s["valid"] for s in out.stances) >= 20


def test_walking_on_one_plate_without_apart_feet_says_it_cannot_split():
    rate = 500.0
    _, _, plate = walk(1.2, 3, rate)
    cop = np.where(np.isfinite(plate["cop_x"]), 0.0, np.nan)  # the COP does not move sideways
    result = analyze_recording(
        Recording([Stream("plate", rate, {"fz": plate["fz"], "cop_ml": cop})])
    )
    assert "cannot be split" in result.parameters["streams"]["plate"]["split"]
    assert "cannot be split" in result.format_text()
    assert all(s["side"] is None for s in result.stances)


def test_two_belts_in_one_frame_give_the_step_width():
    """Two belts (one per foot) whose COP channels share the treadmill frame: the step width
    between the feet is the simulated one, and no step crosses."""
    rate = 500.0
    model = GaitModel(GaitParams(speed_m_s=3.0, step_width_m=0.14), seed=7)
    t = np.arange(int(20 * rate)) / rate
    streams = []
    for side in ("left", "right"):
        foot = model.foot(side, t)
        streams.append(
            Stream(f"belt_{side}", rate, {"fz": foot["fz"], "cop_ml": foot["cop_ml"]}, side=side)
        )
    result = analyze_recording(Recording(streams, 70.0))
    for side in ("left", "right"):
        assert result.summary[side]["step_width_m"]["mean"] == pytest.approx(0.14, abs=0.01)
        assert result.summary[side]["crossover_pct"] == 0.0
