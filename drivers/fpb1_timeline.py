"""FPB1 DATA frames -> Blocks: sequence unwrap, gaps, device clock jumps, corrupted frames.

:class:`DataTimeline` is the part of :class:`~forcelab.drivers.fpb1.FPB1Device` that turns
decoded DATA runs (:meth:`~forcelab.drivers.protocols.fpb1.FPB1Codec.scan`) into
:class:`~forcelab.drivers.base.Block` objects on one unwrapped sequence axis:

- frames whose sequence number the device clock contradicts are dropped and counted
  (:func:`~forcelab.drivers.sequence.contradicted_by_clock`, ``stats.corrupt_frames``);
- device clock jumps (time stamps that disagree with the counter) are removed and reported as
  ``clock_jump`` events;
- the first frame after START (or a reconnect) is aligned with the START reply's device time, so
  lost first frames and the time a plate was unplugged become explicit gaps;
- duplicated or stale frames are dropped (``duplicates``), missing ones become ``gap_before``.
"""

from __future__ import annotations

import time

import numpy as np
from forcelab.drivers._frames import fpb1_samples, fpb1_usual_read
from forcelab.drivers.base import Block, DeviceEvent, DeviceInfo, LinkStats
from forcelab.drivers.clock import ClockFit
from forcelab.drivers.protocols.fpb1 import (
    DATA,
    ST_OVERFLOW,
    Calibration,
    DataRun,
    FPB1Codec,
)
from forcelab.drivers.sequence import SequenceCheck


def _jump_tolerance_us(rate_hz: float) -> float:
    """How far (µs) a frame's device time may stray from what the sample counter says before it
    counts as a clock jump: 1 ms + 2 sample periods."""
    return 1000 + 2e6 / rate_hz


class DataTimeline:
    """DATA runs -> Blocks for an FPB1 plate (mixed into :class:`FPB1Device`, which owns the
    state it reads: ``info``, ``stats``, ``clock``, ``calibration``, the event and block lists).
    """

    info: DeviceInfo
    stats: LinkStats
    clock: ClockFit
    calibration: Calibration
    cop_threshold_n: float
    codec: FPB1Codec
    spf: int
    fmt: int
    duplicates: int
    protocol_errors: int
    _counts_to_loads_t: np.ndarray
    _events: list[DeviceEvent]
    _blocks: list[Block]
    _next_wire_seq: int | None
    _next_seq: int
    _last_host_end: float | None
    _seq_check: SequenceCheck
    _pending_gap_from_host: float | None = None
    _last_t_us: int | None = None
    _last_wire_for_t = 0
    _clock_corr_us = 0
    _gap_pending = 0
    _block_seq0 = 0
    _t_start_us: int | None = None
    _origin_of: Calibration | None = None  # the calibration _origin_abc was read from
    _origin_abc: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _unwrap_event_seq(self, wire: int) -> int:
        if self._next_wire_seq is None:
            return wire
        d = (wire - self._next_wire_seq + (1 << 31)) % (1 << 32) - (1 << 31)
        return self._next_seq + d

    def _on_run(self, run: DataRun) -> None:
        run = self._drop_wild_seq(run)
        if not len(run.seq):
            return
        samples = self._run_samples(run)
        self._correct_clock(run)
        self._place(run, samples)

    def _usual_read(self) -> bool:
        """The usual read in one compiled call (:func:`~forcelab.drivers._frames.fpb1_usual_read`):
        the codec holds whole DATA frames of this plate's shape, each continuing the one before
        it (no frame to judge, no clock jump, no gap, one status), and at most the start of the
        next. Takes them from the codec, moves the state as the scanner, :meth:`_drop_wild_seq`,
        :meth:`_correct_clock` and :meth:`_place` would, emits their Block and returns True;
        False (nothing changed) sends the bytes down the general path (:meth:`_on_run`)."""
        n = self.spf
        ref_seq = self._seq_check.continued_from(n)
        if ref_seq is None or self._last_t_us is None or self._next_wire_seq is None:
            return False
        rate = self.info.rate_hz
        a, b, c = self._origin()
        usual = fpb1_usual_read(self.codec.buffer, DATA, n, self.fmt, ref_seq,
                                self._last_wire_for_t, self._last_t_us, self._next_wire_seq,
                                round(n * 1e6 / rate), _jump_tolerance_us(rate),
                                self._counts_to_loads_t, a, b, c, self.cop_threshold_n)
        if usual is None:
            return False
        consumed, k, samples, first_t, last_seq, last_t, status = usual
        self.codec.take(consumed, k)
        self._seq_check.advance(last_seq, last_t, n)
        self._last_t_us = last_t
        self._last_wire_for_t = last_seq
        self._block_seq0 = self._next_seq
        self._next_wire_seq = (last_seq + n) % (1 << 32)
        self._next_seq += n * k
        self._emit_samples(first_t + self._clock_corr_us, status, samples)
        return True

    def _origin(self) -> tuple[float, float, float]:
        """The plate's origin offsets a, b, c (m) as floats, read once per calibration."""
        cal = self.calibration
        if cal is not self._origin_of:
            self._origin_of = cal
            self._origin_abc = tuple(float(v) for v in cal.origin_m)
        return self._origin_abc

    def _run_samples(self, run: DataRun) -> np.ndarray:
        """The samples of a run: raw counts through the calibration matrix into loads (N, N*m),
        or calibrated loads, then COP and free moment, in the compiled pass the usual read
        makes (:func:`~forcelab.drivers._frames.fpb1_samples`)."""
        a, b, c = self._origin()
        records = np.ascontiguousarray(run.values).view(np.uint8).reshape(-1)
        return fpb1_samples(records, run.fmt, self._counts_to_loads_t, a, b, c,
                            self.cop_threshold_n)

    def _place(self, run: DataRun, samples: np.ndarray) -> None:
        """Put the frames of a run on the unwrapped sequence axis and emit their Blocks."""
        n = run.n
        k = len(run.seq)
        if self._next_wire_seq is None:
            self._first_frame_after_start(run)
        # Fast path: contiguous frames with one status -> one Block.
        seq = run.seq
        if seq[0] == self._next_wire_seq and (seq[1:] - seq[:-1] == n).all() and \
                (run.status == run.status[0]).all():
            self._block_seq0 = self._next_seq
            self._next_wire_seq = int((run.seq[-1] + n) % (1 << 32))
            self._next_seq += n * k
            self._emit(run, 0, k, samples, n)
            return
        start: int | None = None
        for i in range(k):
            wire = int(run.seq[i])
            d = (wire - self._next_wire_seq) % (1 << 32)
            if d >= (1 << 31) and (1 << 32) - d > self.info.rate_hz:
                # A second or more behind, in step with the device clock (the sequence check
                # let it through): no duplicate but a counter that restarted, e.g. after a
                # damaged first frame set the wrong one. Align anew; the time between is a gap.
                if start is not None:
                    self._emit(run, start, i, samples, n)
                self._next_wire_seq = None
                self._t_start_us = None
                self._pending_gap_from_host = self._last_host_end
                self._place(DataRun(run.seq[i:], run.t_us[i:], run.status[i:], run.fmt, n,
                                    run.values[i:]), samples[i * n:])
                return
            if d >= (1 << 31):  # behind: a duplicated or stale frame
                if start is not None:
                    self._emit(run, start, i, samples, n)
                    start = None
                self.duplicates += 1
                continue
            if start is not None and (d or run.status[i] != run.status[start]):
                self._emit(run, start, i, samples, n)
                start = None
            if d:
                self._add_gap(d)
            if start is None:
                start = i
                self._block_seq0 = self._next_seq
            self._next_wire_seq = (wire + n) % (1 << 32)
            self._next_seq += n
        if start is not None:
            self._emit(run, start, k, samples, n)

    def _drop_wild_seq(self, run: DataRun) -> DataRun:
        """Drop (and count in ``stats.corrupt_frames``) the frames whose sequence number the
        device clock contradicts (:class:`~forcelab.drivers.sequence.SequenceCheck`)."""
        rate = self.info.rate_hz
        bad = self._seq_check.judge(run.seq, run.t_us, run.n, 1e6 / rate,
                                    _jump_tolerance_us(rate))
        if not bad.any():
            return run
        self.stats.corrupt_frames += int(bad.sum())
        keep = ~bad
        return DataRun(run.seq[keep], run.t_us[keep], run.status[keep], run.fmt, run.n,
                       run.values[keep])

    def _correct_clock(self, run: DataRun) -> None:
        """Remove device clock jumps: frame time stamps that disagree with the sample counter
        by more than 1 ms + 2 sample periods. Each jump is reported as a ``clock_jump`` event
        (arg = jump in µs); device times stay consistent with the sample count and the host
        time base continuous."""
        rate = self.info.rate_hz
        t = run.t_us
        seq = run.seq
        step_us, tol_us = round(run.n * 1e6 / rate), _jump_tolerance_us(rate)
        if self._last_t_us is not None and seq[0] - self._last_wire_for_t == run.n and \
                abs(t[0] - self._last_t_us - step_us) <= tol_us and \
                (seq[1:] - seq[:-1] == run.n).all() and \
                (np.abs(t[1:] - t[:-1] - step_us) <= tol_us).all():
            # The usual case in a few operations: contiguous frames, no clock jump.
            self._last_t_us = int(t[-1])
            self._last_wire_for_t = int(seq[-1])
            if self._clock_corr_us:
                run.t_us = t + self._clock_corr_us
            return
        if self._last_t_us is None:
            prev_t = np.concatenate(([t[0]], t[:-1]))
            prev_seq = np.concatenate(([seq[0]], seq[:-1]))
        else:
            prev_t = np.concatenate(([self._last_t_us], t[:-1]))
            prev_seq = np.concatenate(([self._last_wire_for_t], seq[:-1]))
        dseq = (seq - prev_seq + (1 << 31)) % (1 << 32) - (1 << 31)
        jump = (t - prev_t) - np.round(dseq * 1e6 / rate).astype(np.int64)
        # a counter that went back restarted (see _place): that is no clock jump
        flagged = (np.abs(jump) > _jump_tolerance_us(rate)) & (dseq >= 0)
        self._last_t_us = int(t[-1])
        self._last_wire_for_t = int(seq[-1])
        if flagged.any():
            corr = self._clock_corr_us - np.cumsum(np.where(flagged, jump, 0))
            for i in np.flatnonzero(flagged).tolist():
                self._events.append(DeviceEvent("clock_jump", -1, time.time(), int(jump[i]),
                                                "device clock jumped; corrected from the "
                                                "sample counter"))
            self._clock_corr_us = int(corr[-1])
            run.t_us = t + corr
        elif self._clock_corr_us:
            run.t_us = t + self._clock_corr_us


    def _add_gap(self, n_missing: int) -> None:
        if n_missing <= 0:
            return
        self._gap_pending += n_missing
        self._next_seq += n_missing
        self.stats.dropped_samples += n_missing
        self.stats.gaps += 1

    def _first_frame_after_start(self, run: DataRun) -> None:
        """Align the unwrapped counter at the first DATA frame after START (or a reconnect)."""
        rate = self.info.rate_hz
        wire0 = int(run.seq[0])
        missing = 0
        if self._t_start_us is not None:
            # Samples since START that never arrived (the first frames were lost).
            missing = int(round((int(run.t_us[0]) - self._t_start_us) * 1e-6 * rate))
            # More samples than could have been taken since START (host time of the START
            # reply's device time, plus a frame and some slack) cannot have been lost.
            t_host_start = float(self.clock.to_host(self._t_start_us * 1e-6))
            bound = (time.time() - t_host_start + 0.05) * rate + 16
            if not 0 <= missing <= bound:
                # Streaming starts at once: a first frame seconds away from START (or before
                # it) means the device clock jumped in between, not that data was lost.
                self._events.append(DeviceEvent("clock_jump", -1, time.time(), 0,
                                                "device clock jumped at START"))
                missing = 0
        if self._pending_gap_from_host is not None:
            # Samples not acquired while the plate was unplugged.
            t_host0 = float(self.clock.to_host(int(run.t_us[0]) * 1e-6))
            missing += max(0, int(round((t_host0 - self._pending_gap_from_host) * rate)))
            self._pending_gap_from_host = None
        self._next_wire_seq = (wire0 - max(missing, 0)) % (1 << 32)
        self._t_start_us = None


    def _emit(self, run: DataRun, a: int, b: int, samples: np.ndarray, n: int) -> None:
        self._emit_samples(int(run.t_us[a]), int(run.status[a]), samples[a * n:b * n])

    def _emit_samples(self, t_us: int, status: int, samples: np.ndarray) -> None:
        """One Block of contiguous samples from ``_block_seq0``: the first one's device time
        ``t_us`` (µs, jump-corrected) and the frames' status."""
        t_dev_s = float(t_us) * 1e-6
        seq0 = self._block_seq0
        block_n = samples.shape[0]
        blk = Block(
            seq=seq0,
            t_device_s=t_dev_s,
            t_host_s=float(self.clock.to_host(t_dev_s)),
            samples=samples,
            status=status,
            gap_before=self._gap_pending,
        )
        self._gap_pending = 0
        if status & ST_OVERFLOW:
            self._events.append(DeviceEvent("overflow_status", seq0, time.time()))
        self._blocks.append(blk)
        self._last_host_end = blk.t_host_s + block_n / self.info.rate_hz
        self._block_seq0 = seq0 + block_n
