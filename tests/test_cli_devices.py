"""``forcelab devices`` and ``forcelab simulate`` as users run them (real subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from subprocesses import run_cli


@pytest.fixture
def simulate():
    procs: list[subprocess.Popen] = []

    def _start(*args: str) -> tuple[subprocess.Popen, list[str]]:
        p = subprocess.Popen([sys.executable, "-m", "forcelab", "simulate", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(p)
        urls = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            if line.strip().startswith(("fpb1:", "ins1:", "csv4:")):
                urls.append(line.strip())
            if "Ctrl-C" in line:
                return p, urls
        p.kill()
        raise AssertionError(f"simulate did not start: {p.stderr.read()}")

    yield _start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)
        for f in (p.stdout, p.stderr):
            f.close()


def test_simulate_lists_ports_that_devices_and_drivers_see_and_stops_on_ctrl_c(simulate):
    from forcelab.drivers import open_devices

    proc, urls = simulate("treadmill", "--seed", "21", "--speed", "3.2")
    assert len(urls) == 2 and urls[0].endswith("?side=left") and urls[1].endswith("?side=right")
    paths = [u[len("fpb1://"):].split("?")[0] for u in urls]
    assert all(os.path.islink(p) for p in paths)
    r = run_cli("devices", "--json")
    assert r.returncode == 0, r.stderr
    listed = {d["device"]: d for d in json.loads(r.stdout)}
    for p in paths:
        assert listed[p]["simulated"] is True
        assert listed[p]["serial_number"].startswith("FP0021")
        assert "VID:PID=1209:F0CE" in listed[p]["hwid"]
    probed = run_cli("devices", "--json", "--probe", paths[0])
    assert probed.returncode == 0, probed.stderr
    info = {d["device"]: d for d in json.loads(probed.stdout)}[paths[0]]["probe"]
    assert info == {"protocol": "FPB1", "model": "FPB1-SIM",
                    "serial": listed[paths[0]]["serial_number"], "firmware": "1.2.0"}
    table = run_cli("devices")
    assert table.returncode == 0 and paths[0] in table.stdout and "1209:F0CE" in table.stdout
    # the printed device string opens the plate with the real driver in another process
    (dev,) = open_devices(urls[0])
    try:
        assert dev.info.side == "left" and dev.info.serial == listed[paths[0]]["serial_number"]
        dev.start()
        n, deadline = 0, time.monotonic() + 20
        while n < 100:  # it streams (a hang guard, not a rate check)
            assert time.monotonic() < deadline, f"only {n} samples"
            n += sum(b.n for b in dev.read(0.05))
        dev.stop()
    finally:
        dev.close()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "simulation stopped" in out and "Traceback" not in err
    # the ports are gone (another program may since have started one under the same name)
    for p in paths:
        rec = p + ".json"
        if os.path.exists(rec):
            with open(rec) as fh:
                assert json.load(fh)["owner_pid"] != proc.pid


def test_simulate_duration_ends_by_itself():
    r = run_cli("simulate", "plate", "--duration", "0.5", "--seed", "2", timeout=30)
    assert r.returncode == 0, r.stderr
    assert "fpb1://" in r.stdout and "simulation stopped" in r.stdout


@pytest.mark.parametrize("args, match", [
    (("simulate", "moon"), "unknown simulated setup 'moon'"),
    (("simulate", "plate", "-o", "bogus=1"), "unknown option(s) bogus"),
    (("simulate", "plate", "-o", "cadence"), "KEY=VALUE"),
    (("simulate", "plate", "--faults", "flip:1"), "unknown fault 'flip'"),
    (("simulate", "treadmill", "--speed", "-3"), "speed_m_s"),
    (("simulate", "plate", "--duration", "-1"), "--duration"),
])
def test_bad_simulate_input_is_one_clear_line(args, match):
    r = run_cli(*args)
    assert r.returncode == 2
    assert match in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_devices_runs_without_any_device():
    r = run_cli("devices", "--all")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
