"""CSV4 driver against the DIY-plate simulator over real pseudo-terminals."""

from __future__ import annotations

import time

import numpy as np
import pytest
from driver_helpers import (
    collect,
    match_stances,
    per_sample,
    poll_then_stop,
    read_after_reconnect,
    stream_samples,
    wait_until,
)
from forcelab.drivers.csv4 import STATUS_OVERRANGE, Csv4Device
from forcelab.drivers.errors import ConnectionLost, DeviceError, DeviceNotFound, ProtocolError
from forcelab.drivers.open import open_devices
from forcelab.drivers.protocols.csv4 import RAW_LIMIT
from forcelab.drivers.sim.pty import SimPort


@pytest.fixture
def diy(request, sim_setup):
    return lambda **opts: sim_setup("diy", **{"seed": 4, "name": f"t-{request.node.name[:24]}",
                                               **opts})


def _open(setup, **kw):
    return Csv4Device.from_url(setup.urls[0], **kw)


def _first_row(sent_cells, got_cells):
    """Index of the sent line where the received lines start (all of them must match)."""
    n = len(got_cells)
    for k in np.flatnonzero(np.all(np.abs(sent_cells - got_cells[0]) < 1e-9, axis=1)):
        if len(sent_cells) - k >= n and np.allclose(sent_cells[k:k + n], got_cells, atol=1e-9):
            return int(k)
    raise AssertionError("the received lines are not a run of the lines the board sent")


def _sent_rows(setup, seq, first_k):
    """Rows of the simulator's truth for driver sequence numbers (1 line per seq step)."""
    sent = setup.board.sent
    return sent[first_k + (seq - seq[0])]


def _counts(dev, values):
    return values[:, :4] * dev.scales_counts_per_n + dev.offsets_counts


def test_handshake_reads_identity_and_calibration(diy):
    setup = diy()
    board = setup.board
    with _open(setup) as dev:
        info = dev.info
        assert (info.protocol, info.serial, info.rate_hz) == ("CSV4", board.board_id, 80.0)
        assert info.channel_names == ["c0", "c1", "c2", "c3", "fz", "cop_x", "cop_y"]
        assert info.calibration["offsets_counts"] == board.offsets.tolist()
        assert info.calibration["scales_counts_per_n"] == board.scales.tolist()
        assert info.extra["width_m"] == 0.4 and info.extra["length_m"] == 0.6
        assert "x" in board.commands and not board.streaming  # opened stopped


def test_rate_units_tare_and_single_point_calibration(diy):
    setup = diy(start=30)  # nobody on the plate
    board = setup.board
    with _open(setup, rate=80) as dev:
        dev.zero()
        noise = 3 * board.noise_counts / np.sqrt(40)
        assert np.allclose(dev.offsets_counts, board.true_offsets, atol=noise + 1)
        assert dev.info.calibration["offsets_counts"] == dev.offsets_counts.tolist()
        scale = dev.calibrate_cell(2, 200.0)
        assert scale == pytest.approx(board.true_scales[2], rel=0.005)
        assert dev.scales_counts_per_n[2] == scale and board.scales[2] == pytest.approx(scale)
        with pytest.raises(DeviceError, match="cell must be"):
            dev.calibrate_cell(7, 100.0)
        with pytest.raises(DeviceError, match="positive"):
            dev.calibrate_cell(1, -5)
        with pytest.raises(ProtocolError, match="rate must be 10 or 80"):
            dev._command("r 50", ("# ok rate",))
        with pytest.raises(ProtocolError, match="unknown 'zz'"):
            dev._command("zz", ("# ok",))
    with _open(setup, rate=10, units="N") as dev:
        assert dev.info.rate_hz == 10.0 and board.rate_hz == 10 and board.units == "N"
        blocks = stream_samples(dev, 5, 20.0)
        seq, values = per_sample(blocks)
        # every line the board sent while streaming arrived, 100 ms apart on its own clock
        sent = board.sent
        k = _first_row(sent["cells"], values[:, :4])
        rows = sent[k:k + len(seq)]
        assert len(seq) >= 5 and np.array_equal(seq, np.arange(seq[0], seq[0] + len(seq)))
        np.testing.assert_allclose(values[:, :4], rows["cells"], atol=1e-9)
        assert np.all(np.diff(rows["t_ms"]) == 100)
        # units=N: the board's own calibration applied; unloaded plate reads ~0 N per cell
        assert np.all(np.abs(values[:, :4]) < 1.0)
    with pytest.raises(DeviceError, match="choose 10 or 80"):
        _open(setup, rate=40)
    with pytest.raises(DeviceError, match="plate size"):
        _open(setup, width=-1)
    with pytest.raises(DeviceError, match="unknown option"):
        _open(setup, colour="red")


def test_stream_continuity_forces_and_stances_match_the_simulator(diy):
    setup = diy(calibrated=1, start=0.3, speed=3.0, noise=10)
    board = setup.board
    dev = _open(setup)
    blocks, _, _ = collect(dev, 2.5)
    dev.close()
    seq, values = per_sample(blocks)
    assert np.array_equal(seq, np.arange(seq[0], seq[0] + len(seq)))
    assert all(b.gap_before == 0 for b in blocks) and dev.stats.bad_lines == 0
    # rate x duration on the board's millis() (1 ms steps)
    span_dev = blocks[-1].t_device_s + (blocks[-1].n - 1) / 80.0 - blocks[0].t_device_s
    assert len(seq) == pytest.approx(span_dev * 80.0 + 1, abs=1.01)
    # find where the received lines start in the simulator's truth: from there on every line
    # the board sent arrived, the last one included (stop() drains the link)
    sent = board.sent
    counts = _counts(dev, values)
    first_k = int(np.flatnonzero(np.all(np.abs(sent["cells"] - counts[0]) < 1e-3, axis=1))[0])
    assert len(seq) == len(sent) - first_k > 150
    rows = _sent_rows(setup, seq, first_k)
    assert np.allclose(counts, rows["cells"], atol=1e-3)  # exactly the printed counts
    # forces equal the model's within HX711 noise and count quantisation
    tol_cell = (4 * 10 + 0.5) / board.true_scales.min()
    assert np.allclose(values[:, :4], rows["force_n"], atol=tol_cell)
    assert np.allclose(values[:, 4], rows["force_n"].sum(axis=1), atol=4 * tol_cell)
    loaded = values[:, 4] > 200
    p = setup.truth.plate(rows["t_model_s"][loaded])
    assert np.allclose(values[loaded, 5], np.clip(p["cop_x"], -0.18, 0.18), atol=0.005)
    # stances on the received data against the model's true stances: edges in model time
    # (through the matched lines) within two sample periods
    t_model = rows["t_model_s"]
    on = values[:, 4] > 20.0
    edges = np.diff(np.concatenate(([0], on.astype(int), [0])))
    found = [(t_model[a], t_model[b - 1]) for a, b in
             zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)
             if a > 0 and b < len(on)]
    true = [(s.start_s, s.end_s) for s in setup.truth.stances()]
    # two periods: the force rises to 20 N after first contact
    assert match_stances(found, true, t_model[0], t_model[-1], tol=0.025) >= 4
    # and the host time base (fitted to the earliest arrivals) puts them where they happened
    t_host = np.concatenate([b.t_host_s + np.arange(b.n) / 80.0 for b in blocks])
    err = t_host - (setup.t0_host_s + t_model)
    assert abs(np.median(err)) < 0.03 and np.percentile(np.abs(err - np.median(err)), 90) < 0.02


def test_corruption_loses_only_damaged_lines_and_gaps_have_the_right_length(diy):
    setup = diy(faults="bitflip:5e-4,drop:0.03,garbage:0.03,duplicate:0.02", calibrated=1,
                start=30, noise=5)
    board = setup.board
    dev = _open(setup)
    blocks, _, _ = collect(dev, 2.5)
    dev.close()
    seq, values = per_sample(blocks)
    sent = board.sent
    counts = np.round(_counts(dev, values))
    # undamaged lines of the stream are all received, with their exact values. A line is
    # lost when damaged, dropped or glued to garbage, and when the line before it lost its
    # line end (the two merge)
    lost = board.faults.damaged_frames() | board.faults.dropped_frames()
    lost |= {r.frame for r in board.faults.records("garbage")}
    line_len = {int(f): len(f"{t},{a:.0f},{b:.0f},{c:.0f},{d:.0f}\r\n") for f, t, (a, b, c, d)
                in zip(sent["frame"], sent["t_ms"], sent["cells"].tolist(), strict=True)}
    for r in board.faults.records("bitflip"):
        if r.frame in line_len and line_len[r.frame] - 1 in r.detail["positions"]:
            lost.add(r.frame + 1)
    intact = ~np.isin(sent["frame"], list(lost))
    first = int(np.flatnonzero(np.all(sent["cells"] == counts[0], axis=1))[0])
    last = int(np.flatnonzero(np.all(sent["cells"] == counts[-1], axis=1))[-1])
    window = np.zeros(len(sent), bool)
    window[first : last + 1] = True
    got = {tuple(r) for r in counts.tolist()}
    want = [tuple(r) for r in sent["cells"][window & intact].tolist()]
    assert all(r in got for r in want)
    assert len(seq) <= int(np.sum(window))
    assert np.all(np.diff(seq) > 0)
    # each gap is as long as the lines missing there
    for prev, b in zip(blocks[:-1], blocks[1:], strict=True):
        assert b.gap_before == b.seq - (prev.seq + prev.n)
    n_missing = int(np.sum(window)) - len(seq)
    assert dev.stats.dropped_samples == n_missing > 0
    assert dev.stats.duplicates >= 1 and dev.stats.bad_lines >= 1


def test_arduino_reset_on_open_and_millis_wrap(diy):
    setup = diy(faults="reset", reset_silence=0.8, clock_start_s=2**32 / 1000 - 1.0)
    t0 = time.monotonic()
    dev = _open(setup, boot_timeout=2.5)
    assert time.monotonic() - t0 >= 0.8  # waited through the reset
    assert setup.board.faults.records("reset") and dev.stats.bytes_discarded > 0
    blocks, _, _ = collect(dev, 1.2)
    dev.close()
    seq, _ = per_sample(blocks)
    assert np.array_equal(seq, np.arange(seq[0], seq[0] + len(seq)))
    t_dev = np.array([b.t_device_s for b in blocks])
    assert np.all(np.diff(t_dev) > 0)
    assert dev.stats.clock_resets == 0 and dev.stats.dropped_samples == 0


def test_unplug_raises_within_a_second_loses_nothing_and_replug_resumes(diy):
    setup = diy(faults="unplug:1.0,replug:0.4", calibrated=1, start=30, noise=5)
    board = setup.board
    dev = _open(setup)
    dev.start()
    before = []
    deadline = time.monotonic() + 5
    with pytest.raises(ConnectionLost, match="Plug it"):
        while time.monotonic() < deadline:
            before += dev.read(0.1)
    t_raised = time.time()
    while not board.faults.records("unplug"):  # the simulator logs right after the unplug
        assert time.time() - t_raised < 1.0
        time.sleep(0.01)
    unplug = board.faults.records("unplug")[0]
    assert t_raised - (setup.t0_host_s + unplug.t_s) < 1.0
    seq, values = per_sample(before)
    assert np.array_equal(seq, np.arange(seq[0], seq[0] + len(seq)))
    sent_before = board.sent[board.sent["t_model_s"] < unplug.t_s]
    counts = np.round(_counts(dev, values))
    # the last line returned is one of the last sent: at most the lines the cable lost (sent,
    # not yet read by the driver; no line is shorter than "0,0,0,0,0\r\n") plus one begun
    last = np.flatnonzero(np.all(sent_before["cells"] == counts[-1], axis=1))
    assert len(last)
    lost = len(sent_before) - 1 - int(last[-1])
    assert lost <= unplug.detail["bytes_in_flight"] // len("0,0,0,0,0\r\n") + 1
    after = read_after_reconnect(dev, 5.0)
    assert after and dev.connected and dev.stats.reconnects == 1 and board.boots == 2
    t_last = before[-1].t_host_s + (before[-1].n - 1) / 80.0
    # the gap is measured on the host clock (millis() restarted); ±1 for the ms-rounded t_ms
    assert abs(after[0].gap_before - (round((after[0].t_host_s - t_last) * 80.0) - 1)) <= 1
    assert after[0].gap_before > 20
    assert {"unplug", "replug"} <= {e.kind for e in dev.pop_events()}
    dev.close()


def test_open_devices_sim_diy_and_clear_errors(tmp_path):
    (dev,) = open_devices("sim:diy?seed=9&name=t-csv4-open")
    setup = dev.sim_setup
    assert dev.info.protocol == "CSV4" and dev.info.serial == setup.board.board_id
    dev.close()
    assert setup.stopped
    with pytest.raises(DeviceError, match="unknown option"):
        open_devices("sim:diy?colour=red")
    with pytest.raises(DeviceNotFound, match="cannot open"):
        Csv4Device.from_url(f"csv4://{tmp_path}/ttyNOPE")
    with SimPort("t-csv4-silent", serial_number="X") as silent:
        with pytest.raises(ProtocolError, match="no CSV4 banner"):
            Csv4Device.from_url(silent.device, boot_timeout=0.4)


def test_saturated_cells_are_flagged_overrange(diy):
    setup = diy(faults="overrange:0.5,overrange_s:0.03", start=30)
    dev = _open(setup)
    blocks, _, _ = collect(dev, 1.0)
    dev.close()
    _, values = per_sample(blocks)
    saturated = np.isclose(_counts(dev, values)[:, 0], RAW_LIMIT)
    assert saturated.any() and dev.stats.overrange == int(saturated.sum())
    flagged = [b for b in blocks if b.status & STATUS_OVERRANGE]
    assert flagged and sum(b.n for b in flagged) >= saturated.sum()
    assert setup.board.faults.records("overrange")


def test_reconnects_by_board_id_when_the_board_returns_on_another_port(diy):
    first = diy(board_id="FPDIY-MOVE1", name="t-csv4-move-a", start=30)
    dev = _open(first)
    dev.start()
    blocks = []
    while not blocks:
        blocks = dev.read(0.1)
    first.stop()  # the cable is pulled: this port disappears
    with pytest.raises(ConnectionLost):
        for _ in range(20):
            blocks += dev.read(0.1)  # what the board sent before the loss is handed out first
    last_host_s = blocks[-1].t_host_s + (blocks[-1].n - 1) / dev.rate_hz
    # the cable stays out for at least `away_s` (a fast machine replugs within one sample)
    away_s = 0.3
    wait_until(lambda: time.time() >= last_host_s + away_s, 5.0, "the time unplugged")
    other = diy(board_id="FPDIY-OTHER", name="t-csv4-move-b", start=30)
    again = diy(board_id="FPDIY-MOVE1", name="t-csv4-move-c", start=30)  # re-enumerated
    after = read_after_reconnect(dev, 6.0)
    assert after and dev.connected and dev.stats.reconnects == 1
    assert dev.port == again.ports[0] != other.ports[0]
    # the time away is a gap: the samples due between the last sample before and the first
    # after, on the host's time line, and at least those of the time unplugged
    assert after[0].seq == blocks[-1].seq + blocks[-1].n + after[0].gap_before
    assert abs(after[0].gap_before - ((after[0].t_host_s - last_host_s) * dev.rate_hz - 1)) <= 1
    assert after[0].gap_before >= round(away_s * dev.rate_hz) - 1
    dev.close()


def test_frequent_polls_hold_young_lines_and_stop_returns_them_all(diy):
    setup = diy(calibrated=1)
    dev = _open(setup)
    try:
        dev.hold_s = 1e9  # hold everything while streaming (a recorder polling every few ms)
        dev.min_block_lines = 10**9
        # the board streams 30 lines meanwhile; stopped: every line at once, the newest too
        held, blocks = poll_then_stop(dev, lambda: len(setup.board.sent), 30)
        assert held == []  # nothing handed out while the lines are young
        seq, _ = per_sample(blocks)
        assert len(seq) >= 30
        assert np.array_equal(seq, np.arange(seq[0], seq[0] + len(seq)))
        span_dev = blocks[-1].t_device_s + (blocks[-1].n - 1) / 80.0 - blocks[0].t_device_s
        assert len(seq) == pytest.approx(span_dev * 80.0 + 1, abs=1.01)
        # every line the board sent after START is there, the last one included
        sent_after_start = setup.board.sent[-len(seq):]
        assert np.allclose(_counts(dev, per_sample(blocks)[1]), sent_after_start["cells"],
                           atol=1e-3)
    finally:
        dev.close()
