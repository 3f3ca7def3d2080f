"""The pure-Python FPB1 and INS1 frame parsers forcelab used before the compiled scanners
(forcelab.drivers._frames), kept only as byte-exact references for the tests: the compiled
codecs must give the same frames and the same counters on any input."""

from __future__ import annotations

import struct

import numpy as np
from forcelab.drivers.protocols.fpb1 import MAX_LEN, SYNC, FPB1Codec, crc16_ccitt_false
from forcelab.drivers.protocols.fpb1 import Frame as Fpb1Frame
from forcelab.drivers.protocols.ins1 import (
    FRAME_OVERHEAD,
    HEADER_SIZE,
    MAGIC,
    MAX_PAYLOAD,
    VERSION,
    Ins1Codec,
)
from forcelab.drivers.protocols.ins1 import Frame as Ins1Frame


class ReferenceFPB1Codec(FPB1Codec):
    """FPB1Codec's counters and buffer with the frame-by-frame Python parser it used before."""

    def _lose_sync(self) -> None:
        if self._in_sync:
            self.resyncs += 1
            self._in_sync = False

    def expire(self) -> list[Fpb1Frame]:
        """The line went quiet with bytes pending: an incomplete frame at the head will never
        complete (it was truncated, or its LEN was corrupted). Give up on it one byte at a time
        and return the complete frames found in what follows (e.g. a reply stuck behind it)."""
        out: list[Fpb1Frame] = []
        while self._buf:
            self._lose_sync()
            self.bytes_discarded += 1
            del self._buf[:1]
            out += self.feed(b"")
        return out

    def feed(self, data: bytes | bytearray | memoryview) -> list[Fpb1Frame]:
        """Add received bytes; return the complete, CRC-checked frames in order."""
        buf = self._buf
        buf += data
        out: list[Fpb1Frame] = []
        pos = 0
        n = len(buf)
        crc = crc16_ccitt_false
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
                out.append(Fpb1Frame(buf[i + 2], buf[i + 3], mv[i + 6:end].tobytes()))
                self._in_sync = True
                pos = end + 2
        finally:
            mv.release()
        if pos:
            del buf[:pos]
        self.frames += len(out)
        return out


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


class ReferenceIns1Codec(Ins1Codec):
    """Ins1Codec's counters and buffer with the Python parser it used before.

    Candidate frames are chained and CRC-checked in batches (vectorised from 32 frames on); a
    batch doubles after each clean one (the size carries over to the next call, so a clean
    stream takes a block of frames in one batch) and falls back to one frame after a CRC
    error, so the frames chained past a damaged one and thrown away are never more than those
    checked since the previous error.
    """

    #: Most candidate frames per CRC batch (a clean stream reaches it after a few frames).
    MAX_BATCH = 1024

    def __init__(self) -> None:
        super().__init__()
        self._batch = 1

    def reset(self) -> None:
        super().reset()
        self._batch = 1

    def _discard(self, n: int) -> None:
        if n > 0:
            self.bytes_discarded += n
            self._lost = True

    def _chain(self, i: int, limit: int) -> tuple[list[int], list[int], int | None]:
        """Up to ``limit`` candidate frames from ``i``, each assumed intact (header checks only).

        Returns their starts and payload lengths, and where the chain stopped waiting for more
        bytes (None when it stopped at ``limit``).
        """
        buf = self._buf
        n = len(buf)
        starts: list[int] = []
        lens: list[int] = []
        pos = i
        while len(starts) < limit:
            j = buf.find(MAGIC, pos)
            if j < 0:
                self.bytes_examined += n - pos
                return starts, lens, max(pos, n - (len(MAGIC) - 1))
            self.bytes_examined += j + len(MAGIC) - pos
            if n - j < HEADER_SIZE:
                return starts, lens, j
            ln = buf[j + 6] | (buf[j + 7] << 8)
            if buf[j + 4] != VERSION or ln > MAX_PAYLOAD:
                pos = j + 1
                continue
            if n - j < FRAME_OVERHEAD + ln:
                return starts, lens, j
            starts.append(j)
            lens.append(ln)
            pos = j + FRAME_OVERHEAD + ln
        return starts, lens, None

    def feed(self, data: bytes | bytearray | memoryview) -> list[Ins1Frame]:
        """Add received bytes; return the complete, CRC-checked frames, in order."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"Ins1Codec.feed needs bytes, not {type(data).__name__}")
        self.bytes_received += len(data)
        buf = self._buf
        buf += data
        out: list[Ins1Frame] = []
        i = 0
        batch = self._batch
        while True:
            starts, lens, stop_at = self._chain(i, batch)
            self.bytes_examined += sum(lens) + FRAME_OVERHEAD * len(starts)
            bad = self._first_bad(buf, starts, lens)
            n_ok = len(starts) if bad is None else bad
            prev_end = i
            for k in range(n_ok):
                s, ln = starts[k], lens[k]
                self._discard(s - prev_end)
                if self._lost:
                    self.resyncs += 1
                    self._lost = False
                payload = bytes(buf[s + HEADER_SIZE : s + HEADER_SIZE + ln])
                out.append(Ins1Frame(buf[s + 5], payload))
                prev_end = s + FRAME_OVERHEAD + ln
            self.frames += n_ok
            if bad is not None:
                s = starts[bad]
                self.crc_errors += 1
                self._discard(s + 1 - prev_end)
                i, batch = s + 1, 1
                continue
            if stop_at is None:  # the batch was full: go on with a larger one
                i, batch = prev_end, min(2 * batch, self.MAX_BATCH)
                continue
            self._discard(stop_at - prev_end)
            del buf[:stop_at]
            self._batch = batch
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
        first = starts[0]
        arr = np.frombuffer(bytes(buf[first : starts[-1] + FRAME_OVERHEAD + lens[-1]]),
                            dtype=np.uint8)
        st = np.asarray(starts, dtype=np.int64) - first
        ln_arr = np.asarray(lens, dtype=np.int64)
        ok = np.ones(len(st), dtype=bool)
        for ln in np.unique(ln_arr):
            sel = np.flatnonzero(ln_arr == ln)
            ok[sel] = _crc_residues(arr, st[sel], int(ln) + FRAME_OVERHEAD) == 0
        bad = np.flatnonzero(~ok)
        return int(bad[0]) if len(bad) else None


