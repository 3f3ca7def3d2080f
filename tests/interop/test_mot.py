"""OpenSim .mot/.sto: header variants, force-set prefixes, side maps, rounded time, bad files."""

from __future__ import annotations

import numpy as np
import pytest
from interop_signals import stance_train

from forcelab.errors import FileFormatError, InputError
from forcelab.interop import load_recording

RATE = 600.0


def force_set(prefix: str, fz: np.ndarray, cop_z: float, torque_prefix: str | None = None):
    cols = {
        f"{prefix}force_vx": 0.1 * fz,
        f"{prefix}force_vy": fz,
        f"{prefix}force_vz": -0.02 * fz,
        f"{prefix}force_px": np.full(fz.size, 0.4),
        f"{prefix}force_py": np.zeros(fz.size),
        f"{prefix}force_pz": np.full(fz.size, cop_z),
    }
    if torque_prefix is not None:
        cols[f"{torque_prefix}torque_y"] = 0.01 * fz
    return cols


def write_mot(path, columns: dict, header: str = "classic", n_rows_claim: int | None = None):
    names = ["time", *columns]
    n = len(next(iter(columns.values())))
    t = np.round(np.arange(n) / RATE, 4)  # OpenSim rounds time to 0.1 ms
    lines = []
    if header == "classic":
        lines += [path.name, f"datacolumns {len(names)}", f"datarows {n_rows_claim or n}",
                  f"range {t[0]:.6f} {t[-1]:.6f}", "endheader"]
    elif header == "v4":
        lines += [path.name, "version=1", f"nRows={n_rows_claim or n}",
                  f"nColumns={len(names)}", "inDegrees=no", "endheader"]
    lines.append("\t".join(names))
    for i in range(n):
        lines.append("\t".join([f"{t[i]:g}"] + [f"{columns[c][i]:.8g}" for c in columns]))
    path.write_text("\n".join(lines) + "\n")
    return path


def walking(shift_samples: int = 300):
    right = stance_train(RATE, n_stances=4, contact_s=0.6, flight_s=0.45, peak_n=800.0)
    left = np.roll(right, shift_samples) * 1.05
    return left, right


@pytest.mark.parametrize("header", ["classic", "v4", "none"])
def test_header_variants_and_opensim_example_sides(tmp_path, header):
    left, right = walking()
    cols = {**force_set("ground_", right, 0.1, "ground_"), **force_set("l_ground_", left, -0.1)}
    path = write_mot(tmp_path / f"walk_{header}.mot", cols, header=header)
    rec = load_recording(path, body_mass_kg=72.0)
    by_side = {s.side: s for s in rec.streams}
    assert set(by_side) == {"left", "right"}
    assert rec.meta["force_sets"] == {"ground_force": "right", "l_ground_force": "left"}
    r = by_side["right"]
    assert r.rate_hz == RATE  # from the span, despite 0.1 ms rounding
    assert r.n_samples == right.size
    np.testing.assert_allclose(r.fz, right, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(by_side["left"].fz, left, rtol=1e-7, atol=1e-6)
    # OpenSim ground frame: x forward, y up, z right
    np.testing.assert_allclose(r.channels["fap"], 0.1 * right, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(r.channels["fml"], -0.02 * right, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(r.channels["cop_ml"], 0.1)
    np.testing.assert_allclose(by_side["left"].channels["cop_ml"], -0.1)
    np.testing.assert_allclose(r.channels["tz"], 0.01 * right, rtol=1e-6, atol=1e-6)
    assert "tz" not in by_side["left"].channels
    assert rec.body_mass_kg == 72.0


@pytest.mark.parametrize(
    "left_prefix, right_prefix",
    [("l_", "r_"), ("L_", "R_"), ("left_", "right_"), ("1_", "")],
)
def test_side_prefixes(tmp_path, left_prefix, right_prefix):
    left, right = walking()
    cols = {**force_set(f"{right_prefix}ground_", right, 0.1),
            **force_set(f"{left_prefix}ground_", left, -0.1)}
    rec = load_recording(write_mot(tmp_path / "p.mot", cols))
    by_side = {s.side: s for s in rec.streams}
    np.testing.assert_allclose(by_side["left"].fz, left, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(by_side["right"].fz, right, rtol=1e-7, atol=1e-6)


def test_numbered_plates_have_no_side_unless_mapped(tmp_path):
    left, right = walking()
    cols = {**force_set("1_ground_", right, 0.1), **force_set("2_ground_", left, -0.1)}
    path = write_mot(tmp_path / "plates.mot", cols)
    rec = load_recording(path)
    assert [(s.name, s.side) for s in rec.streams] == [
        ("1_ground_force", None), ("2_ground_force", None)]
    mapped = load_recording(path, map="left=2,right=1_ground_force_vy")
    by_side = {s.side: s for s in mapped.streams}
    np.testing.assert_allclose(by_side["left"].fz, left, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(by_side["right"].fz, right, rtol=1e-7, atol=1e-6)
    with pytest.raises(InputError, match=r"no such force set.*1_ground_force, 2_ground_force"):
        load_recording(path, map="left=3")


def test_vertical_axis_option(tmp_path):
    _, right = walking()
    cols = {"ground_force_vx": np.zeros(right.size), "ground_force_vy": np.zeros(right.size),
            "ground_force_vz": -right}
    path = write_mot(tmp_path / "zup.mot", cols)
    rec = load_recording(path, vertical="z")
    np.testing.assert_allclose(rec.streams[0].fz, right, rtol=1e-7, atol=1e-6)
    assert rec.meta["negated"] == ["ground_force"]
    assert set(rec.streams[0].channels) == {"fz"}
    with pytest.raises(InputError, match="vertical axis x, y or z"):
        load_recording(path, vertical="up")
    with pytest.raises(InputError, match="`rate_hz` cannot be used with OpenSim"):
        load_recording(path, rate_hz=600)


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda s: s.replace("endheader\n", ""), "no 'endheader' line"),
        (lambda s: s.split("endheader")[0] + "endheader\n", "no column labels follow"),
        (lambda s: s.replace("nColumns=7", "nColumns=9"), "header says 9 columns"),
        (lambda s: "\n".join(s.splitlines()[:40]) + "\n", "file is truncated"),
        (lambda s: "\n".join(s.splitlines()[:40]) + "\n0.1\t5", "looks truncated"),
        (lambda s: s.replace("\n0.005\t", "\nbanana\t"), "'banana' is not a number"),
    ],
)
def test_malformed_mot(tmp_path, mutate, needle):
    _, right = walking()
    cols = force_set("ground_", right[:200], 0.1)
    path = write_mot(tmp_path / "m.mot", cols, header="v4")
    path.write_text(mutate(path.read_text()))
    with pytest.raises(FileFormatError, match=needle):
        load_recording(path)


def test_mot_without_force_columns(tmp_path):
    path = write_mot(tmp_path / "kin.mot", {"hip_flexion_r": np.linspace(0, 30, 50)})
    with pytest.raises(FileFormatError, match="holds no force data"):
        load_recording(path)


def test_opensim4_c3d_adapter_columns(tmp_path):
    left, right = walking()
    n = right.size
    cols = {}
    for k, (fz, cop_z_mm) in enumerate(((right, 100.0), (left, -100.0)), start=1):
        cols.update({f"f{k}_1": 0.1 * fz, f"f{k}_2": fz, f"f{k}_3": -0.02 * fz,
                     f"p{k}_1": np.full(n, 400.0), f"p{k}_2": np.zeros(n),
                     f"p{k}_3": np.full(n, cop_z_mm)})
    path = write_mot(tmp_path / "adapter.sto", cols, header="v4")
    path.write_text(path.read_text().replace("inDegrees=no", "Units=mm"))
    rec = load_recording(path)
    assert [(s.name, s.side) for s in rec.streams] == [("platform1", None), ("platform2", None)]
    np.testing.assert_allclose(rec.stream("platform1").channels["cop_ml"], 0.1)
    mapped = load_recording(path, map="left=2,right=1")
    np.testing.assert_allclose(mapped.stream("left").fz, left, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(mapped.stream("right").channels["cop_ap"], 0.4)
