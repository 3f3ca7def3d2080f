"""Asymmetry that knows its own noise: wording driven by the confidence interval, reference
bands per metric, strides needed for a ±2 % interval, real change between sessions."""

import math

import numpy as np
import pytest

from forcelab.analysis.asymmetry import (
    CI_TARGET_PCT,
    DEFAULT_BAND,
    REFERENCE_BANDS,
    asymmetry_of,
    real_change,
    reference_band,
    robinson_si_pct,
    si_from_symmetry_angle,
    strides_for_ci,
    symmetry_angle_pct,
)


def strides(mean, sd, n, seed):
    """n stride values with exactly the given mean and sample SD."""
    z = np.random.default_rng(seed).normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


def test_a_clear_difference_reads_with_its_interval_and_band():
    left, right = strides(2.40, 0.05, 30, 1), strides(2.22, 0.05, 30, 2)
    a = asymmetry_of(left, right, "midstance_peak_bw", "Mid-stance peak")
    assert a["detectable"] and a["higher"] == "left"
    band = si_from_symmetry_angle(3.4)  # Girard et al. 2019, peak vertical force
    assert a["band_si_pct"] == pytest.approx(band)
    assert a["verdict"] == "within_band"  # |SI| 7.8 % < 10.7 %
    lo, hi = -a["ci95_pct"][1], -a["ci95_pct"][0]
    assert a["text"] == (
        f"Mid-stance peak 2.40 BW left, 2.22 BW right: 7.8 % higher on the left "
        f"(95 % CI {lo:.1f}–{hi:.1f} %), within the {band:.1f} % healthy runners show"
    )


def test_a_difference_inside_the_noise_is_never_a_direction():
    left, right = strides(250.0, 12.0, 7, 3), strides(252.0, 12.0, 7, 4)  # ms-scale spread
    a = asymmetry_of(left / 1000, right / 1000, "contact_time_s", "Contact time")
    assert a["ci95_pct"][0] < 0 < a["ci95_pct"][1]
    assert not a["detectable"] and a["verdict"] == "not_detectable" and a["higher"] is None
    assert "not distinguishable from symmetric with 7 strides" in a["text"]
    assert "higher" not in a["text"]
    one = asymmetry_of([0.250], [0.252], "contact_time_s", "Contact time")
    assert one["text"].endswith("no detectable difference with 1 stride per side")
    assert one["verdict"] == "not_detectable"


def test_contact_time_band_is_tight_and_loading_rate_band_wide():
    # Healthy runners: contact time symmetric within about 1 % SA, loading rate about 5-7 %.
    ct = reference_band("contact_time_s")
    valr = reference_band("valr_bw_s")
    assert ct.si_pct == pytest.approx(200 * math.tan(math.radians(0.9 * 0.7)))
    assert valr.si_pct == pytest.approx(200 * math.tan(math.radians(0.9 * 6.9)))
    assert ct.si_pct < 3.0 < 20.0 < valr.si_pct
    assert "Girard" in ct.source
    # 4 % more contact time on the right, tightly measured: above the contact-time band
    a = asymmetry_of(strides(0.240, 0.002, 40, 5), strides(0.2496, 0.002, 40, 6),
                     "contact_time_s", "Contact time")
    assert a["verdict"] == "above_band" and "above the 2.2 % healthy runners show" in a["text"]
    # the same 4 % in VALR is within what healthy runners show
    b = asymmetry_of(strides(80.0, 0.6, 40, 5), strides(83.2, 0.6, 40, 6), "valr_bw_s", "VALR")
    assert b["verdict"] == "within_band"


def test_lab_bands_replace_the_published_ones():
    lab = {"valr": {"si_pct": 3.0, "source": "our clinic 2026"}, "contact_time": 5}
    assert reference_band("valr_n_s", lab).si_pct == 3.0
    assert reference_band("valr_n_s", lab).source == "our clinic 2026"
    assert reference_band("contact_time_s", lab).words == "lab band"
    assert reference_band("impulse_ns") == DEFAULT_BAND  # no published band
    b = asymmetry_of(strides(80.0, 0.6, 40, 5), strides(83.2, 0.6, 40, 6), "valr_bw_s", "VALR",
                     bands=lab)
    assert b["verdict"] == "above_band" and "above the 3.0 % lab band" in b["text"]


def test_symmetry_angle_and_index_convert_exactly():
    rng = np.random.default_rng(9)
    for left, right in rng.uniform(100, 3000, (50, 2)):
        sa = symmetry_angle_pct(left, right)
        assert si_from_symmetry_angle(sa) == pytest.approx(robinson_si_pct(left, right), rel=1e-9)
    assert set(REFERENCE_BANDS) >= {"contact_time", "valr", "midstance_peak", "peak_braking"}


def test_strides_needed_bring_the_interval_within_two_percent():
    sd = 0.12  # BW, a noisy runner
    left, right = strides(2.40, sd, 8, 11), strides(2.30, sd, 8, 12)
    a = asymmetry_of(left, right, "midstance_peak_bw")
    half = (a["ci95_pct"][1] - a["ci95_pct"][0]) / 2
    assert half > CI_TARGET_PCT
    more = a["strides_needed"]
    assert more == strides_for_ci(half, 8) > 0
    # with that many more strides of the same spread the interval is (about) within ±2 %
    n = 8 + more
    b = asymmetry_of(strides(2.40, sd, n, 13), strides(2.30, sd, n, 14), "midstance_peak_bw")
    assert (b["ci95_pct"][1] - b["ci95_pct"][0]) / 2 <= CI_TARGET_PCT * 1.05
    assert b["strides_needed"] == 0
    assert strides_for_ci(1.5, 10) == 0 and strides_for_ci(4.0, 10) == 30


def test_real_change_between_sessions():
    base = asymmetry_of(strides(2.40, 0.06, 30, 21), strides(2.28, 0.06, 30, 22), "valr_bw_s")
    same = asymmetry_of(strides(2.40, 0.06, 30, 23), strides(2.285, 0.06, 30, 24), "valr_bw_s")
    better = asymmetry_of(strides(2.40, 0.06, 30, 25), strides(2.38, 0.06, 30, 26), "valr_bw_s")
    none = real_change(base, same)
    assert not none["changed"] and abs(none["change_pct"]) < none["smallest_real_change_pct"]
    real = real_change(base, better)
    assert real["changed"] and real["change_pct"] > 0  # the right side came up
    assert real_change(base, asymmetry_of([2.4], [2.3])) is None
