"""Seeded fault injection for every simulator, with a ground-truth log of what was done.

Syntax (the ``faults=`` option of a simulated setup): comma-separated ``name:value`` or ``name``::

    faults=bitflip:1e-4,drop:0.001,garbage:0.01,stall:0.2,unplug:1.5,replug:0.5

======================  ======================================================================
``bitflip:P``           flip one random bit of each byte with probability P (per byte)
``garbage:P``           per frame: probability of 1-40 random bytes before the frame
``truncate:P``          per frame: probability the frame is cut short (the rest never sent)
``duplicate:P``         per frame: probability the frame is sent twice
``drop:P``              per frame: probability the frame is never sent (its samples are lost;
                        the device's sequence counter still advances)
``stall:R``             stalls per second: output pauses ``stall_s`` (default 0.3 s), then the
                        queued frames come in one burst
``stall_s:S``           stall duration in s
``clockjump:R``         device clock jumps per second (by ``clockjump_s``, default +0.5 s)
``clockjump_s:S``       size of a clock jump in s (may be negative)
``wildseq:P``           per sample-carrying frame: probability its sequence number is sent
                        off by ``wildseq_n`` with a valid checksum (damage a CRC cannot see)
``wildseq_n:K``         size of such a jump in samples (default 100000; may be negative)
``overrange:P``         per frame: probability an overrange episode (``overrange_s``, default
                        0.05 s) starts: the signal exceeds the ADC range and saturates
``partial``             the stream starts mid-frame / mid-line (first bytes cut)
``reset``               Arduino-style auto-reset when a driver opens the port
``unplug:T``            unplug T s after streaming starts
``replug:T``            replug T s after the unplug
======================  ======================================================================

The UDP simulator (``sim:opengo``, :mod:`~forcelab.drivers.sim.opengo_sim`) takes ``drop``,
``duplicate`` and ``garbage`` per datagram and its own ``reorder:P``, ``burst:R``/``burst_s:S``
and ``pause:T``/``pause_s:S`` (see that module); :meth:`FaultSpec.parse` checks each setup's
names (``SERIAL_FAULTS``, ``UDP_FAULTS``) with the same rules.

Simulators call :meth:`FaultInjector.frame` for every outgoing frame with an id (and, when the
frame carries samples, the first sequence number and count); it returns the bytes to send and
logs each fault as a :class:`FaultRecord`. Tests compare what a driver recovered against
``damaged_frames()``, ``dropped_frames()`` and ``log``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from forcelab.drivers.errors import DeviceError

#: Fault names that take a probability per byte/frame/datagram (0..1).
_PROBABILITIES = ("bitflip", "garbage", "truncate", "duplicate", "drop", "overrange",
                  "wildseq", "reorder")
#: Fault names that take a rate per second (>= 0).
_RATES = ("stall", "clockjump", "burst")
#: Fault names that take a duration or time in s (>= 0 but ``clockjump_s``).
_TIMES = ("stall_s", "clockjump_s", "overrange_s", "unplug", "replug", "burst_s", "pause",
          "pause_s")
#: Fault names that take a count of samples.
_COUNTS = ("wildseq_n",)
#: Flags without a value.
_FLAGS = ("partial", "reset")

KNOWN_FAULTS = _PROBABILITIES + _RATES + _TIMES + _COUNTS + _FLAGS
#: The faults of the UDP simulator (per datagram).
UDP_FAULTS = ("drop", "duplicate", "reorder", "garbage", "burst", "burst_s", "pause", "pause_s")
#: The faults of the serial simulators (FPB1, INS1, CSV4: per byte or frame).
SERIAL_FAULTS = tuple(n for n in KNOWN_FAULTS
                      if n not in ("reorder", "burst", "burst_s", "pause", "pause_s"))


@dataclass
class FaultSpec:
    """Parsed fault options (all zero/False = a perfect link)."""

    bitflip: float = 0.0
    garbage: float = 0.0
    truncate: float = 0.0
    duplicate: float = 0.0
    drop: float = 0.0
    overrange: float = 0.0
    wildseq: float = 0.0
    stall: float = 0.0
    clockjump: float = 0.0
    stall_s: float = 0.3
    clockjump_s: float = 0.5
    overrange_s: float = 0.05
    wildseq_n: float = 100000.0
    unplug: float | None = None
    replug: float | None = None
    partial: bool = False
    reset: bool = False
    reorder: float = 0.0
    burst: float = 0.0
    burst_s: float = 0.3
    pause: float | None = None
    pause_s: float = 1.5

    @classmethod
    def parse(cls, text: str | None, valid: tuple[str, ...] = SERIAL_FAULTS) -> FaultSpec:
        """Parse ``"bitflip:1e-4,drop:0.001,partial"``; empty/None gives no faults.

        Parameters
        ----------
        text : str or None
            The ``faults=`` option.
        valid : tuple of str
            The fault names this simulator applies (``SERIAL_FAULTS`` or ``UDP_FAULTS``).

        Raises
        ------
        DeviceError
            Unknown fault name or a value out of range (the message lists the valid names).
        """
        spec = cls()
        if not text:
            return spec
        for item in str(text).split(","):
            item = item.strip()
            if not item:
                continue
            name, _, value = item.partition(":")
            name = name.strip().lower()
            if name not in valid:
                raise DeviceError(
                    f"unknown fault {name!r} in faults={text!r}; valid: {', '.join(valid)}"
                )
            if name in _FLAGS:
                if value not in ("", "1", "true", "yes", "on"):
                    raise DeviceError(f"fault {name!r} takes no value (got {value!r})")
                setattr(spec, name, True)
                continue
            try:
                v = float(value)
            except ValueError:
                raise DeviceError(
                    f"fault {name!r} needs a number, e.g. {name}:0.001 (got {value!r})"
                ) from None
            if not np.isfinite(v):
                raise DeviceError(f"fault {name!r} must be finite (got {value!r})")
            if name in _PROBABILITIES and not 0.0 <= v <= 1.0:
                raise DeviceError(f"fault {name!r} is a probability in 0..1 (got {v})")
            if name in _RATES and v < 0:
                raise DeviceError(f"fault {name!r} is a rate per second >= 0 (got {v})")
            if name in _TIMES and name != "clockjump_s" and v < 0:
                raise DeviceError(f"fault {name!r} is a time in s >= 0 (got {v})")
            if name in _COUNTS and (v != int(v) or v == 0):
                raise DeviceError(f"fault {name!r} is a whole, non-zero number (got {v})")
            setattr(spec, name, v)
        return spec

    @property
    def any_frame_faults(self) -> bool:
        """True when frames may be altered (bit flips, garbage, truncation, duplicates, drops)."""
        return any(getattr(self, n) > 0 for n in ("bitflip", "garbage", "truncate",
                                                   "duplicate", "drop"))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the options."""
        return asdict(self)


@dataclass
class FaultRecord:
    """One injected fault.

    ``kind`` is the fault name; ``frame`` the simulator's frame id (-1 when not about a frame);
    ``seq``/``n`` the samples concerned; ``t_s`` the simulator's model time; ``detail`` extra
    facts (bit positions, bytes cut, stall length, ...).
    """

    kind: str
    frame: int = -1
    seq: int = -1
    n: int = 0
    t_s: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


class FaultInjector:
    """Applies a :class:`FaultSpec` deterministically from ``seed``.

    Parameters
    ----------
    spec : FaultSpec or str
        The faults (a string is parsed with :meth:`FaultSpec.parse`).
    seed : int
        Seed of the injector's own random stream (independent of the gait model's).
    """

    def __init__(self, spec: FaultSpec | str | None = None, seed: int = 0) -> None:
        self.spec = spec if isinstance(spec, FaultSpec) else FaultSpec.parse(spec)
        self.rng = np.random.default_rng([int(seed), 0xFA17])
        self.log: list[FaultRecord] = []
        self._overrange_until = -np.inf
        self._partial_done = False

    # -- frame faults --------------------------------------------------------------------
    def frame(
        self, data: bytes, frame_id: int, seq: int = -1, n: int = 0, t_s: float = 0.0
    ) -> bytes:
        """Return the bytes to send for one frame (maybe empty, altered, duplicated, prefixed).

        Faults are applied in this order: drop, truncate, bit flips, duplicate, garbage prefix.
        A duplicated frame repeats the already damaged bytes.
        """
        sp = self.spec
        if not (sp.any_frame_faults or (sp.partial and not self._partial_done)):
            return data
        rng = self.rng
        out = bytes(data)
        if sp.partial and not self._partial_done:
            self._partial_done = True
            cut = int(rng.integers(1, max(2, len(out))))
            self.log.append(FaultRecord("partial", frame_id, seq, n, t_s, {"bytes_cut": cut}))
            out = out[cut:]
            return out
        if sp.drop and rng.random() < sp.drop:
            self.log.append(FaultRecord("drop", frame_id, seq, n, t_s))
            return b""
        if sp.truncate and rng.random() < sp.truncate and len(out) > 1:
            keep = int(rng.integers(1, len(out)))
            self.log.append(FaultRecord("truncate", frame_id, seq, n, t_s, {"kept": keep}))
            out = out[:keep]
        if sp.bitflip:
            hits = np.flatnonzero(rng.random(len(out)) < sp.bitflip)
            if hits.size:
                arr = bytearray(out)
                bits = rng.integers(0, 8, hits.size)
                for pos, bit in zip(hits.tolist(), bits.tolist(), strict=True):
                    arr[pos] ^= 1 << bit
                out = bytes(arr)
                self.log.append(
                    FaultRecord("bitflip", frame_id, seq, n, t_s,
                                {"positions": hits.tolist(), "bits": bits.tolist()})
                )
        if sp.duplicate and rng.random() < sp.duplicate:
            self.log.append(FaultRecord("duplicate", frame_id, seq, n, t_s))
            out = out + out
        if sp.garbage and rng.random() < sp.garbage:
            g = rng.integers(0, 256, int(rng.integers(1, 41)), dtype=np.uint8).tobytes()
            self.log.append(FaultRecord("garbage", frame_id, seq, n, t_s, {"bytes": len(g)}))
            out = g + out
        return out

    # -- time faults ---------------------------------------------------------------------
    def stall(self, dt_s: float, t_s: float = 0.0) -> float:
        """Duration (s) of a stall starting now, or 0; called once per ``dt_s`` of model time."""
        if self.spec.stall and self.rng.random() < self.spec.stall * dt_s:
            self.log.append(FaultRecord("stall", t_s=t_s, detail={"stall_s": self.spec.stall_s}))
            return self.spec.stall_s
        return 0.0

    def clock_jump(self, dt_s: float, t_s: float = 0.0) -> float:
        """Size (s) of a device clock jump now, or 0; called once per ``dt_s`` of model time."""
        if self.spec.clockjump and self.rng.random() < self.spec.clockjump * dt_s:
            self.log.append(
                FaultRecord("clockjump", t_s=t_s, detail={"jump_s": self.spec.clockjump_s})
            )
            return self.spec.clockjump_s
        return 0.0

    def overrange(self, t_s: float, frame_id: int = -1, seq: int = -1, n: int = 0) -> bool:
        """True while an overrange episode lasts (a new one may start at each call)."""
        if t_s < self._overrange_until:
            return True
        if self.spec.overrange and self.rng.random() < self.spec.overrange:
            self._overrange_until = t_s + self.spec.overrange_s
            self.log.append(FaultRecord("overrange", frame_id, seq, n, t_s,
                                        {"until_s": self._overrange_until}))
            return True
        return False

    def wild_seq(self, frame_id: int, seq: int, n: int, t_s: float = 0.0) -> int:
        """How far to move the sequence number of this sample-carrying frame (0: not at all);
        the simulator sends the moved number with a valid checksum."""
        if self.spec.wildseq and self.rng.random() < self.spec.wildseq:
            jump = int(self.spec.wildseq_n)
            self.log.append(FaultRecord("wildseq", frame_id, seq, n, t_s, {"jump": jump}))
            return jump
        return 0

    def note(self, kind: str, **fields: Any) -> None:
        """Log a fault the simulator carried out itself (unplug, replug, reset)."""
        detail = fields.pop("detail", {})
        self.log.append(FaultRecord(kind, detail=detail, **fields))

    # -- ground truth --------------------------------------------------------------------
    def records(self, kind: str) -> list[FaultRecord]:
        """Logged faults of one kind."""
        return [r for r in self.log if r.kind == kind]

    def damaged_frames(self) -> set[int]:
        """Ids of frames sent altered (bit flips or truncation) or cut (partial)."""
        return {r.frame for r in self.log if r.kind in ("bitflip", "truncate", "partial")}

    def dropped_frames(self) -> set[int]:
        """Ids of frames never sent."""
        return {r.frame for r in self.log if r.kind == "drop"}
