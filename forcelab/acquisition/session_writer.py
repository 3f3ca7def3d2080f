"""What the recorder needs from a session file: the :class:`SessionWriter` interface.

The acquisition room knows this interface only, never HDF5: :class:`forcelab.store.SessionWriter`
satisfies it, and a test may hand :class:`~forcelab.acquisition.SessionController` any other
object that does (a writer on a slow disk, a writer that fails). Trials, markers and events reach
the writer thread as typed commands (:data:`WriterCommand`) in the same queue as the data blocks,
so the file keeps them in arrival order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from forcelab.drivers.base import Block, DeviceInfo, LinkStats


class SessionWriter(Protocol):
    """A session file being recorded (see :class:`forcelab.store.SessionWriter`).

    All ``t_s`` arguments are s on the host ``time.time()`` epoch, or s since the session start
    when below 1e9.
    """

    t0_unix_s: float
    """Host time (epoch s) that the file counts its session time from."""

    def add_stream(self, name: str, info: DeviceInfo) -> None:
        """Declare a device stream (before the first block)."""

    def start_swmr(self) -> None:
        """Make the file readable by other processes from now on (no stream can be added)."""

    def append(self, name: str, block: Block) -> None:
        """Queue one block of samples of stream ``name``."""

    def add_gap(self, name: str, n_missing: int, t_s: float | None = None) -> None:
        """Record samples of stream ``name`` that no block will bring (a device that stayed
        unplugged until the end), the first due at ``t_s``."""

    def n_samples_stored(self, name: str) -> int:
        """Samples of stream ``name`` in the file on disk (committed by a completed flush)."""

    def update_link_stats(self, name: str, stats: LinkStats) -> None:
        """Record the link error counters of stream ``name``."""

    def add_event(self, name: str | None, kind: str, t_s: float | None = None, seq: int = -1,
                  arg: int = 0, message: str = "") -> None:
        """Record an event of stream ``name`` (None: of the session)."""

    def start_trial(self, name: str, tags: Iterable[str] = (), speed_m_s: float | None = None,
                    shoe: str = "", notes: str = "", t_s: float | None = None) -> None:
        """Start a named trial."""

    def stop_trial(self, t_s: float | None = None) -> str | None:
        """Stop the running trial; returns its name."""

    def add_marker(self, label: str, t_s: float | None = None) -> None:
        """Put a labelled marker on the session time line."""

    def flush(self) -> None:
        """Write everything appended so far to disk now."""

    def maybe_flush(self) -> bool:
        """Flush when the writer's own interval is due; True when it flushed."""

    def close(self) -> None:
        """Write everything and close the file."""


@dataclass(frozen=True)
class AddEvent:
    """An event for the file (device event, live stance, recorder failure, reconnection)."""

    stream: str | None
    kind: str
    t_s: float
    seq: int = -1
    arg: int = 0
    message: str = ""

    def apply(self, writer: SessionWriter) -> None:
        """Hand the event to ``writer``."""
        writer.add_event(
            self.stream, self.kind, self.t_s, seq=self.seq, arg=self.arg, message=self.message
        )


@dataclass(frozen=True)
class StartTrial:
    """Start a trial at session time ``t_s`` (s)."""

    name: str
    tags: tuple[str, ...]
    speed_m_s: float | None
    shoe: str
    notes: str
    t_s: float

    def apply(self, writer: SessionWriter) -> None:
        """Hand the trial start to ``writer``."""
        writer.start_trial(
            self.name, tags=self.tags, speed_m_s=self.speed_m_s, shoe=self.shoe,
            notes=self.notes, t_s=self.t_s,
        )


@dataclass(frozen=True)
class StopTrial:
    """Stop the running trial at session time ``t_s`` (s)."""

    t_s: float

    def apply(self, writer: SessionWriter) -> None:
        """Hand the trial stop to ``writer``."""
        writer.stop_trial(t_s=self.t_s)


@dataclass(frozen=True)
class AddMarker:
    """A labelled marker at session time ``t_s`` (s)."""

    label: str
    t_s: float

    def apply(self, writer: SessionWriter) -> None:
        """Hand the marker to ``writer``."""
        writer.add_marker(self.label, t_s=self.t_s)


@dataclass(frozen=True)
class AddGap:
    """``n_missing`` samples of ``stream`` that never came, the first due at ``t_s`` (host s)."""

    stream: str
    n_missing: int
    t_s: float

    def apply(self, writer: SessionWriter) -> None:
        """Hand the gap to ``writer``."""
        writer.add_gap(self.stream, self.n_missing, t_s=self.t_s)


@dataclass(frozen=True)
class Sync:
    """Flush the file, then set ``done``: everything queued before is then readable."""

    done: threading.Event

    def apply(self, writer: SessionWriter) -> None:
        """Flush ``writer`` and signal the waiting caller."""
        writer.flush()
        self.done.set()


#: A control item of the writer queue.
WriterCommand = AddEvent | StartTrial | StopTrial | AddMarker | AddGap | Sync


def stance_event(stance: dict[str, Any]) -> AddEvent:
    """A live stance as a ``stance`` event: ``t_s`` = contact start (s), ``arg`` = mid-stance
    peak (N, rounded), ``message`` = JSON with side, end, contact time and validity."""
    peak = stance.get("midstance_peak_n")
    message = json.dumps(
        {
            "side": stance.get("side"),
            "end_s": round(float(stance["end_s"]), 4),
            "contact_time_s": _rounded(stance.get("contact_time_s"), 4),
            "midstance_peak_n": _rounded(peak, 1),
            "valid": bool(stance.get("valid", True)),
            "reason": stance.get("reason") or "",
        },
        separators=(",", ":"),
    )
    return AddEvent(
        stance["stream"], "stance", float(stance["start_s"]),
        arg=int(round(peak)) if peak is not None else 0, message=message,
    )


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)
