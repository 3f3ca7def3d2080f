"""Stance detection on what real files contain (each case fails with a fixed 20 N threshold)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forcelab.analysis import detect_stances, detection, stance_metrics
from forcelab.analysis.reference import initial_window_reference
from forcelab.errors import InputError

from .gait import make_gait


def fixed_threshold_count(x, threshold_n=20.0):
    above = np.nan_to_num(x, nan=0.0) > threshold_n
    return int(np.count_nonzero(np.diff(above.astype(int)) == 1))


def check_found(x, starts, ends, rate_hz, tol_s=0.03):
    st_ = detect_stances(x, rate_hz)
    assert len(st_) == len(starts)
    assert st_.valid.all(), list(st_.reason)
    np.testing.assert_allclose(st_.start / rate_hz, starts / rate_hz, atol=tol_s)
    np.testing.assert_allclose(st_.end / rate_hz, ends / rate_hz, atol=tol_s)
    return st_


@pytest.mark.parametrize(
    "case",
    [
        {"offset_n": 30.0},
        {"offset_n": -20.0},
        {"offset_n": 30.0, "ripple_n": 27.0},
        {"offset_n": -20.0, "ripple_n": 27.0},
        {"drift_n": 120.0},
        {"drift_n": -110.0, "ripple_n": 27.0, "offset_n": 10.0},
    ],
)
def test_untared_rippling_drifting_plates(case):
    x, starts, ends = make_gait(n_stances=78, contact_s=0.27, flight_s=0.11, **case)
    if case.get("offset_n", 0.0) + case.get("ripple_n", 0.0) + abs(case.get("drift_n", 0.0)) > 20:
        assert fixed_threshold_count(x) != len(starts)  # the naive threshold fails here
    st_ = check_found(x, starts, ends, 1000.0)
    # forces are measured above the tracked baseline: peaks are not inflated by the offset
    table = stance_metrics(x, st_, 1000.0)
    expected_baseline = case.get("offset_n", 0.0) + case.get("drift_n", 0.0) * (st_.start / x.size)
    np.testing.assert_allclose(st_.baseline_n[1:], expected_baseline[1:], atol=8.0)
    ripple = case.get("ripple_n", 0.0)
    assert np.all(np.abs(table["peak_force_n"] - 1500.0) <= ripple + 8.0)


def test_zeroed_data_with_exact_zeros_in_flight():
    x, starts, ends = make_gait(n_stances=10)
    st_ = check_found(x, starts, ends, 1000.0, tol_s=0.01)
    np.testing.assert_allclose(st_.baseline_n, 0.0, atol=1e-9)


def test_nan_gap_inside_a_stance_makes_it_invalid():
    x, starts, ends = make_gait(n_stances=6, rate_hz=500.0)
    mid = (starts[2] + ends[2]) // 2
    x[mid : mid + 15] = np.nan  # 30 ms: longer than max_gap_s (20 ms)
    st_ = detect_stances(x, 500.0)
    assert list(st_.reason) == ["", "", "gap", "gap", "", "", ""]
    assert st_.end[2] == mid and st_.start[3] == mid + 15
    gap_in_flight = x.copy()
    gap_in_flight[ends[3] + 10 : ends[3] + 30] = np.nan
    assert list(detect_stances(gap_in_flight, 500.0).reason).count("gap") == 2


def test_partial_stances_at_file_edges_are_flagged():
    x, starts, ends = make_gait(n_stances=5, rate_hz=500.0)
    cut = x[(starts[0] + ends[0]) // 2 : (starts[4] + ends[4]) // 2]
    st_ = detect_stances(cut, 500.0)
    assert list(st_.reason) == ["partial_start", "", "", "", "partial_end"]
    assert list(st_.valid) == [False, True, True, True, False]
    assert st_.start[0] == 0 and st_.end[-1] == cut.size


def test_single_sample_blips_after_toe_off_are_not_stances():
    x, starts, ends = make_gait(n_stances=6, offset_n=15.0)
    for e in ends:
        x[e + 15] = 400.0
        x[e + 40 : e + 42] = 250.0
    assert fixed_threshold_count(x) > len(starts)
    check_found(x, starts, ends, 1000.0)


def test_very_slow_gait_and_sprints():
    slow, s1, e1 = make_gait(rate_hz=200.0, n_stances=8, contact_s=2.3, flight_s=0.6, peak_n=700.0,
                             kind="walking", offset_n=20.0, ripple_n=10.0)
    check_found(slow, s1, e1, 200.0, tol_s=0.12)
    sprint, s2, e2 = make_gait(n_stances=40, contact_s=0.11, flight_s=0.13, peak_n=2600.0,
                               offset_n=-20.0, ripple_n=27.0, drift_n=100.0)
    st_ = check_found(sprint, s2, e2, 1000.0, tol_s=0.01)
    np.testing.assert_allclose(st_.end - st_.start, 110, atol=8)


def test_walking_double_support_on_per_side_streams():
    rate = 500.0
    left, sl, el = make_gait(rate_hz=rate, n_stances=8, contact_s=0.7, flight_s=0.5, peak_n=800.0,
                             kind="walking", offset_n=25.0)
    # the right foot lands 0.6 s after the left: 0.1 s of double support each step
    right, sr, er = make_gait(rate_hz=rate, n_stances=8, contact_s=0.7, flight_s=0.5, peak_n=800.0,
                              kind="walking", lead_s=0.9, tail_s=0.0, offset_n=-15.0)
    n = min(left.size, right.size)
    total = left[:n] + right[:n]
    assert detect_stances(total, rate).start.size < 8  # one signal cannot separate the feet
    check_found(left, sl, el, rate, tol_s=0.06)
    check_found(right, sr, er, rate, tol_s=0.06)


def test_constant_or_empty_signals_have_no_stances():
    assert len(detect_stances(np.zeros(1000), 100.0)) == 0
    assert len(detect_stances(np.full(1000, 700.0), 100.0)) == 0
    assert len(detect_stances(np.array([]), 100.0)) == 0
    assert len(detect_stances(np.full(50, np.nan), 100.0)) == 0
    noise = 30.0 + 27.0 * np.sin(np.arange(5000) * 2 * np.pi * 50 / 1000)
    assert len(detect_stances(noise, 1000.0)) == 0


def test_options_are_recorded_and_checked():
    x, _, _ = make_gait(n_stances=3)
    st_ = detect_stances(x, 1000.0, min_contact_s=0.1)
    assert st_.parameters["options"]["min_contact_s"] == 0.1
    assert st_.parameters["implementation"] == "compiled"
    with pytest.raises(InputError, match="unknown stance detection option"):
        detect_stances(x, 1000.0, threshold_n=20)
    with pytest.raises(InputError, match="hysteresis"):
        detect_stances(x, 1000.0, on_fraction=0.01, off_fraction=0.02)
    with pytest.raises(InputError, match=">= 0"):
        detect_stances(x, 1000.0, min_contact_s=-1)
    with pytest.raises(InputError, match="number"):
        detect_stances(x, 1000.0, min_contact_s="long")


@pytest.mark.parametrize("rate", [0, -5, float("nan"), "fast", None])
def test_bad_rates_are_rejected(rate):
    with pytest.raises(InputError, match="rate"):
        detect_stances(np.zeros(10), rate)


@pytest.mark.parametrize("bad", [np.zeros((3, 3)), "abc", [[1, 2], [3, 4]], object()])
def test_bad_signals_are_rejected(bad):
    with pytest.raises(InputError):
        detect_stances(bad, 100.0)


def test_integer_and_list_input_is_coerced():
    x, starts, _ = make_gait(n_stances=4, rate_hz=200.0)
    a = detect_stances(np.round(x).astype(np.int32), 200.0)
    b = detect_stances(list(np.round(x)), 200.0)
    assert len(a) == len(b) == len(starts)
    np.testing.assert_array_equal(a.start, b.start)


def test_infinite_samples_are_gaps_like_nan():
    x, starts, ends = make_gait(n_stances=4, rate_hz=500.0)
    with_inf, with_nan = x.copy(), x.copy()
    mid = (starts[1] + ends[1]) // 2
    with_inf[mid] = np.inf
    with_inf[ends[2] + 20] = -np.inf
    with_nan[mid] = np.nan
    with_nan[ends[2] + 20] = np.nan
    a = detect_stances(with_inf, 500.0, max_gap_s=0.0)
    b = detect_stances(with_nan, 500.0, max_gap_s=0.0)
    np.testing.assert_array_equal(a.start, b.start)
    assert list(a.reason) == list(b.reason) == ["", "gap", "gap", "", ""][: len(a)]


def test_short_dropouts_are_bridged_longer_ones_are_gaps():
    x, starts, ends = make_gait(n_stances=5, rate_hz=100.0, contact_s=0.6, flight_s=0.4)
    holes = x.copy()
    for s, e in zip(starts, ends, strict=True):
        holes[(s + e) // 2] = np.nan  # one dropped row in every stance
    holes[(starts[2] + ends[2]) // 2 + 10 : (starts[2] + ends[2]) // 2 + 12] = np.nan
    st_ = detect_stances(holes, 100.0)
    assert st_.valid.all() and len(st_) == 5
    assert st_.parameters["bridged_samples"] == 7
    table = stance_metrics(holes, st_, 100.0)
    np.testing.assert_allclose(
        table["peak_force_n"],
        stance_metrics(x, detect_stances(x, 100.0), 100.0)["peak_force_n"],
        rtol=0.01,
    )
    strict = detect_stances(holes, 100.0, max_gap_s=0.0)
    assert list(strict.reason).count("gap") == 11  # each hole splits a stance in two


def test_standing_on_the_plate_before_running_is_forgotten_within_three_stances():
    x, starts, _ = make_gait(n_stances=8, lead_s=0.2, noise_n=3.0)
    stand = 700.0 + np.random.default_rng(0).normal(0.0, 5.0, 6000)  # weighing, 6 s
    y = np.concatenate([stand, np.linspace(700.0, 0.0, 100), x])
    st_ = detect_stances(y, 1000.0)
    assert len(st_) == len(starts)
    np.testing.assert_allclose(st_.baseline_n[2:], 0.0, atol=5.0)
    peaks = stance_metrics(y, st_, 1000.0)["peak_force_n"]
    np.testing.assert_allclose(peaks[2:], 1500.0, rtol=0.02)


def threshold_edges(x, threshold_n):
    """Contact and toe-off (s) where a clean trace crosses a fixed threshold, interpolated."""
    above = np.r_[False, x >= threshold_n, False].astype(int)
    on = np.flatnonzero(np.diff(above) == 1)
    off = np.flatnonzero(np.diff(above) == -1)
    t_on = on - 1 + (threshold_n - x[on - 1]) / (x[on] - x[on - 1])
    t_off = off - 1 + (x[off - 1] - threshold_n) / (x[off - 1] - x[off])
    return t_on, t_off


@pytest.mark.parametrize(
    "spoil",
    [
        {},
        {"offset_n": 35.0},
        {"offset_n": -25.0},
        {"offset_n": 20.0, "drift_n": -45.0},
        {"noise_n": 3.0, "seed": 4},
        {"offset_n": 30.0, "drift_n": 40.0, "noise_n": 2.5, "seed": 5},
    ],
    ids=["clean", "untared_up", "untared_down", "drifting", "noisy", "all"],
)
@pytest.mark.parametrize("kind", ["running", "double_hump"])
def test_contact_times_agree_with_20n_on_the_clean_trace(spoil, kind):
    rate = 1000.0
    contact_s = 0.25 if kind == "running" else 0.65
    if kind == "double_hump" and "noise_n" in spoil:
        # walking edges rise ~4.7 N/ms: 3 N of noise alone moves a crossing by ~0.6 ms (SD)
        spoil = {**spoil, "noise_n": 1.5}
    clean, _, _ = make_gait(rate, kind=kind, contact_s=contact_s, peak_n=1500.0)
    x, _, _ = make_gait(rate, kind=kind, contact_s=contact_s, peak_n=1500.0, **spoil)
    t_on, t_off = threshold_edges(clean, 20.0)
    st_ = detect_stances(x, rate)
    table = stance_metrics(x, st_, rate)
    assert st_.parameters["contact_threshold_n"] == 20.0
    assert len(st_) == t_on.size
    # within one sample of the 20 N threshold on the clean trace
    assert np.max(np.abs(table["start_s"] * rate - t_on)) <= 1.0
    assert np.max(np.abs(table["end_s"] * rate - t_off)) <= 1.0
    # a contact time adds the errors of two edges: within one sample, 1.5 with every fault
    # at once on slow walking edges
    tol = 1.5 if kind == "double_hump" and len(spoil) > 2 else 1.0
    assert np.max(np.abs(table["contact_time_s"] * rate - (t_off - t_on))) <= tol


def test_flight_noise_raises_the_contact_threshold_and_is_recorded():
    x, _, _ = make_gait(1000.0, noise_n=12.0, seed=3)
    st_ = detect_stances(x, 1000.0)
    # 4 x the flight noise SD (12 N) instead of a meaningless 20 N
    assert 40.0 <= st_.parameters["contact_threshold_n"] <= 56.0
    # edges at that level above the flight just before each contact
    above = st_.off_n - st_.parameters["contact_threshold_n"]
    assert np.max(np.abs(above - st_.baseline_n)) < 3.0
    off = detect_stances(x, 1000.0, contact_threshold_n=0.0)
    assert off.parameters["contact_threshold_n"] is None


def test_slowly_unloading_untared_walk_ends_at_20n_above_baseline():
    """A long stance that unloads slowly (over 400 ms) on a plate reading -30 N unloaded."""
    rate = 1000.0
    n, tail = 900, 400
    t = np.arange(n) / n
    stance = 700.0 * np.sin(np.pi * t) * (1.0 - 0.3 * np.cos(4 * np.pi * t))
    ramp = np.linspace(stance[-1] if stance[-1] > 0 else 60.0, 0.0, tail)
    one = np.r_[stance[: n - 100], np.linspace(stance[n - 100], 0.0, tail)]
    assert ramp.size == tail
    x = np.r_[np.zeros(300), one, np.zeros(500), one, np.zeros(400)] - 30.0
    st_ = detect_stances(x, rate)
    table = stance_metrics(x, st_, rate)
    _, t_off = threshold_edges(x + 30.0, 20.0)
    assert len(st_) == 2
    assert np.max(np.abs(table["end_s"] - t_off / rate)) <= 0.030


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, -0.0, 1.0, 2.5, 100.0, -7.0, 1e-300, 3e5, np.nan, np.inf]),
             min_size=0, max_size=40),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0.0, 80.0, 1e9]),
)
def test_the_compiled_initial_window_equals_its_numpy_form(choices, seed, min_level_n):
    """Baseline, noise, level and flight noise of the initial window (quickselect, sums in
    sample order) equal the NumPy form bit for bit, and np.percentile / np.median / np.mean /
    np.std up to their summation order: ties, signed zeros, missing samples, odd and even
    sizes, windows with and without a stance."""
    rng = np.random.default_rng(seed)
    v = np.concatenate((np.array(choices), rng.normal(0.0, 10.0 ** rng.uniform(-3, 4),
                                                      int(rng.integers(0, 300)))))
    if rng.random() < 0.5:  # stances in the window
        v = np.where(rng.random(v.size) < 0.3, v + 1500.0, v)
    got = detection.initial_window(v, {"min_level_n": min_level_n})
    assert got == initial_window_reference(v, min_level_n)
    vals = v[np.isfinite(v)]
    if vals.size == 0:
        assert got == (0.0, 0.0, 0.0, 0.0)
        return
    ranked = np.sort(vals)
    lo, hi = (ranked[math.floor(p)] + (ranked[min(math.floor(p) + 1, vals.size - 1)]
                                       - ranked[math.floor(p)]) * (p - math.floor(p))
              for p in (0.02 * (vals.size - 1), 0.98 * (vals.size - 1)))
    close = {"rtol": 1e-9, "atol": 1e-12 * max(1.0, float(np.abs(vals).max()))}
    np.testing.assert_allclose((lo, hi), np.percentile(vals, [2.0, 98.0]), **close)
    low = vals <= lo + 0.1 * (hi - lo) if hi - lo >= min_level_n else np.ones(vals.size, bool)
    flight = vals[low]
    np.testing.assert_allclose(got[:2], (np.mean(flight), np.std(flight)), **close)
    if hi - lo >= min_level_n:
        np.testing.assert_allclose(got[2], max(hi - np.mean(flight), 0.0), **close)
    d = np.diff(vals)[low[1:] & low[:-1]]
    if vals.size >= 3 and d.size:
        mad = np.median(np.abs(d - np.median(d)))
        np.testing.assert_allclose(got[3], 1.4826 * mad / math.sqrt(2.0), **close)
