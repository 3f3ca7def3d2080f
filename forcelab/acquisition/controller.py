"""The session controller: devices -> acquisition threads -> writer + live analyser -> snapshots.

One :class:`SessionController` drives a recording session for both ``forcelab record`` and the
operator console. It is thread-safe: every public method may be called from any thread.
Operations are serialised, and one that the current state does not allow fails at once with
StateError instead of waiting for a running tare or weighing. A GUI calls
:meth:`~SessionController.snapshot`, :meth:`~SessionController.poll_events` and
:meth:`~SessionController.peek` from its timer; these never block on acquisition or disk I/O.

States and transitions (anything else raises :class:`~forcelab.acquisition.errors.StateError`)::

    idle ──connect──> connected ──start_recording──> recording ──stop_recording──> stopped
                        │  ▲                            │  trials, markers           │
                  tare/weigh│                            │                            │
                        ▼  │                            ▼                            │
                    taring / weighing               error ──stop_recording──> stopped│
    stopped ──start_recording──> recording (a new file);  stopped ──tare/weigh──> stopped
    any state ──disconnect──> idle

Threads:

* one acquisition thread per device: ``Device.read`` -> ring buffer (for plots and weighing) and,
  while recording, two bounded queues: the writer's and the analyser's. A full queue refuses the
  block and counts it (``overflow_*`` in :class:`DeviceStatus`); the acquisition thread never waits.
  Blocks refused by the writer become an explicit gap (``gap_before``) in the file.
* one writer thread owning the :class:`forcelab.store.SessionWriter`: appends blocks, trials,
  markers and events in arrival order and flushes at least every ``flush_interval_s``.
* one analyser thread: :class:`~forcelab.acquisition.live.LiveAnalyzer` (streaming stance detection
  per stream, running per-side mid-stance peak, SI, cadence, contact time).

A failure in any thread (unplug, device error, full disk) is never swallowed: the controller goes
to the ``error`` state with the message in :attr:`Snapshot.error` and an event with severity
``"error"`` in :meth:`poll_events`; the event is also written into the session file, and everything
recorded before it stays in the file. After an unplug the acquisition thread keeps trying to read,
so a driver that reconnects (replug) resumes recording with an explicit gap.

Time base: every device maps its clock to the host ``time.time()`` epoch (``Block.t_host_s``); the
session time of a sample is ``t_host_s - session_start_s``, so devices on independent clocks land
on one time base.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import enum
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forcelab.acquisition.buffers import RingBuffer, WorkQueue
from forcelab.acquisition.errors import AcquisitionError, StateError, TareRefusedError
from forcelab.acquisition.live import LiveAnalyzer
from forcelab.acquisition.weighing import BodyWeight, measure_body_weight, total_force_on_grid
from forcelab.recording import check_body_mass

PLATE_PROTOCOLS = ("FPB1", "CSV4")
#: The live analyser and the writer take their queued blocks at most this often (s).
ANALYSIS_BATCH_S = 0.1
WRITER_BATCH_S = 0.05
#: Acquisition threads read their device continuously (no pause between reads): drivers time
#: clock-sync replies by when they are read, so a pause would bias the time base.
_KIND_BY_PROTOCOL = {"FPB1": "plate", "INS1": "insole", "CSV4": "diyplate"}
#: Seconds before taring that count as "while zeroing" for the loaded-plate warning, and that
#: must show an unloaded, still sensor for a tare to be accepted.
TARE_LOOKBACK_S = 1.0
#: A mean vertical force above this (N, 10 kg) before taring means someone stands on the sensor.
TARE_LOADED_N = 98.0
#: Which device's stances make a side's live figures when several see one foot (lower wins).
SOURCE_PRIORITY = {"FPB1": 0, "CSV4": 1, "INS1": 2}


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


def stream_names_for(infos: Iterable[Any]) -> list[str]:
    """Readable unique stream names for device infos: ``plate_left``, ``insole_right``, ``plate``.

    The kind comes from the protocol (FPB1 -> plate, INS1 -> insole, CSV4 -> diyplate), the suffix
    from the side; duplicates get ``_2``, ``_3``, ...
    """
    names: list[str] = []
    for info in infos:
        kind = _KIND_BY_PROTOCOL.get(str(info.protocol).upper(), str(info.protocol).lower())
        base = f"{kind}_{info.side}" if info.side else kind
        name, k = base, 2
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.append(name)
    return names


class _DeviceWorker(threading.Thread):
    """Acquisition thread of one device (see the module docstring)."""

    def __init__(self, controller: SessionController, name: str, device: Any, ring_s: float):
        super().__init__(name=f"forcelab-acq-{name}", daemon=True)
        self.controller = controller
        self.stream = name
        self.device = device
        info = device.info
        self.rate_hz = float(info.rate_hz)
        self.channels = list(info.channel_names)
        self.ring = RingBuffer(len(self.channels), max(16, int(ring_s * self.rate_hz)))
        self.stop_event = threading.Event()
        self.sink_lock = threading.Lock()
        self.writer_q: WorkQueue | None = None
        self.analysis_q: WorkQueue | None = None
        self.commands: collections.deque[tuple[Callable[[], Any], concurrent.futures.Future]] = (
            collections.deque()
        )
        self.state = "streaming"
        self.error: str | None = None
        self.samples = 0
        self.samples_recorded = 0
        self.dropped_samples = 0
        self.overflow_writer_samples = 0
        self.overflow_analysis_samples = 0
        self._writer_gap = 0
        self._rate_window = (time.monotonic(), 0)
        self.measured_rate_hz: float | None = None

    def request(self, fn: Callable[[], Any]) -> concurrent.futures.Future:
        """Run ``fn`` in this thread between two reads (device commands such as zero)."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self.commands.append((fn, fut))
        return fut

    def run(self) -> None:
        from forcelab.drivers.errors import ConnectionLost

        lost = False
        while not self.stop_event.is_set():
            self._run_commands()
            try:
                blocks = self.device.read(0.05)
                events = self.device.pop_events()
            except ConnectionLost as exc:
                if not lost:
                    lost = True
                    self.state = "lost"
                    self.measured_rate_hz = 0.0
                    self.error = str(exc) or "connection lost"
                    self.controller._report_failure(self.stream, "connection_lost", exc)
                self.stop_event.wait(0.2)
                continue
            except Exception as exc:  # every other failure ends this device's acquisition
                self.state = "error"
                self.error = str(exc) or type(exc).__name__
                self.controller._report_failure(self.stream, "device_error", exc)
                self._fail_commands(exc)
                return
            if lost and blocks:
                lost = False
                self.state = "streaming"
                self.error = None
                self.controller._device_recovered(self.stream)
            for block in blocks:
                self._process(block)
            for ev in events:
                self.controller._device_event(self.stream, ev)
        self._fail_commands(AcquisitionError(f"{self.stream}: acquisition stopped"))

    def _run_commands(self) -> None:
        while self.commands:
            fn, fut = self.commands.popleft()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except Exception as exc:  # handed to the waiting caller, which raises it
                fut.set_exception(exc)

    def _fail_commands(self, exc: BaseException) -> None:
        while self.commands:
            _, fut = self.commands.popleft()
            if fut.set_running_or_notify_cancel():
                fut.set_exception(exc)

    def _process(self, block: Any) -> None:
        n = block.n
        samples = block.samples
        self.ring.write(block.t_host_s + np.arange(n) / self.rate_hz, samples)
        self.samples += n
        self.dropped_samples += int(block.gap_before)
        now = time.monotonic()
        t_win, n_win = self._rate_window
        n_win += n
        if now - t_win >= 1.0:
            self.measured_rate_hz = n_win / (now - t_win)
            self._rate_window = (now, 0)
        else:
            self._rate_window = (t_win, n_win)
        with self.sink_lock:
            wq, aq = self.writer_q, self.analysis_q
            if wq is not None:
                out = block
                if self._writer_gap:
                    out = dataclasses.replace(block, gap_before=block.gap_before + self._writer_gap)
                if wq.put(self.stream, out, n):
                    self._writer_gap = 0
                    self.samples_recorded += n
                else:
                    self._writer_gap += n
                    self.overflow_writer_samples += n
                    self.controller._overflow(self.stream, "writer", n)
            if aq is not None and not aq.put(self.stream, block, n):
                self.overflow_analysis_samples += n

    def attach(self, writer_q: WorkQueue | None, analysis_q: WorkQueue | None) -> None:
        with self.sink_lock:
            self.writer_q, self.analysis_q = writer_q, analysis_q
            self._writer_gap = 0

    def status(self) -> DeviceStatus:
        info = self.device.info
        stats = getattr(self.device, "stats", None)
        return DeviceStatus(
            name=self.stream,
            protocol=info.protocol,
            model=info.model,
            serial=info.serial,
            side=info.side,
            state=self.state,
            rate_hz=self.rate_hz,
            measured_rate_hz=self.measured_rate_hz,
            samples=self.samples,
            samples_recorded=self.samples_recorded,
            dropped_samples=self.dropped_samples,
            overflow_writer_samples=self.overflow_writer_samples,
            overflow_analysis_samples=self.overflow_analysis_samples,
            link=stats.to_dict() if stats is not None else {},
            error=self.error,
        )


class _WriterThread(threading.Thread):
    """Owns the SessionWriter: appends, trials, markers, events; flushes at least every period."""

    def __init__(
        self, controller: SessionController, writer: Any, queue: WorkQueue, flush_s: float
    ):
        super().__init__(name="forcelab-writer", daemon=True)
        self.controller = controller
        self.writer = writer
        self.queue = queue
        self.flush_s = flush_s
        self.stop_event = threading.Event()
        self.link_sources: dict[str, Any] = {}
        self.failed = False
        self.closed = False

    def run(self) -> None:
        last_flush = time.monotonic()
        maybe_flush = getattr(self.writer, "maybe_flush", None)
        try:
            while True:
                stopping = self.stop_event.is_set()
                for kind, key, item in self.queue.get_all(min(0.2, self.flush_s)):
                    if kind == "data":
                        self.writer.append(key, item)
                    elif item[0] == "sync":  # everything queued before is written: flush
                        self.writer.flush()
                        item[1][0].set()
                    else:
                        method, args, kwargs = item
                        getattr(self.writer, method)(*args, **kwargs)
                now = time.monotonic()
                if now - last_flush >= self.flush_s:
                    self._update_link_stats()
                    if maybe_flush is not None:
                        maybe_flush()  # the store flushes when its own interval is due
                    else:
                        self.writer.flush()
                    last_flush = now
                if stopping and len(self.queue) == 0:
                    break
                self.stop_event.wait(WRITER_BATCH_S)
            self._update_link_stats()
            self.writer.close()
            self.closed = True
        except Exception as exc:  # full disk, I/O error: reported, then the file is closed
            self.failed = True
            self.controller._report_failure(None, "writer_error", exc)
            try:
                self.writer.close()
                self.closed = True
            except Exception as exc2:  # the file keeps what the last flush wrote
                self.controller._post_event(
                    "writer_error",
                    "error",
                    f"closing the session file failed too: {exc2}",
                )

    def _update_link_stats(self) -> None:
        update = getattr(self.writer, "update_link_stats", None)
        if update is None:
            return
        for name, device in self.link_sources.items():
            stats = getattr(device, "stats", None)
            if stats is not None:
                update(name, stats)


def _coalesce(items: list[tuple[str, Any, Any]]) -> list[tuple[str, Any, Any]]:
    """Merge runs of contiguous data blocks of one stream (same status, no gap) into one block,
    keeping the order relative to control items."""
    out: list[tuple[str, Any, Any]] = []
    last: dict[Any, int] = {}  # stream -> index in out of its newest data item
    pending: dict[int, list[Any]] = {}
    for kind, key, item in items:
        if kind != "data":
            out.append((kind, key, item))
            last.clear()  # never merge across a control item
            continue
        i = last.get(key)
        if i is not None:
            prev = pending[i][-1]
            if (
                item.gap_before == 0
                and item.status == prev.status
                and int(item.seq) == int(prev.seq) + prev.n
            ):
                pending[i].append(item)
                continue
        out.append((kind, key, item))
        last[key] = len(out) - 1
        pending[len(out) - 1] = [item]
    for i, blocks in pending.items():
        if len(blocks) > 1:
            first = blocks[0]
            merged = dataclasses.replace(first, samples=np.concatenate([b.samples for b in blocks]))
            out[i] = (out[i][0], out[i][1], merged)
    return out


class _AnalysisThread(threading.Thread):
    """Feeds the LiveAnalyzer from its bounded queue."""

    def __init__(
        self,
        controller: SessionController,
        live: LiveAnalyzer,
        queue: WorkQueue,
        session_start_s: float,
    ):
        super().__init__(name="forcelab-live-analysis", daemon=True)
        self.controller = controller
        self.live = live
        self.queue = queue
        self.session_start_s = session_start_s
        self.stop_event = threading.Event()
        self.writer_queue: WorkQueue | None = None

    def run(self) -> None:
        try:
            while True:
                stopping = self.stop_event.is_set()
                for kind, key, item in _coalesce(self.queue.get_all(0.2)):
                    if kind == "data":
                        t_first_s = float(item.t_host_s) - self.session_start_s
                        self._store(self.live.feed(key, item, t_first_s))
                if stopping and len(self.queue) == 0:
                    break
                # live figures need no lower latency; batching saves most of the per-call cost
                self.stop_event.wait(ANALYSIS_BATCH_S)
            self._store(self.live.flush())
        except Exception as exc:  # reported as error state; recording itself goes on
            self.controller._report_failure(None, "analysis_error", exc)

    def _store(self, stances: list[dict[str, Any]]) -> None:
        """Live stances go into the session file as ``stance`` events (t_s = contact start,
        arg = mid-stance peak in N, message = JSON with side, end, contact time, validity)."""
        if self.writer_queue is None:
            return
        for st in stances:
            peak = st.get("midstance_peak_n")
            message = json.dumps(
                {
                    "side": st.get("side"),
                    "end_s": round(float(st["end_s"]), 4),
                    "contact_time_s": _rounded(st.get("contact_time_s"), 4),
                    "midstance_peak_n": _rounded(peak, 1),
                    "valid": bool(st.get("valid", True)),
                    "reason": st.get("reason") or "",
                },
                separators=(",", ":"),
            )
            self.writer_queue.put_control(
                (
                    "add_event",
                    (st["stream"], "stance", float(st["start_s"])),
                    {"arg": int(round(peak)) if peak is not None else 0, "message": message},
                )
            )


def _rounded(value: Any, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


class SessionController:
    """Connects devices, tares, weighs, records sessions with trials and markers (thread-safe).

    Parameters
    ----------
    ring_seconds : float
        Seconds of every stream kept for :meth:`peek` and weighing.
    writer_buffer_s : float
        Seconds of data per stream that may wait for the writer before blocks are refused
        (and counted as overflow, written as a gap).
    analysis_buffer_s : float
        Same for the live analyser.
    flush_interval_s : float
        The writer flushes the session file at least this often, s (≤ 1).
    analysis_options : dict or None
        Options for the streaming stance detector.
    open_devices : callable or None
        ``open_devices(url, **kw) -> list[Device]``; default :func:`forcelab.drivers.open_devices`.
    session_writer_factory : callable or None
        ``factory(path, athlete=..., operator=..., notes=...) -> SessionWriter``; default
        :meth:`forcelab.store.SessionWriter.create`.

    Examples
    --------
    >>> ctl = SessionController()                                   # doctest: +SKIP
    >>> ctl.connect(["sim:treadmill?asymmetry=-0.08"])              # doctest: +SKIP
    >>> ctl.start_recording("s.h5", athlete={"name": "Ann", "body_mass_kg": 60})  # doctest: +SKIP
    >>> ctl.start_trial("run 3 m/s", tags=["baseline"])             # doctest: +SKIP
    >>> ctl.snapshot().live["si_pct"]                               # doctest: +SKIP
    >>> ctl.stop_recording(); ctl.disconnect()                      # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        ring_seconds: float = 30.0,
        writer_buffer_s: float = 30.0,
        analysis_buffer_s: float = 30.0,
        flush_interval_s: float = 0.5,
        analysis_options: dict[str, Any] | None = None,
        open_devices: Callable[..., list[Any]] | None = None,
        session_writer_factory: Callable[..., Any] | None = None,
    ) -> None:
        if not 0 < flush_interval_s <= 1.0:
            raise AcquisitionError(
                f"flush_interval_s must be in (0, 1] s, got {flush_interval_s!r}"
            )
        for name, value in (
            ("ring_seconds", ring_seconds),
            ("writer_buffer_s", writer_buffer_s),
            ("analysis_buffer_s", analysis_buffer_s),
        ):
            if not value > 0:
                raise AcquisitionError(f"{name} must be a positive number of s, got {value!r}")
        self.ring_seconds = float(ring_seconds)
        self.writer_buffer_s = float(writer_buffer_s)
        self.analysis_buffer_s = float(analysis_buffer_s)
        self.flush_interval_s = float(flush_interval_s)
        self.analysis_options = dict(analysis_options or {})
        self._open_devices = open_devices
        self._writer_factory = session_writer_factory

        self._op_lock = threading.RLock()  # serialises operations (connect, tare, record, ...)
        self._lock = threading.Lock()  # guards the fields a snapshot reads
        self._state = State.IDLE
        self._error: str | None = None
        self._workers: list[_DeviceWorker] = []
        self._events: collections.deque[ControllerEvent] = collections.deque(maxlen=10000)
        self._events_dropped = 0
        self._connect_time_s = 0.0
        self._session_start_s: float | None = None
        self._record_start_mono: float | None = None
        self._record_stop_mono: float | None = None
        self._path: str | None = None
        self._writer_thread: _WriterThread | None = None
        self._analysis_thread: _AnalysisThread | None = None
        self._writer_q: WorkQueue | None = None
        self._analysis_q: WorkQueue | None = None
        self._live: LiveAnalyzer | None = None
        self._trial: str | None = None
        self._n_trials = 0
        self._trial_names: set[str] = set()
        self._n_markers = 0
        self._body_mass_kg: float | None = None
        self._body_mass_method: str | None = None
        self._body_weight: BodyWeight | None = None
        self._overflow_reported: set[tuple[str, str]] = set()
        self._failures: dict[str, str] = {}
        self._resume_state: State | None = None

    # -- read-only views (any thread) --------------------------------------------------------

    @property
    def state(self) -> State:
        """The current state."""
        return self._state

    @property
    def stream_names(self) -> list[str]:
        """Names of the connected streams, in device order."""
        return [w.stream for w in self._workers]

    @property
    def session_start_s(self) -> float | None:
        """Host time (``time.time()`` epoch, s) of the start of the current/last recording."""
        return self._session_start_s

    @property
    def path(self) -> str | None:
        """Path of the current/last session file."""
        return self._path

    @property
    def body_weight(self) -> BodyWeight | None:
        """The last body-weight measurement, if any."""
        return self._body_weight

    def device_info(self, stream: str) -> Any:
        """The DeviceInfo of a connected stream."""
        return self._worker(stream).device.info

    def channel_names(self, stream: str) -> list[str]:
        """Column names of :meth:`peek` samples for ``stream``."""
        return list(self._worker(stream).channels)

    def snapshot(self) -> Snapshot:
        """A consistent copy of the status for UIs; never blocks on acquisition or disk."""
        with self._lock:
            state, error, path = self._state, self._error, self._path
            trial, n_trials, n_markers = self._trial, self._n_trials, self._n_markers
            mass, method = self._body_mass_kg, self._body_mass_method
            start, stop = self._record_start_mono, self._record_stop_mono
            live = self._live
        elapsed = 0.0
        if start is not None:
            elapsed = (stop if stop is not None else time.monotonic()) - start
        size = None
        if path is not None:
            try:
                size = os.path.getsize(path)
            except OSError:
                size = None
        return Snapshot(
            state=state,
            error=error,
            path=path,
            elapsed_s=elapsed,
            file_size_bytes=size,
            trial=trial,
            n_trials=n_trials,
            n_markers=n_markers,
            stance_count=live.n_stances if live is not None else 0,
            body_mass_kg=mass,
            body_mass_method=method,
            devices=tuple(w.status() for w in list(self._workers)),
            live=live.figures() if live is not None else {},
        )

    def live_stances(self, last_n: int | None = None) -> list[dict[str, Any]]:
        """Completed stances of the current trial from the live analyser (copies, oldest first).

        Each dict has the keys of ``AnalysisResult.stances`` (``stream``, ``side``, ``start_s`` and
        ``end_s`` on the session time base, ``midstance_peak_n``, ``contact_time_s``, ``valid``,
        ...; ``*_bw`` with a body mass). Empty when not recording.
        """
        live = self._live
        if live is None:
            return []
        stances = live.stances()
        return stances[-last_n:] if last_n else stances

    def poll_events(self, max_events: int | None = None) -> list[ControllerEvent]:
        """Return and forget the events queued since the last call (oldest first); never blocks."""
        out = []
        with self._lock:
            while self._events and (max_events is None or len(out) < max_events):
                out.append(self._events.popleft())
        return out

    def peek(self, stream: str, seconds: float) -> tuple[np.ndarray, np.ndarray]:
        """The last ``seconds`` of a stream for plotting: (t_s, samples).

        ``t_s`` is on the session time base while recording or stopped (s since the start of
        recording), else s since connecting; ``samples`` has the columns of
        :meth:`channel_names`. Copies; the acquisition thread is never held up.
        """
        w = self._worker(stream)
        t, d = w.ring.latest(int(max(0.0, float(seconds)) * w.rate_hz))
        origin = (
            self._session_start_s if self._session_start_s is not None else self._connect_time_s
        )
        return t - origin, d

    def peek_channel(
        self, stream: str, channel: str, seconds: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`peek` for one channel (e.g. ``"fz"``): (t_s, values)."""
        w = self._worker(stream)
        if channel not in w.channels:
            raise AcquisitionError(
                f"stream {stream!r} has no channel {channel!r}; it has {w.channels}"
            )
        t, d = self.peek(stream, seconds)
        return t, d[:, w.channels.index(channel)]

    # -- operations ----------------------------------------------------------------------------

    def connect(self, devices: str | Iterable[str], **open_kw: Any) -> list[str]:
        """Open devices by device string (``sim:treadmill``, ``fpb1:///dev/ttyACM0``, ...) and start
        streaming. Returns the stream names. State idle -> connected.

        Raises
        ------
        StateError
            If not idle.
        forcelab.drivers.DeviceError
            If a device cannot be opened (those already opened are closed again).
        """
        urls = [devices] if isinstance(devices, str) else list(devices)
        if not urls:
            raise AcquisitionError("no device given; name at least one, e.g. sim:treadmill")
        self._require("connect", State.IDLE)
        with self._op_lock:
            self._require("connect", State.IDLE)
            opener = self._open_devices
            if opener is None:
                from forcelab.drivers import open_devices as opener
            opened: list[Any] = []
            try:
                for url in urls:
                    opened += list(opener(url, **open_kw))
            except BaseException:
                for dev in opened:
                    dev.close()
                raise
            return self._connect_opened(opened)

    def connect_devices(self, devices: Iterable[Any]) -> list[str]:
        """Take over already opened Device objects (closed by :meth:`disconnect`); see connect."""
        self._require("connect", State.IDLE)
        with self._op_lock:
            self._require("connect", State.IDLE)
            return self._connect_opened(list(devices))

    def _connect_opened(self, devices: list[Any]) -> list[str]:
        if not devices:
            raise AcquisitionError("the device string opened no device")
        names = stream_names_for(d.info for d in devices)
        try:
            for dev in devices:
                dev.start()
        except BaseException:
            for dev in devices:
                dev.close()
            raise
        self._connect_time_s = time.time()
        self._workers = [
            _DeviceWorker(self, name, dev, self.ring_seconds)
            for name, dev in zip(names, devices, strict=True)
        ]
        self._session_start_s = None
        for w in self._workers:
            w.start()
        self._set_state(State.CONNECTED, f"connected {', '.join(names)}")
        return names

    def disconnect(self) -> None:
        """Stop recording if needed, stop and close every device. Any state -> idle."""
        with self._op_lock:
            if self._writer_thread is not None:
                if self._trial is not None:
                    self.stop_trial()
                self._stop_recording_threads()
            workers, self._workers = self._workers, []
            for w in workers:
                w.stop_event.set()
            for w in workers:
                w.join(timeout=5.0)
            problems = []
            for w in workers:
                for action in (w.device.stop, w.device.close):
                    try:
                        action()
                    except Exception as exc:  # an unplugged device cannot be stopped; go on
                        problems.append(f"{w.stream}: {exc}")
            with self._lock:
                self._error = None
                self._failures.clear()
                self._resume_state = None
                self._live = None
                self._trial = None
            self._set_state(
                State.IDLE, "disconnected" + (f" ({'; '.join(problems)})" if problems else "")
            )

    def close(self) -> None:
        """Same as :meth:`disconnect` (safe to call in any state, twice)."""
        self.disconnect()

    def __enter__(self) -> SessionController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tare(self, timeout_s: float = 15.0, loaded_range_n: float = 100.0) -> dict[str, float]:
        """Zero every device (nothing may stand on them). connected/stopped -> taring -> back.

        Parameters
        ----------
        timeout_s : float
            Longest wait for all devices to finish zeroing, s.
        loaded_range_n : float
            A stream whose vertical force varied by more than this while it was zeroed or in the
            ``TARE_LOOKBACK_S`` before (N) had someone moving on it: a warning event says so
            (the zero is probably wrong).

        Returns
        -------
        dict
            Per stream, the range (max − min) of vertical force over that window, N (NaN when
            the device sent no samples meanwhile).

        Raises
        ------
        TareRefusedError
            Before zeroing anything, when a stream's force varied by more than
            ``loaded_range_n`` or averaged more than ``TARE_LOADED_N`` over the last
            ``TARE_LOOKBACK_S`` (someone moves or stands on it).
        AcquisitionError
            If a device fails to zero or does not answer within ``timeout_s``.
        """
        self._require("tare", State.CONNECTED, State.STOPPED)
        with self._op_lock:
            previous = self._require("tare", State.CONNECTED, State.STOPPED)
            self._refuse_loaded_tare(loaded_range_n)
            self._set_state(State.TARING, "taring")
            t_start = time.time()
            try:
                futures = [(w.stream, w.request(w.device.zero)) for w in self._workers]
                deadline = time.monotonic() + timeout_s
                for name, fut in futures:
                    try:
                        fut.result(timeout=max(0.0, deadline - time.monotonic()))
                    except concurrent.futures.TimeoutError:
                        raise AcquisitionError(
                            f"{name} did not finish zeroing within {timeout_s:.0f} s; check the "
                            "device and try again"
                        ) from None
                    except Exception as exc:
                        raise AcquisitionError(f"zeroing {name} failed: {exc}") from exc
            finally:
                self._restore_state(State.TARING, previous)
            ranges: dict[str, float] = {}
            for w in self._workers:
                if "fz" not in w.channels:
                    continue
                _, d = w.ring.since(t_start - TARE_LOOKBACK_S)
                fz = d[:, w.channels.index("fz")]
                fz = fz[np.isfinite(fz)]
                ranges[w.stream] = float(fz.max() - fz.min()) if fz.size else float("nan")
            loaded = {k: v for k, v in ranges.items() if v > loaded_range_n}
            self._post_event("tared", "info", "all devices zeroed", data={"range_n": ranges})
            for name, value in loaded.items():
                self._post_event(
                    "tare_loaded",
                    "warning",
                    f"{name}: the force varied by {value:.0f} N while zeroing, so someone was on "
                    "it; the zero is probably wrong: step off and tare again",
                    name,
                    data={"range_n": value},
                )
            return ranges

    def _refuse_loaded_tare(self, moving_range_n: float) -> None:
        """Raise before zeroing when a stream's vertical force over the last
        ``TARE_LOOKBACK_S`` varies by more than ``moving_range_n`` (someone moves on it) or
        averages more than ``TARE_LOADED_N`` (someone stands on it): a zero taken then is wrong.
        """
        problems = []
        for w in self._workers:
            if "fz" not in w.channels:
                continue
            _, d = w.ring.since(time.time() - TARE_LOOKBACK_S)
            fz = d[:, w.channels.index("fz")]
            fz = fz[np.isfinite(fz)]
            if not fz.size:
                continue
            if fz.max() - fz.min() > moving_range_n:
                problems.append(
                    f"{w.stream} force varies by {fz.max() - fz.min():.0f} N (someone moves on it)"
                )
            elif abs(fz.mean()) > TARE_LOADED_N:
                problems.append(f"{w.stream} carries {fz.mean():.0f} N (someone stands on it)")
        if problems:
            raise TareRefusedError(
                "tare refused, the sensors are loaded: " + "; ".join(problems)
                + ". Ask the athlete to step off, wait until the force is flat, then tare again"
            )

    def weigh(
        self,
        duration_s: float = 3.0,
        streams: Iterable[str] | None = None,
        **stillness: Any,
    ) -> BodyWeight:
        """Measure body weight from quiet standing over the next ``duration_s`` s.

        Parameters
        ----------
        duration_s : float
            Length of the window, s (0.5–60).
        streams : iterable of str or None
            Streams whose ``fz`` is summed; default: the plates if any, else all streams (insoles).
        **stillness
            ``max_sd_n``, ``max_range_n``, ``min_weight_n`` of
            :func:`~forcelab.acquisition.weighing.measure_body_weight`.

        Returns
        -------
        BodyWeight
            Also kept as the athlete's body mass for the live figures and the next session file.

        Raises
        ------
        NotStillError
            If the athlete moved or is not on the sensors; nothing is changed then.
        """
        try:
            duration_s = float(duration_s)
        except (TypeError, ValueError):
            raise AcquisitionError(
                f"weighing duration must be a number of s, got {duration_s!r}"
            ) from None
        if not 0.5 <= duration_s <= 60.0:
            raise AcquisitionError(f"weighing duration must be 0.5 to 60 s, got {duration_s!r}")
        self._require("weigh", State.CONNECTED, State.STOPPED)
        with self._op_lock:
            previous = self._require("weigh", State.CONNECTED, State.STOPPED)
            workers = self._weigh_workers(streams)
            self._set_state(State.WEIGHING, "weighing")
            try:
                t_from = time.time()
                time.sleep(duration_s)
                t_to = t_from + duration_s
                # wait (briefly) for samples up to t_to to arrive through the drivers
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline:
                    if all(_last_time(w) >= t_to - 1.0 / w.rate_hz for w in workers):
                        break
                    time.sleep(0.02)
                series = []
                for w in workers:
                    t, d = w.ring.since(t_from - 2.0 / w.rate_hz)
                    series.append((t, d[:, w.channels.index("fz")]))
                rate = max(w.rate_hz for w in workers)
                total = total_force_on_grid(series, t_from, t_to, rate)
                bw = measure_body_weight(
                    total, rate, source=", ".join(w.stream for w in workers), **stillness
                )
            finally:
                self._restore_state(State.WEIGHING, previous)
            with self._lock:
                self._body_weight = bw
                self._body_mass_kg = bw.body_mass_kg
                self._body_mass_method = bw.method
            self._post_event(
                "weighed",
                "info",
                f"body mass {bw.body_mass_kg:.1f} kg ({bw.method})",
                data=bw.to_dict(),
            )
            return bw

    def _weigh_workers(self, streams: Iterable[str] | None) -> list[_DeviceWorker]:
        if streams is not None:
            workers = [self._worker(s) for s in streams]
        else:
            workers = [w for w in self._workers if w.device.info.protocol in PLATE_PROTOCOLS]
            workers = workers or list(self._workers)
        for w in workers:
            if "fz" not in w.channels:
                raise AcquisitionError(f"stream {w.stream!r} has no vertical force to weigh on")
        if not workers:
            raise AcquisitionError("no stream to weigh on")
        return workers

    def set_body_mass(self, body_mass_kg: float | None, method: str = "entered") -> None:
        """Set the athlete's body mass (kg) by hand, or forget it with None."""
        mass = check_body_mass(body_mass_kg)
        with self._lock:
            self._body_mass_kg = mass
            self._body_mass_method = method if mass is not None else None
            if self._body_weight is not None and mass != self._body_weight.body_mass_kg:
                self._body_weight = None

    def start_recording(
        self,
        path: str | os.PathLike,
        athlete: dict[str, Any] | None = None,
        operator: str = "",
        notes: str = "",
    ) -> str:
        """Create the session file (never overwriting) and start writing every stream into it.

        Parameters
        ----------
        path : path-like
            New session file (.h5); must not exist.
        athlete : dict or None
            ``name``, ``id``, ``body_mass_kg``, ``body_mass_method``... A body mass given here
            wins over a measured one; without one the weighed or set body mass is used.
        operator, notes : str
            Stored in the file.

        Returns
        -------
        str
            The path written.

        Raises
        ------
        StateError
            Unless connected or stopped.
        forcelab.errors.SessionFileError
            If the file exists or cannot be created.
        """
        self._require("start recording", State.CONNECTED, State.STOPPED)
        with self._op_lock:
            self._require("start recording", State.CONNECTED, State.STOPPED)
            path = os.fspath(path)
            if os.path.exists(path):
                from forcelab.errors import SessionFileError

                raise SessionFileError(
                    f"{path} already exists; forcelab never overwrites a session, choose a new name"
                )
            athlete = dict(athlete or {})
            if athlete.get("body_mass_kg") is not None:
                mass = check_body_mass(athlete["body_mass_kg"])
                athlete["body_mass_kg"] = mass
                athlete.setdefault("body_mass_method", "entered")
                with self._lock:
                    self._body_mass_kg = mass
                    self._body_mass_method = athlete["body_mass_method"]
            elif self._body_mass_kg is not None:
                athlete["body_mass_kg"] = self._body_mass_kg
                athlete["body_mass_method"] = self._body_mass_method or "entered"
            factory = self._writer_factory
            if factory is None:
                from forcelab.store import SessionWriter

                factory = SessionWriter.create
            writer = factory(path, athlete=athlete, operator=operator, notes=notes)
            try:
                for w in self._workers:
                    writer.add_stream(w.stream, w.device.info)
                start_swmr = getattr(writer, "start_swmr", None)
                if start_swmr is not None:
                    # readable by other processes (and after a kill -9) from now on, not only
                    # from the first block
                    start_swmr()
            except BaseException:
                writer.close()
                raise
            session_start = _writer_session_start(writer)
            live = LiveAnalyzer(self._body_mass_kg, self.analysis_options)
            for w in self._workers:
                info = w.device.info
                if "fz" in w.channels:
                    cop = w.channels.index("cop_x") if "cop_x" in w.channels else None
                    live.add_stream(
                        w.stream,
                        info.rate_hz,
                        info.side,
                        w.channels.index("fz"),
                        cop,
                        priority=SOURCE_PRIORITY.get(str(info.protocol).upper(), 3),
                        sensor="insole" if str(info.protocol).upper() == "INS1" else "plate",
                    )
            max_rate = max(w.rate_hz for w in self._workers)
            self._writer_q = WorkQueue(int(self.writer_buffer_s * max_rate))
            self._analysis_q = WorkQueue(int(self.analysis_buffer_s * max_rate))
            with self._lock:
                self._session_start_s = session_start
                self._path = path
                self._live = live
                self._trial = None
                self._trial_names = set()
                self._n_trials = 0
                self._n_markers = 0
                for key in ("writer_error", "analysis_error"):
                    self._failures.pop(key, None)
                self._error = next(iter(self._failures.values()), None)
                self._record_start_mono = time.monotonic()
                self._record_stop_mono = None
                self._overflow_reported.clear()
            self._writer_thread = _WriterThread(self, writer, self._writer_q, self.flush_interval_s)
            self._writer_thread.link_sources = {w.stream: w.device for w in self._workers}
            self._analysis_thread = _AnalysisThread(self, live, self._analysis_q, session_start)
            self._analysis_thread.writer_queue = self._writer_q
            self._writer_thread.start()
            self._analysis_thread.start()
            for w in self._workers:  # a lost device that comes back is recorded too
                w.attach(self._writer_q, self._analysis_q)
            self._set_state(State.RECORDING, f"recording to {path}")
            self._post_event("recording_started", "info", f"recording to {path}")
            return path

    def start_trial(
        self,
        name: str,
        tags: Iterable[str] = (),
        speed_m_s: float | None = None,
        shoe: str = "",
        notes: str = "",
    ) -> None:
        """Start a named trial now (an open trial is stopped first). Recording only.

        The live figures restart for the new trial.
        """
        name = str(name).strip()
        if not name:
            raise AcquisitionError("a trial needs a name")
        tags = tuple(str(t) for t in tags)
        if speed_m_s is not None and not (np.isfinite(speed_m_s) and 0 <= speed_m_s <= 15):
            raise AcquisitionError(f"treadmill speed must be 0 to 15 m/s, got {speed_m_s!r}")
        self._require("start a trial", State.RECORDING)
        with self._op_lock:
            self._require("start a trial", State.RECORDING)
            if name in self._trial_names:
                raise AcquisitionError(
                    f"trial {name!r} already exists in this session; use another name"
                )
            if self._trial is not None:
                self.stop_trial()
            t_s = self._now_session_s()
            self._control(
                "start_trial", name, tags=tags, speed_m_s=speed_m_s, shoe=shoe, notes=notes, t_s=t_s
            )
            if self._live is not None:
                self._live.reset_figures(since_s=t_s)
            self._trial_names.add(name)
            with self._lock:
                self._trial = name
                self._n_trials += 1
            self._post_event(
                "trial_started",
                "info",
                f"trial {name!r} started at {t_s:.1f} s",
                data={"name": name, "tags": list(tags), "t_s": t_s},
            )

    def stop_trial(self) -> None:
        """Stop the open trial (no-op without one). Recording only."""
        self._require("stop a trial", State.RECORDING, State.ERROR)
        with self._op_lock:
            self._require("stop a trial", State.RECORDING, State.ERROR)
            if self._trial is None:
                return
            t_s = self._now_session_s()
            if self._writer_thread is not None and not self._writer_thread.failed:
                self._control("stop_trial", t_s=t_s)
            name = self._trial
            with self._lock:
                self._trial = None
            self._post_event(
                "trial_stopped",
                "info",
                f"trial {name!r} stopped at {t_s:.1f} s",
                data={"name": name, "t_s": t_s},
            )

    def add_marker(self, label: str, t_s: float | None = None) -> float:
        """Put a marker now (or at session time ``t_s``, s, e.g. when a key was pressed before
        the marker was named); returns its session time in s. Recording only."""
        label = str(label).strip() or "marker"
        self._require("add a marker", State.RECORDING)
        with self._op_lock:
            self._require("add a marker", State.RECORDING)
            t_s = self._now_session_s() if t_s is None else float(t_s)
            self._control("add_marker", label, t_s=t_s)
            with self._lock:
                self._n_markers += 1
            self._post_event(
                "marker",
                "info",
                f"marker {label!r} at {t_s:.1f} s",
                data={"label": label, "t_s": t_s},
            )
            return t_s

    def sync_file(self, timeout_s: float = 10.0) -> None:
        """Wait until everything queued for the session file so far (samples, trials, markers)
        is written and flushed, so a reader sees it. Recording only.

        Raises
        ------
        AcquisitionError
            If the writer does not get there within ``timeout_s`` s (it failed or fell behind).
        """
        self._require("sync the session file", State.RECORDING, State.ERROR)
        done = threading.Event()
        self._control("sync", done)
        if not done.wait(timeout_s):
            raise AcquisitionError(
                f"the session file was not written within {timeout_s:.0f} s; see the error shown"
            )

    def stop_recording(self) -> dict[str, Any]:
        """Stop writing, drain the queues, close the file. recording/error -> stopped.

        Returns
        -------
        dict
            ``path``, ``duration_s``, per stream ``samples_recorded``/``overflow_writer_samples``/
            ``dropped_samples``, ``stance_count``, ``live`` figures, ``error`` (or None).
        """
        self._require("stop recording", State.RECORDING, State.ERROR)
        with self._op_lock:
            self._require("stop recording", State.RECORDING, State.ERROR)
            if self._writer_thread is None:
                raise StateError("nothing is being recorded; connect and start recording first")
            if self._trial is not None:
                self.stop_trial()
            self._stop_recording_threads()
            snap = self.snapshot()
            if self._state == State.RECORDING:
                self._set_state(State.STOPPED, "recording stopped")
            else:  # error: the file is closed; keep the error visible in the snapshot
                self._set_state(State.STOPPED, f"recording stopped after an error: {snap.error}")
                with self._lock:
                    self._error = snap.error
            self._post_event("recording_stopped", "info", f"session saved in {snap.path}")
            return {
                "path": snap.path,
                "duration_s": snap.elapsed_s,
                "file_size_bytes": snap.file_size_bytes,
                "streams": {
                    d.name: {
                        "samples_recorded": d.samples_recorded,
                        "dropped_samples": d.dropped_samples,
                        "overflow_writer_samples": d.overflow_writer_samples,
                        "overflow_analysis_samples": d.overflow_analysis_samples,
                        "link": d.link,
                    }
                    for d in snap.devices
                },
                "stance_count": snap.stance_count,
                "live": snap.live,
                "error": snap.error,
            }

    def _stop_recording_threads(self) -> None:
        for w in self._workers:
            w.attach(None, None)  # waits for a put in flight (sink lock)
        wt, at = self._writer_thread, self._analysis_thread
        if at is not None:
            at.stop_event.set()
            at.join()
        if wt is not None:
            wt.stop_event.set()
            wt.join()
        with self._lock:
            self._record_stop_mono = time.monotonic()
        self._writer_thread = self._analysis_thread = None
        self._writer_q = self._analysis_q = None

    # -- internals -----------------------------------------------------------------------------

    def _worker(self, stream: str) -> _DeviceWorker:
        for w in self._workers:
            if w.stream == stream:
                return w
        raise AcquisitionError(
            f"no connected stream named {stream!r}; streams are {self.stream_names}"
        )

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
            self._post_event("state", "info", message, data={"state": state.value})

    def _restore_state(self, expected: State, previous: State) -> None:
        """Back to ``previous`` unless a worker moved the controller to error meanwhile."""
        with self._lock:
            if self._state == expected:
                self._state = previous

    def _post_event(
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

    def _control(self, method: str, *args: Any, **kwargs: Any) -> None:
        q = self._writer_q
        if q is None:
            raise StateError("no session file is open")
        q.put_control((method, args, kwargs))

    def _report_failure(self, stream: str | None, kind: str, exc: BaseException) -> None:
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
        self._post_event(kind, "error", message, stream, data={"exception": type(exc).__name__})
        q = self._writer_q
        wt = self._writer_thread
        if q is not None and kind != "writer_error" and wt is not None and not wt.failed:
            q.put_control(
                ("add_event", (stream, kind, self._now_session_s()), {"message": message})
            )

    def _device_recovered(self, stream: str) -> None:
        """Called by an acquisition thread whose device streams again after a connection loss:
        back to the state before the error when nothing else is failing."""
        with self._lock:
            self._failures.pop(stream, None)
            resumed = None
            if not self._failures:
                self._error = None
                if self._state == State.ERROR and self._resume_state is not None:
                    resumed = self._resume_state
                    if resumed == State.RECORDING and self._writer_thread is None:
                        resumed = State.STOPPED
                    self._state = resumed
        self._post_event("reconnected", "warning", f"{stream}: device reconnected", stream)
        if resumed is not None:
            self._post_event(
                "state", "info", f"{resumed.value} again", data={"state": resumed.value}
            )
        q = self._writer_q
        if q is not None:
            q.put_control(("add_event", (stream, "reconnected", self._now_session_s()), {}))

    def _device_event(self, stream: str, ev: Any) -> None:
        severity = (
            "warning"
            if ev.kind in ("overflow", "overrange_start", "link_lost", "low_battery", "unplug")
            else "info"
        )
        msg = f"{stream}: {ev.kind}" + (f" ({ev.message})" if ev.message else "")
        self._post_event(
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
                (
                    "add_event",
                    (stream, ev.kind, float(ev.t_host_s) - start),
                    {"seq": int(ev.seq), "arg": int(ev.arg), "message": ev.message},
                )
            )

    def _overflow(self, stream: str, which: str, n: int) -> None:
        key = (stream, which)
        if key in self._overflow_reported:
            return
        self._overflow_reported.add(key)
        self._post_event(
            "overflow",
            "warning",
            f"{stream}: the {which} falls behind; {n} samples could not be queued "
            "(written as a gap)",
            stream,
        )


def _last_time(w: _DeviceWorker) -> float:
    t, _ = w.ring.latest(1)
    return float(t[0]) if t.size else -np.inf


def _writer_session_start(writer: Any) -> float:
    """Host time (epoch s) that the session file counts its time from."""
    for attr in ("t0_unix_s", "session_start_s"):
        value = getattr(writer, attr, None)
        if isinstance(value, (int, float)) and value > 1e9:
            return float(value)
    return time.time()
