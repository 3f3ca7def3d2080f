"""Device strings: parsing, opening real/simulated/TCP ports, clear errors, setup lifetime."""

from __future__ import annotations

import os
import select
import socket
import threading
import time

import pytest
import serial
from forcelab.drivers import Device, open_devices
from forcelab.drivers.discovery import probe_port
from forcelab.drivers.errors import DeviceError, DeviceNotFound, ProtocolError
from forcelab.drivers.open import split_url
from forcelab.drivers.sim.pty import SimPort, free_name
from forcelab.drivers.sim.setups import start_setup


@pytest.mark.parametrize("url, expected", [
    ("fpb1:///dev/ttyACM0?side=left&rate=2000",
     ("fpb1", ["/dev/ttyACM0"], {"side": "left", "rate": "2000"})),
    ("fpb1:socket://localhost:4001", ("fpb1", ["socket://localhost:4001"], {})),
    ("csv4:///dev/ttyUSB1?baud=115200", ("csv4", ["/dev/ttyUSB1"], {"baud": "115200"})),
    ("ins1:///dev/a,/dev/b", ("ins1", ["/dev/a", "/dev/b"], {})),
    ("/dev/ttyACM0", ("fpb1", ["/dev/ttyACM0"], {})),
    ("loop://", ("fpb1", ["loop://"], {})),
    ("sim:treadmill?speed=3.0&faults=bitflip:1e-4,drop:0.001",
     ("sim", ["treadmill"], {"speed": "3.0", "faults": "bitflip:1e-4,drop:0.001"})),
])
def test_split_url(url, expected):
    assert split_url(url) == expected


@pytest.mark.parametrize("url, exc, match", [
    ("", DeviceNotFound, "no device given"),
    ("fpb1://dev/ttyACM0", DeviceNotFound, "three slashes"),
    ("fpb1:///dev/no-such-plate", DeviceNotFound, "cannot open serial port"),
    ("fpb1:///dev/null?bogus=1", DeviceError, "unknown option 'bogus' for FPB1"),
    ("fpb1:///dev/null?rate=fast", DeviceError, "bad FPB1 option value"),
    ("sim:moon", DeviceNotFound, "unknown simulated setup"),
    ("sim:plate?speed=abc", DeviceError, "not a number"),
    ("sim:plate?speed", DeviceError, "needs a value"),
    ("sim:plate?faults=melt:1", DeviceError, "unknown fault"),
])
def test_bad_device_strings_are_clear_errors(url, exc, match):
    with pytest.raises(exc, match=match):
        open_devices(url)


def test_loop_url_without_a_device_is_a_protocol_error():
    t0 = time.monotonic()
    with pytest.raises(ProtocolError, match="no FPB1 plate answers"):
        open_devices("loop://")
    assert time.monotonic() - t0 < 5


def test_closing_the_last_device_stops_the_setup():
    devs = open_devices(f"sim:treadmill?seed=31&name=close{os.getpid()}", rate=500)
    setup = devs[0].sim_setup
    paths = list(setup.ports)
    assert [d.info.side for d in devs] == ["left", "right"]
    assert all(d.info.rate_hz == 500 for d in devs)
    devs[0].close()
    assert all(os.path.islink(p) for p in paths)  # the right plate still runs
    devs[1].close()
    devs[1].close()
    assert setup.stopped and not any(os.path.lexists(p) for p in paths)


def _tcp_bridge(pty_path: str) -> tuple[int, threading.Event]:
    """A serial-over-TCP bridge (like ser2net) in front of a port; returns (tcp port, stop)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()

    def serve() -> None:
        ser = serial.Serial(pty_path, timeout=0)
        conn, _ = srv.accept()
        conn.setblocking(False)
        try:
            while not stop.is_set():
                r, _, _ = select.select([conn, ser.fileno()], [], [], 0.02)
                if conn in r:
                    data = conn.recv(65536)
                    if not data:
                        break
                    ser.write(data)
                if ser.fileno() in r:
                    conn.sendall(ser.read(ser.in_waiting or 1))
        finally:
            conn.close()
            ser.close()
            srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1], stop


def test_plate_behind_a_tcp_bridge_via_socket_url():
    setup = start_setup("plate", {"seed": 32})
    try:
        port, stop = _tcp_bridge(setup.ports[0])
        (dev,) = open_devices(f"fpb1:socket://127.0.0.1:{port}")
        try:
            assert dev.info.serial == setup.simulators[0].serial
            dev.start()
            n = 0
            t_end = time.monotonic() + 0.5
            while time.monotonic() < t_end:
                n += sum(b.n for b in dev.read(0.05))
            dev.stop()
            assert n > 250
        finally:
            dev.close()
            stop.set()
    finally:
        setup.stop()


def test_probe_port_answers_only_for_fpb1_plates():
    with SimPort(free_name("probe-silent")) as silent:
        got = probe_port(silent.device, timeout_s=0.3)
        assert got["protocol"] is None and "no FPB1 answer" in got["note"]
    assert probe_port("/dev/no-such-port")["note"] == "cannot open"
    with start_setup("plate", {"seed": 33}) as setup:
        got = probe_port(setup.ports[0])
        assert got["protocol"] == "FPB1" and got["serial"] == setup.simulators[0].serial
        # probing leaves the plate usable
        (dev,) = open_devices(setup.urls[0])
        dev.close()


class _Plate(Device):
    """The smallest Device: enough to see when close() notifies."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.closed = 0

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def read(self, timeout: float = 0.1) -> list:
        return []

    def zero(self) -> None: ...

    def close(self) -> None:
        self.closed += 1
        if self.fail:
            raise DeviceError("the port would not close")


def test_close_callbacks_run_once_after_close_even_when_close_fails():
    seen = []
    ok, failing = _Plate(), _Plate(fail=True)
    for dev in (ok, failing):
        dev.add_close_callback(lambda d: seen.append((d, d.closed)))
    ok.close()
    ok.close()
    with pytest.raises(DeviceError):
        failing.close()
    assert seen == [(ok, 1), (failing, 1)]  # after the device's own close, once each
