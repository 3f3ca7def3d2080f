"""FPB1 force plate device: the :class:`~forcelab.drivers.base.Device` over the FPB1 codec.

:class:`FPB1Device` — handshake (IDENTIFY, GET_CAL, SET_RATE, PINGs), commands interleaved with
streaming (replies matched by token), clock offset/skew fit from PING round trips
(:class:`~forcelab.drivers.clock.ClockFit`), seq unwrap (2^32), gaps, EVENT and status surfaced
as DeviceEvents, a frame whose sequence number the device clock contradicts dropped and counted
(``LinkStats.corrupt_frames``), unplug -> ConnectionLost (samples received before it are
returned first), reconnect by serial number (:class:`~forcelab.drivers.serial_device.SerialDevice`).
:func:`open_fpb1` is the registry opener of ``fpb1:`` device strings. The wire format lives in
:mod:`forcelab.drivers.protocols.fpb1`.

Block.samples columns: ``fx, fy, fz`` (N), ``mx, my, mz`` (N·m), ``cop_x, cop_y`` (m),
``tz`` (N·m). Plate frame: x toward the athlete's right, y forward, z up, Fz positive = load.
"""

from __future__ import annotations

import struct
import threading
import time
from typing import Any

import numpy as np
from forcelab.drivers.base import (
    COP_THRESHOLD_N,
    KIND_PLATE,
    PLATE_CHANNELS,
    Block,
    Device,
    DeviceEvent,
    DeviceInfo,
    LinkStats,
)
from forcelab.drivers.clock import ClockFit
from forcelab.drivers.errors import ConnectionLost, DeviceError, DeviceNotFound, ProtocolError
from forcelab.drivers.fpb1_timeline import DataTimeline
from forcelab.drivers.protocols.fpb1 import (
    BLINK,
    BOOT,
    COMMAND_NAMES,
    DEFAULT_RATE_HZ,
    EVENT,
    EVENT_BODY,
    EVENT_KINDS,
    FMT_CAL,
    FMT_RAW,
    GET_CAL,
    GET_STATUS,
    IDENTIFY,
    LOG,
    PING,
    REPLY,
    RESET,
    SET_AUTOZERO,
    SET_RATE,
    START,
    STATUS_BAD_STATE,
    STATUS_OK,
    STATUS_TEXT,
    STOP,
    ZERO,
    Calibration,
    DataRun,
    FPB1Codec,
    Frame,
    Identity,
    encode_frame,
)
from forcelab.drivers.sequence import SequenceCheck
from forcelab.drivers.serial_device import (
    RECONNECT_INTERVAL_S,
    SerialDevice,
    convert_options,
    open_all,
    split_ports,
)

#: A line quiet this long (s) with bytes pending holds a damaged frame that will never complete.
#: Longer than one read's wait (0.05 s), so that one empty read after a partial frame on a busy
#: host (the rest of a frame still on its way through the OS) never gives that frame up.
QUIET_S = 0.2

class FPB1Device(DataTimeline, SerialDevice):
    """An FPB1 force plate on a serial link.

    Parameters
    ----------
    port : str
        Device path (``/dev/ttyACM0``, a simulated port symlink) or pyserial URL.
    side : {"left", "right", None}
        Foot this plate measures (one belt of a split-belt treadmill), or None.
    rate_hz : int
        Sampling rate; must be in the device's rate table (10…2000 Hz).
    fmt : {0, 1}
        0 = raw counts converted on the host through the calibration matrix, 1 = calibrated f32.
    samples_per_frame : int
        Samples per DATA frame, 1..16.
    cop_threshold_n : float
        Fz below which COP and free moment are NaN, in N.
    reply_timeout_s : float
        How long a command waits for its reply, in s.
    baudrate : int
        Line rate (ignored by USB-CDC).
    reconnect_interval_s : float
        After an unplug, each :meth:`read` tries to reopen the plate (by serial number) at most
        this often, raising ConnectionLost until it succeeds; streaming then resumes by itself.

    Raises
    ------
    DeviceNotFound
        The port does not exist.
    ProtocolError
        Something answered but not as an FPB1 plate.
    """

    kind_label = "FPB1 plate"
    stop_reports_last_seq = True

    def __init__(
        self,
        port: str,
        *,
        side: str | None = None,
        rate_hz: int = DEFAULT_RATE_HZ,
        fmt: int = FMT_RAW,
        samples_per_frame: int = 8,
        cop_threshold_n: float = COP_THRESHOLD_N,
        reply_timeout_s: float = 1.0,
        baudrate: int = 921600,
        reconnect_interval_s: float = RECONNECT_INTERVAL_S,
    ) -> None:
        if side not in (None, "left", "right"):
            raise DeviceError(f"side must be 'left', 'right' or empty, not {side!r}")
        if fmt not in (FMT_RAW, FMT_CAL):
            raise DeviceError(f"FPB1 data format must be 0 (raw) or 1 (calibrated), not {fmt!r}")
        if not 1 <= int(samples_per_frame) <= 16:
            raise DeviceError(f"samples per frame must be 1..16, not {samples_per_frame!r}")
        if not (np.isfinite(cop_threshold_n) and cop_threshold_n > 0):
            raise DeviceError(f"COP threshold must be > 0 N, not {cop_threshold_n!r}")
        self._init_link(port, baudrate, reconnect_interval_s)
        self.side = side
        self.fmt = int(fmt)
        self.spf = int(samples_per_frame)
        self.cop_threshold_n = float(cop_threshold_n)
        self.reply_timeout_s = float(reply_timeout_s)
        self.stats = LinkStats()
        self.codec = FPB1Codec()
        # PINGs come once a second while streaming: the skew is fitted over 10 s of them
        self.clock = ClockFit(keep=512, n_bins=8, min_span_s=10.0)
        self._seq_check = SequenceCheck(1 << 32, None)  # u32 counter, u64 clock
        self.duplicates = 0
        self.protocol_errors = 0
        self.stale_frames = 0
        self._accept_data = False
        self._lock = threading.RLock()
        self._token = 0
        self._replies: dict[int, Frame] = {}
        self._pings: dict[int, int] = {}  # token -> host send time (ns) of PINGs in flight
        self._async_pings: set[int] = set()  # PINGs sent by read(): no command waits for them
        self._blocks: list[Block] = []
        self._streaming = False
        self._next_wire_seq: int | None = None
        self._next_seq = 0  # unwrapped sequence number of the next sample expected
        self._last_ping = 0.0
        self._last_host_end: float | None = None
        self._autozero = False
        self._zero_offsets: list[int] | None = None
        self._rate_at_open_hz = int(rate_hz)
        self._connect()

    # -- plumbing ------------------------------------------------------------------------
    def _next_token(self) -> int:
        self._token = self._token % 255 + 1
        return self._token

    def _pump(self, timeout_s: float) -> None:
        """Read what is available (waiting up to timeout_s) and process the frames."""
        try:
            # streaming: one wake-up per block of frames, unless a PING reply is due (its
            # arrival time feeds the clock fit; one missing for 0.5 s was lost)
            gather = self._streaming and (
                not self._pings or time.monotonic() - self._last_ping > 0.5)
            data = self._transport.read(timeout_s, gather)
        except ConnectionLost as exc:
            self._mark_lost(exc)
            raise
        if data:
            self._last_rx = time.monotonic()
            self.stats.bytes_received += len(data)
            self.codec.push(data)
            if not (self._accept_data and self._usual_read()):
                self._process(*self.codec.scan(b""))
        elif self.codec.pending_bytes and time.monotonic() - self._last_rx > QUIET_S:
            # Nothing more is coming: what is pending can only be a damaged frame.
            self._process(*self.codec.scan(b"", expire=True))
        c = self.codec
        self.stats.frames = c.frames
        self.stats.crc_errors = c.crc_errors
        self.stats.resyncs = c.resyncs
        self.stats.bytes_discarded = c.bytes_discarded

    def _mark_lost(self, exc: ConnectionLost) -> None:
        if self._lost is None:
            self._streaming_before_loss = self._streaming
            self._on_lost(exc)

    def _event_seq(self) -> int:
        return self._next_seq

    def _send(self, cmd: int, payload: bytes = b"") -> int:
        token = self._next_token()
        self._replies.pop(token, None)  # forget a stale reply of an earlier use of this token
        self._pings.pop(token, None)
        self._async_pings.discard(token)
        try:
            self._transport.write(encode_frame(cmd, payload, token))
        except ConnectionLost as exc:
            self._mark_lost(exc)
            raise
        return token

    def command(self, cmd: int, payload: bytes = b"", timeout_s: float | None = None) -> bytes:
        """Send one command and return its reply payload after the status byte.

        DATA and EVENT frames arriving meanwhile are kept for :meth:`read`.

        Raises
        ------
        ProtocolError
            No reply in time, or a status other than OK.
        ConnectionLost
            The link went away.
        """
        name = COMMAND_NAMES.get(cmd, f"0x{cmd:02X}")
        timeout_s = self.reply_timeout_s if timeout_s is None else timeout_s
        with self._lock:
            self._check_open()
            token = self._send(cmd, payload)
            if cmd == PING and len(payload) == 8:
                self._pings[token] = struct.unpack("<Q", payload)[0]
            deadline = time.monotonic() + timeout_s
            while token not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.protocol_errors += 1
                    raise ProtocolError(
                        f"FPB1 plate on {self.port} did not answer {name} within "
                        f"{timeout_s:g} s; check that the device is an FPB1 plate and powered"
                    )
                self._pump(min(left, 0.05))
            frame = self._replies.pop(token)
        if frame.type != (cmd | REPLY) or not frame.payload:
            self.protocol_errors += 1
            raise ProtocolError(f"FPB1 reply to {name} has type 0x{frame.type:02X}")
        status = frame.payload[0]
        if status != STATUS_OK:
            raise ProtocolError(
                f"FPB1 plate refused {name}: {STATUS_TEXT.get(status, status)}"
                + (" (stop streaming first)" if status == STATUS_BAD_STATE else "")
            )
        return frame.payload[1:]

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionLost(f"FPB1 plate on {self.port} is closed")
        if self._lost is not None:
            raise ConnectionLost(str(self._lost))

    # -- frames --------------------------------------------------------------------------
    def _process(self, items: list[DataRun | Frame], malformed_data: int) -> None:
        """Handle what the codec scanned: DATA runs and the other frames, in arrival order;
        ``malformed_data`` DATA frames whose length disagreed with their header."""
        if malformed_data:
            if self._accept_data:
                self.protocol_errors += malformed_data
            else:
                self.stale_frames += malformed_data
        for f in items:
            if type(f) is DataRun:
                if self._accept_data:
                    self._on_run(f)
                else:
                    self.stale_frames += len(f.seq)  # left streaming by an earlier program
                continue
            if f.type & REPLY:
                if f.type == PING | REPLY and f.token in self._pings:
                    self._on_ping(f)
                    if f.token in self._async_pings:
                        self._async_pings.discard(f.token)
                        continue  # nobody waits for it
                elif f.type == START | REPLY and len(f.payload) == 9 and f.payload[0] == 0:
                    # DATA may follow in this very batch: align before decoding it.
                    self._t_start_us = (struct.unpack_from("<Q", f.payload, 1)[0]
                                        + self._clock_corr_us)
                    self._next_wire_seq = None
                    self._last_t_us = None
                    self._seq_check.reset()
                self._replies[f.token] = f
            elif f.type == EVENT:
                self._on_event(f.payload)
            elif f.type == LOG:
                self._events.append(DeviceEvent("log", -1, time.time(), 0,
                                                f.payload.decode("ascii", "replace")))
            elif f.type == BOOT:
                self._events.append(DeviceEvent("boot", -1, time.time(), 0,
                                                "device restarted; streaming stopped"))
                self._streaming = False
                self._next_wire_seq = None
                self._last_t_us = None
                self._seq_check.reset()
                self._clock_corr_us = 0
                self.clock.reset()
            else:
                self.protocol_errors += 1

    def _on_ping(self, f: Frame) -> None:
        host_rx = time.time_ns()
        host_tx = self._pings.pop(f.token)
        if len(f.payload) == 17 and f.payload[0] == STATUS_OK:
            echo, t_rx_us = struct.unpack_from("<QQ", f.payload, 1)
            if echo != host_tx:
                return
            dev_us = t_rx_us + self._clock_corr_us
            if self.clock.n_points >= 3:
                # A round trip far off the fit means the device clock jumped where the data
                # could not show it (while stopped, or before the first frame). While streaming,
                # a jump between frames is corrected from the data, possibly just after this
                # reply: only a disagreement seen twice in a row restarts the fit.
                mid_s = (host_tx + host_rx) * 0.5e-9
                rtt_s = (host_rx - host_tx) * 1e-9
                off = abs(mid_s - self.clock.to_host(dev_us * 1e-6)) > 0.05 + rtt_s
                self._ping_disagreements = self._ping_disagreements + 1 if off else 0
                if off and (not self._streaming or self._ping_disagreements >= 2):
                    self.clock.reset()
                    self._ping_disagreements = 0
                    self._events.append(DeviceEvent("clock_jump", -1, time.time(), 0,
                                                    "device clock jumped; clock fit restarted"))
                elif off:
                    return
            self.clock.add(host_tx * 1e-9, host_rx * 1e-9, dev_us * 1e-6)

    def _on_event(self, payload: bytes) -> None:
        if len(payload) != EVENT_BODY.size:
            self.protocol_errors += 1
            return
        seq_at, kind, arg = EVENT_BODY.unpack(payload)
        name = EVENT_KINDS.get(kind, f"event_{kind}")
        self._events.append(DeviceEvent(name, self._unwrap_event_seq(seq_at), time.time(), arg))

    def _set_calibration(self, cal: Calibration) -> None:
        self.calibration = cal
        # counts -> N, N*m in one product: (C diag(mV/V per count))^T
        self._counts_to_loads_t = (cal.matrix * cal.mvv_per_count[None, :]).T.copy()

    # -- handshake -----------------------------------------------------------------------
    def _handshake(self) -> None:
        rate_hz = self._rate_at_open_hz
        self._transport.reset_input()
        # A plate left streaming by a crashed program: stop it (BAD_STATE when already stopped).
        try:
            self.command(STOP, timeout_s=self.reply_timeout_s)
        except ProtocolError as exc:
            if "refused" not in str(exc):
                raise ProtocolError(
                    f"no FPB1 plate answers on {self.port}: {exc}. Is it the right port and "
                    f"protocol (fpb1://, ins1://, csv4://)?"
                ) from None
        self.identity = Identity.unpack(self.command(IDENTIFY))
        self._set_calibration(Calibration.unpack(self.command(GET_CAL)))
        if rate_hz not in self.identity.rates_hz:
            raise DeviceError(
                f"{rate_hz} Hz is not an FPB1 rate; choose one of "
                f"{', '.join(map(str, self.identity.rates_hz))}"
            )
        actual = struct.unpack("<H", self.command(SET_RATE, struct.pack("<H", rate_hz)))[0]
        for _ in range(5):
            self.ping()
        self.info = DeviceInfo(
            protocol="FPB1",
            kind=KIND_PLATE,
            model=self.identity.model,
            serial=self.identity.serial,
            firmware=self.identity.firmware,
            side=self.side,
            rate_hz=float(actual),
            channels=PLATE_CHANNELS,
            calibration=dict(self.calibration.to_dict(), zero_offsets=self._zero_offsets,
                             data_format="raw" if self.fmt == FMT_RAW else "calibrated"),
            extra={
                "port": self.port,
                "adc_bits": self.identity.adc_bits,
                "rates_hz": list(self.identity.rates_hz),
                "plate_size_mm": list(self.calibration.size_mm),
                "origin_m": np.asarray(self.calibration.origin_m).tolist(),
                "cop_threshold_n": self.cop_threshold_n,
                "frame": "x toward the athlete's right, y forward, z up; Fz positive = load",
            },
        )

    # -- public API ----------------------------------------------------------------------
    @property
    def streaming(self) -> bool:
        """True between start() and stop()."""
        return self._streaming

    def ping(self) -> float:
        """One PING round trip (also feeds the clock fit); returns the RTT in s."""
        t0 = time.monotonic()
        self.command(PING, struct.pack("<Q", time.time_ns()))
        self._last_ping = time.monotonic()
        return self._last_ping - t0

    def start(self) -> None:
        """Start streaming (fmt and samples per frame as configured)."""
        with self._lock:
            self.ping()  # fresh clock check right before streaming
            self._accept_data = True
            self._next_wire_seq = None
            self._stop_wire_seq = None
            body = self.command(START, struct.pack("<BB", self.fmt, self.spf))
            if len(body) != 8:
                raise ProtocolError(f"FPB1 START reply has {len(body)} bytes, expected 8")
            self._streaming = True

    def stop(self) -> None:
        """Stop streaming; DATA already in flight is still returned by :meth:`read`."""
        with self._lock:
            if self._lost is not None:
                self._streaming = False
                self._streaming_before_loss = False  # do not resume after a reconnect
                return
            body = self.command(STOP)
            self._streaming = False
            # Frames sent before the STOP reply were processed by command(); drain a little more.
            self._pump(0.02)
            if len(body) == 4:
                self._stop_wire_seq = struct.unpack("<I", body)[0]

    def unreceived_at_stop(self) -> int:
        """Samples the plate sent up to the last sequence number of its STOP reply that no
        Block brought (lost on the link); 0 before the first stop."""
        with self._lock:
            if self._stop_wire_seq is None:
                return 0
            # the counter starts at 0 at START; wire numbers wrap at 2^32
            expected = 0 if self._next_wire_seq is None else self._next_wire_seq
            owed = (self._stop_wire_seq + 1 - expected) % (1 << 32)
            return owed if owed < (1 << 31) else 0

    def read(self, timeout: float = 0.1) -> list[Block]:
        """Blocks decoded so far, waiting up to ``timeout`` s for data when none is pending.

        Raises
        ------
        ConnectionLost
            The port went away. Blocks decoded before the loss are returned by the call that
            sees the loss; the exception comes with the next call. While the link is down each
            call tries to reconnect (at most every ``reconnect_interval_s``); once the plate is
            back, streaming resumes and the time it was away is a gap.
        """
        with self._lock:
            if self._closed:
                raise ConnectionLost(f"FPB1 plate on {self.port} is closed")
            if self._lost is not None:
                if self._blocks:
                    return self._take()
                self._reconnect_if_due()
            try:
                self._pump(0.0 if self._blocks else timeout)
                if self._streaming and time.monotonic() - self._last_ping > 1.0:
                    self._last_ping = time.monotonic()
                    host_tx = time.time_ns()
                    token = self._send(PING, struct.pack("<Q", host_tx))
                    self._pings[token] = host_tx
                    self._async_pings.add(token)
            except ConnectionLost:
                if self._blocks:
                    return self._take()
                raise
            return self._take()

    def _take(self) -> list[Block]:
        out, self._blocks = self._blocks, []
        return out

    def pop_events(self) -> list[DeviceEvent]:
        """Events since the last call (EVENT frames, boot, unplug, replug, logs)."""
        if not self._events:
            return []  # the usual read: nothing to take, no lock to take for it
        with self._lock:
            out, self._events = self._events, []
        return out

    def zero(self, n_avg: int = 1000) -> list[int]:
        """Zero the plate (nothing on it): the device averages ``n_avg`` samples and subtracts
        the offsets from then on. Returns the offsets in counts."""
        if not 1 <= int(n_avg) <= 65535:
            raise DeviceError(f"zero needs 1..65535 samples to average, not {n_avg!r}")
        timeout = int(n_avg) / self.info.rate_hz + 2.0
        body = self.command(ZERO, struct.pack("<H", int(n_avg)), timeout_s=timeout)
        if len(body) != 24:
            raise ProtocolError(f"FPB1 ZERO reply has {len(body)} bytes, expected 24")
        offsets = list(struct.unpack("<6i", body))
        self._zero_offsets = offsets
        self.info.calibration["zero_offsets"] = offsets
        return offsets

    def set_rate(self, rate_hz: int) -> float:
        """Change the sampling rate (only while stopped); returns the rate the plate uses, Hz.

        Raises
        ------
        DeviceError
            Not a rate of the plate's table, or the plate is streaming.
        """
        if self._streaming:
            raise DeviceError("stop streaming before changing the FPB1 sampling rate")
        if int(rate_hz) not in self.identity.rates_hz:
            raise DeviceError(
                f"{rate_hz} Hz is not an FPB1 rate; choose one of "
                f"{', '.join(map(str, self.identity.rates_hz))}"
            )
        actual = struct.unpack("<H", self.command(SET_RATE, struct.pack("<H", int(rate_hz))))[0]
        self.info.rate_hz = float(actual)
        return self.info.rate_hz

    def set_autozero(self, enable: bool) -> None:
        """Re-zero automatically when |Fz| < 40 N for 3.5 s (EVENT autozero_done)."""
        self.command(SET_AUTOZERO, struct.pack("<B", 1 if enable else 0))
        self._autozero = bool(enable)

    def get_status(self) -> dict[str, Any]:
        """Device status: status bits, temperature (°C), frames sent, samples dropped, time."""
        body = self.command(GET_STATUS)
        if len(body) != 20:
            raise ProtocolError(f"FPB1 GET_STATUS reply has {len(body)} bytes, expected 20")
        status, temp, frames, dropped, t_us = struct.unpack("<HhIIQ", body)
        return {"status": status, "temperature_c": temp / 100.0, "frames_sent": frames,
                "samples_dropped": dropped, "t_device_s": t_us * 1e-6}

    def blink(self) -> None:
        """Blink the plate's LED (find which plate is which)."""
        self.command(BLINK)

    def reset(self) -> None:
        """Reboot the plate; streaming stops and a BOOT frame follows after ~0.5 s."""
        self.command(RESET)
        self._streaming = False

    def reconnect(self, timeout_s: float = 10.0) -> None:
        """Re-open the plate after an unplug, finding it by serial number.

        Tries the original port path and every port (real or simulated) whose serial number
        matches; restores rate, autozero and streaming. The first Block afterwards carries the
        samples missed while unplugged (estimated from host time) in ``gap_before``.

        Raises
        ------
        ConnectionLost
            The plate did not come back within ``timeout_s`` s.
        """
        with self._lock:
            if self._reconnect_within(timeout_s):
                return
        raise ConnectionLost(
            f"FPB1 plate {self.info.serial} did not come back within {timeout_s:g} s "
            f"({self._last_reconnect_error or 'port absent'}); check the cable"
        )

    def _reattach(self, path: str) -> None:
        """FPB1 order: clear the loss (commands refuse to run on a lost link), forget what the
        old link left half-done, handshake again (STOP, IDENTIFY by serial, GET_CAL, SET_RATE,
        PINGs, autozero), then resume streaming; the time away becomes a gap."""
        was_streaming = self._streaming or self._streaming_before_loss
        self._lost = None
        self.codec.reset()
        self._replies.clear()
        self._pings.clear()
        self._async_pings.clear()
        self.clock.reset()
        self._last_t_us = None
        self._seq_check.reset()
        self._clock_corr_us = 0
        self._transport.reset_input()
        try:
            self.command(STOP)
        except ProtocolError as exc:
            if "refused" not in str(exc):
                raise
        ident = Identity.unpack(self.command(IDENTIFY))
        if ident.serial != self.info.serial:
            raise DeviceNotFound(f"{path} is plate {ident.serial}, not {self.info.serial}")
        self._set_calibration(Calibration.unpack(self.command(GET_CAL)))
        self.command(SET_RATE, struct.pack("<H", int(self.info.rate_hz)))
        for _ in range(3):
            self.ping()
        if self._autozero:
            self.command(SET_AUTOZERO, b"\x01")
        if was_streaming:
            # Samples that were not acquired while unplugged become a gap.
            self._pending_gap_from_host = self._last_host_end
            self.start()
        self._streaming_before_loss = False

    _streaming_before_loss = False
    _stop_wire_seq: int | None = None  # last sequence number the STOP reply reported
    _ping_disagreements = 0
    _last_rx = 0.0

    def _stop_quickly(self) -> None:
        self.command(STOP, timeout_s=0.3)

    def close(self) -> None:
        """Stop streaming if possible and release the port (idempotent)."""
        with self._lock:
            super().close()

    def __repr__(self) -> str:
        serial = getattr(getattr(self, "info", None), "serial", "?")
        return f"FPB1Device({self.port!r}, serial={serial!r}, side={self.side!r})"



def _data_format(text: str) -> int:
    return {"raw": FMT_RAW, "0": FMT_RAW, "cal": FMT_CAL, "1": FMT_CAL}[text.lower()]


#: ``fpb1:`` device-string options -> (FPB1Device keyword, converter).
OPTIONS = {
    "side": ("side", lambda v: v.lower() or None), "rate": ("rate_hz", lambda v: int(float(v))),
    "fmt": ("fmt", _data_format), "spf": ("samples_per_frame", int),
    "cop_threshold": ("cop_threshold_n", float), "baud": ("baudrate", int),
}


def open_fpb1(target: str, options: dict[str, str]) -> list[Device]:
    """Registry opener of ``fpb1:``: one plate per comma-separated port.

    Options: ``side`` (left/right), ``rate`` (Hz), ``fmt`` (raw/cal), ``spf`` (samples per
    frame), ``cop_threshold`` (N), ``baud`` (bit/s).

    Raises
    ------
    DeviceNotFound
        A port does not exist.
    ProtocolError
        Something answers, but not as an FPB1 plate.
    DeviceError
        An unknown option or a bad option value.
    """
    kw = convert_options("FPB1", options, OPTIONS, "is a bad FPB1 option value (e.g. "
                         "rate=1000&fmt=raw&spf=8)")
    return open_all(split_ports(target), lambda port: FPB1Device(port, **kw))
