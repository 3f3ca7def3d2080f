"""``forcelab record --lsl-outlet``: an outside pylsl inlet (this test) receives what the session
file holds, on the LSL clock, and the live stances as JSON markers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pylsl
from forcelab.drivers.base import Block, Channel, DeviceInfo
from pylsl.util import LostError
from subprocesses import killed_at_end

from forcelab.acquisition.lsl_outlet import MARKERS_NAME, OutletWriter, outlet_writer_factory
from forcelab.acquisition.session_writer import SessionWriter
from forcelab.store import open_session

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _drain(inlets: dict[str, pylsl.StreamInlet], proc: subprocess.Popen, timeout_s: float):
    """Pull every inlet until its outlet is withdrawn (the recorder finished)."""
    got: dict[str, list] = {k: [] for k in inlets}
    stamps: dict[str, list] = {k: [] for k in inlets}
    live = set(inlets)
    deadline = time.monotonic() + timeout_s
    while live:
        assert time.monotonic() < deadline, f"outlets still there: {live}"
        for key in list(live):
            try:
                data, ts = inlets[key].pull_chunk(timeout=0.05, max_samples=4096)
            except LostError:
                live.discard(key)
                continue
            got[key] += data
            stamps[key] += ts
    return got, stamps


def _session_uuid(path, proc: subprocess.Popen, timeout_s: float = 60.0) -> str:
    """The uuid of the session file a recorder is writing (read while it is recorded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            with open_session(path) as f:
                return f.uuid
        except Exception:  # not created yet
            time.sleep(0.05)
    raise AssertionError(f"{path} was not created")


def test_outside_inlet_receives_recorded_samples_and_stance_markers(tmp_path,
                                                                    lsl_inlet_of_session):
    out = tmp_path / "pub.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "forcelab", "record", "--device", "sim:treadmill?seed=3",
         "--athlete", "Ann", "--body-mass", "60", "--duration", "30", "-o", str(out),
         "--interval", "0", "--lsl-outlet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )
    with killed_at_end(proc):
        uuid = _session_uuid(out, proc)
        inlets, full = {}, {}
        for name in ("forcelab-plate_left", "forcelab-plate_right", MARKERS_NAME):
            inlets[name], full[name] = lsl_inlet_of_session(name, uuid)
        for inlet in inlets.values():
            inlet.open_stream(timeout=10)
        tc = {k: inlet.time_correction(timeout=10) for k, inlet in inlets.items()}
        got, stamps = _drain(inlets, proc, 60)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    with open_session(out) as f:
        for stream in ("plate_left", "plate_right"):
            data = f.read_stream(stream)
            key = f"forcelab-{stream}"
            received = np.asarray(got[key], dtype=np.float32)
            stored = np.asarray(data.samples, dtype=np.float32)
            assert received.shape[1] == stored.shape[1]
            # an inlet misses what was sent before it joined (discovery takes a moment), then
            # gets every sample of the file, in order
            assert 0 < received.shape[0] <= stored.shape[0], (received.shape, stored.shape)
            start = stored.shape[0] - received.shape[0]
            np.testing.assert_array_equal(received, stored[start:],
                                          err_msg=f"{stream}: joined after {start} samples")
            labels = full[key].get_channel_labels()
            units = full[key].get_channel_units()
            assert labels == list(data.channels) and units == list(data.units)
            # time stamps on the LSL clock = the file's session times
            t_lsl = np.asarray(stamps[key]) + tc[key]
            t_file = np.asarray(data.t_s)[start:]
            offset = t_lsl - t_file
            assert np.ptp(offset) < 0.005
        stances = [e for e in f.events if e["kind"] == "stance"]
    markers = [json.loads(m[0]) for m in got[MARKERS_NAME]]
    stance_markers = [m for m in markers if m["event"] == "stance"]
    assert len(stances) >= 20 and stance_markers
    # once the inlet was there, no stance is missing (a stance is published when it ends)
    joined_s = min(m["t_s"] for m in stance_markers) + 1.0
    for e in (e for e in stances if e["t_s"] > joined_s):
        assert any(m["stream"] == e["stream"] and abs(m["t_s"] - e["t_s"]) < 1e-3
                   for m in stance_markers), e
    t_events = np.asarray([e["t_s"] for e in stances])
    for m in stance_markers:
        e = stances[int(np.argmin(np.abs(t_events - m["t_s"])))]
        assert abs(e["t_s"] - m["t_s"]) < 1e-3
        assert e["stream"] == m["stream"] and m["side"] in ("left", "right")
        # the marker carries the figures the file keeps for that stance
        figures = json.loads(e["message"])
        assert {k: m[k] for k in figures} == figures
        if m["valid"]:
            assert m["midstance_peak_n"] > 500
        else:  # e.g. a stance cut by a gap: no peak needed, but a reason
            assert m["reason"], m
    # marker time stamps are the stance starts on the LSL clock (same offset as the samples)
    t_marks = np.asarray(stamps[MARKERS_NAME]) + tc[MARKERS_NAME]
    t_mark_session = np.asarray([m["t_s"] for m in markers])
    assert np.ptp(t_marks - t_mark_session) < 0.005


def test_outlet_writer_is_a_whole_session_writer():
    """Every method of the recorder's SessionWriter interface is there (a method added to the
    interface later fails here, not in the middle of a recording)."""
    wanted = {n for n, v in vars(SessionWriter).items()
              if callable(v) and not n.startswith("_")}
    assert wanted and wanted <= {n for n in dir(OutletWriter) if not n.startswith("_")}
    assert "t0_unix_s" in SessionWriter.__annotations__


def test_operator_markers_are_published_with_their_session_time(tmp_path, lsl_inlet_of_session):
    writer = outlet_writer_factory()(tmp_path / "m.h5", athlete={"name": "B"})
    assert isinstance(writer, OutletWriter)
    info = DeviceInfo("TEST", "m", "s1", "", "left", 100.0,
                      (Channel("fz", "N", "fz"), Channel("cop_ml", "m", "cop_ml")))
    try:
        writer.add_stream("plate_left", info)
        uuid = writer.outlet.session_uuid
        assert uuid
        markers, _ = lsl_inlet_of_session(MARKERS_NAME, uuid)
        samples, _ = lsl_inlet_of_session("forcelab-plate_left", uuid)
        markers.open_stream(timeout=10)
        samples.open_stream(timeout=10)
        t0 = writer.t0_unix_s
        writer.append("plate_left", Block(0, 0.0, t0 + 1.0, np.array([[700.0, 0.01],
                                                                      [710.0, 0.02]])))
        writer.add_marker("shoe B", t_s=2.5)
        got, ts = [], []
        deadline = time.monotonic() + 10
        while not got:
            assert time.monotonic() < deadline
            got, ts = markers.pull_chunk(timeout=0.1)
        data, sts = [], []
        while len(data) < 2:
            assert time.monotonic() < deadline
            d, t = samples.pull_chunk(timeout=0.1)
            data += d
            sts += t
        tc = markers.time_correction(timeout=10)
    finally:
        writer.close()
    assert json.loads(got[0][0]) == {"event": "marker", "label": "shoe B", "t_s": 2.5}
    np.testing.assert_allclose(data, [[700.0, 0.01], [710.0, 0.02]], rtol=1e-6)
    epoch_minus_lsl = time.time() - pylsl.local_clock()
    assert abs(ts[0] + tc + epoch_minus_lsl - (t0 + 2.5)) < 0.05
    assert abs(sts[1] - sts[0] - 0.01) < 1e-9
    with open_session(tmp_path / "m.h5") as f:
        assert [m["label"] for m in f.markers] == ["shoe B"]
