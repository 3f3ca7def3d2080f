"""Asymmetry, sides from COP, and the whole-recording result."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from forcelab.analysis import (
    AnalysisResult,
    Stances,
    analyze_recording,
    assign_sides_from_cop,
    asymmetry,
    asymmetry_of,
    detect_stances,
)
from forcelab.analysis.asymmetry import describe, symmetry_angle_pct, t_quantile_975
from forcelab.analysis.reference import alternation_reference
from forcelab.analysis.sides import alternation, stance_cop, step_widths
from forcelab.errors import AnalysisError, InputError
from forcelab.recording import Recording, Stream

from .gait import make_gait


def test_robinson_si_and_symmetry_angle():
    a = asymmetry_of([2.0, 2.0, 2.0], [2.2, 2.2, 2.2], "midstance_peak_bw", "Mid-stance peak")
    assert a["si_pct"] == pytest.approx(0.2 / 2.1 * 100)
    expected_sa = (45.0 - math.degrees(math.atan(2.0 / 2.2))) / 90.0 * 100
    assert a["symmetry_angle_pct"] == pytest.approx(expected_sa)
    assert a["higher"] == "right"
    assert a["ci95_pct"] == pytest.approx([a["si_pct"], a["si_pct"]])
    assert a["left_n"] == 3 and a["right_sd"] == pytest.approx(0.0)
    assert "9.5 % higher on the right" in a["text"]
    assert symmetry_angle_pct(1.0, 1.0) == 0.0
    assert symmetry_angle_pct(1.0, 0.5) < 0 < symmetry_angle_pct(0.5, 1.0)


def test_coach_line_format():
    a = {"left_mean": 2.41, "right_mean": 2.23, "higher": "left", "ci95_pct": [-9.7, -5.9],
         "left_n": 20, "right_n": 20, "detectable": True, "verdict": "within_band",
         "band_si_pct": 10.7, "band_words": "healthy runners show"}
    a["si_pct"] = (2.23 - 2.41) / ((2.23 + 2.41) / 2) * 100
    assert describe("Mid-stance peak", "midstance_peak_bw", a) == (
        "Mid-stance peak 2.41 BW left, 2.23 BW right: 7.8 % higher on the left (95 % CI 5.9–9.7 %)"
        ", within the 10.7 % healthy runners show"
    )


def test_not_available_cases():
    assert asymmetry_of([], [1.0])["si_pct"] is None
    tiny = asymmetry_of([0.0, 0.0], [0.0001, 0.0], "impact_peak_n")
    assert tiny["si_pct"] is None and "n/a" in tiny["text"]
    assert asymmetry_of([-1.0, -2.0], [3.0, 4.0], "trough_n")["si_pct"] is None
    one = asymmetry_of([1000.0], [1100.0], "peak_force_n")
    assert one["si_pct"] is not None and one["ci95_pct"] is None
    assert asymmetry_of([np.nan, 5.0, 5.0], [5.0, 5.0])["left_n"] == 2


def test_t_quantile_matches_scipy():
    for df in (1, 2, 5, 7, 11, 18, 33, 77, 150, 1000):
        assert t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), rel=0.005)


def test_ci_covers_the_true_index_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    true_l, true_r, sd, n = 2.4, 2.25, 0.08, 30
    true_si = (true_r - true_l) / ((true_r + true_l) / 2) * 100
    hits = 0
    for _ in range(400):
        a = asymmetry_of(rng.normal(true_l, sd, n), rng.normal(true_r, sd, n), "x_bw")
        lo, hi = a["ci95_pct"]
        hits += lo <= true_si <= hi
    assert 0.91 <= hits / 400 <= 0.99


def test_asymmetry_of_tables():
    left = {"peak_force_n": np.array([1000.0, 1010.0]), "loading_rate_method": np.array(["x"])}
    right = {"peak_force_n": np.array([900.0, 910.0])}
    out = asymmetry(left, right)
    assert list(out) == ["peak_force_n"]
    assert out["peak_force_n"]["higher"] == "left"


def alternating_cop(st_, drift_m=0.1, half_width_m=0.05, cross=(), cross_depth=1.0):
    """COP per sample: left/right alternating around a drifting midline; a stance in ``cross``
    lands ``cross_depth`` x ``half_width_m`` on the other side."""
    n = int(st_.end.max()) + 10
    cop = np.full(n, np.nan)
    for k, (s, e) in enumerate(zip(st_.start, st_.end, strict=True)):
        mid = drift_m * s / n
        side = 1 if k % 2 else -1
        if k in cross:
            side = -side * cross_depth
        cop[s:e] = mid + side * half_width_m
    return cop


def test_sides_from_cop_with_drift_and_a_crossover_step():
    """A crossover step keeps its side by alternation (formerly flagged cross_step and made
    invalid; now crossover is measured by the step width and no stance is lost)."""
    x, _, _ = make_gait(n_stances=20, rate_hz=500.0)
    st_ = detect_stances(x, 500.0)
    cop = alternating_cop(st_, drift_m=0.3, half_width_m=0.04, cross=(9,), cross_depth=1.5)
    sides, double = assign_sides_from_cop(cop, st_)
    assert list(sides) == ["left", "right"] * 10
    assert not double.any()
    widths = step_widths(sides, st_.start / 500.0, stance_cop(cop, st_))
    assert np.isnan(widths[0])
    assert list(np.flatnonzero(widths < 0)) == [9, 10]  # the crossing foot, both steps


def test_sides_restart_after_a_long_pause_and_reject_short_cop():
    x1, _, _ = make_gait(n_stances=5, rate_hz=200.0, tail_s=3.0)
    x2, _, _ = make_gait(n_stances=5, rate_hz=200.0)
    x = np.concatenate([x1, x2])
    st_ = detect_stances(x, 200.0)
    cop = np.zeros(x.size)
    for k, (s, e) in enumerate(zip(st_.start, st_.end, strict=True)):
        # first run starts left, second run starts right
        right = k % 2 == 1
        cop[s:e] = 0.05 if right else -0.05
    sides, double = assign_sides_from_cop(cop, st_)
    assert list(sides[:5]) == ["left", "right", "left", "right", "left"]
    assert list(sides[5:]) == ["right", "left", "right", "left", "right"]
    assert not double.any()
    with pytest.raises(InputError):
        assign_sides_from_cop(cop[:10], st_)


def two_sided_recording(left_peak=1500.0, right_peak=1400.0, mass=None):
    rate = 500.0
    left, _, _ = make_gait(rate_hz=rate, n_stances=20, peak_n=left_peak, contact_s=0.25,
                           flight_s=0.5, seed=1, offset_n=20.0, noise_n=3.0)
    right, _, _ = make_gait(rate_hz=rate, n_stances=20, peak_n=right_peak, contact_s=0.25,
                            flight_s=0.5, lead_s=0.675, tail_s=0.0, seed=2, noise_n=3.0)
    n = min(left.size, right.size)
    return Recording(
        [
            Stream("L", rate, {"fz": left[:n]}, side="left"),
            Stream("R", rate, {"fz": right[:n]}, side="right"),
        ],
        body_mass_kg=mass,
        source="synthetic",
    )


def test_analyze_recording_two_sides_known_asymmetry():
    result = analyze_recording(two_sided_recording(mass=75.0))
    si = result.asymmetry["peak_force_bw"]["si_pct"]
    assert si == pytest.approx((1400 - 1500) / 1450 * 100, abs=0.5)
    assert result.asymmetry["peak_force_bw"]["higher"] == "left"
    lo, hi = result.asymmetry["peak_force_bw"]["ci95_pct"]
    assert lo < si < hi
    assert result.summary["left"]["n_stances"] >= 18
    assert result.summary["right"]["step_time_s"] == pytest.approx(0.375, abs=0.01)
    assert result.summary["left"]["cadence_spm"] == pytest.approx(160.0, rel=0.03)
    assert result.summary["left"]["stride_time_s"] == pytest.approx(0.75, abs=0.01)
    flights = [s["flight_time_s"] for s in result.stances if s["flight_time_s"] is not None]
    assert np.allclose(flights, 0.125, atol=0.01)
    text = result.format_text()
    assert "higher on the left" in text and "Peak force (BW)" in text
    assert result.parameters["streams"]["L"]["baseline_correction_n"]["mean"] == pytest.approx(
        20.0, abs=1.5
    )
    for s in result.stances:
        assert {"stream", "side", "start_s", "midstance_peak_bw", "valid", "reason"} <= set(s)


def test_walking_only_rows_appear_for_walking_and_not_for_running():
    run = analyze_recording(two_sided_recording(mass=75.0))
    assert run.stances and all(
        s["first_peak_n"] is None and s["trough_bw"] is None and s["second_peak_bw"] is None
        for s in run.stances
    )
    assert run.summary["left"]["first_peak_n"] == {"mean": None, "sd": None}
    text = run.format_text()
    assert "Peak force (BW)" in text and "Mid-stance peak (BW)" in text
    for row in ("First peak", "Trough", "Second peak"):
        assert row not in text
    streams = []
    for side, seed in (("left", 1), ("right", 2)):
        fz, _, _ = make_gait(rate_hz=200.0, n_stances=8, contact_s=0.6, flight_s=0.5, peak_n=800.0,
                             kind="double_hump", noise_n=3.0, seed=seed)
        streams.append(Stream(side, 200.0, {"fz": fz}, side=side))
    walk = analyze_recording(Recording(streams, body_mass_kg=75.0))
    valid = [s for s in walk.stances if s["valid"]]
    assert len(valid) >= 12
    assert all(
        s["trough_n"] < s["first_peak_n"] and s["trough_n"] < s["second_peak_n"] for s in valid
    )
    text = walk.format_text()
    for row in ("First peak (BW)", "Trough (BW)", "Second peak (BW)"):
        assert row in text


def test_result_round_trips_through_json():
    result = analyze_recording(two_sided_recording(mass=70.0))
    text = json.dumps(result.to_dict(), allow_nan=False)
    again = AnalysisResult.from_dict(json.loads(text))
    assert again.to_dict() == json.loads(text)
    assert again.format_text() == result.format_text()
    with pytest.raises(InputError):
        AnalysisResult.from_dict({"stances": []})


def test_summary_per_stream_without_sides_and_errors():
    x, _, _ = make_gait(n_stances=6, rate_hz=200.0)
    rec = Recording([Stream("plate", 200.0, {"fz": x})])
    result = analyze_recording(rec, {"body_mass_kg": 60.0, "min_contact_s": 0.05})
    assert list(result.summary) == ["plate"]
    assert result.asymmetry == {}
    assert result.body_mass_kg == 60.0
    assert "Sides unknown" in result.format_text()
    with pytest.raises(AnalysisError, match="no stances"):
        analyze_recording(Recording([Stream("plate", 200.0, {"fz": np.zeros(500)})]))
    with pytest.raises(InputError):
        analyze_recording({"fz": x})
    with pytest.raises(InputError, match="unknown analysis option"):
        analyze_recording(rec, {"threshold": 20})
    with pytest.raises(InputError, match="body mass"):
        analyze_recording(rec, {"body_mass_kg": 5000})


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(4, 40),
    drift_frac=st.floats(-0.2, 0.2),
    half_width_m=st.floats(0.03, 0.1),
    first_right=st.booleans(),
    cross_at=st.lists(st.integers(0, 39), max_size=4),
    cross_depth=st.floats(1.3, 2.5),
    seed=st.integers(0, 1000),
)
def test_sides_property(n, drift_frac, half_width_m, first_right, cross_at, cross_depth, seed):
    """Alternating feet on a drifting line: every side right, no stance flagged as a double
    contact, and every crossover step (a foot landing past where the other foot lands) has a
    negative step width."""
    rng = np.random.default_rng(seed)
    starts = np.arange(n) * 100
    st_ = Stances(
        starts, starts + 60, np.ones(n, bool), np.array([""] * n, object), np.zeros(n), 200.0
    )
    crosses = sorted({k for k in cross_at if 2 <= k < n - 2})  # not at a run's edge
    crosses = [k for i, k in enumerate(crosses) if i == 0 or k - crosses[i - 1] > 3]
    cop = np.full(n * 100, np.nan)
    truth = []
    for k in range(n):
        right = (k % 2 == 0) == first_right
        truth.append("right" if right else "left")
        line = drift_frac * half_width_m * k  # drifting across the belt, up to 20 % per step
        side = 1.0 if right else -1.0
        offset = side * half_width_m
        if k in crosses:  # the foot lands past where the other foot lands
            offset = -side * cross_depth * half_width_m
        cop[starts[k] : starts[k] + 60] = line + offset + rng.normal(0, 0.002)
    if len(crosses) * 3 >= n:  # too many cross-steps to tell the alternation phase
        return
    sides, double = assign_sides_from_cop(cop, st_)
    assert list(sides) == truth
    assert not double.any()
    widths = step_widths(sides, st_.start / 200.0, stance_cop(cop, st_))
    assert all(widths[k] < 0 for k in crosses)
    normal = [k for k in range(1, n) if k not in crosses and k - 1 not in crosses]
    assert all(widths[k] > 0 for k in normal)


def test_a_skip_is_a_double_contact_and_every_stance_stays_valid():
    """L R L R L L R L R ...: the athlete skips once (same foot twice); the COP looks the other
    way for the rest of the run, so the alternation changes phase there and flags it."""
    x, _, _ = make_gait(n_stances=20, rate_hz=500.0, seed=3)
    st_ = detect_stances(x, 500.0)
    truth = ["left", "right"] * 3 + ["left"] + ["left", "right"] * 6 + ["left"]
    truth = truth[: len(st_)]
    cop = np.full(x.size, np.nan)
    for k, (s, e) in enumerate(zip(st_.start, st_.end, strict=True)):
        cop[s:e] = 0.05 if truth[k] == "right" else -0.05
    sides, double = assign_sides_from_cop(cop, st_)
    assert list(sides) == truth
    assert list(np.flatnonzero(double)) == [7]
    rec = Recording([Stream("plate", 500.0, {"fz": x, "cop_ml": cop})])
    result = analyze_recording(rec)
    assert [s["double_contact"] for s in result.stances].count(True) == 1
    assert all(s["valid"] for s in result.stances)
    assert result.parameters["streams"]["plate"]["n_double_contacts"] == 1
    assert "Double contacts" in result.format_text()


@settings(max_examples=200, deadline=None)
@given(obs=st.lists(st.booleans(), max_size=60), same_cost=st.sampled_from([0.5, 2.0, 4.0]))
def test_alternation_kernel_equals_reference(obs, same_cost):
    looks = np.array(obs, dtype=bool)
    np.testing.assert_array_equal(
        alternation(looks, same_cost), alternation_reference(looks, same_cost)
    )


def test_step_width_and_crossover_in_the_result():
    """One plate, 3.5 m/s-like run: feet land 4 cm either side of a drifting midline, every
    fifth foot lands 2 cm past the other foot's line (across the body); the right foot's ML
    position minus the left's, per step."""
    rate = 500.0
    x, _, _ = make_gait(n_stances=30, rate_hz=rate, seed=4)
    st_ = detect_stances(x, rate)
    cop = np.full(x.size, np.nan)
    truth_cross = []
    for k, (s, e) in enumerate(zip(st_.start, st_.end, strict=True)):
        right = k % 2 == 1
        lands = (-0.06 if right else 0.06) if k % 5 == 3 else (0.04 if right else -0.04)
        cop[s:e] = 0.001 * k + lands
        truth_cross.append(k % 5 == 3)
    result = analyze_recording(Recording([Stream("plate", rate, {"fz": x, "cop_ml": cop})]))
    rows = result.stances
    assert [r["side"] for r in rows] == ["left", "right"] * 15
    assert all(r["valid"] for r in rows)
    assert rows[0]["step_width_m"] is None and rows[0]["crossover"] is None
    for k in range(1, len(rows)):
        prev, this = rows[k - 1]["cop_ml_m"], rows[k]["cop_ml_m"]
        expected = this - prev if rows[k]["side"] == "right" else prev - this
        assert rows[k]["step_width_m"] == pytest.approx(expected, abs=1e-9)
        assert rows[k]["crossover"] == (truth_cross[k] or truth_cross[k - 1])
    for side in ("left", "right"):
        sided = [r for r in rows[1:] if r["side"] == side]
        pct = 100.0 * sum(r["crossover"] for r in sided) / len(sided)
        assert result.summary[side]["crossover_pct"] == pytest.approx(pct)
        widths = [r["step_width_m"] for r in sided]
        assert result.summary[side]["step_width_m"]["mean"] == pytest.approx(np.mean(widths))
        assert result.summary[side]["step_width_m"]["sd"] == pytest.approx(np.std(widths, ddof=1))
    text = result.format_text()
    assert "Step width (mm)" in text and "Crossover steps (%)" in text


def test_json_carries_the_metric_names_feedback_reads():
    result = analyze_recording(two_sided_recording(mass=75.0))
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert d["si"]["midstance_peak_si"] == pytest.approx(
        d["asymmetry"]["midstance_peak_bw"]["si_pct"]
    )
    assert d["si"]["contact_time_si"] == pytest.approx(d["asymmetry"]["contact_time_s"]["si_pct"])
    stance = d["stances"][3]
    for key in ("valr_n_s", "peak_braking_n", "contact_time_s", "step_width_m", "crossover"):
        assert key in stance
    for side in ("left", "right"):
        for key in ("cadence_spm", "step_width_m", "crossover_pct", "loading_rate_quality"):
            assert key in d["summary"][side]
