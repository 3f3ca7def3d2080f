"""The INS1 timeline's compiled usual read gives exactly what the general path gives: the same
Blocks (bit for bit), events, counters and state, on sample streams with gaps, duplicates,
wild sequence numbers, clock jumps, faulty sensors, damaged bytes and 16/32-bit wraps."""

from __future__ import annotations

import dataclasses

import numpy as np
from forcelab.drivers.clock import ClockFit
from forcelab.drivers.ins1_timeline import Ins1Stats, SampleTimeline
from forcelab.drivers.protocols import ins1
from forcelab.drivers.sim.ins1_sim import layout_for
from hypothesis import given, settings
from hypothesis import strategies as st

RATE_HZ = 200


class Timeline(SampleTimeline):
    """The state Ins1Device gives its SampleTimeline, without a port."""

    def __init__(self, usual: bool) -> None:
        self.ins1_info = ins1.Ins1Info("left", 7, 40, "SN", "1.0", 16, RATE_HZ, 2.5, 1 / 4096,
                                       0.1)
        self.stats = Ins1Stats()
        self.clock = ClockFit()
        for k in range(5):
            self.clock.add(1.7e9 + k, 1.7e9 + k + 0.001, 100.0 + k, 100.0 + k)
        self._area_mm2 = np.array([s["area_mm2"] for s in layout_for("left")], dtype=float)
        self._sensor_weights = ins1.sensor_weights(self._area_mm2)
        self._events = []
        self._clear_samples()
        self._reset_stream_state()
        self.codec = ins1.Ins1Codec()
        self.usual = usual
        self.usual_reads = 0

    def read(self, data: bytes) -> list:
        """What a gathered Ins1Device.read does with its bytes."""
        self.codec.push(data)
        if self.usual and (block := self._usual_read()) is not None:
            self.usual_reads += 1
            return [block]
        for fr in self.codec.scan(b""):
            if type(fr) is ins1.Frame:
                assert fr.type == ins1.SAMPLE  # a SAMPLE of the wrong size: dropped below
                fr = ins1.SampleRun(fr.payload, 1)
            self._samples.append(fr)
            self._n_samples += fr.count
        self.stats.frames = self.codec.frames
        return self._make_blocks() if self._samples else []

    def state(self) -> tuple:
        c = self.codec
        return (self._seq_last16, self._seq_unwrapped, self._t_last_raw, self._t_last_us,
                self._t_corr_us, self._t_host_last, self._seq_check._ref,
                self._seq_check._run, dataclasses.astuple(self.stats), c.frames, c.crc_errors,
                c.resyncs, c.bytes_discarded, c.bytes_examined, bytes(c.buffer))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**31), st.integers(0, 65535), st.integers(0, 2**32 - 1),
       st.lists(st.sampled_from(["ok"] * 12 + ["gap", "dup", "wild", "jump", "fault"]),
                min_size=1, max_size=80),
       st.lists(st.integers(1, 6), min_size=1, max_size=10), st.sampled_from([0, 0, 1, 3, 40]),
       st.one_of(st.just(0), st.integers(1, 10**6)))
def test_usual_reads_give_what_the_general_path_gives(seed, seq0, t0, events, reads, cut,
                                                      damage):
    rng = np.random.default_rng(seed)
    rows = []
    seq, t_us = seq0, t0
    for what in events:
        if what == "gap":
            lost = int(rng.integers(1, 5))
            seq, t_us = seq + lost, t_us + lost * 5000
        elif what == "dup" and rows:
            rows.append(rows[-1].copy())
            continue
        elif what == "jump":
            t_us += int(rng.integers(-2_000_000, 2_000_000))
        r = np.zeros(1, ins1.SAMPLE_DTYPE)
        r["side"] = ord("L")
        # a wild counter: one flipped bit, near (+-1) or far from the true one
        r["seq"] = (seq ^ (1 << int(rng.integers(0, 16))) if what == "wild" else seq) % 65536
        r["t_dev_us"] = t_us % (1 << 32)
        r["p"] = rng.integers(0, 400, 16)
        if what == "fault":
            r["p"][0, int(rng.integers(0, 16))] = ins1.SENSOR_FAULT
        r["acc"] = rng.integers(-8000, 8000, 3)
        r["gyr"] = rng.integers(-3000, 3000, 3)
        r["f_total"] = rng.integers(0, 4000)
        r["cop"] = rng.integers(-5000, 5000, 2)
        r["battery_pct"] = 80
        r["flags"] = int(rng.integers(0, 4))
        rows.append(r)
        seq, t_us = seq + 1, t_us + 5000
    stream = b"".join(ins1.encode_frame(ins1.SAMPLE, r.tobytes()) for r in rows)
    if damage:
        stream = bytearray(stream)
        stream[damage % len(stream)] ^= 0x49  # one byte hit on the line
        stream = bytes(stream)
    frame_size = ins1.FRAME_OVERHEAD + ins1.SAMPLE_SIZE
    out, taken = {}, {}
    for usual in (True, False):
        tl = Timeline(usual)
        blocks, pos, k = [], 0, 0
        while pos < len(stream):  # reads of a few samples, as the port hands them over
            n = reads[k % len(reads)] * frame_size + cut
            blocks += tl.read(stream[pos:pos + n])
            pos, k = pos + n, k + 1
        out[usual] = ([(b.seq, b.t_device_s, b.t_host_s, b.status, b.gap_before,
                        b.samples.tobytes()) for b in blocks],
                      [(e.kind, e.seq, e.arg) for e in tl._events], tl.state())
        taken[usual] = tl.usual_reads
    assert out[True] == out[False]
    assert taken[False] == 0
    if events.count("ok") == len(events) and len(rows) > 2 * max(reads) and not damage:
        assert taken[True] > 0  # the compiled path was the one taken


def test_samples_to_physical_is_the_numpy_formula_bit_for_bit():
    rng = np.random.default_rng(4)
    s = np.zeros(300, ins1.SAMPLE_DTYPE)
    for name in ("p", "acc", "gyr", "f_total", "cop"):
        info = np.iinfo(s[name].dtype)
        s[name] = rng.integers(info.min, info.max + 1, s[name].shape)
    s["p"][::7, 3] = ins1.SENSOR_FAULT
    for lsb in ((2.5, 1 / 4096, 0.1), (0.3, 1e-3, 0.07)):
        got = ins1.samples_to_physical(s, *lsb)
        want = np.empty((len(s), ins1.N_COLUMNS))
        want[:, 0] = s["f_total"] * ins1.F_TOTAL_LSB_N
        want[:, 1:3] = s["cop"] * ins1.COP_LSB
        p = s["p"].astype(np.float64) * lsb[0]
        p[s["p"] == ins1.SENSOR_FAULT] = np.nan
        want[:, 3:19] = p
        want[:, 19:22] = s["acc"] * lsb[1]
        want[:, 22:25] = s["gyr"] * lsb[2]
        assert got.tobytes() == want.tobytes()


def test_block_checks_are_the_numpy_formulas_exactly():
    """The compiled per-block checks count the same force mismatches and sensor faults and OR
    the same flags as the NumPy forms, on many random blocks: quantised totals, sums exactly
    at, just inside and just outside the tolerance, NaN sums (faulty sensors), all flags."""
    from forcelab.drivers._frames import ins1_block_checks

    rng = np.random.default_rng(11)
    area = np.array([s["area_mm2"] for s in layout_for("left")], dtype=float)
    n_mismatch_seen = 0
    for trial in range(400):
        k = int(rng.integers(1, 40))
        s = np.zeros(k, ins1.SAMPLE_DTYPE)
        s["f_total"] = rng.integers(0, 65536 if trial % 2 else 3000, k)
        s["p"] = rng.integers(0, 600, (k, 16))
        s["p"][rng.random((k, 16)) < 0.01] = ins1.SENSOR_FAULT
        s["flags"] = rng.integers(0, 256, k)
        values = ins1.samples_to_physical(s, 2.5, 1 / 4096, 0.1)
        f_sum = ins1.force_from_pressures(values[:, 3:19], area)
        # sums placed on the tolerance edge: exactly at it, one ulp either side
        tol = np.maximum(ins1.MISMATCH_TOLERANCE_N,
                         ins1.MISMATCH_TOLERANCE_REL * np.abs(values[:, 0]))
        edge = rng.random(k) < 0.5
        sign = rng.choice([-1.0, 1.0], k)
        placed = values[:, 0] + sign * tol
        placed = np.where(rng.random(k) < 0.33, np.nextafter(placed, np.inf),
                          np.where(rng.random(k) < 0.5, np.nextafter(placed, -np.inf), placed))
        f_sum = np.where(edge & ~np.isnan(f_sum), placed, f_sum)
        mismatch = ins1.force_mismatch(values[:, 0], f_sum)
        want = (int(mismatch.sum()), int(np.isnan(values[:, 3:19]).any(axis=1).sum()),
                int(np.bitwise_or.reduce(s["flags"])))
        got = ins1_block_checks(s.tobytes(), values, np.ascontiguousarray(f_sum),
                                ins1.MISMATCH_TOLERANCE_N, ins1.MISMATCH_TOLERANCE_REL)
        assert got == want
        n_mismatch_seen += want[0]
    assert n_mismatch_seen > 100  # the edge cases were there to be told apart


def _sample_frames(seq0: int, t_us: list[int]) -> bytes:
    rows = np.zeros(len(t_us), ins1.SAMPLE_DTYPE)
    rows["side"] = ord("L")
    rows["seq"] = (seq0 + np.arange(len(t_us))) % 65536
    rows["t_dev_us"] = np.array(t_us) % (1 << 32)
    rows["p"] = 100
    rows["f_total"] = 400
    rows["battery_pct"] = 80
    return b"".join(ins1.encode_frame(ins1.SAMPLE, r.tobytes()) for r in rows)


def test_a_clock_jump_is_a_step_beyond_half_a_period_and_at_least_2_ms():
    """docs/protocols.md: a device clock that strays from the sample counter by at most the
    larger of half a sample period and 2 ms (2500 µs at 200 Hz, 2000 µs at 1 kHz) is no jump;
    1 µs more is one ``clock_jump`` event, in the usual read and the general path, and no
    sample is lost either way."""
    for rate_hz, tol_us in ((RATE_HZ, 2500), (1000, 2000)):
        period_us = 1_000_000 // rate_hz
        for usual in (True, False):
            for delta, jumps in ((tol_us, 0), (-tol_us, 0), (tol_us + 1, 1), (-tol_us - 1, 1)):
                tl = Timeline(usual)
                tl.ins1_info = dataclasses.replace(tl.ins1_info, rate_hz=rate_hz)
                t_us = [1_000_000 + k * period_us + (delta if k >= 10 else 0) for k in range(20)]
                stream = _sample_frames(7, t_us)
                size = ins1.FRAME_OVERHEAD + ins1.SAMPLE_SIZE
                blocks = []
                for k in range(0, len(stream), 2 * size):  # reads of two samples
                    blocks += tl.read(stream[k:k + 2 * size])
                blocks += tl.read(b"")
                assert tl.stats.clock_jumps == jumps, (rate_hz, usual, delta)
                assert sum(b.samples.shape[0] for b in blocks) == 20
                assert tl.stats.corrupt_frames == 0
                assert (tl.usual_reads > 0) == usual
