"""C3D export read back with ezc3d: forces, COP, free moment and gait events survive."""

from __future__ import annotations

import ezc3d
import numpy as np
import pytest
from subprocesses import run_cli

from forcelab.errors import ExportError
from forcelab.interop.export_c3d import build_c3d, export_c3d
from forcelab.interop.export_common import ExportSource, ExportTrial
from forcelab.recording import Recording, Stream
from forcelab.sources import load_source
from forcelab.store import read_recording

F32 = 2e-7  # relative resolution of the float32 values C3D stores


def _read(path):
    return ezc3d.c3d(str(path), extract_forceplat_data=True)


def _close(a, b, scale):
    np.testing.assert_allclose(a, b, rtol=0, atol=F32 * 8 * max(scale, 1.0))


def _check_plate(pf, stream, t0_s):
    """Ground reaction = - platform force; COP relative to the plate centre = forcelab COP."""
    n = pf["force"].shape[1]
    i0 = int(round((stream.t0_s - t0_s) * stream.rate_hz))
    fz = np.nan_to_num(stream.channels["fz"])
    sl = slice(i0, i0 + stream.n_samples)
    assert n >= stream.n_samples
    grf = -pf["force"][:, sl]
    scale = float(np.max(np.abs(fz)))
    _close(grf[2], fz, scale)
    _close(grf[1], np.nan_to_num(stream.channels["fap"]), scale)
    _close(grf[0], np.nan_to_num(stream.channels["fml"]), scale)
    loaded = fz > 100.0
    assert loaded.sum() > 50
    centre = pf["corners"].mean(axis=1)
    cop = (pf["center_of_pressure"][:, sl] - centre[:, None]) / 1000.0
    np.testing.assert_allclose(cop[0, loaded], stream.channels["cop_ml"][loaded], atol=1e-5)
    np.testing.assert_allclose(cop[1, loaded], stream.channels["cop_ap"][loaded], atol=1e-5)
    # free moment: the applied one about lab +Z is minus the ground reaction's
    tz = -pf["Tz"][2, sl][loaded] / 1000.0
    np.testing.assert_allclose(tz, stream.channels["tz"][loaded], atol=2e-3)


def test_treadmill_round_trip_forces_cop_events(sessions, tmp_path):
    source = load_source(sessions["treadmill"])
    paths = export_c3d(source, tmp_path)
    assert [p.name for p in paths] == ["alex_treadmill_easy_run.c3d", "alex_treadmill_tempo.c3d"]
    for trial, path in zip(source.trials, paths, strict=True):
        rec = read_recording(sessions["treadmill"], trial=trial.name)
        c = _read(path)
        t0 = float(c["parameters"]["FORCELAB"]["T0_S"]["value"][0])
        assert t0 == pytest.approx(min(s.t0_s for s in rec.streams), abs=1e-9)
        assert c["header"]["analogs"]["frame_rate"] == pytest.approx(rec.streams[0].rate_hz)
        fp = c["parameters"]["FORCE_PLATFORM"]
        assert fp["USED"]["value"][0] == 2
        assert list(fp["TYPE"]["value"]) == [2, 2]
        assert np.asarray(fp["CORNERS"]["value"]).shape == (3, 4, 2)
        assert np.asarray(fp["ORIGIN"]["value"]).shape == (3, 2)
        assert np.asarray(fp["CHANNEL"]["value"]).shape == (6, 2)
        assert np.asarray(fp["CAL_MATRIX"]["value"]).shape == (6, 6, 2)
        assert list(fp["ZERO"]["value"]) == [0, 0]
        labels = c["parameters"]["ANALOG"]["LABELS"]["value"]
        units = c["parameters"]["ANALOG"]["UNITS"]["value"]
        assert labels[:6] == ["Fx1", "Fy1", "Fz1", "Mx1", "My1", "Mz1"]
        assert units[:6] == ["N", "N", "N", "Nmm", "Nmm", "Nmm"]
        plates = c["data"]["platform"]
        _check_plate(plates[0], rec.stream("left"), t0)
        _check_plate(plates[1], rec.stream("right"), t0)
        # left plate at negative X, right plate at positive X, sized as the devices reported
        assert plates[0]["corners"][0].mean() < 0 < plates[1]["corners"][0].mean()
        for pf in plates:
            span = pf["corners"].max(axis=1) - pf["corners"].min(axis=1)
            np.testing.assert_allclose(span, [450.0, 800.0, 0.0])

        # events: one Foot Strike / Foot Off per complete stance, with the side as context
        stances = trial.analysis().stances
        ev = c["parameters"]["EVENT"]
        times = np.asarray(ev["TIMES"]["value"])
        t_ev = times[0] * 60.0 + times[1]
        got = sorted(zip(np.round(t_ev, 4), ev["CONTEXTS"]["value"], ev["LABELS"]["value"],
                         strict=True))
        want = []
        for s in stances:
            ctx = s["side"].capitalize()
            if s["valid"] or s["reason"] == "partial_end":
                want.append((round(s["start_s"] - t0, 4), ctx, "Foot Strike"))
            if s["valid"] or s["reason"] == "partial_start":
                want.append((round(s["end_s"] - t0, 4), ctx, "Foot Off"))
        assert ev["USED"]["value"][0] == len(want) == len(got)
        np.testing.assert_allclose([g[0] for g in got], [w[0] for w in sorted(want)], atol=2e-4)
        assert [g[1:] for g in got] == [w[1:] for w in sorted(want)]
        assert {"Left", "Right"} == set(ev["CONTEXTS"]["value"])
        # the raw device channels that are not part of the platform stay as analog channels
        assert "left_mx" in labels and "right_mz" in labels


def test_one_plate_under_both_feet_gets_sided_events(sessions, tmp_path):
    source = load_source(sessions["plate"])
    (path,) = export_c3d(source, tmp_path / "plate.c3d")
    c = _read(path)
    rec = read_recording(sessions["plate"], trial="run1")
    t0 = float(c["parameters"]["FORCELAB"]["T0_S"]["value"][0])
    assert c["parameters"]["FORCE_PLATFORM"]["USED"]["value"][0] == 1
    _check_plate(c["data"]["platform"][0], rec.stream("plate"), t0)
    contexts = c["parameters"]["EVENT"]["CONTEXTS"]["value"]
    n_left = sum(1 for s in source.trials[0].analysis().stances if s["side"] == "left"
                 and s["valid"])
    assert contexts.count("Left") >= 2 * n_left > 0
    assert "Right" in contexts


def test_insoles_export_as_analog_channels(sessions, tmp_path):
    source = load_source(sessions["insoles"])
    (path,) = export_c3d(source, tmp_path)
    c = _read(path)
    rec = read_recording(sessions["insoles"], trial="walk")
    assert c["parameters"]["FORCE_PLATFORM"]["USED"]["value"][0] == 0
    labels = c["parameters"]["ANALOG"]["LABELS"]["value"]
    units = dict(zip(labels, c["parameters"]["ANALOG"]["UNITS"]["value"], strict=True))
    assert units["left_fz"] == "N" and units["right_p03"] == "kPa" and units["left_cop_x"] == "1"
    analogs = c["data"]["analogs"][0]
    for side in ("left", "right"):
        s = rec.stream(side)
        got = analogs[labels.index(f"{side}_fz")]
        np.testing.assert_allclose(got[: s.n_samples], np.nan_to_num(s.fz), rtol=1e-6, atol=1e-3)
        cop = analogs[labels.index(f"{side}_cop_y")][: s.n_samples]
        want = s.channels["cop_y"]
        np.testing.assert_allclose(cop[np.isfinite(want)], want[np.isfinite(want)], atol=1e-6)
        assert np.all(cop[~np.isfinite(want)] == 0.0)  # C3D has no NaN: unmeasured -> 0


def test_streams_at_different_rates_share_one_grid():
    """A 1000 Hz plate and a 100 Hz insole: plate copied exactly, insole interpolated."""
    t = np.arange(2000) / 1000.0
    fz = 800 + 100 * np.sin(2 * np.pi * t)
    plate = Stream("plate", 1000.0, {"fz": fz, "cop_ml": np.full(2000, 0.01),
                                     "cop_ap": np.full(2000, -0.02)}, t0_s=5.0)
    ti = np.arange(200) / 100.0
    insole = Stream("ins", 100.0, {"fz": 3.0 * ti, "cop_x": np.zeros(200)}, side="left",
                    t0_s=5.0, units={"cop_x": "1"})
    c = build_c3d(ExportTrial("t", Recording([plate, insole])))
    labels = c["parameters"]["ANALOG"]["LABELS"]["value"]
    data = c["data"]["analogs"][0]
    np.testing.assert_array_equal(data[labels.index("Fz1")], fz)
    got = data[labels.index("ins_fz")]
    np.testing.assert_allclose(got[:1981], 3.0 * t[:1981], atol=1e-9)
    assert c["parameters"]["ANALOG"]["RATE"]["value"][0] == 1000.0


def test_empty_trial_is_refused():
    rec = Recording([Stream("plate", 100.0, {"fz": np.zeros(0)})])
    with pytest.raises(ExportError, match="no samples"):
        build_c3d(ExportTrial("empty", rec))


def test_a_trial_that_cannot_be_written_leaves_no_file_of_the_others(tmp_path):
    t = np.arange(500) / 500.0
    good = Recording([Stream("plate", 500.0, {"fz": 700 + 100 * np.sin(2 * np.pi * t),
                                              "cop_ml": np.full(500, 0.01)})])
    empty = Recording([Stream("plate", 100.0, {"fz": np.zeros(0)})])
    source = ExportSource(tmp_path / "s.h5", "session", {"id": "A"}, {},
                          [ExportTrial("good", good), ExportTrial("empty", empty)], stem="s")
    with pytest.raises(ExportError, match="no samples"):
        export_c3d(source, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []
    (written,) = export_c3d(ExportSource(tmp_path / "s.h5", "session", {"id": "A"}, {},
                                         [ExportTrial("good", good)], stem="s"), tmp_path / "out")
    assert written.name == "s_good.c3d" and _read(written)["data"]["analogs"].shape[2] == 500


def test_cli_c3d_refuses_to_overwrite_and_force_replaces(sessions, tmp_path):
    out = tmp_path / "x.c3d"
    out.write_bytes(b"keep me")
    r = run_cli("export", sessions["plate"], "--format", "c3d", "-o", out)
    assert r.returncode == 2
    assert "already exists; remove it, pick another -o, or use --force" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == b"keep me"
    r = run_cli("export", sessions["plate"], "--format", "c3d", "-o", out, "--force")
    assert r.returncode == 0, r.stderr
    assert _read(out)["parameters"]["FORCE_PLATFORM"]["USED"]["value"][0] == 1


def test_forcelabs_own_c3d_reader_reads_the_export(sessions, tmp_path):
    """An independent reader (forcelab.interop's C3D reader) gets the same loads and COP."""
    from forcelab.interop import load_recording

    (path,) = export_c3d(load_source(sessions["treadmill"], trial="tempo"), tmp_path)
    back = load_recording(path, map={"left": 1, "right": 2})
    orig = read_recording(sessions["treadmill"], trial="tempo")
    plates = _read(path)["data"]["platform"]
    for i, side in enumerate(("left", "right")):
        b, o = back.stream(f"platform{i + 1}"), orig.stream(side)
        assert b.side == side and b.n_samples == o.n_samples
        _close(b.fz, np.nan_to_num(o.fz), float(np.nanmax(o.fz)))
        on = o.fz > 100.0
        centre_m = plates[i]["corners"].mean(axis=1) / 1000.0
        np.testing.assert_allclose(b.channels["cop_x"][on] - centre_m[0],
                                   o.channels["cop_ml"][on], atol=1e-5)
        np.testing.assert_allclose(b.channels["cop_y"][on] - centre_m[1],
                                   o.channels["cop_ap"][on], atol=1e-5)
