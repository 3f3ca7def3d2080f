"""Simulator runner: a thread that paces a device model in real time behind a :class:`SimPort`.

Contract for device simulators (FPB1 here, INS1/CSV4 by their owner)
--------------------------------------------------------------------
Subclass :class:`Simulator` and implement:

- ``on_command_bytes(data: bytes)``: bytes the driver wrote (parse commands, call ``send``).
- ``produce(crystal_now_s: float)``: emit every sample due up to crystal time ``crystal_now_s``
  (s; samples are paced by the device crystal, timestamps add ``clock_jumps_s``), in frames, via
  ``send(frame_bytes, seq=..., n=...)``.
- optionally ``on_boot()`` (power-up: banner/BOOT frame; also called on replug) and
  ``on_opened()`` (a driver opened the port; e.g. Arduino auto-reset).

The base class provides: the model clock (``model_time_s()``: real seconds since start), the
device clock (``device_time_s(model_t)``: drifting by ``drift_ppm``, with a boot offset and
injected clock jumps) and its inverse ``model_time_of(dev_t)``; fault injection on every frame
sent (``self.faults``, a :class:`~forcelab.drivers.sim.faults.FaultInjector`), stalls then
bursts, scheduled unplug/replug (``unplug:T,replug:T`` counted from the first
``streaming_started()``), and ``schedule(delay_s, fn)`` for delayed replies.
``start()`` runs the thread; ``stop()`` ends it and closes the port. Exceptions in the thread are
kept in ``self.error`` and re-raised by ``stop()`` (never swallowed).
"""

from __future__ import annotations

import errno
import heapq
import itertools
import select
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from forcelab.drivers.sim.faults import FaultInjector, FaultSpec
from forcelab.drivers.sim.pty import SimPort


class Simulator:
    """Base of device simulators (see module docstring for the contract).

    Parameters
    ----------
    port : SimPort
        The simulated serial port (opened by :meth:`start` if needed).
    seed : int
        Seed for noise and faults.
    faults : FaultSpec, str or None
        Faults to inject.
    drift_ppm : float
        Device clock drift in parts per million (device runs fast when positive).
    period_s : float
        Loop period of the thread in s.
    """

    def __init__(
        self,
        port: SimPort,
        *,
        seed: int = 0,
        faults: FaultSpec | str | None = None,
        drift_ppm: float = 0.0,
        period_s: float = 0.004,
    ) -> None:
        self.port = port
        self.seed = int(seed)
        self.faults = FaultInjector(faults, seed=self.seed)
        self.drift_ppm = float(drift_ppm)
        self.period_s = float(period_s)
        self.boot_offset_s = 1000.0 + (self.seed % 97) * 3.7  # device was powered up earlier
        self.clock_jumps_s = 0.0
        self._t0_mono: float | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_ids = itertools.count()
        self._stall_until = -1.0
        self._last_step: float | None = None
        self._held: list[bytes] = []
        self._outbox = bytearray()
        self._stream_started_at: float | None = None
        self._unplugged_at: float | None = None
        self._unplug_done = False
        self.frame_id = 0
        self.error: BaseException | None = None
        self.samples_lost_overflow = 0
        #: Ground truth of what was generated, one structured array per step (see :attr:`sent`).
        self.sent_chunks: list[np.ndarray] = []
        self._crystal_start_s = 0.0
        self._next_k = 0

    #: dtype of :attr:`sent` (set by simulators that record what they generate).
    SENT_DTYPE: np.dtype | None = None

    @property
    def sent(self) -> np.ndarray:
        """Every sample/line generated so far (:attr:`SENT_DTYPE`), including those a fault
        dropped or damaged."""
        with self._lock:
            if not self.sent_chunks:
                return np.zeros(0, self.SENT_DTYPE)
            return np.concatenate(self.sent_chunks)

    # -- clocks --------------------------------------------------------------------------
    def model_time_s(self) -> float:
        """Real seconds since the simulator started (the gait model's time axis)."""
        if self._t0_mono is None:
            return 0.0
        return time.monotonic() - self._t0_mono

    def crystal_time_s(self, model_t_s: Any) -> Any:
        """Time (s) counted by the device's crystal (drifting, no jumps): paces the samples."""
        return self.boot_offset_s + model_t_s * (1.0 + self.drift_ppm * 1e-6)

    def model_time_of(self, crystal_t_s: Any) -> Any:
        """Model time (s) at which the crystal reads ``crystal_t_s`` (inverse of the above)."""
        return (crystal_t_s - self.boot_offset_s) / (1.0 + self.drift_ppm * 1e-6)

    def device_time_s(self, model_t_s: Any) -> Any:
        """Device clock reading (s) at model time ``model_t_s``: crystal time plus injected
        clock jumps (what timestamps carry)."""
        return self.crystal_time_s(model_t_s) + self.clock_jumps_s

    # -- hooks -----------------------------------------------------------------------------
    def restart_samples(self, model_t_s: float) -> None:
        """Number the samples from 0 again, sample 0 at model time ``model_t_s`` (s): streaming
        starts, the rate changes or the device boots."""
        self._crystal_start_s = float(self.crystal_time_s(model_t_s))
        self._next_k = 0

    def due_samples(self, crystal_now_s: float,
                    rate_hz: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The samples due by crystal time ``crystal_now_s`` (s) at ``rate_hz`` and not yet
        produced: (their numbers since :meth:`restart_samples`, their model times in s), or None
        when none is due. Each sample is handed out once."""
        period = 1.0 / rate_hz
        k_end = int(np.floor((crystal_now_s - self._crystal_start_s) / period)) + 1
        if k_end <= self._next_k:
            return None
        k = np.arange(self._next_k, k_end)
        self._next_k = k_end
        return k, self.model_time_of(self._crystal_start_s + k * period)

    def on_command_bytes(self, data: bytes) -> None:  # pragma: no cover - abstract
        """Handle bytes the driver wrote."""
        raise NotImplementedError

    def produce(self, crystal_now_s: float) -> None:  # pragma: no cover - abstract
        """Emit samples due up to crystal time ``crystal_now_s``."""
        raise NotImplementedError

    def on_boot(self) -> None:
        """Power-up: reset state and announce (BOOT frame, banner)."""

    def on_opened(self) -> None:
        """A driver opened the port."""

    # -- services for subclasses ---------------------------------------------------------
    def send(self, data: bytes, *, seq: int = -1, n: int = 0, faults: bool = True) -> bool:
        """Send one frame/line through fault injection (and stalls). Returns False when the
        port refused it (driver not reading: the device's buffer overflowed) or is unplugged."""
        fid = self.frame_id
        self.frame_id += 1
        if faults:
            data = self.faults.frame(data, fid, seq, n, self.model_time_s())
        if not data:
            return True
        if self._held or self.model_time_s() < self._stall_until:
            self._held.append(data)
            return True
        # Collected and written once per loop step (one write syscall, not one per frame).
        port = self.port
        if not port.plugged:
            return False
        if port.pending + len(self._outbox) + len(data) > port.max_pending:
            self.flush_output()
            if port.pending + len(data) > port.max_pending:
                return False
        self._outbox += data
        return True

    def flush_output(self) -> None:
        """Write what :meth:`send` collected to the port now."""
        if self._outbox:
            self.port.write(bytes(self._outbox))
            self._outbox.clear()

    def schedule(self, delay_s: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the simulator thread after ``delay_s`` s of model time."""
        with self._lock:
            heapq.heappush(self._timers, (self.model_time_s() + delay_s, next(self._timer_ids),
                                          fn))

    def cancel_timers(self) -> None:
        """Forget every scheduled call (device reset)."""
        with self._lock:
            self._timers.clear()

    def streaming_started(self) -> None:
        """Mark the first start of streaming (origin of scheduled unplug/replug faults)."""
        if self._stream_started_at is None:
            self._stream_started_at = self.model_time_s()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, t0_mono: float | None = None) -> Simulator:
        """Open the port (if needed), boot the device and run the thread; returns self.

        ``t0_mono`` (``time.monotonic()`` value) sets model time 0; simulators sharing one gait
        model (the two belts of a treadmill) must share it.
        """
        if self._thread is not None:
            return self
        if not self.port.plugged:
            self.port.open()
        self._t0_mono = time.monotonic() if t0_mono is None else float(t0_mono)
        self.on_boot()
        self.flush_output()  # the power-up banner goes out at once
        self._thread = threading.Thread(target=self._run, name=f"sim-{self.port.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and remove the port; re-raises an error of the thread."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self.port.close()
        if self.error is not None:
            err, self.error = self.error, None
            raise RuntimeError(f"simulator {self.port.name} failed: {err!r}") from err

    @property
    def running(self) -> bool:
        """True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def unplug(self) -> None:
        """Pull the cable now (the device loses power)."""
        with self._lock:
            # what the cable loses: sent but not read by the driver yet (ground truth for tests),
            # also what the kernel still holds between the pty's two ends (taking those may wait
            # for the kernel: the unplug time is taken after, when the driver loses the link)
            in_flight = self.port.take_unread() + len(self._outbox) + sum(map(len, self._held))
            self._unplugged_at = self.model_time_s()
            self.faults.note("unplug", t_s=self._unplugged_at,  # logged before the driver sees it
                             detail={"bytes_in_flight": in_flight})
            self.port.unplug()
            self._held.clear()
            self._outbox.clear()

    def replug(self) -> None:
        """Plug back in: new pty under the same name; the device boots."""
        with self._lock:
            self.port.replug()
            self._outbox.clear()
            self._unplugged_at = None
            self.faults.note("replug", t_s=self.model_time_s())
            self.cancel_timers()
            self.on_boot()
            self.flush_output()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                fd = self.port.fileno()
                if fd >= 0:
                    try:
                        r, _, _ = select.select([fd], [], [], self.period_s)
                    except OSError as exc:  # unplugged or replugged by another thread meanwhile
                        if exc.errno != errno.EBADF:
                            raise
                        r = []
                else:
                    time.sleep(self.period_s)
                    r = []
                with self._lock:
                    self._step(bool(r))
        except BaseException as exc:  # kept and re-raised by stop(): never swallowed
            self.error = exc

    def _step(self, readable: bool) -> None:
        now = self.model_time_s()
        sp = self.faults.spec
        # scheduled unplug / replug
        if sp.unplug is not None and self._stream_started_at is not None and \
                not self._unplug_done and now >= self._stream_started_at + sp.unplug:
            self._unplug_done = True
            self.unplug()
        if self._unplugged_at is not None:
            if sp.replug is not None and now >= self._unplugged_at + sp.replug:
                self.replug()
            return
        if self.port.poll_opened():
            self.on_opened()
        if readable:
            data = self.port.read()
            if data:
                self.on_command_bytes(data)
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            fn()
        dt = now - self._last_step if self._last_step is not None else self.period_s
        self._last_step = now
        jump = self.faults.clock_jump(dt, now)
        if jump:
            self.clock_jumps_s += jump
        stall = self.faults.stall(dt, now)
        if stall:
            self._stall_until = now + stall
        self.produce(self.crystal_time_s(now))
        self.flush_output()
        if self._held and now >= self._stall_until:
            held, self._held = self._held, []
            if not self.port.write(b"".join(held)):
                for chunk in held:  # too much at once: as much as the port takes
                    self.port.write(chunk)
        self.port.pump()
