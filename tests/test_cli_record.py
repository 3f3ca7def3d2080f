"""``forcelab record`` as a user runs it: real subprocesses, real simulated devices, real files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from subprocesses import forcelab_env, killed_at_end, run_cli

from forcelab.store import open_session


def _record(*args, timeout=60):
    return run_cli("record", *args, timeout=timeout)


def _start(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "forcelab", "record", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=forcelab_env(),
    )


def _running(*args):
    """A recording subprocess, killed at the end if a test left it running."""
    return killed_at_end(_start(*args))


def _wait_for_samples(path, streams, n, proc, timeout_s=60.0):
    """Read the file while it is recorded (SWMR) until each of ``streams`` holds ``n`` samples
    (the streams of one recording are flushed together but need not hold the same count)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if os.path.exists(path):
            try:
                with open_session(path) as f:
                    if all(s in f.streams and f.stream_summary(s)["n_samples"] >= n
                           for s in streams):
                        return
            except Exception:  # the file is still being created; try again
                pass
        time.sleep(0.1)
    raise AssertionError(f"{path} never reached {n} samples of {', '.join(streams)}")


def test_records_insoles_with_trial_tags_and_live_figures(tmp_path):
    out = tmp_path / "ann.h5"
    r = _record(
        "--device", "sim:insoles?seed=7&asymmetry=-0.1", "--athlete", "Ann", "--body-mass", "61",
        "--duration", "6.5", "-o", str(out), "--trial", "easy run", "--tag", "baseline",
        "--tag", "shoe A",
    )
    assert r.returncode == 0, r.stderr
    assert "recording 6.5 s" in r.stdout
    assert "insole_left" in r.stdout and "stances" in r.stdout
    assert "mid-stance peak" in r.stdout  # live per-side figures after the detector warmed up
    with open_session(out) as f:
        assert f.athlete["name"] == "Ann" and f.athlete["body_mass_kg"] == pytest.approx(61)
        trial = f.trials[0]
        assert trial["name"] == "easy run" and trial["tags"] == ["baseline", "shoe A"]
        assert trial["duration_s"] >= 6.5  # a loaded machine may stop it a little later
        assert f.state["closed"]
        for side in ("left", "right"):
            data = f.read_stream(f"insole_{side}")
            # 100 Hz, none missing: as many samples as their device time span says, and the
            # trial is covered (up to what the driver still held when it ended)
            span_s = data.t_s[-1] - data.t_s[0]
            assert data.seq.size == data.seq[-1] - data.seq[0] + 1
            assert data.seq.size == pytest.approx(span_s * 100 + 1, abs=2)
            assert span_s >= trial["duration_s"] - 1.0


def test_ctrl_c_stops_cleanly_and_a_reader_sees_the_file_grow(tmp_path):
    out = tmp_path / "interrupted.h5"
    with _running("--device", "sim:insoles?seed=2", "--athlete", "Cy", "--duration", "120",
                  "-o", str(out), "--interval", "0.5") as proc:
        _wait_for_samples(out, ("insole_left", "insole_right"), 100, proc)
        # a second process reads the file while it is recorded and sees it grow
        reader = subprocess.run(
            [sys.executable, "-c",
             "import sys, time\n"
             "from forcelab.store import open_session\n"
             "f = open_session(sys.argv[1])\n"
             "a = b = f.stream_summary('insole_left')['n_samples']\n"
             "deadline = time.monotonic() + 30\n"
             "while b < a + 100 and time.monotonic() < deadline:\n"
             "    time.sleep(0.05); f.refresh()\n"
             "    b = f.stream_summary('insole_left')['n_samples']\n"
             "right = f.stream_summary('insole_right')['n_samples']\n"
             "print(a, b, right, f.state['recording'])\n", str(out)],
            capture_output=True, text=True, timeout=60,
        )
        assert reader.returncode == 0, reader.stderr
        a, b, right, live = reader.stdout.split()
        assert int(b) >= int(a) + 100 and live == "True"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "stopped by SIGINT" in stdout
    with open_session(out) as f:
        assert f.state["closed"]
        assert f.trials[0]["stop_s"] is not None
        # nothing a reader saw before the stop is lost by it
        assert f.stream_summary("insole_right")["n_samples"] >= int(right) >= 100


def test_kill_9_loses_at_most_one_second(tmp_path):
    out = tmp_path / "killed.h5"
    proc = _start("--device", "sim:treadmill?seed=3", "--athlete", "Di", "--duration", "120",
                  "-o", str(out), "--interval", "0")
    with killed_at_end(proc):
        _wait_for_samples(out, ("plate_left", "plate_right"), 3000, proc)
        t_kill = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    with open_session(out) as f:
        assert not f.state["closed"]
        for name in ("plate_left", "plate_right"):
            data = f.read_stream(name)
            assert data.seq.size >= 3000
            assert np.all(np.diff(data.seq) >= 1)
            last_sample_s = f.t0_unix_s + data.t_s[-1]
            # the driver's own latency (a few frames) + the writer's flush period <= 1 s
            assert t_kill - last_sample_s <= 1.0, t_kill - last_sample_s


def test_unplug_during_recording_keeps_recording_the_rest_and_exits_1(tmp_path):
    out = tmp_path / "unplug.h5"
    r = _record(
        "--device", "sim:insoles?seed=4&faults=unplug:2.5&fault_side=left",
        "--athlete", "Gus", "--duration", "5", "-o", str(out), "--interval", "0",
    )
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "error: insole_left" in r.stdout  # reported when it happened
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("forcelab record: error during recording: insole_left")
    with open_session(out) as f:
        assert f.state["closed"]
        assert any(e["kind"] == "connection_lost" for e in f.events)
        left = f.stream_summary("insole_left")["n_samples"]
        right = f.stream_summary("insole_right")["n_samples"]
        assert 20 <= left < right - 100  # the right foot went on being recorded


def test_weighing_a_running_athlete_is_refused_before_anything_is_recorded(tmp_path):
    out = tmp_path / "weigh.h5"
    r = _record("--device", "sim:insoles?seed=5", "--athlete", "Hal", "--weigh", "1",
                "--duration", "2", "-o", str(out))
    assert r.returncode == 2
    assert "moved during weighing" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
    r = _record("--device", "sim:insoles", "--athlete", "Hal", "--weigh", "1",
                "--body-mass", "70", "--duration", "2", "-o", str(out))
    assert r.returncode == 2 and "either --body-mass or --weigh" in r.stderr


def test_sighup_closes_the_file_cleanly(tmp_path):
    """A closed terminal (SIGHUP) stops the recording like Ctrl-C: the file is finalised."""
    out = tmp_path / "hangup.h5"
    with _running("--device", "sim:insoles?seed=4", "--athlete", "Di", "--duration", "120",
                  "-o", str(out), "--interval", "0") as proc:
        _wait_for_samples(out, ("insole_left", "insole_right"), 100, proc)
        proc.send_signal(signal.SIGHUP)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "stopped by SIG" in stdout
    with open_session(out) as f:
        assert f.state["closed"] and f.state["close_reason"] == "normal"
        assert f.trials[0]["stop_s"] is not None
