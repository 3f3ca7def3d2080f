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


def contradicted_by_clock(
    seq: np.ndarray,
    t_us: np.ndarray,
    reference: tuple[int, int, int] | None,
    n_per_frame: int,
    period_us: float,
    tolerance_us: float,
    seq_modulus: int,
    t_modulus: int | None,
) -> np.ndarray:
    """Which frames carry a sequence number their own device time contradicts.

    Parameters
    ----------
    seq, t_us : ndarray of int
        Wire sequence numbers (first sample of each frame) and device times in µs, in arrival
        order.
    reference : tuple of int or None
        ``(seq, t_us, n)`` of the last good frame before these, or None (then the first frame
        is taken as good and judges the others).
    n_per_frame : int
        Samples per frame of these frames.
    period_us : float
        Sample period in µs.
    tolerance_us : float
        How far the time step may stray from the step the counter claims, in µs.
    seq_modulus : int
        Where the wire counter wraps (2^32, 2^16).
    t_modulus : int or None
        Where the device clock wraps in µs (2^32), None when it does not (a 64-bit clock).

    Returns
    -------
    ndarray of bool
        True for frames to drop: the time step continues the last good frame (within the
        tolerance) while the counter step disagrees with it by more than the tolerance. Each
        frame is judged against the last good frame before it, so one damaged frame never
        condemns its neighbours.
    """
    seq = np.asarray(seq, dtype=np.int64)
    t_us = np.asarray(t_us, dtype=np.int64)
    k = len(seq)
    bad = np.zeros(k, dtype=bool)
    if k == 0:
        return bad
    first = 0
    if reference is None:
        reference, first = (int(seq[0]), int(t_us[0]), n_per_frame), 1

    def wild(dseq: np.ndarray, dt: np.ndarray, n_prev: np.ndarray) -> np.ndarray:
        dseq = (dseq + seq_modulus // 2) % seq_modulus - seq_modulus // 2
        if t_modulus is not None:
            dt = (dt + t_modulus // 2) % t_modulus - t_modulus // 2
        return (np.abs(dt - n_prev * period_us) <= tolerance_us) & \
            (np.abs(dseq * period_us - dt) > tolerance_us)

    # The usual case, at NumPy speed: every frame against the one before it.
    ref_seq, ref_t, ref_n = reference
    n_prev = np.full(k, n_per_frame, dtype=np.int64)
    n_prev[0] = ref_n
    suspect = wild(seq - np.concatenate(([ref_seq], seq[:-1])),
                   t_us - np.concatenate(([ref_t], t_us[:-1])), n_prev)
    if not suspect[first:].any():
        return bad
    # A suspect: judge frame by frame against the last good one.
    for i in range(first, k):
        if wild(np.int64(seq[i] - ref_seq), np.int64(t_us[i] - ref_t), np.int64(ref_n)):
            bad[i] = True
            continue
        ref_seq, ref_t, ref_n = int(seq[i]), int(t_us[i]), n_per_frame
    return bad
