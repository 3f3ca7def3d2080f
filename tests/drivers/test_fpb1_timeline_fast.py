"""The FPB1 timeline's compiled usual read gives exactly what the general path gives: the same
Blocks (bit for bit), events, counters and state, on streams with gaps, duplicates, wild
sequence numbers, clock jumps, status changes, damaged bytes and counter wraps."""

from __future__ import annotations

import dataclasses
import struct
from types import SimpleNamespace

import numpy as np
from forcelab.drivers.base import LinkStats
from forcelab.drivers.clock import ClockFit
from forcelab.drivers.fpb1_timeline import DataTimeline
from forcelab.drivers.protocols import fpb1
from forcelab.drivers.sequence import SequenceCheck
from forcelab.drivers.sim.fpb1_sim import make_calibration
from hypothesis import given, settings
from hypothesis import strategies as st

RATE_HZ = 2000
SPF = 8


class Timeline(DataTimeline):
    """The state FPB1Device gives its DataTimeline, without a port."""

    def __init__(self, usual: bool, fmt: int = fpb1.FMT_RAW) -> None:
        self.info = SimpleNamespace(rate_hz=float(RATE_HZ))
        self.stats = LinkStats()
        self.clock = ClockFit(keep=512, n_bins=8, min_span_s=10.0)
        for k in range(5):
            self.clock.add(1.7e9 + k, 1.7e9 + k + 0.001, 100.0 + k)
        cal = make_calibration(0)
        self.calibration = cal
        self._counts_to_loads_t = (cal.matrix * cal.mvv_per_count[None, :]).T.copy()
        self.cop_threshold_n = 20.0
        self.duplicates = 0
        self.protocol_errors = 0
        self._events = []
        self._blocks = []
        self._next_wire_seq = None
        self._next_seq = 0
        self._last_host_end = None
        self._seq_check = SequenceCheck(1 << 32, None)
        self.codec = fpb1.FPB1Codec()
        self.spf = SPF
        self.fmt = fmt
        self.usual = usual
        self.usual_reads = 0

    def read(self, data: bytes) -> None:
        """What FPB1Device._pump does with the bytes of one read."""
        self.codec.push(data)
        if self.usual and self._usual_read():
            self.usual_reads += 1
            return
        items, malformed = self.codec.scan(b"")
        assert malformed == 0
        for run in items:
            self._on_run(run)

    def state(self) -> tuple:
        return (self._next_wire_seq, self._next_seq, self._last_t_us, self._last_wire_for_t,
                self._clock_corr_us, self._gap_pending, self._seq_check._ref,
                self._seq_check._run, self._last_host_end, self.duplicates,
                dataclasses.astuple(self.stats), self.codec.frames, self.codec.crc_errors,
                self.codec.resyncs, self.codec.bytes_discarded, bytes(self.codec.buffer))


def data_frame(seq: int, t_us: int, status: int, counts: np.ndarray,
               fmt: int = fpb1.FMT_RAW) -> bytes:
    """A DATA frame: raw counts, or (calibrated format) the counts / 1000 as float32 loads."""
    values = counts.astype("<i4") if fmt == fpb1.FMT_RAW else (counts * 1e-3).astype("<f4")
    payload = struct.pack("<IQBBH", seq % (1 << 32), t_us, SPF, fmt, status) + values.tobytes()
    return fpb1.encode_frame(fpb1.DATA, payload)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**31), st.integers(0, 2**32 - 1),
       st.lists(st.sampled_from(["ok"] * 12 + ["gap", "dup", "wild", "jump", "status"]),
                min_size=1, max_size=80),
       st.lists(st.integers(1, 12), min_size=1, max_size=10), st.sampled_from([0, 0, 1, 7, 100]),
       st.one_of(st.just(0), st.integers(1, 10**6)), st.sampled_from([fpb1.FMT_RAW, fpb1.FMT_CAL]))
def test_usual_reads_give_what_the_general_path_gives(seed, seq0, events, reads, cut, damage,
                                                      fmt):
    rng = np.random.default_rng(seed)
    frames, seq, t_us, status = [], seq0, 5_000_000_000, 0
    step_us = SPF * 1_000_000 // RATE_HZ
    for what in events:
        if what == "gap":
            lost = int(rng.integers(1, 5))
            seq, t_us = seq + lost * SPF, t_us + lost * step_us
        elif what == "dup" and frames:
            frames.append(frames[-1])
            continue
        elif what == "jump":
            t_us += int(rng.integers(-2_000_000, 2_000_000))
        elif what == "status":
            status ^= 1 << int(rng.integers(0, 12))
        # a wild counter: one flipped bit, near the true one or far from it
        wild = (seq ^ (1 << int(rng.integers(0, 32)))) - seq if what == "wild" else 0
        counts = rng.integers(-300_000, 300_000, (SPF, 6))
        counts[:, 2] = rng.integers(-50_000, 3_000_000, SPF)  # loaded and unloaded (NaN COP)
        frames.append(data_frame(seq + wild, t_us, status, counts, fmt))
        seq, t_us = seq + SPF, t_us + step_us
    stream = b"".join(frames)
    if damage:
        stream = bytearray(stream)
        stream[damage % len(stream)] ^= 0x5A  # one byte hit on the line
        stream = bytes(stream)
    out, taken = {}, {}
    for usual in (True, False):
        tl = Timeline(usual, fmt)
        pos, k = 0, 0
        while pos < len(stream):  # reads of a few frames each, as the device gets them
            n = reads[k % len(reads)] * len(frames[0]) + cut
            tl.read(stream[pos:pos + n])
            pos, k = pos + n, k + 1
        blocks = [(b.seq, b.t_device_s, b.t_host_s, b.status, b.gap_before, b.samples.tobytes())
                  for b in tl._blocks]
        evs = [(e.kind, e.seq, e.arg) for e in tl._events]
        out[usual] = (blocks, evs, tl.state())
        taken[usual] = tl.usual_reads
    assert out[True] == out[False]
    assert taken[False] == 0
    if events.count("ok") == len(events) and len(frames) > 2 * max(reads) and not damage:
        assert taken[True] > 0  # the compiled path was the one taken


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**31), st.floats(-0.1, 0.1), st.floats(-0.1, 0.1),
       st.floats(-0.1, -0.001), st.floats(0.5, 100.0))
def test_loads_to_samples_is_the_numpy_formula_bit_for_bit(seed, a, b, c, threshold_n):
    rng = np.random.default_rng(seed)
    loads = rng.normal(0, 300, (64, 6))
    loads[::3, 2] = rng.uniform(-5, 2 * threshold_n + 1, len(loads[::3]))
    loads[5, 2] = threshold_n
    loads[7, 2] = np.nan
    got = fpb1.loads_to_samples(loads, np.array([a, b, c]), threshold_n)
    # the NumPy form the compiled kernel replaces
    want = np.empty((64, 9))
    want[:, :6] = loads
    fx, fy, fz, mx, my, mz = (want[:, j] for j in range(6))
    inv_fz = np.full(64, np.nan)
    np.divide(1.0, fz, out=inv_fz, where=fz >= threshold_n)
    x, y = want[:, 6], want[:, 7]
    np.multiply(my + c * fx, inv_fz, out=x)
    np.multiply(mx - c * fy, inv_fz, out=y)
    want[:, 8] = mz - x * fy + y * fx
    x += a
    y += b
    assert got.tobytes() == want.tobytes()


def test_counts_through_the_matrix_are_the_numpy_product_in_bridge_order_bit_for_bit():
    """The compiled samples of raw counts are exactly the NumPy product summed over the bridges
    in order (loads = Σ_c counts[:, c] · m[c], the int32 counts as doubles), then the NumPy form
    of loads_to_samples: many random runs, 24-bit and full int32 ranges, the plates' and random
    matrices; calibrated float32 loads are their doubles."""
    from forcelab.drivers._frames import fpb1_samples

    rng = np.random.default_rng(5)
    for trial in range(300):
        cal = make_calibration(trial % 7)
        m = (cal.matrix * cal.mvv_per_count[None, :]).T.copy()
        if trial % 3 == 0:
            m = rng.normal(0, 10.0 ** rng.integers(-6, 4), (6, 6))
        n = int(rng.integers(1, 300))
        hi = 1 << (31 if trial % 2 else 23)
        counts = rng.integers(-hi, hi, (n, 6)).astype("<i4")
        c64 = counts.astype(np.float64)
        loads = c64[:, :1] * m[0]
        for k in range(1, 6):
            loads = loads + c64[:, k:k + 1] * m[k]
        want = fpb1.loads_to_samples(loads, cal.origin_m, 20.0)
        got = fpb1_samples(counts.view(np.uint8).ravel(), fpb1.FMT_RAW, m,
                           *map(float, cal.origin_m), 20.0)
        assert got.tobytes() == want.tobytes()
        # BLAS sums in its own order: within the rounding of a six-term dot product
        assert (np.abs(got[:, :6] - counts @ m) <= 1e-14 * (np.abs(c64) @ np.abs(m))).all()
        f32 = (counts * 1e-3).astype("<f4")
        want = fpb1.loads_to_samples(f32.astype(np.float64), cal.origin_m, 20.0)
        got = fpb1_samples(f32.view(np.uint8).ravel(), fpb1.FMT_CAL, m,
                           *map(float, cal.origin_m), 20.0)
        assert got.tobytes() == want.tobytes()


def test_a_clock_jump_is_a_step_beyond_1_ms_and_2_sample_periods():
    """docs/protocols.md: a device clock that strays from the sample counter by at most 1 ms +
    2 sample periods (2000 µs at 2 kHz) is no jump; 1 µs more is one ``clock_jump`` event, in
    the usual read and the general path, and no frame is lost either way."""
    counts = np.arange(SPF * 6).reshape(SPF, 6)
    step_us = SPF * 1_000_000 // RATE_HZ
    for usual in (True, False):
        for delta, jumps in ((2000, []), (-2000, []), (2001, [2001]), (-2001, [-2001])):
            tl = Timeline(usual)
            for k in range(20):
                t_us = 1_000_000 + k * step_us + (delta if k >= 10 else 0)
                tl.read(data_frame(100 + k * SPF, t_us, 0, counts))
            assert [e.arg for e in tl._events if e.kind == "clock_jump"] == jumps
            assert sum(b.samples.shape[0] for b in tl._blocks) == 20 * SPF
            assert tl.stats.corrupt_frames == 0
            assert (tl.usual_reads > 0) == usual
