"""INS1 smart-insole device: the :class:`~forcelab.drivers.base.Device` over the INS1 codec.

One INS1 device measures one foot (16 pressure sensors, 6-axis IMU, total force and COP).
:class:`Ins1Device` — commands, handshake, streaming, sequence/clock unwrap, explicit gaps,
Σ p·A cross-check, samples whose sequence number the device clock contradicts dropped and
counted (``stats.corrupt_frames``), unplug detection and reconnect by serial number
(:class:`~forcelab.drivers.serial_device.SerialDevice`); the device clock is mapped to the host
clock from TIME_SYNC round trips (:class:`~forcelab.drivers.clock.ClockFit`).
:func:`open_ins1` is the registry opener of ``ins1:`` device strings (two ports are checked as
one left/right pair, :func:`~forcelab.drivers.insole_pair.pair_insoles`). The wire format
lives in :mod:`forcelab.drivers.protocols.ins1`.

Block columns (``DeviceInfo.channels``): ``fz`` (N, the device's total force), ``cop_x``,
``cop_y`` (normalised to the insole width/length, ±0.5, unit "1"), ``p01..p16`` (kPa, NaN for a
faulty sensor), ``acc_x, acc_y, acc_z`` (g), ``gyr_x, gyr_y, gyr_z`` (deg/s).
"""

from __future__ import annotations

import struct
import time

import numpy as np
from forcelab.drivers.base import (
    KIND_INSOLE,
    ROLE_ACCELERATION,
    ROLE_ANGULAR_RATE,
    ROLE_COP_AP,
    ROLE_COP_ML,
    ROLE_PRESSURE,
    ROLE_VERTICAL,
    Block,
    Channel,
    Device,
    DeviceEvent,
    DeviceInfo,
)
from forcelab.drivers.clock import ClockFit
from forcelab.drivers.errors import ConnectionLost, DeviceError, DeviceNotFound, ProtocolError
from forcelab.drivers.ins1_timeline import Ins1Stats, SampleTimeline
from forcelab.drivers.insole_pair import InsolePair, pair_insoles
from forcelab.drivers.protocols.ins1 import (
    BOOT,
    COP_LSB,
    EVENT,
    EVENT_KINDS,
    F_TOTAL_LSB_N,
    FRAME_OVERHEAD,
    GET_INFO,
    GET_LAYOUT,
    GET_STATUS,
    N_SENSORS,
    RATES_HZ,
    REPLY,
    SAMPLE,
    SAMPLE_SIZE,
    SET_RATE,
    SET_WEIGHT,
    START,
    STATUS_TEXT,
    STOP,
    TIME_SYNC,
    ZERO,
    Frame,
    Ins1Codec,
    Ins1Info,
    SampleRun,
    encode_frame,
    sensor_weights,
    unpack_layout,
)
from forcelab.drivers.serial_device import RECONNECT_INTERVAL_S, SerialDevice, open_all, split_ports
from forcelab.drivers.transport import Transport

__all__ = ["CHANNELS", "Ins1Device", "Ins1Stats", "InsolePair", "open_ins1", "pair_insoles"]

CHANNELS = (
    (Channel("fz", "N", ROLE_VERTICAL), Channel("cop_x", "1", ROLE_COP_ML),
     Channel("cop_y", "1", ROLE_COP_AP))
    + tuple(Channel(f"p{i:02d}", "kPa", ROLE_PRESSURE) for i in range(1, N_SENSORS + 1))
    + tuple(Channel(f"acc_{a}", "g", ROLE_ACCELERATION) for a in "xyz")
    + tuple(Channel(f"gyr_{a}", "deg/s", ROLE_ANGULAR_RATE) for a in "xyz")
)


class Ins1Device(SampleTimeline, SerialDevice):
    """One INS1 insole (one foot) on a serial link.

    Opened connected and stopped: the handshake stops any stream left running, reads GET_INFO
    and GET_LAYOUT, sets the rate and synchronises the clock. ``read(timeout)`` returns Blocks
    whose ``t_host_s`` comes from the fitted device clock (TIME_SYNC every ``sync_interval_s``
    while streaming, fitted with :class:`ClockFit`); a jump in the 16-bit sequence counter
    becomes ``Block.gap_before``.

    Unplug: ``read``/commands raise ConnectionLost within one read timeout; blocks decoded before
    the loss are returned first (the error is raised by the next call). While the link is down
    every ``read`` tries to reopen the port (and, failing that, any port with the same serial
    number) at most every ``reconnect_interval_s``, raising ConnectionLost again until it
    succeeds; on success streaming resumes (if it was on), a ``"replug"`` event is queued and
    the missing time becomes a gap.

    Parameters
    ----------
    port : str
        Serial port path, pty symlink or pyserial URL.
    rate_hz : int, optional
        25, 50, 100 or 200 Hz; default: keep the device's rate.
    sync_interval_s : float
        Seconds between TIME_SYNC round trips while streaming.
    command_timeout_s : float
        Time to wait for each reply, in s (commands are retried twice).
    baudrate : int
        Line rate (ignored by USB-CDC and ptys).
    reconnect_interval_s : float
        Least time between two reconnect attempts while the link is down, in s.
    handshake_syncs : int
        TIME_SYNC round trips at open (the clock is usable from the first block on).

    Attributes
    ----------
    info : DeviceInfo
        Identity, rate, channels, calibration (LSBs, zero offsets, weight scale), layout,
        ``extra["pair_id"]``.
    stats : Ins1Stats
        Link counters plus ``duplicates``, ``force_mismatch``, ``sensor_faults``,
        ``clock_jumps``, ``time_syncs``.
    clock : ClockFit
        Device clock -> host clock (``clock.drift_ppm``).

    Notes
    -----
    ``Block.status`` is the OR of the samples' INS1 flags (bit 0 zeroed, 1 weight-calibrated,
    2 sensor fault, 3 buffer overflow, 4 link re-established) plus bit 8
    (:data:`STATUS_FORCE_MISMATCH`) when Σ p·A from the layout disagrees with ``fz``.
    """

    kind_label = "INS1 insole"
    scheme = "ins1"
    #: ``ins1:///dev/ttyUSB0?rate=200``: ``rate`` / ``rate_hz`` (25, 50, 100, 200),
    #: ``sync_interval_s``, ``command_timeout_s``, ``baud`` / ``baudrate``.
    url_options = {"rate": ("rate_hz", int), "rate_hz": ("rate_hz", int),
                   "sync_interval_s": ("sync_interval_s", float),
                   "command_timeout_s": ("command_timeout_s", float),
                   "baud": ("baudrate", int), "baudrate": ("baudrate", int)}

    def __init__(
        self,
        port: str,
        *,
        rate_hz: int | None = None,
        sync_interval_s: float = 0.25,
        command_timeout_s: float = 0.5,
        baudrate: int = 460800,
        reconnect_interval_s: float = RECONNECT_INTERVAL_S,
        handshake_syncs: int = 8,
    ) -> None:
        if rate_hz is not None and int(rate_hz) not in RATES_HZ:
            raise DeviceError(f"INS1 rate {rate_hz} Hz is not supported; choose one of {RATES_HZ}")
        self._init_link(port, baudrate, reconnect_interval_s)
        self.sync_interval_s = float(sync_interval_s)
        self.command_timeout_s = float(command_timeout_s)
        self.handshake_syncs = int(handshake_syncs)
        self._requested_rate = int(rate_hz) if rate_hz is not None else None
        self.stats = Ins1Stats()
        self.codec = Ins1Codec()
        self.clock = ClockFit()
        self._samples: list[SampleRun] = []  # SAMPLE frames received, not yet made into Blocks
        self._n_samples = 0  # SAMPLE frames in them
        self._samples_since: float | None = None  # time.monotonic() of the oldest pending
        self._parse_bytes = 0  # bytes of a block's worth of SAMPLE frames (set by the handshake)
        self._bytes_since: float | None = None  # time.monotonic() of the oldest unparsed byte
        #: While streaming, a read() returning before ``min_block_samples`` were received keeps
        #: samples younger than this (s) for the next read: fewer, larger blocks for a recorder
        #: that polls often (per-block conversion costs far more than per-sample). One block
        #: period of the transport, so that a sample waits no longer than a gathering read.
        self.hold_s = Transport.STREAM_GATHER_S
        self._token = 0
        self._streaming = False
        self._last_sync = 0.0
        self._sync_pending_since: float | None = None
        self._rebooted = False
        self._resync_needed = False
        self._reset_stream_state()
        self._connect()

    # -- handshake ---------------------------------------------------------------------------
    def _handshake(self) -> None:
        try:
            self._command(STOP, retries=2)
        except ProtocolError:
            pass  # a device that was not streaming may answer BAD_STATE: fine
        self._clear_samples()
        body = self._command(GET_INFO)
        self.ins1_info = Ins1Info.unpack(body)
        self.layout = unpack_layout(self._command(GET_LAYOUT))
        if len(self.layout) != N_SENSORS:
            raise ProtocolError(f"INS1 layout has {len(self.layout)} sensors, expected 16")
        self.min_block_samples = 1
        self._parse_bytes = 0
        self._area_mm2 = np.array([s["area_mm2"] for s in self.layout], dtype=np.float64)
        self._sensor_weights = sensor_weights(self._area_mm2)
        rate = self.ins1_info.rate_hz
        if self._requested_rate is not None and self._requested_rate != rate:
            (rate,) = struct.unpack_from("<H", self._command(SET_RATE, struct.pack(
                "<H", self._requested_rate)))
            self.ins1_info.rate_hz = rate
        if rate not in RATES_HZ:
            raise ProtocolError(f"INS1 device reports rate {rate} Hz, not one of {RATES_HZ}")
        # one gathering read's worth per block: few wake-ups, no sample held longer than that
        self.min_block_samples = max(1, int(rate * Transport.STREAM_GATHER_S))
        self._parse_bytes = self.min_block_samples * (FRAME_OVERHEAD + SAMPLE_SIZE)
        self._resync_needed = False  # a BOOT seen so far is older than these round trips
        for _ in range(self.handshake_syncs):
            self._sync_once()
        info = self.ins1_info
        self.info = DeviceInfo(
            protocol="INS1",
            kind=KIND_INSOLE,
            model=f"INS1 insole size {info.size_code}",
            serial=info.serial,
            firmware=info.firmware,
            side=info.side,
            rate_hz=float(rate),
            channels=CHANNELS,
            calibration={
                "p_lsb_kpa": info.p_lsb_kpa,
                "acc_lsb_g": info.acc_lsb_g,
                "gyr_lsb_dps": info.gyr_lsb_dps,
                "f_total_lsb_n": F_TOTAL_LSB_N,
                "cop_lsb": COP_LSB,
                "zero_offsets": getattr(self, "zero_offsets", None),
                "weight_scale": getattr(self, "weight_scale", None),
            },
            layout=[dict(s) for s in self.layout],
            extra={"pair_id": info.pair_id, "size_code": info.size_code, "port": self.port},
        )

    # -- low level ---------------------------------------------------------------------------
    def _next_token(self) -> int:
        self._token = self._token % 255 + 1
        return self._token

    def _read_bytes(self, timeout_s: float, gather: bool = False) -> bytes:
        data = self._transport.read(timeout_s, gather)
        self.stats.bytes_received += len(data)
        return data

    def _feed(self, data: bytes) -> list[SampleRun | Frame]:
        frames = self.codec.scan(data)
        st = self.stats
        st.frames = self.codec.frames
        st.crc_errors = self.codec.crc_errors
        st.resyncs = self.codec.resyncs
        st.bytes_discarded = self.codec.bytes_discarded
        return frames

    def _dispatch(self, frame: SampleRun | Frame, t_recv_s: float) -> None:
        """Handle an unsolicited frame or run of SAMPLE frames (or a late reply)."""
        if type(frame) is SampleRun:
            if not self._samples:  # held from when its bytes arrived
                self._samples_since = self._bytes_since or time.monotonic()
            self._samples.append(frame)
            self._n_samples += frame.count
        elif frame.type == SAMPLE:  # of the wrong size: discarded by _make_blocks
            self._dispatch(SampleRun(frame.payload, 1), t_recv_s)
        elif frame.type == EVENT and len(frame.payload) >= 5:
            kind, arg = struct.unpack_from("<BI", frame.payload)
            info = getattr(self, "ins1_info", None)
            side = info.side if info is not None else "?"
            self._events.append(
                DeviceEvent(EVENT_KINDS.get(kind, f"event_{kind}"), self._seq_unwrapped,
                            t_recv_s, arg, f"INS1 {side} insole event {kind}")
            )
        elif frame.type == BOOT:
            # while streaming: restart the stream; while stopped: only the clock restarted
            if self._streaming:
                self._rebooted = True
            else:
                self._resync_needed = True
            self._events.append(DeviceEvent("reboot", self._seq_unwrapped, t_recv_s, 0,
                                            "the insole restarted"))
        elif frame.type == (TIME_SYNC | REPLY) and len(frame.payload) >= 18:
            self._on_sync_reply(frame.payload[2:], t_recv_s)

    def _on_sync_reply(self, body: bytes, t_recv_s: float) -> None:
        host_ns, t_rx_us, t_tx_us = struct.unpack_from("<QII", body)
        t_send_s = host_ns * 1e-9
        if not 0 <= t_recv_s - t_send_s < 5.0:
            return  # not our echo
        rx = self._device_time_us(t_rx_us)
        tx = rx + ((t_tx_us - t_rx_us) % (1 << 32))
        self.clock.add(t_send_s, t_recv_s, rx * 1e-6, tx * 1e-6)
        self.stats.time_syncs += 1
        self._sync_pending_since = None

    def _device_time_us(self, raw: int) -> int:
        """Unwrap a raw u32 device time near the last sample time (jump-corrected)."""
        if self._t_last_raw is None:
            return raw + self._t_corr_us
        d = (raw - self._t_last_raw) % (1 << 32)
        if d >= 1 << 31:
            d -= 1 << 32
        return self._t_last_us + d

    def _command(self, ctype: int, payload: bytes = b"", *, retries: int = 2,
                 timeout_s: float | None = None) -> bytes:
        """Send a command and return the reply body after (token, status)."""
        timeout_s = self.command_timeout_s if timeout_s is None else timeout_s
        name = {GET_INFO: "GET_INFO", GET_LAYOUT: "GET_LAYOUT", SET_RATE: "SET_RATE",
                START: "START", STOP: "STOP", ZERO: "ZERO", SET_WEIGHT: "SET_WEIGHT",
                TIME_SYNC: "TIME_SYNC", GET_STATUS: "GET_STATUS"}.get(ctype, hex(ctype))
        for attempt in range(retries + 1):
            token = self._next_token()
            self._write(encode_frame(ctype, bytes([token]) + payload))
            deadline = time.monotonic() + timeout_s
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                data = self._read_bytes(min(remaining, 0.05))
                if not data:
                    continue
                t_recv = time.time()
                answer = None
                for fr in self._feed(data):
                    reply = type(fr) is Frame and fr.type == (ctype | REPLY) and \
                        len(fr.payload) >= 2
                    if answer is None and reply and fr.payload[0] == token:
                        answer = fr.payload
                    else:  # also what came with the reply (e.g. the first samples after START)
                        self._dispatch(fr, t_recv)
                if answer is None:
                    continue
                self._reply_t_recv = t_recv
                status = answer[1]
                if status != 0:
                    if ctype == START and attempt > 0 and status == 2:
                        return b""  # the first START arrived; its reply was lost
                    hint = {
                        (ZERO, 2): ": the insole is loaded; lift the foot and zero again",
                        (SET_RATE, 2): ": stop streaming before changing the rate",
                        (SET_RATE, 1): f": rates are {RATES_HZ} Hz",
                    }.get((ctype, status), "")
                    raise ProtocolError(
                        f"INS1 {name} refused: {STATUS_TEXT.get(status, status)}{hint}"
                    )
                return answer[2:]
        raise ProtocolError(
            f"no reply to INS1 {name} from {self.port} within {timeout_s:g} s: check that the "
            f"port is an INS1 insole (switched on, in range) and not used by another program"
        )

    def _write(self, data: bytes) -> None:
        self._transport.write(data)

    def _sync_once(self) -> None:
        t_send_ns = time.time_ns()
        body = self._command(TIME_SYNC, struct.pack("<Q", t_send_ns))
        self._on_sync_reply(body, self._reply_t_recv)

    def _send_sync_async(self) -> None:
        """Send TIME_SYNC without waiting; the reply is fitted when it arrives."""
        self._write(encode_frame(TIME_SYNC, bytes([self._next_token()])
                                 + struct.pack("<Q", time.time_ns())))
        self._last_sync = time.monotonic()
        self._sync_pending_since = self._last_sync

    # -- public API ----------------------------------------------------------------------------
    @property
    def streaming(self) -> bool:
        """True between start() and stop()."""
        return self._streaming

    @property
    def label(self) -> str:
        """The insole in messages: foot and serial number."""
        info = getattr(self, "info", None)
        return f"INS1 {info.side} insole {info.serial}" if info is not None else "INS1 insole"

    def _event_seq(self) -> int:
        return self._seq_unwrapped

    def _resync_after_idle_reboot(self) -> None:
        """The insole restarted while stopped: its clock (and rate) restarted."""
        self._resync_needed = False
        self.clock.reset()
        self._command(SET_RATE, struct.pack("<H", self.ins1_info.rate_hz))
        for _ in range(3):
            self._sync_once()

    def start(self) -> None:
        """Start streaming (SAMPLE frames at ``info.rate_hz``)."""
        self._guard()
        try:
            if self._resync_needed:
                self._resync_after_idle_reboot()
            self._command(START)
        except ConnectionLost as exc:
            raise self._on_lost(exc) from exc
        self._streaming = True
        self._reset_for_resume(gap=False)
        self._last_sync = time.monotonic()

    def stop(self) -> None:
        """Stop streaming; samples still in flight are returned by the next read()."""
        self._guard()
        try:
            self._command(STOP)
        except ConnectionLost as exc:
            raise self._on_lost(exc) from exc
        finally:
            self._streaming = False

    def zero(self) -> None:
        """Zero the pressure sensors (foot unloaded); stores the device's offsets."""
        self._guard()
        body = self._command(ZERO, timeout_s=max(self.command_timeout_s, 2.0))
        self.zero_offsets = list(struct.unpack_from(f"<{N_SENSORS}H", body))
        self.info.calibration["zero_offsets"] = self.zero_offsets

    def set_weight(self, body_weight_n: float) -> float:
        """Weight calibration with the athlete standing on the insoles; returns the scale."""
        self._guard()
        if not np.isfinite(body_weight_n) or body_weight_n <= 0:
            raise DeviceError(f"body weight must be a positive force in N, got {body_weight_n}")
        body = self._command(SET_WEIGHT, struct.pack("<f", body_weight_n),
                             timeout_s=max(self.command_timeout_s, 2.0))
        (self.weight_scale,) = struct.unpack_from("<f", body)
        self.info.calibration["weight_scale"] = self.weight_scale
        self.info.calibration["body_weight_n"] = float(body_weight_n)
        return float(self.weight_scale)

    def get_status(self) -> dict[str, int]:
        """Battery, charging, RSSI and the device's own dropped-sample counter."""
        self._guard()
        body = self._command(GET_STATUS)
        battery, charging, rssi, dropped = struct.unpack_from("<BBbI", body)
        return {"battery_pct": battery, "charging": bool(charging), "rssi_dbm": rssi,
                "samples_dropped": dropped}

    def read(self, timeout: float = 0.1) -> list[Block]:
        """Return the Blocks decoded within ``timeout`` s.

        While streaming, one call wakes once per block: the transport sleeps until
        ``Transport.STREAM_GATHER_S`` after its previous take and takes everything that came
        meanwhile, and that is the block. Without such a wait (a poll, a TIME_SYNC reply due)
        a call returns once ``min_block_samples`` samples (that block's worth) were decoded;
        one that ends before that keeps samples received less than ``hold_s`` (one block
        period) ago for the next read while streaming (a recorder polling every few ms gets
        the same blocks). After stop(), a reboot or an unplug every received sample is
        returned at once.
        """
        self._before_read()
        deadline = time.monotonic() + max(0.0, float(timeout))
        blocks: list[Block] = []
        try:
            while True:
                if self._streaming and time.monotonic() - self._last_sync >= self.sync_interval_s:
                    self._send_sync_async()
                elif self._sync_pending_since is not None and \
                        time.monotonic() - self._sync_pending_since > 0.25:
                    self._sync_pending_since = None  # its reply was lost (damaged frame)
                remaining = deadline - time.monotonic()
                # Streaming: one wake-up per block of samples (the transport gathers them), and
                # what one such read took is that block; not while a TIME_SYNC reply is
                # awaited (its arrival time must be exact), nor for a poll (no wait).
                gather = self._streaming and self._sync_pending_since is None and remaining > 0
                data = self._read_bytes(max(0.0, min(remaining, 0.05)), gather)
                gathered = gather and bool(data)
                if data:
                    # Bytes are taken from the port at once (a pulled cable loses nothing
                    # already delivered) but parsed once a block's worth is here, unless a
                    # TIME_SYNC reply is awaited.
                    self.codec.push(data)
                    if gathered and (usual := self._usual_read()) is not None:
                        blocks.append(usual)  # the block of a usual read: nothing held back
                        self._bytes_since = None
                        return blocks
                    if self._bytes_since is None:
                        self._bytes_since = time.monotonic()
                    if gathered or self._sync_pending_since is not None or \
                            not self._streaming or self.codec.pending_bytes >= self._parse_bytes:
                        self._parse_received(blocks)
                now = time.monotonic()
                if now >= deadline and self._bytes_since is not None and (
                        not self._streaming or now - self._bytes_since >= self.hold_s):
                    self._parse_received(blocks)
                if self._rebooted:
                    self._handle_reboot()
                full = gathered or self._n_samples >= self.min_block_samples
                if full or now >= deadline:
                    if self._samples and (
                            full
                            or not self._streaming
                            or now - self._samples_since >= self.hold_s):
                        blocks.extend(self._make_blocks())
                    return blocks
        except ConnectionLost as exc:
            self._parse_received(blocks)  # everything received before the loss
            lost = self._on_lost(exc)
            if self._samples:
                blocks.extend(self._make_blocks())
            if blocks:
                self._raise_pending = lost
                return blocks
            raise lost from exc

    def _parse_received(self, blocks: list[Block]) -> None:
        """Parse the bytes pushed into the codec and dispatch their frames."""
        t_recv = time.time()
        for fr in self._feed(b""):
            if self._samples and type(fr) is Frame and fr.type == BOOT:
                blocks.extend(self._make_blocks())  # samples before the reboot
            self._dispatch(fr, t_recv)
        self._bytes_since = None

    def _stop_quickly(self) -> None:
        self._command(STOP, retries=0, timeout_s=0.2)

    # -- reconnect ---------------------------------------------------------------------------------
    def _handle_reboot(self) -> None:
        self._rebooted = False
        self.clock.reset()
        self._reset_for_resume(gap=True)
        self._resume_after_connect()

    def _reset_for_resume(self, gap: bool) -> None:
        """Restart sequence/time unwrapping; keep Block.seq increasing; maybe count a gap."""
        t_host_last, seq_u = self._t_host_last, self._seq_unwrapped
        had = self._seq_last16 is not None
        corr = self._t_corr_us
        self._reset_stream_state()
        self._seq_unwrapped = seq_u
        if not gap:
            self._t_corr_us = corr  # same device clock: keep its jump correction
        if gap and had and t_host_last is not None:
            self._gap_from_host = True
            self._t_host_last = t_host_last

    def _resume_after_connect(self) -> None:
        # a restarted insole is back at its default rate: set the one this stream uses
        self._command(SET_RATE, struct.pack("<H", self.ins1_info.rate_hz))
        for _ in range(3):
            self._sync_once()
        if self._streaming:
            self._command(START)
            self._last_sync = time.monotonic()

    def reconnect(self, timeout_s: float = 2.0) -> bool:
        """Try to reopen the link until ``timeout_s`` passes; True when streaming resumed."""
        return self._reconnect_within(timeout_s)

    def _reattach(self, path: str) -> None:
        """INS1 order: stop a stream left running, check the serial number, then clear the
        loss before the commands that resume (rate, TIME_SYNCs, START); the time away becomes
        a gap."""
        self.codec.reset()
        try:
            self._command(STOP, retries=0, timeout_s=0.3)
        except ProtocolError:
            pass
        info = Ins1Info.unpack(self._command(GET_INFO))
        if info.serial != self.info.serial:
            raise DeviceNotFound(f"{path} is INS1 insole {info.serial}, not {self.info.serial}")
        self._clear_samples()
        self.clock.reset()
        self._lost = None
        self._reset_for_resume(gap=True)
        self._resume_after_connect()
        self._rebooted = self._resync_needed = False  # handled right here


def open_ins1(target: str, options: dict[str, str]) -> list[Device]:
    """Registry opener of ``ins1:``: one insole per comma-separated port; two ports must be one
    left and one right foot of one pair (a clear DeviceError otherwise)."""
    devices = open_all(split_ports(target), lambda port: Ins1Device.from_url(port, **options))
    if len(devices) == 2:
        try:
            pair_insoles(devices)  # two left feet or two pairs: a clear error
        except DeviceError:
            for d in devices:
                d.close()
            raise
    return devices
