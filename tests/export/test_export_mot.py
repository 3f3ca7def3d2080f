"""OpenSim .mot export read back with forcelab's own .mot reader, and the ExternalLoads .xml."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from subprocesses import run_cli

from forcelab.errors import ExportError
from forcelab.interop import load_recording
from forcelab.interop.export_mot import export_mot
from forcelab.sources import load_source
from forcelab.store import read_recording


def _loaded_equal(got, want, fz, atol):
    on = np.nan_to_num(fz) > 50.0
    np.testing.assert_allclose(got[on], want[on], atol=atol)


def test_treadmill_round_trip(sessions, tmp_path):
    source = load_source(sessions["treadmill"], trial="tempo")
    mot, xml = export_mot(source, tmp_path)
    assert (mot.name, xml.name) == ("alex_treadmill_tempo.mot", "alex_treadmill_tempo.xml")
    back = load_recording(mot)
    orig = read_recording(sessions["treadmill"], trial="tempo")
    for side in ("left", "right"):
        b, o = back.stream(side), orig.stream(side)
        assert b.side == side
        assert b.rate_hz == pytest.approx(o.rate_hz, rel=1e-9)
        assert b.t0_s == pytest.approx(o.t0_s, abs=1e-6)
        assert b.n_samples == o.n_samples
        scale = np.nanmax(np.abs(o.fz))
        for ch in ("fz", "fap", "fml", "tz"):
            np.testing.assert_allclose(b.channels[ch], np.nan_to_num(o.channels[ch]),
                                       atol=1e-8 * scale)
        _loaded_equal(b.channels["cop_ml"], o.channels["cop_ml"], o.fz, 1e-9)
        _loaded_equal(b.channels["cop_ap"], o.channels["cop_ap"], o.fz, 1e-9)
        # OpenSim convention: COP 0 where the foot is unloaded
        off = ~np.isfinite(o.channels["cop_ml"])
        assert off.any() and np.all(b.channels["cop_ml"][off] == 0.0)


def test_one_plate_is_split_by_stance_side(sessions, tmp_path):
    source = load_source(sessions["plate"])
    mot, _ = export_mot(source, tmp_path)
    back = load_recording(mot)
    plate = read_recording(sessions["plate"], trial="run1").stream("plate")
    left, right = back.stream("left"), back.stream("right")
    # nothing lost: the two feet add up to the measured force everywhere
    np.testing.assert_allclose(left.fz + right.fz, np.nan_to_num(plate.fz),
                               atol=1e-8 * np.nanmax(plate.fz))
    # inside every sided stance, all the force is on that stance's foot
    t = plate.time_s()
    stances = [s for s in source.trials[0].analysis().stances if s["valid"]]
    assert len(stances) > 10
    for s in stances:
        inside = (t >= s["start_s"]) & (t < s["end_s"])
        mine, other = (left, right) if s["side"] == "left" else (right, left)
        assert np.all(other.fz[inside] == 0.0)
        np.testing.assert_allclose(mine.fz[inside], plate.fz[inside], rtol=1e-9)
        cop = mine.channels["cop_ml"][inside]
        assert np.all(np.sign(cop[cop != 0]) == (-1 if s["side"] == "left" else 1))


def test_external_loads_xml_points_at_the_mot(sessions, tmp_path):
    _, xml = export_mot(load_source(sessions["treadmill"], trial="easy run"), tmp_path / "g.mot")
    root = ET.parse(xml).getroot()
    forces = root.findall("./ExternalLoads/objects/ExternalForce")
    assert {f.get("name"): f.findtext("applied_to_body") for f in forces} == {
        "RightGRF": "calcn_r", "LeftGRF": "calcn_l"}
    ids = {f.findtext("force_identifier") for f in forces}
    assert ids == {"ground_force_v", "l_ground_force_v"}
    assert root.findtext("./ExternalLoads/datafile") == "g.mot"
    header = (tmp_path / "g.mot").read_text().split("endheader\n")[1].splitlines()[0].split("\t")
    for f in forces:
        for key in ("force_identifier", "point_identifier", "torque_identifier"):
            prefix = f.findtext(key)
            assert sum(c.startswith(prefix) for c in header) == 3


def test_insoles_cannot_drive_opensim(sessions, tmp_path):
    with pytest.raises(ExportError, match="no force-plate stream"):
        export_mot(load_source(sessions["insoles"]), tmp_path)
    assert list(tmp_path.iterdir()) == []
    r = run_cli("export", sessions["insoles"], "--format", "mot", "-o", tmp_path)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "CSV, C3D or JSON" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_real_opensim_file_survives_a_round_trip(shared_data, tmp_path):
    src = shared_data / "opensim_walking" / "subject01_walk1_grf.mot"
    orig = load_recording(src)
    (mot, _xml) = export_mot(load_source(src), tmp_path)
    back = load_recording(mot)
    for side in ("left", "right"):
        o, b = orig.stream(side), back.stream(side)
        assert b.n_samples == o.n_samples
        assert b.rate_hz == pytest.approx(o.rate_hz, rel=1e-9)
        for ch in ("fz", "fap", "fml", "tz"):
            np.testing.assert_allclose(b.channels[ch], np.nan_to_num(o.channels[ch]),
                                       rtol=1e-9, atol=1e-7)


def test_real_treadmill_run_split_into_feet(shared_data, tmp_path):
    """Fukuchi's one plate under both feet (no AP COP) becomes two OpenSim feet."""
    src = shared_data / "fukuchi2017_running" / "RBDS001runT25forces.txt"
    opts = {"time_unit": "frame", "rate_hz": 300, "vertical": "Fy", "cop_ml": "COPz",
            "body_mass_kg": 62.0}
    source = load_source(src, reader_options=opts)
    mot, _ = export_mot(source, tmp_path)
    back = load_recording(mot)
    plate = load_recording(src, **opts).streams[0]
    total = back.stream("left").fz + back.stream("right").fz
    np.testing.assert_allclose(total, np.nan_to_num(plate.fz), atol=1e-6 * np.nanmax(plate.fz))
    valid = [s for s in source.trials[0].analysis().stances if s["valid"]]
    assert sum(s["side"] == "left" for s in valid) >= 38
    # the right foot's COP sits to the right of the left foot's
    on_l = back.stream("left").fz > 200
    on_r = back.stream("right").fz > 200
    assert (back.stream("right").channels["cop_ml"][on_r].mean()
            > back.stream("left").channels["cop_ml"][on_l].mean())
