"""Thread-safe buffers between the acquisition threads, the writer, the analyser and the GUI.

* :class:`RingBuffer` keeps the last few seconds of one stream for plots and body-weight
  measurement: the writer appends its blocks (no copy) and forgets the oldest; readers get
  copies and never hold the writer up for longer than a walk over the kept blocks.
* :class:`WorkQueue` is a bounded FIFO shared by several producer streams and one consumer
  thread. ``put`` never blocks: when a stream has more than its quota of samples waiting, the
  item is refused and counted as an overflow so the producer (an acquisition thread) keeps reading
  its device. Control items (trial start, markers, ...) are never refused.
"""

from __future__ import annotations

import collections
import threading
import time

import numpy as np

from forcelab.acquisition.session_writer import WriterCommand
from forcelab.drivers.base import Block

#: One item of a work queue: ("data", stream, Block) or ("control", None, WriterCommand).
QueueItem = tuple[str, str | None, Block | WriterCommand]


class RingBuffer:
    """The most recent samples of one stream, with their host time stamps.

    It keeps the blocks it is given (no copy in the acquisition thread: a write appends one
    reference and forgets the oldest blocks once the newer ones hold ``capacity`` samples) and
    assembles copies when they are read (plots, body-weight measurement), with each sample's
    time: its block's first time + i / ``rate_hz``.

    Parameters
    ----------
    n_channels : int
        Number of sample columns.
    capacity : int
        Number of samples kept (older ones are forgotten).
    rate_hz : float
        Sampling rate of the stream (times of the samples after a block's first).
    """

    def __init__(self, n_channels: int, capacity: int, rate_hz: float) -> None:
        if capacity < 1 or n_channels < 1 or not rate_hz > 0:
            raise ValueError("ring buffer needs at least one channel and one sample, and a "
                             "rate above 0 Hz")
        self._n_channels = int(n_channels)
        self._capacity = int(capacity)
        self._rate_hz = float(rate_hz)
        self._blocks: collections.deque[tuple[float, np.ndarray]] = collections.deque()
        self._kept = 0  # samples in _blocks
        self._count = 0  # total samples ever written
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        """Number of samples the buffer holds."""
        return self._capacity

    @property
    def total_written(self) -> int:
        """Number of samples written since creation (including overwritten ones)."""
        return self._count

    def write(self, t_first_s: float, samples: np.ndarray) -> None:
        """Append a block of samples (shape (n, n_channels), not changed afterwards by the
        caller) whose first sample was taken at ``t_first_s`` (host s)."""
        n = samples.shape[0]
        if n == 0:
            return
        blocks = self._blocks
        with self._lock:
            blocks.append((t_first_s, samples))
            self._kept += n
            self._count += n
            while self._kept - blocks[0][1].shape[0] >= self._capacity:
                self._kept -= blocks.popleft()[1].shape[0]

    def latest(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the last ``n`` samples (fewer if fewer were written): (t_s, samples)."""
        n = int(max(0, min(n, self._capacity)))
        parts: list[tuple[float, np.ndarray]] = []
        with self._lock:
            have = 0
            for part in reversed(self._blocks):
                if have >= n:
                    break
                parts.append(part)
                have += part[1].shape[0]
        if not parts:
            return np.empty(0), np.empty((0, self._n_channels))
        n = min(n, have)
        parts.reverse()
        offsets = np.arange(max(p[1].shape[0] for p in parts)) / self._rate_hz
        t = np.concatenate([t0 + offsets[:d.shape[0]] for t0, d in parts])
        data = np.concatenate([np.asarray(d, dtype=np.float64) for _, d in parts])
        return t[len(t) - n:], data[len(data) - n:]

    def since(self, t_from_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the buffered samples with time >= ``t_from_s`` (s): (t_s, samples)."""
        t, d = self.latest(self._capacity)
        keep = t >= t_from_s
        return t[keep], d[keep]


class WorkQueue:
    """Bounded, non-blocking FIFO from acquisition threads to one consumer thread.

    Parameters
    ----------
    max_samples_per_key : int
        How many samples of one stream (key) may wait; beyond that ``put`` refuses the item.
    """

    def __init__(self, max_samples_per_key: int) -> None:
        self._max = int(max_samples_per_key)
        self._items: collections.deque[tuple[str, str | None, Block | WriterCommand, int]] = (
            collections.deque()
        )
        self._pending: dict[str | None, int] = collections.defaultdict(int)
        self._lock = threading.RLock()  # what a Condition makes (its owner check is compiled)
        self._cond = threading.Condition(self._lock)
        self.overflows: dict[str, int] = collections.defaultdict(int)
        self.overflow_samples: dict[str, int] = collections.defaultdict(int)
        self.high_water: dict[str, int] = collections.defaultdict(int)

    def put(self, key: str, item: Block, n_samples: int) -> bool:
        """Queue a data item of ``n_samples`` samples for stream ``key``; False if it overflowed."""
        with self._lock:  # the condition's lock (an acquisition thread's call per block)
            pending = self._pending[key] + n_samples
            if pending > self._max:
                self.overflows[key] += 1
                self.overflow_samples[key] += n_samples
                return False
            self._pending[key] = pending
            if pending > self.high_water[key]:
                self.high_water[key] = pending
            self._items.append(("data", key, item, n_samples))
            self._cond.notify()
            return True

    def put_control(self, item: WriterCommand) -> None:
        """Queue a control item; never refused (control items are few and small)."""
        with self._cond:
            self._items.append(("control", None, item, 0))
            self._cond.notify()

    def get_all(self, timeout: float) -> list[QueueItem]:
        """Wait up to ``timeout`` s for items, then return all queued ones as (kind, key, item)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._items:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(left)
            out = []
            while self._items:
                kind, key, item, n = self._items.popleft()
                if kind == "data":
                    self._pending[key] -= n
                out.append((kind, key, item))
            return out

    def pending_samples(self, key: str) -> int:
        """Samples of stream ``key`` waiting in the queue."""
        with self._cond:
            return self._pending[key]

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
