"""Sequence numbers the device clock contradicts: one rule for every protocol with both.

A frame (FPB1: one DATA frame of ``n`` samples; INS1: one sample) carries a sequence number and
a device time stamp. Three things can make them move unexpectedly, and the pair tells which:

- frames were lost: the counter and the clock jump together (a real gap, kept);
- the device clock jumped: the clock steps, the counter continues (a clock jump, kept and
  corrected by the driver);
- the frame was damaged in a way its checksum did not catch (a CRC-16 passes one damaged
  frame in 65,536): the clock continues the previous frame, the counter jumps. Trusting that
  counter would turn every later frame into a "duplicate" or insert a gap of minutes, so the
  frame is dropped and counted (``LinkStats.corrupt_frames``); its own samples become an
  explicit gap and nothing else is lost.
"""

from __future__ import annotations

import numpy as np

#: Consecutive frames that agree with each other but not with the last good frame, after which
#: they are taken as a new time line rather than as damaged.
CONFIRM_FRAMES = 3


class SequenceCheck:
    """Judges each frame's sequence number by its device time, across calls.

    Parameters
    ----------
    seq_modulus : int
        Where the wire counter wraps (2^32, 2^16).
    t_modulus : int or None
        Where the device clock wraps in µs (2^32), None when it does not (a 64-bit clock).

    Notes
    -----
    :meth:`judge` returns the frames to drop: their counter step from the last good frame is
    not the plain continuation (``n`` samples of that frame; a clock step then is a clock jump,
    the driver's business) and disagrees with their clock step by more than the tolerance.
    Each frame is judged against the last good frame before it, so one damaged frame never
    condemns its neighbours. With no good frame yet (after :meth:`reset`), the first frame that
    its successor agrees with is the judge; the frames before it stay only if they agree with
    it. :data:`CONFIRM_FRAMES` condemned frames in a row that agree with each other start a new
    time line (the clock jumped while frames were lost), so a stale reference never condemns a
    whole stream.
    """

    def __init__(self, seq_modulus: int, t_modulus: int | None) -> None:
        self.seq_modulus = int(seq_modulus)
        self.t_modulus = t_modulus
        self.reset()

    def reset(self) -> None:
        """Forget the last good frame (START, reboot, reconnect: the counters restart)."""
        self._ref: tuple[int, int, int] | None = None  # seq, t_us, n of the last good frame
        self._run: list[tuple[int, int]] = []  # condemned in a row, agreeing with each other

    def continued_from(self, n_per_frame: int) -> int | None:
        """The sequence number of the last good frame when frames of ``n_per_frame`` samples
        that continue it need no judging (no condemned frames pending), else None."""
        ref = self._ref
        if ref is None or self._run or ref[2] != n_per_frame:
            return None
        return ref[0]

    def advance(self, seq: int, t_us: int, n_per_frame: int) -> None:
        """Frames continuing the last good frame, up to this one, were let through without
        judging (see :meth:`continued_from`): it is the last good frame now."""
        self._ref = (seq, t_us, n_per_frame)

    def _steps(self, dseq: np.ndarray, dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = self.seq_modulus
        dseq = (dseq + m // 2) % m - m // 2
        if self.t_modulus is not None:
            dt = (dt + self.t_modulus // 2) % self.t_modulus - self.t_modulus // 2
        return dseq, dt

    def judge(self, seq: np.ndarray, t_us: np.ndarray, n_per_frame: int, period_us: float,
              tolerance_us: float) -> np.ndarray:
        """Which of these frames (in arrival order) carry a sequence number their own device
        time contradicts.

        Parameters
        ----------
        seq, t_us : ndarray of int
            Wire sequence numbers (first sample of each frame) and device times in µs.
        n_per_frame : int
            Samples per frame.
        period_us : float
            Sample period in µs.
        tolerance_us : float
            How far the clock step may stray from the step the counter claims, in µs.

        Returns
        -------
        ndarray of bool
            True for the frames to drop.
        """
        seq = np.asarray(seq, dtype=np.int64)
        t_us = np.asarray(t_us, dtype=np.int64)
        k = len(seq)
        bad = np.zeros(k, dtype=bool)
        if k == 0:
            return bad

        def disagree(dseq: np.ndarray, dt: np.ndarray) -> np.ndarray:
            dseq, dt = self._steps(dseq, dt)
            return np.abs(dseq * period_us - dt) > tolerance_us

        def wild(dseq: np.ndarray, dt: np.ndarray, n_prev: np.ndarray) -> np.ndarray:
            return (self._steps(dseq, dt)[0] != n_prev) & disagree(dseq, dt)

        if self._ref is not None and not self._run and self._ref[2] == n_per_frame:
            # The usual case, in a few operations: every frame continues the one before it
            # (counter step = its sample count, so none can be wild whatever its clock says).
            if seq[0] - self._ref[0] == n_per_frame and (
                    seq[1:] - seq[:-1] == n_per_frame).all():
                self._ref = (int(seq[-1]), int(t_us[-1]), n_per_frame)
                return bad
        first = 0
        if self._ref is None:
            confirmed = np.flatnonzero(~disagree(seq[1:] - seq[:-1], t_us[1:] - t_us[:-1]))
            first = int(confirmed[0]) if len(confirmed) else 0
            bad[:first] = disagree(seq[first] - seq[:first], t_us[first] - t_us[:first])
            self._ref = (int(seq[first]), int(t_us[first]), n_per_frame)
            first += 1
        ref_seq, ref_t, ref_n = self._ref
        if first < k:
            # The usual case, at NumPy speed: every frame against the one before it.
            s, t = seq[first:], t_us[first:]
            n_prev = np.full(len(s), n_per_frame, dtype=np.int64)
            n_prev[0] = ref_n
            suspect = wild(s - np.concatenate(([ref_seq], s[:-1])),
                           t - np.concatenate(([ref_t], t[:-1])), n_prev)
            if not suspect.any() and not self._run:
                self._ref = (int(seq[-1]), int(t_us[-1]), n_per_frame)
                return bad
        for i in range(first, k):
            si, ti = int(seq[i]), int(t_us[i])
            if not wild(np.int64(si - ref_seq), np.int64(ti - ref_t), np.int64(ref_n)):
                ref_seq, ref_t, ref_n = si, ti, n_per_frame
                self._run = []
                continue
            bad[i] = True
            if self._run and disagree(np.int64(si - self._run[-1][0]),
                                      np.int64(ti - self._run[-1][1])):
                self._run = []
            self._run.append((si, ti))
            if len(self._run) >= CONFIRM_FRAMES:  # a new time line: keep what is still here
                back = min(i + 1 - first, CONFIRM_FRAMES)
                bad[i + 1 - back:i + 1] = False
                ref_seq, ref_t, ref_n = si, ti, n_per_frame
                self._run = []
        self._ref = (ref_seq, ref_t, ref_n)
        return bad
