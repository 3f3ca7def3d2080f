"""Moticon OpenGo text exports: both feet, pressures in kPa, one-sided rows, bad files."""

from __future__ import annotations

import numpy as np
import pytest
from interop_signals import stance_train

from forcelab.errors import FileFormatError, InputError
from forcelab.interop import load_recording


def opengo_names() -> list[str]:
    names = ["time"]
    for side in ("left", "right"):
        names += [f"{side} pressure {i}[N/cm²]" for i in range(1, 17)]
        names += [f"{side} acceleration {a}[g]" for a in "XYZ"]
        names += [f"{side} angular {a}[dps]" for a in "XYZ"]
        names += [f"{side} total force[N]", f"{side} center of pressure X[-0.5...+0.5]",
                  f"{side} center of pressure Y[-0.5...+0.5]"]
    return names + ["right steps[]", "left steps[]"]


def write_opengo(path, left_fz, right_fz, only_right_rows=(), drop_rows=()):
    names = opengo_names()
    lines = ["# Start time: 27.09.2023 10:21:14.922", "# Duration: 00:03.000",
             "# Sensor insoles: Left SN1, Right SN2", "# Size: 7", "# Notes: test walk",
             "# " + "\t".join(names), ""]
    for i in range(left_fz.size):
        if i in drop_rows:
            continue
        row = [f"{i / 100.0:.2f}"]
        for side, fz in (("left", left_fz), ("right", right_fz)):
            if side == "left" and i in only_right_rows:
                row += [""] * 25
                continue
            row += [f"{fz[i] / 160.0:.2f}"] * 16  # pressures in N/cm²
            row += ["0.01", "-0.02", "0.98", "1.5", "-2.5", "3.0"]
            row += [f"{fz[i]:.2f}", "-0.12", "0.25"]
        row += ["", ""]
        lines.append("\t".join(row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_both_feet_channels_and_units(tmp_path):
    left = stance_train(100.0, n_stances=3, contact_s=0.7, flight_s=0.4, peak_n=900.0)
    right = np.roll(left, 55) * 1.1
    path = write_opengo(tmp_path / "walk.txt", left, right, only_right_rows=range(0, 5),
                        drop_rows=(100,))
    rec = load_recording(path, body_mass_kg=70)
    by_side = {s.side: s for s in rec.streams}
    assert set(by_side) == {"left", "right"}
    lf = by_side["left"]
    assert lf.rate_hz == 100.0
    assert lf.n_samples == left.size
    assert set(lf.channels) == {"fz", "cop_x", "cop_y", *(f"p{i:02d}" for i in range(1, 17)),
                                "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"}
    assert lf.units["p01"] == "kPa" and lf.units["gyr_x"] == "deg/s"
    assert lf.units["cop_x"] == "1" and lf.units["fz"] == "N"
    # rows with the right foot only are NaN on the left; a missing row is NaN on both
    assert np.flatnonzero(np.isnan(lf.fz)).tolist() == [0, 1, 2, 3, 4, 100]
    assert np.flatnonzero(np.isnan(by_side["right"].fz)).tolist() == [100]
    ok = np.isfinite(lf.fz)
    np.testing.assert_allclose(lf.fz[ok], np.round(left, 2)[ok])
    np.testing.assert_allclose(lf.channels["p07"][ok], np.round(left / 160.0, 2)[ok] * 10.0)
    np.testing.assert_allclose(lf.channels["cop_y"][ok], 0.25)
    assert rec.meta["header"]["Sensor insoles"] == "Left SN1, Right SN2"
    assert rec.meta["time"]["n_missing"] == 1
    assert rec.body_mass_kg == 70.0


def test_opengo_options_and_broken_files(tmp_path):
    fz = stance_train(100.0, n_stances=1)
    path = write_opengo(tmp_path / "a.txt", fz, fz)
    with pytest.raises(InputError, match="`rate_hz` cannot be used with Moticon OpenGo"):
        load_recording(path, rate_hz=100)
    text = path.read_text(encoding="utf-8")
    no_header = tmp_path / "b.txt"
    no_header.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("# time"))
                         + "\n", encoding="utf-8")
    with pytest.raises(FileFormatError, match="no '# time<TAB>...' column header"):
        load_recording(no_header)
    header_only = tmp_path / "c.txt"
    header_only.write_text("\n".join(ln for ln in text.splitlines() if ln.startswith("#")) + "\n",
                           encoding="utf-8")
    with pytest.raises(FileFormatError, match="no data rows"):
        load_recording(header_only)
    truncated = tmp_path / "d.txt"
    truncated.write_text(text[: len(text) // 2 + 7], encoding="utf-8")
    with pytest.raises(FileFormatError, match="truncated|is not a number"):
        load_recording(truncated)
    no_force = tmp_path / "e.txt"
    no_force.write_text(text.replace("total force[N]", "total load[N]"), encoding="utf-8")
    with pytest.raises(FileFormatError, match="no 'left total force"):
        load_recording(no_force)
