"""The state machine of a recording session: states, events for the operator, failures.

:class:`SessionState` holds what a :class:`~forcelab.acquisition.SessionController` is doing and
what went wrong; the controller adds the operations (connect, tare, weigh, record) and the worker
threads (:mod:`forcelab.acquisition.workers`) report to it through :meth:`report_failure`,
:meth:`device_recovered`, :meth:`device_event`, :meth:`report_overflow` and :meth:`post_event`.
"""

from __future__ import annotations

import collections
import enum
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from forcelab.acquisition.buffers import WorkQueue
from forcelab.acquisition.errors import StateError
from forcelab.acquisition.session_writer import AddEvent
from forcelab.drivers.base import DeviceEvent


class State(str, enum.Enum):
    """States of a :class:`SessionController`."""

    IDLE = "idle"
    CONNECTED = "connected"
    TARING = "taring"
    WEIGHING = "weighing"
    RECORDING = "recording"
    STOPPED = "stopped"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ControllerEvent:
    """Something the operator should know about, for a GUI or a log.

    Attributes
    ----------
    kind : str
        ``"state"``, ``"connection_lost"``, ``"reconnected"``, ``"device_error"``,
        ``"writer_error"``, ``"analysis_error"``, ``"device_event"`` (sync, overrange, battery ...),
        ``"overflow"``, ``"tared"``, ``"weighed"``, ``"trial_started"``, ``"trial_stopped"``,
        ``"marker"``, ``"recording_started"``, ``"recording_stopped"``.
    severity : {"info", "warning", "error"}
    message : str
        One line for the operator.
    stream : str or None
        The stream concerned, if any.
    t_host_s : float
        Host time (``time.time()`` epoch) of the event, s.
    data : dict
        Extra machine-readable fields.
    """

    kind: str
    severity: str
    message: str
    stream: str | None = None
    t_host_s: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceStatus:
    """Live figures of one device stream (a copy; safe to keep)."""

    name: str
    protocol: str
    kind: str
    model: str
    serial: str
    side: str | None
    state: str
    rate_hz: float
    measured_rate_hz: float | None
    samples: int
    samples_recorded: int
    dropped_samples: int
    overflow_writer_samples: int
    overflow_analysis_samples: int
    samples_unwritten: int
    link: dict[str, int]
    error: str | None


@dataclass(frozen=True)
class Snapshot:
    """The controller's status at one moment (a copy; safe to keep and compare).

    ``elapsed_s`` counts from the start of recording (0 when not recording). ``live`` holds the
    running figures of :meth:`LiveAnalyzer.figures` for the current trial (empty when not
    recording).
    """

    state: State
    error: str | None
    path: str | None
    elapsed_s: float
    file_size_bytes: int | None
    trial: str | None
    n_trials: int
    n_markers: int
    stance_count: int
    body_mass_kg: float | None
    body_mass_method: str | None
    devices: tuple[DeviceStatus, ...]
    live: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """What :meth:`SessionController.stop_recording` returns: ``path``, ``duration_s``,
        ``file_size_bytes``, per stream ``samples_recorded`` (in the file),
        ``dropped_samples`` (lost by the link or while unplugged), ``overflow_writer_samples``,
        ``overflow_analysis_samples``, ``samples_unwritten`` (queued for a file that failed)
        and ``link``; ``stance_count``, ``live`` figures, ``error`` (or None)."""
        return {
            "path": self.path,
            "duration_s": self.elapsed_s,
            "file_size_bytes": self.file_size_bytes,
            "streams": {
                d.name: {
                    "samples_recorded": d.samples_recorded,
                    "dropped_samples": d.dropped_samples,
                    "overflow_writer_samples": d.overflow_writer_samples,
                    "overflow_analysis_samples": d.overflow_analysis_samples,
                    "samples_unwritten": d.samples_unwritten,
                    "link": d.link,
                }
                for d in self.devices
            },
            "stance_count": self.stance_count,
            "live": self.live,
            "error": self.error,
        }


class SessionState:
    """State, events and failures of a session (the base of the session controller).

    Every method is thread-safe; worker threads call :meth:`report_failure`,
    :meth:`device_recovered`, :meth:`device_event`, :meth:`report_overflow` and
    :meth:`post_event`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the fields a snapshot reads
        self._state = State.IDLE
        self._error: str | None = None
        self._events: collections.deque[ControllerEvent] = collections.deque(maxlen=10000)
        self._events_dropped = 0
        self._failures: dict[str, str] = {}
        self._resume_state: State | None = None
        self._overflow_reported: set[tuple[str, str]] = set()
        self._session_start_s: float | None = None
        self._writer_q: WorkQueue | None = None
        self._writer_failed = threading.Event()
        self._recording = False

    @property
    def state(self) -> State:
        """The current state."""
        return self._state

    def poll_events(self, max_events: int | None = None) -> list[ControllerEvent]:
        """Return and forget the events queued since the last call (oldest first); never blocks."""
        out = []
        with self._lock:
            while self._events and (max_events is None or len(out) < max_events):
                out.append(self._events.popleft())
        return out

    def _require(self, action: str, *allowed: State) -> State:
        state = self._state
        if state not in allowed:
            hint = {
                State.IDLE: "connect devices first",
                State.CONNECTED: "start recording first" if State.RECORDING in allowed else "",
                State.RECORDING: "stop recording first",
                State.ERROR: f"the session is in error ({self._error}); stop or disconnect",
                State.STOPPED: "start a new recording first" if State.RECORDING in allowed else "",
            }.get(state, "")
            allowed_txt = " or ".join(s.value for s in allowed)
            raise StateError(
                f"cannot {action} while {state.value} (only when {allowed_txt})"
                + (f"; {hint}" if hint else "")
            )
        return state

    def _set_state(self, state: State, message: str | None) -> None:
        with self._lock:
            if self._state == state:
                return
            self._state = state
        if message:
            self.post_event("state", "info", message, data={"state": state.value})

    def _restore_state(self, expected: State, previous: State) -> None:
        """Back to ``previous`` unless a worker moved the controller to error meanwhile."""
        with self._lock:
            if self._state == expected:
                self._state = previous

    def post_event(
        self,
        kind: str,
        severity: str,
        message: str,
        stream: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        ev = ControllerEvent(kind, severity, message, stream, time.time(), dict(data or {}))
        with self._lock:
            if len(self._events) == self._events.maxlen:
                self._events_dropped += 1
            self._events.append(ev)

    def _now_session_s(self) -> float:
        start = self._session_start_s
        return time.time() - start if start is not None else 0.0


    def report_failure(self, stream: str | None, kind: str, exc: BaseException) -> None:
        """Called by worker threads: error state, an error event, and the event in the file."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        message = f"{stream}: {text}" if stream else text
        if kind == "writer_error":
            message = f"writing the session file failed: {text}"
        elif kind == "analysis_error":
            message = f"live analysis failed: {text}"
        with self._lock:
            self._error = message
            self._failures[stream or kind] = message
            if self._state not in (State.IDLE, State.ERROR):
                resume = self._state
                if resume in (State.TARING, State.WEIGHING):
                    resume = State.CONNECTED
                self._resume_state = resume
                self._state = State.ERROR
        self.post_event(kind, "error", message, stream, data={"exception": type(exc).__name__})
        q = self._writer_q
        if kind == "writer_error":
            self._writer_failed.set()
        elif q is not None and not self._writer_failed.is_set():
            q.put_control(AddEvent(stream, kind, self._now_session_s(), message=message))

    def device_recovered(self, stream: str) -> None:
        """Called by an acquisition thread whose device streams again after a connection loss:
        back to the state before the error when nothing else is failing."""
        with self._lock:
            self._failures.pop(stream, None)
            resumed = None
            if not self._failures:
                self._error = None
                if self._state == State.ERROR and self._resume_state is not None:
                    resumed = self._resume_state
                    if resumed == State.RECORDING and not self._recording:
                        resumed = State.STOPPED
                    self._state = resumed
        self.post_event("reconnected", "warning", f"{stream}: device reconnected", stream)
        if resumed is not None:
            self.post_event(
                "state", "info", f"{resumed.value} again", data={"state": resumed.value}
            )
        q = self._writer_q
        if q is not None:
            q.put_control(AddEvent(stream, "reconnected", self._now_session_s()))

    def device_event(self, stream: str, ev: DeviceEvent) -> None:
        severity = (
            "warning"
            if ev.kind in ("overflow", "overrange_start", "link_lost", "low_battery", "unplug")
            else "info"
        )
        msg = f"{stream}: {ev.kind}" + (f" ({ev.message})" if ev.message else "")
        self.post_event(
            "device_event",
            severity,
            msg,
            stream,
            data={"device_kind": ev.kind, "seq": ev.seq, "arg": ev.arg},
        )
        q = self._writer_q
        start = self._session_start_s
        if q is not None and start is not None:
            q.put_control(
                AddEvent(
                    stream, ev.kind, float(ev.t_host_s) - start,
                    seq=int(ev.seq), arg=int(ev.arg), message=ev.message,
                )
            )

    def report_overflow(self, stream: str, which: str, n: int) -> None:
        key = (stream, which)
        if key in self._overflow_reported:
            return
        self._overflow_reported.add(key)
        self.post_event(
            "overflow",
            "warning",
            f"{stream}: the {which} falls behind; {n} samples could not be queued "
            "(written as a gap)",
            stream,
        )

