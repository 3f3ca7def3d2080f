"""The recorder end to end on real simulated devices behind ptys, the real drivers and store."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from acquisition_helpers import recorded, wait_until

from forcelab.acquisition import (
    AcquisitionError,
    NotStillError,
    SessionController,
    State,
    StateError,
)
from forcelab.errors import SessionFileError
from forcelab.store import open_session

ATHLETE = {"name": "Ann Runner", "id": "A-17", "body_mass_kg": 61.0}


def _dropped_frames(simulator):
    return {r.frame for r in simulator.faults.log if r.kind == "drop"}


def test_every_sent_sample_is_in_the_file_and_drops_are_gaps(tmp_path, insoles, controller):
    setup = insoles(seed=3, faults="drop:0.03", rate=100)
    names = controller.connect(setup.urls)
    assert names == ["insole_left", "insole_right"]
    path = tmp_path / "session.h5"
    controller.start_recording(path, athlete=ATHLETE, operator="lab tech", notes="test")
    controller.start_trial("run 3 m/s", tags=["baseline", "shoe A"], speed_m_s=3.0)

    # a "GUI" polls as fast as it can from two threads meanwhile; it never holds anything up
    polls, problems, stop = [0], [], threading.Event()

    def gui():
        try:
            while not stop.is_set():
                controller.snapshot()
                controller.peek("insole_left", 10.0)
                controller.poll_events()
                polls[0] += 1
        except Exception as exc:  # reported to the test below
            problems.append(exc)

    pollers = [threading.Thread(target=gui) for _ in range(2)]
    for t in pollers:
        t.start()
    wait_until(lambda: min(recorded(controller, n) for n in names) >= 250, what="2.5 s of data")
    t_marker = controller.add_marker("shoe change")
    stop.set()
    for t in pollers:
        t.join()
    assert not problems and polls[0] > 10
    summary = controller.stop_recording()
    assert controller.state == State.STOPPED
    controller.disconnect()

    with open_session(path) as f:
        assert f.athlete["name"] == "Ann Runner"
        assert f.athlete["body_mass_kg"] == pytest.approx(61.0)
        assert [t["name"] for t in f.trials] == ["run 3 m/s"]
        assert f.trials[0]["tags"] == ["baseline", "shoe A"]
        assert f.trials[0]["speed_m_s"] == pytest.approx(3.0)
        assert f.trials[0]["stop_s"] is not None
        assert [m["label"] for m in f.markers] == ["shoe change"]
        assert f.markers[0]["t_s"] == pytest.approx(t_marker, abs=1e-6)
        n_gaps_total = 0
        for side, sim in zip(("left", "right"), setup.simulators, strict=True):
            name = f"insole_{side}"
            data = f.read_stream(name)
            seq = data.seq.astype(np.int64)
            assert seq.size == summary["streams"][name]["samples_recorded"]
            sent = sim.sent
            dropped = _dropped_frames(sim)
            in_range = (sent["seq"] >= seq[0]) & (sent["seq"] <= seq[-1])
            arrived = ~np.isin(sent["frame"], list(dropped))
            # every sample the simulator sent during the recording is in the file, in order
            np.testing.assert_array_equal(seq, sent["seq"][in_range & arrived])
            # with the values the device sent (total force, LSB 0.5 N)
            fz = data.samples[:, data.channels.index("fz")]
            np.testing.assert_allclose(fz, sent["f_total"][in_range & arrived] * 0.5, atol=0.26)
            # and every missing sample is in the gap table, nowhere else
            missing = np.setdiff1d(np.arange(seq[0], seq[-1] + 1), seq)
            assert int(data.gaps["n_missing"].sum()) == missing.size
            gap_seqs = np.concatenate(
                [np.arange(g["seq_start"], g["seq_start"] + g["n_missing"]) for g in data.gaps]
                or [np.empty(0, int)]
            )
            np.testing.assert_array_equal(np.sort(gap_seqs), missing)
            n_gaps_total += missing.size
        assert n_gaps_total > 0, "the fault injector should have dropped frames"


def _strike_times(data, threshold_n=50.0, unloaded_s=0.04):
    """Foot strikes: the first sample above the threshold after >= unloaded_s below it."""
    fz = data.samples[:, data.channels.index("fz")]
    k = max(1, int(round(unloaded_s * data.rate_hz)))
    above = fz > threshold_n
    strikes = [i for i in np.flatnonzero(above[k:] & ~above[k - 1 : -1]) + k
               if not above[i - k : i].any()]
    return data.t_s[np.array(strikes, dtype=int)]


def test_a_plate_and_two_insoles_share_the_session_time_base(tmp_path, sim_setup, controller):
    """Two insoles and two belt plates, each on its own drifting clock started at an unrelated
    time, land on one session time base: every foot strike is where the simulator put it."""
    feet = sim_setup("insoles", seed=5, drift_ppm=300, drift_ppm_right=-100, rate=100)
    belts = sim_setup("treadmill", seed=6, drift=80)
    # model time 0 of each belt's simulator on the host clock (each simulator has its own)
    t0_belt = {
        side: time.time() - sim.model_time_s()
        for side, sim in zip(("left", "right"), belts.simulators, strict=True)
    }
    controller.connect([*feet.urls, *belts.urls])
    assert controller.stream_names == ["insole_left", "insole_right", "plate_left", "plate_right"]
    path = tmp_path / "clocks.h5"
    controller.start_recording(path, athlete=ATHLETE)
    wait_until(lambda: recorded(controller, "insole_right") >= 300, what="3 s of data")
    controller.stop_recording()
    controller.disconnect()
    true_feet = feet.true_stances()
    true_belts = belts.truth.stances()
    t0 = controller.session_start_s
    with open_session(path) as f:
        assert f.t0_unix_s == pytest.approx(t0)
        for side in ("left", "right"):
            for name, true in (
                (f"insole_{side}",
                 [s["start_host_s"] - t0 for s in true_feet if s["side"] == side]),
                (f"plate_{side}",
                 [t0_belt[side] + s.start_s - t0 for s in true_belts if s.side == side]),
            ):
                starts = _strike_times(f.read_stream(name))
                assert starts.size >= 3, name
                err = np.array([np.min(np.abs(np.array(true) - t)) for t in starts])
                # within 4 samples at 100 Hz (clock fits on a loaded machine); unmapped device
                # clocks would be off by their unrelated start times (10 to 3000 s)
                assert np.all(err < 0.04), (name, err)


def test_state_machine_refuses_invalid_transitions(tmp_path, insoles, controller):
    with pytest.raises(StateError, match="connect devices first"):
        controller.start_recording(tmp_path / "x.h5", athlete=ATHLETE)
    with pytest.raises(StateError):
        controller.start_trial("t")
    with pytest.raises(StateError):
        controller.stop_recording()
    with pytest.raises(StateError):
        controller.tare()
    with pytest.raises(AcquisitionError, match="no device"):
        controller.connect([])
    setup = insoles(seed=1)
    controller.connect(setup.urls)
    with pytest.raises(StateError, match="while connected"):
        controller.connect(setup.urls)
    with pytest.raises(StateError, match="start recording first"):
        controller.add_marker("m")
    existing = tmp_path / "exists.h5"
    existing.write_bytes(b"precious")
    with pytest.raises(SessionFileError, match="never overwrites"):
        controller.start_recording(existing, athlete=ATHLETE)
    assert existing.read_bytes() == b"precious"
    assert controller.state == State.CONNECTED
    controller.start_recording(tmp_path / "s.h5", athlete=ATHLETE)
    with pytest.raises(StateError, match="stop recording first"):
        controller.tare()
    with pytest.raises(StateError):
        controller.weigh(1.0)
    controller.start_trial("one")
    with pytest.raises(AcquisitionError, match="already exists"):
        controller.start_trial("one")
    with pytest.raises(AcquisitionError, match="needs a name"):
        controller.start_trial("  ")
    controller.start_trial("two")  # stops "one" first
    controller.stop_recording()
    with open_session(tmp_path / "s.h5") as f:
        trials = f.trials
    assert [t["name"] for t in trials] == ["one", "two"]
    assert trials[0]["stop_s"] <= trials[1]["start_s"]
    # stopped -> a second recording into a new file
    controller.start_recording(tmp_path / "s2.h5", athlete=ATHLETE)
    controller.stop_recording()
    controller.disconnect()
    assert controller.state == State.IDLE
    kinds = [e.kind for e in controller.poll_events()]
    assert kinds.count("recording_started") == 2 and "trial_started" in kinds


def test_tare_and_weighing_reject_a_running_athlete(insoles, controller):
    setup = insoles(seed=2, speed=3.0)
    controller.connect(setup.urls)
    wait_until(lambda: controller.snapshot().devices[1].samples >= 150, what="1.5 s of running")
    # the insoles are worn by a runner: taring now is refused by a loaded insole itself or,
    # when both feet happen to be in the air, flagged from the force seen meanwhile
    try:
        ranges = controller.tare()
    except AcquisitionError as exc:
        assert "loaded" in str(exc)
    else:
        events = controller.poll_events()
        assert any(e.kind == "tared" for e in events)
        warned = {e.stream for e in events if e.kind == "tare_loaded"}
        assert warned == {"insole_left", "insole_right"}
        assert all(r > 100 for r in ranges.values())
    assert controller.state == State.CONNECTED
    with pytest.raises(NotStillError, match="moved"):
        controller.weigh(1.5)
    assert controller.state == State.CONNECTED
    assert controller.snapshot().body_mass_kg is None
    with pytest.raises(AcquisitionError, match="0.5 to 60"):
        controller.weigh(0.1)


def test_tare_plates_and_weighing_an_empty_plate_is_refused(sim_setup, controller):
    # the runner steps on the belts only after 100 s: the plates are empty now
    setup = sim_setup("treadmill", seed=13, start=100)
    controller.connect(setup.urls)
    ranges = controller.tare()  # FPB1 ZERO while streaming, answered between DATA frames
    assert set(ranges) == {"plate_left", "plate_right"}
    assert all(r < 100 for r in ranges.values())  # empty plates: no warning
    assert not [e for e in controller.poll_events() if e.kind == "tare_loaded"]
    t, fz = controller.peek_channel("plate_left", "fz", 0.5)
    assert t.size > 0 and np.all(np.abs(fz) < 20)  # zeroed plate, noise only
    with pytest.raises(NotStillError, match="too low"):
        controller.weigh(1.0)
    assert controller.state == State.CONNECTED
    assert controller.body_weight is None


def test_peek_gives_the_latest_seconds_for_plots(insoles, controller):
    setup = insoles(seed=4)
    controller.connect(setup.urls)
    wait_until(lambda: controller.snapshot().devices[0].samples >= 150, what="1.5 s of data")
    t, fz = controller.peek_channel("insole_left", "fz", 1.0)
    assert t.size == 100  # 1 s at 100 Hz
    assert np.all(np.diff(t) > 0)
    t_all, samples = controller.peek("insole_right", 60.0)
    assert samples.shape[1] == len(controller.channel_names("insole_right"))
    with pytest.raises(AcquisitionError, match="no channel"):
        controller.peek_channel("insole_left", "nope", 1.0)
    with pytest.raises(AcquisitionError, match="no connected stream"):
        controller.peek("plate", 1.0)


def test_live_figures_follow_the_simulated_asymmetry(tmp_path, sim_setup):
    setup = sim_setup("treadmill", seed=12, asymmetry=0.1, mass=80, rate=500)
    controller = SessionController(analysis_options={"init_window_s": 2.0})
    request_close = controller.close
    try:
        _live_figures(tmp_path, setup, controller)
    finally:
        request_close()


def _live_figures(tmp_path, setup, controller):
    controller.connect(setup.urls)
    controller.start_recording(tmp_path / "live.h5", athlete={"name": "Fay", "body_mass_kg": 80})
    controller.start_trial("warm-up")
    wait_until(lambda: len(controller.live_stances()) >= 20, what="20 live stances")
    snap = controller.snapshot()
    live = snap.live
    assert live["si_pct"] == pytest.approx(10.0, abs=3.0)
    assert "higher on the right" in live["symmetry_text"]
    for side in ("left", "right"):
        s = live["sides"][side]
        assert s["midstance_peak_bw"] == pytest.approx(s["midstance_peak_n"] / (80 * 9.80665))
        assert s["cadence_spm"] == pytest.approx(setup.truth.params.mean_cadence_spm, rel=0.05)
    stances = controller.live_stances()
    assert len(stances) >= 20 and {s["side"] for s in stances} == {"left", "right"}
    assert controller.live_stances(last_n=3) == stances[-3:]
    # a new trial restarts the running figures
    controller.start_trial("main")
    assert controller.snapshot().live["n_stances"] <= 2
    controller.stop_recording()
    n_total = controller.snapshot().stance_count
    # every live stance is in the session file as a "stance" event
    with open_session(tmp_path / "live.h5") as f:
        events = [e for e in f.events if e["kind"] == "stance"]
    assert len(events) == n_total
    details = [json.loads(e["message"]) for e in events]
    assert {d["side"] for d in details} == {"left", "right"}
    for e, d in zip(events, details, strict=True):
        assert d["end_s"] > e["t_s"]
        if d["valid"]:
            assert abs(e["arg"] - d["midstance_peak_n"]) <= 0.55  # N, rounded twice


def test_a_call_the_state_forbids_fails_at_once_during_weighing(sim_setup, controller):
    setup = sim_setup("treadmill", seed=15, start=100)
    controller.connect(setup.urls)
    result = {}

    def weigh():
        try:
            controller.weigh(3.0)
        except NotStillError as exc:  # an empty plate
            result["error"] = exc

    t = threading.Thread(target=weigh)
    t.start()
    wait_until(lambda: controller.state == State.WEIGHING, what="weighing to start")
    # "while weighing": refused at once (after waiting for the weighing it would say "connected")
    with pytest.raises(StateError, match="while weighing"):
        controller.add_marker("too early")
    assert controller.snapshot().state == State.WEIGHING  # snapshots never wait either
    t.join()
    assert "too low" in str(result["error"])
