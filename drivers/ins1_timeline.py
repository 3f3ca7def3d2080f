"""INS1 SAMPLE frames -> Blocks: sequence and clock unwrap, gaps, clock jumps, corrupted samples.

:class:`SampleTimeline` is the part of :class:`~forcelab.drivers.ins1.Ins1Device` that turns
the SAMPLE payloads of one read into :class:`~forcelab.drivers.base.Block` objects:

- samples whose sequence number the device clock contradicts are dropped and counted
  (:class:`~forcelab.drivers.sequence.SequenceCheck`, ``stats.corrupt_frames``);
- duplicated or out-of-order samples are dropped (``stats.duplicates``);
- the 16-bit counter and the 32-bit µs clock are unwrapped (a gap longer than 65,536 samples is
  measured by the clock), device clock jumps are removed and reported as ``clock_jump`` events;
- after a reboot or a reconnect the counters restarted: the gap is the host time between the
  last sample before and the first after;
- pressures become kPa, the Σ p·A cross-check flags a force mismatch, blocks split at gaps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from forcelab.drivers._frames import ins1_usual_read
from forcelab.drivers.base import Block, DeviceEvent, LinkStats
from forcelab.drivers.clock import ClockFit
from forcelab.drivers.protocols.ins1 import (
    MISMATCH_TOLERANCE_N,
    MISMATCH_TOLERANCE_REL,
    SAMPLE,
    SAMPLE_DTYPE,
    SAMPLE_SIZE,
    STATUS_FORCE_MISMATCH,
    Ins1Codec,
    Ins1Info,
    SampleRun,
    force_from_pressures,
    force_mismatch,
    samples_to_physical,
)
from forcelab.drivers.sequence import SequenceCheck


def _jump_tolerance_us(period_us: float) -> float:
    """How far (µs) a sample's device time may stray from what its counter says before it
    counts as a clock jump: half a sample period, at least 2 ms."""
    return max(0.5 * period_us, 2000.0)


@dataclass
class Ins1Stats(LinkStats):
    """LinkStats plus INS1 counters: ``duplicates`` (repeated seq dropped), ``force_mismatch``
    (samples whose Σ p·A disagrees with the device total), ``sensor_faults`` (samples with a
    faulty sensor), ``clock_jumps`` (device clock discontinuities), ``time_syncs``."""

    duplicates: int = 0
    force_mismatch: int = 0
    sensor_faults: int = 0
    clock_jumps: int = 0
    time_syncs: int = 0


class SampleTimeline:
    """SAMPLE payloads -> Blocks for an INS1 insole (mixed into :class:`Ins1Device`, which owns
    the state it reads: ``ins1_info``, ``stats``, ``clock``, the pending samples and events)."""

    ins1_info: Ins1Info
    stats: Ins1Stats
    clock: ClockFit
    codec: Ins1Codec
    _area_mm2: np.ndarray
    _sensor_weights: np.ndarray  # N per kPa of each sensor (sensor_weights of _area_mm2)
    _samples: list[SampleRun]
    _n_samples: int
    _samples_since: float | None
    _events: list[DeviceEvent]

    def _reset_stream_state(self) -> None:
        self._seq_check = SequenceCheck(1 << 16, 1 << 32)  # u16 counter, u32 µs clock
        self._seq_last16: int | None = None
        self._seq_unwrapped = -1
        self._t_last_raw: int | None = None
        self._t_last_us = 0  # unwrapped, jump-corrected device time of the last sample (µs)
        self._t_corr_us = 0
        self._gap_from_host = False
        self._t_host_last: float | None = None

    def _clear_samples(self) -> None:
        self._samples = []
        self._n_samples = 0
        self._samples_since = None

    def _make_blocks(self) -> list[Block]:
        runs, n = self._samples, self._n_samples
        self._clear_samples()
        raw = runs[0].records if len(runs) == 1 else b"".join([r.records for r in runs])
        if len(raw) != SAMPLE_SIZE * n:  # SAMPLE frames of the wrong size: not samples
            good = b"".join([r.records for r in runs if len(r.records) == SAMPLE_SIZE * r.count])
            self.stats.bytes_discarded += len(raw) - len(good)
            raw = good
        if not raw:
            return []
        rate = float(self.ins1_info.rate_hz)
        period_us = 1e6 / rate
        arr = np.frombuffer(raw, dtype=SAMPLE_DTYPE)
        arr = self._drop_wild_seq(arr, period_us)
        if len(arr) == 0:  # the only samples were condemned (counted in corrupt_frames)
            return []
        seq16 = arr["seq"].astype(np.int64)
        t_raw = arr["t_dev_us"].astype(np.int64)
        cont = self._continuation(seq16, t_raw, period_us)
        if cont is not None:
            seq, t_us = cont
            return self._to_blocks(arr, seq16, t_raw, seq, t_us, None, None)
        # Drop duplicated / out-of-order samples (step 0 or "backwards").
        prev = self._seq_last16
        keep = np.ones(len(arr), dtype=bool)
        for _ in range(4):
            idx = np.flatnonzero(keep)
            s = seq16[idx]
            ref = np.concatenate(([prev if prev is not None else s[0] - 1], s[:-1]))
            step = (s - ref) % 65536
            bad = (step == 0) | (step > 32768)
            if not bad.any():
                break
            keep[idx[bad]] = False
        n_dup = int((~keep).sum())
        self.stats.duplicates += n_dup
        arr = arr[keep]
        if len(arr) == 0:
            return []
        seq16 = arr["seq"].astype(np.int64)
        t_raw = arr["t_dev_us"].astype(np.int64)
        nominal_us = int(round(period_us))
        seq_anchor = self._seq_last16 is None
        time_anchor = self._t_last_raw is None
        ref_seq = int(seq16[0]) - 1 if seq_anchor else self._seq_last16
        if seq_anchor and self._seq_unwrapped < 0:
            self._seq_unwrapped = int(seq16[0]) - 1  # Block.seq starts at the device's number
        ref_t = int(t_raw[0]) - nominal_us if time_anchor else self._t_last_raw
        step = np.diff(np.concatenate(([ref_seq], seq16))) % 65536
        dt = np.diff(np.concatenate(([ref_t], t_raw))) % (1 << 32)
        dt = np.where(dt >= 1 << 31, dt - (1 << 32), dt)
        # A gap longer than 65536 samples wraps the counter: trust the device clock's multiple.
        extra = np.round((dt / period_us - step) / 65536.0).astype(np.int64)
        extra = np.where(step > 1, np.maximum(extra, 0), 0)
        step = step + 65536 * extra
        if self._gap_from_host and self._t_host_last is not None:
            # After a reconnect or reboot the device counters restarted: the gap is the host
            # time between the last sample before and the first sample after.
            t_host_first = float(self.clock.to_host((int(t_raw[0]) + self._t_corr_us) * 1e-6))
            missing = max(0, int(round((t_host_first - self._t_host_last) * rate)) - 1)
            step[0] = missing + 1
        self._gap_from_host = False
        # Device clock jumps: a time step that disagrees with the sequence step.
        jump = dt - step * period_us
        is_jump = np.abs(jump) > _jump_tolerance_us(period_us)
        if time_anchor:
            is_jump[0] = False
        if is_jump.any():
            self.stats.clock_jumps += int(is_jump.sum())
            for k in np.flatnonzero(is_jump):
                self._events.append(DeviceEvent(
                    "clock_jump", -1, time.time(), int(jump[k]),
                    f"device clock of the {self.ins1_info.side} insole jumped "
                    f"{jump[k] * 1e-3:+.1f} ms"))
        corr = -np.cumsum(np.where(is_jump, np.round(jump), 0)).astype(np.int64)
        t0 = int(t_raw[0]) + self._t_corr_us - int(dt[0]) if time_anchor else self._t_last_us
        t_us = t0 + np.cumsum(dt) + corr
        seq = self._seq_unwrapped + np.cumsum(step)
        gaps = step - 1
        return self._to_blocks(arr, seq16, t_raw, seq, t_us, gaps, is_jump)

    def _usual_read(self) -> Block | None:
        """The usual read in one compiled call (:func:`~forcelab.drivers._frames.ins1_usual_read`):
        the codec holds whole SAMPLE frames, every sample continuing the one before it (counter
        + 1, clock step one period within the jump tolerance, no reconnect gap pending), and at
        most the start of the next frame; no samples are held from an earlier read. Takes them
        from the codec, moves the state as the scanner, the sequence judge,
        :meth:`_continuation` and :meth:`_to_blocks` would and returns their Block; None
        (nothing changed) sends the bytes down the general path."""
        ref_seq = self._seq_check.continued_from(1)
        if ref_seq is None or self._seq_last16 is None or self._t_last_raw is None or \
                self._gap_from_host or self._samples or self.codec.lost:
            return None
        info = self.ins1_info
        period_us = 1e6 / float(info.rate_hz)
        usual = ins1_usual_read(self.codec.buffer, SAMPLE, ref_seq, self._seq_last16,
                                self._t_last_raw, period_us, _jump_tolerance_us(period_us),
                                info.p_lsb_kpa, info.acc_lsb_g, info.gyr_lsb_dps,
                                self._sensor_weights, MISMATCH_TOLERANCE_N,
                                MISMATCH_TOLERANCE_REL)
        if usual is None:
            return None
        (consumed, k, examined, values, seq_last16, t_last_raw, since_first_us, since_last_us,
         n_mismatch, n_faults, status) = usual
        self.codec.take(consumed, k, examined)
        self.stats.frames = self.codec.frames
        self._seq_check.advance(seq_last16, t_last_raw, 1)
        seq0 = self._seq_unwrapped + 1
        t_first_us = self._t_last_us + since_first_us
        # state, as _to_blocks moves it
        self._seq_last16 = seq_last16
        self._seq_unwrapped += k
        self._t_last_raw = t_last_raw
        self._t_last_us = self._t_last_us + since_last_us
        self._t_corr_us = int(self._t_last_us - self._t_last_raw)
        self.stats.force_mismatch += n_mismatch
        self.stats.sensor_faults += n_faults
        if n_mismatch:
            status |= STATUS_FORCE_MISMATCH
        t_dev_s = float(t_first_us) * 1e-6
        block = Block(seq=seq0, t_device_s=t_dev_s, t_host_s=float(self.clock.to_host(t_dev_s)),
                      samples=values, status=status, gap_before=0)
        self._t_host_last = block.t_host_s + (k - 1) / float(info.rate_hz)
        return block

    def _continuation(self, seq16: np.ndarray, t_raw: np.ndarray,
                      period_us: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The usual case in a few operations: every sample continues the one before (counter
        step 1, clock step one period within the jump tolerance, no reconnect gap pending).
        Returns the unwrapped (seq, t_us), or None when the general path must decide."""
        if self._seq_last16 is None or self._t_last_raw is None or self._gap_from_host:
            return None
        if (seq16[0] - self._seq_last16) % 65536 != 1 or not (
                (seq16[1:] - seq16[:-1]) % 65536 == 1).all():
            return None
        # device time since the last sample, unwrapped (a block spans far less than 2^32 µs)
        since_us = (t_raw - self._t_last_raw) % (1 << 32)
        tol_us = _jump_tolerance_us(period_us)
        if abs(since_us[0] - period_us) > tol_us or (
                np.abs(since_us[1:] - since_us[:-1] - period_us) > tol_us).any():
            return None
        return self._seq_unwrapped + np.arange(1, len(seq16) + 1), self._t_last_us + since_us

    def _to_blocks(self, arr: np.ndarray, seq16: np.ndarray, t_raw: np.ndarray,
                   seq: np.ndarray, t_us: np.ndarray, gaps: np.ndarray | None,
                   is_jump: np.ndarray | None) -> list[Block]:
        """Samples on the unwrapped axis -> Blocks split at gaps and clock jumps (None: there
        are none); updates the unwrapping state."""
        rate = float(self.ins1_info.rate_hz)
        # update state
        self._seq_last16 = int(seq16[-1])
        self._seq_unwrapped = int(seq[-1])
        self._t_last_raw = int(t_raw[-1])
        self._t_last_us = int(t_us[-1])
        self._t_corr_us = int(self._t_last_us - self._t_last_raw)
        # physics
        info = self.ins1_info
        values = samples_to_physical(arr, info.p_lsb_kpa, info.acc_lsb_g, info.gyr_lsb_dps)
        f_sum = force_from_pressures(values[:, 3:19], self._area_mm2)
        mismatch = force_mismatch(values[:, 0], f_sum)
        self.stats.force_mismatch += int(mismatch.sum())
        fault = np.isnan(values[:, 3:19]).any(axis=1)
        self.stats.sensor_faults += int(fault.sum())
        flags = arr["flags"].astype(np.int64) | np.where(mismatch, STATUS_FORCE_MISMATCH, 0)
        # split at gaps and jumps
        if gaps is None or is_jump is None:
            bounds = [0, len(arr)]
        else:
            cuts = np.flatnonzero((gaps > 0) | is_jump)
            cuts = cuts[cuts > 0]
            bounds = np.concatenate(([0], cuts, [len(arr)])).tolist()
        blocks = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            t_dev_s = float(t_us[a]) * 1e-6
            g = 0 if gaps is None else int(gaps[a])
            if g:
                self.stats.dropped_samples += g
                self.stats.gaps += 1
            blocks.append(
                Block(
                    seq=int(seq[a]),
                    t_device_s=t_dev_s,
                    t_host_s=float(self.clock.to_host(t_dev_s)),
                    samples=values[a:b],
                    status=int(np.bitwise_or.reduce(flags[a:b])),
                    gap_before=g,
                )
            )
        last = blocks[-1]
        self._t_host_last = last.t_host_s + (last.n - 1) / rate
        return blocks

    def _drop_wild_seq(self, arr: np.ndarray, period_us: float) -> np.ndarray:
        """Drop (and count in ``stats.corrupt_frames``) the samples whose sequence number the
        device clock contradicts (:class:`~forcelab.drivers.sequence.SequenceCheck`)."""
        bad = self._seq_check.judge(arr["seq"], arr["t_dev_us"], 1, period_us,
                                    _jump_tolerance_us(period_us))
        self.stats.corrupt_frames += int(bad.sum())
        return arr[~bad] if bad.any() else arr
