"""Moticon OpenGo live over UDP: the datagram codec from the documented layout, the sequencer,
and real sockets on 127.0.0.1 carrying a real OpenGo walk (live recording vs export file vs the
vendor's gait report) and injected faults counted exactly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from forcelab.drivers import open_devices
from forcelab.drivers.errors import ConnectionLost, DeviceError, ProtocolError
from forcelab.drivers.open import split_url
from forcelab.drivers.opengo_codec import (
    BAD_FIELD_COUNT,
    BAD_TIMESTAMP,
    NOT_NUMERIC,
    Sequencer,
    foot_samples,
    infer_unit_scale,
    parse_datagram,
    parse_datagrams,
)
from forcelab.drivers.opengo_udp import parse_address
from forcelab.drivers.sim.opengo_sim import OpenGoSender, export_rows
from hypothesis import given, settings
from hypothesis import strategies as st

WALK = "moticon_opengo_walking/230927_102114.txt"


# -------------------------------------------------------------------- codec, from DEVICES.md
def documented_datagram() -> bytes:
    """A datagram written from the table in DEVICES.md: timestamp; per foot acc xyz (g), gyr
    xyz (deg/s), COP xy, 16 pressures (N/cm²), total force (N); left first."""
    left = ["0.10", "0.20", "0.98", "1.5", "-2.5", "3.0", "-0.12", "0.25",
            *[f"{k * 0.25:.2f}" for k in range(1, 17)], "512.0"]
    right = ["-0.1", "0.3", "1.02", "4.0", "5.0", "-6.0", "0.05", "-0.3",
             *[f"{k * 0.5:.2f}" for k in range(1, 17)], "640.5"]
    return " ".join(["12.34", *left, *right]).encode()


def test_datagram_fields_land_in_the_export_readers_channels():
    t, values = parse_datagram(documented_datagram())
    assert t == 12.34
    left, ok_l = foot_samples(values[None, :], "left")
    right, ok_r = foot_samples(values[None, :], "right")
    assert ok_l.tolist() == [True] and ok_r.tolist() == [True]
    # channel order: fz, cop_x, cop_y, p01..p16 (kPa), acc_x..z (g), gyr_x..z (deg/s)
    np.testing.assert_allclose(left[0, :3], [512.0, -0.12, 0.25])
    np.testing.assert_allclose(left[0, 3:19], [k * 0.25 * 10 for k in range(1, 17)])
    np.testing.assert_allclose(left[0, 19:], [0.10, 0.20, 0.98, 1.5, -2.5, 3.0])
    np.testing.assert_allclose(right[0, :3], [640.5, 0.05, -0.3])
    np.testing.assert_allclose(right[0, 3:19], [k * 5.0 for k in range(1, 17)])
    np.testing.assert_allclose(right[0, 19:], [-0.1, 0.3, 1.02, 4.0, 5.0, -6.0])


def test_bad_datagrams_say_why():
    good = documented_datagram()
    assert parse_datagram(good.rsplit(b" ", 1)[0]) == BAD_FIELD_COUNT  # 50 fields
    assert parse_datagram(good + b" 1.0") == BAD_FIELD_COUNT  # 52 fields
    assert parse_datagram(b"") == BAD_FIELD_COUNT
    assert parse_datagram(good.replace(b"512.0", b"err")) == NOT_NUMERIC
    assert parse_datagram(b"\xff\xfe" * 51) == BAD_FIELD_COUNT
    assert parse_datagram(good.replace(b"12.34", b"nan", 1)) == BAD_TIMESTAMP
    # a NaN in one foot: the datagram parses, that foot has no sample, the other one has
    _, values = parse_datagram(good.replace(b"512.0", b"nan"))
    assert foot_samples(values[None, :], "left")[1].tolist() == [False]
    assert foot_samples(values[None, :], "right")[1].tolist() == [True]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 50))
def test_no_datagram_crashes_the_parser(junk, k):
    good = documented_datagram().split()
    spliced = b" ".join(good[:k] + [junk] + good[k + 1:])
    for payload in (junk, spliced):
        one = parse_datagram(payload)
        assert one in (BAD_FIELD_COUNT, NOT_NUMERIC, BAD_TIMESTAMP) or len(one[1]) == 51
        many = parse_datagrams([payload, documented_datagram()])
        assert (many[0] == one) if isinstance(one, str) else np.array_equal(
            many[0][1], one[1], equal_nan=True)


def test_timestamp_unit_is_inferred_from_increments():
    assert infer_unit_scale(np.array([3.00, 3.01, 3.02, 3.04])) == 1.0
    assert infer_unit_scale(np.array([3000.0, 3010.0, 3020.0, 3040.0])) == 1e-3
    assert infer_unit_scale(np.array([0.0, 0.1, 0.2])) == 1.0  # 10 Hz in s
    with pytest.raises(ProtocolError, match="do not advance"):
        infer_unit_scale(np.array([5.0, 5.0, 5.0]))


def test_sequencer_counts_duplicates_reorders_late_and_restarts():
    v = np.zeros(51)
    sq = Sequencer(100.0)
    arrival = 0.0
    for t_ms in (1000, 1010, 1020, 1040, 1030, 1030, 1050):  # 1040/1030 swapped; 1030 twice
        arrival += 0.01
        sq.push(float(t_ms), v, arrival)
    assert sq.unit == "ms"
    assert (sq.reordered, sq.duplicates) == (1, 1)
    seq, t, _, _ = sq.release(arrival)
    assert seq.tolist() == [0, 1, 2, 3, 4, 5]
    np.testing.assert_allclose(t, [1.0, 1.01, 1.02, 1.03, 1.04, 1.05])
    sq.push(1030.0, v, arrival + 0.01)  # already handed out: a duplicate
    sq.push(1060.0, v, arrival + 0.02)
    sq.push(1080.0, v, arrival + 0.03)  # 1070 missing
    seq, *_ = sq.release(arrival + 1)
    assert seq.tolist() == [6, 8] and sq.duplicates == 2
    sq.push(1070.0, v, arrival + 0.04)  # too late: its place is a gap already
    assert sq.late == 1
    # the OpenGo clock restarts at 0, 0.5 s of arrival later: a new timeline after the old one
    sq.push(0.0, v, arrival + 0.53)
    seq, *_ = sq.release(arrival + 1)
    assert sq.restarts == 1 and seq.tolist() == [8 + 50]
    # a prolonged dropout moves timestamps and arrival alike: a gap, not a restart
    sq.push(10000.0, v, arrival + 10.53)
    seq, *_ = sq.release(arrival + 20)
    assert sq.restarts == 1 and seq.tolist() == [58 + 1000]


@pytest.mark.parametrize("unit_scale", [None, 1.0])
def test_a_rate_that_does_not_fit_is_a_clear_error(unit_scale):
    sq = Sequencer(100.0, unit_scale)  # also when the unit is given
    with pytest.raises(ProtocolError, match=r"50 Hz.*rate=50"):
        for k in range(5):
            sq.push(k * 0.02, np.zeros(51), k * 0.02)


# ------------------------------------------------------------------------- device strings
def test_bad_device_strings_are_clear():
    with pytest.raises(DeviceError, match="not a UDP port number"):
        open_devices("opengo-udp://127.0.0.1:99999")
    with pytest.raises(DeviceError, match="unknown opengo-udp option.*valid: rate, unit"):
        open_devices("opengo-udp://127.0.0.1:0?speed=2")
    with pytest.raises(DeviceError, match="unit='us'"):
        open_devices("opengo-udp://127.0.0.1:0?unit=us")
    devs = open_devices("opengo-udp://127.0.0.1:0")
    try:
        port = devs[0].info.extra["port"]
        with pytest.raises(DeviceError, match=f"UDP port {port} .* already in use"):
            open_devices(f"opengo-udp://127.0.0.1:{port}")
    finally:
        for d in devs:
            d.close()


def test_cli_bad_port_is_one_line_exit_2(tmp_path):
    out = tmp_path / "s.h5"
    r = subprocess.run([sys.executable, "-m", "forcelab", "record", "--device",
                        "opengo-udp://127.0.0.1:70000", "--athlete", "A", "--duration", "1",
                        "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "not a UDP port number" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_default_address_and_pair():
    # "opengo-udp:" alone listens on 0.0.0.0:8888 (not bound here: the port may be taken)
    assert split_url("opengo-udp:?lost_after=0.5") == ("opengo-udp", [""], {"lost_after": "0.5"})
    assert parse_address("") == ("0.0.0.0", 8888)
    assert parse_address("//192.168.1.20") == ("192.168.1.20", 8888)
    assert parse_address(":9000") == ("0.0.0.0", 9000)
    devs = open_devices("opengo-udp://127.0.0.1:0?lost_after=0.5")
    try:
        assert [d.info.side for d in devs] == ["left", "right"]
        assert devs[0].info.extra["host"] == "127.0.0.1" and devs[0].info.extra["port"] > 0
        assert devs[0].info.extra["lost_after_s"] == 0.5
        assert devs[0].receiver is devs[1].receiver
        assert all(d.info.sensor == "insole" and d.info.rate_hz == 100.0 for d in devs)
        with pytest.raises(DeviceError, match="zero them in the OpenGo app"):
            devs[0].zero()
    finally:
        for d in devs:
            d.close()


# ------------------------------------------------------------------ real sockets, real walk
def _drain(devices, until, timeout_s):
    """Read every device until ``until()`` holds (or the deadline); blocks and lost errors."""
    blocks = {d.info.side: [] for d in devices}
    lost: list[str] = []
    deadline = time.monotonic() + timeout_s
    while True:
        done = until(blocks) or time.monotonic() > deadline
        for d in devices:  # once more after the condition: what was queued meanwhile
            try:
                blocks[d.info.side] += d.read(0.0 if done else 0.02)
            except ConnectionLost as exc:
                lost.append(str(exc))
        if done:
            return blocks, lost


def test_faults_are_counted_exactly_and_no_sample_is_invented(shared_data):
    rows = export_rows(shared_data / WALK)
    first = rows  # the whole walk, replayed 5 x faster (the counts do not need real pacing)
    devs = open_devices("opengo-udp://127.0.0.1:0")
    port = devs[0].info.extra["port"]
    for d in devs:
        d.start()
    sender = OpenGoSender(
        "127.0.0.1", port, rows=first, speed=5.0, seed=3,
        faults="drop:0.02,duplicate:0.02,reorder:0.02,garbage:0.02,burst:1,burst_s:0.2,"
               "pause:1.5,pause_s:1.3",
    ).start()
    try:
        # the file's own timeline: row k is sample round(t_k * 100) (one row is missing in it)
        seq_of_row = np.round((first[:, 0] - first[0, 0]) * 100).astype(int)
        assert seq_of_row[-1] == len(first)  # the file skips one sample
        blocks, lost = _drain(devs, lambda b: sender.done.is_set(), 30.0)
        sender.stop()
        last_seq = seq_of_row[max(sender.sent_rows)]
        more, _ = _drain(devs, lambda b: all(d.receiver.seq.n_pending == 0 and
                                             d.receiver.seq.released_seq == last_seq
                                             for d in devs), 5.0)
        for side in blocks:
            blocks[side] += more[side]
        log = {k: sender.records(k) for k in ("drop", "pause", "duplicate", "reorder",
                                              "garbage", "burst")}
        assert all(log.values()), {k: len(v) for k, v in log.items()}  # every fault happened
        sent = set(sender.sent_rows)
        assert sent == set(range(len(first))) - {r.frame for r in log["drop"] + log["pause"]}
        for d in devs:
            side = d.info.side
            st = d.stats
            got_seq = np.concatenate([b.seq + np.arange(b.n) for b in blocks[side]])
            got = np.concatenate([b.samples for b in blocks[side]])
            # exactly the rows sent that carry this foot, in order, with their values
            cols = slice(1, 26) if side == "left" else slice(26, 51)
            has_foot = np.isfinite(first[:, cols]).all(axis=1)
            want_rows = np.array(sorted(k for k in sent if has_foot[k]))
            np.testing.assert_array_equal(got_seq, seq_of_row[want_rows])
            want, _ = foot_samples(first[want_rows], side)
            np.testing.assert_allclose(got, want, rtol=1e-6)
            # gaps: every missing sample number between the first and last one received
            first_s, last_s = got_seq[0], got_seq[-1]
            assert st.dropped_samples == (last_s - first_s + 1) - len(got_seq)
            assert sum(b.gap_before for b in blocks[side]) == st.dropped_samples
            assert st.gaps == int(np.sum(np.diff(got_seq) > 1))
            assert st.nan_samples == int(np.sum(~has_foot[sorted(sent)]))
            assert st.duplicates == len(log["duplicate"])
            assert st.reordered == len(log["reorder"])
            assert st.late == 0
            reasons = [r.detail["reason"] for r in log["garbage"]]
            assert st.not_numeric == reasons.count("not_numeric")
            assert st.bad_field_count == reasons.count("bad_field_count")
            assert st.bad_timestamp == reasons.count("bad_timestamp")
            assert st.bad_lines == len(log["garbage"])
            assert st.frames == len(sent) + len(log["duplicate"])
            # the 1.3 s dropout: both feet reported lost with a clear message, then resumed
            assert st.lost == 1
            kinds = [e.kind for e in d.pop_events()]
            assert kinds == ["link_lost", "link_restored"]
        assert any("no datagrams on UDP 127.0.0.1" in m and "OpenGo app" in m for m in lost)
    finally:
        sender.stop()
        for d in devs:
            d.close()


def test_live_walk_records_the_stances_of_the_export_and_the_vendor_report(
        shared_data, tmp_path):
    """The real walk streamed live at its real pace (17.5 s) and recorded into a session file
    gives the export file's stances (within one sample) and the vendor's stance times."""
    from forcelab.acquisition import SessionController
    from forcelab.analysis import analyze_recording
    from forcelab.interop import load_recording

    path = tmp_path / "live.h5"
    rows = export_rows(shared_data / WALK)
    ctl = SessionController()
    try:
        names = ctl.connect(["opengo-udp://127.0.0.1:0?unit=s"])
        assert len(names) == 2
        port = ctl.device_info(names[0]).extra["port"]
        ctl.start_recording(path, athlete={"name": "walker"})
        ctl.start_trial("walk")
        sender = OpenGoSender("127.0.0.1", port, rows=rows).start()
        assert sender.done.wait(40.0)
        sender.stop()
        want = {side: int(np.isfinite(rows[:, cols]).all(axis=1).sum())
                for side, cols in (("left", slice(1, 26)), ("right", slice(26, 51)))}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = {d.side: d.samples_recorded for d in ctl.snapshot().devices}
            if got == want:
                break
            time.sleep(0.05)
        assert got == want
        ctl.stop_recording()
    finally:
        ctl.disconnect()
    live = load_recording(path)
    export = load_recording(shared_data / WALK)
    assert {s.sensor for s in live.streams} == {"insole"}  # insole thresholds, automatically
    live_res, exp_res = analyze_recording(live), analyze_recording(export)
    t_first = {}
    for side, cols in (("left", slice(1, 26)), ("right", slice(26, 51))):
        k0 = int(np.flatnonzero(np.isfinite(rows[:, cols]).all(axis=1))[0])
        t_first[side] = rows[k0, 0] - rows[0, 0]
    for side in ("left", "right"):
        stream = next(s for s in live.streams if s.side == side)
        shift = stream.t0_s - t_first[side]  # live session time of the file's time 0
        mine = [s for s in live_res.stances if s["side"] == side and s["valid"]]
        theirs = [s for s in exp_res.stances if s["side"] == side and s["valid"]]
        assert len(mine) == len(theirs) == 7
        for a, b in zip(mine, theirs, strict=True):
            assert abs(a["start_s"] - shift - b["start_s"]) <= 0.0101
            assert abs(a["end_s"] - shift - b["end_s"]) <= 0.0101
        ref = np.genfromtxt(shared_data / "moticon_opengo_walking" /
                            f"gait_report_230927_10_21_14_{side}_steps.csv",
                            delimiter=",", skip_header=1)
        ic, stance = ref[:, 1], ref[:, 17]
        start = np.array([s["start_s"] - shift for s in mine])
        ct = np.array([s["end_s"] - s["start_s"] for s in mine])
        k = np.array([np.argmin(np.abs(start - t)) for t in ic])
        assert np.all(np.abs(start[k] - ic) < 0.05)  # every vendor step found ...
        assert sorted(set(k.tolist())) == list(range(len(mine)))  # ... and no extra stance
        assert np.mean(np.abs(ct[k] - stance)) <= 0.020  # stance-time MAE


def test_sim_opengo_gait_model_in_ms_is_opened_by_its_device_string():
    """``sim:opengo`` with the gait model and millisecond timestamps: the unit is inferred, both
    feet stream the model's stances, and closing the devices stops the sender."""
    devs = open_devices("sim:opengo?unit=ms&seed=2&speed=2")
    setup = devs[0].sim_setup
    try:
        for d in devs:
            d.start()
        blocks, lost = _drain(devs, lambda b: all(sum(x.n for x in v) >= 300
                                                  for v in b.values()), 20.0)
        assert not lost
        rx = devs[0].receiver
        assert rx.seq.unit == "ms"
        for d in devs:
            fz = np.concatenate([b.samples[:, 0] for b in blocks[d.info.side]])
            assert fz.max() > 500 and fz.min() == 0.0  # stances and swing phases
            assert d.stats.dropped_samples == 0 and d.stats.bad_lines == 0
    finally:
        for d in devs:
            d.close()
    assert setup.stopped and not setup.simulators[0]._thread.is_alive()


def test_bench_udp_quick_runs_and_loses_nothing_at_ten_times_the_rate():
    """bench/bench_udp.py --quick (CI smoke mode): it runs and reports, and at 10x the real rate
    no datagram is lost (CPU figures are the bench's to quote, not this test's)."""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(root / "bench" / "bench_udp.py"), "--quick"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    fast = next(line for line in out.splitlines() if line.startswith("10x real rate"))
    sent = int(fast.split(": ")[1].split()[0])
    assert f"received left {sent}, right {sent}; missing samples 0" in fast
    assert "ratio pair/baseline CPU" in out
