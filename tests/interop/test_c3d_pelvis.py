"""Load and hip drop in one table: a C3D with two plates and pelvis markers (labels as in the
public Fukuchi et al. 2017 running set), written with ezc3d, through the reader, the session
store, the analysis and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import ezc3d
import h5py
import numpy as np
import pytest
from interop_signals import stance_train
from test_c3d import ANALOG_HZ, POINT_HZ, plate_wrench, zdown_corners

from forcelab.analysis import analyze_recording
from forcelab.interop import load_recording
from forcelab.store.importer import write_recording
from forcelab.store.reader import read_recording

N_STANCES = 10
CONTACT_S, FLIGHT_S, LEAD_S = 0.3, 0.2, 0.2
NEUTRAL_DEG = 1.2  # the right side sits a little higher at rest
PELVIS = ("L.ASIS", "R.ASIS", "L.PSIS", "R.PSIS", "L.Iliac.Crest", "R.Iliac.Crest")


def _stance_times():
    start = LEAD_S + np.arange(N_STANCES) * (CONTACT_S + FLIGHT_S)
    return start, start + CONTACT_S


def _obliquity(t, drops):
    """Known obliquity: neutral, plus a half-sine bump per stance (swing side drops)."""
    start, end = _stance_times()
    obl = np.full(t.size, NEUTRAL_DEG)
    for k in range(N_STANCES):
        inside = (t >= start[k]) & (t <= end[k])
        sign = -1.0 if k % 2 == 0 else 1.0  # stance 0 is left: the right side drops
        obl[inside] += sign * drops[k] * np.sin(np.pi * (t[inside] - start[k]) / CONTACT_S)
    return obl


def write_run_c3d(path, drops, gap_stance=None, labels=PELVIS, static=False):
    """Two z-down plates in a lab with x forward, y to the left, z up; left foot on plate 1.
    ``static``: the athlete stands still on both plates at the neutral obliquity."""
    load = stance_train(ANALOG_HZ, n_stances=N_STANCES, contact_s=CONTACT_S, flight_s=FLIGHT_S,
                        peak_n=1800.0, lead_s=LEAD_S)
    if static:
        drops = np.zeros(N_STANCES)
    n = load.size
    per_plate = [np.zeros(n), np.zeros(n)]
    start, end = _stance_times()
    for k in range(N_STANCES):
        i0, i1 = int(round(start[k] * ANALOG_HZ)), int(round(end[k] * ANALOG_HZ))
        per_plate[k % 2][i0:i1] = load[i0:i1]
    if static:
        per_plate = [np.full(n, 350.0), np.full(n, 350.0)]
    c = ezc3d.c3d()
    n_frames = int(n * POINT_HZ / ANALOG_HZ)
    t = np.arange(n_frames) / POINT_HZ
    obl = np.radians(_obliquity(t, drops))
    half_w = 130.0  # mm from the pelvis centre to each landmark
    centre = np.array([[600.0], [900.0], [1000.0]]) * np.ones(n_frames)
    # y points to the LEFT: the right landmark has the smaller y
    right_off = np.stack([np.zeros(n_frames), -half_w * np.cos(obl), half_w * np.sin(obl)])
    pts = np.ones((4, len(labels), n_frames))
    for j, lab in enumerate(labels):
        side = 1.0 if lab.startswith("R") else -1.0
        depth = {"ASIS": 80.0, "PSIS": -80.0}.get(lab.split(".")[1], 0.0)
        pts[:3, j, :] = centre + side * right_off + np.array([[depth], [0.0], [0.0]])
    if gap_stance is not None:
        g0 = int((start[gap_stance] + 0.1) * POINT_HZ)
        j = labels.index("L.Iliac.Crest")
        pts[:3, j, g0 : g0 + 5] = np.nan
    c["parameters"]["POINT"]["RATE"]["value"] = np.array([POINT_HZ])
    c["parameters"]["POINT"]["LABELS"]["value"] = list(labels)
    c["parameters"]["POINT"]["UNITS"]["value"] = ["mm"]
    c["data"]["points"] = pts
    c["parameters"]["ANALOG"]["RATE"]["value"] = np.array([ANALOG_HZ])
    data, names, units = [], [], []
    for k, f in enumerate(per_plate):
        force, moment = plate_wrench(f, (0.0, 0.0), np.array([0.0, 0.0, -0.04]))
        for j, row in enumerate(np.vstack([force, moment * 1000.0])):
            data.append(row)
            names.append(f"P{k + 1}C{j + 1}")
            units.append("Nmm" if j >= 3 else "N")
    c["parameters"]["ANALOG"]["LABELS"]["value"] = names
    c["parameters"]["ANALOG"]["UNITS"]["value"] = units
    c["data"]["analogs"] = np.array(data)[None, :, :]
    fp = c["parameters"]["FORCE_PLATFORM"]
    fp["USED"]["value"] = np.array([2])
    fp["TYPE"]["value"] = np.array([2, 2])
    fp["ZERO"]["value"] = np.array([1, 0])
    fp["CORNERS"]["value"] = np.stack(
        [zdown_corners((500.0, 1100.0, 0.0)), zdown_corners((500.0, 500.0, 0.0))], axis=2)
    fp["ORIGIN"]["value"] = np.array([[0.0, 0.0, -40.0], [0.0, 0.0, -40.0]]).T
    fp["CHANNEL"]["value"] = np.array([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]]).T
    fp["CAL_MATRIX"]["value"] = np.stack([np.eye(6), np.eye(6)], axis=2)
    c.write(str(path))
    return t, _obliquity(t, drops)


def expected_drops(t, obl, drops):
    """The definition, with the trial mean as neutral: on a right stance the left side drops
    (obliquity above neutral), on a left stance the right side (obliquity below neutral)."""
    offset = NEUTRAL_DEG - np.nanmean(obl)
    swing_right = np.arange(N_STANCES) % 2 == 0  # stance 0 is left: the right side swings
    return np.asarray(drops) + np.where(swing_right, -offset, offset)


DROPS = np.array([3.0, 7.5, 3.4, 7.0, 2.8, 7.2, 3.1, 7.7, 3.3, 6.9])


def test_pelvic_drop_per_stance_exact_through_the_session_store(tmp_path):
    path = tmp_path / "run.c3d"
    t, obl = write_run_c3d(path, DROPS)
    rec = load_recording(path, map="left=1,right=2", body_mass_kg=70)
    assert rec.trajectories is not None and rec.trajectories.labels == list(PELVIS)
    assert rec.trajectories.vertical_axis == 2  # z up, from the plates
    session = write_recording(rec, tmp_path / "run.h5")
    back = read_recording(session)
    np.testing.assert_allclose(back.trajectories.points_m, rec.trajectories.points_m, atol=1e-4)
    with h5py.File(session, "r") as f:  # as docs/session-format.md tells a reader without forcelab
        labels = [lab.decode() for lab in f["motion/labels"][()]]
        crest = f["motion/points"][:, labels.index("R.Iliac.Crest"), :]
        assert f["motion"].attrs["unit"] == "m" and f["motion"].attrs["rate_hz"] == POINT_HZ
    np.testing.assert_allclose(crest, rec.trajectories.point("R.Iliac.Crest"), atol=1e-4)
    result = analyze_recording(back)
    rows = [r for r in result.stances if r["valid"]]
    assert [r["side"] for r in rows] == ["left", "right"] * (N_STANCES // 2)
    got = np.array([r["pelvic_drop_deg"] for r in rows])
    np.testing.assert_allclose(got, expected_drops(t, obl, DROPS), atol=0.1)
    for r in rows:  # the half-sine bump peaks at mid-stance
        assert r["pelvic_drop_pct"] == pytest.approx(50.0, abs=4.0)
    pelvis = result.parameters["pelvis"]
    assert pelvis["landmarks"] == "iliac crests"
    assert pelvis["neutral_method"] == "mean over the trial"
    assert (pelvis["vertical_axis"], pelvis["ml_axis"]) == ("z", "y")
    right = result.summary["right"]["pelvic_drop_deg"]["mean"]
    exp = expected_drops(t, obl, DROPS)
    assert right == pytest.approx(exp[1::2].mean(), abs=0.05)
    text = result.format_text()
    assert "Pelvic drop, swing side (deg)" in text
    assert "On right-foot stances the left hip drops" in text


def test_marker_gaps_stay_gaps_and_a_missing_pelvis_is_one_line(tmp_path):
    path = tmp_path / "gap.c3d"
    t, obl = write_run_c3d(path, DROPS, gap_stance=4)
    result = analyze_recording(load_recording(path, map="left=1,right=2"))
    rows = [r for r in result.stances if r["valid"]]
    assert rows[4]["pelvic_drop_deg"] is None
    others = [r["pelvic_drop_deg"] for k, r in enumerate(rows) if k != 4]
    np.testing.assert_allclose(others, np.delete(expected_drops(t, obl, DROPS), 4), atol=0.1)

    knees = tmp_path / "knees.c3d"
    write_run_c3d(knees, DROPS, labels=("L.Knee", "R.Knee", "L.ASIS", "R.ASIS"))
    result = analyze_recording(load_recording(knees, map="left=1,right=2"))
    assert result.parameters["pelvis"]["error"].startswith("no pelvis markers")
    assert all(r["pelvic_drop_deg"] is None for r in result.stances)
    assert result.summary["left"]["n_stances"] == N_STANCES // 2  # the force analysis stands
    assert "Pelvis: no pelvis markers" in result.format_text()


def test_cli_json_carries_pelvic_drop(tmp_path):
    path = tmp_path / "run.c3d"
    t, obl = write_run_c3d(path, DROPS)
    out = subprocess.run(
        [sys.executable, "-m", "forcelab", "analyze", str(path), "--map", "left=1,right=2",
         "--json"], capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    got = [s["pelvic_drop_deg"] for s in doc["stances"] if s["valid"]]
    np.testing.assert_allclose(got, expected_drops(t, obl, DROPS), atol=0.1)


def test_static_trial_gives_the_neutral(tmp_path):
    path, static = tmp_path / "run.c3d", tmp_path / "static.c3d"
    write_run_c3d(path, DROPS)
    write_run_c3d(static, DROPS, static=True)
    out = subprocess.run(
        [sys.executable, "-m", "forcelab", "analyze", str(path), "--map", "left=1,right=2",
         "--static", str(static), "--json"], capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["parameters"]["pelvis"]["neutral_method"] == "static standing trial"
    assert doc["parameters"]["pelvis"]["neutral_deg"] == pytest.approx(NEUTRAL_DEG, abs=1e-3)
    got = [s["pelvic_drop_deg"] for s in doc["stances"] if s["valid"]]
    np.testing.assert_allclose(got, DROPS, atol=0.1)  # measured from the true neutral
    bad = subprocess.run(
        [sys.executable, "-m", "forcelab", "analyze", str(path), "--static", "nowhere.c3d"],
        capture_output=True, text=True, timeout=120,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--static" in bad.stderr


def test_report_and_csv_export_show_the_drop_stance_by_stance(tmp_path):
    import csv

    from forcelab.report import write_report

    path = tmp_path / "run.c3d"
    t, obl = write_run_c3d(path, DROPS)
    page = write_report([path], tmp_path / "r.html",
                        reader_options={"map": "left=1,right=2"}).read_text()
    assert "Contralateral pelvic drop (by stance foot)" in page
    assert "On right-foot stances the left hip drops" in page
    session = write_recording(load_recording(path, map="left=1,right=2"), tmp_path / "run.h5")
    out = subprocess.run(
        [sys.executable, "-m", "forcelab", "export", str(session), "--format", "csv",
         "-o", str(tmp_path / "csv")], capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    (table,) = (tmp_path / "csv").glob("*_stances.csv")
    with table.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["valid"] in ("1", "True", "true")]
    got = [float(r["pelvic_drop_deg"]) for r in rows]
    np.testing.assert_allclose(got, expected_drops(t, obl, DROPS), atol=0.1)
