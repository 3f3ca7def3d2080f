"""Moticon OpenGo live datagrams: parse, sequence and reorder (pure, no I/O).

The OpenGo desktop software re-sends live insole data over UDP, one datagram per sample:
51 whitespace-separated ASCII floats, the timestamp first, then 25 values per foot, left first:

=========  =====================================================================
index      content (per foot, offset 1 for the left foot, 26 for the right)
=========  =====================================================================
0          timestamp (s or ms: inferred from the increments)
+0 .. +2   acceleration x, y, z (g)
+3 .. +5   angular rate x, y, z (deg/s)
+6 .. +7   COP x, y (normalised −0.5 … +0.5 of the insole)
+8 .. +23  pressures 1 … 16 (N/cm²)
+24        total force (N)
=========  =====================================================================

(The export file's column order differs: pressures first; see
``forcelab.interop.read_opengo``. Both end up in the same channels, those of an INS1 insole:
``fz`` N, ``cop_x``/``cop_y`` 1, ``p01``…``p16`` kPa, ``acc_*`` g, ``gyr_*`` deg/s.)

:func:`parse_datagram` turns one datagram into ``(timestamp, values[51])`` or says why not;
:func:`foot_samples` maps the 51 values to one foot's channels; :class:`Sequencer` turns
timestamps into sample numbers (unit inferred, duplicates and late datagrams counted, datagrams
that arrive out of order put back in order within a short hold).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from forcelab.drivers.errors import ProtocolError
from forcelab.drivers.ins1 import CHANNELS

N_FIELDS = 51
"""Fields of one datagram: the timestamp and 25 values per foot."""
FOOT_FIELDS = 25
FOOT_OFFSET = {"left": 1, "right": 26}
KPA_PER_N_CM2 = 10.0
"""1 N/cm² = 10 kPa (the export reader converts the same way)."""

#: Datagram index (within a foot block) of each channel of :data:`CHANNELS`, and its scale.
_FOOT_INDEX = np.array([24, 6, 7, *range(8, 24), 0, 1, 2, 3, 4, 5])
_FOOT_SCALE = np.array([1.0, 1.0, 1.0, *([KPA_PER_N_CM2] * 16), 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
assert len(_FOOT_INDEX) == len(CHANNELS)

# Reasons a datagram is not a sample (the keys of Sequencer/receiver counters).
BAD_FIELD_COUNT = "bad_field_count"
NOT_NUMERIC = "not_numeric"
BAD_TIMESTAMP = "bad_timestamp"


def parse_datagram(data: bytes) -> tuple[float, np.ndarray] | str:
    """One datagram -> ``(timestamp, values)`` or the reason it is not a sample.

    Parameters
    ----------
    data : bytes
        The datagram's payload.

    Returns
    -------
    (float, ndarray of shape (51,)) or str
        The timestamp (in the sender's unit) and the 51 values (NaN/inf kept: a foot with a
        non-finite value is judged by :func:`foot_samples`), or one of
        :data:`BAD_FIELD_COUNT`, :data:`NOT_NUMERIC`, :data:`BAD_TIMESTAMP`.
    """
    fields = data.split()
    if len(fields) != N_FIELDS:
        return BAD_FIELD_COUNT
    try:
        values = np.array([float(f) for f in fields])
    except ValueError:
        return NOT_NUMERIC
    t = float(values[0])
    if not math.isfinite(t):
        return BAD_TIMESTAMP
    return t, values


def parse_datagrams(payloads: list[bytes]) -> list[tuple[float, np.ndarray] | str]:
    """:func:`parse_datagram` for many datagrams at once (one NumPy conversion for the clean
    ones; the same results)."""
    fields = [p.split() for p in payloads]
    whole = [f for f in fields if len(f) == N_FIELDS]
    try:
        rows = iter(np.array(whole, dtype=float).reshape(len(whole), N_FIELDS))
    except ValueError:  # text in one of them: judge each on its own
        return [parse_datagram(p) for p in payloads]
    out: list[tuple[float, np.ndarray] | str] = []
    for f in fields:
        if len(f) != N_FIELDS:
            out.append(BAD_FIELD_COUNT)
            continue
        row = next(rows)
        t = float(row[0])
        out.append((t, row) if math.isfinite(t) else BAD_TIMESTAMP)
    return out


def foot_samples(values: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """One foot's channels from datagram rows.

    Parameters
    ----------
    values : ndarray, shape (n, 51)
        Parsed datagrams.
    side : {"left", "right"}

    Returns
    -------
    samples : ndarray, shape (n, 25)
        Columns of :data:`CHANNELS` in their units (pressures in kPa).
    valid : ndarray of bool, shape (n,)
        Rows whose 25 values of this foot are all finite (the others are not samples: a foot
        without data in that datagram).
    """
    block = values[:, FOOT_OFFSET[side] + _FOOT_INDEX] * _FOOT_SCALE
    return block, np.isfinite(block).all(axis=1)


def datagram_text(t: float, left: np.ndarray, right: np.ndarray, t_decimals: int = 2) -> bytes:
    """The datagram for one sample: ``t`` and each foot's 25 values in wire order (the inverse of
    :func:`parse_datagram`; used by the simulator)."""
    parts = [f"{t:.{t_decimals}f}"]
    for foot in (left, right):
        parts += ["nan" if not math.isfinite(v) else repr(float(v)) for v in foot]
    return " ".join(parts).encode("ascii")


def wire_order(samples: np.ndarray) -> np.ndarray:
    """Channels of :data:`CHANNELS` (n, 25) -> one foot's 25 wire values (n, 25) (inverse of
    :func:`foot_samples`)."""
    out = np.empty_like(samples, dtype=float)
    out[:, _FOOT_INDEX] = samples / _FOOT_SCALE
    return out


def infer_unit_scale(timestamps: np.ndarray) -> float:
    """Seconds per timestamp unit (1.0 for s, 0.001 for ms) from the increments.

    The median positive step is 0.01 at 100 Hz in s and 10 in ms; a step of 1 or more means
    ms (a rate below 1 Hz in s is not an insole), below 1 means s (above 1 kHz in ms neither).

    Raises
    ------
    ProtocolError
        No positive step among the timestamps (they do not advance).
    """
    steps = np.diff(np.sort(np.asarray(timestamps, dtype=float)))
    steps = steps[steps > 0]
    if steps.size == 0:
        raise ProtocolError("OpenGo timestamps do not advance: cannot tell s from ms")
    return 1e-3 if float(np.median(steps)) >= 1.0 else 1.0


class Sequencer:
    """Sample numbers from OpenGo timestamps, in order (pure).

    Parameters
    ----------
    rate_hz : float
        Nominal sample rate in Hz (the timestamps' step is checked against it).
    unit_scale : float or None
        Seconds per timestamp unit; None = infer from the first ``n_infer`` datagrams.
    n_infer : int
        Datagrams held to infer the unit and check the rate.
    late_s, restart_s : float
        A timestamp more than ``late_s`` (s) behind the newest (a UDP datagram is late by
        milliseconds, not by half a second), or more than ``restart_s`` ahead of where the
        arrival time puts it, starts a new timeline (the OpenGo software restarted its clock);
        its place then follows the arrival time. A dropout moves timestamps and arrival alike:
        a gap.

    Notes
    -----
    :meth:`push` places each datagram by ``seq = seq0 + round((t − t0) · rate)``. A seq already
    released or pending is a duplicate (counted, dropped); a seq below the newest pending one
    arrived out of order (counted as ``reordered``, put back in order); a seq below one already
    released came too late (``late``, dropped: its place was already declared a gap).
    :meth:`release` hands back every pending datagram up to the newest that arrived before a
    cut-off, in seq order.
    """

    def __init__(self, rate_hz: float, unit_scale: float | None = None, n_infer: int = 5,
                 late_s: float = 0.5, restart_s: float = 60.0) -> None:
        self.rate_hz = float(rate_hz)
        self.unit_scale = unit_scale
        self.n_infer = int(n_infer)
        self.late_s = float(late_s)
        self.restart_s = float(restart_s)
        self._infer: list[tuple[float, np.ndarray, float]] = []
        self._checked = False  # unit known and the rate checked on the first datagrams
        self._pending: dict[int, tuple[float, np.ndarray, float]] = {}
        self._t0_s: float | None = None
        self._seq0 = 0
        self._max_seq = -1
        self._max_arrival = 0.0
        self._released = -1
        self._recent: deque[int] = deque(maxlen=4096)
        self._recent_set: set[int] = set()
        self.duplicates = 0
        self.reordered = 0
        self.late = 0
        self.restarts = 0

    @property
    def unit(self) -> str | None:
        """"s", "ms" or None (not inferred yet)."""
        if self.unit_scale is None:
            return None
        return "ms" if self.unit_scale < 1.0 else "s"

    @property
    def released_seq(self) -> int:
        """The newest seq handed out by :meth:`release` (−1 before the first)."""
        return self._released

    def push(self, t_raw: float, values: np.ndarray, arrival_s: float) -> None:
        """Add one parsed datagram (timestamp in the sender's unit, 51 values, arrival in s).

        Raises
        ------
        ProtocolError
            The timestamps step at a rate far from ``rate_hz`` (the message names the rate).
        """
        if not self._checked:
            self._infer.append((t_raw, values, arrival_s))
            if len(self._infer) < self.n_infer:
                return
            ts = np.array([d[0] for d in self._infer])
            if self.unit_scale is None:
                self.unit_scale = infer_unit_scale(ts)
            steps = np.diff(np.sort(ts))
            steps = steps[steps > 0]
            if not steps.size:
                raise ProtocolError("OpenGo timestamps do not advance")
            self._checked = True
            step_s = float(np.median(steps)) * self.unit_scale
            if not 0.75 <= step_s * self.rate_hz <= 1.34:
                raise ProtocolError(
                    f"OpenGo timestamps advance by {step_s * 1000:.3g} ms per datagram "
                    f"({1 / step_s:.4g} Hz), not {self.rate_hz:g} Hz: open the device with "
                    f"rate={1 / step_s:.4g}"
                )
            held, self._infer = self._infer, []
            for t, v, a in held:
                self._place(t * self.unit_scale, v, a)
            return
        self._place(t_raw * self.unit_scale, values, arrival_s)

    def _place(self, t_s: float, values: np.ndarray, arrival_s: float) -> None:
        if self._t0_s is None:
            self._t0_s, self._seq0 = t_s, 0
        seq = self._seq0 + int(round((t_s - self._t0_s) * self.rate_hz))
        newest = max(self._max_seq, self._released)
        if newest >= 0:
            # where the arrival time puts it: a dropout moves both alike, a restart does not
            passed = int(round(max(0.0, arrival_s - self._max_arrival) * self.rate_hz))
            if seq < newest - self.late_s * self.rate_hz or \
                    seq > newest + passed + self.restart_s * self.rate_hz:
                self.restarts += 1
                self._t0_s, self._seq0 = t_s, newest + max(1, passed)
                seq = self._seq0
        if seq <= self._released:
            if seq in self._recent_set:
                self.duplicates += 1
            else:
                self.late += 1
            return
        if seq in self._pending:
            self.duplicates += 1
            return
        if seq < self._max_seq:
            self.reordered += 1
        self._pending[seq] = (t_s, values, arrival_s)
        if seq > self._max_seq:
            self._max_seq = seq
            self._max_arrival = arrival_s

    @property
    def n_pending(self) -> int:
        """Datagrams held (for the unit inference or the reorder hold)."""
        return len(self._pending) + len(self._infer)

    def oldest_arrival(self) -> float | None:
        """Arrival time (s) of the oldest held datagram, or None."""
        arr = [a for _, _, a in self._pending.values()] + [a for _, _, a in self._infer]
        return min(arr) if arr else None

    def release(self, cutoff_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Hand back the pending datagrams up to the newest that arrived at or before
        ``cutoff_s`` (arrival clock, s), in seq order.

        Returns
        -------
        seq : ndarray of int64
        t_dev_s : ndarray of float
            Timestamps in s.
        arrival_s : ndarray of float
        values : ndarray, shape (n, 51)
        """
        ready = [s for s, (_, _, a) in self._pending.items() if a <= cutoff_s]
        if not ready:
            return (np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros((0, N_FIELDS)))
        upto = max(ready)
        seqs = sorted(s for s in self._pending if s <= upto)
        items = [self._pending.pop(s) for s in seqs]
        for s in seqs:
            if len(self._recent) == self._recent.maxlen:
                self._recent_set.discard(self._recent[0])
            self._recent.append(s)
            self._recent_set.add(s)
        self._released = seqs[-1]
        return (np.array(seqs, np.int64), np.array([i[0] for i in items]),
                np.array([i[2] for i in items]), np.array([i[1] for i in items]))
