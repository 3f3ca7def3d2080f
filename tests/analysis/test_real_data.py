"""Analysis of real recordings from ../shared/data against published and vendor values.

The files are read with NumPy here (the official readers live in forcelab.interop).
"""

import numpy as np
import pytest

from forcelab.analysis import analyze_recording, detect_stances, stance_metrics
from forcelab.analysis.detection import sensor_options
from forcelab.recording import Recording, Stream


def read_fukuchi(shared_data):
    path = shared_data / "fukuchi2017_running" / "RBDS001runT25forces.txt"
    d = np.loadtxt(path, skiprows=1)
    # Fy is vertical (N); COPz (mm) is medio-lateral, larger = right; Time is a frame number
    return d[:, 2], d[:, 6] / 1000.0


def test_fukuchi_run_split_by_cop_matches_published_peaks(shared_data):
    fz, cop_ml = read_fukuchi(shared_data)
    rec = Recording([Stream("plate", 300.0, {"fz": fz, "cop_ml": cop_ml})], body_mass_kg=62.0)
    result = analyze_recording(rec)
    left, right = result.summary["left"], result.summary["right"]
    assert 38 <= left["n_stances"] <= 39
    assert 38 <= right["n_stances"] <= 39
    # Fukuchi et al. 2017: 21.26 N/kg right, 22.21 N/kg left at 2.5 m/s (62 kg)
    assert right["peak_force_n"]["mean"] == pytest.approx(1318.0, rel=0.02)
    assert left["peak_force_n"]["mean"] == pytest.approx(1377.0, rel=0.02)
    sides = [s["side"] for s in result.stances if s["valid"]]
    assert all(a != b for a, b in zip(sides[:-1], sides[1:], strict=True))  # alternation
    assert result.asymmetry["peak_force_bw"]["higher"] == "left"
    assert result.parameters["methods"]["sides"] == "cop_ml"
    # running: one active peak, so no walking double hump in any stance
    assert all(s["first_peak_n"] is None and s["trough_n"] is None for s in result.stances)
    # contact is ~40 % of the gait cycle (stride time), as the authors report
    ratio = left["contact_time_s"]["mean"] / left["stride_time_s"]
    assert 0.33 <= ratio <= 0.42


def test_fukuchi_run_survives_offset_ripple_and_drift(shared_data):
    fz, _ = read_fukuchi(shared_data)
    t = np.arange(fz.size) / 300.0
    clean = detect_stances(fz, 300.0)
    for spoil in (30.0, -20.0):
        bad = fz + spoil + 27.0 * np.sin(2 * np.pi * 50.0 * t + 0.3) + 100.0 * t / t[-1]
        st_ = detect_stances(bad, 300.0)
        assert len(st_) == len(clean)
        # clean edges sit at 20 N above baseline (the field's convention); the 27 N mains
        # ripple raises the contact threshold (4 x its noise SD, recorded): <= 30 ms shorter
        assert st_.parameters["contact_threshold_n"] > 40.0
        assert clean.parameters["contact_threshold_n"] == 20.0
        assert np.max(np.abs(st_.start - clean.start)) <= 6
        assert np.max(np.abs(st_.end - clean.end)) <= 9
        peaks = stance_metrics(bad, st_, 300.0)["peak_force_n"][st_.valid]
        clean_peaks = stance_metrics(fz, clean, 300.0)["peak_force_n"][clean.valid]
        assert peaks.mean() == pytest.approx(clean_peaks.mean(), rel=0.02)


def test_opensim_walking_has_11_to_12_stances_per_side(shared_data):
    path = shared_data / "opensim_walking" / "subject01_walk1_grf.mot"
    d = np.loadtxt(path, skiprows=6)
    rate = (d.shape[0] - 1) / (d[-1, 0] - d[0, 0])  # time is rounded to 0.1 ms
    rec = Recording(
        [
            Stream("right", rate, {"fz": d[:, 2]}, side="right"),
            Stream("left", rate, {"fz": d[:, 8]}, side="left"),
        ]
    )
    result = analyze_recording(rec)
    for side in ("left", "right"):
        assert 11 <= result.summary[side]["n_stances"] <= 12
        assert 0.7 <= result.summary[side]["contact_time_s"]["mean"] <= 0.85
    # walking: every valid stance has the double hump, its trough below both peaks
    for s in result.stances:
        if s["valid"]:
            assert s["trough_n"] < min(s["first_peak_n"], s["second_peak_n"])
    partial = [s["reason"] for s in result.stances if not s["valid"]]
    assert sorted(partial) == ["partial_end", "partial_start"]
    # walking: no flight between feet, cadence of normal walking
    assert all(s["flight_time_s"] in (None, 0.0) for s in result.stances)
    left, right = result.summary["left"], result.summary["right"]
    assert 90 <= left["cadence_spm"] <= 110
    # both feet walk the same cadence; a stride is two steps (partial contacts not used)
    assert left["cadence_spm"] == pytest.approx(right["cadence_spm"], rel=0.03)
    assert left["stride_time_s"] == pytest.approx(
        left["step_time_s"] + right["step_time_s"], rel=0.02
    )


def read_opengo(shared_data):
    folder = shared_data / "moticon_opengo_walking"
    m = np.genfromtxt(folder / "230927_102114.txt", comments="#", delimiter="\t")
    out = {}
    for side, col in (("left", 23), ("right", 48)):
        f = m[:, col].copy()
        # rows with data for the other insole only: bridge those 1-2 sample holes for this
        # comparison (the vendor's report does); longer holes stay gaps
        nan = np.isnan(f)
        edges = np.diff(np.r_[0, nan.astype(int), 0])
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            if b - a <= 2 and a > 0 and b < f.size:
                f[a:b] = np.interp(np.arange(a, b), [a - 1, b], [f[a - 1], f[b]])
        ref = np.genfromtxt(
            folder / f"gait_report_230927_10_21_14_{side}_steps.csv", delimiter=",", skip_header=1
        )
        out[side] = (f, ref[:, 1], ref[:, 2])
    return out


def match_vendor(start_s, end_s, ic_s, to_s):
    """Differences (s) of contact and toe-off against the vendor's steps (nearest contact)."""
    k = np.array([np.argmin(np.abs(start_s - ic)) for ic in ic_s])
    return start_s[k] - ic_s, end_s[k] - to_s


def fixed_threshold(f, threshold_n=20.0):
    above = np.r_[False, np.nan_to_num(f) > threshold_n, False].astype(int)
    on = np.flatnonzero(np.diff(above) == 1)
    off = np.flatnonzero(np.diff(above) == -1)
    return on, off


def opengo_errors(shared_data, **options):
    errs = {"ours_ic": [], "ours_to": [], "fixed_ic": [], "fixed_to": []}
    for f, ic, to in read_opengo(shared_data).values():
        st_ = detect_stances(f, 100.0, **options)
        table = stance_metrics(f, st_, 100.0)  # contact edges between samples
        a, b = match_vendor(table["start_s"], table["end_s"], ic, to)
        errs["ours_ic"].extend(a)
        errs["ours_to"].extend(b)
        on, off = fixed_threshold(f)
        a, b = match_vendor(on / 100.0, off / 100.0, ic, to)
        errs["fixed_ic"].extend(a)
        errs["fixed_to"].extend(b)
    return {k: np.abs(np.array(v)) for k, v in errs.items()}


def test_opengo_contacts_agree_with_vendor_better_than_20n(shared_data):
    e = opengo_errors(shared_data, **sensor_options("insole")[0])
    assert e["ours_ic"].size == 14
    # toe-off: a fixed 20 N threshold ends stances 50-70 ms after the vendor
    assert 0.04 <= e["fixed_to"].mean() <= 0.08
    assert e["ours_to"].mean() < e["fixed_to"].mean()
    assert e["ours_to"].max() < e["fixed_to"].max()
    # initial contact: within about one sample (10 ms) of the vendor's interpolated times
    assert e["ours_ic"].mean() <= 0.010
    assert e["ours_ic"].max() < e["fixed_ic"].max()
    # the insole setting: toe-off within about one sample of the vendor
    assert e["ours_to"].mean() <= 0.015


def test_opengo_with_plate_defaults_places_edges_at_20n(shared_data):
    """The plate setting (edges at 20 N above baseline) on the same insole data: the edges
    are those of a fixed 20 N threshold within 1.5 samples (the insoles' unloaded baseline
    is 0-15 N, which the fixed absolute threshold ignores)."""
    e = opengo_errors(shared_data)
    assert e["ours_ic"].size == 14
    assert np.max(np.abs(e["ours_to"] - e["fixed_to"])) <= 0.015
    assert np.max(np.abs(e["ours_ic"] - e["fixed_ic"])) <= 0.015


def test_opengo_walking_peaks_match_the_vendor_gait_report(shared_data):
    """First peak, local minimum between the peaks and second peak of every step of the
    vendor's report (14 steps, both feet), from the insole analysis of the same recording."""
    folder = shared_data / "moticon_opengo_walking"
    n_steps = 0
    for side, (f, _, _) in read_opengo(shared_data).items():
        ref = np.genfromtxt(
            folder / f"gait_report_230927_10_21_14_{side}_steps.csv", delimiter=",", skip_header=1
        )
        st_ = detect_stances(f, 100.0, **sensor_options("insole")[0])
        t = stance_metrics(f, st_, 100.0)
        for row in ref:
            k = int(np.argmin(np.abs(t["start_s"] - row[1])))
            assert t["peak_pattern"][k] in ("double_hump", "shallow_valley")
            assert np.isnan(t["midstance_peak_n"][k])  # never a "mid-stance peak" for 2 humps
            base = st_.baseline_n[k]  # the vendor reports the insole's total force as read
            assert t["first_peak_n"][k] + base == pytest.approx(row[9], abs=1.0)
            assert t["trough_n"][k] + base == pytest.approx(row[13], abs=1.0)
            assert t["second_peak_n"][k] + base == pytest.approx(row[11], abs=1.0)
            n_steps += 1
    assert n_steps == 14


def test_fukuchi_zeroed_run_contacts_at_the_20n_crossings(shared_data):
    """The Fukuchi treadmill run is zeroed (flight reads 0 N): every complete stance's contact
    and toe-off lie at the 20 N crossings around its peak, well within 5 ms."""
    fz, _ = read_fukuchi(shared_data)
    st_ = detect_stances(fz, 300.0)
    t = stance_metrics(fz, st_, 300.0)
    assert st_.parameters["contact_threshold_n"] == 20.0
    for k in np.flatnonzero(st_.valid):
        s, e = st_.start[k], st_.end[k]
        p = s + int(np.argmax(fz[s:e]))
        j = p
        while fz[j - 1] >= 20.0:
            j -= 1
        on = (j - 1) + (20.0 - fz[j - 1]) / (fz[j] - fz[j - 1])
        j = p
        while fz[j] >= 20.0:
            j += 1
        off = (j - 1) + (fz[j - 1] - 20.0) / (fz[j - 1] - fz[j])
        assert t["start_s"][k] == pytest.approx(on / 300.0, abs=0.005)
        assert t["end_s"][k] == pytest.approx(off / 300.0, abs=0.005)
        assert t["contact_time_s"][k] == pytest.approx((off - on) / 300.0, abs=0.005)
