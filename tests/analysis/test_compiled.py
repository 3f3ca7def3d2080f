"""The compiled core is the one in use, and it agrees with the NumPy reference."""

import contextlib
import importlib.machinery

import forcelab._stances as kernel
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forcelab.analysis import detect_stances, detection, metrics, stance_metrics
from forcelab.analysis.detection import as_force, bridge_gaps, check_options, sample_counts
from forcelab.analysis.metrics import check_metric_options, kernel_metrics
from forcelab.analysis.reference import (
    contact_edges_reference,
    detect_stances_reference,
    stance_metrics_reference,
)
from forcelab.errors import InputError

from .gait import make_gait


def test_kernel_is_an_extension_module():
    assert kernel.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert not kernel.__file__.endswith(".py")


def test_public_functions_dispatch_to_the_compiled_kernel(monkeypatch):
    calls = {"detector": 0, "metrics": 0}
    real_detector, real_metrics = kernel.Detector, kernel.stance_metrics

    def counting_detector(*args):
        calls["detector"] += 1
        return real_detector(*args)

    def counting_metrics(*args):
        calls["metrics"] += 1
        return real_metrics(*args)

    monkeypatch.setattr(detection._stances, "Detector", counting_detector)
    monkeypatch.setattr(metrics._stances, "stance_metrics", counting_metrics)
    x, _, _ = make_gait(n_stances=3)
    st_ = detect_stances(x, 1000.0)
    table = stance_metrics(x, st_, 1000.0)
    assert calls == {"detector": 1, "metrics": 1}
    assert len(table["peak_force_n"]) == 3
    assert detection._stances is kernel and metrics._stances is kernel


#: The detector's block loops this CPU can run: AVX2 (x86 with AVX2) and always SSE2/scalar.
SIMD_FORMS = [True, False] if kernel.use_avx2(True) else [False]


@contextlib.contextmanager
def simd(avx2):
    """Run the detector's block loops in the given form, then back to the default."""
    kernel.use_avx2(avx2)
    try:
        yield
    finally:
        kernel.use_avx2(True)


def assert_same(x, rate_hz, metric_options=None, **options):
    a = detect_stances(x, rate_hz, **options)
    b = detect_stances_reference(x, rate_hz, **options)
    np.testing.assert_array_equal(a.start, b.start)
    np.testing.assert_array_equal(a.end, b.end)
    np.testing.assert_array_equal(a.valid, b.valid)
    assert list(a.reason) == list(b.reason)
    np.testing.assert_allclose(a.baseline_n, b.baseline_n, rtol=1e-12, atol=1e-9)
    # metrics see the signal with short dropouts bridged, as detection did
    n_gap = sample_counts(check_options(options), rate_hz)["max_gap"]
    xb, _ = bridge_gaps(as_force(x), n_gap)
    ka = kernel_metrics(xb, a, rate_hz, check_metric_options(metric_options))
    kb = stance_metrics_reference(xb, a, rate_hz, **(metric_options or {}))
    for key, ref in kb.items():
        if key == "impulse_ns":  # summation order differs (sequential vs pairwise)
            np.testing.assert_allclose(ka[key], ref, rtol=1e-10, atol=1e-9)
        else:
            np.testing.assert_array_equal(ka[key], ref, err_msg=key)
    return a


gait_params = st.fixed_dictionaries(
    {
        "rate_hz": st.sampled_from([100.0, 300.0, 1000.0]),
        "n_stances": st.integers(0, 6),
        "contact_s": st.floats(0.08, 0.9),
        "flight_s": st.floats(0.02, 0.5),
        "peak_n": st.floats(50.0, 3000.0),
        "kind": st.sampled_from(["running", "walking", "double_hump", "box"]),
        "lead_s": st.floats(0.0, 0.5),
        "tail_s": st.floats(0.0, 0.5),
        "offset_n": st.floats(-40.0, 40.0),
        "ripple_n": st.floats(0.0, 30.0),
        "drift_n": st.floats(-150.0, 150.0),
        "noise_n": st.floats(0.0, 20.0),
        "seed": st.integers(0, 1000),
    }
)


@pytest.mark.parametrize("avx2", SIMD_FORMS)
@settings(max_examples=120, deadline=None)
@given(
    params=gait_params,
    nan_at=st.lists(st.floats(0.0, 1.0), max_size=3),
    nan_len=st.integers(1, 40),
    quantum=st.sampled_from([0.0, 1.0, 25.0]),
    hump=st.sampled_from([0.0, 0.05, 0.2]),
    options=st.fixed_dictionaries(
        {},
        optional={
            "min_contact_s": st.floats(0.0, 0.1),
            "min_flight_s": st.floats(0.0, 0.08),
            "guard_s": st.floats(0.0, 0.03),
            "init_window_s": st.floats(0.05, 6.0),
            "min_flight_samples": st.integers(1, 5),
            "max_gap_s": st.sampled_from([0.0, 0.01, 0.05]),
        },
    ),
)
def test_compiled_equals_reference_on_gait_like_signals(
    avx2, params, nan_at, nan_len, quantum, hump, options
):
    x, _, _ = make_gait(**params)
    if quantum:  # quantised signals make exact ties with thresholds likely
        x = np.round(x / quantum) * quantum
    for frac in nan_at:
        i = int(frac * max(x.size - 1, 0))
        x[i : i + nan_len] = np.nan
    with simd(avx2):
        assert_same(x, params["rate_hz"], {"double_hump_fraction": hump}, **options)


@pytest.mark.parametrize("avx2", SIMD_FORMS)
@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(-100, 3000, allow_nan=False),
            st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0]),
        ),
        max_size=400,
    ),
    rate_hz=st.sampled_from([20.0, 100.0, 1000.0]),
)
def test_compiled_equals_reference_on_arbitrary_values(avx2, values, rate_hz):
    with simd(avx2):
        assert_same(np.array(values, dtype=np.float64), rate_hz)


@pytest.mark.parametrize("quantum", [0.0, 25.0])
def test_avx2_and_sse2_block_loops_find_the_same_stances_bit_for_bit(quantum):
    """Long untared, rippling, drifting running with gaps and +-inf: every output of the
    detector (edges, reasons, baselines, levels) is identical in both forms."""
    x, _, _ = make_gait(
        rate_hz=1000.0, n_stances=300, contact_s=0.25, flight_s=0.45, peak_n=1500.0,
        kind="running", lead_s=0.3, tail_s=0.2, offset_n=30.0, ripple_n=25.0, drift_n=120.0,
        noise_n=6.0, seed=7,
    )
    if quantum:
        x = np.round(x / quantum) * quantum
    x[5000:5030] = np.nan
    x[90_000:90_004] = -np.inf
    x[150_001] = np.inf
    opts = check_options({})
    counts = sample_counts(opts, 1000.0)
    window = detection.first_finite(x, counts["init_window"])
    *init, noise_n = detection.initial_window(window, opts)
    threshold = detection.edge_threshold_n(opts, noise_n)
    outputs = []
    for avx2 in SIMD_FORMS:
        with simd(avx2):
            det = detection.make_detector(opts, 1000.0, init)
            found = det.feed_edges(x, threshold, counts["edge_window"])
            outputs.append((found, det.finish(), det.base, det.noise, det.level))
    assert len(outputs[0][0][0]) > 250
    for other in outputs[1:]:
        for a, b in zip(outputs[0][0] + outputs[0][1], other[0] + other[1], strict=True):
            np.testing.assert_array_equal(a, b)
        assert other[2:] == outputs[0][2:]


@pytest.mark.parametrize("seed", range(6))
def test_compiled_contact_edges_equal_the_numpy_form(seed):
    """Samples on and around the levels (ties), missing neighbours, NaN levels, stances at the
    first and the last sample: bit for bit."""
    rng = np.random.default_rng(seed)
    n = 400
    x = rng.choice([0.0, 10.0, 20.0, 35.0, 100.0, np.nan, np.inf, -np.inf], n,
                   p=[0.2, 0.1, 0.2, 0.2, 0.15, 0.05, 0.05, 0.05])
    x += np.where(rng.random(n) < 0.3, rng.normal(0.0, 15.0, n), 0.0)
    bounds = np.unique(np.concatenate(([0, n], rng.integers(0, n + 1, 120))))
    start, end = bounds[:-1][::2].astype(np.int64), bounds[1:][::2].astype(np.int64)
    m = start.size
    off = rng.choice([20.0, 35.0, 10.0, np.nan], m)
    stances = detection.Stances(start, end, np.ones(m, bool), np.full(m, ""), np.zeros(m),
                                off_n=off)
    for index_offset in (0, 12345):
        got = metrics.contact_edges(x, stances, index_offset)
        want = contact_edges_reference(x, stances, index_offset)
        moved = (got[0] != start + index_offset) | (got[1] != end + index_offset)
        assert moved.sum() >= 5  # interpolated edges are compared, not only whole samples
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


def assert_same_tables(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if a[key].dtype == object:
            assert list(a[key]) == list(b[key]), key
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@settings(max_examples=100, deadline=None)
@given(
    params=gait_params,
    nan_at=st.lists(st.floats(0.0, 1.0), max_size=2),
    hump=st.sampled_from([0.0, 0.05, 0.2]),
    mass=st.sampled_from([None, 70.0]),
    with_ap=st.booleans(),
    options=st.fixed_dictionaries(
        {},
        optional={
            "min_contact_s": st.floats(0.0, 0.1),
            "edge_window_s": st.floats(0.0, 0.3),
            "contact_threshold_n": st.sampled_from([0.0, 20.0, 60.0]),
            "max_gap_s": st.sampled_from([0.0, 0.05]),
        },
    ),
)
def test_detect_and_measure_equals_the_two_calls(params, nan_at, hump, mass, with_ap, options):
    """Each stance measured as the detector finds it gives the stances and the table of
    detect_stances + stance_metrics, bit for bit (also with gaps, where it measures after)."""
    x, _, _ = make_gait(**params)
    for frac in nan_at:
        i = int(frac * max(x.size - 1, 0))
        x[i : i + 7] = np.nan
    ap = np.sin(np.arange(x.size) / 37.0) * 80.0 if with_ap else None
    rate = params["rate_hz"]
    want_st = detect_stances(x, rate, **options)
    want = stance_metrics(x, want_st, rate, mass, ap, double_hump_fraction=hump)
    got_st, got = metrics.detect_and_measure(x, rate, mass, ap, options,
                                             {"double_hump_fraction": hump})
    for name in ("start", "end", "valid", "baseline_n", "off_n"):
        np.testing.assert_array_equal(getattr(got_st, name), getattr(want_st, name))
    assert list(got_st.reason) == list(want_st.reason)
    assert got_st.parameters == want_st.parameters
    assert_same_tables(got, want)


def test_detect_and_measure_measures_in_the_detector_unless_samples_are_missing(monkeypatch):
    x, _, _ = make_gait(n_stances=40, offset_n=20.0, ripple_n=10.0, noise_n=3.0, seed=2)
    calls = []
    real = metrics.stance_metrics
    monkeypatch.setattr(metrics, "stance_metrics", lambda *a, **k: calls.append(1) or real(*a, **k))
    stances, table = metrics.detect_and_measure(x, 1000.0)
    assert calls == [] and len(stances) == 40 and np.isfinite(table["impulse_ns"]).all()
    x[5000:5100] = np.nan  # a dropout: stances are measured after detection, as the two calls do
    stances, _ = metrics.detect_and_measure(x, 1000.0)
    assert calls == [1] and len(stances) >= 39


@pytest.mark.parametrize(
    "args, message",
    [
        ((np.ones(10), 0.0), "rate"),
        ((np.ones(10), 1000.0, None, np.ones(9)), "ap_force_n must have as many samples"),
        ((np.ones(10), 1000.0, None, None, {"bogus": 1}), "unknown stance detection option"),
        ((np.ones(10), 1000.0, None, None, None, {"bogus": 1}), "unknown metric option"),
        ((np.ones(10), 1000.0, -3.0), "body mass"),
    ],
)
def test_detect_and_measure_refuses_what_the_two_calls_refuse(args, message):
    with pytest.raises(InputError, match=message):
        metrics.detect_and_measure(*args)


def test_the_detector_measures_stances_fed_in_chunks_like_stance_metrics():
    """Fed in chunks (the last one final), each stance refined inside a chunk is measured there
    exactly as stance_metrics measures it, and its contact and toe-off are those of
    contact_edges; the stances are those of one piece (the one still loaded at the end too)."""
    x, _, _ = make_gait(n_stances=60, offset_n=25.0, ripple_n=12.0, noise_n=4.0, seed=5)
    x = x[: int(np.flatnonzero(np.diff((x > 200).astype(int)) == 1)[-1]) + 100]  # mid-stance
    opts = check_options({})
    counts = sample_counts(opts, 1000.0)
    window = detection.first_finite(x, counts["init_window"])
    *init, noise_n = detection.initial_window(window, opts)
    threshold = detection.edge_threshold_n(opts, noise_n)
    det = detection.make_detector(opts, 1000.0, init)
    m_opts = check_metric_options({})
    measure = kernel.Measure(*metrics._kernel_params(1000.0, m_opts))
    cut = int(np.flatnonzero(np.diff((x > 200).astype(int)) == 1)[20]) - 40  # before a contact
    outs = [det.feed_edges(part, threshold, counts["edge_window"], measure, final)
            for part, final in ((x[:cut], False), (x[cut:], True))]
    assert det.finish()[0].size == 0  # the final chunk closed the data
    done = np.concatenate([o[8] for o in outs]) != 0
    start = np.concatenate([o[5] for o in outs])[done]
    end = np.concatenate([o[6] for o in outs])[done]
    base = np.concatenate([o[3] for o in outs])[done]
    level = np.concatenate([o[7] for o in outs])[done]
    got = {key: np.concatenate([o[9][key] for o in outs])[done] for key in outs[0][9]}
    assert done.sum() >= 55 and (~done).sum() >= 1  # the stance at the cut waits for the caller
    whole = detection.detect_stances(x, 1000.0)  # the same stances, fed in one piece
    assert len(whole) == done.size and whole.reason[-1] == "partial_end" and done[-1]
    np.testing.assert_array_equal(start, whole.start[done])
    np.testing.assert_array_equal(end, whole.end[done])
    want = metrics._kernel(x, start, end, base, 1000.0, m_opts)
    for key, col in want.items():
        np.testing.assert_array_equal(got[key], col, err_msg=key)
    edges = kernel.contact_edges(x, start, end, level, 0)
    np.testing.assert_array_equal(got["contact_f"], edges[0])
    np.testing.assert_array_equal(got["toe_off_f"], edges[1])
