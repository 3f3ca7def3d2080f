"""``forcelab simulate`` as users run it: the insole pair string and ``--stand``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from driver_helpers import wait_until
from forcelab.drivers import open_devices


def _start(*args: str) -> tuple[subprocess.Popen, list[str]]:
    p = subprocess.Popen([sys.executable, "-m", "forcelab", "simulate", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if "Ctrl-C" in line:
            return p, lines
    p.kill()
    out, err = p.communicate(timeout=10)
    raise AssertionError(f"simulate did not start: {lines} {err}")


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()  # never leave the simulator running after the test
        p.communicate()
        raise
    assert p.returncode == 0 and "Traceback" not in err, err


def test_insoles_print_the_pair_string_that_opens_both_feet():
    p, lines = _start("insoles", "--seed", "41", "--stand", "3", "--mass", "66")
    try:
        feet = [ln for ln in lines if ln.startswith("ins1://")]
        pair = [ln.split(": ", 1)[1] for ln in lines if ln.startswith("both feet in one string")]
        assert len(feet) == 2 and len(pair) == 1
        assert pair[0] == "ins1://" + ",".join(u[len("ins1://"):] for u in feet)
        assert any("stands still until" in ln for ln in lines)
        devices = open_devices(pair[0])
        try:
            assert sorted(d.info.side for d in devices) == ["left", "right"]
            # both feet stream through the one string
            for d in devices:
                d.start()
            got = {d.info.side: 0 for d in devices}

            def both_feet_streamed() -> bool:
                for d in devices:
                    got[d.info.side] += sum(b.n for b in d.read(0.05))
                return min(got.values()) > 10

            wait_until(both_feet_streamed, 10.0, f"samples of both feet (so far {got})")
        finally:
            for d in devices:
                d.close()
    finally:
        _stop(p)


def test_plates_print_no_pair_string():
    r = subprocess.run([sys.executable, "-m", "forcelab", "simulate", "treadmill", "--duration",
                        "0.3", "--seed", "42"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "fpb1://" in r.stdout and "both feet in one string" not in r.stdout
    assert "stands still" not in r.stdout


@pytest.mark.parametrize("value, match", [("0.1", "stand_s"), ("-2", "stand_s"),
                                          ("x", "invalid float value")])
def test_bad_stand_is_one_clear_line(value, match):
    r = subprocess.run([sys.executable, "-m", "forcelab", "simulate", "plate", "--stand", value,
                        "--duration", "0.2"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert match in r.stderr and "Traceback" not in r.stderr
