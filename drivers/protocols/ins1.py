"""INS1 wire format: frames, SAMPLE/INFO/LAYOUT payloads and their physical units (pure: bytes
in, values out, no I/O). See docs/protocols.md. Every frame is::

    MAGIC 'INS1' | VER=1 | TYPE u8 | LEN u16 (0..512) | PAYLOAD | CRC-16/MODBUS u16

with the CRC over MAGIC..payload.

- :func:`crc16_modbus`, :func:`encode_frame` and :class:`Ins1Codec` (incremental
  ``feed(bytes) -> frames``, one compiled scan per call; on a bad CRC it advances ONE byte and
  hunts again, never skipping a claimed length; counts ``crc_errors``, ``resyncs``,
  ``bytes_discarded`` and the work it did, ``bytes_examined``, which stays proportional to the
  input whatever the input is; ``scan(bytes)`` hands SAMPLE frames out as record runs),
- :func:`decode_samples` (vectorised SAMPLE payloads -> a NumPy structured array) and
  :func:`samples_to_physical` (counts -> kPa, g, deg/s, N, normalised COP),
- :class:`Ins1Info`, :func:`pack_layout` / :func:`unpack_layout`, :func:`force_from_pressures`
  and :func:`force_mismatch` (the Σ p·A cross-check).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from forcelab.drivers._frames import crc16_modbus as _crc16_modbus
from forcelab.drivers._frames import (
    ins1_force_from_pressures,
    ins1_samples_to_physical,
    scan_ins1,
)
from forcelab.drivers.errors import ProtocolError

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
N_COLUMNS = 3 + N_SENSORS + 6
"""Columns of :func:`samples_to_physical`: fz, cop_x, cop_y, 16 pressures, 3 acc, 3 gyr."""


# --------------------------------------------------------------------------------------------
# CRC and framing


def crc16_modbus(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF, no final xor), compiled.

    ``crc16_modbus(b"123456789") == 0x4B37``.
    """
    return _crc16_modbus(data, crc)


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


class SampleRun(NamedTuple):
    """Consecutive SAMPLE frames as :meth:`Ins1Codec.scan` hands them out: their ``count``
    payloads of :data:`SAMPLE_SIZE` bytes back to back in ``records`` (``np.frombuffer(records,
    SAMPLE_DTYPE)`` decodes them)."""

    records: bytes
    count: int


class Ins1Codec:
    """Incremental INS1 frame parser: ``feed(bytes) -> list[Frame]``; pure, no I/O.

    Hunts for ``'INS1'``; a header with a wrong version or a length above 512 is not a frame;
    a complete frame whose CRC fails is counted in ``crc_errors`` and the hunt restarts ONE
    byte after its start (never skipping the claimed length, so a damaged length field cannot
    swallow good frames). ``bytes_discarded`` counts bytes that belong to no good frame and
    ``resyncs`` the times a good frame was found again after discarding bytes.

    The bytes held are scanned in one compiled call (:mod:`forcelab.drivers._frames`);
    :meth:`scan` (the device's hot path) hands SAMPLE frames out as :class:`SampleRun` records
    instead of one :class:`Frame` each. ``bytes_examined`` counts the work (bytes scanned for
    the magic plus bytes run through the CRC): at most ``WORST_CASE_WORK_PER_BYTE`` per byte
    received, for clean streams, damaged streams and garbage alike.

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
        self.bytes_examined = 0

    def reset(self) -> None:
        """Forget buffered bytes (e.g. after a reconnect); counters are kept."""
        self._buf.clear()
        self._lost = False

    @property
    def pending_bytes(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf)

    @property
    def buffer(self) -> bytearray:
        """The bytes held (for a compiled reader that takes whole frames: see :meth:`take`)."""
        return self._buf

    @property
    def lost(self) -> bool:
        """Bytes were discarded since the last good frame (the next one is a resync)."""
        return self._lost

    def take(self, consumed: int, frames: int, examined: int) -> None:
        """``frames`` good frames, the first ``consumed`` bytes held, were taken by a compiled
        reader (:func:`~forcelab.drivers._frames.ins1_usual_read`) that looked at ``examined``
        bytes as :meth:`scan` counts them: drop them, count them."""
        del self._buf[:consumed]
        self.frames += frames
        self.bytes_examined += examined

    def push(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes without parsing them yet (``feed(b"")`` parses them later:
        whole runs of frames at once cost far less than one frame per call)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"Ins1Codec.push needs bytes, not {type(data).__name__}")
        self.bytes_received += len(data)
        self._buf += data

    def _scan(self, data: bytes | bytearray | memoryview, sample_type: int) -> list:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"Ins1Codec.feed needs bytes, not {type(data).__name__}")
        self.bytes_received += len(data)
        buf = self._buf
        buf += data
        used, self._lost, items, frames, crc_errors, resyncs, discarded, examined = scan_ins1(
            buf, self._lost, sample_type, SAMPLE_SIZE, Frame, SampleRun)
        if used:
            del buf[:used]
        self.frames += frames
        self.crc_errors += crc_errors
        self.resyncs += resyncs
        self.bytes_discarded += discarded
        self.bytes_examined += examined
        return items

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add received bytes; return the complete, CRC-checked frames, in order."""
        return self._scan(data, -1)

    def scan(self, data: bytes | bytearray | memoryview) -> list[SampleRun | Frame]:
        """:meth:`feed` for a streaming device: consecutive SAMPLE frames of the right size come
        out as one :class:`SampleRun`, every other frame as a :class:`Frame`, in arrival
        order."""
        return self._scan(data, SAMPLE)


#: Upper bound of ``Ins1Codec.bytes_examined`` per byte received: every byte is scanned for the
#: magic about twice, and a byte lies inside at most (longest frame / magic length) candidate
#: frames that fail their CRC, plus as many checked again after a failure.
WORST_CASE_WORK_PER_BYTE = 2 + 2 * (FRAME_OVERHEAD + MAX_PAYLOAD) // len(MAGIC)


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
    """Counts -> Block columns ``fz`` (N), ``cop_x, cop_y`` (normalised), ``p01..p16`` (kPa),
    ``acc_*`` (g), ``gyr_*`` (deg/s).

    Faulty sensors (0xFFFF) become NaN. One compiled pass over the records.
    """
    records = np.ascontiguousarray(samples, dtype=SAMPLE_DTYPE).view(np.uint8)
    return ins1_samples_to_physical(records, float(p_lsb_kpa), float(acc_lsb_g),
                                    float(gyr_lsb_dps))


def force_from_pressures(p_kpa: np.ndarray, area_mm2: np.ndarray) -> np.ndarray:
    """Σ p·A in N from pressures (kPa, shape (n, 16)) and sensor areas (mm²).

    NaN (faulty) sensors make the sum NaN: the total cannot be checked then. Summed over the
    sensors in order, in one compiled pass (the sum the insole's usual read makes).
    """
    return ins1_force_from_pressures(np.asarray(p_kpa, dtype=np.float64),
                                     sensor_weights(area_mm2))


def sensor_weights(area_mm2: np.ndarray) -> np.ndarray:
    """N per kPa of each sensor: its area in mm² × 1e-3 (the weights of Σ p·A)."""
    return np.asarray(area_mm2, dtype=np.float64) * 1e-3


#: Tolerance of the Σ p·A cross-check: ``max(MISMATCH_TOLERANCE_N, MISMATCH_TOLERANCE_REL * fz)``.
MISMATCH_TOLERANCE_N = 15.0
MISMATCH_TOLERANCE_REL = 0.1


def force_mismatch(
    f_total_n: np.ndarray,
    f_sum_n: np.ndarray,
    tolerance_n: float = MISMATCH_TOLERANCE_N,
    tolerance_rel: float = MISMATCH_TOLERANCE_REL,
) -> np.ndarray:
    """True where the device total force and Σ p·A disagree by more than the tolerance.

    The tolerance is ``max(tolerance_n, tolerance_rel * f_total)``: quantisation of 16
    pressures (2.5 kPa steps) alone accounts for several N. NaN sums never mismatch.
    """
    tol = np.maximum(tolerance_n, tolerance_rel * np.abs(f_total_n))
    return np.abs(f_total_n - f_sum_n) > tol  # NaN compares False, without a warning
