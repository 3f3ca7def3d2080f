"""Live feedback as a coach runs it: ``forcelab feedback`` in a real subprocess on simulated
plates behind real ptys, cues over real UDP sockets, real session files read back and compared
with the batch analysis of the same file."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from subprocesses import forcelab_env, killed_at_end, one_error_line, run_cli

from forcelab.acquisition import SessionController
from forcelab.acquisition.feedback import CueHub, LiveFeedback
from forcelab.analysis.asymmetry import robinson_si_pct
from forcelab.analysis.feedback import TOLERANCE_PCT, Cue, FeedbackEngine
from forcelab.errors import InputError
from forcelab.store import open_session


def _free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session(path):
    """(trials by name, cues in file order, feedback settings, live stance events)."""
    with open_session(path) as f:
        events = f.events
        trials = {t["name"]: t for t in f.trials}
    cues = [Cue.from_json(e["message"]) for e in events if e["kind"] == "cue"]
    for e, c in zip([e for e in events if e["kind"] == "cue"], cues, strict=True):
        assert e["seq"] == c.stance_index and e["stream"] == c.stream
        assert e["t_s"] == pytest.approx(c.t_issued_s, abs=1e-6)
    # the settings whenever they changed, the first at the start: the last one holds
    written = [(e["t_s"], json.loads(e["message"])) for e in events if e["kind"] == "feedback"]
    assert written[0][0] < 1.0 and written[0][1]["baseline"] is None
    assert all(a[1] != b[1] for a, b in zip(written[:-1], written[1:], strict=True))
    stances = [dict(json.loads(e["message"]), stream=e["stream"], start_s=e["t_s"])
               for e in events if e["kind"] == "stance"]
    return trials, cues, written[-1][1], stances


def _batch_stances(path, body_mass="70"):
    """Stances of the batch analysis of the whole session file (``forcelab analyze``)."""
    r = run_cli("analyze", str(path), "--json", "--body-mass", body_mass)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["stances"]


def _in_trial(stances, trial, side=None):
    return [s for s in stances if s["valid"] and (side is None or s["side"] == side)
            and trial["start_s"] <= s["start_s"] < trial["stop_s"]]


def test_feedback_lowers_the_loading_rate_of_a_runner_who_listens(tmp_path):
    """Baseline -> training -> post -> retention on a runner who responds to cues: a cue for
    every left stance of every phase (the batch analysis of the file finds the same stances),
    shown in training only, the band from the baseline trial's mean, and a lower loading rate
    after training that partly stays."""
    port = _free_udp_port()
    out = tmp_path / "ann.h5"
    r = run_cli(
        "feedback", "-d", f"sim:treadmill?seed=5&respond=valr_n_s:-30&cue_port={port}&learn=0.1",
        "--athlete", "Ann", "--body-mass", "70", "--metric", "valr_n_s", "--target=-20%",
        "--side", "left", "--protocol", "baseline=12,training=30,post=10,retention=10",
        "--cue-udp", f"127.0.0.1:{port}", "-o", str(out), "--json",
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    trials, cues, settings, live = _session(out)
    assert result["cues"] == len(cues) and result["latency_ms"]["p99"] is not None
    assert [t["tags"] for t in trials.values()] == [
        ["feedback:baseline"], ["feedback:training"], ["feedback:post"],
        ["feedback:retention"]]
    batch = _batch_stances(out)
    for phase in ("baseline", "training", "post", "retention"):
        mine = [c for c in cues if c.phase == phase]
        left = _in_trial(batch, trials[phase], "left")
        assert len(left) >= 8
        assert [c.t_toe_off_s for c in mine] == pytest.approx([s["end_s"] for s in left])
        assert [c.value for c in mine] == pytest.approx([s["valr_n_s"] for s in left], rel=1e-6)
        assert all(c.side == "left" and c.shown == (phase == "training") for c in mine)
        # and each is the live stance stored in the file under its index, on the left plate
        for c in mine:
            stance = live[c.stance_index]
            assert stance["stream"] == "plate_left" == c.stream
            assert stance["end_s"] == pytest.approx(c.t_toe_off_s, abs=1e-4)
        assert all(c.t_issued_s >= c.t_toe_off_s for c in mine)
    baseline = np.mean([s["valr_n_s"] for s in _in_trial(batch, trials["baseline"], "left")])
    assert settings["baseline"] == pytest.approx(baseline, rel=1e-6)
    half = 0.8 * baseline * TOLERANCE_PCT / 100
    band = (0.8 * baseline - half, 0.8 * baseline + half)
    assert (settings["band_low"], settings["band_high"]) == pytest.approx(band)
    training = [c for c in cues if c.phase == "training"]
    assert all((c.band_low, c.band_high) == pytest.approx(band) for c in training)
    assert any(c.zone == "above" for c in training)
    means = {p: np.mean([c.value for c in cues if c.phase == p]) for p in trials}
    assert result["phase_means"] == pytest.approx(means)
    assert means["post"] < 0.9 * means["baseline"]  # the runner loads more softly after training
    assert means["retention"] < 0.9 * means["baseline"]  # and mostly keeps it


def _audio_unavailable_reason():
    """Why no cue can be heard on this machine ("" when one can), asked in a fresh process."""
    r = subprocess.run(
        [sys.executable, "-c", "from PyQt5.QtCore import QCoreApplication as A; app = A([]); "
         "from forcelab.console.audio import unavailable_reason as u; print(u())"],
        capture_output=True, text=True, timeout=60, env=forcelab_env())
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.mark.parametrize("schedule", ["faded", "bandwidth", "summary:3"])
def test_schedules_are_followed_exactly_and_every_cue_goes_out_over_udp(tmp_path, schedule):
    out = tmp_path / "s.h5"
    audio = "tone" if schedule == "bandwidth" else "none"
    # faded trains the braking peak (the plates' fore-aft channel), the others the loading rate
    metric, target = (("peak_braking_n", "300") if schedule == "faded"
                      else ("valr_n_s", "56000:62000"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as display:
        display.bind(("127.0.0.1", 0))
        display.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        r = run_cli(
            "feedback", "-d", "sim:treadmill?seed=2&variability=0.05", "--athlete", "Bo",
            "--body-mass", "70", "--metric", metric, "--target", target,
            "--side", "left", "--schedule", schedule, "--duration", "14", "-o", str(out),
            "--cue-udp", f"127.0.0.1:{display.getsockname()[1]}", "--audio", audio,
        )
        assert r.returncode == 0, r.stderr
        display.setblocking(False)
        datagrams = []
        while True:
            try:
                datagrams.append(display.recv(65536).decode())
            except BlockingIOError:
                break
    trials, cues, settings, _ = _session(out)
    assert datagrams == [c.to_json() for c in cues]
    assert f"{len(cues)} cues" in r.stdout
    # the terminal shows the shown cues, one line each, in order
    printed = [line for line in r.stdout.splitlines() if line.startswith("cue ")]
    assert printed == [f"cue {c.text()}" for c in cues if c.shown]
    if audio == "tone":  # without a sound device: one line says so, the feedback goes on
        reason = _audio_unavailable_reason()
        assert (f"forcelab feedback: {reason}" in r.stdout) if reason else (
            "not heard" not in r.stdout + r.stderr)
    trial = trials["feedback"]
    left = _in_trial(_batch_stances(out), trial, "left")
    assert all(c.phase == "" for c in cues) and settings["schedule"] == schedule.split(":")[0]
    if schedule == "faded":
        duration = settings["phases"][0]["duration_s"]
        assert duration == 14.0 and len(cues) == len(left)
        assert [c.value for c in cues] == pytest.approx([s[metric] for s in left], rel=1e-6)
        assert all(c.value > 100 for c in cues)  # a braking peak of a run, in N
        acc = 0.0
        for c in cues:
            rate = 100.0 * min(1.0, max(0.0, 1.0 - (c.t_toe_off_s - trial["start_s"]) / duration))
            assert c.schedule_state == pytest.approx(rate, abs=1e-6)
            acc += c.schedule_state / 100.0
            assert c.shown == (acc >= 1.0)
            acc -= 1.0 if c.shown else 0.0
        assert 0 < sum(c.shown for c in cues) < len(cues)
    elif schedule == "bandwidth":
        assert len(cues) == len(left)
        assert [c.shown for c in cues] == [not 56000 <= s["valr_n_s"] <= 62000 for s in left]
        assert 0 < sum(c.shown for c in cues) < len(cues)
    else:
        assert len(cues) == len(left) // 3 >= 4
        for k, c in enumerate(cues):
            group = left[3 * k: 3 * k + 3]
            assert c.value == pytest.approx(np.mean([s["valr_n_s"] for s in group]), rel=1e-6)
            assert c.t_toe_off_s == pytest.approx(group[-1]["end_s"])
            assert c.shown and c.schedule_state == 3.0


def test_controller_cue_queue_and_listeners_see_every_cue_of_the_file(tmp_path):
    """The contract the console builds on: cues() and add_cue_listener() give the cues the file
    stores; per-stride SI cues pair each right stance with the left one before it; the first
    trial starts after the detectors' warm-up, so no cue waits for it."""
    heard, arrived = [], threading.Condition()

    def listener(cue):
        with arrived:
            heard.append(cue)
            arrived.notify_all()

    ctl = SessionController()
    try:
        engine = FeedbackEngine("midstance_peak_si", "-2:2", side="right")
        feedback = ctl.set_feedback(engine, {"": 60.0})
        ctl.add_cue_listener(listener)
        ctl.connect("sim:treadmill?seed=4&asymmetry=-0.06")
        path = tmp_path / "si.h5"
        ctl.start_recording(path, athlete={"name": "Cy", "body_mass_kg": 70})
        assert feedback.wait_ready(60.0)
        ctl.start_trial("si run")
        with arrived:
            assert arrived.wait_for(lambda: len(heard) >= 8, timeout=60.0)
        ctl.stop_recording()
    finally:
        ctl.disconnect()
    taken = ctl.cues()
    assert taken == heard and ctl.cues() == []
    trials, cues, settings, live = _session(path)
    assert cues == heard and settings["metric"] == "midstance_peak_si"
    starts = sorted(live, key=lambda s: s["start_s"])
    trial_start = trials["si run"]["start_s"]
    for c in cues:
        k = next(i for i, s in enumerate(starts) if abs(s["end_s"] - c.t_toe_off_s) < 1e-3)
        right, left = starts[k], starts[k - 1]
        assert right["side"] == "right" and left["side"] == "left"
        assert right["start_s"] >= trial_start and c.shown and c.phase == ""
        # stance events keep the peak to 0.1 N
        expected = robinson_si_pct(left["midstance_peak_n"], right["midstance_peak_n"])
        assert c.value == pytest.approx(expected, abs=0.02)
        assert c.t_issued_s >= c.t_toe_off_s
    assert np.mean([c.value for c in cues]) < 0  # the left side loads 6 % more
    assert min(c.t_toe_off_s for c in cues) > 5.0  # after the warm-up


BASE = ["feedback", "-d", "sim:treadmill", "--athlete", "A", "--body-mass", "70"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--metric", "loading", "--target", "1", "--duration", "5"], "cannot train"),
        (["--metric", "valr_n_s", "--target", "fast", "--duration", "5"], "target"),
        (["--metric", "valr_n_s", "--target", "9:3", "--duration", "5"], "low below high"),
        (["--metric", "valr_n_s", "--target", "1", "--schedule", "summary:1", "--duration", "5"],
         "schedule"),
        (["--metric", "valr_n_s", "--target", "1", "--protocol", "training=x"], "protocol"),
        (["--metric", "valr_n_s", "--target", "1", "--protocol", "post=5,training=5"], "order"),
        (["--metric", "valr_n_s", "--target=-15%", "--duration", "5"], "baseline"),
        (["--metric", "valr_n_s", "--target", "1", "--duration", "5", "--protocol",
          "training=5"], "either"),
        (["--metric", "valr_n_s", "--target", "1"], "--duration"),
        (["--metric", "valr_n_s", "--target", "1", "--duration", "-2"], "duration"),
        (["--metric", "valr_n_s", "--target", "1", "--duration", "5", "--cue-udp", "nohost"],
         "HOST:PORT"),
        (["--metric", "valr_n_s", "--target", "1", "--duration", "5", "--side", "middle"],
         "side"),
        (["--metric", "valr_n_s", "--target", "1", "--duration", "5", "--body-mass", "-3"],
         "body mass"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, words):
    out = tmp_path / "x.h5"
    line = one_error_line(run_cli(*BASE, *args, "-o", str(out), timeout=60))
    assert words in line
    assert not out.exists()


def test_bad_device_option_and_existing_file_change_nothing(tmp_path):
    out = tmp_path / "x.h5"
    line = one_error_line(run_cli(
        "feedback", "-d", "sim:treadmill?respond=valr_n_s:-30", "--athlete", "A",
        "--metric", "valr_n_s", "--target", "1", "--duration", "5", "-o", str(out), timeout=60))
    assert "cue_port" in line and not out.exists()
    out.write_bytes(b"an earlier session")
    line = one_error_line(run_cli(
        *BASE, "--metric", "valr_n_s", "--target", "1", "--duration", "5", "-o", str(out),
        timeout=60))
    assert "already exists" in line and out.read_bytes() == b"an earlier session"


def test_the_simulated_runner_learns_from_shown_cues_only(sim_setup):
    """Cues over a real UDP socket move the runner's loading: stances laid out after cues that
    say "above" carry a lower impact peak than before; unshown cues teach nothing."""
    port = _free_udp_port()
    setup = sim_setup("treadmill", respond="valr_n_s:-30", cue_port=str(port), learn="0.2",
                      seed="1", variability="0")
    runner = setup.truth.response
    before = setup.truth.stances(0.0, 3.0)[-1]
    cue = {"metric": "valr_n_s", "zone": "above", "band_low": 1.0, "shown": False}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(json.dumps(cue).encode(), ("127.0.0.1", port))
        s.sendto(b"not a cue", ("127.0.0.1", port))
        for _ in range(10):
            s.sendto(json.dumps(dict(cue, shown=True)).encode(), ("127.0.0.1", port))
        deadline = time.monotonic() + 30
        while runner.cues_heard < 11 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert runner.cues_heard == 11 and runner.cues_used == 10
    assert runner.learned == pytest.approx(1 - 0.8**10)
    change = runner.change_pct_now()
    assert -30 * (1 - 0.8**10) <= change < -30 * (1 - 0.8**10) * 0.95
    later = [s for s in setup.truth.stances(0.0, before.start_s + 5.0)
             if s.start_s > before.start_s + 1.0 and s.side == before.side]
    assert later and all(
        s.impact_peak_n < before.impact_peak_n * (1 + change / 200) for s in later)
    assert all(s.midstance_peak_n == pytest.approx(before.midstance_peak_n) for s in later)


def test_a_baseline_without_values_is_reported_and_nothing_is_shown(tmp_path):
    """Fore-foot strikes have no impact peak: a change target on it never gets its band."""
    out = tmp_path / "fore.h5"
    r = run_cli(
        "feedback", "-d", "sim:treadmill?strike=fore", "--athlete", "Di", "--body-mass", "70",
        "--metric", "impact_peak_n", "--target=-10%", "--protocol", "baseline=2,training=2",
        "-o", str(out), "--json",
    )
    assert r.returncode == 1, r.stderr
    assert "the baseline phase gave no value of impact_peak_n" in r.stderr
    result = json.loads(r.stdout)
    assert result["cues"] == 0 and result["band"] is None and result["baseline"] is None
    _, cues, settings, live = _session(out)
    assert cues == [] and settings["band_low"] is None and len(live) > 4


def test_a_failing_listener_is_counted_and_the_others_still_hear_every_cue():
    hub = CueHub()
    heard = []

    def broken(cue):
        raise RuntimeError("no display")

    hub.add_listener(broken)
    hub.add_listener(heard.append)
    engine = FeedbackEngine("contact_time_s", "0.2:0.3", side="both")
    feedback = LiveFeedback(engine, hub, {"": 10.0}, clock=lambda: 1000.5)
    feedback.attach(None, 1000.0, ["plate_left"])
    feedback.trial_started("run", [], 0.0)
    feedback.on_stances([{"stream": "plate_left", "side": "left", "start_s": 0.1,
                          "end_s": 0.35, "valid": True, "contact_time_s": 0.25}])
    assert len(heard) == 1 and heard[0].t_issued_s == 0.5 and heard[0].zone == "in"
    assert hub.listener_errors == 1 and "no display" in hub.last_listener_error
    assert hub.take() == heard and hub.take() == []
    assert feedback.wait_ready(0.0)  # the only stream has given its first stance


def test_a_faded_schedule_needs_the_training_duration():
    with pytest.raises(InputError, match="faded"):
        LiveFeedback(FeedbackEngine("valr_n_s", "1:2", schedule="faded"), CueHub(), {"post": 5})


def test_a_session_killed_during_training_keeps_its_settings_and_baseline(tmp_path):
    """kill -9 in the training phase: the file still holds the settings with the baseline value
    (written when the first training stance fixed it), so its feedback report has the protocol,
    the band of the training cues and the baseline of the baseline cues."""
    from forcelab.report.feedback import feedback_report

    out = tmp_path / "killed.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "forcelab", "feedback", "-d", "sim:treadmill?seed=8",
         "--athlete", "Cy", "--body-mass", "70", "--metric", "valr_n_s", "--target=-20%",
         "--side", "left", "--protocol", "baseline=8,training=60", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=forcelab_env())
    with killed_at_end(proc):
        deadline = time.monotonic() + 90
        while True:  # the recorder's file, read while it is written (SWMR)
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no training cue reached the file"
            try:
                with open_session(out) as f:
                    events = f.events
            except Exception:  # not created yet
                events = []
            training = [Cue.from_json(e["message"]) for e in events if e["kind"] == "cue"]
            if any(c.phase == "training" for c in training):
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    report = feedback_report(out)
    assert [p.phase for p in report.phases][:2] == ["baseline", "training"]
    with open_session(out) as f:
        cues = [Cue.from_json(e["message"]) for e in f.events if e["kind"] == "cue"]
    baseline = np.mean([c.value for c in cues if c.phase == "baseline"])
    assert report.settings["baseline"] == pytest.approx(baseline, rel=1e-9)
    assert report.settings["target"] == "-20%" and report.settings["side"] == "left"
    band = (report.settings["band_low"], report.settings["band_high"])
    trained = [c for c in cues if c.phase == "training"]
    assert trained and all((c.band_low, c.band_high) == pytest.approx(band) for c in trained)
