"""Transport: pyserial URLs, non-blocking reads, and unplug -> ConnectionLost."""

from __future__ import annotations

import time

import pytest
from forcelab.drivers.errors import ConnectionLost, DeviceNotFound
from forcelab.drivers.sim.pty import SimPort, free_name
from forcelab.drivers.transport import Transport, wait_for_port


def test_loop_url_round_trip():
    with Transport.open("loop://") as t:
        t.write(b"hello")
        got = b""
        deadline = time.monotonic() + 2
        while len(got) < 5 and time.monotonic() < deadline:
            got += t.read(0.05)
        assert got == b"hello"
        assert t.read(0.0) == b""


def test_missing_port_is_device_not_found():
    with pytest.raises(DeviceNotFound, match="forcelab devices"):
        Transport.open("/dev/does-not-exist-forcelab")


def test_read_waits_at_most_the_timeout():
    with SimPort(free_name("test-transport")) as p:
        with Transport.open(p.device) as t:
            t0 = time.monotonic()
            assert t.read(0.1) == b""
            assert time.monotonic() - t0 < 1.0
            p.write(b"abc")
            assert t.read(1.0) == b"abc"


@pytest.mark.parametrize("op", ["read", "in_waiting", "write"])
def test_unplug_becomes_connection_lost(op):
    with SimPort(free_name("test-unplug")) as p:
        t = Transport.open(p.device)
        p.unplug()
        with pytest.raises(ConnectionLost, match="unplugged"):
            if op == "read":
                t.read(0.5)
            elif op == "in_waiting":
                t.in_waiting()
            else:
                for _ in range(100):
                    t.write(b"x" * 4096)
        assert not t.is_open
        with pytest.raises(ConnectionLost):
            t.read(0.0)
        t.close()
        t.close()


def test_wait_for_port_sees_a_replug():
    with SimPort(free_name("test-wait")) as p:
        p.unplug()
        assert wait_for_port(p.device, 0.05) is False
        p.replug()
        assert wait_for_port(p.device, 1.0) is True
        assert wait_for_port("socket://localhost:1", 0.0) is True


def test_a_streaming_read_gathers_a_block_of_frames_in_one_call():
    """gather=True: after the first byte the read waits STREAM_GATHER_S and takes everything
    that came meanwhile (one wake-up per block, not per frame); without it, the first frame."""
    import threading

    with SimPort(free_name("test-gather")) as p:
        with Transport.open(p.device) as t:
            t.STREAM_GATHER_S = 0.5  # long enough for the second write on a loaded machine

            def second_frame() -> None:
                time.sleep(0.02)
                p.write(b"frame2")

            p.write(b"frame1")
            writer = threading.Thread(target=second_frame)
            writer.start()
            assert t.read(1.0, gather=True) == b"frame1frame2"
            writer.join()
            p.write(b"frame3")
            writer = threading.Thread(target=second_frame)
            writer.start()
            assert t.read(1.0) == b"frame3"  # a command reply is taken at once
            writer.join()
            assert t.read(1.0) == b"frame2"


def test_a_stream_that_keeps_coming_is_taken_once_per_block_period():
    """While bytes keep coming, a gathering read sleeps until STREAM_GATHER_S after the
    previous take and takes everything that came meanwhile, in one wake-up: it does not wait
    a further period after the first new byte, so no byte waits longer than one period."""
    import threading

    p = SimPort(free_name("test-block-period")).open()
    try:
        with Transport.open(p.device) as t:
            t.STREAM_GATHER_S = 1.0  # long against a loaded machine's scheduling delays
            p.write(b"frame1")
            assert t.read(2.0, gather=True) == b"frame1"  # quiet before: first byte + 1 s
            taken = time.monotonic()

            def more() -> None:
                time.sleep(0.3)
                p.write(b"frame2")
                time.sleep(0.05)
                p.write(b"frame3")

            writer = threading.Thread(target=more)
            writer.start()
            assert t.read(2.0, gather=True) == b"frame2frame3"
            waited = time.monotonic() - taken
            writer.join()
            # the rest of the period since the last take (1 s), not 1 s after frame2 (1.3 s)
            assert 0.95 <= waited < 1.25
    finally:
        p.close()


@pytest.mark.parametrize("streaming", [False, True], ids=["idle", "stream-coming"])
def test_an_unplug_is_reported_by_a_gathering_read(streaming):
    """Within 1 s, also by the read that takes a running stream's bytes without waiting first
    (one syscall): a port that vanished since the previous take is reported in that call."""
    with SimPort(free_name(f"test-gather-unplug-{int(streaming)}")) as p:
        t = Transport.open(p.device)
        if streaming:
            t.STREAM_GATHER_S = 0.2
            for frame in (b"frame1", b"frame2"):  # frame2 taken a block period after frame1
                p.write(frame)
                assert t.read(1.0, gather=True) == frame
        p.unplug()
        t0 = time.monotonic()
        with pytest.raises(ConnectionLost, match="unplugged"):
            t.read(1.0, gather=True)
        assert time.monotonic() - t0 < 1.0
        t.close()


def test_read_waiting_takes_everything_waiting_and_reports_a_vanished_port():
    """The compiled non-blocking read: b"" when nothing waits, all that waits in one call (at
    most the cap); a pty whose other side is gone reads as empty (the transport's select tells
    that apart, see the unplug tests above); a failing read raises OSError."""
    import fcntl
    import os
    import pty
    import tty

    from forcelab.drivers._frames import read_waiting

    master, slave = pty.openpty()
    try:
        tty.setraw(slave)
        fcntl.fcntl(slave, fcntl.F_SETFL, fcntl.fcntl(slave, fcntl.F_GETFL) | os.O_NONBLOCK)
        assert read_waiting(slave, 1 << 20) == b""
        payload = bytes(range(256)) * 16  # 4 kB: a pty holds this much at once
        got = b""
        for _ in range(10):  # 40 kB through, the reader taking what waits each time
            os.write(master, payload)
            deadline = time.monotonic() + 5.0
            want = len(got) + len(payload)
            while len(got) < want and time.monotonic() < deadline:
                got += read_waiting(slave, 1 << 20)
        assert got == payload * 10
        os.write(master, payload)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:  # all of it arrived: a cap of 100 bytes is kept
            taken = read_waiting(slave, 100)
            if taken:
                break
        assert len(taken) == 100 and taken == payload[:100]
    finally:
        os.close(master)
    try:
        assert read_waiting(slave, 1 << 20) in (b"", payload[100:])
    finally:
        os.close(slave)
    with pytest.raises(OSError):
        read_waiting(slave, 1 << 20)  # EBADF
