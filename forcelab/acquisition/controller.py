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

Threads (:mod:`forcelab.acquisition.workers`):

* one acquisition thread per device: ``Device.read`` -> ring buffer (for plots and weighing) and,
  while recording, two bounded queues: the writer's and the analyser's. A full queue refuses the
  block and counts it (``overflow_*`` in :class:`DeviceStatus`); the acquisition thread never waits.
  Blocks refused by the writer become an explicit gap (``gap_before``) in the file.
* one writer thread owning a :class:`~forcelab.acquisition.session_writer.SessionWriter` (the
  HDF5 :class:`forcelab.store.SessionWriter` by default): appends blocks, trials, markers and
  events in arrival order and flushes at least every ``flush_interval_s``.
* one analyser thread: :class:`~forcelab.acquisition.live.LiveAnalyzer` (streaming stance detection
  per stream, running per-side mid-stance peak, SI, cadence, contact time).

States, events and failures live in :class:`~forcelab.acquisition.status.SessionState`; the
controller reads device kinds and channel roles (``DeviceInfo.kind``, ``Channel.role``), never
protocol names.

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

import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from forcelab.acquisition.buffers import WorkQueue
from forcelab.acquisition.errors import AcquisitionError, StateError
from forcelab.acquisition.feedback import CueHub, LiveFeedback
from forcelab.acquisition.live import LiveAnalyzer
from forcelab.acquisition.session_writer import (
    AddGap,
    AddMarker,
    SessionWriter,
    StartTrial,
    StopTrial,
    Sync,
    WriterCommand,
)
from forcelab.acquisition.status import (
    ControllerEvent,
    DeviceStatus,
    Snapshot,
    State,
)
from forcelab.acquisition.streams import live_analyzer_for, stream_names_for
from forcelab.acquisition.weighing import BodyWeight, StandingOperations
from forcelab.acquisition.workers import AnalysisWorker, DeviceWorker, WriterWorker
from forcelab.analysis.feedback import Cue, FeedbackEngine
from forcelab.drivers import open_devices as open_device_string
from forcelab.drivers.base import (
    Device,
    DeviceInfo,
)
from forcelab.errors import SessionFileError
from forcelab.recording import check_body_mass
from forcelab.store import SessionWriter as HDF5SessionWriter

__all__ = [
    "ControllerEvent",
    "DeviceStatus",
    "SessionController",
    "Snapshot",
    "State",
    "stream_names_for",
]

#: Longest wait (s) for a device to stop at the end of a recording and hand on what it sent
#: before its STOP reply (frames a stalled link held back arrive in a burst first).
END_STOP_TIMEOUT_S = 5.0
class SessionController(StandingOperations):
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
        ``factory(path, athlete=..., operator=..., notes=...) -> SessionWriter`` (any object of
        the :class:`~forcelab.acquisition.session_writer.SessionWriter` interface); default
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
        open_devices: Callable[..., list[Device]] | None = None,
        session_writer_factory: Callable[..., SessionWriter] | None = None,
    ) -> None:
        super().__init__()
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
        self._open_devices = open_devices or open_device_string
        self._writer_factory = session_writer_factory or HDF5SessionWriter.create

        self._op_lock = threading.RLock()  # serialises operations (connect, tare, record, ...)
        self._workers: list[DeviceWorker] = []
        self._connect_time_s = 0.0
        self._record_start_mono: float | None = None
        self._record_stop_mono: float | None = None
        self._path: str | None = None
        self._writer_thread: WriterWorker | None = None
        self._analysis_thread: AnalysisWorker | None = None
        self._analysis_q: WorkQueue | None = None
        self._live: LiveAnalyzer | None = None
        self._trial: str | None = None
        self._n_trials = 0
        self._trial_names: set[str] = set()
        self._n_markers = 0
        self._body_mass_kg: float | None = None
        self._body_mass_method: str | None = None
        self._body_weight: BodyWeight | None = None
        self._cue_hub = CueHub()
        self._feedback: LiveFeedback | None = None

    # -- read-only views (any thread) --------------------------------------------------------

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

    def device_info(self, stream: str) -> DeviceInfo:
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

    @property
    def feedback(self) -> LiveFeedback | None:
        """The live feedback of the next or current recording (see :meth:`set_feedback`)."""
        return self._feedback

    def set_feedback(
        self,
        engine: FeedbackEngine | None,
        phase_durations_s: dict[str, float] | None = None,
    ) -> LiveFeedback | None:
        """Give cues from the next recording on (None: no feedback). Not while recording.

        Trials tagged ``feedback:<phase>`` are the phases of a protocol; ``phase_durations_s``
        (s per phase) is what a faded schedule fades over. Returns the
        :class:`~forcelab.acquisition.feedback.LiveFeedback` (latencies, counts).
        """
        self._require("set feedback", State.IDLE, State.CONNECTED, State.STOPPED)
        with self._op_lock:
            self._feedback = (
                None if engine is None else LiveFeedback(engine, self._cue_hub, phase_durations_s)
            )
            return self._feedback

    def cues(self) -> list[Cue]:
        """The feedback cues issued since the last call, oldest first (non-blocking)."""
        return self._cue_hub.take()

    def add_cue_listener(self, fn: Callable[[Cue], Any]) -> None:
        """Call ``fn(cue)`` from the analysis thread as soon as each cue is issued (for audio
        and latency); ``fn`` must not block. Exceptions in ``fn`` are counted, not raised."""
        self._cue_hub.add_listener(fn)

    def remove_cue_listener(self, fn: Callable[[Cue], Any]) -> None:
        """Stop calling ``fn`` for cues."""
        self._cue_hub.remove_listener(fn)

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
            opened: list[Device] = []
            try:
                for url in urls:
                    opened += list(opener(url, **open_kw))
            except BaseException:
                for dev in opened:
                    dev.close()
                raise
            return self._connect_opened(opened)

    def connect_devices(self, devices: Iterable[Device]) -> list[str]:
        """Take over already opened Device objects (closed by :meth:`disconnect`); see connect."""
        self._require("connect", State.IDLE)
        with self._op_lock:
            self._require("connect", State.IDLE)
            return self._connect_opened(list(devices))

    def _connect_opened(self, devices: list[Device]) -> list[str]:
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
            DeviceWorker(self, name, dev, self.ring_seconds)
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
            writer = self._writer_factory(path, athlete=athlete, operator=operator, notes=notes)
            try:
                for w in self._workers:
                    writer.add_stream(w.stream, w.device.info)
                # readable by other processes (and after a kill -9) from now on, not only from
                # the first block
                writer.start_swmr()
            except BaseException:
                writer.close()
                raise
            session_start = float(writer.t0_unix_s)
            live = live_analyzer_for(self._workers, self._body_mass_kg, self.analysis_options)
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
                self._writer_failed.clear()
                self._recording = True
                self._error = next(iter(self._failures.values()), None)
                self._record_start_mono = time.monotonic()
                self._record_stop_mono = None
                self._overflow_reported.clear()
            self._writer_thread = WriterWorker(
                self, writer, self._writer_q, self.flush_interval_s,
                {w.stream: w.device for w in self._workers},
            )
            self._analysis_thread = AnalysisWorker(
                self, live, self._analysis_q, session_start, self._writer_q, self._feedback
            )
            self._writer_thread.start()
            self._analysis_thread.start()
            for w in self._workers:  # a lost device that comes back is recorded too
                w.attach(self._writer_q, self._analysis_q)
            self._set_state(State.RECORDING, f"recording to {path}")
            self.post_event("recording_started", "info", f"recording to {path}")
            return path

    def start_trial(self, name: str, tags: Iterable[str] = (), speed_m_s: float | None = None,
                    shoe: str = "", notes: str = "") -> None:
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
            self._control(StartTrial(name, tags, speed_m_s, shoe, notes, t_s))
            if self._live is not None:
                self._live.reset_figures(since_s=t_s)
            if self._feedback is not None:
                self._feedback.trial_started(name, tags, t_s)
            self._trial_names.add(name)
            with self._lock:
                self._trial = name
                self._n_trials += 1
            self.post_event(
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
            if self._writer_thread is not None and not self._writer_failed.is_set():
                self._control(StopTrial(t_s))
            if self._feedback is not None:
                self._feedback.trial_stopped(t_s)
            name = self._trial
            with self._lock:
                self._trial = None
            self.post_event(
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
            self._control(AddMarker(label, t_s))
            with self._lock:
                self._n_markers += 1
            self.post_event(
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
        self._control(Sync(done))
        if not done.wait(timeout_s):
            raise AcquisitionError(
                f"the session file was not written within {timeout_s:.0f} s; see the error shown"
            )

    def stop_recording(self) -> dict[str, Any]:
        """Stop writing, drain the queues, close the file. recording/error -> stopped.

        A device still unplugged at the stop leaves a gap in its stream from its last sample
        to now, with its length (``gaps`` table), so the file says how much is missing. A device
        whose STOP reply names the last sample it sent (FPB1) is stopped first: what it sent
        before the reply is still recorded, and what never came is a gap at the end, counted
        in ``dropped_samples``; it streams again once the file is closed.

        Returns
        -------
        dict
            :meth:`Snapshot.summary`: ``path``, ``duration_s``, per stream
            ``samples_recorded`` (what the file holds), ``dropped_samples``,
            ``overflow_writer_samples``, ``samples_unwritten``; ``stance_count``, ``live``
            figures, ``error`` (or None).
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
            self.post_event("recording_stopped", "info", f"session saved in {snap.path}")
            return snap.summary()

    def _stop_recording_threads(self) -> None:
        stopped = self._stop_devices_counting()
        start, now = self._session_start_s or time.time(), time.time()
        for w in self._workers:
            w.attach(None, None)  # waits for a put in flight (sink lock)
            gap = w.unplugged_gap(start, now) if not self._writer_failed.is_set() else None
            n_unreceived = w.device.unreceived_at_stop() if w in stopped else 0
            if gap is None and n_unreceived and not self._writer_failed.is_set():
                # sent by the device before its STOP reply, never received: missing at the end
                w.dropped_samples += n_unreceived
                gap = AddGap(w.stream, n_unreceived,
                             max(w.last_sample_t_s + 1.0 / w.rate_hz, start))
            if gap is not None:
                self._control(gap)
        wt, at = self._writer_thread, self._analysis_thread
        if at is not None:
            at.stop_event.set()
            at.join()
        if wt is not None:
            wt.stop_event.set()
            wt.join()
            for w in self._workers:
                w.settle_recorded(wt.writer.n_samples_stored(w.stream))
        with self._lock:
            self._record_stop_mono = time.monotonic()
            self._recording = False
        self._writer_thread = self._analysis_thread = None
        self._writer_q = self._analysis_q = None
        for w in stopped:  # live views, tare and weighing go on between recordings
            try:
                w.request(w.device.start).result(END_STOP_TIMEOUT_S)
            except Exception as exc:  # reported; the device stays stopped
                self.post_event("device_error", "warning",
                                f"{w.stream}: streaming did not restart after the recording: "
                                f"{exc}", stream=w.stream)

    def _stop_devices_counting(self) -> list[DeviceWorker]:
        """Stop the streaming devices that report their last sequence number when stopped,
        each in its own acquisition thread, and wait until that thread has passed on every
        Block received before the STOP reply. Returns the workers whose devices stopped."""
        pending = [(w, w.request(w.device.stop)) for w in self._workers
                   if w.state == "streaming" and w.device.stop_reports_last_seq]
        stopped = []
        for w, fut in pending:
            try:
                fut.result(END_STOP_TIMEOUT_S)
                # runs after the read that returned the Blocks decoded with the reply
                w.request(lambda: None).result(END_STOP_TIMEOUT_S)
            except Exception as exc:  # no count of what is missing at the end; say so
                self.post_event("device_error", "warning",
                                f"{w.stream}: could not stop the device to count the samples "
                                f"still on their way: {exc}", stream=w.stream)
                continue
            stopped.append(w)
        return stopped

    # -- internals -----------------------------------------------------------------------------

    def _control(self, command: WriterCommand) -> None:
        q = self._writer_q
        if q is None:
            raise StateError("no session file is open")
        q.put_control(command)
