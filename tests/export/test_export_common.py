"""Properties of the shared export helpers: time grids and splitting one plate into feet."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from forcelab.interop.export_common import (
    common_grid,
    on_grid,
    output_paths,
    safe_name,
    stance_sides_per_sample,
)
from forcelab.recording import Stream


@st.composite
def stance_layouts(draw):
    n = draw(st.integers(1, 12))
    gaps = draw(st.lists(st.floats(0.0, 0.5), min_size=n, max_size=n))
    lengths = draw(st.lists(st.floats(0.05, 0.4), min_size=n, max_size=n))
    sides = draw(st.lists(st.sampled_from(["left", "right", None]), min_size=n, max_size=n))
    t, out = draw(st.floats(0.0, 1.0)), []
    for g, ln, sd in zip(gaps, lengths, sides, strict=True):
        t += g
        out.append({"start_s": t, "end_s": t + ln, "side": sd, "stream": "plate"})
        t += ln
    return out


@settings(max_examples=60, deadline=None)
@given(stance_layouts(), st.floats(50.0, 1000.0))
def test_every_sample_goes_to_the_foot_of_its_stance(stances, rate_hz):
    t = np.arange(0.0, stances[-1]["end_s"] + 0.5, 1.0 / rate_hz)
    owner = stance_sides_per_sample(t, stances, "plate")
    sided = [s for s in stances if s["side"]]
    if not sided:
        assert np.all(owner == "")
        return
    assert set(owner.tolist()) <= {"left", "right"}
    for s in sided:
        inside = (t >= s["start_s"]) & (t < s["end_s"])
        assert np.all(owner[inside] == s["side"])
    # other streams' stances are ignored
    assert np.all(stance_sides_per_sample(t, stances, "other") == "")


@settings(max_examples=60, deadline=None)
@given(st.floats(10.0, 2000.0), st.integers(2, 300), st.floats(-5.0, 5.0),
       st.floats(10.0, 2000.0), st.integers(2, 300), st.floats(-5.0, 5.0))
def test_common_grid_copies_the_fastest_stream_and_covers_all(r1, n1, t1, r2, n2, t2):
    a = Stream("a", r1, {"fz": np.arange(n1, dtype=float)}, t0_s=t1)
    b = Stream("b", r2, {"fz": np.arange(n2, dtype=float)}, t0_s=t2)
    grid, rate = common_grid([a, b])
    fast = a if r1 >= r2 else b
    assert rate == fast.rate_hz
    assert grid[0] <= min(t1, t2) + 1e-6 / rate  # sub-micro-sample offsets count as aligned
    assert grid[-1] >= max(a.time_s()[-1], b.time_s()[-1]) - 1.0 / rate - 1e-9
    got = on_grid(fast, "fz", grid, rate)
    np.testing.assert_array_equal(got[np.isfinite(got)], fast.fz)  # copied, not resampled
    slow = b if fast is a else a
    vals = on_grid(slow, "fz", grid, rate)
    inside = np.isfinite(vals)
    np.testing.assert_allclose(vals[inside], (grid[inside] - slow.t0_s) * slow.rate_hz,
                               atol=1e-6 * max(n1, n2))


def test_names_are_file_safe():
    assert safe_name("easy run / 3.0 m/s") == "easy_run_3.0_m_s"
    assert safe_name("../..") == "trial" and safe_name("") == "trial"


def test_output_paths_for_one_and_several_trials(tmp_path):
    from types import SimpleNamespace

    one = SimpleNamespace(stem="s", path=tmp_path / "s.h5",
                          trials=[SimpleNamespace(name="run")])
    two = SimpleNamespace(stem="s", path=tmp_path / "s.h5",
                          trials=[SimpleNamespace(name="a"), SimpleNamespace(name="b")])
    assert output_paths(one, tmp_path / "x.c3d", ".c3d") == [tmp_path / "x.c3d"]
    assert output_paths(two, tmp_path / "x.c3d", ".c3d") == [tmp_path / "x_a.c3d",
                                                             tmp_path / "x_b.c3d"]
    assert output_paths(two, None, ".mot") == [tmp_path / "s_a.mot", tmp_path / "s_b.mot"]
    assert output_paths(two, tmp_path / "out", ".json", per_trial=False) == [
        tmp_path / "out" / "s.json"]
