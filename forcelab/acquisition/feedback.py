"""Live biofeedback during a recording: stances -> cues -> session file, listeners and UDP.

:class:`LiveFeedback` runs a :class:`~forcelab.analysis.feedback.FeedbackEngine` in the
recorder's analysis thread: the :class:`~forcelab.acquisition.workers.AnalysisWorker` hands it
each batch of completed stances the moment the live analyser returns them (in feedback mode the
worker wakes on data instead of every 100 ms), and each cue is stamped with its time of issue,
queued for the session file as a ``cue`` event, kept for :meth:`CueHub.take` and passed to every
listener (:meth:`CueHub.add_listener`: audio, screens, :class:`UdpCueSender`).

Trials start and stop phases: a trial tagged ``feedback:<phase>`` is that phase of a protocol,
any other trial is feedback outside a protocol (phase ""). The settings (metric, side, target,
band, baseline value, schedule, phases) go into the file as a ``feedback`` event whenever they
change: when the recording starts, when a phase starts, when the baseline value is fixed; the
last one holds. A recording killed midway keeps the settings of what it recorded.

The streaming detector needs its first 5 s of data before it finds any stance (initial baseline
and level); the stances of that window come out together when it ends. :meth:`wait_ready`
waits until every stream has given its first stance, so a protocol that starts after it never
waits on the warm-up.
"""

from __future__ import annotations

import collections
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from forcelab.acquisition.errors import AcquisitionError
from forcelab.acquisition.session_writer import AddEvent
from forcelab.analysis.feedback import PHASES, TAG_PREFIX, Cue, FeedbackEngine
from forcelab.errors import InputError

#: Cues kept for :meth:`CueHub.take` when nobody takes them (the oldest are dropped).
MAX_CUES_KEPT = 10000


class CueHub:
    """The controller's cue queue: new cues since the last :meth:`take`, and listeners that are
    called with each cue from the analysis thread as soon as it is issued (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: collections.deque[Cue] = collections.deque(maxlen=MAX_CUES_KEPT)
        self._listeners: list[Callable[[Cue], Any]] = []
        self.listener_errors = 0
        self.last_listener_error: str | None = None

    def add_listener(self, fn: Callable[[Cue], Any]) -> None:
        """Call ``fn(cue)`` for every cue from now on (from the analysis thread; must not
        block). An exception in ``fn`` is counted, never passed on."""
        with self._lock:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[Cue], Any]) -> None:
        """Stop calling ``fn`` (no-op when it was not added)."""
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def take(self) -> list[Cue]:
        """The cues issued since the last call, oldest first (non-blocking)."""
        with self._lock:
            out = list(self._queue)
            self._queue.clear()
        return out

    def publish(self, cue: Cue) -> None:
        """Queue ``cue`` and hand it to every listener."""
        with self._lock:
            self._queue.append(cue)
            listeners = list(self._listeners)
        for fn in listeners:
            try:
                fn(cue)
            except Exception as exc:  # a listener (audio, a display) never stops feedback
                self.listener_errors += 1
                self.last_listener_error = f"{type(exc).__name__}: {exc}"


class LiveFeedback:
    """A feedback engine wired to a recording (see the module docstring).

    Parameters
    ----------
    engine : FeedbackEngine
        Metric, target, side and schedule.
    hub : CueHub
        Where cues go (the controller's).
    phase_durations_s : dict or None
        Planned duration (s) per phase (``""`` outside a protocol): the span a faded schedule
        fades over.
    clock : callable
        Host time in s on the ``time.time()`` epoch (the time base of ``Block.t_host_s``).
    """

    def __init__(
        self,
        engine: FeedbackEngine,
        hub: CueHub,
        phase_durations_s: dict[str, float] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.hub = hub
        self.phase_durations_s = dict(phase_durations_s or {})
        if engine.schedule.name == "faded" and not self._feedback_span_s():
            raise InputError("a faded schedule needs the duration of its training (s)")
        self._clock = clock
        self._lock = threading.Lock()
        self._writer_queue: Any = None
        self._settings_written: str | None = None  # the settings of the last feedback event
        self._session_start_s = 0.0
        self._waiting: set[str] = set()
        self._ready = threading.Event()
        self._latencies_s: list[float] = []
        self.n_cues = 0
        self.n_shown = 0

    def _feedback_span_s(self) -> float | None:
        """The planned duration (s) of the phase that shows cues."""
        d = self.phase_durations_s
        return d.get("training") or d.get("")

    def attach(self, writer_queue: Any, session_start_s: float, streams: Iterable[str]) -> None:
        """A recording starts: cues go to ``writer_queue``; ``session_start_s`` is its host
        start time (s); ``streams`` are the streams whose first stance ends the warm-up. The
        engine starts afresh (stance indices count from the recording's first stance)."""
        with self._lock:
            self.engine.reset()
            self._latencies_s = []
            self.n_cues = self.n_shown = 0
            self._writer_queue = writer_queue
            self._session_start_s = float(session_start_s)
            self._waiting = set(streams)
            self._ready.clear()
            self._settings_written = None
        self._store_settings()

    def wait_ready(self, timeout_s: float, stop: threading.Event | None = None) -> bool:
        """Wait until every stream has given a stance (the detector's warm-up is over), at most
        ``timeout_s`` s or until ``stop`` is set; True when ready."""
        deadline = time.monotonic() + timeout_s
        while not self._ready.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or (stop is not None and stop.is_set()):
                return False
            self._ready.wait(min(left, 0.1))
        return True

    def trial_started(self, name: str, tags: Iterable[str], t_s: float) -> None:
        """A trial started at session time ``t_s`` (s): its ``feedback:<phase>`` tag names the
        phase (none: feedback outside a protocol)."""
        phase = ""
        for tag in tags:
            if tag.startswith(TAG_PREFIX) and tag[len(TAG_PREFIX):] in PHASES:
                phase = tag[len(TAG_PREFIX):]
        # a trial outside the planned phases fades over the planned training
        duration_s = self.phase_durations_s.get(phase) or self._feedback_span_s()
        with self._lock:
            self.engine.start_phase(phase, t_s, duration_s)
        self._store_settings()

    def trial_stopped(self, t_s: float) -> None:
        """The running trial stopped at session time ``t_s`` (s)."""
        with self._lock:
            self.engine.stop_phase(t_s)
        self._store_settings()

    def on_stances(self, stances: list[dict[str, Any]]) -> None:
        """Completed stances from the live analyser (analysis thread): issue their cues."""
        if not stances:
            return
        cues: list[Cue] = []
        with self._lock:
            unfixed = self.engine.baseline is None
            for st in stances:
                now_s = self._clock() - self._session_start_s
                cues += self.engine.feed(st, now_s)
                self._waiting.discard(st.get("stream"))
            fixed = unfixed and self.engine.baseline is not None
            queue = self._writer_queue
        if fixed:  # the settings with the baseline go to the file before the cues it bands
            self._store_settings()
        for cue in cues:
            self.hub.publish(cue)
            self._latencies_s.append(cue.latency_s)
            self.n_cues += 1
            self.n_shown += int(cue.shown)
            if queue is not None:
                queue.put_control(
                    AddEvent(cue.stream or None, "cue", cue.t_issued_s, seq=cue.stance_index,
                             message=cue.to_json())
                )
        if not self._waiting:
            self._ready.set()

    def finish(self) -> None:
        """End of the analysis: the final settings are in the file (a ``feedback`` event)."""
        self._store_settings()

    def _store_settings(self) -> None:
        """Queue the settings for the file as a ``feedback`` event when they differ from the
        last ones queued."""
        with self._lock:
            queue = self._writer_queue
            text = json.dumps(self.engine.settings())
            if queue is None or text == self._settings_written:
                return
            self._settings_written = text
            t_s = self._clock() - self._session_start_s
        queue.put_control(AddEvent(None, "feedback", t_s, message=text))

    def latency_ms(self) -> dict[str, float | None]:
        """Cue latency (issue − toe-off) percentiles in ms: ``p50``, ``p95``, ``p99``, ``max``."""
        lat = np.asarray(self._latencies_s, dtype=float) * 1000.0
        if lat.size == 0:
            return {"p50": None, "p95": None, "p99": None, "max": None}
        p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(lat.max())}


def parse_udp_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port).

    Raises
    ------
    InputError
        If it is not a host and a port number 1-65535.
    """
    host, _, port = str(text).strip().rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InputError(f"cue address {text!r} is not HOST:PORT (e.g. 127.0.0.1:47100)")
    return host, int(port)


class UdpCueSender:
    """A cue listener that sends each cue as one UDP datagram (``Cue.to_json``, UTF-8) to
    ``HOST:PORT``: for external displays, wearables and the simulated runner. Never blocks;
    datagrams the network refuses are counted in :attr:`failed`.

    Raises
    ------
    AcquisitionError
        If the address cannot be resolved.
    """

    def __init__(self, address: str) -> None:
        host, port = parse_udp_address(address)
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except OSError as exc:
            raise AcquisitionError(f"cue address {address!r}: {exc.strerror or exc}") from None
        self.address = info[4]
        self._sock = socket.socket(info[0], socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self.sent = 0
        self.failed = 0

    def __call__(self, cue: Cue) -> None:
        try:
            self._sock.sendto(cue.to_json().encode(), self.address)
            self.sent += 1
        except OSError:  # nobody listening (ICMP refused) or the buffer is full
            self.failed += 1

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()
