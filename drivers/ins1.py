"""INS1 smart-insole driver: codec, sample decoding, clock fit, device and pairing.

One INS1 device measures one foot (16 pressure sensors, 6-axis IMU, total force and COP).
The protocol is specified in the project's wire-protocol docs; in short, every frame is::

    MAGIC 'INS1' | VER=1 | TYPE u8 | LEN u16 (0..512) | PAYLOAD | CRC-16/MODBUS u16

with the CRC over MAGIC..payload. Layers in this module:

- :func:`crc16_modbus`, :func:`encode_frame` and :class:`Ins1Codec` (pure, incremental
  ``feed(bytes) -> frames``, no I/O; on a bad CRC it advances ONE byte and hunts again, never
  skipping a claimed length; counts ``crc_errors``, ``resyncs``, ``bytes_discarded``),
- :func:`decode_samples` (vectorised SAMPLE payloads -> a NumPy structured array) and
  :func:`samples_to_physical` (counts -> kPa, g, deg/s, N, normalised COP),
- :class:`ClockFit` (device clock -> host ``time.time()`` from TIME_SYNC round trips, keeping the
  lowest round trips, fitting offset and skew),
- :class:`Ins1Device` (commands, handshake, streaming, sequence/clock unwrap, explicit gaps,
  Σ p·A cross-check, unplug detection and reconnect by serial number),
- :func:`pair_insoles` / :class:`InsolePair` (left + right foot of one pair on one time base).

Block columns (``DeviceInfo.channels``): ``fz`` (N, the device's total force), ``cop_x``,
``cop_y`` (normalised to the insole width/length, ±0.5, unit "1"), ``p01..p16`` (kPa, NaN for a
faulty sensor), ``acc_x, acc_y, acc_z`` (g), ``gyr_x, gyr_y, gyr_z`` (deg/s).
"""

from __future__ import annotations

import struct
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, NamedTuple

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
    LinkStats,
)
from forcelab.drivers.errors import ConnectionLost, DeviceError, ProtocolError

try:  # pyserial's flush() calls tcdrain, whose error is termios.error, not OSError
    import termios

    TERMIOS_ERRORS: tuple[type[BaseException], ...] = (termios.error,)
except ImportError:  # pragma: no cover - not POSIX
    TERMIOS_ERRORS = ()

MAGIC = b"INS1"
VERSION = 1
MAX_PAYLOAD = 512
HEADER_SIZE = 8
FRAME_OVERHEAD = HEADER_SIZE + 2

# Command types (host -> device); replies are TYPE | 0x80.
GET_INFO = 0x01
GET_LAYOUT = 0x02
SET_RATE = 0x03
START = 0x04
STOP = 0x05
ZERO = 0x06
SET_WEIGHT = 0x07
TIME_SYNC = 0x08
GET_STATUS = 0x09
REPLY = 0x80
# Unsolicited frames.
SAMPLE = 0x50
EVENT = 0x51
BOOT = 0x52

STATUS_TEXT = {0: "OK", 1: "BAD_ARG", 2: "BAD_STATE", 3: "UNSUPPORTED", 4: "BUSY"}
EVENT_KINDS = {1: "low_battery", 2: "link_lost", 3: "link_restored", 4: "overflow"}
REGIONS = (
    "heel-med",
    "heel-lat",
    "midfoot-lat",
    "midfoot-med",
    "MTH1",
    "MTH2-3",
    "MTH4-5",
    "hallux",
    "toes2-5",
)
RATES_HZ = (25, 50, 100, 200)
N_SENSORS = 16
SENSOR_FAULT = 0xFFFF

# SAMPLE flags (device) and host-side status bits added to Block.status.
FLAG_ZEROED = 1 << 0
FLAG_WEIGHT_CALIBRATED = 1 << 1
FLAG_SENSOR_FAULT = 1 << 2
FLAG_BUFFER_OVERFLOW = 1 << 3
FLAG_LINK_REESTABLISHED = 1 << 4
STATUS_FORCE_MISMATCH = 1 << 8
"""Host bit in Block.status: Σ p·A from the layout disagrees with the device total force."""

SAMPLE_DTYPE = np.dtype(
    [
        ("side", "u1"),
        ("seq", "<u2"),
        ("t_dev_us", "<u4"),
        ("p", "<u2", (N_SENSORS,)),
        ("acc", "<i2", (3,)),
        ("gyr", "<i2", (3,)),
        ("f_total", "<u2"),
        ("cop", "<i2", (2,)),
        ("battery_pct", "u1"),
        ("flags", "u1"),
    ]
)
SAMPLE_SIZE = SAMPLE_DTYPE.itemsize  # 59 bytes
F_TOTAL_LSB_N = 0.5
COP_LSB = 1e-4

_INFO = struct.Struct("<cIB12s8sBHfff")
_LAYOUT_ITEM = struct.Struct("<hhHB")

CHANNELS = (
    (Channel("fz", "N", ROLE_VERTICAL), Channel("cop_x", "1", ROLE_COP_ML),
     Channel("cop_y", "1", ROLE_COP_AP))
    + tuple(Channel(f"p{i:02d}", "kPa", ROLE_PRESSURE) for i in range(1, N_SENSORS + 1))
    + tuple(Channel(f"acc_{a}", "g", ROLE_ACCELERATION) for a in "xyz")
    + tuple(Channel(f"gyr_{a}", "deg/s", ROLE_ANGULAR_RATE) for a in "xyz")
)


# --------------------------------------------------------------------------------------------
# CRC and framing


def _make_tables() -> tuple[list[int], list[int], np.ndarray]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    t8 = np.array(table, dtype=np.int64)
    # Two bytes at a time: for a 16-bit reflected CRC the state after the 16-bit word w
    # depends on crc ^ w only: T16[x] = (T[x & 0xFF] >> 8) ^ T[((x >> 8) ^ T[x & 0xFF]) & 0xFF].
    x = np.arange(1 << 16, dtype=np.int64)
    lo = t8[x & 0xFF]
    t16 = ((lo >> 8) ^ t8[((x >> 8) ^ lo) & 0xFF]).astype(np.int64)
    return table, t16.tolist(), t16


_CRC_TABLE, _CRC_TABLE16, _CRC_TABLE16_NP = _make_tables()
_CRC_TABLE_NP = np.array(_CRC_TABLE, dtype=np.int64)


def crc16_modbus(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF, no final xor), 16 bits per step.

    ``crc16_modbus(b"123456789") == 0x4B37``.
    """
    data = bytes(data)
    n2 = len(data) // 2
    t16 = _CRC_TABLE16
    for w in struct.unpack_from(f"<{n2}H", data):
        crc = t16[crc ^ w]
    if len(data) & 1:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ data[-1]) & 0xFF]
    return crc


def _crc_residues(buf: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """CRC-16/MODBUS over ``buf[s:s+length]`` for many starts at once (0 = frame intact).

    Running the CRC over a frame including its little-endian CRC gives a residue of 0.
    """
    n2 = length // 2
    rows = buf[starts[:, None] + np.arange(2 * n2)].astype(np.int64)
    words = np.ascontiguousarray((rows[:, 0::2] | (rows[:, 1::2] << 8)).T)
    crc = np.full(len(starts), 0xFFFF, dtype=np.int64)
    t16 = _CRC_TABLE16_NP
    for j in range(n2):
        crc = t16[crc ^ words[j]]
    if length & 1:
        last = buf[starts + length - 1].astype(np.int64)
        crc = (crc >> 8) ^ _CRC_TABLE_NP[(crc ^ last) & 0xFF]
    return crc


def encode_frame(frame_type: int, payload: bytes = b"") -> bytes:
    """Build one INS1 frame (MAGIC, VER, TYPE, LEN, payload, CRC-16/MODBUS).

    Raises
    ------
    ValueError
        If the payload is longer than 512 bytes or the type is not a byte.
    """
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"INS1 payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    if not 0 <= frame_type <= 0xFF:
        raise ValueError(f"INS1 frame type {frame_type} is not a byte")
    body = MAGIC + struct.pack("<BBH", VERSION, frame_type, len(payload)) + bytes(payload)
    return body + struct.pack("<H", crc16_modbus(body))


class Frame(NamedTuple):
    """One decoded INS1 frame: its type and payload bytes (a light tuple: many per second)."""

    type: int
    payload: bytes


class Ins1Codec:
    """Incremental INS1 frame parser: ``feed(bytes) -> list[Frame]``; pure, no I/O.

    Hunts for ``'INS1'``; a header with a wrong version or a length above 512 is not a frame;
    a complete frame whose CRC fails is counted in ``crc_errors`` and the hunt restarts ONE
    byte after its start (never skipping the claimed length, so a damaged length field cannot
    swallow good frames). ``bytes_discarded`` counts bytes that belong to no good frame and
    ``resyncs`` the times a good frame was found again after discarding bytes.

    Notes
    -----
    Documented exceptions: none for any input bytes; ``TypeError`` for a non-bytes argument.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._lost = False
        self.frames = 0
        self.crc_errors = 0
        self.resyncs = 0
        self.bytes_discarded = 0
        self.bytes_received = 0

    def reset(self) -> None:
        """Forget buffered bytes (e.g. after a reconnect); counters are kept."""
        self._buf.clear()
        self._lost = False

    @property
    def pending_bytes(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf)

    def _discard(self, n: int) -> None:
        if n > 0:
            self.bytes_discarded += n
            self._lost = True

    def push(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes without parsing them yet (``feed(b"")`` parses them later:
        whole runs of frames at once cost far less than one frame per call)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"Ins1Codec.push needs bytes, not {type(data).__name__}")
        self.bytes_received += len(data)
        self._buf += data

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add received bytes; return the complete, CRC-checked frames, in order."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"Ins1Codec.feed needs bytes, not {type(data).__name__}")
        self.bytes_received += len(data)
        buf = self._buf
        buf += data
        out: list[Frame] = []
        i = 0
        n = len(buf)
        while True:
            # Chain candidate frames from i, assuming each is intact (cheap header checks only).
            starts: list[int] = []
            lens: list[int] = []
            pos = i
            stop_at = None  # position where the chain ended waiting for bytes
            while True:
                j = buf.find(MAGIC, pos)
                if j < 0:
                    stop_at = max(pos, n - (len(MAGIC) - 1))
                    break
                if n - j < HEADER_SIZE:
                    stop_at = j
                    break
                ver = buf[j + 4]
                ln = buf[j + 6] | (buf[j + 7] << 8)
                if ver != VERSION or ln > MAX_PAYLOAD:
                    pos = j + 1
                    continue
                if n - j < FRAME_OVERHEAD + ln:
                    stop_at = j
                    break
                starts.append(j)
                lens.append(ln)
                pos = j + FRAME_OVERHEAD + ln
            bad = self._first_bad(buf, starts, lens)
            n_ok = len(starts) if bad is None else bad
            prev_end = i
            for k in range(n_ok):
                s, ln = starts[k], lens[k]
                self._discard(s - prev_end)
                if self._lost:
                    self.resyncs += 1
                    self._lost = False
                out.append(Frame(buf[s + 5], bytes(buf[s + HEADER_SIZE : s + HEADER_SIZE + ln])))
                prev_end = s + FRAME_OVERHEAD + ln
            self.frames += n_ok
            if bad is not None:
                s = starts[bad]
                self.crc_errors += 1
                self._discard(s + 1 - prev_end)
                i = s + 1
                continue
            self._discard(stop_at - prev_end)
            del buf[:stop_at]
            return out

    @staticmethod
    def _first_bad(buf: bytearray, starts: list[int], lens: list[int]) -> int | None:
        """Index of the first candidate whose CRC fails, or None."""
        if not starts:
            return None
        if len(starts) < 32:  # measured crossover: numpy wins from ~30 frames
            for k, (s, ln) in enumerate(zip(starts, lens, strict=True)):
                if crc16_modbus(buf[s : s + FRAME_OVERHEAD + ln]):
                    return k
            return None
        arr = np.frombuffer(bytes(buf), dtype=np.uint8)
        st = np.asarray(starts, dtype=np.int64)
        ln_arr = np.asarray(lens, dtype=np.int64)
        ok = np.ones(len(st), dtype=bool)
        for ln in np.unique(ln_arr):
            sel = np.flatnonzero(ln_arr == ln)
            ok[sel] = _crc_residues(arr, st[sel], int(ln) + FRAME_OVERHEAD) == 0
        bad = np.flatnonzero(~ok)
        return int(bad[0]) if len(bad) else None


# --------------------------------------------------------------------------------------------
# Payload codecs


@dataclass
class Ins1Info:
    """GET_INFO / BOOT body of one insole."""

    side: str  # "left" / "right"
    pair_id: int
    size_code: int
    serial: str
    firmware: str
    n_sensors: int
    rate_hz: int
    p_lsb_kpa: float
    acc_lsb_g: float
    gyr_lsb_dps: float

    def pack(self) -> bytes:
        """The wire body (inverse of :meth:`unpack`)."""
        return _INFO.pack(
            b"L" if self.side == "left" else b"R",
            self.pair_id,
            self.size_code,
            self.serial.encode("ascii")[:12],
            self.firmware.encode("ascii")[:8],
            self.n_sensors,
            self.rate_hz,
            self.p_lsb_kpa,
            self.acc_lsb_g,
            self.gyr_lsb_dps,
        )

    @classmethod
    def unpack(cls, body: bytes) -> Ins1Info:
        """Parse a GET_INFO body; raises ProtocolError if it is malformed."""
        if len(body) < _INFO.size:
            raise ProtocolError(
                f"INS1 info body has {len(body)} bytes, expected {_INFO.size}: "
                "the device does not speak INS1 version 1"
            )
        side, pair, size, ser, fw, n, rate, p_lsb, acc_lsb, gyr_lsb = _INFO.unpack_from(body)
        if side not in (b"L", b"R"):
            raise ProtocolError(f"INS1 info reports side {side!r}, expected 'L' or 'R'")
        if n != N_SENSORS:
            raise ProtocolError(f"INS1 info reports {n} sensors, this driver reads {N_SENSORS}")
        return cls(
            side="left" if side == b"L" else "right",
            pair_id=pair,
            size_code=size,
            serial=ser.rstrip(b"\0 ").decode("ascii", "replace"),
            firmware=fw.rstrip(b"\0 ").decode("ascii", "replace"),
            n_sensors=n,
            rate_hz=rate,
            p_lsb_kpa=float(p_lsb),
            acc_lsb_g=float(acc_lsb),
            gyr_lsb_dps=float(gyr_lsb),
        )


def pack_layout(layout: list[dict[str, Any]]) -> bytes:
    """GET_LAYOUT reply body for a list of ``{"x_mm", "y_mm", "area_mm2", "region"}``."""
    out = bytes([len(layout)])
    for s in layout:
        region = s["region"]
        if isinstance(region, str):
            region = REGIONS.index(region)
        out += _LAYOUT_ITEM.pack(int(s["x_mm"]), int(s["y_mm"]), int(s["area_mm2"]), int(region))
    return out


def unpack_layout(body: bytes) -> list[dict[str, Any]]:
    """Parse a GET_LAYOUT body into ``[{"x_mm", "y_mm", "area_mm2", "region"}, ...]``.

    Raises
    ------
    ProtocolError
        If the body is truncated, an area is zero or a region code is unknown.
    """
    if not body:
        raise ProtocolError("INS1 layout reply is empty")
    n = body[0]
    if len(body) < 1 + n * _LAYOUT_ITEM.size:
        raise ProtocolError(f"INS1 layout reply announces {n} sensors but is truncated")
    out = []
    for k in range(n):
        x, y, area, region = _LAYOUT_ITEM.unpack_from(body, 1 + k * _LAYOUT_ITEM.size)
        if area == 0 or region >= len(REGIONS):
            raise ProtocolError(f"INS1 layout sensor {k + 1}: area {area} mm², region {region}")
        out.append({"x_mm": x, "y_mm": y, "area_mm2": area, "region": REGIONS[region]})
    return out


def encode_samples(samples: np.ndarray) -> list[bytes]:
    """SAMPLE payloads (59 bytes each) for a structured array of :data:`SAMPLE_DTYPE`."""
    raw = np.ascontiguousarray(samples, dtype=SAMPLE_DTYPE).tobytes()
    return [raw[k : k + SAMPLE_SIZE] for k in range(0, len(raw), SAMPLE_SIZE)]


def decode_samples(payloads: list[bytes]) -> np.ndarray:
    """Decode SAMPLE payloads into one structured array (:data:`SAMPLE_DTYPE`), vectorised.

    Payloads of the wrong size raise ProtocolError (a CRC-valid frame of the wrong size means
    the device speaks another protocol version).
    """
    if not payloads:
        return np.zeros(0, dtype=SAMPLE_DTYPE)
    raw = b"".join(payloads)
    if len(raw) != SAMPLE_SIZE * len(payloads):
        sizes = sorted({len(p) for p in payloads})
        raise ProtocolError(f"INS1 SAMPLE payloads of {sizes} bytes, expected {SAMPLE_SIZE}")
    return np.frombuffer(raw, dtype=SAMPLE_DTYPE)


def samples_to_physical(
    samples: np.ndarray,
    p_lsb_kpa: float = 2.5,
    acc_lsb_g: float = 1 / 4096,
    gyr_lsb_dps: float = 0.1,
) -> np.ndarray:
    """Counts -> Block columns (see :data:`CHANNELS`): N, normalised COP, kPa, g, deg/s.

    Faulty sensors (0xFFFF) become NaN.
    """
    n = len(samples)
    out = np.empty((n, len(CHANNELS)), dtype=np.float64)
    out[:, 0] = samples["f_total"] * F_TOTAL_LSB_N
    out[:, 1:3] = samples["cop"] * COP_LSB
    p = samples["p"].astype(np.float64) * p_lsb_kpa
    p[samples["p"] == SENSOR_FAULT] = np.nan
    out[:, 3:19] = p
    out[:, 19:22] = samples["acc"] * acc_lsb_g
    out[:, 22:25] = samples["gyr"] * gyr_lsb_dps
    return out


def force_from_pressures(p_kpa: np.ndarray, area_mm2: np.ndarray) -> np.ndarray:
    """Σ p·A in N from pressures (kPa, shape (n, 16)) and sensor areas (mm²).

    NaN (faulty) sensors make the sum NaN: the total cannot be checked then.
    """
    return p_kpa @ (np.asarray(area_mm2, dtype=np.float64) * 1e-3)


def force_mismatch(
    f_total_n: np.ndarray,
    f_sum_n: np.ndarray,
    tolerance_n: float = 15.0,
    tolerance_rel: float = 0.1,
) -> np.ndarray:
    """True where the device total force and Σ p·A disagree by more than the tolerance.

    The tolerance is ``max(tolerance_n, tolerance_rel * f_total)``: quantisation of 16
    pressures (2.5 kPa steps) alone accounts for several N. NaN sums never mismatch.
    """
    tol = np.maximum(tolerance_n, tolerance_rel * np.abs(f_total_n))
    with np.errstate(invalid="ignore"):
        return np.abs(f_total_n - f_sum_n) > tol


# --------------------------------------------------------------------------------------------
# Clock fit


class ClockFit:
    """Map a device clock onto the host ``time.time()`` clock from round-trip measurements.

    Each TIME_SYNC round trip gives the host send and receive times and the device times at
    receipt and transmission. The device time at the middle of its turnaround is taken to be
    the host time at the middle of the round trip; the error is at most half the round trip
    minus the turnaround, so only the lowest round trips are kept: the recent points are split
    into ``n_bins`` time bins, the lowest-round-trip point of each bin is kept, and a line
    ``t_host = offset + skew · (t_dev − t_ref)`` is fitted through them (skew fixed at 1 while
    the points span less than ``min_span_s``). Points farther than ``outlier_s`` from the line
    (e.g. across a device clock jump) are dropped and the line refitted.

    Parameters
    ----------
    keep : int
        Number of most recent round trips considered.
    n_bins : int
        Time bins in which the lowest round trip is kept.
    min_span_s : float
        Device-time span (s) of the points needed before the skew is fitted.
    outlier_s : float
        Residual (s) beyond which a point is rejected.
    gate_s : float or None
        Round trips longer than ``max(gate_s, 4 × their lower quartile)`` are not used (None:
        keep all, for arrival-time points whose "delay" includes the clock offset).
    """

    def __init__(
        self,
        keep: int = 240,
        n_bins: int = 12,
        min_span_s: float = 2.0,
        outlier_s: float = 0.005,
        gate_s: float | None = 0.002,
    ) -> None:
        self.gate_s = gate_s
        self.keep = int(keep)
        self.n_bins = int(n_bins)
        self.min_span_s = float(min_span_s)
        self.outlier_s = float(outlier_s)
        self._dev: list[float] = []
        self._host: list[float] = []
        self._rtt: list[float] = []
        self.t_ref_dev_s = 0.0
        self.offset_s: float | None = None
        self.skew = 1.0

    def reset(self) -> None:
        """Forget every point (after the device rebooted and its clock restarted)."""
        self._dev.clear()
        self._host.clear()
        self._rtt.clear()
        self.offset_s = None
        self.skew = 1.0

    @property
    def n_points(self) -> int:
        """Round trips held."""
        return len(self._dev)

    @property
    def ready(self) -> bool:
        """True once at least one round trip was added."""
        return self.offset_s is not None

    @property
    def drift_ppm(self) -> float:
        """Fitted rate error of the device clock in ppm (positive: the device clock runs fast;
        device s per host s − 1, × 1e6)."""
        return (1.0 / self.skew - 1.0) * 1e6

    def add(
        self,
        t_host_send_s: float,
        t_host_recv_s: float,
        t_dev_rx_s: float,
        t_dev_tx_s: float | None = None,
    ) -> None:
        """Add one round trip (host send/receive times, device receive/transmit times, s)."""
        if t_dev_tx_s is None:
            t_dev_tx_s = t_dev_rx_s
        turnaround = max(0.0, t_dev_tx_s - t_dev_rx_s)
        rtt = (t_host_recv_s - t_host_send_s) - turnaround
        self.add_point(0.5 * (t_dev_rx_s + t_dev_tx_s), 0.5 * (t_host_send_s + t_host_recv_s),
                       max(rtt, 0.0))

    def add_point(self, t_dev_s: float, t_host_s: float, delay_s: float) -> None:
        """Add one (device time, host time) pair; ``delay_s`` ranks it (lower = more exact).

        For links without round trips (CSV4), ``t_host_s`` is the arrival time and
        ``delay_s = t_host_s − t_dev_s``: the fit then follows the lower envelope of arrivals.
        """
        self._dev.append(float(t_dev_s))
        self._host.append(float(t_host_s))
        self._rtt.append(float(delay_s))
        if len(self._dev) > self.keep:
            del self._dev[0], self._host[0], self._rtt[0]
        self._fit()

    def _fit(self) -> None:
        dev = np.asarray(self._dev)
        host = np.asarray(self._host)
        rtt = np.asarray(self._rtt)
        if self.gate_s is not None and len(rtt) >= 4:
            # round trips far above the usual ones were delayed on one leg: not used
            good = rtt <= max(self.gate_s, 4.0 * float(np.percentile(rtt, 25)))
            if good.sum() >= 2:
                dev, host, rtt = dev[good], host[good], rtt[good]
        span = dev.max() - dev.min()
        if span < self.min_span_s or len(dev) < 3:
            # too short to see a rate error: offset from the best of the most recent points
            recent = max(0, len(dev) - 5)
            k = recent + int(np.argmin(rtt[recent:]))
            self.t_ref_dev_s = float(dev[k])
            self.offset_s = float(host[k])
            self.skew = 1.0
            return
        edges = np.linspace(dev.min(), dev.max(), self.n_bins + 1)
        bins = np.clip(np.searchsorted(edges, dev, side="right") - 1, 0, self.n_bins - 1)
        order = np.lexsort((rtt, bins))
        first = np.ones(len(order), dtype=bool)
        first[1:] = bins[order][1:] != bins[order][:-1]
        sel = order[first]
        ref = float(dev[sel].mean())
        x = dev[sel] - ref
        y = host[sel]
        for _ in range(2):
            if len(x) >= 2 and np.ptp(x) > 0:
                skew, off = np.polyfit(x, y - x, 1)
                skew += 1.0
            else:
                skew, off = 1.0, float(np.mean(y - x))
            resid = y - (off + skew * x)
            good = np.abs(resid) <= self.outlier_s
            if good.all() or good.sum() < 2:
                break
            x, y = x[good], y[good]
        self.t_ref_dev_s, self.offset_s, self.skew = ref, float(off), float(skew)

    def to_host(self, t_dev_s: float | np.ndarray) -> float | np.ndarray:
        """Host time (s, ``time.time()`` epoch) of device time ``t_dev_s``.

        Raises
        ------
        ProtocolError
            If no round trip was added yet.
        """
        if self.offset_s is None:
            raise ProtocolError("the device clock has not been synchronised yet (no TIME_SYNC)")
        return self.offset_s + self.skew * (np.asarray(t_dev_s) - self.t_ref_dev_s) if isinstance(
            t_dev_s, np.ndarray
        ) else self.offset_s + self.skew * (float(t_dev_s) - self.t_ref_dev_s)


# --------------------------------------------------------------------------------------------
# Device


class Ins1Stats(LinkStats):
    """LinkStats plus INS1 counters: ``duplicates`` (repeated seq dropped), ``force_mismatch``
    (samples whose Σ p·A disagrees with the device total), ``sensor_faults`` (samples with a
    faulty sensor), ``clock_jumps`` (device clock discontinuities), ``time_syncs``."""

    def __init__(self) -> None:
        super().__init__()
        self.duplicates = 0
        self.force_mismatch = 0
        self.sensor_faults = 0
        self.clock_jumps = 0
        self.time_syncs = 0

    def to_dict(self) -> dict[str, int]:
        d = super().to_dict()
        d.update(
            duplicates=self.duplicates,
            force_mismatch=self.force_mismatch,
            sensor_faults=self.sensor_faults,
            clock_jumps=self.clock_jumps,
            time_syncs=self.time_syncs,
        )
        return d


def _parse_url(port_url: str) -> tuple[str, dict[str, str]]:
    """``ins1:///dev/ttyUSB0?rate=200`` -> ("/dev/ttyUSB0", {"rate": "200"})."""
    url = port_url
    if url.lower().startswith("ins1://"):
        url = url[len("ins1://") :]
    path, _, query = url.partition("?")
    if "://" in path:  # socket://, loop:// keep their own query
        return url, {}
    return path, dict(urllib.parse.parse_qsl(query))


class Ins1Device(Device):
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

    def __init__(
        self,
        port: str,
        *,
        rate_hz: int | None = None,
        sync_interval_s: float = 0.25,
        command_timeout_s: float = 0.5,
        baudrate: int = 460800,
        reconnect_interval_s: float = 0.25,
        handshake_syncs: int = 8,
    ) -> None:
        from forcelab.drivers.transport import Transport

        if rate_hz is not None and int(rate_hz) not in RATES_HZ:
            raise DeviceError(f"INS1 rate {rate_hz} Hz is not supported; choose one of {RATES_HZ}")
        self.port = port
        self.baudrate = int(baudrate)
        self.sync_interval_s = float(sync_interval_s)
        self.command_timeout_s = float(command_timeout_s)
        self.reconnect_interval_s = float(reconnect_interval_s)
        self.handshake_syncs = int(handshake_syncs)
        self._requested_rate = int(rate_hz) if rate_hz is not None else None
        self.stats = Ins1Stats()
        self.codec = Ins1Codec()
        self.clock = ClockFit()
        self._events: list[DeviceEvent] = []
        self._samples: list[bytes] = []
        self._samples_since: float | None = None  # time.monotonic() of the oldest pending
        self._parse_bytes = 0  # bytes of a block's worth of SAMPLE frames (set by the handshake)
        self._bytes_since: float | None = None  # time.monotonic() of the oldest unparsed byte
        #: While streaming, a read() returning before ``min_block_samples`` were received keeps
        #: samples younger than this (s) for the next read: fewer, larger blocks for a recorder
        #: that polls often (per-block conversion costs far more than per-sample).
        self.hold_s = 0.05
        self._token = 0
        self._streaming = False
        self._closed = False
        self._lost: ConnectionLost | None = None
        self._raise_pending: ConnectionLost | None = None
        self._last_reconnect_try = 0.0
        self._last_sync = 0.0
        self._sync_pending_since: float | None = None
        self._rebooted = False
        self._resync_needed = False
        self._reset_stream_state()
        self._transport = Transport.open(port, baudrate=self.baudrate)
        try:
            self._handshake()
        except BaseException:
            self._transport.close()
            raise

    # -- handshake ---------------------------------------------------------------------------
    def _reset_stream_state(self) -> None:
        self._seq_last16: int | None = None
        self._seq_unwrapped = -1
        self._t_last_raw: int | None = None
        self._t_last_us = 0  # unwrapped, jump-corrected device time of the last sample (µs)
        self._t_corr_us = 0
        self._gap_from_host = False
        self._t_host_last: float | None = None

    def _handshake(self) -> None:
        try:
            self._command(STOP, retries=2)
        except ProtocolError:
            pass  # a device that was not streaming may answer BAD_STATE: fine
        self._samples.clear()
        body = self._command(GET_INFO)
        self.ins1_info = Ins1Info.unpack(body)
        self.layout = unpack_layout(self._command(GET_LAYOUT))
        if len(self.layout) != N_SENSORS:
            raise ProtocolError(f"INS1 layout has {len(self.layout)} sensors, expected 16")
        self.min_block_samples = 1
        self._parse_bytes = 0
        self._area_mm2 = np.array([s["area_mm2"] for s in self.layout], dtype=np.float64)
        rate = self.ins1_info.rate_hz
        if self._requested_rate is not None and self._requested_rate != rate:
            (rate,) = struct.unpack_from("<H", self._command(SET_RATE, struct.pack(
                "<H", self._requested_rate)))
            self.ins1_info.rate_hz = rate
        if rate not in RATES_HZ:
            raise ProtocolError(f"INS1 device reports rate {rate} Hz, not one of {RATES_HZ}")
        self.min_block_samples = max(1, rate // 20)  # 50 ms per block: few wake-ups
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

    def _read_bytes(self, timeout_s: float) -> bytes:
        data = self._transport.read(timeout_s)
        self.stats.bytes_received += len(data)
        return data

    def _feed(self, data: bytes) -> list[Frame]:
        frames = self.codec.feed(data)
        st = self.stats
        st.frames = self.codec.frames
        st.crc_errors = self.codec.crc_errors
        st.resyncs = self.codec.resyncs
        st.bytes_discarded = self.codec.bytes_discarded
        return frames

    def _dispatch(self, frame: Frame, t_recv_s: float) -> None:
        """Handle an unsolicited frame (or a late reply)."""
        if frame.type == SAMPLE:
            if not self._samples:  # held from when its bytes arrived
                self._samples_since = self._bytes_since or time.monotonic()
            self._samples.append(frame.payload)
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
                for fr in self._feed(data):
                    reply = fr.type == (ctype | REPLY) and len(fr.payload) >= 2
                    if reply and fr.payload[0] == token:
                        self._reply_t_recv = t_recv
                        status = fr.payload[1]
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
                        return fr.payload[2:]
                    self._dispatch(fr, t_recv)
        raise ProtocolError(
            f"no reply to INS1 {name} from {self.port} within {timeout_s:g} s: check that the "
            f"port is an INS1 insole (switched on, in range) and not used by another program"
        )

    def _write(self, data: bytes) -> None:
        try:
            self._transport.write(data)
        except TERMIOS_ERRORS as exc:  # tcdrain on a vanished pty: not an OSError
            raise ConnectionLost(f"serial link {self.port!r} lost during write: {exc}") from exc

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
    def connected(self) -> bool:
        """False while the link is lost (unplugged) or after close()."""
        return not self._closed and self._lost is None

    @property
    def streaming(self) -> bool:
        """True between start() and stop()."""
        return self._streaming

    def _guard(self) -> None:
        if self._closed:
            raise DeviceError(f"INS1 device on {self.port} is closed")
        if self._lost is not None:
            raise self._lost

    def _on_lost(self, exc: ConnectionLost) -> ConnectionLost:
        self._lost = ConnectionLost(
            f"INS1 {self.info.side} insole {self.info.serial} on {self.port}: connection lost "
            f"({exc}). Plug it back in; forcelab reconnects by serial number."
        )
        self._events.append(DeviceEvent("unplug", self._seq_unwrapped, time.time(), 0,
                                        str(self._lost)))
        self._transport.close()
        return self._lost

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

        Returns early once ``min_block_samples`` samples (50 ms worth) were decoded, so a
        recorder polling with a generous timeout gets small blocks at a steady pace. A read
        that ends before that keeps samples received less than ``hold_s`` (50 ms) ago for the
        next read while streaming (a recorder polling every few ms gets the same 50 ms blocks);
        after stop(), a reboot or an unplug every received sample is returned at once.
        """
        if self._raise_pending is not None:
            exc, self._raise_pending = self._raise_pending, None
            raise exc
        if self._closed:
            raise DeviceError(f"INS1 device on {self.port} is closed")
        if self._lost is not None:
            self._try_reconnect()
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
                data = self._read_bytes(max(0.0, min(remaining, 0.05)))
                if data:
                    # Bytes are taken from the port at once (a pulled cable loses nothing
                    # already delivered) but parsed once a block's worth is here, unless a
                    # TIME_SYNC reply is awaited (its arrival time must be exact).
                    if self._bytes_since is None:
                        self._bytes_since = time.monotonic()
                    self.codec.push(data)
                    if self._sync_pending_since is not None or not self._streaming or \
                            self.codec.pending_bytes >= self._parse_bytes:
                        self._parse_received(blocks)
                now = time.monotonic()
                if now >= deadline and self._bytes_since is not None and (
                        not self._streaming or now - self._bytes_since >= self.hold_s):
                    self._parse_received(blocks)
                if self._rebooted:
                    self._handle_reboot()
                if len(self._samples) >= self.min_block_samples or now >= deadline:
                    if self._samples and (
                            len(self._samples) >= self.min_block_samples
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
            if fr.type == BOOT and self._samples:
                blocks.extend(self._make_blocks())  # samples before the reboot
            self._dispatch(fr, t_recv)
        self._bytes_since = None

    def pop_events(self) -> list[DeviceEvent]:
        """Events since the last call (device EVENT frames, unplug, replug, reboot, clock jump)."""
        ev, self._events = self._events, []
        return ev

    def close(self) -> None:
        """Stop streaming (if the link is up) and release the port; safe to call twice."""
        if self._closed:
            return
        if self._lost is None and self._streaming:
            try:
                self._command(STOP, retries=0, timeout_s=0.2)
            except DeviceError:
                pass
        self._streaming = False
        self._closed = True
        self._transport.close()

    # -- samples -> blocks -----------------------------------------------------------------------
    def _make_blocks(self) -> list[Block]:
        payloads, self._samples = self._samples, []
        self._samples_since = None
        try:
            arr = decode_samples(payloads)
        except ProtocolError:
            good = [p for p in payloads if len(p) == SAMPLE_SIZE]
            self.stats.bytes_discarded += sum(len(p) for p in payloads) - len(good) * SAMPLE_SIZE
            arr = decode_samples(good)
        if len(arr) == 0:
            return []
        rate = float(self.ins1_info.rate_hz)
        period_us = 1e6 / rate
        seq16 = arr["seq"].astype(np.int64)
        # Drop duplicated / out-of-order samples (step 0 or "backwards").
        prev = self._seq_last16
        keep = np.ones(len(arr), dtype=bool)
        for _ in range(4):
            idx = np.flatnonzero(keep)
            s = seq16[idx]
            ref = np.concatenate(([prev if prev is not None else s[0] - 1], s[:-1]))
            step = (s - ref) % 65536
            bad = (step == 0) | (step > 32768)
            if not bad.any():
                break
            keep[idx[bad]] = False
        n_dup = int((~keep).sum())
        self.stats.duplicates += n_dup
        arr = arr[keep]
        if len(arr) == 0:
            return []
        seq16 = arr["seq"].astype(np.int64)
        t_raw = arr["t_dev_us"].astype(np.int64)
        nominal_us = int(round(period_us))
        seq_anchor = self._seq_last16 is None
        time_anchor = self._t_last_raw is None
        ref_seq = int(seq16[0]) - 1 if seq_anchor else self._seq_last16
        if seq_anchor and self._seq_unwrapped < 0:
            self._seq_unwrapped = int(seq16[0]) - 1  # Block.seq starts at the device's number
        ref_t = int(t_raw[0]) - nominal_us if time_anchor else self._t_last_raw
        step = np.diff(np.concatenate(([ref_seq], seq16))) % 65536
        dt = np.diff(np.concatenate(([ref_t], t_raw))) % (1 << 32)
        dt = np.where(dt >= 1 << 31, dt - (1 << 32), dt)
        # A gap longer than 65536 samples wraps the counter: trust the device clock's multiple.
        extra = np.round((dt / period_us - step) / 65536.0).astype(np.int64)
        extra = np.where(step > 1, np.maximum(extra, 0), 0)
        step = step + 65536 * extra
        if self._gap_from_host and self._t_host_last is not None:
            # After a reconnect or reboot the device counters restarted: the gap is the host
            # time between the last sample before and the first sample after.
            t_host_first = float(self.clock.to_host((int(t_raw[0]) + self._t_corr_us) * 1e-6))
            missing = max(0, int(round((t_host_first - self._t_host_last) * rate)) - 1)
            step[0] = missing + 1
        self._gap_from_host = False
        # Device clock jumps: a time step that disagrees with the sequence step.
        jump = dt - step * period_us
        is_jump = np.abs(jump) > max(0.5 * period_us, 2000.0)
        if time_anchor:
            is_jump[0] = False
        if is_jump.any():
            self.stats.clock_jumps += int(is_jump.sum())
            for k in np.flatnonzero(is_jump):
                self._events.append(DeviceEvent(
                    "clock_jump", -1, time.time(), int(jump[k]),
                    f"device clock of the {self.ins1_info.side} insole jumped "
                    f"{jump[k] * 1e-3:+.1f} ms"))
        corr = -np.cumsum(np.where(is_jump, np.round(jump), 0)).astype(np.int64)
        t0 = int(t_raw[0]) + self._t_corr_us - int(dt[0]) if time_anchor else self._t_last_us
        t_us = t0 + np.cumsum(dt) + corr
        seq = self._seq_unwrapped + np.cumsum(step)
        gaps = step - 1
        # update state
        self._seq_last16 = int(seq16[-1])
        self._seq_unwrapped = int(seq[-1])
        self._t_last_raw = int(t_raw[-1])
        self._t_last_us = int(t_us[-1])
        self._t_corr_us = int(self._t_last_us - self._t_last_raw)
        # physics
        info = self.ins1_info
        values = samples_to_physical(arr, info.p_lsb_kpa, info.acc_lsb_g, info.gyr_lsb_dps)
        f_sum = force_from_pressures(values[:, 3:19], self._area_mm2)
        mismatch = force_mismatch(values[:, 0], f_sum)
        self.stats.force_mismatch += int(mismatch.sum())
        fault = np.isnan(values[:, 3:19]).any(axis=1)
        self.stats.sensor_faults += int(fault.sum())
        flags = arr["flags"].astype(np.int64) | np.where(mismatch, STATUS_FORCE_MISMATCH, 0)
        # split at gaps and jumps
        cuts = np.flatnonzero((gaps > 0) | is_jump)
        cuts = cuts[cuts > 0]
        bounds = np.concatenate(([0], cuts, [len(arr)]))
        blocks = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            t_dev_s = float(t_us[a]) * 1e-6
            g = int(gaps[a])
            if g:
                self.stats.dropped_samples += g
                self.stats.gaps += 1
            blocks.append(
                Block(
                    seq=int(seq[a]),
                    t_device_s=t_dev_s,
                    t_host_s=float(self.clock.to_host(t_dev_s)),
                    samples=values[a:b],
                    status=int(np.bitwise_or.reduce(flags[a:b])),
                    gap_before=g,
                )
            )
        last = blocks[-1]
        self._t_host_last = last.t_host_s + (last.n - 1) / rate
        return blocks

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
        deadline = time.monotonic() + timeout_s
        while True:
            if self._try_reconnect(force=True):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _try_reconnect(self, force: bool = False) -> bool:
        from forcelab.drivers.discovery import ports_for_serial
        from forcelab.drivers.transport import Transport

        if self._lost is None:
            return True
        now = time.monotonic()
        if not force and now - self._last_reconnect_try < self.reconnect_interval_s:
            raise self._lost
        self._last_reconnect_try = now
        for path in ports_for_serial(self.info.serial, self.port):
            try:
                tr = Transport.open(path, baudrate=self.baudrate)
            except DeviceError:
                continue
            old = self._transport
            self._transport = tr
            self.codec.reset()
            try:
                try:
                    self._command(STOP, retries=0, timeout_s=0.3)
                except ProtocolError:
                    pass
                info = Ins1Info.unpack(self._command(GET_INFO))
                if info.serial != self.info.serial:
                    tr.close()
                    self._transport = old
                    continue
                self._samples.clear()
                self.clock.reset()
                self._lost = None
                self._reset_for_resume(gap=True)
                self._resume_after_connect()
                self._rebooted = self._resync_needed = False  # handled right here
            except DeviceError:
                tr.close()
                self._transport = old
                self._lost = self._lost or ConnectionLost(f"INS1 on {self.port} lost")
                continue
            self.port = path
            self.stats.reconnects += 1
            self._events.append(DeviceEvent("replug", self._seq_unwrapped, time.time(), 0,
                                            f"INS1 {self.info.serial} reconnected on {path}"))
            return True
        if not force:
            raise self._lost
        return False


# --------------------------------------------------------------------------------------------
# Opening and pairing


def open_ins1(port_url: str, **opts: Any) -> Ins1Device:
    """Open one INS1 insole from ``ins1:///dev/ttyUSB0?rate=200`` (or a bare port path).

    Options (keyword or URL query): ``rate`` / ``rate_hz`` (25, 50, 100, 200),
    ``sync_interval_s``, ``command_timeout_s``, ``baud`` / ``baudrate``.

    Raises
    ------
    DeviceNotFound
        The port does not exist.
    ProtocolError
        The port answers, but not as an INS1 insole.
    DeviceError
        An option is not valid.
    """
    path, query = _parse_url(port_url)
    merged: dict[str, Any] = {**query, **opts}
    kw: dict[str, Any] = {}
    conv = {"rate": ("rate_hz", int), "rate_hz": ("rate_hz", int),
            "sync_interval_s": ("sync_interval_s", float),
            "command_timeout_s": ("command_timeout_s", float),
            "baud": ("baudrate", int), "baudrate": ("baudrate", int)}
    for key, value in merged.items():
        if key not in conv:
            raise DeviceError(f"INS1: unknown option {key!r}; valid: {sorted(conv)}")
        name, fn = conv[key]
        try:
            kw[name] = fn(value)
        except (TypeError, ValueError):
            raise DeviceError(f"INS1: option {key}={value!r} is not a number") from None
    return Ins1Device(path, **kw)


class InsolePair:
    """The left and right insole of one pair, on one host time base.

    Both feet's Blocks carry ``t_host_s`` from their own fitted clocks, so they line up on the
    host ``time.time()`` axis; gaps stay explicit per foot (``Block.gap_before``).
    """

    def __init__(self, left: Ins1Device, right: Ins1Device) -> None:
        self.left = left
        self.right = right

    @property
    def devices(self) -> list[Ins1Device]:
        """[left, right]."""
        return [self.left, self.right]

    @property
    def pair_id(self) -> int:
        """The pair id both insoles report."""
        return int(self.left.info.extra["pair_id"])

    def start(self) -> None:
        """Start both feet."""
        for d in self.devices:
            d.start()

    def stop(self) -> None:
        """Stop both feet."""
        for d in self.devices:
            d.stop()

    def read(self, timeout: float = 0.1) -> dict[str, list[Block]]:
        """Blocks per foot: ``{"left": [...], "right": [...]}`` (``timeout`` split over both)."""
        return {"left": self.left.read(timeout / 2), "right": self.right.read(timeout / 2)}

    def close(self) -> None:
        """Close both feet."""
        for d in self.devices:
            d.close()

    def __enter__(self) -> InsolePair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pair_insoles(devices: list[Device]) -> InsolePair:
    """Match two INS1 insoles into a left/right pair.

    Raises
    ------
    DeviceError
        Not exactly two INS1 devices, two of the same foot ("two left feet"), or insoles from
        different pairs (pair ids differ).
    """
    devs = list(devices)
    if len(devs) != 2:
        raise DeviceError(f"an insole pair needs exactly two INS1 insoles, got {len(devs)}")
    for d in devs:
        if not isinstance(d, Ins1Device):
            raise DeviceError(f"{d.info.protocol} device {d.info.serial} is not an INS1 insole")
    sides = [d.info.side for d in devs]
    if sides[0] == sides[1]:
        raise DeviceError(
            f"both insoles ({devs[0].info.serial} on {devs[0].port}, {devs[1].info.serial} on "
            f"{devs[1].port}) are {sides[0]} feet: connect one left and one right insole"
        )
    ids = [d.info.extra["pair_id"] for d in devs]
    if ids[0] != ids[1]:
        raise DeviceError(
            f"the insoles belong to different pairs (pair id {ids[0]:#x} on {devs[0].port}, "
            f"{ids[1]:#x} on {devs[1].port}): connect the two insoles of one pair"
        )
    left = devs[0] if sides[0] == "left" else devs[1]
    right = devs[1] if left is devs[0] else devs[0]
    return InsolePair(left, right)
