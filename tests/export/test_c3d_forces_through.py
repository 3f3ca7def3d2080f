"""Fore-aft and medio-lateral forces, the free moment and the COP units survive C3D
(issue 16, items 11 and 13): C3D -> forcelab -> .mot, CSV and C3D carry them, none is 0."""

from __future__ import annotations

import numpy as np

from forcelab.interop import load_recording
from forcelab.interop.export_c3d import build_c3d
from forcelab.interop.export_common import ExportTrial
from forcelab.interop.export_csv import data_table
from forcelab.interop.export_mot import export_mot
from forcelab.recording import Recording, Stream
from forcelab.sources import load_source

RATE_HZ = 1000.0


def _c3d(tmp_path):
    t = np.arange(4000) / RATE_HZ
    phase = (t % 0.6) / 0.6
    stance = phase < 0.5
    fz = np.where(stance, 1300.0 * np.sin(np.pi * phase / 0.5), 0.0)
    ch = {
        "fz": fz,
        "fap": np.where(stance, -0.2 * fz * np.cos(np.pi * phase / 0.5), 0.0),
        "fml": 0.05 * fz,
        "cop_ml": np.where(stance, 0.06 + 0.01 * phase, np.nan),
        "cop_ap": np.where(stance, -0.12 + 0.3 * phase, np.nan),
        "tz": np.where(stance, 3.0 * np.sin(2 * np.pi * phase / 0.5), np.nan),
    }
    units = {"fz": "N", "fap": "N", "fml": "N", "cop_ml": "m", "cop_ap": "m", "tz": "N*m"}
    stream = Stream("plate", RATE_HZ, ch, None, 0.0, units)
    path = tmp_path / "forces.c3d"
    build_c3d(ExportTrial("t", Recording(streams=[stream], meta={}))).write(str(path))
    return path, ch


def test_c3d_reader_keeps_horizontal_forces_free_moment_and_units(tmp_path):
    path, ch = _c3d(tmp_path)
    (s,) = load_recording(path, cop_ml="x").streams
    loaded = ch["fz"] > 50.0
    for name in ("fz", "fml", "fap", "cop_ml", "cop_ap", "tz"):
        np.testing.assert_allclose(s.channels[name][loaded], ch[name][loaded],
                                   atol=2e-3 * max(1.0, np.nanmax(np.abs(ch[name]))),
                                   err_msg=name)
    assert s.units["cop_x"] == "m" and s.units["fx"] == "N" and s.units["tz"] == "N*m"
    (plain,) = load_recording(path).streams  # without --cop-ml: the lab axes, with units
    np.testing.assert_allclose(plain.channels["fy"][loaded], ch["fap"][loaded], atol=3.0)
    header, _ = data_table(load_source(path).trials[0])
    assert "platform1.cop_x [m]" in header and "platform1.tz [N*m]" in header


def test_c3d_to_mot_writes_every_force_not_zeros(tmp_path):
    path, ch = _c3d(tmp_path)
    mot, _ = export_mot(load_source(path, reader_options={"cop_ml": "x"}), tmp_path / "mot")
    text = mot.read_text()
    back = load_recording(mot)
    total_ap = sum(np.nan_to_num(s.channels.get("fap", 0.0)) for s in back.streams)
    loaded = ch["fz"] > 50.0
    assert np.max(np.abs(total_ap)) > 100.0, text[:400]
    np.testing.assert_allclose(np.asarray(total_ap)[loaded], ch["fap"][loaded], atol=3.0)
