"""FPB1: binary 6-axis force plate with a calibration matrix (see docs/protocols.md).

Layers
------
- :class:`FPB1Codec` — pure, incremental ``feed(bytes) -> [Frame]``: hunts ``A5 5A``, rejects
  LEN > 1024, waits for ``8 + LEN`` bytes, checks CRC-16/CCITT-FALSE; on a bad CRC it advances ONE
  byte (never skips the claimed length). Counts ``frames``, ``crc_errors``, ``resyncs``,
  ``bytes_discarded``. Never raises on any input. :func:`encode_frame` builds frames (simulator).
- :func:`decode_data` — vectorised DATA payload decoding (one ``np.frombuffer`` per run of
  frames with the same shape).
- :class:`Calibration` — raw counts -> mV/V -> N and N·m through the matrix; COP and free moment
  (NaN when Fz is below a threshold).
- :class:`FPB1Device` — the :class:`~forcelab.drivers.base.Device`: handshake (IDENTIFY, GET_CAL,
  SET_RATE, PINGs), commands interleaved with streaming (replies matched by token), clock
  offset/skew fit from PING round trips (lowest-RTT samples), seq unwrap (2^32), gaps, EVENT and
  status surfaced as DeviceEvents, unplug -> ConnectionLost (samples received before it are
  returned first), :meth:`FPB1Device.reconnect` by serial number.

Block.samples columns: ``fx, fy, fz`` (N), ``mx, my, mz`` (N·m), ``cop_x, cop_y`` (m),
``tz`` (N·m). Plate frame: x toward the athlete's right, y forward, z up, Fz positive = load.
"""

from __future__ import annotations

import binascii
import functools
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from forcelab.drivers.base import (
    KIND_PLATE,
    ROLE_COP_AP,
    ROLE_COP_ML,
    ROLE_FORCE_AP,
    ROLE_FORCE_ML,
    ROLE_FREE_MOMENT,
    ROLE_MOMENT_X,
    ROLE_MOMENT_Y,
    ROLE_MOMENT_Z,
    ROLE_VERTICAL,
    Block,
    Channel,
    Device,
    DeviceEvent,
    DeviceInfo,
    LinkStats,
)
from forcelab.drivers.errors import ConnectionLost, DeviceError, DeviceNotFound, ProtocolError
from forcelab.drivers.transport import Transport, wait_for_port

SYNC = b"\xa5\x5a"
MAX_LEN = 1024
HEADER = struct.Struct("<2sBBH")  # sync, type, token, len

# Commands
IDENTIFY = 0x01
GET_CAL = 0x02
SET_RATE = 0x03
START = 0x04
STOP = 0x05
ZERO = 0x06
GET_STATUS = 0x07
PING = 0x08
SET_AUTOZERO = 0x09
BLINK = 0x0A
RESET = 0x0B
REPLY = 0x80
# Unsolicited
DATA = 0x40
EVENT = 0x41
LOG = 0x42
BOOT = 0x43

COMMAND_NAMES = {
    IDENTIFY: "IDENTIFY", GET_CAL: "GET_CAL", SET_RATE: "SET_RATE", START: "START",
    STOP: "STOP", ZERO: "ZERO", GET_STATUS: "GET_STATUS", PING: "PING",
    SET_AUTOZERO: "SET_AUTOZERO", BLINK: "BLINK", RESET: "RESET",
}
STATUS_OK, STATUS_BAD_ARG, STATUS_BAD_STATE, STATUS_UNSUPPORTED, STATUS_BUSY = range(5)
STATUS_TEXT = {0: "OK", 1: "BAD_ARG", 2: "BAD_STATE", 3: "UNSUPPORTED", 4: "BUSY"}
EVENT_KINDS = {
    1: "sync_rising", 2: "sync_falling", 3: "overrange_start", 4: "overrange_end",
    5: "overflow", 6: "autozero_done",
}
RATES_HZ = (10, 20, 25, 40, 50, 100, 200, 250, 400, 500, 1000, 2000)
DEFAULT_RATE_HZ = 1000
FMT_RAW, FMT_CAL = 0, 1

# DATA status bits
ST_OVERRANGE_MASK = 0x3F
ST_ZEROED = 1 << 6
ST_AUTOZERO = 1 << 7
ST_OVERFLOW = 1 << 8
ST_SYNC_IN = 1 << 9
ST_AUX_IN = 1 << 10
ST_OVERTEMP = 1 << 11

DATA_HEADER = struct.Struct("<IQBBH")  # seq, t_us, n, fmt, status (16 bytes)
EVENT_BODY = struct.Struct("<IBI")
ADC_FULL_SCALE = 1 << 23
#: A line quiet this long (s) with bytes pending holds a damaged frame that will never complete.
QUIET_S = 0.05

CHANNELS = (
    Channel("fx", "N", ROLE_FORCE_ML), Channel("fy", "N", ROLE_FORCE_AP),
    Channel("fz", "N", ROLE_VERTICAL),
    Channel("mx", "N*m", ROLE_MOMENT_X), Channel("my", "N*m", ROLE_MOMENT_Y),
    Channel("mz", "N*m", ROLE_MOMENT_Z),
    Channel("cop_x", "m", ROLE_COP_ML), Channel("cop_y", "m", ROLE_COP_AP),
    Channel("tz", "N*m", ROLE_FREE_MOMENT),
)


# ---------------------------------------------------------------------------------------------
# Codec
# ---------------------------------------------------------------------------------------------
class Frame(NamedTuple):
    """One checked frame: TYPE, TOKEN and payload bytes."""

    type: int
    token: int
    payload: bytes


def encode_frame(frame_type: int, payload: bytes = b"", token: int = 0) -> bytes:
    """Build one FPB1 frame (SYNC, TYPE, TOKEN, LEN, PAYLOAD, CRC).

    Raises
    ------
    ValueError
        Payload longer than 1024 bytes or a type/token outside 0..255.
    """
    if len(payload) > MAX_LEN:
        raise ValueError(f"FPB1 payload of {len(payload)} bytes exceeds {MAX_LEN}")
    body = struct.pack("<BBH", frame_type, token, len(payload)) + bytes(payload)
    return SYNC + body + struct.pack("<H", binascii.crc_hqx(body, 0xFFFF))


class FPB1Codec:
    """Incremental FPB1 frame parser (pure: no I/O, never raises on any input).

    Attributes
    ----------
    frames, crc_errors, resyncs, bytes_discarded : int
        Counters: frames accepted, frames rejected by CRC, times the parser lost sync and hunted,
        bytes thrown away while hunting.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames = 0
        self.crc_errors = 0
        self.bad_lengths = 0
        self.resyncs = 0
        self.bytes_discarded = 0
        self._in_sync = True

    @property
    def pending_bytes(self) -> int:
        """Bytes kept for the next call (an incomplete frame or a lone 0xA5)."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget buffered bytes (after a reconnect); counters are kept."""
        self._buf.clear()
        self._in_sync = True

    def _lose_sync(self) -> None:
        if self._in_sync:
            self.resyncs += 1
            self._in_sync = False

    def expire(self) -> list[Frame]:
        """The line went quiet with bytes pending: an incomplete frame at the head will never
        complete (it was truncated, or its LEN was corrupted). Give up on it one byte at a time
        and return the complete frames found in what follows (e.g. a reply stuck behind it)."""
        out: list[Frame] = []
        while self._buf:
            self._lose_sync()
            self.bytes_discarded += 1
            del self._buf[:1]
            out += self.feed(b"")
        return out

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add received bytes; return the complete, CRC-checked frames in order."""
        buf = self._buf
        buf += data
        out: list[Frame] = []
        pos = 0
        n = len(buf)
        crc = binascii.crc_hqx
        mv = memoryview(buf)  # slices without copies; released before buf is resized
        try:
            while True:
                i = buf.find(SYNC, pos)
                if i < 0:
                    keep = 1 if n > pos and buf[n - 1] == 0xA5 else 0
                    skipped = n - pos - keep
                    if skipped > 0:
                        self._lose_sync()
                        self.bytes_discarded += skipped
                    pos = n - keep
                    break
                if i > pos:
                    self._lose_sync()
                    self.bytes_discarded += i - pos
                    pos = i
                if n - i < 6:
                    break
                length = buf[i + 4] | (buf[i + 5] << 8)
                if length > MAX_LEN:
                    self.bad_lengths += 1
                    self._lose_sync()
                    self.bytes_discarded += 1
                    pos = i + 1
                    continue
                end = i + 6 + length
                if n < end + 2:
                    break
                if crc(mv[i + 2:end], 0xFFFF) != (buf[end] | (buf[end + 1] << 8)):
                    self.crc_errors += 1
                    self._lose_sync()
                    self.bytes_discarded += 1
                    pos = i + 1
                    continue
                out.append(Frame(buf[i + 2], buf[i + 3], mv[i + 6:end].tobytes()))
                self._in_sync = True
                pos = end + 2
        finally:
            mv.release()
        if pos:
            del buf[:pos]
        self.frames += len(out)
        return out


# ---------------------------------------------------------------------------------------------
# DATA decoding
# ---------------------------------------------------------------------------------------------
@dataclass
class DataRun:
    """Decoded DATA frames with the same sample count and format, in arrival order.

    ``seq`` (u32 wire values), ``t_us``, ``status`` have one entry per frame; ``values`` has shape
    (frames, n, 6): int32 counts (raw) or float32 N/N·m (calibrated).
    """

    seq: np.ndarray
    t_us: np.ndarray
    status: np.ndarray
    fmt: int
    n: int
    values: np.ndarray


@functools.lru_cache(maxsize=64)
def _data_dtype(n: int, fmt: int) -> np.dtype:
    return np.dtype([
        ("seq", "<u4"), ("t_us", "<u8"), ("n", "u1"), ("fmt", "u1"), ("status", "<u2"),
        ("v", ("<i4" if fmt == FMT_RAW else "<f4", (n, 6))),
    ])


def encode_data(seq: int, t_us: int, status: int, values: np.ndarray, fmt: int) -> bytes:
    """DATA payload for ``values`` of shape (n, 6): int32 counts (fmt 0) or float32 (fmt 1)."""
    n = values.shape[0]
    arr = np.asarray(values, dtype="<i4" if fmt == FMT_RAW else "<f4")
    return DATA_HEADER.pack(seq & 0xFFFFFFFF, t_us, n, fmt, status) + arr.tobytes()


def decode_data(payloads: list[bytes]) -> list[DataRun]:
    """Decode DATA payloads; consecutive payloads of the same shape are decoded at once.

    Payloads whose length does not match their header (n, fmt) are skipped (counted by the
    caller as protocol errors via the returned total).

    Returns
    -------
    list of DataRun
    """
    runs: list[DataRun] = []
    group: list[bytes] = []
    key: tuple[int, int] | None = None

    def flush() -> None:
        if not group:
            return
        n, fmt = key  # type: ignore[misc]
        rec = np.frombuffer(b"".join(group), dtype=_data_dtype(n, fmt))
        runs.append(DataRun(rec["seq"].astype(np.int64), rec["t_us"].astype(np.int64),
                            rec["status"].astype(np.int64), fmt, n, rec["v"]))
        group.clear()

    for p in payloads:
        if len(p) < DATA_HEADER.size:
            continue
        n, fmt = p[12], p[13]
        if fmt not in (FMT_RAW, FMT_CAL) or n < 1 or len(p) != DATA_HEADER.size + 24 * n:
            continue
        if (n, fmt) != key:
            flush()
            key = (n, fmt)
        group.append(p)
    flush()
    return runs


# ---------------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------------
_CAL_HEAD = struct.Struct("<B36ff6ff3f2H10s")


@dataclass
class Calibration:
    """The plate's calibration as GET_CAL reports it.

    Parameters
    ----------
    matrix : ndarray, shape (6, 6)
        N or N·m per mV/V, rows Fx..Mz, columns bridge 1..6.
    v_exc : float
        Bridge excitation in V.
    gain : ndarray, shape (6,)
        Amplifier gain per bridge.
    v_ref : float
        ADC reference in V.
    origin_m : ndarray, shape (3,)
        True origin (a, b, c) of the plate in m (c < 0: below the surface).
    size_mm : tuple of int
        Plate size (width x, length y) in mm.
    cal_date : str
        Calibration date.
    units : int
        0 = N and N·m per mV/V.
    """

    matrix: np.ndarray
    v_exc: float
    gain: np.ndarray
    v_ref: float
    origin_m: np.ndarray
    size_mm: tuple[int, int]
    cal_date: str
    units: int = 0

    def pack(self) -> bytes:
        """GET_CAL reply body (after the status byte)."""
        return _CAL_HEAD.pack(
            self.units, *np.asarray(self.matrix, np.float32).ravel().tolist(), self.v_exc,
            *np.asarray(self.gain, np.float32).tolist(), self.v_ref,
            *np.asarray(self.origin_m, np.float32).tolist(), *self.size_mm,
            self.cal_date.encode("ascii")[:10].ljust(10, b"\0"),
        )

    @classmethod
    def unpack(cls, body: bytes) -> Calibration:
        """Parse a GET_CAL reply body.

        Raises
        ------
        ProtocolError
            Wrong length or nonsense values (zero gain or excitation, non-finite matrix).
        """
        if len(body) != _CAL_HEAD.size:
            raise ProtocolError(
                f"FPB1 GET_CAL reply has {len(body)} bytes, expected {_CAL_HEAD.size}; "
                f"the firmware does not speak FPB1 version 1"
            )
        v = _CAL_HEAD.unpack(body)
        units = v[0]
        matrix = np.array(v[1:37], dtype=np.float64).reshape(6, 6)
        v_exc = float(v[37])
        gain = np.array(v[38:44], dtype=np.float64)
        v_ref = float(v[44])
        origin = np.array(v[45:48], dtype=np.float64)
        size = (int(v[48]), int(v[49]))
        date = v[50].rstrip(b"\0").decode("ascii", "replace")
        if not (np.all(np.isfinite(matrix)) and np.all(gain > 0) and v_exc > 0 and v_ref > 0
                and np.all(np.isfinite(origin))):
            raise ProtocolError(
                "FPB1 calibration read-back is invalid (zero gain/excitation or non-finite "
                "matrix); the plate needs recalibration by its maker"
            )
        return cls(matrix, v_exc, gain, v_ref, origin, size, date, units)

    def rounded(self) -> Calibration:
        """The calibration as it travels on the wire (float32-rounded)."""
        return Calibration.unpack(self.pack())

    @property
    def mvv_per_count(self) -> np.ndarray:
        """mV/V per ADC count for each bridge: v_ref / 2^23 / gain / v_exc × 1000."""
        return self.v_ref / ADC_FULL_SCALE / self.gain / self.v_exc * 1000.0

    def counts_to_loads(self, counts: np.ndarray) -> np.ndarray:
        """Raw counts (n, 6) -> Fx, Fy, Fz (N), Mx, My, Mz (N·m), shape (n, 6)."""
        mvv = np.asarray(counts, dtype=np.float64) * self.mvv_per_count
        return mvv @ self.matrix.T

    def loads_to_counts(self, loads: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`counts_to_loads` (float counts, not rounded)."""
        mvv = np.asarray(loads, dtype=np.float64) @ np.linalg.inv(self.matrix).T
        return mvv / self.mvv_per_count

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (for DeviceInfo.calibration)."""
        return {
            "units": "N and N*m per mV/V" if self.units == 0 else f"code {self.units}",
            "matrix": np.asarray(self.matrix).tolist(),
            "v_exc": self.v_exc,
            "gain": np.asarray(self.gain).tolist(),
            "v_ref": self.v_ref,
            "origin_m": np.asarray(self.origin_m).tolist(),
            "size_mm": list(self.size_mm),
            "cal_date": self.cal_date,
        }


def loads_to_samples(loads: np.ndarray, origin_m: np.ndarray,
                     threshold_n: float = 20.0) -> np.ndarray:
    """Append COP and free moment to loads (n, 6) -> samples (n, 9).

    COP with true origin (a, b, c), c < 0: x = (My + c·Fx)/Fz + a, y = (Mx − c·Fy)/Fz + b;
    free moment Tz = Mz − (x − a)·Fy + (y − b)·Fx. All three are NaN where Fz < ``threshold_n``.
    """
    a, b, c = (float(v) for v in origin_m)
    n = loads.shape[0]
    out = np.empty((n, 9))
    out[:, :6] = loads
    fx, fy, fz, mx, my, mz = out[:, 0], out[:, 1], out[:, 2], out[:, 3], out[:, 4], out[:, 5]
    inv_fz = np.full(n, np.nan)
    np.divide(1.0, fz, out=inv_fz, where=fz >= threshold_n)  # NaN where unloaded
    x = out[:, 6]
    y = out[:, 7]
    np.multiply(my + c * fx, inv_fz, out=x)
    np.multiply(mx - c * fy, inv_fz, out=y)
    # free moment about the COP: Tz = Mz - (x - a) Fy + (y - b) Fx, with x - a, y - b as computed
    out[:, 8] = mz - x * fy + y * fx
    x += a
    y += b
    return out


# ---------------------------------------------------------------------------------------------
# Identify
# ---------------------------------------------------------------------------------------------
_IDENT_HEAD = struct.Struct("<B16s16s8sBBB")


@dataclass
class Identity:
    """IDENTIFY reply / BOOT body."""

    proto: int
    model: str
    serial: str
    firmware: str
    n_channels: int = 6
    adc_bits: int = 24
    rates_hz: tuple[int, ...] = RATES_HZ

    def pack(self) -> bytes:
        """Body after the status byte (also the BOOT frame payload)."""
        return _IDENT_HEAD.pack(
            self.proto, self.model.encode()[:16], self.serial.encode()[:16],
            self.firmware.encode()[:8], self.n_channels, self.adc_bits, len(self.rates_hz),
        ) + struct.pack(f"<{len(self.rates_hz)}H", *self.rates_hz)

    @classmethod
    def unpack(cls, body: bytes) -> Identity:
        """Parse an IDENTIFY body.

        Raises
        ------
        ProtocolError
            Too short, wrong protocol version or channel count.
        """
        if len(body) < _IDENT_HEAD.size:
            raise ProtocolError(f"FPB1 IDENTIFY reply too short ({len(body)} bytes)")
        proto, model, serial, fw, n_ch, bits, n_rates = _IDENT_HEAD.unpack_from(body)
        if len(body) != _IDENT_HEAD.size + 2 * n_rates:
            raise ProtocolError(f"FPB1 IDENTIFY reply has {len(body)} bytes for {n_rates} rates")
        if proto != 1 or n_ch != 6:
            raise ProtocolError(
                f"device speaks FPB1 protocol version {proto} with {n_ch} channels; forcelab "
                f"supports version 1 with 6 channels — update forcelab or the firmware"
            )
        rates = struct.unpack_from(f"<{n_rates}H", body, _IDENT_HEAD.size)

        def s(b: bytes) -> str:
            return b.rstrip(b"\0").decode("ascii", "replace")

        return cls(proto, s(model), s(serial), s(fw), n_ch, bits, tuple(rates))


# ---------------------------------------------------------------------------------------------
# Clock
# ---------------------------------------------------------------------------------------------
class ClockFit:
    """Maps device time to host time from PING round trips.

    Each round trip gives (host send, host receive, device receipt time). The host time of the
    device timestamp is assumed at the round-trip midpoint; only the lowest-RTT trips are trusted.
    Offset comes from the best trips; skew from a line through the best trip of each time window
    once the trips span ``min_span_s`` s.
    """

    def __init__(self, min_span_s: float = 10.0, keep: int = 512) -> None:
        self.min_span_s = min_span_s
        self.keep = keep
        self._trips: list[tuple[float, float, float]] = []  # (rtt_s, host_mid_s, dev_s)
        self.offset_s = 0.0
        self.skew = 0.0
        self._dev_ref = 0.0
        self.n = 0

    def add(self, host_tx_ns: int, host_rx_ns: int, dev_us: int) -> None:
        """Add one round trip (host ns on the time.time() epoch, device µs)."""
        rtt = (host_rx_ns - host_tx_ns) * 1e-9
        if rtt < 0:
            return
        mid = (host_tx_ns + host_rx_ns) * 0.5e-9
        self._trips.append((rtt, mid, dev_us * 1e-6))
        if len(self._trips) > self.keep:
            del self._trips[0]
        self.n += 1
        self._fit()

    def reset(self) -> None:
        """Forget all trips (device rebooted: its clock restarted)."""
        self._trips.clear()
        self.n = 0

    def _fit(self) -> None:
        trips = np.array(self._trips)
        rtt, mid, dev = trips[:, 0], trips[:, 1], trips[:, 2]
        span = dev.max() - dev.min()
        if span >= self.min_span_s and len(trips) >= 8:
            bins = np.minimum(((dev - dev.min()) / span * 8).astype(int), 7)
            best = [np.flatnonzero(bins == k)[np.argmin(rtt[bins == k])]
                    for k in range(8) if np.any(bins == k)]
            d, h = dev[best], mid[best]
            self._dev_ref = float(d.mean())
            slope, icpt = np.polyfit(d - self._dev_ref, h - d, 1)
            self.skew = float(slope)
            self.offset_s = float(icpt)
        else:
            k = max(1, len(trips) // 4)
            best = np.argsort(rtt)[:k]
            self.skew = 0.0
            self._dev_ref = 0.0
            self.offset_s = float(np.median(mid[best] - dev[best]))

    @property
    def best_rtt_s(self) -> float:
        """Lowest round trip seen, in s (inf before any)."""
        return min((t[0] for t in self._trips), default=float("inf"))

    def to_host(self, dev_s: float | np.ndarray) -> float | np.ndarray:
        """Host time (s, time.time() epoch) of a device time in s."""
        return dev_s + self.offset_s + self.skew * (dev_s - self._dev_ref)


# ---------------------------------------------------------------------------------------------
# Device
# ---------------------------------------------------------------------------------------------
class FPB1Device(Device):
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

    def __init__(
        self,
        port: str,
        *,
        side: str | None = None,
        rate_hz: int = DEFAULT_RATE_HZ,
        fmt: int = FMT_RAW,
        samples_per_frame: int = 8,
        cop_threshold_n: float = 20.0,
        reply_timeout_s: float = 1.0,
        baudrate: int = 921600,
        reconnect_interval_s: float = 0.25,
        transport: Transport | None = None,
    ) -> None:
        if side not in (None, "left", "right"):
            raise DeviceError(f"side must be 'left', 'right' or empty, not {side!r}")
        if fmt not in (FMT_RAW, FMT_CAL):
            raise DeviceError(f"FPB1 data format must be 0 (raw) or 1 (calibrated), not {fmt!r}")
        if not 1 <= int(samples_per_frame) <= 16:
            raise DeviceError(f"samples per frame must be 1..16, not {samples_per_frame!r}")
        if not (np.isfinite(cop_threshold_n) and cop_threshold_n > 0):
            raise DeviceError(f"COP threshold must be > 0 N, not {cop_threshold_n!r}")
        self.port = port
        self.side = side
        self.fmt = int(fmt)
        self.spf = int(samples_per_frame)
        self.cop_threshold_n = float(cop_threshold_n)
        self.reply_timeout_s = float(reply_timeout_s)
        self.baudrate = int(baudrate)
        self.reconnect_interval_s = float(reconnect_interval_s)
        self.stats = LinkStats()
        self.codec = FPB1Codec()
        self.clock = ClockFit()
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
        self._events: list[DeviceEvent] = []
        self._streaming = False
        self._lost: ConnectionLost | None = None
        self._closed = False
        self._next_wire_seq: int | None = None
        self._next_seq = 0  # unwrapped sequence number of the next sample expected
        self._last_ping = 0.0
        self._last_host_end: float | None = None
        self._autozero = False
        self._zero_offsets: list[int] | None = None
        self._requested_rate = int(rate_hz)
        self._transport = transport or Transport.open(port, baudrate=self.baudrate)
        try:
            self._handshake(int(rate_hz))
        except BaseException:
            self._transport.close()
            raise

    # -- plumbing ------------------------------------------------------------------------
    def _next_token(self) -> int:
        self._token = self._token % 255 + 1
        return self._token

    def _pump(self, timeout_s: float) -> None:
        """Read what is available (waiting up to timeout_s) and process the frames."""
        try:
            data = self._transport.read(timeout_s)
        except ConnectionLost as exc:
            self._mark_lost(exc)
            raise
        if data:
            self._last_rx = time.monotonic()
            self.stats.bytes_received += len(data)
            self._process(self.codec.feed(data))
        elif self.codec.pending_bytes and time.monotonic() - self._last_rx > QUIET_S:
            # Nothing more is coming: what is pending can only be a damaged frame.
            self._process(self.codec.expire())
        c = self.codec
        self.stats.frames = c.frames
        self.stats.crc_errors = c.crc_errors
        self.stats.resyncs = c.resyncs
        self.stats.bytes_discarded = c.bytes_discarded

    def _mark_lost(self, exc: ConnectionLost) -> None:
        if self._lost is None:
            self._lost = exc
            self._streaming_before_loss = self._streaming
            self._events.append(DeviceEvent("unplug", self._next_seq, time.time(), 0, str(exc)))

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
    def _process(self, frames: list[Frame]) -> None:
        data: list[bytes] = []
        for f in frames:
            if f.type == DATA:
                if self._accept_data:
                    data.append(f.payload)
                else:
                    self.stale_frames += 1  # left streaming by an earlier program: not ours
                continue
            if data:
                self._on_data(data)
                data = []
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
                self._clock_corr_us = 0
                self.clock.reset()
            else:
                self.protocol_errors += 1
        if data:
            self._on_data(data)

    def _on_ping(self, f: Frame) -> None:
        host_rx = time.time_ns()
        host_tx = self._pings.pop(f.token)
        if len(f.payload) == 17 and f.payload[0] == STATUS_OK:
            echo, t_rx_us = struct.unpack_from("<QQ", f.payload, 1)
            if echo != host_tx:
                return
            dev_us = t_rx_us + self._clock_corr_us
            if self.clock.n >= 3:
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
            self.clock.add(host_tx, host_rx, dev_us)

    def _on_event(self, payload: bytes) -> None:
        if len(payload) != EVENT_BODY.size:
            self.protocol_errors += 1
            return
        seq_at, kind, arg = EVENT_BODY.unpack(payload)
        name = EVENT_KINDS.get(kind, f"event_{kind}")
        self._events.append(DeviceEvent(name, self._unwrap_event_seq(seq_at), time.time(), arg))

    def _unwrap_event_seq(self, wire: int) -> int:
        if self._next_wire_seq is None:
            return wire
        d = (wire - self._next_wire_seq + (1 << 31)) % (1 << 32) - (1 << 31)
        return self._next_seq + d

    def _on_data(self, payloads: list[bytes]) -> None:
        runs = decode_data(payloads)
        bad = len(payloads) - sum(len(r.seq) for r in runs)
        self.protocol_errors += bad
        for run in runs:
            self._on_run(run)

    def _on_run(self, run: DataRun) -> None:
        n = run.n
        if run.fmt == FMT_RAW:
            loads = run.values.reshape(-1, 6) @ self._counts_to_loads_t
        else:
            loads = run.values.reshape(-1, 6).astype(np.float64)
        samples = loads_to_samples(loads, self.calibration.origin_m, self.cop_threshold_n)
        k = len(run.seq)
        self._correct_clock(run)
        if self._next_wire_seq is None:
            self._first_frame_after_start(run)
        # Fast path: contiguous frames with one status -> one Block.
        expect = (self._next_wire_seq + n * np.arange(k, dtype=np.int64)) % (1 << 32)
        if np.array_equal(expect, run.seq) and np.all(run.status == run.status[0]):
            self._block_seq0 = self._next_seq
            self._next_wire_seq = int((run.seq[-1] + n) % (1 << 32))
            self._next_seq += n * k
            self._emit(run, 0, k, samples, n)
            return
        start: int | None = None
        for i in range(k):
            wire = int(run.seq[i])
            d = (wire - self._next_wire_seq) % (1 << 32)
            if d >= (1 << 31):  # behind: a duplicated or stale frame
                if start is not None:
                    self._emit(run, start, i, samples, n)
                    start = None
                self.duplicates += 1
                continue
            if start is not None and (d or run.status[i] != run.status[start]):
                self._emit(run, start, i, samples, n)
                start = None
            if d:
                self._add_gap(d)
            if start is None:
                start = i
                self._block_seq0 = self._next_seq
            self._next_wire_seq = (wire + n) % (1 << 32)
            self._next_seq += n
        if start is not None:
            self._emit(run, start, k, samples, n)

    def _correct_clock(self, run: DataRun) -> None:
        """Remove device clock jumps: frame time stamps that disagree with the sample counter
        by more than 1 ms + 2 sample periods. Each jump is reported as a ``clock_jump`` event
        (arg = jump in µs); device times stay consistent with the sample count and the host
        time base continuous."""
        rate = self.info.rate_hz
        t = run.t_us
        seq = run.seq
        if self._last_t_us is None:
            prev_t = np.concatenate(([t[0]], t[:-1]))
            prev_seq = np.concatenate(([seq[0]], seq[:-1]))
        else:
            prev_t = np.concatenate(([self._last_t_us], t[:-1]))
            prev_seq = np.concatenate(([self._last_wire_for_t], seq[:-1]))
        dseq = (seq - prev_seq + (1 << 31)) % (1 << 32) - (1 << 31)
        jump = (t - prev_t) - np.round(dseq * 1e6 / rate).astype(np.int64)
        flagged = np.abs(jump) > 1000 + 2e6 / rate
        self._last_t_us = int(t[-1])
        self._last_wire_for_t = int(seq[-1])
        if flagged.any():
            corr = self._clock_corr_us - np.cumsum(np.where(flagged, jump, 0))
            for i in np.flatnonzero(flagged).tolist():
                self._events.append(DeviceEvent("clock_jump", -1, time.time(), int(jump[i]),
                                                "device clock jumped; corrected from the "
                                                "sample counter"))
            self._clock_corr_us = int(corr[-1])
            run.t_us = t + corr
        elif self._clock_corr_us:
            run.t_us = t + self._clock_corr_us

    _last_t_us: int | None = None
    _ping_disagreements = 0
    _last_wire_for_t = 0
    _clock_corr_us = 0

    def _add_gap(self, n_missing: int) -> None:
        if n_missing <= 0:
            return
        self._gap_pending += n_missing
        self._next_seq += n_missing
        self.stats.dropped_samples += n_missing
        self.stats.gaps += 1

    def _first_frame_after_start(self, run: DataRun) -> None:
        """Align the unwrapped counter at the first DATA frame after START (or a reconnect)."""
        rate = self.info.rate_hz
        wire0 = int(run.seq[0])
        missing = 0
        if self._t_start_us is not None:
            # Samples since START that never arrived (the first frames were lost).
            missing = int(round((int(run.t_us[0]) - self._t_start_us) * 1e-6 * rate))
            # More samples than could have been taken since START (host time of the START
            # reply's device time, plus a frame and some slack) cannot have been lost.
            t_host_start = float(self.clock.to_host(self._t_start_us * 1e-6))
            bound = (time.time() - t_host_start + 0.05) * rate + 16
            if not 0 <= missing <= bound:
                # Streaming starts at once: a first frame seconds away from START (or before
                # it) means the device clock jumped in between, not that data was lost.
                self._events.append(DeviceEvent("clock_jump", -1, time.time(), 0,
                                                "device clock jumped at START"))
                missing = 0
        if self._pending_gap_from_host is not None:
            # Samples not acquired while the plate was unplugged.
            t_host0 = float(self.clock.to_host(int(run.t_us[0]) * 1e-6))
            missing += max(0, int(round((t_host0 - self._pending_gap_from_host) * rate)))
            self._pending_gap_from_host = None
        self._next_wire_seq = (wire0 - max(missing, 0)) % (1 << 32)
        self._t_start_us = None

    _gap_pending = 0
    _block_seq0 = 0
    _last_rx = 0.0
    _t_start_us: int | None = None

    def _emit(self, run: DataRun, a: int, b: int, samples: np.ndarray, n: int) -> None:
        t_dev_s = float(run.t_us[a]) * 1e-6
        seq0 = self._block_seq0
        block_n = (b - a) * n
        blk = Block(
            seq=seq0,
            t_device_s=t_dev_s,
            t_host_s=float(self.clock.to_host(t_dev_s)),
            samples=samples[a * n:b * n],
            status=int(run.status[a]),
            gap_before=self._gap_pending,
        )
        self._gap_pending = 0
        if blk.status & ST_OVERFLOW:
            self._events.append(DeviceEvent("overflow_status", seq0, time.time()))
        self._blocks.append(blk)
        self._last_host_end = blk.t_host_s + block_n / self.info.rate_hz
        self._block_seq0 = seq0 + block_n

    def _set_calibration(self, cal: Calibration) -> None:
        self.calibration = cal
        # counts -> N, N*m in one product: (C diag(mV/V per count))^T
        self._counts_to_loads_t = (cal.matrix * cal.mvv_per_count[None, :]).T.copy()

    # -- handshake -----------------------------------------------------------------------
    def _handshake(self, rate_hz: int) -> None:
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
            channels=CHANNELS,
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
            self.command(STOP)
            self._streaming = False
            # Frames sent before the STOP reply were processed by command(); drain a little more.
            self._pump(0.02)

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
                now = time.monotonic()
                if now - self._last_reconnect_try < self.reconnect_interval_s:
                    raise ConnectionLost(str(self._lost))
                self._last_reconnect_try = now
                if not self._try_reconnect_once():
                    raise ConnectionLost(str(self._lost))
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
            if self._lost is None and self._transport.is_open:
                return
            deadline = time.monotonic() + timeout_s
            while True:
                if self._try_reconnect_once():
                    return
                if time.monotonic() >= deadline:
                    raise ConnectionLost(
                        f"FPB1 plate {self.info.serial} did not come back within {timeout_s:g} s "
                        f"({self._last_reconnect_error or 'port absent'}); check the cable"
                    )
                time.sleep(0.1)

    def _try_reconnect_once(self) -> bool:
        """One pass over the candidate ports (old path, then any with the same serial)."""
        from forcelab.drivers.discovery import ports_for_serial

        was_streaming = self._streaming or self._streaming_before_loss
        for path in ports_for_serial(self.info.serial, self.port):
            if not wait_for_port(path, 0.0):
                continue
            try:
                self._reopen(path, was_streaming)
                return True
            except DeviceError as exc:
                self._last_reconnect_error = exc
        return False

    _last_reconnect_error: Exception | None = None
    _last_reconnect_try = 0.0

    def _reopen(self, path: str, was_streaming: bool) -> None:
        self._transport.close()
        transport = Transport.open(path, baudrate=self.baudrate)
        self._transport = transport
        self._lost = None
        self.codec.reset()
        self._replies.clear()
        self._pings.clear()
        self._async_pings.clear()
        self.clock.reset()
        self._last_t_us = None
        self._clock_corr_us = 0
        try:
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
        except (DeviceError, ConnectionLost):
            transport.close()
            if self._lost is None:
                self._lost = ConnectionLost(f"reconnect to {path} failed")
            raise
        self.port = path
        self.info.extra["port"] = path
        self.stats.reconnects += 1
        self._events.append(DeviceEvent("replug", self._next_seq, time.time(), 0,
                                        f"plate {self.info.serial} reconnected on {path}"))
        if was_streaming:
            # Samples that were not acquired while unplugged become a gap.
            self._pending_gap_from_host = self._last_host_end
            self.start()
        self._streaming_before_loss = False

    _pending_gap_from_host: float | None = None
    _streaming_before_loss = False

    def close(self) -> None:
        """Stop streaming if possible and release the port (idempotent)."""
        if self._closed:
            return
        with self._lock:
            if self._streaming and self._lost is None:
                try:
                    self.command(STOP, timeout_s=0.3)
                except DeviceError:
                    pass
            self._streaming = False
            self._closed = True
            self._transport.close()

    def __repr__(self) -> str:
        serial = getattr(getattr(self, "info", None), "serial", "?")
        return f"FPB1Device({self.port!r}, serial={serial!r}, side={self.side!r})"
