"""Simulated serial ports: raw ptys, stable names, discovery records, unplug and replug."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time

import pytest
import serial
from forcelab.drivers.sim.pty import SimPort, free_name, list_sim_ports


@pytest.fixture
def port():
    p = SimPort(free_name("test-pty"), description="test port", serial_number="SN-PTY-1").open()
    yield p
    p.close()


def _read_exactly(ser: serial.Serial, n: int, timeout_s: float = 2.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        out += ser.read(n - len(out))
    return out


def test_all_byte_values_pass_unchanged_both_ways(port):
    data = bytes(range(256)) * 4  # includes \r, \n, ^C, ^D, ^S, ^Q, 0xFF
    with serial.Serial(port.device, 921600, timeout=0.2) as ser:
        assert port.write(data)
        assert _read_exactly(ser, len(data)) == data
        ser.write(data)
        got = b""
        deadline = time.monotonic() + 2.0
        while len(got) < len(data) and time.monotonic() < deadline:
            got += port.read()
            time.sleep(0.005)
        assert got == data


def test_symlink_and_discovery_record(port):
    assert os.path.islink(port.device)
    assert os.path.realpath(port.device) == port.slave_path
    recs = {r["device"]: r for r in list_sim_ports()}
    rec = recs[port.device]
    assert rec["serial_number"] == "SN-PTY-1"
    assert rec["hwid"] == "USB VID:PID=1209:F0CE SER=SN-PTY-1"
    assert rec["description"] == "test port"


def test_name_clash_is_refused(port):
    with pytest.raises(FileExistsError, match="already running"):
        SimPort(port.name).open()
    assert free_name(port.name) != port.name


def test_unplug_makes_pyserial_fail_and_replug_restores(port):
    ser = serial.Serial(port.device, 921600, timeout=0.2)
    try:
        port.unplug()
        assert not os.path.exists(port.device)
        assert port.device not in {r["device"] for r in list_sim_ports()}
        with pytest.raises(OSError) as exc:
            # in_waiting raises a bare OSError (EIO) after the unplug...
            ser.in_waiting  # noqa: B018
        assert exc.value.errno == errno.EIO or isinstance(exc.value, serial.SerialException)
        # ...and read raises SerialException
        with pytest.raises(serial.SerialException):
            ser.read(10)
    finally:
        ser.close()
    port.replug()
    assert os.path.islink(port.device)
    with serial.Serial(port.device, 921600, timeout=0.2) as ser2:
        assert port.write(b"back")
        assert _read_exactly(ser2, 4) == b"back"


def test_a_name_is_taken_before_its_record_is_written(port):
    """Two processes sharing the sim folder (test workers, two ``forcelab sim``) may look for a
    free name at the same moment: the name is claimed atomically (a lock the owner holds), not
    by the record written afterwards, so the other process sees it taken even without one."""
    os.unlink(port.device + ".json")  # the moment between the claim and the record
    code = (
        "import sys\n"
        "from forcelab.drivers.sim.pty import SimPort, free_name, name_in_use\n"
        f"name = {port.name!r}\n"
        "assert name_in_use(name) and free_name(name) != name\n"
        "try:\n"
        "    SimPort(name).open()\n"
        "except FileExistsError:\n"
        "    sys.exit(0)\n"
        "sys.exit(3)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert os.path.realpath(port.device) == port.slave_path  # not taken over


def test_a_closed_port_frees_its_name_for_other_processes():
    p = SimPort(free_name("test-free")).open()
    p.close()
    code = (f"from forcelab.drivers.sim.pty import SimPort\n"
            f"SimPort({p.name!r}).open().close()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_poll_opened_sees_a_driver_open(port):
    assert port.poll_opened() is False
    with serial.Serial(port.device, 115200, timeout=0.1):
        assert port.poll_opened() is True
        assert port.poll_opened() is False


def test_unread_bytes_count_what_the_kernel_has_not_delivered_yet(port):
    """What an unplug loses (the simulators' ``bytes_in_flight``) is every byte written and not
    read by the driver, also those the kernel has taken from the master but not yet moved into
    the slave's input queue: FIONREAD misses those for a moment after most writes (tens of ms
    on a loaded machine), which once made a test blame the driver for samples it never got."""
    with serial.Serial(port.device, 921600, timeout=0.2) as ser:
        for n in range(1, 41):
            assert port.write(bytes(range(n)))
            assert port.take_unread() == n  # counted at once, however late the kernel is
            assert ser.in_waiting == 0  # and gone: the driver cannot read them afterwards
        # what the driver has read is not counted
        assert port.write(b"read") and _read_exactly(ser, 4) == b"read"
        assert port.write(b"lost")
        assert port.take_unread() == 4


def test_write_refuses_when_the_driver_does_not_read():
    with SimPort(free_name("test-full"), max_pending=4096) as p:
        accepted = sum(p.write(bytes(1000)) for _ in range(400))
        assert accepted < 400  # the pty and the queue filled up: a device would overflow
        assert p.pending <= 4096
    assert not os.path.lexists(p.device)


def test_bad_name():
    with pytest.raises(ValueError):
        SimPort("../etc")
