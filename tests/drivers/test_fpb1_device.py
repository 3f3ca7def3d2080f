"""FPB1 driver against the FPB1 simulator over real ptys (1-3 s of streaming per test)."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
from driver_helpers import match_stances, read_samples, stream_samples, wait_until
from forcelab.drivers.errors import ConnectionLost, DeviceError, DeviceNotFound, ProtocolError
from forcelab.drivers.fpb1 import FPB1Device
from forcelab.drivers.protocols import fpb1
from forcelab.drivers.sim.fpb1_sim import FPB1Simulator
from forcelab.drivers.sim.gait import GaitModel
from forcelab.drivers.sim.pty import SimPort, free_name

from forcelab.analysis import detect_stances


def _sim(dev):
    sims = dev.sim_setup.simulators
    return next(s for s in sims if s.port.device == dev.port)


def test_handshake_identity_and_calibration_read_back(open_sim):
    (dev,) = open_sim("sim:plate?seed=11")
    sim = _sim(dev)
    info = dev.info
    assert info.protocol == "FPB1"
    assert info.serial == sim.serial and info.model == sim.MODEL and info.firmware == "1.2.0"
    assert info.side is None and info.rate_hz == 1000.0
    assert info.channel_names == ["fx", "fy", "fz", "mx", "my", "mz", "cop_x", "cop_y", "tz"]
    np.testing.assert_array_equal(np.array(info.calibration["matrix"]), sim.calibration.matrix)
    np.testing.assert_array_equal(info.calibration["gain"], sim.calibration.gain)
    assert info.calibration["origin_m"] == pytest.approx(list(sim.calibration.origin_m))
    assert info.extra["rates_hz"] == list(fpb1.RATES_HZ)
    assert sim.commands_seen[:3] == [fpb1.STOP, fpb1.IDENTIFY, fpb1.GET_CAL]
    assert dev.clock.n_points >= 5 and dev.clock.best_rtt_s < 0.5
    # DeviceInfo survives its JSON form
    assert type(info).from_dict(info.to_dict()) == info


def test_continuous_stream_forces_equal_what_the_simulator_generated(open_sim, concat):
    (dev,) = open_sim("sim:plate?seed=2&rate=1000&start=0.3")
    sim = _sim(dev)
    blocks = stream_samples(dev, 1500, 20.0)
    seq, x = concat(blocks)
    n = len(seq)
    # continuous sequence from 0, no gaps
    np.testing.assert_array_equal(seq, np.arange(n))
    assert all(b.gap_before == 0 for b in blocks)
    assert dev.stats.dropped_samples == 0 and dev.stats.crc_errors == 0
    # every sample the plate took between START and STOP arrived
    assert n == sim.k >= 1500
    # forces equal to the simulator's within quantisation (1 count ~ 0.002 N)
    expected = sim.expected_loads(np.arange(n))
    np.testing.assert_allclose(x[:, :6], expected, atol=0.01)
    assert x[:, 2].max() > 1000  # someone ran over it
    unloaded = x[:, 2] < dev.cop_threshold_n
    assert unloaded.any() and np.isnan(x[unloaded, 6:]).all()
    assert np.isfinite(x[~unloaded, 6:]).all()
    # host time base: blocks in order, each at the host time its first sample was taken
    th = np.array([b.t_host_s for b in blocks])
    assert np.all(np.diff(th) > 0)
    true_host = dev.sim_setup.t0_host_s + sim.sample_model_times(np.array([b.seq for b in blocks]))
    assert np.all(np.abs(th - true_host) < 0.02)  # within 20 ms (RTT on a loaded host)


@pytest.mark.parametrize("gait, seconds, min_stances", [
    ("speed=3.5&strike=rear", 2.5, 3),
    ("speed=4.0&strike=fore", 2.5, 3),
    ("mode=walk&speed=1.4", 3.0, 2),
])
def test_stances_on_received_data_match_the_true_stances(
    open_sim, concat, stream_for, gait, seconds, min_stances
):
    devs = open_sim(f"sim:treadmill?seed=5&{gait}&asymmetry=-0.08&start=0.2")
    blocks = stream_for(devs, seconds)
    for dev, blks in zip(devs, blocks, strict=True):
        sim = _sim(dev)
        seq, x = concat(blks)
        assert np.array_equal(seq, np.arange(len(seq)))
        st = detect_stances(x[:, 2], dev.info.rate_hz)
        found = [(int(a), int(b)) for a, b, v in zip(st.start, st.end, st.valid, strict=True)
                 if v]
        every = sim.truth_stances(0, len(seq))
        lo, hi = 5, len(seq) - 5  # stances cut by the start or the end of streaming aside
        truth = [t for t in every if t["start"] > lo and t["end"] < hi]
        assert len(truth) >= min_stances
        assert all(t["side"] == dev.side for t in truth)
        # each true stance found and each found stance true, edges within 15 ms
        assert match_stances(found, [(t["start"], t["end"]) for t in every], lo, hi, 15) == \
            len(truth)
        for t in truth:
            a, b = min(found, key=lambda f: abs(f[0] - t["start"]))
            assert x[a:b, 2].max() == pytest.approx(t["peak_n"], rel=0.01)
    # the left belt loads more (asymmetry -0.08): per-plate mean peaks say so
    peaks = {d.side: np.mean([t["midstance_peak_n"] for t in _sim(d).truth_stances()])
             for d in devs}
    assert peaks["left"] > peaks["right"]


def test_bit_flips_every_undamaged_frame_recovered_every_damaged_counted(
    open_sim, concat, stream_for
):
    (dev,) = open_sim("sim:plate?seed=7&rate=2000&faults=bitflip:1e-4")
    sim = _sim(dev)
    (blocks,) = stream_for([dev], 2.0)
    seq, x = concat(blocks)
    spf = dev.spf
    sent = set(range(0, sim.k, spf))
    damaged = {r.seq for r in sim.faults.log if r.kind == "bitflip" and r.seq >= 0}
    assert damaged, "no bit flip happened: the test would prove nothing"
    got = {int(s) for s in seq if s % spf == 0}
    last = int(seq[-1])
    expect = {s for s in sent - damaged if s <= last}
    assert got == expect
    # damaged frames were rejected (CRC error or hunting) and show up as explicit gaps
    assert dev.stats.crc_errors + dev.stats.resyncs >= 1
    assert dev.stats.crc_errors <= sum(len(r.detail["positions"]) for r in
                                       sim.faults.records("bitflip"))
    lost_data = {s for s in damaged if s <= last}
    assert dev.stats.dropped_samples == spf * len(lost_data)
    np.testing.assert_allclose(x[:, :6], sim.expected_loads(seq), atol=0.01)


def test_dropped_frames_become_gaps_of_the_right_length(open_sim, concat, stream_for):
    (dev,) = open_sim("sim:plate?seed=3&faults=drop:0.03")
    sim = _sim(dev)
    (blocks,) = stream_for([dev], 1.5)
    dropped = sorted(r.seq for r in sim.faults.records("drop") if r.seq >= 0)
    assert dropped
    seq, _ = concat(blocks)
    missing = sorted(set(range(int(seq[-1]) + 1)) - set(seq.tolist()))
    expect = sorted(s + i for s in dropped if s <= seq[-1] for i in range(dev.spf))
    assert missing == expect
    # each gap_before equals the samples missing right before that block
    for prev, blk in zip(blocks[:-1], blocks[1:], strict=True):
        assert blk.seq == prev.seq + prev.n + blk.gap_before
    assert sum(b.gap_before for b in blocks) == len(expect) == dev.stats.dropped_samples


def test_garbage_duplicates_and_truncation_never_invent_samples(open_sim, concat, stream_for):
    (dev,) = open_sim("sim:plate?seed=4&faults=garbage:0.05,duplicate:0.05,truncate:0.03")
    sim = _sim(dev)
    (blocks,) = stream_for([dev], 1.5)
    seq, x = concat(blocks)
    assert len(np.unique(seq)) == len(seq)  # duplicates discarded
    truncated = {r.seq for r in sim.faults.records("truncate") if r.seq >= 0}
    frames = {int(s) for s in seq if s % dev.spf == 0}
    assert truncated and not (frames & truncated)
    assert set(range(0, int(seq[-1]) + 1, dev.spf)) - truncated == frames
    assert dev.duplicates == len([r for r in sim.faults.records("duplicate")
                                  if r.seq not in truncated and r.seq <= seq[-1]])
    np.testing.assert_allclose(x[:, :6], sim.expected_loads(seq), atol=0.01)


def test_unplug_raises_within_a_second_and_keeps_what_was_received(open_sim, concat):
    (dev,) = open_sim("sim:plate?seed=6&faults=unplug:1.0")
    sim = _sim(dev)
    dev.start()
    blocks = []
    with pytest.raises(ConnectionLost, match="unplugged"):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            blocks += dev.read(0.05)
    t_raised = time.monotonic()
    unplug = sim.faults.records("unplug")[0]
    assert 0 <= t_raised - (sim._t0_mono + unplug.t_s) < 1.0
    seq, x = concat(blocks)
    np.testing.assert_array_equal(seq, np.arange(len(seq)))
    # every sample taken before the unplug arrived, but for the frames the cable lost (sent,
    # not yet read by the driver) and one the driver had only begun to read
    taken = int(np.sum(sim.sample_model_times(np.arange(sim.k)) < unplug.t_s))
    frame_bytes = 8 + fpb1.DATA_HEADER.size + 24 * dev.spf
    lost_frames = unplug.detail["bytes_in_flight"] // frame_bytes + 1
    assert taken >= 800  # the plate streamed ~1 s at 1 kHz before the unplug
    assert taken - dev.spf * lost_frames <= len(seq) <= sim.k
    np.testing.assert_allclose(x[:, :6], sim.expected_loads(seq), atol=0.01)
    assert any(e.kind == "unplug" for e in dev.pop_events())
    with pytest.raises(ConnectionLost):
        dev.read(0.01)


def test_replug_resumes_with_an_explicit_gap(open_sim, concat):
    (dev,) = open_sim("sim:plate?seed=8&faults=unplug:0.6,replug:0.4")
    dev.start()
    before, after = [], []
    deadline = time.monotonic() + 5
    with pytest.raises(ConnectionLost):
        while time.monotonic() < deadline:
            before += dev.read(0.05)
    dev.reconnect(timeout_s=5.0)
    assert dev.streaming and dev.stats.reconnects == 1
    t_end = time.monotonic() + 0.8
    while time.monotonic() < t_end:
        after += dev.read(0.05)
    assert before and after
    gap = after[0].gap_before
    end_before = before[-1].seq + before[-1].n
    assert after[0].seq == end_before + gap
    assert 300 <= gap <= 2500  # 0.4 s unplugged plus the time to notice and reconnect
    seq, _ = concat(after)
    np.testing.assert_array_equal(seq, np.arange(seq[0], seq[0] + len(seq)))
    kinds = [e.kind for e in dev.pop_events()]
    assert "unplug" in kinds and "replug" in kinds


def test_commands_interleave_with_streaming(open_sim, concat):
    (dev,) = open_sim("sim:plate?seed=9&start=5")
    sim = _sim(dev)
    dev.start()
    got = dev.read(0.2)
    rtt = dev.ping()
    assert 0 < rtt < 0.5
    status = dev.get_status()
    assert status["frames_sent"] > 0 and 20 < status["temperature_c"] < 50
    dev.blink()
    with pytest.raises(ProtocolError, match="BAD_STATE"):
        dev.command(fpb1.SET_RATE, struct.pack("<H", 500))
    offsets = dev.zero(n_avg=100)
    # nobody on the plate yet (start=5): the zero offsets are the bridge offsets (+- noise)
    np.testing.assert_allclose(offsets, sim.bridge_offsets, atol=200)
    assert dev.info.calibration["zero_offsets"] == offsets
    t_end = time.monotonic() + 0.3
    while time.monotonic() < t_end:
        got += dev.read(0.05)
    dev.stop()
    got += dev.read(0.05)
    seq, x = concat(got)
    np.testing.assert_array_equal(seq, np.arange(len(seq)))  # nothing lost around commands
    assert got[-1].status & fpb1.ST_ZEROED
    assert abs(np.mean(x[-100:, 2])) < 1.0  # zeroed: unloaded plate reads ~0 N
    with pytest.raises(ProtocolError, match="BAD_STATE"):
        dev.command(fpb1.STOP)


def test_sequence_counter_wraps_at_2_to_the_32(open_sim, concat):
    (dev,) = open_sim(f"sim:plate?seed=1&seq_start={2**32 - 400}")
    blocks = stream_samples(dev, 800, 20.0)  # 400 before the wire counter wraps, 400 after
    seq, _ = concat(blocks)
    assert len(seq) >= 800
    np.testing.assert_array_equal(seq, np.arange(len(seq)))
    assert dev.stats.dropped_samples == 0


def test_calibrated_format(open_sim, concat, stream_for):
    (dev,) = open_sim("sim:plate?seed=12&fmt=cal&spf=16&rate=500")
    sim = _sim(dev)
    assert dev.info.calibration["data_format"] == "calibrated" and dev.info.rate_hz == 500
    (blocks,) = stream_for([dev], 1.2)
    seq, x = concat(blocks)
    assert sim.spf == 16 and sim.fmt == fpb1.FMT_CAL
    np.testing.assert_allclose(x[:, :6], sim.expected_loads(seq), rtol=1e-6, atol=1e-3)


def test_overrange_is_flagged_in_status_and_events(open_sim, stream_for):
    (dev,) = open_sim("sim:plate?seed=13&faults=overrange:0.05,overrange_s:0.02")
    (blocks,) = stream_for([dev], 1.0)
    flagged = [b for b in blocks if b.status & fpb1.ST_OVERRANGE_MASK]
    assert flagged
    assert all(b.status & (1 << 2) for b in flagged)  # Fz bridge (channel 3) saturated
    kinds = [e.kind for e in dev.pop_events()]
    assert "overrange_start" in kinds and "overrange_end" in kinds


def test_reset_reboots_and_streaming_can_restart(open_sim, concat):
    (dev,) = open_sim("sim:plate?seed=14")
    dev.start()
    dev.read(0.1)
    dev.reset()
    assert not dev.streaming
    deadline = time.monotonic() + 3
    kinds: list[str] = []
    while "boot" not in kinds and time.monotonic() < deadline:
        dev.read(0.05)
        kinds += [e.kind for e in dev.pop_events()]
    assert "boot" in kinds
    dev.command(fpb1.SET_RATE, struct.pack("<H", 1000))
    for _ in range(3):
        dev.ping()
    blocks = stream_samples(dev, 100, 20.0)
    seq, _ = concat(blocks)
    np.testing.assert_array_equal(seq, np.arange(seq[0], seq[0] + len(seq)))


def test_bad_options_and_missing_or_silent_ports(open_sim):
    with pytest.raises(DeviceError, match="not an FPB1 rate"):
        open_sim("sim:plate?seed=1&rate=333")
    with pytest.raises(DeviceNotFound):
        FPB1Device("/dev/no-such-plate")
    with SimPort(free_name("silent")) as silent:
        t0 = time.monotonic()
        with pytest.raises(ProtocolError, match="no FPB1 plate answers"):
            FPB1Device(silent.device, reply_timeout_s=0.3)
        assert time.monotonic() - t0 < 3
    with pytest.raises(DeviceError, match="samples per frame"):
        FPB1Device("/dev/null", samples_per_frame=40)


def test_stalls_then_bursts_lose_nothing(open_sim, concat, stream_for):
    (dev,) = open_sim("sim:plate?seed=15&faults=stall:4,stall_s:0.15")
    sim = _sim(dev)
    (blocks,) = stream_for([dev], 1.5)
    assert sim.faults.records("stall")
    seq, x = concat(blocks)
    np.testing.assert_array_equal(seq, np.arange(len(seq)))
    np.testing.assert_allclose(x[:, :6], sim.expected_loads(seq), atol=0.01)
    # device time stamps stay regular although arrival was bursty
    t = np.array([b.t_device_s for b in blocks])
    n = np.array([b.seq for b in blocks])
    np.testing.assert_allclose(np.diff(t), np.diff(n) / dev.info.rate_hz, atol=2e-6)


def test_stream_starting_mid_frame_is_a_gap_not_garbage(open_sim, concat, stream_for):
    (dev,) = open_sim("sim:plate?seed=16&faults=partial")
    sim = _sim(dev)
    (blocks,) = stream_for([dev], 0.5)
    assert sim.faults.records("partial")[0].seq == 0
    assert blocks[0].seq == dev.spf and blocks[0].gap_before == dev.spf
    seq, x = concat(blocks)
    np.testing.assert_allclose(x[:, :6], sim.expected_loads(seq), atol=0.01)


def test_host_time_base_matches_true_time_across_drifting_plates(open_sim, stream_for):
    devs = open_sim("sim:treadmill?seed=17&drift=0", rate=500)
    sims = [_sim(d) for d in devs]
    sims[0].drift_ppm, sims[1].drift_ppm = 0.0, 0.0  # the mapping itself, without drift
    blocks = stream_for(devs, 1.0)
    for sim, blks in zip(sims, blocks, strict=True):
        wall0 = time.time() - (time.monotonic() - sim._t0_mono)  # wall time of model time 0
        for b in blks[::10]:
            true_host = wall0 + float(sim.sample_model_times(np.array([b.seq]))[0])
            assert abs(b.t_host_s - true_host) < 0.02  # within 20 ms (RTT on a loaded host)


def test_device_buffer_overflow_becomes_an_explicit_gap():
    port = SimPort(free_name("overflow"), max_pending=4096).open()
    sim = FPB1Simulator(port, GaitModel(seed=1), serial="OVF1").start()
    try:
        dev = FPB1Device(port.device, rate_hz=2000, samples_per_frame=1)
        try:
            dev.start()
            # the host does not read: the pty and the device buffer fill up until samples are lost
            wait_until(lambda: sim.samples_lost_overflow > 0, 10.0, "the device buffer to overflow")
            blocks = []
            t_end = time.monotonic() + 0.6
            while time.monotonic() < t_end:
                blocks += dev.read(0.05)
            dev.stop()
        finally:
            dev.close()
        assert sim.samples_lost_overflow > 0
        lost = sum(b.gap_before for b in blocks)
        assert lost == dev.stats.dropped_samples
        assert 0 < lost <= sim.samples_lost_overflow
        assert any(b.status & fpb1.ST_OVERFLOW for b in blocks)
        events = [e for e in dev.pop_events() if e.kind == "overflow"]
        assert events and sum(e.arg for e in events) == lost
    finally:
        sim.stop()


def test_autozero_after_a_quiet_plate(open_sim):
    (dev,) = open_sim("sim:plate?seed=18&start=30&rate=200")
    dev.set_autozero(True)
    dev.start()
    deadline = time.monotonic() + 6
    kinds: list[str] = []
    blocks = []
    while "autozero_done" not in kinds and time.monotonic() < deadline:
        blocks += dev.read(0.1)
        kinds += [e.kind for e in dev.pop_events()]
    assert "autozero_done" in kinds
    t_end = time.monotonic() + 0.3
    while time.monotonic() < t_end:
        blocks += dev.read(0.05)
    assert blocks[-1].status & fpb1.ST_AUTOZERO and blocks[-1].status & fpb1.ST_ZEROED
    assert abs(np.mean(blocks[-1].samples[:, 2])) < 1.0


def test_device_clock_jumps_are_detected_and_removed(open_sim, stream_for):
    (dev,) = open_sim("sim:plate?seed=19&drift=0&faults=clockjump:3,clockjump_s:0.5")
    sim = _sim(dev)
    (blocks,) = stream_for([dev], 2.0)
    t0_model = float(sim.model_time_of(sim.run_c0))
    t_last = float(sim.sample_model_times(np.array([blocks[-1].seq]))[0])
    during = [r for r in sim.faults.records("clockjump") if t0_model + 0.05 < r.t_s < t_last - 0.05]
    assert during, "no clock jump while streaming: the test would prove nothing"
    jumps = [e for e in dev.pop_events() if e.kind == "clock_jump"]
    # jumps within one frame interval show up as one event of their sum
    sizes = [e.arg / 500_000 for e in jumps if e.arg]
    assert all(abs(x - round(x)) < 0.004 and round(x) >= 1 for x in sizes)
    assert round(sum(sizes)) >= len(during)
    # device time stays consistent with the sample counter...
    t_dev = np.array([b.t_device_s for b in blocks])
    seq = np.array([b.seq for b in blocks])
    np.testing.assert_allclose(np.diff(t_dev), np.diff(seq) / dev.info.rate_hz, atol=2e-6)
    # ...and the host time base stays true
    wall0 = time.time() - (time.monotonic() - sim._t0_mono)
    for b in blocks[::5]:
        true_host = wall0 + float(sim.sample_model_times(np.array([b.seq]))[0])
        assert abs(b.t_host_s - true_host) < 0.02


def test_read_reconnects_by_itself_after_a_replug(open_sim, concat):
    (dev,) = open_sim("sim:plate?seed=20&faults=unplug:0.5,replug:0.4")
    dev.start()
    blocks, errors = [], 0
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and not (errors and dev.stats.reconnects
                                               and sum(b.n for b in blocks) > 1500):
        try:
            blocks += dev.read(0.05)
        except ConnectionLost:
            errors += 1
    assert errors >= 1 and dev.stats.reconnects == 1 and dev.streaming
    seq, _ = concat(blocks)
    assert np.all(np.diff(seq) > 0)  # one increasing counter across the replug
    gaps = [b.gap_before for b in blocks if b.gap_before]
    assert len(gaps) == 1 and gaps[0] >= 300  # the time away, as one explicit gap
    dev.stop()


def test_set_rate_while_stopped(open_sim):
    (dev,) = open_sim("sim:plate?seed=21")
    assert dev.set_rate(200) == 200.0 and dev.info.rate_hz == 200.0
    with pytest.raises(DeviceError, match="not an FPB1 rate"):
        dev.set_rate(123)
    assert _sim(dev).rate_hz == 200
    blocks = stream_samples(dev, 200, 20.0)
    # 200 Hz on the plate's own clock: 5 ms per sample from block to block
    t_dev = np.array([b.t_device_s for b in blocks])
    seq = np.array([b.seq for b in blocks])
    np.testing.assert_allclose(np.diff(t_dev), np.diff(seq) / 200.0, atol=2e-6)
    dev.start()
    with pytest.raises(DeviceError, match="stop streaming"):
        dev.set_rate(1000)
    dev.stop()


def test_a_plate_left_streaming_by_a_crashed_program_is_stopped_and_its_data_ignored(open_sim):
    (first,) = open_sim("sim:plate?seed=22")
    port = first.port
    first.start()
    first.read(0.2)
    first._transport.close()  # the program dies without STOP: the plate keeps streaming
    sim = _sim(first)
    k0 = sim.k
    wait_until(lambda: sim.k >= k0 + 100, 5.0, "the plate to stream on")
    dev = FPB1Device(port)
    try:
        assert not dev.streaming and dev.read(0.2) == []
        dev.start()
        blocks = []
        t_end = time.monotonic() + 0.5
        while time.monotonic() < t_end:
            blocks += dev.read(0.05)
        assert blocks[0].seq == 0 and blocks[0].gap_before == 0
        assert dev.stats.dropped_samples == 0
    finally:
        dev.close()


def test_a_reply_behind_a_truncated_frame_is_still_received(open_sim):
    (dev,) = open_sim("sim:plate?seed=23&faults=truncate:1")  # every DATA frame cut short
    dev.start()
    got = []
    t_end = time.monotonic() + 0.4
    while time.monotonic() < t_end:
        got += dev.read(0.05)
    t0 = time.monotonic()
    dev.stop()  # the STOP reply comes right after a truncated frame, then the line is quiet
    assert time.monotonic() - t0 < 0.9
    assert got == [] and dev.stats.resyncs > 0
    assert dev.get_status()["frames_sent"] > 20


@pytest.mark.parametrize("jump", [100_000, -50])
def test_a_frame_with_a_wild_sequence_number_and_a_valid_crc_loses_only_itself(
    open_sim, concat, stream_for, jump
):
    (dev,) = open_sim(f"sim:plate?seed=25&faults=wildseq:0.03,wildseq_n:{jump}")
    sim = _sim(dev)
    (blocks,) = stream_for([dev], 1.5)
    seq, x = concat(blocks)
    wild = sorted(r.seq for r in sim.faults.records("wildseq"))  # stop() drained the link
    assert wild, "no frame was damaged: the test would prove nothing"
    assert dev.stats.corrupt_frames == len(wild)
    # exactly the damaged frames' samples are missing, as explicit gaps; nothing else
    missing = sorted(set(range(int(seq[0]), int(seq[-1]) + 1)) - set(seq.tolist()))
    assert missing == sorted(s + i for s in wild if s < seq[-1] for i in range(dev.spf))
    assert sum(b.gap_before for b in blocks) == dev.stats.dropped_samples == len(missing)
    assert dev.duplicates == 0
    assert not [e for e in dev.pop_events() if e.kind == "clock_jump"]
    np.testing.assert_allclose(x[:, :6], sim.expected_loads(seq), atol=0.01)


class _FirstFrameWild(FPB1Simulator):
    """Sends the first DATA frame of each run with its sequence number 100,000 too high and
    a valid CRC (the frame a driver must align its counter with)."""

    wild_sent = 0

    def streaming_started(self) -> None:
        self._first_pending = True
        super().streaming_started()

    def send(self, data: bytes, **kw) -> bool:
        if data[2] == fpb1.DATA and getattr(self, "_first_pending", False):
            self._first_pending = False
            self.wild_sent += 1
            payload = bytearray(data[6:-2])
            payload[0:4] = struct.pack("<I", (struct.unpack_from("<I", payload)[0] + 100_000))
            data = fpb1.encode_frame(fpb1.DATA, bytes(payload))
        return super().send(data, **kw)


def test_a_wild_first_frame_after_start_costs_at_most_two_frames_not_the_stream():
    port = SimPort(free_name("wildfirst")).open()
    sim = _FirstFrameWild(port, GaitModel(seed=4), serial="WILD1").start()
    try:
        with FPB1Device(port.device, rate_hz=1000) as dev:
            dev.start()
            blocks = read_samples(dev, 800, 10.0)
            dev.stop()
            blocks += dev.read(0.05)
        assert sim.wild_sent == 1
        seq = np.concatenate([b.seq + np.arange(b.n) for b in blocks])
        assert np.all(np.diff(seq) > 0)
        # the frames right after the wild one disagree with it: at most two of them are dropped
        # (fewer when they arrive together) before they start the time line anew; their samples
        # are the only gap, nothing else is lost (no flood of "duplicates")
        lost = dev.stats.corrupt_frames
        assert lost <= 2 and dev.duplicates == 0
        assert sum(b.gap_before for b in blocks) == lost * dev.spf
        assert len(seq) == sim.k - lost * dev.spf
    finally:
        sim.stop()
