"""Moticon OpenGo insoles live: the OpenGo software's UDP stream as two insole devices.

``opengo-udp://HOST:PORT`` (default ``0.0.0.0:8888``; port 0 picks a free one, see
``info.extra["port"]``) opens ONE socket that yields TWO devices, the left and the right insole,
like the pair of streams read from an OpenGo export file: ``kind`` insole, 100 Hz nominal, the
channels of an INS1 insole (``fz`` N, ``cop_x``/``cop_y`` 1, ``p01``…``p16`` kPa, ``acc_*`` g,
``gyr_*`` deg/s). The datagram layout and the sequencing are in
:mod:`forcelab.drivers.opengo_codec`.

- Time: the timestamp unit (s or ms) is inferred from the first increments and its rate checked
  against ``rate``; ``Block.t_host_s`` maps the sample number through a line fitted to the
  earliest-arrival envelope (as for CSV4: a datagram can arrive late, never early).
- Missing datagrams and prolonged dropouts become explicit gaps (``Block.gap_before``, counted in
  ``stats.dropped_samples`` and ``stats.gaps``). A datagram with the wrong field count, text or a
  non-finite timestamp is counted (``bad_field_count``, ``not_numeric``, ``bad_timestamp``) and
  skipped; a foot with a non-finite value in a datagram has no sample there (``nan_samples``, a
  gap on that foot only). Duplicates (``duplicates``), late datagrams (``late``) and datagrams put
  back in order (``reordered``) are counted.
- Nothing for ``lost_after`` s (1 s) while streaming: ``read`` raises ConnectionLost with what
  to check, and a ``link_lost`` event is reported; when datagrams come back, reads return blocks
  again (``link_restored`` event), the missing time as a gap.

The OpenGo software cannot be commanded over UDP: ``start``/``stop`` only decide whether received
samples become blocks, and ``zero`` raises DeviceError (the insoles are zeroed in the OpenGo app).
"""

from __future__ import annotations

import collections
import errno
import select
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
from forcelab.drivers.arrival_clock import ArrivalClock
from forcelab.drivers.base import KIND_INSOLE, Block, Device, DeviceEvent, DeviceInfo, LinkStats
from forcelab.drivers.errors import ConnectionLost, DeviceError, ProtocolError
from forcelab.drivers.ins1 import CHANNELS
from forcelab.drivers.opengo_codec import (
    BAD_FIELD_COUNT,
    BAD_TIMESTAMP,
    KPA_PER_N_CM2,
    NOT_NUMERIC,
    Sequencer,
    foot_samples,
    parse_datagrams,
)

DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 8888
DEFAULT_RATE_HZ = 100.0
SIDES = ("left", "right")
_MAX_DATAGRAM = 8192
#: Linux's SO_TIMESTAMPNS (socket(7)): the kernel stamps each datagram's arrival (CLOCK_REALTIME,
#: the clock of time.time()); elsewhere arrival is read when the datagram is taken.
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform == "linux" else None)
_TIMESPEC = struct.Struct("@qq")


@dataclass
class OpenGoStats(LinkStats):
    """LinkStats plus the OpenGo counters (see the module docstring). The link counters
    (``frames`` = datagrams taken as samples, ``bad_lines`` = datagrams skipped, and each
    reason) are the socket's, the same on both feet; gaps, drops and ``nan_samples`` are this
    foot's."""

    bad_field_count: int = 0
    not_numeric: int = 0
    bad_timestamp: int = 0
    nan_samples: int = 0
    duplicates: int = 0
    reordered: int = 0
    late: int = 0
    timeline_restarts: int = 0
    lost: int = 0


class OpenGoReceiver:
    """The UDP socket and its thread, shared by the two insole devices.

    Parameters
    ----------
    host : str
        Address to bind (``0.0.0.0``: every interface).
    port : int
        UDP port (0: a free one).
    rate_hz : float
        Nominal sample rate in Hz.
    unit : {"s", "ms"} or None
        Timestamp unit; None infers it.
    hold_s : float
        How long a datagram is held for datagrams that overtook it (s).
    block_s : float
        The socket is drained and samples are handed out about this often (s).
    """

    def __init__(self, host: str, port: int, rate_hz: float, unit: str | None = None,
                 hold_s: float = 0.02, block_s: float = 0.1) -> None:
        self.rate_hz = float(rate_hz)
        self.hold_s = float(hold_s)
        self.block_s = float(block_s)
        self.seq = Sequencer(self.rate_hz, None if unit is None else
                             {"s": 1.0, "ms": 1e-3}[unit])
        self.clock = ArrivalClock()
        self.stats = {side: OpenGoStats() for side in SIDES}
        self.counts = {BAD_FIELD_COUNT: 0, NOT_NUMERIC: 0, BAD_TIMESTAMP: 0}
        self.datagrams = 0
        self.bytes_received = 0
        self.cond = threading.Condition()
        self.blocks: dict[str, collections.deque[Block]] = {s: collections.deque() for s in SIDES}
        self.streaming = {side: False for side in SIDES}
        self.users = set(SIDES)
        self.error: DeviceError | None = None
        self.last_arrival_mono: float | None = None
        self._last_seq: dict[str, int | None] = {side: None for side in SIDES}
        #: monotonic time at which each foot last had a sample (its insole is alive)
        self.last_sample_mono: dict[str, float | None] = {side: None for side in SIDES}
        self._closed = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise DeviceError(
                    f"UDP port {port} on {host} is already in use (another program receives the "
                    f"OpenGo stream?): close it or choose another port, e.g. "
                    f"opengo-udp://{host}:{port + 1}") from None
            raise DeviceError(f"cannot listen for OpenGo datagrams on {host}:{port}: "
                              f"{exc.strerror or exc}") from None
        self.host, self.port = self.sock.getsockname()[:2]
        self.sock.setblocking(False)
        self._kernel_stamps = _SO_TIMESTAMPNS is not None
        if self._kernel_stamps:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            except OSError:
                self._kernel_stamps = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"opengo-udp-{self.port}",
                                        daemon=True)
        self._thread.start()

    # -- thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        """Drain the socket every ``block_s``: datagrams wait in the kernel's buffer meanwhile,
        with their arrival time stamped by the kernel (SO_TIMESTAMPNS), so the thread wakes a
        few times per block, not once per datagram."""
        sock = self.sock
        while not self._closed:
            batch = []
            try:
                ready, _, _ = select.select([sock], [], [], 0.1)
                while ready and len(batch) < 65536:
                    batch.append(self._recv(sock))
            except (BlockingIOError, InterruptedError):
                pass
            except (OSError, ValueError) as exc:  # ValueError: closed under select
                if not self._closed:
                    self._fail(OSError(str(exc)))
                return
            with self.cond:
                if batch:
                    self._take(batch)
                    self.last_arrival_mono = time.monotonic()
                emitted = False
                if self.seq.oldest_arrival() is not None and self.error is None:
                    emitted = self._emit(*self.seq.release(time.time() - self.hold_s))
                if emitted or self.error is not None:
                    self.cond.notify_all()  # readers wake for blocks, not for each datagram
            if batch:
                self._wake.wait(self.block_s)

    def _recv(self, sock: socket.socket) -> tuple[bytes, float]:
        """One datagram and its arrival time (the kernel's stamp when there is one)."""
        if not self._kernel_stamps:
            return sock.recv(_MAX_DATAGRAM), time.time()
        data, ancillary, _, _ = sock.recvmsg(_MAX_DATAGRAM, 64)
        for level, kind, cdata in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(cdata) >= 16:
                sec, nsec = _TIMESPEC.unpack_from(cdata)
                return data, sec + nsec * 1e-9
        return data, time.time()

    def _fail(self, exc: OSError) -> None:
        with self.cond:
            self.error = DeviceError(f"the UDP socket {self.host}:{self.port} failed: {exc}")
            self.cond.notify_all()

    def _take(self, batch: list[tuple[bytes, float]]) -> None:
        """Parse and sequence a batch of (datagram, arrival time) pairs."""
        self.datagrams += len(batch)
        self.bytes_received += sum(len(p) for p, _ in batch)
        for parsed, (_, arrival) in zip(parse_datagrams([p for p, _ in batch]), batch,
                                        strict=True):
            if isinstance(parsed, str):
                self.counts[parsed] += 1
            elif self.error is None:
                try:
                    self.seq.push(parsed[0], parsed[1], arrival)
                except ProtocolError as exc:
                    self.error = exc

    def _emit(self, seq: np.ndarray, t_dev_s: np.ndarray, arrival: np.ndarray,
              values: np.ndarray) -> bool:
        """Turn released datagrams into blocks per foot; True when a block was made."""
        if not len(seq):
            return False
        made = False
        # sample numbers are the continuous device time (a restarted OpenGo clock keeps them)
        t_cont = seq / self.rate_hz
        self.clock.add(t_cont, arrival)
        t_host = self.clock.to_host(t_cont)
        now = time.monotonic()
        for side in SIDES:
            samples, valid = foot_samples(values, side)
            st = self.stats[side]
            n_valid = int(np.count_nonzero(valid))
            st.nan_samples += len(valid) - n_valid
            if not n_valid:
                continue
            self.last_sample_mono[side] = now
            if not self.streaming[side]:
                continue
            idx = np.flatnonzero(valid)
            s = seq[idx]
            last = self._last_seq[side]
            self._last_seq[side] = int(s[-1])
            prev = np.concatenate(([int(s[0]) - 1 if last is None else last], s[:-1]))
            self.blocks[side].extend(Block.split_at_gaps(s, t_dev_s[idx], t_host[idx],
                                                         samples[idx], s - prev - 1, st))
            made = True
        return made

    def update_stats(self, side: str) -> OpenGoStats:
        """Copy the socket's counters into one foot's stats (call with ``cond`` held)."""
        st = self.stats[side]
        st.bytes_received = self.bytes_received
        st.bad_field_count = self.counts[BAD_FIELD_COUNT]
        st.not_numeric = self.counts[NOT_NUMERIC]
        st.bad_timestamp = self.counts[BAD_TIMESTAMP]
        st.bad_lines = sum(self.counts.values())
        st.frames = self.datagrams - st.bad_lines
        st.duplicates = self.seq.duplicates
        st.reordered = self.seq.reordered
        st.late = self.seq.late
        st.timeline_restarts = self.seq.restarts
        return st

    def release(self, side: str) -> None:
        """One device closed; the socket closes after both."""
        with self.cond:
            self.users.discard(side)
            self.streaming[side] = False
            last = not self.users and not self._closed
            if last:
                self._closed = True
                self._wake.set()
            self.cond.notify_all()
        if last:
            self.sock.close()
            if self._thread is not threading.current_thread():
                self._thread.join(timeout=2.0)


class OpenGoInsole(Device):
    """One foot of an OpenGo UDP stream (see the module docstring).

    Parameters
    ----------
    receiver : OpenGoReceiver
        The socket shared with the other foot.
    side : {"left", "right"}
    lost_after_s : float
        Silence (s) while streaming after which ``read`` raises ConnectionLost.
    """

    def __init__(self, receiver: OpenGoReceiver, side: str, lost_after_s: float = 1.0,
                 unit: str | None = None) -> None:
        self.receiver = receiver
        self.side = side
        self.lost_after_s = float(lost_after_s)
        self.stats = receiver.stats[side]
        self._events: list[DeviceEvent] = []
        self._lost = False
        self._closed = False
        self._started_mono: float | None = None
        address = f"{receiver.host}:{receiver.port}"
        self.info = DeviceInfo(
            protocol="OpenGo",
            kind=KIND_INSOLE,
            model="Moticon OpenGo insole (live UDP)",
            serial=f"udp{receiver.port}-{side[0].upper()}",
            firmware="",
            side=side,
            rate_hz=receiver.rate_hz,
            channels=CHANNELS,
            calibration={"pressure_kpa_per_n_cm2": KPA_PER_N_CM2,
                         "timestamp_unit": unit or "inferred"},
            layout=None,
            extra={"address": address, "host": receiver.host, "port": receiver.port,
                   "transport": "udp", "lost_after_s": self.lost_after_s},
        )

    def _where(self) -> str:
        return f"UDP {self.receiver.host}:{self.receiver.port}"

    def start(self) -> None:
        """Turn received samples of this foot into blocks from now on."""
        self._check_open()
        with self.receiver.cond:
            self.receiver.streaming[self.side] = True
            self._started_mono = time.monotonic()

    def stop(self) -> None:
        """Stop making blocks (blocks already made are still returned by read)."""
        with self.receiver.cond:
            self.receiver.streaming[self.side] = False
            self._started_mono = None

    def zero(self) -> None:
        """OpenGo insoles are zeroed in the OpenGo app, not over UDP.

        Raises
        ------
        DeviceError
            Always, saying where to zero them.
        """
        raise DeviceError(
            "Moticon OpenGo insoles cannot be zeroed over UDP: zero them in the OpenGo app "
            "(lift each foot, then 'Zeroing') before recording, and record without --tare"
        )

    def _check_open(self) -> None:
        if self._closed:
            raise DeviceError(f"OpenGo {self.side} insole on {self._where()} is closed")

    def read(self, timeout: float = 0.1) -> list[Block]:
        """Blocks of this foot received within ``timeout`` s (may be empty).

        Raises
        ------
        ConnectionLost
            Nothing arrived for ``lost_after_s`` while streaming (raised again by every read
            until datagrams come back).
        ProtocolError
            The stream's timestamps do not fit the nominal rate.
        """
        self._check_open()
        rx = self.receiver
        deadline = time.monotonic() + max(0.0, float(timeout))
        with rx.cond:
            while True:
                if rx.error is not None:
                    raise rx.error
                queue = rx.blocks[self.side]
                if queue:
                    out = list(queue)
                    queue.clear()
                    rx.update_stats(self.side)
                    if self._lost:
                        self._lost = False
                        self._events.append(DeviceEvent(
                            "link_restored", out[0].seq, time.time(), 0,
                            f"OpenGo {self.side} insole: datagrams on {self._where()} again"))
                    return out
                now = time.monotonic()
                if self._started_mono is not None:
                    last = max(rx.last_sample_mono[self.side] or 0.0, self._started_mono)
                    if now - last > self.lost_after_s:
                        raise self._on_lost(now - last)
                if now >= deadline:
                    rx.update_stats(self.side)
                    return []
                rx.cond.wait(deadline - now)

    def _on_lost(self, silent_s: float) -> ConnectionLost:
        rx = self.receiver
        if rx.last_arrival_mono is not None and \
                time.monotonic() - rx.last_arrival_mono <= self.lost_after_s:
            msg = (f"OpenGo {self.side} insole: datagrams arrive on {self._where()} but none "
                   f"with data of this insole for {silent_s:.1f} s; check its battery and its "
                   f"Bluetooth link to the phone (recording resumes when data comes back)")
        else:
            msg = (f"OpenGo {self.side} insole: no datagrams on {self._where()} for "
                   f"{silent_s:.1f} s; check that the OpenGo app streams to this computer's "
                   f"address and port {rx.port} (recording resumes when data comes back)")
        if not self._lost:
            self._lost = True
            self.stats.lost += 1
            self._events.append(DeviceEvent("link_lost", self.receiver._last_seq[self.side] or -1,
                                            time.time(), 0, msg))
        return ConnectionLost(msg)

    def close(self) -> None:
        """Release this foot; the socket closes after both feet are closed. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.receiver.release(self.side)


def parse_address(target: str) -> tuple[str, int]:
    """``"HOST:PORT"``, ``"HOST"``, ``":PORT"`` or ``""`` -> (host, port) with the defaults.

    Raises
    ------
    DeviceError
        A port that is not a number in 0..65535.
    """
    target = target.strip().strip("/")
    host, sep, port_text = target.rpartition(":")
    if not sep:
        host, port_text = target, ""
    host = host.strip("[]") or DEFAULT_HOST
    if not port_text:
        return host, DEFAULT_PORT
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise DeviceError(f"opengo-udp: port {port_text!r} is not a UDP port number (0..65535), "
                          f"e.g. opengo-udp://0.0.0.0:8888")
    return host, port


OPTIONS = ("rate", "unit", "lost_after")


def open_opengo_udp(target: str, options: dict[str, str]) -> list[Device]:
    """Registry opener of ``opengo-udp:``: the left and the right insole of one UDP stream.

    Options: ``rate`` (Hz, default 100), ``unit`` (``s`` or ``ms``; default inferred),
    ``lost_after`` (s of silence before the link counts as lost, default 1).

    Raises
    ------
    DeviceError
        Unknown option, bad value, or the port cannot be bound.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise DeviceError(f"unknown opengo-udp option(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(OPTIONS)}")
    host, port = parse_address(target)
    try:
        rate = float(options.get("rate", DEFAULT_RATE_HZ))
        lost_after = float(options.get("lost_after", 1.0))
    except ValueError:
        raise DeviceError("opengo-udp: rate and lost_after must be numbers, e.g. rate=100") \
            from None
    if not 1.0 <= rate <= 1000.0:
        raise DeviceError(f"opengo-udp: rate={rate:g} Hz is outside 1..1000 Hz")
    if not 0.1 <= lost_after <= 60.0:
        raise DeviceError(f"opengo-udp: lost_after={lost_after:g} s is outside 0.1..60 s")
    unit = options.get("unit")
    if unit is not None and unit not in ("s", "ms"):
        raise DeviceError(f"opengo-udp: unit={unit!r}: choose s or ms (or leave it out)")
    receiver = OpenGoReceiver(host, port, rate, unit)
    return [OpenGoInsole(receiver, side, lost_after, unit) for side in SIDES]
