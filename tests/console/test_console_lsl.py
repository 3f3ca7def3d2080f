"""The console's "Publish on Lab Streaming Layer" checkbox: a real window (offscreen) records the
simulated treadmill while an outside pylsl inlet (this test) takes the published samples."""

from __future__ import annotations

import json
import time

import numpy as np
from pylsl.util import LostError
from PyQt5.QtCore import Qt

from forcelab.acquisition import lsl_outlet
from forcelab.store import open_session


def test_checkbox_publishes_the_recording_over_lsl(qtbot, console, monkeypatch,
                                                   lsl_inlet_of_session):
    writers = []  # the session writers the console makes: their outlets carry the session uuid
    real_factory = lsl_outlet.outlet_writer_factory

    def factory(*args, **kwargs):
        make = real_factory(*args, **kwargs)

        def made(path, **kw):
            writers.append(make(path, **kw))
            return writers[-1]

        return made

    monkeypatch.setattr(lsl_outlet, "outlet_writer_factory", factory)
    console.device_combo.setCurrentText("sim:treadmill?seed=21")
    qtbot.mouseClick(console.connect_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: console.backend.is_connected and not console.jobs.busy,
                    timeout=30_000)
    assert not console.backend.publish_lsl
    console.lsl_check.setChecked(True)
    assert console.backend.publish_lsl
    qtbot.keyClick(console, Qt.Key_F5)
    qtbot.waitUntil(lambda: console.backend.is_recording and not console.jobs.busy,
                    timeout=15_000)
    (writer,) = writers
    inlets = {name: lsl_inlet_of_session(name, writer.outlet.session_uuid)[0]
              for name in ("forcelab-plate_left", "forcelab-markers")}
    for inlet in inlets.values():
        inlet.open_stream(timeout=10)
    got = {k: [] for k in inlets}
    live = set(inlets)

    def pull() -> None:
        for key in list(live):
            try:
                data, _ = inlets[key].pull_chunk(timeout=0.0, max_samples=8192)
            except LostError:  # the recording ended and its outlets went
                live.discard(key)
                continue
            got[key] += data

    # stance markers arrive once the live analyser has seen a few steps
    deadline = time.monotonic() + 60
    while not any(json.loads(m[0])["event"] == "stance" for m in got["forcelab-markers"]):
        assert time.monotonic() < deadline
        qtbot.wait(100)
        pull()
    qtbot.keyClick(console, Qt.Key_F9)  # an operator marker
    deadline = time.monotonic() + 30
    while not any(json.loads(m[0])["event"] == "marker" for m in got["forcelab-markers"]):
        assert time.monotonic() < deadline
        qtbot.wait(100)
        pull()
    path = console.backend.session_path
    console.last_summary = ""
    qtbot.mouseClick(console.record_button, Qt.LeftButton)  # stop the trial
    qtbot.waitUntil(lambda: bool(console.last_summary), timeout=60_000)
    qtbot.waitUntil(lambda: not console.jobs.busy, timeout=60_000)
    console.new_session()  # finalise the session file: its outlets go (after their linger)
    deadline = time.monotonic() + 60
    while live:  # pull until the outlets are withdrawn, so the last samples arrive too
        assert time.monotonic() < deadline
        qtbot.wait(50)
        pull()
    with open_session(path) as f:
        stored = np.asarray(f.read_stream("plate_left").samples, dtype=np.float32)
    received = np.asarray(got["forcelab-plate_left"], dtype=np.float32)
    assert received.shape[0] > 1000
    np.testing.assert_array_equal(received, stored[stored.shape[0] - received.shape[0]:])
