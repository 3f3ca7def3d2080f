"""Failures during recording: unplug, replug, full disk, a writer that falls behind.

Everything recorded before a failure stays in the file, the controller shows the error (state,
snapshot, event queue) and the file records the event.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from acquisition_helpers import recorded, wait_until
from forcelab.drivers.protocols import ins1 as wire

from forcelab.acquisition import SessionController, State, StateError
from forcelab.store import SessionWriter, open_session

ATHLETE = {"name": "Eve", "body_mass_kg": 58.0}


def test_unplug_mid_trial_keeps_everything_before_and_records_the_event(
    tmp_path, insoles, controller
):
    setup = insoles(seed=8, faults="unplug:2.0", fault_side="left")
    controller.connect(setup.urls)
    path = tmp_path / "unplug.h5"
    controller.start_recording(path, athlete=ATHLETE)
    controller.start_trial("intervals")
    wait_until(lambda: controller.state == State.ERROR, what="the unplug to be reported")
    snap = controller.snapshot()
    assert "insole_left" in snap.error
    left = {d.name: d for d in snap.devices}["insole_left"]
    assert left.state == "lost"
    events = controller.poll_events()
    lost = [e for e in events if e.kind == "connection_lost"]
    assert len(lost) == 1 and lost[0].severity == "error" and lost[0].stream == "insole_left"
    # the right insole is still recorded while the operator decides
    n_right = recorded(controller, "insole_right")
    wait_until(lambda: recorded(controller, "insole_right") > n_right + 50, what="right data")
    with pytest.raises(Exception, match="error"):
        controller.start_trial("next")  # not while in error
    summary = controller.stop_recording()
    assert controller.state == State.STOPPED
    assert "insole_left" in summary["error"]
    controller.disconnect()
    with open_session(path) as f:
        kinds = {(e["stream"], e["kind"]) for e in f.events}
        assert ("insole_left", "connection_lost") in kinds
        assert f.trials[0]["stop_s"] is not None
        data = f.read_stream("insole_left")
        sent = setup.simulators[0].sent
        # everything received before the unplug is in the file: every sample the simulator
        # sent since recording started, except what was still on its way when the cable went
        # (what the simulator had sent but the driver not yet read, as with a real USB unplug)
        since = sent["seq"][sent["seq"] >= data.seq[0]]
        np.testing.assert_array_equal(data.seq, since[: data.seq.size])
        unplug = setup.simulators[0].faults.records("unplug")[0]
        in_flight = unplug.detail["bytes_in_flight"] // (wire.FRAME_OVERHEAD + wire.SAMPLE_SIZE)
        assert since.size - data.seq.size <= in_flight + 1
        assert data.seq.size == summary["streams"]["insole_left"]["samples_recorded"]
        assert f.state["closed"]


def test_devices_unplugged_until_the_stop_leave_a_gap_with_its_length(
    tmp_path, insoles, controller
):
    """Both insoles are unplugged and never come back: the file says how long each was gone
    (one gap from its last sample to the stop), and the summary counts it as missing."""
    setup = insoles(seed=12, faults="unplug:1.0")
    controller.connect(setup.urls)
    path = tmp_path / "all_lost.h5"
    controller.start_recording(path, athlete=ATHLETE)
    controller.start_trial("lost")
    wait_until(
        lambda: all(d.state == "lost" for d in controller.snapshot().devices),
        what="both insoles to be lost",
    )
    lost_at = time.time()
    wait_until(lambda: time.time() - lost_at >= 1.0, what="a second without devices")
    summary = controller.stop_recording()
    controller.disconnect()
    with open_session(path) as f:
        t_stop_s = f.trials[0]["stop_s"]
        for name in ("insole_left", "insole_right"):
            data = f.read_stream(name)
            s = summary["streams"][name]
            assert data.seq.size == s["samples_recorded"] > 0
            (gap,) = data.gaps[data.gaps["row"] == data.seq.size]  # after the last sample
            assert gap["seq_start"] == data.seq[-1] + 1
            # the gap starts one period after the last sample and lasts until the stop
            assert gap["t_s"] == pytest.approx(data.t_s[-1] + 1 / data.rate_hz, abs=1e-6)
            end_s = gap["t_s"] + gap["n_missing"] / data.rate_hz
            assert t_stop_s - 0.02 <= end_s <= t_stop_s + 5.0
            assert gap["n_missing"] >= 100  # at least the second waited for, at 100 Hz
            assert int(data.gaps["n_missing"].sum()) == s["dropped_samples"]
            assert f.stream_summary(name)["samples_missing"] == s["dropped_samples"]


def test_replug_resumes_recording_with_an_explicit_gap(tmp_path, insoles, controller):
    setup = insoles(seed=9, faults="unplug:1.5,replug:1.0", fault_side="right")
    controller.connect(setup.urls)
    path = tmp_path / "replug.h5"
    controller.start_recording(path, athlete=ATHLETE)
    wait_until(lambda: controller.state == State.ERROR, what="the unplug")
    wait_until(lambda: controller.state == State.RECORDING, what="the replug", timeout_s=30)
    assert controller.snapshot().error is None
    n = recorded(controller, "insole_right")
    wait_until(lambda: recorded(controller, "insole_right") > n + 50, what="data after replug")
    controller.stop_recording()
    kinds = [e.kind for e in controller.poll_events()]
    assert kinds.index("connection_lost") < kinds.index("reconnected")
    controller.disconnect()
    with open_session(path) as f:
        data = f.read_stream("insole_right")
        assert np.all(np.diff(data.t_s) > 0)
        assert data.t_s[-1] - data.t_s[0] > 2.5
        # the time the foot was unplugged is a gap (~1 s at 100 Hz), not invented samples
        assert int(data.gaps["n_missing"].sum()) >= 50
        assert {"connection_lost", "reconnected"} <= {e["kind"] for e in f.events}


@pytest.fixture
def small_disk(tmp_path):
    """A real size-limited file system (tmpfs, 48 MB) that the test can fill."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill_disk(folder, leave_bytes):
    """Fill the file system of ``folder`` until only ``leave_bytes`` are free (another program
    filling the disk)."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    chunk = b"\0" * (1 << 20)
    with open(os.path.join(folder, "filler.bin"), "wb") as fh:
        todo = max(0, free - leave_bytes)
        try:
            while todo > 0:
                todo -= fh.write(chunk[: min(len(chunk), todo)])
        except OSError:
            pass  # the disk is full


_FULL_DISK_SCRIPT = """
import json, os, sys
from forcelab.acquisition import SessionController, State, StateError
from forcelab.drivers.protocols import ins1 as wire
from forcelab.store import SessionWriter
sys.path.insert(0, sys.argv[3])
from acquisition_helpers import recorded, wait_until
from test_failures import fill_disk

folder, margin = sys.argv[1], int(sys.argv[2])
factory = lambda path, **kw: SessionWriter.create(path, min_free_bytes=margin, **kw)
ctl = SessionController(session_writer_factory=factory)
try:
    ctl.connect(["sim:insoles?seed=10"])
    ctl.start_recording(os.path.join(folder, "full.h5"), athlete={"name": "Eve"})
    wait_until(lambda: recorded(ctl, "insole_left") >= 100, what="1 s of data")
    ctl.sync_file()  # what was recorded so far is written and flushed
    fill_disk(folder, (1 << 20) if margin else 0)
    wait_until(lambda: ctl.state == State.ERROR, what="the full disk to be reported")
    print("ERROR:", ctl.snapshot().error)
    print("EVENTS:", [e.kind for e in ctl.poll_events()])
    n_queued = recorded(ctl, "insole_left")  # the devices go on; the file cannot take more
    wait_until(lambda: recorded(ctl, "insole_left") >= n_queued + 20, what="samples after it")
    summary = ctl.stop_recording()
    print("SUMMARY:", summary["error"])
    print("STREAMS:", json.dumps(summary["streams"]))
finally:
    ctl.close()
"""


@pytest.mark.parametrize(
    "margin_bytes",
    [16 << 20, 0],
    ids=["stops_at_low_space_margin", "real_enospc_from_the_os"],
)
def test_full_disk_gives_a_clear_error_and_a_readable_file(small_disk, margin_bytes):
    """A recording process on a small real file system that another program fills up.

    With the store's free-space margin the writer stops cleanly before the disk is full; with no
    margin a real write fails with ENOSPC from the operating system. The recorder runs in its own
    process, as in the lab, so a crash of the HDF5 library would fail this test, not the suite.
    """
    here = os.path.dirname(__file__)
    r = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_SCRIPT, str(small_disk), str(margin_bytes), here],
        capture_output=True, text=True, timeout=90,
    )
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr[-2000:])
    error = r.stdout.split("ERROR:")[1].splitlines()[0]
    assert "writing the session file failed" in error
    assert "disk" in error.lower()
    assert "writer_error" in r.stdout.split("EVENTS:")[1].splitlines()[0]
    os.remove(small_disk / "filler.bin")
    streams = json.loads(r.stdout.split("STREAMS:")[1].splitlines()[0])
    with open_session(small_disk / "full.h5") as f:
        data = f.read_stream("insole_left")
        assert data.seq.size >= 100  # what was flushed before the disk filled up
        assert np.all(np.diff(data.seq) >= 1)
        assert f.state["closed"] and f.state["close_reason"] == "disk_full"
        for name, s in streams.items():
            # the summary counts what reached the file, and what never did as unwritten
            assert s["samples_recorded"] == f.read_stream(name).seq.size
            assert s["samples_unwritten"] > 0


class _SlowDisk:
    """A real SessionWriter on a disk that stalls once for ``stall_s`` (slow network share)."""

    def __init__(self, writer, stall_s):
        self._w = writer
        self._stall_s = stall_s

    def append(self, name, block):
        if self._stall_s and self._w.n_samples(name) > 500:
            time.sleep(self._stall_s)
            self._stall_s = 0
        self._w.append(name, block)

    def __getattr__(self, name):
        return getattr(self._w, name)


def test_a_stalled_writer_never_blocks_acquisition_and_overflow_becomes_a_gap(
    tmp_path, sim_setup
):
    setup = sim_setup("treadmill", seed=11)
    ctl = SessionController(
        writer_buffer_s=0.3,
        session_writer_factory=lambda p, **kw: _SlowDisk(SessionWriter.create(p, **kw), 1.5),
    )
    try:
        ctl.connect(setup.urls)
        path = tmp_path / "slow.h5"
        ctl.start_recording(path, athlete=ATHLETE)
        wait_until(
            lambda: min(d.overflow_writer_samples for d in ctl.snapshot().devices) > 0,
            what="the writer queue to overflow",
        )
        n_read = {d.name: d.samples for d in ctl.snapshot().devices}
        wait_until(lambda: min(recorded(ctl, n) for n in n_read) >= 2500, what="2.5 s recorded")
        summary = ctl.stop_recording()
        assert any(e.kind == "overflow" for e in ctl.poll_events())
    finally:
        ctl.close()
    with open_session(path) as f:
        for name, s in summary["streams"].items():
            data = f.read_stream(name)
            assert data.seq.size == s["samples_recorded"]
            missing = int(data.seq[-1] - data.seq[0] + 1 - data.seq.size)
            assert missing == s["overflow_writer_samples"] + s["dropped_samples"]
            assert int(data.gaps["n_missing"].sum()) == missing
            assert s["overflow_writer_samples"] > 0


def test_injected_enospc_on_every_hdf5_write_mid_recording(tmp_path, insoles, monkeypatch):
    """The store's injection: from some moment on, every HDF5 write raises ENOSPC."""
    import errno

    import h5py

    setup = insoles(seed=14)
    ctl = SessionController()
    path = tmp_path / "enospc.h5"
    try:
        ctl.connect(setup.urls)
        ctl.start_recording(path, athlete=ATHLETE)
        wait_until(lambda: recorded(ctl, "insole_left") >= 100, what="1 s of data")
        ctl.sync_file()  # what was recorded so far is written and flushed

        def no_space(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        with monkeypatch.context() as m:
            for cls, name in ((h5py.Dataset, "__setitem__"), (h5py.Dataset, "resize"),
                              (h5py.File, "flush")):
                m.setattr(cls, name, no_space)
            wait_until(lambda: ctl.state == State.ERROR, what="the write error to be reported")
        assert "disk is full" in ctl.snapshot().error or "No space" in ctl.snapshot().error
        n_acquired = recorded(ctl, "insole_left")
        assert ctl.stop_recording()["error"]
    finally:
        ctl.close()
    with open_session(path) as f:
        data = f.read_stream("insole_left")
        assert 100 <= data.seq.size <= n_acquired
        np.testing.assert_array_equal(data.seq, np.arange(data.seq[0], data.seq[0] + data.seq.size))


def test_start_is_refused_while_every_device_is_lost(tmp_path, insoles, controller):
    """No session file with nothing in it: with every device unplugged, Start says why."""
    setup = insoles(seed=13, faults="unplug:0.5")
    controller.connect(setup.urls)
    wait_until(
        lambda: all(d.state == "lost" for d in controller.snapshot().devices),
        what="both insoles to be lost",
    )
    path = tmp_path / "never.h5"
    with pytest.raises(StateError, match="insole_(left|right).*stop or disconnect"):
        controller.start_recording(path, athlete=ATHLETE)
    assert not path.exists()
