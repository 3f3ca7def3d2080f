"""The end of a recording: samples a plate sent before its STOP reply are recorded or counted.

An FPB1 plate's STOP reply carries the sequence number of the last sample it sent. The recorder
stops such devices at the end of a recording: frames a stalled link held back still reach the file,
and samples that never came are a gap at the end with its length, in the file and the summary.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from acquisition_helpers import recorded, wait_until
from forcelab.drivers.protocols import fpb1

from forcelab.acquisition import SessionController, State
from forcelab.store import open_session

ATHLETE = {"name": "Eve", "body_mass_kg": 58.0}


def _record_until_stop(tmp_path, sim_setup, seed, lose_tail):
    setup = sim_setup("plate", seed=seed)
    (sim,) = setup.simulators
    stop_replies = []  # last_seq of each STOP the plate answered
    reply = sim.reply

    def replied(cmd, token, status, body=b""):
        if cmd == fpb1.STOP and status == fpb1.STATUS_OK:
            stop_replies.append(struct.unpack("<I", body)[0])
        reply(cmd, token, status, body)

    sim.reply = replied
    on_bytes, commands = sim.on_command_bytes, fpb1.FPB1Codec()

    def command(data):  # the link stalls (and loses frames) until the STOP arrives
        stop = any(f.type == fpb1.STOP for f in commands.feed(data))
        if stop and sim._stall_until == float("inf"):
            sim._stall_until = sim.model_time_s() + 0.2
            sim.faults.spec.drop = 0.0  # the link is good again for the restart
        on_bytes(data)

    sim.on_command_bytes = command
    ctl = SessionController()
    path = tmp_path / f"stop-{seed}.h5"
    try:
        (name,) = ctl.connect(setup.urls)
        ctl.start_recording(path, athlete=ATHLETE)
        wait_until(lambda: recorded(ctl, name) >= 500, what="0.5 s recorded")
        with sim._lock:
            k_stall = sim.k
            if lose_tail:
                sim.faults.spec.drop = 1.0  # from here on every frame is lost on the link
            sim._stall_until = float("inf")  # and the link stalls (until the STOP)
        wait_until(lambda: sim.k >= k_stall + 200 and (lose_tail or len(sim._held) >= 20),
                   what="0.2 s of samples sent into the stall")
        summary = ctl.stop_recording()
        (last_seq,) = stop_replies
        # the plate streams again for the live view once the file is closed
        n_live = ctl.snapshot().devices[0].samples
        wait_until(lambda: ctl.snapshot().devices[0].samples >= n_live + 200,
                   what="streaming after the recording")
        assert ctl.state == State.STOPPED
    finally:
        ctl.close()
    return path, name, summary["streams"][name], sim, k_stall, last_seq + 1


def test_frames_held_in_a_stall_at_the_stop_reach_the_file(tmp_path, sim_setup):
    path, name, s, sim, k_stall, k_at_stop = _record_until_stop(tmp_path, sim_setup, 41, False)
    with open_session(path) as f:
        data = f.read_stream(name)
        # every sample the plate took until its STOP reply is in the file, none missing
        assert data.seq[-1] == k_at_stop - 1 and k_at_stop >= k_stall + 200
        np.testing.assert_array_equal(data.seq, np.arange(data.seq[0], k_at_stop))
        assert data.gaps.size == 0 and f.stream_summary(name)["samples_missing"] == 0
    assert s["samples_recorded"] == data.seq.size and s["dropped_samples"] == 0


def test_samples_that_never_came_before_the_stop_are_a_gap_at_the_end(tmp_path, sim_setup):
    path, name, s, sim, k_stall, k_at_stop = _record_until_stop(tmp_path, sim_setup, 42, True)
    lost = sum(r.n for r in sim.faults.records("drop"))
    assert lost >= 200
    with open_session(path) as f:
        data = f.read_stream(name)
        assert data.seq[-1] == k_stall - 1  # what came before the link lost every frame
        (gap,) = data.gaps
        assert gap["row"] == data.seq.size and gap["seq_start"] == k_stall
        assert gap["n_missing"] == lost == k_at_stop - k_stall
        assert gap["t_s"] == pytest.approx(data.t_s[-1] + 1 / data.rate_hz, abs=1e-6)
        assert f.stream_summary(name)["samples_missing"] == lost
    assert s["dropped_samples"] == lost and s["samples_recorded"] == data.seq.size
