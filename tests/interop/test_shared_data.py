"""The readers on real recordings from ../shared/data (skipped when the folder is absent)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from forcelab.interop import load_recording

FUKUCHI = dict(rate_hz=300, time_column="Time", time_unit="frame", vertical="Fy",
               cop_ml="COPz", body_mass_kg=62)


def test_fukuchi_run_reads_as_one_plate_under_both_feet(shared_data):
    path = shared_data / "fukuchi2017_running" / "RBDS001runT25forces.txt"
    rec = load_recording(path, **FUKUCHI)
    (s,) = rec.streams
    assert s.side is None and s.rate_hz == 300.0
    assert s.n_samples == 9000 and s.duration_s == pytest.approx(30.0)
    assert rec.body_mass_kg == 62.0
    assert rec.meta["cop_ml"]["unit"] == "mm (magnitude)"
    raw = np.loadtxt(path, skiprows=1)
    np.testing.assert_array_equal(s.fz, raw[:, 2])
    np.testing.assert_allclose(s.channels["cop_ml"], raw[:, 6] / 1000.0)


def test_opensim_walking_reads_left_and_right_at_600_hz(shared_data):
    rec = load_recording(shared_data / "opensim_walking" / "subject01_walk1_grf.mot")
    by_side = {s.side: s for s in rec.streams}
    assert set(by_side) == {"left", "right"}
    assert rec.meta["force_sets"] == {"ground_force": "right", "l_ground_force": "left"}
    for s in by_side.values():
        assert s.rate_hz == 600.0 and s.n_samples == 9009
        assert {"fz", "fap", "fml", "cop_ml", "cop_ap", "tz"} <= set(s.channels)
        assert 700.0 < np.nanmax(s.fz) < 900.0  # a walker's peak of about 1.1 BW


def test_opengo_reads_both_feet_at_100_hz(shared_data):
    folder = shared_data / "moticon_opengo_walking"
    rec = load_recording(folder / "230927_102114.txt")
    by_side = {s.side: s for s in rec.streams}
    assert set(by_side) == {"left", "right"}
    for side, s in by_side.items():
        assert s.rate_hz == 100.0
        assert s.duration_s == pytest.approx(17.5, abs=0.02)
        assert s.units["p16"] == "kPa"
        # the vendor's own report: max total force per step, compare with the reader's force
        with open(folder / f"gait_report_230927_10_21_14_{side}_steps.csv") as fh:
            steps = list(csv.DictReader(fh))
        for step in steps:
            ic, to = float(step["Initial contact (s)"]), float(step["Toe off (s)"])
            i0, i1 = int(round((ic - s.t0_s) * 100)), int(round((to - s.t0_s) * 100))
            assert np.nanmax(s.fz[i0:i1 + 1]) == pytest.approx(
                float(step["Max total force during stance phase (N)"]), abs=1.0)
    assert rec.meta["time"]["n_missing"] == 1  # one row is missing from the export
    assert int(np.isnan(by_side["left"].fz[:50]).sum()) == 50  # left insole starts late
