"""The new metrics reach the report's tables and the per-stance exports."""

import numpy as np

from forcelab.analysis import analyze_recording
from forcelab.recording import Recording, Stream
from forcelab.report.content import asymmetry_rows, gait_table

from .gait import make_gait


def one_plate_run_with_braking(rate_hz):
    """A run on one plate: feet 4 cm either side, every fourth foot across the other's line,
    a fore-aft channel with 300 N braking on the left and 360 N on the right."""
    x, starts, ends = make_gait(rate_hz, n_stances=24, seed=5)
    cop = np.full(x.size, np.nan)
    ap = np.zeros(x.size)
    for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
        right = k % 2 == 1
        cop[s:e] = (-0.06 if right else 0.06) if k % 4 == 2 else (0.04 if right else -0.04)
        tau = (np.arange(e - s) + 0.5) / (e - s)
        ap[s:e] = -(360.0 if right else 300.0) * np.sin(2 * np.pi * tau)
    rec = Recording([Stream("plate", rate_hz, {"fz": x, "cop_ml": cop, "fap": ap})], 70.0)
    return analyze_recording(rec)


def test_report_tables_show_braking_step_width_crossover_and_rate_flags():
    result = one_plate_run_with_braking(250.0)
    rows = {r.label: r for r in asymmetry_rows(result.asymmetry)}
    braking = rows["Peak braking force"]
    assert braking.higher == "right" and braking.unit == "BW"
    assert "First peak (walking)" not in rows  # a run has no walking peaks
    table, cols = gait_table(result.summary)
    labels = {label: (a, b) for label, a, b in table}
    assert cols == ("left", "right")
    assert labels["Step width"][0].endswith("mm") and labels["Crossover steps"][0].endswith("%")
    assert "Average loading rate (VALR) (indicative)" in labels  # 250 Hz < 500 Hz
    fast = gait_table(one_plate_run_with_braking(1000.0).summary)[0]
    assert "Average loading rate (VALR)" in {label for label, _, _ in fast}


def test_walking_peaks_reach_the_report_table():
    walk = []
    for side, seed in (("left", 1), ("right", 2)):
        fz, _, _ = make_gait(
            500.0,
            n_stances=8,
            contact_s=0.6,
            flight_s=0.5,
            peak_n=800.0 if side == "left" else 760.0,
            kind="double_hump",
            seed=seed,
        )
        walk.append(Stream(side, 500.0, {"fz": fz}, side=side))
    result = analyze_recording(Recording(walk, body_mass_kg=70.0))
    rows = {r.label: r for r in asymmetry_rows(result.asymmetry)}
    assert rows["First peak (walking)"].higher == "left"
    assert rows["Second peak (walking)"].higher == "left"
    assert "Trough between the peaks (walking)" in rows
    assert "Peak braking force" not in rows  # no fore-aft channel
    assert "two peaks" in result.format_text()


def test_per_stance_exports_carry_the_new_columns():
    from forcelab.interop.export_c3d import _events
    from forcelab.interop.export_csv import STANCE_LEAD

    result = one_plate_run_with_braking(1000.0)
    keys = set(result.stances[5])
    for key in (
        "step_width_m",
        "crossover",
        "peak_braking_n",
        "peak_pattern",
        "loading_rate_quality",
        "double_contact",
    ):
        assert key in keys and key not in STANCE_LEAD  # the CSV writes every stance key
    events = _events(result.stances, 0.0)
    n_cross = sum(1 for s in result.stances if s["crossover"] and s["reason"] != "partial_start")
    assert n_cross > 0
    assert sum(1 for _, _, label in events if label == "Crossover") == n_cross
