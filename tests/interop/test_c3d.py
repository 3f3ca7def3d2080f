"""C3D force platforms: files written with ezc3d from a known load and centre of pressure."""

from __future__ import annotations

import ezc3d
import numpy as np
import pytest
from interop_signals import stance_train

from forcelab.errors import FileFormatError, InputError
from forcelab.interop import load_recording

ANALOG_HZ = 1000.0
POINT_HZ = 100.0
HALF_X_MM, HALF_Y_MM = 250.0, 300.0


def zdown_corners(centre_mm):
    """CORNERS of a z-down plate in a z-up lab: plate x = lab x, plate y = -lab y."""
    cx, cy, cz = centre_mm
    quadrants = [(1, 1), (-1, 1), (-1, -1), (1, -1)]
    return np.array([[cx + qx * HALF_X_MM, cy - qy * HALF_Y_MM, cz] for qx, qy in quadrants]).T


def zup_corners(centre_mm):
    """CORNERS of a plate whose axes are the lab's (z up)."""
    cx, cy, cz = centre_mm
    quadrants = [(1, 1), (-1, 1), (-1, -1), (1, -1)]
    return np.array([[cx + qx * HALF_X_MM, cy + qy * HALF_Y_MM, cz] for qx, qy in quadrants]).T


def plate_wrench(load_n, cop_plate_m, origin_m, z_down=True):
    """Force (N) and moments about the transducer origin (N*m) in the plate frame."""
    sign = 1.0 if z_down else -1.0
    fz = sign * load_n
    fx, fy = 0.1 * load_n, 0.05 * load_n
    a, b, c = origin_m
    rx, ry, rz = cop_plate_m[0] + a, cop_plate_m[1] + b, c
    mx = ry * fz - rz * fy
    my = rz * fx - rx * fz
    mz = rx * fy - ry * fx
    return np.vstack([fx, fy, fz]), np.vstack([mx, my, mz])


def write_c3d(path, plates, point_units="mm", moment_units="Nmm", body_mass=None, params=()):
    """Write a C3D whose analog channels are the platforms' channels, in order."""
    c = ezc3d.c3d()
    n = plates[0]["channels"].shape[1]
    c["parameters"]["POINT"]["RATE"]["value"] = np.array([POINT_HZ])
    c["parameters"]["POINT"]["LABELS"]["value"] = ["marker"]
    c["parameters"]["POINT"]["UNITS"]["value"] = [point_units]
    c["data"]["points"] = np.ones((4, 1, int(n * POINT_HZ / ANALOG_HZ)))
    c["parameters"]["ANALOG"]["RATE"]["value"] = np.array([ANALOG_HZ])
    labels, units, data, channel_idx = [], [], [], []
    for k, plate in enumerate(plates):
        ch = plate["channels"]
        idx = []
        for j in range(ch.shape[0]):
            labels.append(f"P{k + 1}C{j + 1}")
            units.append(moment_units if plate["type"] in (2, 4) and j >= 3 else "N")
            idx.append(len(labels))
            data.append(ch[j])
        channel_idx.append(idx + [0] * (8 - len(idx)))
    c["parameters"]["ANALOG"]["LABELS"]["value"] = labels
    c["parameters"]["ANALOG"]["UNITS"]["value"] = units
    c["data"]["analogs"] = np.array(data)[None, :, :]
    fp = c["parameters"]["FORCE_PLATFORM"]
    fp["USED"]["value"] = np.array([len(plates)])
    fp["TYPE"]["value"] = np.array([p["type"] for p in plates])
    fp["ZERO"]["value"] = np.array([1, 0])
    fp["CORNERS"]["value"] = np.stack([p["corners"] for p in plates], axis=2)
    fp["ORIGIN"]["value"] = np.stack([p["origin"] for p in plates], axis=1)
    fp["CHANNEL"]["value"] = np.array(channel_idx, dtype=int).T
    fp["CAL_MATRIX"]["value"] = np.stack(
        [p.get("cal", np.eye(6)) for p in plates], axis=2)
    if body_mass is not None:
        c.add_parameter("PROCESSING", "Bodymass", [float(body_mass)])
    for group, name, value in params:
        c.add_parameter(group, name, value)
    c.write(str(path))
    return path


def type2_plate(load, cop_plate_m, origin_mm=(1.0, -2.0, -40.0), centre_mm=(500.0, 800.0, 0.0)):
    force, moment = plate_wrench(load, cop_plate_m, np.array(origin_mm) / 1000.0)
    return {"type": 2, "channels": np.vstack([force, moment * 1000.0]),
            "corners": zdown_corners(centre_mm), "origin": np.array(origin_mm)}


LOAD = stance_train(ANALOG_HZ, n_stances=4, contact_s=0.3, flight_s=0.2, peak_n=1200.0)
COP_PLATE = (0.05, -0.08)  # m from the surface centre, plate frame


def expected_lab_cop(centre_mm=(500.0, 800.0, 0.0)):
    # z-down plate: lab x = plate x, lab y = -plate y
    return centre_mm[0] / 1000.0 + COP_PLATE[0], centre_mm[1] / 1000.0 - COP_PLATE[1]


def test_type2_zdown_plate_gives_positive_load_and_lab_cop(tmp_path):
    path = write_c3d(tmp_path / "t2.c3d", [type2_plate(LOAD, COP_PLATE)])
    rec = load_recording(path)
    (s,) = rec.streams
    assert s.name == "platform1" and s.side is None
    assert s.rate_hz == ANALOG_HZ and s.n_samples == LOAD.size
    np.testing.assert_allclose(s.fz, LOAD, atol=1e-3)
    assert "negated" not in rec.meta
    loaded = LOAD >= 20.0
    x, y = expected_lab_cop()
    np.testing.assert_allclose(s.channels["cop_x"][loaded], x, atol=1e-5)
    np.testing.assert_allclose(s.channels["cop_y"][loaded], y, atol=1e-5)
    assert np.all(np.isnan(s.channels["cop_x"][~loaded]))
    assert rec.meta["platforms"][0]["vertical_axis"] == "z"
    # ezc3d's own force-platform processing agrees on the centre of pressure (lab, mm)
    ref = ezc3d.c3d(str(path), extract_forceplat_data=True)["data"]["platform"][0]
    ref_cop = ref["center_of_pressure"][:2, loaded] / 1000.0
    np.testing.assert_allclose(ref_cop[0], s.channels["cop_x"][loaded], atol=1e-5)
    np.testing.assert_allclose(ref_cop[1], s.channels["cop_y"][loaded], atol=1e-5)


def test_type4_calibration_matrix_is_applied(tmp_path):
    rng = np.random.default_rng(11)
    cal = np.eye(6) + rng.uniform(-0.05, 0.05, (6, 6))
    plate = type2_plate(LOAD, COP_PLATE)
    plate["type"] = 4
    plate["cal"] = cal
    plate["channels"] = np.linalg.solve(cal, plate["channels"])  # raw = CAL^-1 @ outputs
    rec = load_recording(write_c3d(tmp_path / "t4.c3d", [plate]))
    s = rec.streams[0]
    np.testing.assert_allclose(s.fz, LOAD, atol=1e-3)
    loaded = LOAD >= 20.0
    x, y = expected_lab_cop()
    np.testing.assert_allclose(s.channels["cop_x"][loaded], x, atol=1e-5)
    np.testing.assert_allclose(s.channels["cop_y"][loaded], y, atol=1e-5)


def test_type3_kistler_sensor_forces(tmp_path):
    a, b, az0 = 0.12, 0.2, -0.045  # m
    fx, fy, s_fz = 0.1 * LOAD, 0.05 * LOAD, LOAD
    px, py = COP_PLATE
    mx = py * s_fz - az0 * fy
    my = az0 * fx - px * s_fz
    big_a, big_b = mx / b, my / a
    fz1 = (s_fz + big_a - big_b) / 4
    fz2 = (s_fz + big_a + big_b) / 4
    fz3 = (s_fz - big_a + big_b) / 4
    fz4 = (s_fz - big_a - big_b) / 4
    channels = np.vstack([fx / 2, fx / 2, fy / 2, fy / 2, fz1, fz2, fz3, fz4])
    plate = {"type": 3, "channels": channels, "corners": zdown_corners((0.0, 0.0, 0.0)),
             "origin": np.array([a, b, az0]) * 1000.0}
    rec = load_recording(write_c3d(tmp_path / "t3.c3d", [plate]))
    s = rec.streams[0]
    np.testing.assert_allclose(s.fz, LOAD, atol=1e-3)
    loaded = LOAD >= 20.0
    np.testing.assert_allclose(s.channels["cop_x"][loaded], px, atol=1e-5)
    np.testing.assert_allclose(s.channels["cop_y"][loaded], -py, atol=1e-5)


def test_type1_cop_channels_and_zup_plate(tmp_path):
    fz = -LOAD  # force on a z-up plate points down
    px_mm, py_mm = np.full(LOAD.size, 30.0), np.full(LOAD.size, 70.0)
    channels = np.vstack([0.1 * LOAD, 0.0 * LOAD, fz, px_mm, py_mm, 0.0 * LOAD])
    plate = {"type": 1, "channels": channels, "corners": zup_corners((100.0, 200.0, 0.0)),
             "origin": np.zeros(3)}
    rec = load_recording(write_c3d(tmp_path / "t1.c3d", [plate]))
    s = rec.streams[0]
    np.testing.assert_allclose(s.fz, LOAD, atol=1e-3)
    assert "negated" not in rec.meta
    loaded = LOAD >= 20.0
    np.testing.assert_allclose(s.channels["cop_x"][loaded], 0.13, atol=1e-6)
    np.testing.assert_allclose(s.channels["cop_y"][loaded], 0.27, atol=1e-6)


def test_two_plates_map_cop_ml_and_body_mass(tmp_path):
    other = np.roll(LOAD, 250) * 0.9
    plates = [type2_plate(LOAD, COP_PLATE),
              type2_plate(other, COP_PLATE, centre_mm=(500.0, 1400.0, 0.0))]
    path = write_c3d(tmp_path / "two.c3d", plates, body_mass=72.5)
    rec = load_recording(path)
    assert [s.name for s in rec.streams] == ["platform1", "platform2"]
    assert [s.side for s in rec.streams] == [None, None]
    assert rec.body_mass_kg == pytest.approx(72.5)
    assert rec.meta["body_mass_from"] == "PROCESSING:Bodymass"
    mapped = load_recording(path, map="left=2,right=platform1", body_mass_kg=60)
    assert [(s.name, s.side) for s in mapped.streams] == [("platform1", "right"),
                                                          ("platform2", "left")]
    assert mapped.body_mass_kg == 60.0
    np.testing.assert_allclose(mapped.stream("platform2").fz, other, atol=1e-3)
    ml = load_recording(path, cop_ml="-y")
    loaded = LOAD >= 20.0
    np.testing.assert_allclose(ml.streams[0].channels["cop_ml"][loaded],
                               -expected_lab_cop()[1], atol=1e-5)
    # fml is the reaction force toward the subject's right (-y here): force on plate along
    # lab y is -Fy_plate, the reaction is +Fy_plate, toward -y that is -Fy_plate
    np.testing.assert_allclose(ml.streams[0].channels["fml"], -0.05 * LOAD, atol=1e-3)
    with pytest.raises(InputError, match="force platforms 1 to 2"):
        load_recording(path, map="left=3")
    with pytest.raises(InputError, match="for both feet"):
        load_recording(path, map="left=1,right=platform1")
    with pytest.raises(InputError, match="is the vertical axis"):
        load_recording(path, cop_ml="z")
    with pytest.raises(InputError, match="lab axis"):
        load_recording(path, cop_ml="COPz")
    with pytest.raises(InputError, match="`rate_hz` cannot be used with C3D"):
        load_recording(path, rate_hz=1000)


def test_c3d_without_platforms_or_with_bad_channels(tmp_path):
    plate = type2_plate(LOAD[:500], COP_PLATE)
    path = write_c3d(tmp_path / "ok.c3d", [plate])
    c = ezc3d.c3d(str(path))
    c["parameters"]["FORCE_PLATFORM"]["USED"]["value"] = np.array([0])
    c.write(str(tmp_path / "none.c3d"))
    with pytest.raises(FileFormatError, match="describes no force platforms"):
        load_recording(tmp_path / "none.c3d")
    c = ezc3d.c3d(str(path))
    c["parameters"]["FORCE_PLATFORM"]["CHANNEL"]["value"] = np.array(
        [[1, 2, 3, 4, 5, 9, 0, 0]], dtype=int).T
    c.write(str(tmp_path / "chan.c3d"))
    with pytest.raises(FileFormatError, match="points outside the 6 analog channels"):
        load_recording(tmp_path / "chan.c3d")
    c = ezc3d.c3d(str(path))
    c["parameters"]["FORCE_PLATFORM"]["TYPE"]["value"] = np.array([7])
    c.write(str(tmp_path / "type7.c3d"))
    with pytest.raises(FileFormatError, match="TYPE-7 is not supported"):
        load_recording(tmp_path / "type7.c3d")
    data = path.read_bytes()
    cut = tmp_path / "cut.c3d"
    cut.write_bytes(data[:700])
    with pytest.raises(FileFormatError, match="cut.c3d"):
        load_recording(cut)


def test_positive_origin_z_is_flipped_as_ezc3d_does(tmp_path):
    """Some systems store ORIGIN with z > 0; ezc3d flips the vector and gets the COP right."""
    origin_mm = (1.0, -2.0, -40.0)
    plate = type2_plate(LOAD, COP_PLATE, origin_mm=origin_mm)
    plate["origin"] = -np.array(origin_mm)  # the same plate, ORIGIN written with z > 0
    path = write_c3d(tmp_path / "zpos.c3d", [plate])
    s = load_recording(path).streams[0]
    loaded = LOAD >= 20.0
    x, y = expected_lab_cop()
    np.testing.assert_allclose(s.channels["cop_x"][loaded], x, atol=1e-5)
    np.testing.assert_allclose(s.channels["cop_y"][loaded], y, atol=1e-5)
    ref = ezc3d.c3d(str(path), extract_forceplat_data=True)["data"]["platform"][0]
    np.testing.assert_allclose(ref["center_of_pressure"][0, loaded] / 1000.0,
                               s.channels["cop_x"][loaded], atol=1e-5)


def test_c3d_cut_short_is_an_error_unless_partial_reading_is_asked(tmp_path):
    path = write_c3d(tmp_path / "full.c3d", [type2_plate(LOAD, COP_PLATE)])
    data = path.read_bytes()
    half = tmp_path / "half.c3d"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match=r"cut short: holds \d+ of the \d+ frames"):
        load_recording(half)
    rec = load_recording(half, allow_partial=True)
    s = rec.streams[0]
    assert 0.3 * LOAD.size < s.n_samples < 0.6 * LOAD.size
    assert s.n_samples % int(ANALOG_HZ / POINT_HZ) == 0  # whole frames only
    np.testing.assert_allclose(s.fz, LOAD[: s.n_samples], atol=1e-3)
    assert "cut short" in rec.meta["partial"]
    assert load_recording(path).streams[0].n_samples == LOAD.size  # a whole file reads whole


def test_long_file_frames_the_c3d_library_skips_are_an_error(tmp_path):
    """A long file says in TRIAL:ACTUAL_END_FIELD that it holds more frames than its 16-bit
    header; when ezc3d reads only the header's frames, forcelab says so instead of silently
    returning part of the trial."""
    frames = int(LOAD.size * POINT_HZ / ANALOG_HZ)
    path = write_c3d(tmp_path / "long.c3d", [type2_plate(LOAD, COP_PLATE)],
                     params=[("TRIAL", "ACTUAL_START_FIELD", [1, 0]),
                             ("TRIAL", "ACTUAL_END_FIELD", [2 * frames, 0])])
    plain = load_recording(path, allow_partial=True).streams[0].n_samples
    frame_bytes = (path.stat().st_size - 512 * (int(ezc3d.c3d(str(path))["parameters"]["POINT"][
        "DATA_START"]["value"][0]) - 1)) // frames
    with open(path, "ab") as fh:
        fh.write(b"\0" * frame_bytes * frames)  # the frames past the 16-bit header count
    with pytest.raises(FileFormatError, match=r"holds \d+ frames but only \d+ could be read"):
        load_recording(path)
    assert load_recording(path, allow_partial=True).streams[0].n_samples == plain
