"""StreamingAnalyzer gives exactly the batch result, whatever the chunk sizes."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forcelab.analysis import StreamingAnalyzer, detect_stances, stance_metrics
from forcelab.analysis.streaming import table_rows
from forcelab.errors import InputError

from .gait import make_gait


def batch_rows(x, rate_hz, body_mass_kg=None, **options):
    det = {k: v for k, v in options.items() if k != "impact_window_pct"}
    met = {k: v for k, v in options.items() if k == "impact_window_pct"}
    st_ = detect_stances(x, rate_hz, **det)
    return table_rows(stance_metrics(x, st_, rate_hz, body_mass_kg, **met))


def stream_rows(x, rate_hz, cuts, body_mass_kg=None, **options):
    live = StreamingAnalyzer(rate_hz, body_mass_kg=body_mass_kg, **options)
    rows = []
    bounds = [0, *sorted(cuts), x.size]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        rows.extend(live.feed(x[a:b]))
    rows.extend(live.flush())
    return rows


def assert_rows_equal(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for key in ra:
            va, vb = ra[key], rb[key]
            if isinstance(va, float) and isinstance(vb, float):
                # sums over the same samples may differ in the last bit with the buffer's
                # alignment (NumPy's SIMD summation): the plan's "tight tolerance for floats"
                same = math.isclose(va, vb, rel_tol=1e-12, abs_tol=1e-12)
                assert same or (math.isnan(va) and math.isnan(vb)), key
            else:
                assert va == vb, key


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cuts_frac=st.lists(st.floats(0.0, 1.0), max_size=25),
    rate_hz=st.sampled_from([100.0, 500.0]),
    nan_frac=st.floats(0.0, 1.0),
    init_window_s=st.sampled_from([0.2, 1.0, 5.0]),
    mass=st.sampled_from([None, 70.0]),
)
def test_streaming_equals_batch_with_random_chunks(
    seed, cuts_frac, rate_hz, nan_frac, init_window_s, mass
):
    rng = np.random.default_rng(seed)
    x, _, _ = make_gait(rate_hz=rate_hz, n_stances=int(rng.integers(0, 8)),
                        contact_s=float(rng.uniform(0.1, 0.6)),
                        flight_s=float(rng.uniform(0.03, 0.3)),
                        offset_n=float(rng.uniform(-30, 30)), ripple_n=float(rng.uniform(0, 27)),
                        drift_n=float(rng.uniform(-100, 100)), noise_n=float(rng.uniform(0, 10)),
                        seed=seed)
    for _ in range(int(nan_frac * 4)):  # dropouts, some bridged, some gaps
        if x.size:
            i = int(rng.integers(0, x.size))
            x[i : i + int(rng.integers(1, 16))] = np.nan
    cuts = [int(f * x.size) for f in cuts_frac]
    opts = {"init_window_s": init_window_s}
    assert_rows_equal(
        stream_rows(x, rate_hz, cuts, mass, **opts), batch_rows(x, rate_hz, mass, **opts)
    )


def test_streaming_sample_by_sample_and_one_chunk_agree():
    x, starts, _ = make_gait(rate_hz=200.0, n_stances=6, offset_n=25.0, ripple_n=20.0)
    one = stream_rows(x, 200.0, [])
    each = stream_rows(x, 200.0, list(range(1, x.size)))
    assert_rows_equal(one, each)
    assert len(one) == len(starts)
    holes = x.copy()
    holes[starts + 10] = np.nan  # bridged dropouts held back across chunk edges
    holes[-1] = np.nan
    assert_rows_equal(stream_rows(holes, 200.0, list(range(1, x.size))), batch_rows(holes, 200.0))
    assert all(r["valid"] for r in one)


def test_streaming_returns_stances_before_the_end():
    x, starts, ends = make_gait(rate_hz=500.0, n_stances=30, contact_s=0.25, flight_s=0.12)
    live = StreamingAnalyzer(500.0, init_window_s=1.0)
    seen_at = []
    for i in range(0, x.size, 50):
        for row in live.feed(x[i : i + 50]):
            seen_at.append((row["end_s"], (i + 50) / 500.0))
    assert len(seen_at) >= 25
    # once initialised, a stance is reported within min_flight + one chunk of its toe-off
    late = [done - end for end, done in seen_at[5:]]
    assert max(late) <= 0.03 + 0.1 + 1e-9


def test_streaming_rejects_bad_input_and_use_after_flush():
    with pytest.raises(InputError):
        StreamingAnalyzer(0.0)
    with pytest.raises(InputError):
        StreamingAnalyzer(100.0, body_mass_kg=-3)
    with pytest.raises(InputError, match="unknown analysis option"):
        StreamingAnalyzer(100.0, threshold=20)
    live = StreamingAnalyzer(100.0)
    with pytest.raises(InputError):
        live.feed(np.zeros((3, 2)))
    live.flush()
    with pytest.raises(InputError, match="flushed"):
        live.feed(np.zeros(3))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cuts_frac=st.lists(st.floats(0.0, 1.0), max_size=20),
    rate_hz=st.sampled_from([100.0, 1000.0]),
    kind=st.sampled_from(["running", "double_hump"]),
)
def test_streaming_equals_batch_on_the_new_metrics(seed, cuts_frac, rate_hz, kind):
    """Contact edges at 20 N, walking peaks and their pattern, peak braking/propulsive forces
    and impulses (with a fore-aft channel), rate flags: streaming == batch."""
    rng = np.random.default_rng(seed)
    x, starts, ends = make_gait(rate_hz=rate_hz, n_stances=int(rng.integers(1, 8)),
                                contact_s=0.25 if kind == "running" else 0.6, kind=kind,
                                offset_n=float(rng.uniform(-30, 30)),
                                drift_n=float(rng.uniform(-50, 50)),
                                noise_n=float(rng.uniform(0, 4)), seed=seed)
    ap = np.zeros(x.size)
    for s, e in zip(starts, ends, strict=True):
        tau = (np.arange(e - s) + 0.5) / (e - s)
        ap[s:e] = -float(rng.uniform(100, 400)) * np.sin(2 * np.pi * tau)
    ap += rng.normal(0, 2.0, x.size)
    cuts = [int(f * x.size) for f in cuts_frac]
    live = StreamingAnalyzer(rate_hz, body_mass_kg=70.0)
    rows = []
    bounds = [0, *sorted(cuts), x.size]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        rows.extend(live.feed(x[a:b], ap[a:b]))
    rows.extend(live.flush())
    st_ = detect_stances(x, rate_hz)
    batch = table_rows(stance_metrics(x, st_, rate_hz, 70.0, ap))
    assert_rows_equal(rows, batch)
    assert live.contact_threshold_n == st_.parameters["contact_threshold_n"]
    assert all(r["peak_braking_n"] is not None for r in batch)
    quality = "indicative" if rate_hz < 500 else "measured"
    assert all(r["loading_rate_quality"] == quality for r in batch)


def test_ap_chunk_must_match_the_force_chunk():
    live = StreamingAnalyzer(100.0)
    with pytest.raises(InputError, match="ap_chunk"):
        live.feed(np.zeros(10), np.zeros(9))
