"""LSL inlet devices against real LSL outlets in another process (pylsl over loopback).

The player streams the first seconds of a real treadmill run (Fukuchi 2017, 300 Hz) in real
time; ``forcelab record --device lsl:...`` records it like a lab plate.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from forcelab.drivers import open_devices
from forcelab.drivers.base import ROLE_COP_ML, ROLE_VERTICAL
from forcelab.drivers.errors import ConnectionLost, DeviceError
from lsl_testing import (
    RATE_HZ,
    Player,
    fukuchi_portion,
    unique_name,
    write_player_file,
)
from real_recordings import shared_data_folder
from subprocesses import forcelab_env, run_cli

from forcelab.analysis import analyze_recording
from forcelab.interop import load_recording
from forcelab.recording import Recording, Stream
from forcelab.store import open_session


def record(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return run_cli("record", *args, timeout=timeout)


@pytest.fixture
def players():
    started: list[Player] = []
    yield started
    for p in started:
        p.stop()


def play_run(tmp_path, players, prefix: str, *args: str):
    """Start the player on the Fukuchi portion (Fz in N, COPx in m); returns it and the run."""
    fz, cop = fukuchi_portion()
    rec_file = write_player_file(tmp_path / "run.npz", np.column_stack([fz, cop]),
                                 ["Fz", "COPx"], ["N", "m"])
    player = Player(rec_file, unique_name(prefix), *args)
    players.append(player)
    return player, fz, cop


def align(recorded: np.ndarray, source: np.ndarray, n: int = 90) -> int:
    """Index in ``source`` where ``recorded`` (float32 copies of it) begins: the one place where
    its first ``n`` samples (0.3 s, longer than any flight phase of the run) match."""
    want = np.asarray(recorded[:n], dtype=np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(
        np.asarray(source, dtype=np.float32).astype(np.float64), want.size)
    err = np.max(np.abs(windows - want), axis=1)
    hits = np.flatnonzero(err <= 1e-3)
    assert hits.size == 1, (hits[:5], float(err.min()))
    return int(hits[0])


def read_samples(device, n: int, timeout_s: float = 30.0) -> np.ndarray:
    """Read from a started device until it delivered ``n`` samples (a deadline, no sleep)."""
    got, total = [], 0
    deadline = time.monotonic() + timeout_s
    while total < n:
        assert time.monotonic() < deadline, f"only {total} of {n} samples arrived"
        for b in device.read(0.1):
            got.append(b.samples)
            total += b.n
    return np.concatenate(got)


def test_recorded_lsl_run_gives_the_stances_of_the_file(tmp_path, players):
    player, fz, cop = play_run(tmp_path, players, "fukuchi", "--wait-consumer", "30")
    name = player.name
    out = tmp_path / "lsl.h5"
    r = record("--device", f"lsl:{name}", "--athlete", "RBDS001", "--body-mass", "62",
               "--duration", "9.5", "-o", str(out), "--interval", "0")
    assert r.returncode == 0, r.stderr
    assert "connected: plate" in r.stdout
    assert "live asymmetry" in r.stdout  # sides from the stream's medio-lateral COP, live
    with open_session(out) as f:
        (stream,) = f.streams
        info = f.stream_info(stream)
        assert info["protocol"] == "LSL" and info["rate_hz"] == RATE_HZ
        assert f.stream_summary(stream)["gaps"] == 0
    recording = load_recording(out)
    s = recording.streams[0]
    start = align(s.fz, fz)
    n = s.n_samples
    assert n >= 7.5 * RATE_HZ  # everything after connecting, minus the start of the recording
    np.testing.assert_allclose(s.channels["cop_ml"], cop[start:start + n].astype(np.float32),
                               rtol=0, atol=1e-7)
    direct = analyze_recording(Recording(
        [Stream("plate", RATE_HZ, {"fz": fz[start:start + n], "cop_ml": cop[start:start + n]})],
        body_mass_kg=62.0))
    via_lsl = analyze_recording(recording)
    a = [(round(st["start_s"] * RATE_HZ), st["side"], st["valid"]) for st in direct.stances]
    b = [(round((st["start_s"] - s.t0_s) * RATE_HZ), st["side"], st["valid"])
         for st in via_lsl.stances]
    assert len(a) >= 20 and a == b
    for side in ("left", "right"):
        assert via_lsl.summary[side]["peak_force_n"]["mean"] == pytest.approx(
            direct.summary[side]["peak_force_n"]["mean"], rel=1e-5)
        assert via_lsl.summary[side]["contact_time_s"]["mean"] == pytest.approx(
            direct.summary[side]["contact_time_s"]["mean"], abs=1e-9)


def test_stream_that_stops_and_returns_is_a_counted_gap(tmp_path, players):
    player, fz, _ = play_run(tmp_path, players, "pausing", "--wait-consumer", "30",
                               "--pause-at", "2.5", "--pause-for", "1.5")
    name = player.name
    out = tmp_path / "pause.h5"
    r = record("--device", f"lsl:{name}", "--athlete", "A", "--duration", "8.5", "-o", str(out),
               "--interval", "0")
    # a device lost during the recording: exit 1, the file keeps everything
    assert r.returncode == 1, r.stderr
    assert f"LSL stream '{name}' is gone" in r.stdout
    assert "reconnected" in r.stdout
    paused = int(player.expect("paused").split()[-1])
    resumed = int(player.expect("resumed").split()[-1])
    with open_session(out) as f:
        (stream,) = f.streams
        summary = f.stream_summary(stream)
        data = f.read_stream(stream)
    assert summary["gaps"] == 1
    # the samples the sender never sent, plus those sent before the inlet found it again
    assert resumed - paused <= summary["samples_missing"] < resumed - paused + 4 * RATE_HZ
    seq = np.asarray(data.seq)
    after = seq[seq > seq[0] + 4 * RATE_HZ]
    assert after.size > RATE_HZ  # recording went on after the stream came back
    # every recorded sample sits at its own place: seq maps back onto the file
    first = align(np.asarray(data.samples)[:, 0], fz)
    np.testing.assert_array_equal(
        np.asarray(data.samples)[:, 0], fz[first + seq - seq[0]].astype(np.float32))


def test_stream_without_channel_metadata_needs_the_options(tmp_path, players):
    fz, cop = fukuchi_portion()
    name = unique_name("bare")
    rec_file = write_player_file(tmp_path / "run.npz", np.column_stack([cop, fz]),
                                 ["a", "b"], ["", ""])
    players.append(Player(rec_file, name, "--no-metadata"))
    out = tmp_path / "never.h5"
    r = record("--device", f"lsl:{name}", "--athlete", "A", "--duration", "2", "-o", str(out))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "no channel labels" in lines[0] and "vertical=" in lines[0] and "cop_ml=" in lines[0]
    assert not out.exists()
    (dev,) = open_devices(f"lsl:{name}?vertical=2&cop_ml=1&cop_ml_right=negative")
    try:
        roles = dev.info.columns_by_role()
        assert roles[ROLE_VERTICAL] == [1] and roles[ROLE_COP_ML] == [0]
        dev.start()
        got = read_samples(dev, 600)
        start = align(got[:, 1], fz)
        np.testing.assert_allclose(got[:, 0], -cop[start:start + got.shape[0]], atol=1e-6)
    finally:
        dev.close()


def test_kilonewtons_and_millimetres_are_read_in_n_and_m(tmp_path, players):
    fz, cop = fukuchi_portion()
    name = unique_name("units")
    rec_file = write_player_file(tmp_path / "run.npz",
                                 np.column_stack([fz / 1000.0, cop * 1000.0, fz / 9.80665]),
                                 ["Fz", "COP x", "weight"], ["kN", "mm", "kgf"])
    players.append(Player(rec_file, name))
    with pytest.raises(DeviceError, match="rate= only applies to irregular-rate streams"):
        open_devices(f"lsl:{name}?rate=100")
    (dev,) = open_devices(f"lsl:{name}")
    try:
        assert [(c.name, c.unit) for c in dev.info.channels] == [
            ("fz", "N"), ("cop_ml", "m"), ("weight", "kgf")]
        dev.start()
        got = read_samples(dev, 600)
    finally:
        dev.close()
    start = align((got[:, 0] / 1000.0).astype(np.float32), (fz / 1000.0))
    n = got.shape[0]
    np.testing.assert_allclose(got[:, 0], fz[start:start + n], rtol=1e-6, atol=1e-3)
    np.testing.assert_allclose(got[:, 1], cop[start:start + n], rtol=1e-6, atol=1e-7)


def test_unknown_stream_and_bad_options_are_one_line_errors(tmp_path):
    out = tmp_path / "x.h5"
    r = record("--device", f"lsl:{unique_name('absent')}?resolve_s=0.5", "--athlete", "A",
               "--duration", "1", "-o", str(out))
    assert r.returncode == 2 and "no LSL stream matches name=" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = record("--device", "lsl:x?colour=red", "--athlete", "A", "--duration", "1",
               "-o", str(out))
    assert r.returncode == 2 and "unknown lsl: option(s) colour" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("clock_back", ["0", "100"])
def test_a_lost_stream_raises_connection_lost_and_reattaches(tmp_path, players, clock_back):
    # clock_back 100: the sender comes back with its clock 100 s earlier (it restarted); the
    # time it was away is still a gap, measured on this computer's clock
    player, _, _ = play_run(tmp_path, players, "replug", "--wait-consumer", "30",
                            "--pause-at", "1.0", "--pause-for", "0.5", "--clock-back", clock_back)
    name = player.name
    (dev,) = open_devices(f"lsl:{name}")
    try:
        dev.start()
        kinds, gaps = [], []
        deadline = time.monotonic() + 30
        while "replug" not in kinds or not gaps:
            assert time.monotonic() < deadline, kinds
            try:
                gaps += [b.gap_before for b in dev.read(0.1) if b.gap_before]
            except ConnectionLost as exc:
                assert "is gone" in str(exc)
            kinds += [ev.kind for ev in dev.pop_events()]
        assert kinds[:2] == ["unplug", "replug"]
        assert dev.stats.gaps == 1 and dev.stats.dropped_samples == gaps[0] > 0.5 * RATE_HZ
        assert dev.stats.reconnects == 1
    finally:
        dev.close()


def test_irregular_rate_stream_is_resampled_onto_its_measured_rate(tmp_path, players):
    player, fz, cop = play_run(tmp_path, players, "irregular", "--irregular")
    name = player.name
    (dev,) = open_devices(f"lsl:{name}")
    try:
        assert dev.info.rate_hz == RATE_HZ  # measured from the time stamps
        assert dev.info.extra["resampled"] is True
        dev.start()
        got = read_samples(dev, 600)
    finally:
        dev.close()
    # the samples lie on the grid, so resampling gives them back
    start = align(got[:, 0], fz)
    np.testing.assert_allclose(got[:, 0], fz[start:start + got.shape[0]].astype(np.float32),
                               rtol=1e-5, atol=1e-3)
    assert dev.stats.gaps == 0


def test_devices_lists_the_lsl_streams_beside_the_serial_ports(tmp_path, players):
    sid = unique_name("src")
    player, _, _ = play_run(tmp_path, players, "listed", "--source-id", sid)
    name = player.name
    r = run_cli("devices", "--lsl-wait", "3", "--json", timeout=60)
    assert r.returncode == 0, r.stderr
    entries = [d for d in json.loads(r.stdout) if d.get("lsl", {}).get("name") == name]
    assert entries == [{"device": f"lsl:?source_id={sid}", "lsl": {
        "device": f"lsl:?source_id={sid}", "name": name, "type": "Force",
        "channel_count": 2, "rate_hz": RATE_HZ, "source_id": sid,
        "hostname": entries[0]["lsl"]["hostname"]}}]
    table = run_cli("devices", "--lsl-wait", "3", timeout=60)
    assert "LSL streams" in table.stdout
    row = next(line for line in table.stdout.splitlines() if name in line)
    assert row.split()[:2] == [f"lsl:?source_id={sid}", name] and "300 Hz" in row
    # the device string it prints opens the stream, and so does the name with or without //
    for device in (entries[0]["device"], f"lsl:{name}", f"lsl://{name}"):
        (dev,) = open_devices(device)
        assert dev.info.extra["lsl"]["source_id"] == sid
        dev.close()


@pytest.mark.parametrize("args, hint", [
    (["record", "--device", "lsl:x", "--athlete", "A", "--duration", "1", "-o", "{out}"],
     "LSL devices need pylsl"),
    (["record", "--device", "sim:plate", "--athlete", "A", "--duration", "1", "-o", "{out}",
      "--lsl-outlet"], "publishing over LSL needs pylsl"),
    (["analyze", "{xdf}"], "reading XDF needs pyxdf"),
])
def test_without_the_lsl_extra_one_line_says_what_to_install(tmp_path, args, hint):
    out = tmp_path / "x.h5"
    code = ("import sys; sys.modules['pylsl'] = None; sys.modules['pyxdf'] = None; "
            "from forcelab.cli import main; sys.exit(main(sys.argv[1:]))")
    xdf = shared_data_folder() / "xdf_examples" / "minimal.xdf"
    r = subprocess.run([sys.executable, "-c", code,
                        *[a.format(out=out, xdf=xdf) for a in args]],
                       capture_output=True, text=True, timeout=60, env=forcelab_env())
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert hint in r.stderr and "pip install 'forcelab[lsl]'" in r.stderr
    assert not out.exists()


def test_zero_subtracts_the_unloaded_offset_of_force_channels(tmp_path, players):
    n = int(20 * RATE_HZ)
    rng = np.random.default_rng(4)
    fz = 27.0 + rng.normal(0.0, 0.5, n)  # an unloaded plate that was never zeroed
    cop = np.full(n, 0.12)
    rec_file = write_player_file(tmp_path / "empty.npz", np.column_stack([fz, cop]),
                                 ["Fz", "COPx"], ["N", "m"])
    player = Player(rec_file, unique_name("tare"))
    players.append(player)
    (dev,) = open_devices(f"lsl:{player.name}")
    try:
        dev.start()
        before = read_samples(dev, 150)
        dev.zero()
        after = read_samples(dev, 300)
    finally:
        dev.close()
    assert np.mean(before[:, 0]) == pytest.approx(27.0, abs=0.5)
    assert np.mean(after[:, 0]) == pytest.approx(0.0, abs=0.3)
    np.testing.assert_allclose(after[:, 1], 0.12, rtol=1e-6)  # a COP is not zeroed


def test_samples_lost_inside_a_live_stream_are_an_exact_gap(tmp_path, players):
    # 0.3 s of samples (90) never sent while the stream stays: LSL's own sample loss
    player, fz, _ = play_run(tmp_path, players, "skip", "--wait-consumer", "30",
                             "--skip-at", "1.5", "--skip-s", "0.3")
    (dev,) = open_devices(f"lsl:{player.name}")
    try:
        dev.start()
        blocks = []
        deadline = time.monotonic() + 30
        while sum(b.n for b in blocks) < 3 * RATE_HZ:
            assert time.monotonic() < deadline
            blocks += dev.read(0.1)
            assert not dev.pop_events()  # no unplug: the stream never went away
    finally:
        dev.close()
    gaps = [b for b in blocks if b.gap_before]
    assert len(gaps) == 1 and gaps[0].gap_before == 90
    assert dev.stats.gaps == 1 and dev.stats.dropped_samples == 90
    seq = np.concatenate([b.seq + np.arange(b.n) for b in blocks])
    values = np.concatenate([b.samples[:, 0] for b in blocks])
    start = align(values, fz)
    # every sample sits at its own number: the gap is where the samples are missing
    np.testing.assert_array_equal(values, fz[start + seq - seq[0]].astype(np.float32))
    assert seq[-1] - seq[0] + 1 == seq.size + 90


def test_time_stamps_jittered_by_the_push_are_not_mistaken_for_loss(tmp_path, players):
    # most LSL apps let LSL stamp a chunk when it is pushed: chunk boundaries jitter with the
    # sender's scheduling (more on this loaded machine), yet nothing is lost
    player, fz, _ = play_run(tmp_path, players, "jitter", "--wait-consumer", "30",
                             "--stamp-at-push", "--chunk-s", "0.02")
    (dev,) = open_devices(f"lsl:{player.name}")
    try:
        dev.start()
        got = read_samples(dev, int(4 * RATE_HZ))
    finally:
        dev.close()
    assert dev.stats.gaps == 0 and dev.stats.dropped_samples == 0
    start = align(got[:, 0], fz)
    np.testing.assert_array_equal(got[:, 0], fz[start:start + got.shape[0]].astype(np.float32))


def test_a_predicate_opens_every_matching_stream(tmp_path, players):
    stream_type = unique_name("ForceTest")  # no other stream on this machine has this type
    fz, cop = fukuchi_portion()
    rec_file = write_player_file(tmp_path / "run.npz", np.column_stack([fz, cop]),
                                 ["Fz", "COPx"], ["N", "m"])
    for side in ("left", "right"):
        players.append(Player(rec_file, unique_name(f"belt {side}"), "--type", stream_type))
    devices = open_devices(f"lsl:?type={stream_type}")
    try:
        assert sorted(d.info.side for d in devices) == ["left", "right"]
        assert all(d.info.extra["lsl"]["type"] == stream_type for d in devices)
    finally:
        for d in devices:
            d.close()
