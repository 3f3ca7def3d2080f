"""A session file survives kill -9 and can be read by another process while it is recorded.

The recorder stand-in (writer_process.py) is a real subprocess writing real HDF5 in SWMR mode.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from raw_plate import raw_samples
from store_helpers import values
from subprocesses import killed_at_end

from forcelab.store import (
    check_session,
    open_session,
    read_recording,
    recover_session,
    write_analysis,
)

HERE = Path(__file__).resolve().parent
RATE_HZ = 1000.0


def start_writer(path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HERE / "writer_process.py"), str(path), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_appended(proc: subprocess.Popen, n: int, timeout_s: float = 60.0) -> int:
    """Read the writer's progress lines until it appended at least n samples."""
    deadline = time.monotonic() + timeout_s
    last = 0
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"writer ended early: {proc.stderr.read()}")
        if line.startswith("appended "):
            last = int(line.split()[1])
            if last >= n:
                return last
    raise AssertionError(f"writer appended only {last} samples")


def last_appended(lines: str, default: int) -> int:
    nums = [int(x.split()[1]) for x in lines.splitlines() if x.startswith("appended ")]
    return nums[-1] if nums else default


def assert_prefix_intact(path: Path, raw: bool = False) -> int:
    """Every stored sample is one the writer sent, in order, from seq 0; returns how many."""
    with open_session(path) as sf:
        data = sf.read_stream("plate")
    n = data.samples.shape[0]
    np.testing.assert_array_equal(data.seq, np.arange(n))
    expected = raw_samples(np.arange(n)).astype(np.float32) if raw else values(np.arange(n), 9)
    np.testing.assert_array_equal(data.samples, expected)
    return n


@pytest.mark.parametrize("raw", [False, True], ids=["float-samples", "raw-counts"])
def test_kill_9_while_recording_loses_at_most_one_second(tmp_path, raw):
    path = tmp_path / "killed.h5"
    proc = start_writer(path, "--seconds", "60", *(["--raw"] if raw else []))
    with killed_at_end(proc):
        wait_appended(proc, int(2.5 * RATE_HZ))
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
    sent = last_appended(rest, int(2.5 * RATE_HZ))
    stored = assert_prefix_intact(path, raw)
    assert sent - stored <= RATE_HZ, f"lost {sent - stored} samples (> 1 s) of {sent}"
    assert stored >= RATE_HZ  # the first flushes happened

    report = check_session(path)
    assert report["status"] == "incomplete" and report["exit_code"] == 1
    assert report["closed_cleanly"] is False
    assert report["running_trials"] == ["run"]
    assert report["streams"]["plate"]["readable_samples"] == stored
    # a crashed file reads as a Recording (trial extends to the end of the data)
    rec = read_recording(path, trial="run")
    assert rec.streams[0].n_samples > 0 and np.isfinite(rec.streams[0].fz).all()
    # results cannot be written into it, but into its rescued copy
    with pytest.raises(Exception, match="not closed cleanly"):
        write_analysis(path, {"stances": []}, {})
    reserve = tmp_path / "killed.h5.reserve"  # the killed writer could not remove its reserve
    assert reserve.exists() and "reserve" in " ".join(report["problems"])
    fixed = tmp_path / "fixed.h5"
    recover_session(path, fixed)
    assert not reserve.exists()
    after = check_session(fixed)
    assert after["status"] == "ok", after["problems"]
    assert after["streams"]["plate"]["n_samples"] == stored
    with open_session(fixed) as sf:
        (trial,) = sf.trials
        assert trial["stop_s"] is not None  # the trial left running is closed at the data end
    write_analysis(fixed, {"stances": [{"side": "left", "peak_force_n": 1.0}]}, {"m": 1})


def test_concurrent_reader_sees_growing_data(tmp_path):
    path = tmp_path / "live.h5"
    proc = start_writer(path, "--seconds", "60")
    reader_code = (
        "import sys, time, json\n"
        "from forcelab.store import open_session\n"
        "sf = open_session(sys.argv[1])\n"
        "counts = []\n"
        "for _ in range(3):\n"
        "    sf.refresh()\n"
        "    counts.append(sf.stream_summary('plate')['n_samples'])\n"
        "    time.sleep(0.5)\n"
        "print(json.dumps({'counts': counts, 'recording': sf.state['recording'],\n"
        "                  'trials': [t['name'] for t in sf.trials]}))\n"
        "sf.close()\n"
    )
    with killed_at_end(proc):
        wait_appended(proc, int(1.0 * RATE_HZ))
        reader = subprocess.run([sys.executable, "-c", reader_code, str(path)],
                                capture_output=True, text=True, timeout=60)
        assert reader.returncode == 0, reader.stderr
        seen = json.loads(reader.stdout)
        info = subprocess.run([sys.executable, "-m", "forcelab", "info", str(path), "--json"],
                              capture_output=True, text=True, timeout=60)
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["state"]["recording"] is True
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the writer closes the file cleanly
        out, err = proc.communicate(timeout=30)
    counts = seen["counts"]
    assert all(b > a for a, b in zip(counts, counts[1:], strict=False)), counts
    assert seen["recording"] is True and seen["trials"] == ["run"]
    assert "closed" in out, err
    stored = assert_prefix_intact(path)
    assert stored >= counts[-1]
    assert check_session(path)["status"] == "ok"
    assert not (tmp_path / "live.h5.reserve").exists()
