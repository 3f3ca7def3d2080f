"""Known-answer tests of the per-stance metrics on shaped signals."""

import numpy as np
import pytest
from forcelab.drivers.units import STANDARD_GRAVITY_M_S2

from forcelab.analysis import Stances, detect_stances, stance_metrics
from forcelab.analysis.metrics import G_M_S2
from forcelab.errors import InputError

RATE = 1000.0


def place(stances, gap=200):
    """Put stance force arrays between zero-force flights; return (x, starts, ends)."""
    parts, starts, ends, pos = [np.zeros(gap)], [], [], gap
    for f in stances:
        starts.append(pos)
        parts.append(np.asarray(f, dtype=float))
        pos += len(f)
        ends.append(pos)
        parts.append(np.zeros(gap))
        pos += gap
    return np.concatenate(parts), np.array(starts), np.array(ends)


def impact_stance(impact_n=1200.0, k=10, active_n=2000.0, n=250):
    """Linear rise to an impact peak at sample k-1, a dip, then an active peak (sin hump)."""
    f = np.empty(n)
    f[:k] = impact_n * np.arange(1, k + 1) / k
    f[k : k + 5] = impact_n - np.arange(1, 6) * 0.08 * impact_n  # down to 0.6 * impact
    rest = n - k - 5
    hump = np.sin(np.pi * (np.arange(rest) + 0.5) / rest)
    f[k + 5 :] = np.maximum(0.6 * impact_n * (1 - np.arange(rest) / rest), 0) + active_n * hump
    f[-1] = max(f[-1], 150.0)  # steep toe-off: the last sample is still loaded
    return f


def test_box_stances_exact_contact_peak_impulse():
    x, starts, ends = place([np.full(300, 800.0), np.full(150, 1000.0), np.full(220, 900.0)])
    st_ = detect_stances(x, RATE)
    np.testing.assert_array_equal(st_.start, starts)
    np.testing.assert_array_equal(st_.end, ends)
    t = stance_metrics(x, st_, RATE, body_mass_kg=80.0)
    # contact and toe-off lie where the force crosses off_n between the last unloaded and the
    # first loaded sample: a step from 0 to F crosses it at off_n / F of the sample interval
    level = np.array([800.0, 1000.0, 900.0])
    frac = st_.off_n / level
    np.testing.assert_allclose(t["start_s"], (starts - 1 + frac) / RATE)
    np.testing.assert_allclose(t["end_s"], (ends - frac) / RATE)
    np.testing.assert_allclose(t["contact_time_s"], (ends - starts + 1 - 2 * frac) / RATE)
    assert np.all((st_.off_n > 0) & (st_.off_n < 100))
    np.testing.assert_allclose(t["peak_force_n"], [800.0, 1000.0, 900.0])
    np.testing.assert_allclose(t["impulse_ns"], [240.0, 150.0, 198.0])
    np.testing.assert_allclose(t["peak_force_bw"], np.array([800, 1000, 900]) / (80 * G_M_S2))
    np.testing.assert_allclose(t["impulse_bw_s"], np.array([240, 150, 198]) / (80 * G_M_S2))
    np.testing.assert_allclose(t["flight_time_s"][1:], t["start_s"][1:] - t["end_s"][:-1])
    np.testing.assert_allclose(t["flight_time_s"][1:], 0.199, atol=0.001)
    assert np.isnan(t["flight_time_s"][0])
    assert np.all(np.isnan(t["impact_peak_n"]))
    assert np.all(np.isnan(t["braking_impulse_ns"]))


def test_no_flight_time_next_to_a_stance_at_a_gap():
    """A stance that ends or starts at missing samples has no flight time after or before it
    (the contact edge at the gap is not where the foot left or met the ground)."""
    stances = Stances(
        np.array([100, 400, 700, 1000, 1300, 1600]), np.array([300, 600, 900, 1200, 1500, 1800]),
        np.array([True, False, True, True, False, True]),
        np.array(["", "gap", "", "", "partial_end", ""], dtype=object), np.zeros(6), RATE,
    )
    x = np.zeros(2000)
    for a, b in zip(stances.start, stances.end, strict=True):
        x[a:b] = 900.0
    t = stance_metrics(x, stances, RATE)
    flight = t["flight_time_s"]
    assert np.isnan(flight[[0, 1, 2]]).all()  # the first; before and after the gap stance
    np.testing.assert_allclose(flight[[3, 4, 5]], 0.1, atol=0.0025)  # a partial end: not a gap


def test_impact_peak_and_loading_rates():
    f = impact_stance()
    x, starts, _ = place([f, f * 0.9])
    st_ = detect_stances(x, RATE)
    np.testing.assert_array_equal(st_.start, starts)
    t = stance_metrics(x, st_, RATE, body_mass_kg=70.0)
    np.testing.assert_allclose(t["impact_peak_n"], [1200.0, 1080.0])
    np.testing.assert_allclose(t["impact_peak_pct"], [9 / 250 * 100] * 2)
    # the ramp rises 120 N (108 N) per sample: both loading rates equal that slope
    np.testing.assert_allclose(t["valr_n_s"], [120.0 * RATE, 108.0 * RATE])
    np.testing.assert_allclose(t["vilr_n_s"], [120.0 * RATE, 108.0 * RATE])
    np.testing.assert_allclose(t["valr_bw_s"], t["valr_n_s"] / (70 * G_M_S2))
    assert list(t["loading_rate_method"]) == ["impact_peak", "impact_peak"]
    k = int(np.argmax(f[20:])) + 20
    np.testing.assert_allclose(t["midstance_peak_n"], [f[k], 0.9 * f[k]])
    np.testing.assert_allclose(t["midstance_peak_pct"], [k / 250 * 100] * 2)
    np.testing.assert_allclose(t["peak_force_n"], t["midstance_peak_n"])


def test_surrogate_loading_rate_without_impact_peak():
    n = 200
    ramp = 15.0 * np.arange(1, n // 2 + 1)  # triangle: rises 15 N per sample
    f = np.concatenate([ramp, ramp[::-1]])
    x, _, _ = place([f, f, f])
    st_ = detect_stances(x, RATE, min_off_n=1.0, min_on_n=2.0, on_fraction=0.01, off_fraction=0.005)
    t = stance_metrics(x, st_, RATE)
    assert list(t["loading_rate_method"]) == ["stance_13pct"] * 3
    np.testing.assert_allclose(t["valr_n_s"], 15.0 * RATE)
    np.testing.assert_allclose(t["vilr_n_s"], 15.0 * RATE)
    assert np.all(np.isnan(t["impact_peak_n"]))
    np.testing.assert_allclose(t["midstance_peak_n"], 1500.0)


def test_walking_first_peak_trough_second_peak():
    # piecewise linear: 0 -> 700 at 25 %, down to 450 at 50 %, up to 800 at 75 %, down to 0
    n = 400
    knots_x = [0, 100, 200, 300, 399]
    knots_y = [60, 700, 450, 800, 60]
    f = np.interp(np.arange(n), knots_x, knots_y)
    x, _, _ = place([f, f], gap=300)
    st_ = detect_stances(x, RATE)
    t = stance_metrics(x, st_, RATE)
    np.testing.assert_allclose(t["first_peak_n"], 700.0)
    np.testing.assert_allclose(t["trough_n"], 450.0)
    np.testing.assert_allclose(t["second_peak_n"], 800.0)
    np.testing.assert_allclose(t["peak_force_n"], 800.0)
    # two humps: no running mid-stance peak (was the larger hump, at 75 % of stance)
    assert np.all(np.isnan(t["midstance_peak_n"])) and np.all(np.isnan(t["midstance_peak_pct"]))
    assert list(t["peak_pattern"]) == ["double_hump"] * 2
    np.testing.assert_allclose(t["impulse_ns"], f.sum() / RATE)


def walking_knots(first_n, trough_n, second_n, at=(100, 200, 300), n=400):
    """Piecewise-linear stance: 60 N -> first hump -> trough -> second hump -> 60 N."""
    return np.interp(np.arange(n), [0, *at, n - 1], [60, first_n, trough_n, second_n, 60])


def double_hump(f, **options):
    x, _, _ = place([f, f], gap=300)
    t = stance_metrics(x, detect_stances(x, RATE), RATE, body_mass_kg=70.0, **options)
    return t


@pytest.mark.parametrize(
    "f",
    [
        np.sin(np.pi * (np.arange(250) + 0.5) / 250) * 2000.0,  # running: one active peak
        impact_stance(),  # running with an impact peak: still one active peak
        impact_stance(k=25, active_n=1600.0),  # heel strike impact near the first half's end
        walking_knots(700, 300, 800, at=(40, 80, 300)),  # trough at 20 % of stance
        walking_knots(700, 300, 800, at=(100, 300, 340)),  # trough at 75 % of stance
    ],
    ids=["sine", "impact", "late_impact", "early_trough", "late_trough"],
)
def test_single_hump_stances_have_no_first_peak_trough_second_peak(f):
    t = double_hump(f)
    assert len(t["peak_force_n"]) == 2
    assert np.all(np.isfinite(t["peak_force_n"]))
    assert np.all(np.isfinite(t["midstance_peak_n"]))
    assert list(t["peak_pattern"]) == ["single_peak"] * 2
    for key in (
        "first_peak_n",
        "trough_n",
        "second_peak_n",
        "first_peak_bw",
        "trough_bw",
        "second_peak_bw",
    ):
        assert np.all(np.isnan(t[key])), key


def test_double_hump_of_a_walking_stance_is_found_at_its_place():
    from .gait import make_gait

    x, _, _ = make_gait(rate_hz=RATE, n_stances=4, contact_s=0.6, peak_n=900.0, kind="double_hump")
    t = stance_metrics(x, detect_stances(x, RATE), RATE)
    c = (np.arange(600) + 0.5) / 600
    f = 900.0 * np.sin(np.pi * c) * (1.0 - 0.35 * np.cos(4 * np.pi * c))
    # forces are above the tracked baseline, which sits a few N off on this noiseless signal
    np.testing.assert_allclose(t["first_peak_n"], f[:300].max(), rtol=5e-3)
    np.testing.assert_allclose(t["second_peak_n"], f[300:].max(), rtol=5e-3)
    np.testing.assert_allclose(t["trough_n"], f[200:400].min(), rtol=5e-3)


def test_double_hump_threshold_is_a_fraction_of_the_peak():
    f = walking_knots(700, 690, 800)  # both humps 10 N / 110 N above the trough
    t = double_hump(f, double_hump_fraction=0.01)  # 8 N is enough
    np.testing.assert_allclose(t["first_peak_n"], 700.0)
    np.testing.assert_allclose(t["trough_n"], 690.0)
    np.testing.assert_allclose(t["second_peak_n"], 800.0)
    np.testing.assert_allclose(t["trough_bw"], 690.0 / (70.0 * G_M_S2))
    # trough at the window's edges: 30 % and 70 % of stance count as mid-stance
    for at in ((60, 120, 300), (100, 280, 340)):
        t = double_hump(walking_knots(700, 300, 800, at=at))
        np.testing.assert_allclose(t["trough_n"], 300.0)
    with pytest.raises(InputError, match="double_hump_fraction"):
        double_hump(f, double_hump_fraction=1.5)


def test_forces_are_measured_above_the_tracked_baseline():
    f = impact_stance()
    x, _, _ = place([f, f, f])
    clean = stance_metrics(x, detect_stances(x, RATE), RATE)
    shifted_x = x + 30.0
    st_ = detect_stances(shifted_x, RATE)
    shifted = stance_metrics(shifted_x, st_, RATE)
    np.testing.assert_allclose(st_.baseline_n, 30.0)
    for key in ("peak_force_n", "impact_peak_n", "valr_n_s", "impulse_ns", "trough_n"):
        np.testing.assert_allclose(shifted[key], clean[key], rtol=1e-9)


def test_braking_and_propulsive_impulse_from_ap_force():
    x, starts, ends = place([np.full(200, 900.0), np.full(200, 900.0)])
    ap = np.zeros_like(x)
    for s, e in zip(starts, ends, strict=True):
        ap[s : s + 100] = -50.0
        ap[s + 100 : e] = 80.0
    t = stance_metrics(x, detect_stances(x, RATE), RATE, ap_force_n=ap, body_mass_kg=60.0)
    np.testing.assert_allclose(t["braking_impulse_ns"], -5.0)
    np.testing.assert_allclose(t["propulsive_impulse_ns"], 8.0)
    np.testing.assert_allclose(t["propulsive_impulse_bw_s"], 8.0 / (60 * G_M_S2))


def test_metric_inputs_are_checked():
    x, _, _ = place([np.full(100, 900.0)])
    st_ = detect_stances(x, RATE)
    with pytest.raises(InputError, match="body mass"):
        stance_metrics(x, st_, RATE, body_mass_kg=0.0)
    with pytest.raises(InputError, match="samples"):
        stance_metrics(x[:150], st_, RATE)
    with pytest.raises(InputError, match="NaN or inf"):
        bad = x.copy()
        bad[st_.start[0] + 5 : st_.start[0] + 40] = np.nan  # longer than max_gap_s
        stance_metrics(bad, st_, RATE)
    with pytest.raises(InputError, match="Stances"):
        stance_metrics(x, [(0, 10)], RATE)
    with pytest.raises(InputError, match="unknown metric option"):
        stance_metrics(x, st_, RATE, impact_window=10)
    with pytest.raises(InputError, match="between 0 and 100"):
        stance_metrics(x, st_, RATE, surrogate_pct=150)
    with pytest.raises(InputError, match="ap_force_n"):
        stance_metrics(x, st_, RATE, ap_force_n=np.zeros(3))
    with pytest.raises(InputError, match="start < end"):
        Stances([5], [5], [True], [""], [0.0])


def test_hand_made_stances_work():
    x, starts, ends = place([np.full(100, 500.0)])
    st_ = Stances(starts, ends, [True], [""], [0.0], RATE)
    t = stance_metrics(x, st_, RATE)
    np.testing.assert_allclose(t["impulse_ns"], 50.0)


@pytest.mark.parametrize(
    ("mode", "strike", "double"),
    [("run", "rear", False), ("run", "fore", False), ("walk", "rear", True)],
)
def test_simulated_gait_double_hump_only_when_walking(mode, strike, double):
    from forcelab.drivers.sim.gait import GaitModel, GaitParams

    from forcelab.analysis import analyze_recording
    from forcelab.recording import Recording, Stream

    speed = 3.0 if mode == "run" else 1.3
    model = GaitModel(GaitParams(mode=mode, strike=strike, speed_m_s=speed), seed=1)
    t = np.arange(0.0, 8.0, 1 / 500.0)
    streams = [Stream(s, 500.0, {"fz": model.foot(s, t)["fz"]}, side=s) for s in ("left", "right")]
    result = analyze_recording(Recording(streams, body_mass_kg=70.0))
    valid = [s for s in result.stances if s["valid"]]
    assert len(valid) >= 10
    for s in valid:
        assert (s["first_peak_bw"] is not None) == double
        assert (s["trough_bw"] is not None) == double
        assert (s["second_peak_bw"] is not None) == double
    assert ("First peak (BW)" in result.format_text()) == double


@pytest.mark.parametrize(
    "trough_n, pattern",
    [(690.0, "shallow_valley"), (700.0, "shallow_valley"), (300.0, "double_hump")],
    ids=["shallow", "flat", "deep"],
)
def test_walking_peaks_are_given_for_shallow_and_flat_valleys_and_flagged(trough_n, pattern):
    """A slow step whose valley is shallow (10 N below the first peak, under the 5 % hump
    criterion) or flat still gets its first peak, trough and second peak, as a gait report
    gives them, flagged as shallow_valley; a double hump never gets a mid-stance peak."""
    t = double_hump(walking_knots(700, trough_n, 800))
    assert list(t["peak_pattern"]) == [pattern] * 2
    np.testing.assert_allclose(t["first_peak_n"], 700.0)
    np.testing.assert_allclose(t["trough_n"], trough_n)
    np.testing.assert_allclose(t["second_peak_n"], 800.0)
    assert np.all(np.isnan(t["midstance_peak_n"]))


def test_peak_braking_and_propulsive_forces_in_n_and_bw():
    """Fore-aft force: braking (backward, negative) in the first half, propulsion after;
    the peaks are reported as positive magnitudes, in N and body weights."""
    f = np.sin(np.pi * (np.arange(300) + 0.5) / 300) * 1800.0
    tau = (np.arange(300) + 0.5) / 300
    braking_n = (350.0, 420.0)
    propulsive_n = (300.0, 260.0)
    x, starts, ends = place([f, f], gap=300)
    ap = np.zeros(x.size)
    for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
        shape = np.sin(2 * np.pi * tau)
        ap[s:e] = np.where(tau < 0.5, -braking_n[k] * shape, -propulsive_n[k] * shape)
    t = stance_metrics(x, detect_stances(x, RATE), RATE, body_mass_kg=70.0, ap_force_n=ap)
    np.testing.assert_allclose(t["peak_braking_n"], braking_n, rtol=1e-4)
    np.testing.assert_allclose(t["peak_propulsive_n"], propulsive_n, rtol=1e-4)
    np.testing.assert_allclose(
        t["peak_braking_bw"], np.array(braking_n) / (70.0 * 9.80665), rtol=1e-4
    )
    assert np.all(t["braking_impulse_ns"] < 0) and np.all(t["propulsive_impulse_ns"] > 0)
    without = stance_metrics(x, detect_stances(x, RATE), RATE)
    assert np.all(np.isnan(without["peak_braking_n"]))


def test_braking_asymmetry_and_text_with_a_fore_aft_channel():
    from forcelab.analysis import analyze_recording
    from forcelab.recording import Recording, Stream

    tau = (np.arange(300) + 0.5) / 300
    f = np.sin(np.pi * tau) * 1800.0
    ap_one = -np.sin(2 * np.pi * tau) * np.where(tau < 0.5, 400.0, 300.0)
    streams = []
    for side, scale, lead in (("left", 1.0, 300), ("right", 0.9, 600)):
        x, _, _ = place([f] * 6, gap=600)
        ap, _, _ = place([ap_one * scale] * 6, gap=600)
        x, ap = np.roll(x, lead - 300), np.roll(ap, lead - 300)
        streams.append(Stream(side, RATE, {"fz": x, "fap": ap}, side=side))
    result = analyze_recording(Recording(streams, body_mass_kg=70.0))
    a = result.asymmetry["peak_braking_bw"]
    assert a["si_pct"] == pytest.approx((0.9 - 1.0) / 0.95 * 100, abs=0.1)
    assert a["higher"] == "left"
    text = result.format_text()
    assert "Peak braking force (BW)" in text and "Peak propulsive force (N)" in text
    assert "Peak braking force" in "\n".join(result.coach_lines())


def test_loading_rates_below_500_hz_are_indicative_and_vilr_below_valr_is_not_shown():
    from forcelab.analysis import analyze_recording
    from forcelab.recording import Recording, Stream

    # 100 Hz: the first loaded sample is already half the peak, so the steepest
    # sample-to-sample rise (VILR) comes out below the 20-80 % mean slope (VALR)
    one = np.array([500.0, 900, 1000, 950, 900, 800, 600, 400, 200, 100])
    x, _, _ = place([one] * 8, gap=40)
    opts = {"contact_threshold_n": 0.0}  # keep the detector's edges: the first sample is loaded
    st_ = detect_stances(x, 100.0, **opts)
    t = stance_metrics(x, st_, 100.0)
    assert set(t["loading_rate_quality"]) == {"indicative"}
    assert set(t["loading_rate_note"]) == {"vilr_below_valr"}
    assert np.all(np.isnan(t["vilr_n_s"])) and np.all(np.isfinite(t["valr_n_s"]))
    result = analyze_recording(
        Recording([Stream("L", 100.0, {"fz": x}, side="left")]), options=opts
    )
    text = result.format_text()
    assert "Loading rates are indicative: sampled at 100 Hz" in text
    assert "VILR not given for 8 stance(s)" in text
    assert result.summary["left"]["loading_rate_quality"] == "indicative"
    assert result.parameters["streams"]["L"]["loading_rate_quality"] == "indicative"
    xf, _, _ = place([np.sin(np.pi * (np.arange(250) + 0.5) / 250) * 1500.0] * 2)
    fast = stance_metrics(xf, detect_stances(xf, RATE), RATE)
    assert set(fast["loading_rate_quality"]) == {"measured"}
    assert set(fast["loading_rate_note"]) == {""}


def test_devices_and_analysis_use_the_standard_gravity():
    """Body weight (analysis) and kg-force (DIY boards) convert with the one published value."""
    assert G_M_S2 == STANDARD_GRAVITY_M_S2 == 9.80665  # BIPM, ISO 80000-3
