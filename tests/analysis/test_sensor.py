"""Insole streams get the insole detection settings: from readers, sessions and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest
from forcelab.drivers.base import Channel, DeviceInfo

from forcelab.analysis import analyze_recording
from forcelab.analysis.detection import DEFAULT_OPTIONS, SENSOR_OPTIONS, sensor_options
from forcelab.errors import InputError
from forcelab.recording import Recording, Stream
from forcelab.store import SessionWriter, read_recording, write_recording

from .gait import make_gait
from .test_real_data import fixed_threshold, match_vendor, read_opengo

INSOLE = SENSOR_OPTIONS["insole"]


def walking_insole(rate_hz: float = 100.0) -> np.ndarray:
    fz, _, _ = make_gait(rate_hz=rate_hz, n_stances=8, contact_s=0.6, flight_s=0.5, peak_n=700.0,
                         kind="walking", noise_n=2.0, seed=3)
    return fz


def test_insole_stream_uses_insole_thresholds_and_reports_them():
    fz = walking_insole()
    rec = Recording(
        [
            Stream("left", 100.0, {"fz": fz}, side="left", sensor="insole"),
            Stream("right", 100.0, {"fz": fz}, side="right"),
        ]
    )
    p = analyze_recording(rec).parameters["streams"]
    assert p["left"]["sensor"] == "insole"
    assert p["left"]["detection_source"] == "insole defaults"
    assert p["left"]["detection"]["on_fraction"] == INSOLE["on_fraction"]
    assert p["left"]["detection"]["off_fraction"] == INSOLE["off_fraction"]
    assert p["right"]["sensor"] == "plate"
    assert p["right"]["detection"]["on_fraction"] == DEFAULT_OPTIONS["on_fraction"]
    assert p["right"]["detection"]["off_fraction"] == DEFAULT_OPTIONS["off_fraction"]
    # higher thresholds on the same signal: the insole stances are shorter on both edges
    res = analyze_recording(rec)
    left = [s for s in res.stances if s["side"] == "left"]
    right = [s for s in res.stances if s["side"] == "right"]
    assert len(left) == len(right) == 8
    for a, b in zip(left, right, strict=True):
        assert a["start_s"] > b["start_s"]
        assert a["end_s"] < b["end_s"]


def test_caller_fractions_override_the_insole_settings():
    fz = walking_insole()
    rec = Recording([Stream("left", 100.0, {"fz": fz}, side="left", sensor="insole")])
    res = analyze_recording(rec, {"on_fraction": 0.2})
    s = res.parameters["streams"]["left"]
    assert s["detection_source"] == "caller"
    assert s["detection"]["on_fraction"] == 0.2
    assert s["detection"]["off_fraction"] == DEFAULT_OPTIONS["off_fraction"]
    # other options are passed along on top of the insole settings
    res = analyze_recording(rec, {"min_contact_s": 0.1})
    s = res.parameters["streams"]["left"]
    assert s["detection_source"] == "insole defaults"
    assert s["detection"]["min_contact_s"] == 0.1
    assert s["detection"]["on_fraction"] == INSOLE["on_fraction"]


def test_sensor_options_rejects_unknown_kinds_and_bad_values():
    with pytest.raises(InputError, match="unknown sensor kind"):
        sensor_options("treadmill")
    with pytest.raises(InputError, match="off_fraction"):
        sensor_options("insole", {"off_fraction": -1})
    with pytest.raises(InputError, match="sensor"):
        Stream("x", 100.0, {"fz": np.zeros(10)}, sensor="shoe")


def test_cli_opengo_contacts_agree_with_vendor_without_options(shared_data):
    path = shared_data / "moticon_opengo_walking" / "230927_102114.txt"
    r = subprocess.run(
        [sys.executable, "-m", "forcelab", "analyze", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    for side in ("left", "right"):
        assert result["parameters"]["streams"][side]["detection_source"] == "insole defaults"
    ours_ic, ours_to, fixed_ic, fixed_to = [], [], [], []
    for side, (f, ic, to) in read_opengo(shared_data).items():
        st = [s for s in result["stances"] if s["side"] == side]
        start = np.array([s["start_s"] for s in st])
        end = np.array([s["end_s"] for s in st])
        a, b = match_vendor(start, end, ic, to)
        ours_ic.extend(np.abs(a))
        ours_to.extend(np.abs(b))
        on, off = fixed_threshold(f)
        a, b = match_vendor(on / 100.0, off / 100.0, ic, to)
        fixed_ic.extend(np.abs(a))
        fixed_to.extend(np.abs(b))
    ours_to, fixed_to = np.array(ours_to), np.array(fixed_to)
    ours_ic, fixed_ic = np.array(ours_ic), np.array(fixed_ic)
    assert ours_to.size == 14
    assert ours_to.mean() <= 0.015
    assert ours_to.mean() < fixed_to.mean()
    assert ours_to.max() < fixed_to.max()
    assert ours_ic.mean() <= 0.010
    assert ours_ic.max() < fixed_ic.max()


def insole_info(side: str) -> DeviceInfo:
    chans = [("fz", "N"), ("cop_x", "1"), ("cop_y", "1")]
    return DeviceInfo(
        protocol="INS1",
        model="INS-16",
        serial=f"I-{side}",
        firmware="1.0",
        side=side,
        rate_hz=100.0,
        channels=tuple(Channel(n, u) for n, u in chans),
    )


def test_session_of_an_ins1_recording_keeps_sensor_insole(tmp_path):
    fz = walking_insole()
    samples = np.column_stack([fz, np.zeros_like(fz), np.zeros_like(fz)]).astype(np.float32)
    path = tmp_path / "session.h5"
    t0 = time.time()
    with SessionWriter.create(path, athlete={"id": "a1", "body_mass_kg": 70.0}) as w:
        w.add_stream("insole_left", insole_info("left"))
        w.start_trial("walk", t_s=t0)
        for a in range(0, fz.size, 100):
            w.append(
                "insole_left",
                SimpleNamespace(
                    seq=a,
                    t_device_s=a / 100.0,
                    t_host_s=t0 + a / 100.0,
                    samples=samples[a : a + 100],
                    status=0,
                    gap_before=0,
                ),
            )
        w.stop_trial(t_s=t0 + fz.size / 100.0)
    rec = read_recording(path)
    (stream,) = rec.streams
    assert stream.sensor == "insole"
    res = analyze_recording(rec)
    assert res.parameters["streams"]["insole_left"]["detection_source"] == "insole defaults"
    assert sum(s["valid"] for s in res.stances) == 8

    # imported through the store: the sensor kind is stored and read back
    back = tmp_path / "imported.h5"
    write_recording(rec, back)
    assert read_recording(back).streams[0].sensor == "insole"
    plate = Recording([Stream("plate", 100.0, {"fz": fz})])
    write_recording(plate, tmp_path / "plate.h5")
    assert read_recording(tmp_path / "plate.h5").streams[0].sensor == "plate"


def test_opengo_reader_marks_insole_streams(shared_data):
    from forcelab.interop import load_recording

    rec = load_recording(shared_data / "moticon_opengo_walking" / "230927_102114.txt")
    assert [s.sensor for s in rec.streams] == ["insole", "insole"]
