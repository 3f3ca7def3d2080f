"""Plates of imported recordings go where their data say (issue 16, item 10): a COP in lab
coordinates (Fukuchi's treadmill, another lab's C3D) lands inside the exported plate, and
forcelab's C3D reader gives the lab COP back."""

from __future__ import annotations

import ezc3d
import numpy as np

from forcelab.interop import load_recording
from forcelab.interop.export_c3d import build_c3d
from forcelab.interop.export_common import ExportTrial
from forcelab.recording import Recording, Stream
from forcelab.sources import load_source


def _inside_share(path, load_n=50.0) -> float:
    pf = ezc3d.c3d(str(path), extract_forceplat_data=True)["data"]["platform"][0]
    loaded = -pf["force"][2] > load_n
    cop = pf["center_of_pressure"][:2, loaded]
    lo, hi = pf["corners"][:2].min(axis=1), pf["corners"][:2].max(axis=1)
    inside = np.all((cop >= lo[:, None]) & (cop <= hi[:, None]), axis=0)
    return float(inside.mean())


def test_lab_frame_cop_is_inside_the_plate_and_reads_back(tmp_path):
    t = np.arange(3000) / 1000.0
    fz = np.where((t % 0.6) < 0.3, 1200.0 * np.sin(np.pi * (t % 0.6) / 0.3), 0.0)
    cop_ml = 1.04 + 0.08 * np.sin(2 * np.pi * t / 0.6)  # a treadmill 1 m from the lab origin
    cop_ap = 0.35 + 0.15 * ((t % 0.6) / 0.3 - 0.5)
    stream = Stream("plate", 1000.0, {"fz": fz, "cop_ml": cop_ml, "cop_ap": cop_ap}, None, 0.0,
                    {"fz": "N", "cop_ml": "m", "cop_ap": "m"})
    path = tmp_path / "lab.c3d"
    build_c3d(ExportTrial("t", Recording(streams=[stream], meta={}))).write(str(path))
    assert _inside_share(path) == 1.0
    back = load_recording(path).streams[0]
    loaded = fz > 50.0
    np.testing.assert_allclose(back.channels["cop_x"][loaded], cop_ml[loaded], atol=1e-5)
    np.testing.assert_allclose(back.channels["cop_y"][loaded], cop_ap[loaded], atol=1e-5)


def test_fukuchi_export_puts_the_cop_inside_the_plate(shared_data, tmp_path):
    src = shared_data / "fukuchi2017_running" / "RBDS001runT25forces.txt"
    opts = {"time_unit": "frame", "rate_hz": 300, "vertical": "Fy", "cop_ml": "COPz"}
    source = load_source(src, reader_options=opts)
    path = tmp_path / "fukuchi.c3d"
    build_c3d(source.trials[0]).write(str(path))
    assert _inside_share(path) >= 0.99
