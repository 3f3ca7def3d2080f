"""FPB1 wire format: frames, DATA payloads, calibration and identity (pure: bytes in, values
out, no I/O). See docs/protocols.md.

- :class:`FPB1Codec` — incremental ``feed(bytes) -> [Frame]``: hunts ``A5 5A``, rejects
  LEN > 1024, waits for ``8 + LEN`` bytes, checks CRC-16/CCITT-FALSE; on a bad CRC it advances ONE
  byte (never skips the claimed length). Counts ``frames``, ``crc_errors``, ``resyncs``,
  ``bytes_discarded``. Never raises on any input. The scanning is one compiled call per feed
  (:mod:`forcelab.drivers._frames`); ``scan(bytes)`` hands DATA frames out already decoded as
  :class:`DataRun` arrays (the device's hot path). :func:`encode_frame` builds frames.
- :func:`decode_data` — vectorised DATA payload decoding (one ``np.frombuffer`` per run of
  frames with the same shape); :func:`encode_data` builds payloads.
- :class:`Calibration` — raw counts -> mV/V -> N and N·m through the matrix;
  :func:`loads_to_samples` adds COP and free moment (NaN when Fz is below a threshold).
- :class:`Identity` — IDENTIFY reply / BOOT body.
"""

from __future__ import annotations

import binascii
import functools
import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from forcelab.drivers._frames import fpb1_loads_to_samples, scan_fpb1
from forcelab.drivers.base import COP_THRESHOLD_N
from forcelab.drivers.errors import ProtocolError

SYNC = b"\xa5\x5a"
MAX_LEN = 1024

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


# ---------------------------------------------------------------------------------------------
# Codec
# ---------------------------------------------------------------------------------------------
class Frame(NamedTuple):
    """One checked frame: TYPE, TOKEN and payload bytes."""

    type: int
    token: int
    payload: bytes


def crc16_ccitt_false(data: bytes | bytearray | memoryview, init: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) at C speed;
    ``crc16_ccitt_false(b"123456789") == 0x29B1``."""
    return binascii.crc_hqx(data, init)


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
    return SYNC + body + struct.pack("<H", crc16_ccitt_false(body))


class FPB1Codec:
    """Incremental FPB1 frame parser (pure: no I/O, never raises on any input).

    The bytes held are scanned in one compiled call (:mod:`forcelab.drivers._frames`): hunt
    ``A5 5A``, reject LEN > 1024, wait for ``8 + LEN`` bytes, check the CRC; on a bad CRC
    advance ONE byte. :meth:`feed` returns every frame; :meth:`scan` (the device's hot path)
    returns the DATA frames decoded into :class:`DataRun` arrays instead, with the other frames
    between them in arrival order.

    Attributes
    ----------
    frames, crc_errors, bad_lengths, resyncs, bytes_discarded : int
        Counters: frames accepted, frames rejected by CRC, headers with LEN > 1024, times the
        parser lost sync and hunted, bytes thrown away while hunting.
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

    @property
    def buffer(self) -> bytearray:
        """The bytes held (for a compiled reader that takes whole frames: see :meth:`take`)."""
        return self._buf

    def push(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes without scanning them (a following :meth:`scan` or :meth:`take`
        does)."""
        self._buf += data

    def take(self, consumed: int, frames: int) -> None:
        """``frames`` good frames, the first ``consumed`` bytes held, were taken by a compiled
        reader (:func:`~forcelab.drivers._frames.fpb1_usual_read`): drop them, count them."""
        del self._buf[:consumed]
        self.frames += frames
        self._in_sync = True

    def _scan(self, data: bytes | bytearray | memoryview, expire: bool,
              data_type: int) -> tuple[list, int]:
        buf = self._buf
        buf += data
        (used, self._in_sync, items, frames, crc_errors, bad_lengths, resyncs, discarded,
         malformed) = scan_fpb1(buf, self._in_sync, expire, data_type, Frame, DataRun)
        if used:
            del buf[:used]
        self.frames += frames
        self.crc_errors += crc_errors
        self.bad_lengths += bad_lengths
        self.resyncs += resyncs
        self.bytes_discarded += discarded
        return items, malformed

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add received bytes; return the complete, CRC-checked frames in order."""
        return self._scan(data, False, -1)[0]

    def expire(self) -> list[Frame]:
        """The line went quiet with bytes pending: an incomplete frame at the head will never
        complete (it was truncated, or its LEN was corrupted). Give up on it one byte at a time
        and return the complete frames found in what follows (e.g. a reply stuck behind it)."""
        return self._scan(b"", True, -1)[0]

    def scan(self, data: bytes | bytearray | memoryview,
             expire: bool = False) -> tuple[list[DataRun | Frame], int]:
        """:meth:`feed` (or, with ``expire``, :meth:`expire`) for a streaming device: DATA
        frames come out decoded, as :class:`DataRun` items (consecutive DATA frames of one shape;
        any other frame ends a run), the other frames as :class:`Frame` items between them.

        Returns
        -------
        items : list of DataRun or Frame
            In arrival order.
        malformed : int
            DATA frames whose length disagrees with their header (dropped; they end no run).
        """
        return self._scan(data, expire, DATA)


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
                     threshold_n: float = COP_THRESHOLD_N) -> np.ndarray:
    """Append COP and free moment to loads (n, 6) -> samples (n, 9).

    COP with true origin (a, b, c), c < 0: x = (My + c·Fx)/Fz + a, y = (Mx − c·Fy)/Fz + b;
    free moment Tz = Mz − (x − a)·Fy + (y − b)·Fx. All three are NaN where Fz < ``threshold_n``.
    """
    a, b, c = (float(v) for v in origin_m)
    return fpb1_loads_to_samples(np.ascontiguousarray(loads, dtype=np.float64), a, b, c,
                                 float(threshold_n))


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
