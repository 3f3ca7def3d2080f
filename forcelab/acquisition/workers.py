"""The worker threads of a recording session: acquisition (one per device), writer, live analysis.

* :class:`DeviceWorker`: ``Device.read`` -> ring buffer (plots, weighing) and, while recording, two
  bounded queues (writer, analyser). A full queue refuses the block and counts it; the acquisition
  thread never waits. Blocks refused by the writer become an explicit gap (``gap_before``).
* :class:`WriterWorker`: owns the :class:`~forcelab.acquisition.session_writer.SessionWriter`;
  appends blocks and applies trial/marker/event commands in arrival order, flushes at least every
  ``flush_s``.
* :class:`AnalysisWorker`: feeds the :class:`~forcelab.acquisition.live.LiveAnalyzer`.

Workers report to the session through the methods of
:class:`~forcelab.acquisition.status.SessionState` (the controller's base).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from forcelab.acquisition.buffers import QueueItem, RingBuffer, WorkQueue
from forcelab.acquisition.errors import AcquisitionError
from forcelab.acquisition.feedback import LiveFeedback
from forcelab.acquisition.live import LiveAnalyzer
from forcelab.acquisition.session_writer import AddGap, SessionWriter, stance_event
from forcelab.acquisition.status import DeviceStatus, SessionState
from forcelab.drivers.base import Block, Device
from forcelab.drivers.errors import ConnectionLost

#: The live analyser and the writer take their queued blocks at most this often (s).
ANALYSIS_BATCH_S = 0.1
#: With live feedback the analyser wakes on data, and then waits this long (s) for blocks of the
#: other streams that arrive together (fewer calls for the same latency).
FEEDBACK_BATCH_S = 0.002
WRITER_BATCH_S = 0.05


class DeviceWorker(threading.Thread):
    """Acquisition thread of one device: ``Device.read`` -> ring buffer and, while recording, the
    writer's and the analyser's queues (see :mod:`forcelab.acquisition.controller`)."""

    def __init__(self, session: SessionState, name: str, device: Device, ring_s: float):
        super().__init__(name=f"forcelab-acq-{name}", daemon=True)
        self.session = session
        self.stream = name
        self.device = device
        info = device.info
        self.rate_hz = float(info.rate_hz)
        self.channels = list(info.channel_names)
        self.columns_by_role = info.columns_by_role()
        self.ring = RingBuffer(len(self.channels), max(16, int(ring_s * self.rate_hz)),
                               self.rate_hz)
        self.stop_event = threading.Event()
        self.sink_lock = threading.Lock()
        self.writer_q: WorkQueue | None = None
        self.analysis_q: WorkQueue | None = None
        self.commands: collections.deque[
            tuple[Callable[[], object], concurrent.futures.Future]
        ] = collections.deque()
        self.state = "streaming"
        self.error: str | None = None
        self.samples = 0
        self.samples_recorded = 0
        self.dropped_samples = 0
        self.overflow_writer_samples = 0
        self.overflow_analysis_samples = 0
        self.samples_unwritten = 0
        self.last_sample_t_s = -np.inf  # host time of the newest sample read, s
        self._writer_gap = 0
        self._rate_window = (time.monotonic(), 0)
        self.measured_rate_hz: float | None = None

    def column(self, role: str) -> int | None:
        """Index of the first column with ``role`` (``"fz"``, ``"cop_ml"``...), or None."""
        cols = self.columns_by_role.get(role)
        return cols[0] if cols else None

    def request(self, fn: Callable[[], object]) -> concurrent.futures.Future:
        """Run ``fn`` in this thread between two reads (device commands such as zero)."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self.commands.append((fn, fut))
        return fut

    def run(self) -> None:
        # The device is read continuously (no pause between reads): drivers time clock-sync
        # replies by when they are read, so a pause would bias the time base.
        lost = False
        device = self.device
        while not self.stop_event.is_set():
            if self.commands:
                self._run_commands()
            try:
                blocks = device.read(0.05)
                events = device.pop_events()
            except ConnectionLost as exc:
                if not lost:
                    lost = True
                    self.state = "lost"
                    self.measured_rate_hz = 0.0
                    self.error = str(exc) or "connection lost"
                    self.session.report_failure(self.stream, "connection_lost", exc)
                self.stop_event.wait(0.2)
                continue
            except Exception as exc:  # every other failure ends this device's acquisition
                self.state = "error"
                self.error = str(exc) or type(exc).__name__
                self.session.report_failure(self.stream, "device_error", exc)
                self._fail_commands(exc)
                return
            if lost and blocks:
                lost = False
                self.state = "streaming"
                self.error = None
                self.session.device_recovered(self.stream)
            for block in blocks:
                self._process(block)
            for ev in events:
                self.session.device_event(self.stream, ev)
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

    def _process(self, block: Block) -> None:
        samples = block.samples
        n = samples.shape[0]
        t_first_s = float(block.t_host_s)
        self.ring.write(t_first_s, samples)
        self.samples += n
        self.last_sample_t_s = t_first_s + (n - 1) / self.rate_hz
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
                    self.session.report_overflow(self.stream, "writer", n)
            if aq is not None and not aq.put(self.stream, block, n):
                self.overflow_analysis_samples += n

    def unplugged_gap(self, since_s: float, now_s: float) -> AddGap | None:
        """While this device is lost (or stopped by an error): the samples it did not send from
        its last sample (or ``since_s``, whichever is later) up to ``now_s`` (host s), as a gap
        for the session file; counted in ``dropped_samples``. None while it streams."""
        if self.state == "streaming":
            return None
        t_from = max(self.last_sample_t_s + 1.0 / self.rate_hz, since_s)
        n_missing = int((now_s - t_from) * self.rate_hz)
        if n_missing <= 0:
            return None
        self.dropped_samples += n_missing
        return AddGap(self.stream, n_missing, t_from)

    def settle_recorded(self, n_stored: int) -> None:
        """After the session file is closed: ``samples_recorded`` becomes what the file holds;
        samples queued for it that never reached the disk (a write error, a full disk) are
        counted in ``samples_unwritten``."""
        self.samples_unwritten = max(0, self.samples_recorded - n_stored)
        self.samples_recorded = n_stored

    def attach(self, writer_q: WorkQueue | None, analysis_q: WorkQueue | None) -> None:
        with self.sink_lock:
            self.writer_q, self.analysis_q = writer_q, analysis_q
            self._writer_gap = 0

    def status(self) -> DeviceStatus:
        """The live figures of this stream (a copy)."""
        info = self.device.info
        return DeviceStatus(
            name=self.stream,
            protocol=info.protocol,
            kind=info.kind,
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
            samples_unwritten=self.samples_unwritten,
            link=self.device.stats.to_dict(),
            error=self.error,
        )


class _QueueWorker(threading.Thread):
    """A daemon thread that takes a :class:`WorkQueue` batch by batch until it is asked to stop
    (``stop_event``) and the queue is empty."""

    def __init__(self, name: str, session: SessionState, queue: WorkQueue) -> None:
        super().__init__(name=name, daemon=True)
        self.session = session
        self.queue = queue
        self.stop_event = threading.Event()

    #: Pause between batches (s): batching saves most of the per-call cost; read before each
    #: pause, so a worker may change it while it runs.
    batch_s: float

    def _batches(self, take_s: float) -> Iterator[list[QueueItem]]:
        """The queue's items batch by batch: each batch waits up to ``take_s`` for the first
        item; between batches the thread pauses ``batch_s`` (s) unless asked to stop. Ends once
        stopping was asked before a batch and the queue is empty after it."""
        while True:
            stopping = self.stop_event.is_set()
            yield self.queue.get_all(take_s)
            if stopping and len(self.queue) == 0:
                return
            self.stop_event.wait(self.batch_s)


class WriterWorker(_QueueWorker):
    """Owns the SessionWriter: appends, trials, markers, events; flushes at least every period."""

    def __init__(
        self,
        session: SessionState,
        writer: SessionWriter,
        queue: WorkQueue,
        flush_s: float,
        link_sources: dict[str, Device],
    ):
        super().__init__("forcelab-writer", session, queue)
        self.writer = writer
        self.flush_s = flush_s
        self.batch_s = WRITER_BATCH_S
        self.link_sources = link_sources
        self.failed = False
        self.closed = False

    def run(self) -> None:
        last_flush = time.monotonic()
        try:
            for batch in self._batches(min(0.2, self.flush_s)):
                for kind, key, item in batch:
                    if kind == "data":
                        self.writer.append(key, item)
                    else:
                        item.apply(self.writer)
                now = time.monotonic()
                if now - last_flush >= self.flush_s:
                    self._update_link_stats()
                    self.writer.maybe_flush()  # the store flushes when its own interval is due
                    last_flush = now
            self._update_link_stats()
            self.writer.close()
            self.closed = True
        except Exception as exc:  # full disk, I/O error: reported, then the file is closed
            self.failed = True
            self.session.report_failure(None, "writer_error", exc)
            try:
                self.writer.close()
                self.closed = True
            except Exception as exc2:  # the file keeps what the last flush wrote
                self.session.post_event(
                    "writer_error",
                    "error",
                    f"closing the session file failed too: {exc2}",
                )

    def _update_link_stats(self) -> None:
        for name, device in self.link_sources.items():
            self.writer.update_link_stats(name, device.stats)


def coalesce(items: list[QueueItem]) -> list[QueueItem]:
    """Merge runs of contiguous data blocks of one stream (same status, no gap) into one block,
    keeping the order relative to control items."""
    out: list[QueueItem] = []
    last: dict[str, int] = {}  # stream -> index in out of its newest data item
    pending: dict[int, list[Block]] = {}
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


class AnalysisWorker(_QueueWorker):
    """Feeds the LiveAnalyzer from its bounded queue; completed stances go to the writer queue
    as ``stance`` events and, with live feedback, to the
    :class:`~forcelab.acquisition.feedback.LiveFeedback` as soon as they complete."""

    def __init__(
        self,
        session: SessionState,
        live: LiveAnalyzer,
        queue: WorkQueue,
        session_start_s: float,
        writer_queue: WorkQueue,
        feedback: LiveFeedback | None = None,
    ):
        super().__init__("forcelab-live-analysis", session, queue)
        self.live = live
        self.session_start_s = session_start_s
        self.writer_queue = writer_queue
        self.feedback = feedback
        # live figures need no lower latency; batching saves most of the per-call cost
        self.batch_s = ANALYSIS_BATCH_S if feedback is None else FEEDBACK_BATCH_S
        if feedback is not None:
            feedback.attach(writer_queue, session_start_s, live.stream_names)

    def run(self) -> None:
        try:
            for batch in self._batches(0.2):
                for kind, key, item in coalesce(batch):
                    if kind == "data":
                        t_first_s = float(item.t_host_s) - self.session_start_s
                        self._store(self.live.feed(key, item, t_first_s))
            self._store(self.live.flush())
            if self.feedback is not None:
                self.feedback.finish()
        except Exception as exc:  # reported as error state; recording itself goes on
            self.session.report_failure(None, "analysis_error", exc)

    def _store(self, stances: list[dict[str, Any]]) -> None:
        """Live stances go to the feedback first, then into the session file as ``stance``
        events."""
        if self.feedback is not None:
            self.feedback.on_stances(stances)
        for st in stances:
            self.writer_queue.put_control(stance_event(st))
