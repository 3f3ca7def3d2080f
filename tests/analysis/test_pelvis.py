"""Pelvic obliquity and contralateral drop from pelvis markers, against a known pelvis motion."""

import numpy as np
import pytest

from forcelab.analysis.pelvis import (
    METHOD_ASIS_PSIS,
    METHOD_CRESTS,
    NEUTRAL_STATIC,
    NEUTRAL_TRIAL_MEAN,
    describe_pelvic_drop,
    find_pelvis_markers,
    landmark,
    neutral_obliquity_deg,
    pelvic_drop_per_stance,
    pelvic_obliquity_deg,
)
from forcelab.errors import AnalysisError, InputError

RATE_HZ = 150.0  # the marker rate of the Fukuchi et al. 2017 running set
#: Fukuchi 2017 labels and lab frame: x forward, y up, z to the subject's right.
FUKUCHI_PELVIS = ("R.ASIS", "L.ASIS", "R.PSIS", "L.PSIS", "R.Iliac.Crest", "L.Iliac.Crest")


def known_run(n_stances=12, neutral_deg=1.5, seed=3):
    """Alternating stances (0.24 s contact, 0.10 s flight) whose swing side drops by a known
    amount at a known % of stance; returns stance times, sides, drops, peak % and obliquity."""
    rng = np.random.default_rng(seed)
    contact_s, flight_s = 0.24, 0.10
    start = 0.2 + np.arange(n_stances) * (contact_s + flight_s)
    end = start + contact_s
    sides = ["left" if k % 2 == 0 else "right" for k in range(n_stances)]
    drops = rng.uniform(3.0, 9.0, n_stances)
    peak_pct = rng.uniform(30.0, 60.0, n_stances)
    t = np.arange(int((end[-1] + 0.3) * RATE_HZ)) / RATE_HZ
    obl = np.full(t.size, neutral_deg)
    for k in range(n_stances):
        inside = (t >= start[k]) & (t <= end[k])
        u = (t[inside] - start[k]) / contact_s * 100.0
        # a smooth bump that peaks at peak_pct, 0 at both edges
        p = peak_pct[k]
        rise, fall = np.sin(np.pi / 2 * u / p), np.sin(np.pi / 2 * (100 - u) / (100 - p))
        shape = np.where(u <= p, rise, fall)
        sign = 1.0 if sides[k] == "right" else -1.0  # right stance: the left side drops
        obl[inside] = neutral_deg + sign * drops[k] * shape
    return t, start, end, sides, drops, peak_pct, obl


def markers_from_obliquity(obl_deg, half_width_m=0.14, frame="fukuchi"):
    """Left and right iliac crest trajectories whose frontal-plane line has the given angle."""
    th = np.radians(obl_deg)
    n = th.size
    centre = np.column_stack([np.linspace(0, 0.02, n), np.full(n, 1.05), np.zeros(n)])
    offset = np.column_stack([np.zeros(n), half_width_m * np.sin(th), half_width_m * np.cos(th)])
    left, right = centre - offset, centre + offset
    if frame == "zup":  # x forward, y to the LEFT, z up (a common C3D lab frame)
        swap = lambda p: np.column_stack([p[:, 0], -p[:, 2], p[:, 1]])  # noqa: E731
        left, right = swap(left), swap(right)
    return left, right


def test_drop_per_stance_exact_within_a_tenth_of_a_degree():
    t, start, end, sides, drops, peak_pct, obl = known_run()
    left, right = markers_from_obliquity(obl)
    measured = pelvic_obliquity_deg(left, right, vertical_axis=1, ml_axis=2)
    np.testing.assert_allclose(measured, obl, atol=1e-9)
    neutral, how = neutral_obliquity_deg(measured, static_obliquity_deg=np.full(300, 1.5))
    assert how == NEUTRAL_STATIC
    res = pelvic_drop_per_stance(measured, RATE_HZ, 0.0, start, end, sides, neutral, how)
    np.testing.assert_allclose(res.drop_deg, drops, atol=0.1)
    # the time of the largest drop within one marker sample of the known peak
    np.testing.assert_allclose(res.time_pct, peak_pct, atol=100.0 / (0.24 * RATE_HZ) + 1e-9)
    assert res.neutral_method == NEUTRAL_STATIC


def test_swapped_lab_axes_give_the_same_drops_when_the_axes_are_named():
    t, start, end, sides, drops, _, obl = known_run(seed=5)
    left, right = markers_from_obliquity(obl, frame="zup")
    measured = pelvic_obliquity_deg(left, right, vertical_axis=2, ml_axis=1)
    np.testing.assert_allclose(measured, obl, atol=1e-9)
    res = pelvic_drop_per_stance(measured, RATE_HZ, 0.0, start, end, sides, 1.5)
    np.testing.assert_allclose(res.drop_deg, drops, atol=0.1)
    # the wrong medio-lateral axis is refused, not turned into a 90-degree "drop"
    with pytest.raises(InputError, match="medio-lateral axis"):
        pelvic_obliquity_deg(left, right, vertical_axis=1, ml_axis=2)
    with pytest.raises(InputError, match="two different axes"):
        pelvic_obliquity_deg(left, right, vertical_axis=1, ml_axis=1)


def test_marker_gaps_stay_gaps():
    t, start, end, sides, drops, _, obl = known_run(seed=7)
    left, right = markers_from_obliquity(obl)
    gap = (t > start[4] + 0.05) & (t < start[4] + 0.08)
    left[gap] = np.nan
    measured = pelvic_obliquity_deg(left, right, 1, 2)
    res = pelvic_drop_per_stance(measured, RATE_HZ, 0.0, start, end, sides, 1.5)
    assert np.isnan(res.drop_deg[4]) and np.isnan(res.time_pct[4])
    others = np.arange(len(sides)) != 4
    np.testing.assert_allclose(res.drop_deg[others], drops[others], atol=0.1)


def test_neutral_from_the_trial_mean_when_no_static_trial():
    obl = np.array([1.0, 2.0, np.nan, 3.0])
    assert neutral_obliquity_deg(obl) == (2.0, NEUTRAL_TRIAL_MEAN)
    assert neutral_obliquity_deg(obl, np.full(3, np.nan)) == (2.0, NEUTRAL_TRIAL_MEAN)
    with pytest.raises(AnalysisError, match="no pelvis marker sample"):
        neutral_obliquity_deg(np.full(5, np.nan))


def test_time_base_offset_and_unknown_sides():
    t, start, end, sides, drops, _, obl = known_run(seed=11)
    t0_s = 12.5  # markers start 12.5 s into the recording
    left, right = markers_from_obliquity(obl)
    measured = pelvic_obliquity_deg(left, right, 1, 2)
    sides = list(sides)
    sides[2] = None
    res = pelvic_drop_per_stance(measured, RATE_HZ, t0_s, start + t0_s, end + t0_s, sides, 1.5)
    assert np.isnan(res.drop_deg[2])
    keep = np.arange(len(sides)) != 2
    np.testing.assert_allclose(res.drop_deg[keep], drops[keep], atol=0.1)


@pytest.mark.parametrize(
    "labels, method, left",
    [
        (FUKUCHI_PELVIS, METHOD_CRESTS, ("L.Iliac.Crest",)),
        (("R.ASIS", "L.ASIS", "R.PSIS", "L.PSIS"), METHOD_ASIS_PSIS, ("L.ASIS", "L.PSIS")),
        (
            ("Runner01:LASI", "Runner01:RASI", "Runner01:LPSI", "Runner01:RPSI"),
            METHOD_ASIS_PSIS,
            ("Runner01:LASI", "Runner01:LPSI"),
        ),
        (("LASIS", "RASIS", "LPSIS", "RPSIS", "LKNE"), METHOD_ASIS_PSIS, ("LASIS", "LPSIS")),
    ],
)
def test_marker_sets_are_recognised(labels, method, left):
    found = find_pelvis_markers(labels)
    assert found.method == method
    assert found.left == left


def test_missing_pelvis_markers_say_what_is_there():
    with pytest.raises(AnalysisError, match=r"no pelvis markers.*found: L\.ASIS, R\.ASIS"):
        find_pelvis_markers(["R.ASIS", "L.ASIS", "R.Knee"])


def test_landmark_is_the_mean_and_keeps_gaps():
    a = np.array([[0.0, 0.0, 0.0], [np.nan, 0, 0]])
    b = np.array([[2.0, 2.0, 2.0], [1.0, 1, 1]])
    out = landmark({"a": a, "b": b}, ("a", "b"))
    np.testing.assert_allclose(out[0], [1.0, 1.0, 1.0])
    assert np.isnan(out[1, 0])


def test_coach_line():
    drops = np.array([2.0, 7.0, 2.2, 7.4, np.nan, 7.2])
    sides = ["left", "right", "left", "right", "left", "right"]
    line = describe_pelvic_drop(drops, sides)
    assert line == (
        "on right-foot stances the left hip drops 7.2° ± 0.2°; 5.1° more than on left-foot stances"
    )
    assert describe_pelvic_drop(np.full(2, np.nan), ["left", "right"]) is None
