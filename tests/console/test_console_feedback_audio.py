"""Cue playback through Qt Multimedia: never blocks, says in one line why nothing is heard."""

import threading
import time

import pytest

from forcelab.console import audio


def test_reason_is_one_line_and_agrees_with_available(qapp):
    reason = audio.unavailable_reason()
    assert "\n" not in reason
    assert audio.available() == (reason == "")
    if reason:
        assert reason.startswith("cues are shown, not heard: ")


def test_missing_multimedia_libraries_are_named(qapp, monkeypatch):
    def broken():
        raise ImportError("libpulse-mainloop-glib.so.0: cannot open shared object file")

    monkeypatch.setattr(audio, "_multimedia", broken)
    reason = audio.unavailable_reason()
    assert "libpulse-mainloop-glib.so.0" in reason and audio.PULSE_PACKAGES in reason
    player = audio.CuePlayer("tone")
    try:
        assert not player.audible and player.reason == reason
        assert player.play("in") is False and player.played == 0
    finally:
        player.close()


def test_player_as_listener_plays_only_shown_cues(qapp):
    """Headless use: a QCoreApplication exists (pytest-qt's), nobody runs its event loop."""
    from forcelab.analysis.feedback import Cue

    player = audio.CuePlayer("tone")
    try:
        def cue(shown):
            return Cue(1, "left", "valr_bw_s", 80.0, 60.0, 70.0, "above", "faded", shown, 50.0,
                       "training", 1.0, 1.003)

        player(cue(False))
        assert player.requested == 0 and player.played == 0
        player(cue(True))
        assert player.requested == 1 and player.played == (1 if player.audible else 0)
    finally:
        player.close()


def test_mode_none_and_unknown_mode(qapp):
    player = audio.CuePlayer("none")
    assert player.play("above") is False and not player.audible and player.reason == ""
    player.close()
    with pytest.raises(ValueError, match="tone, voice, none"):
        audio.CuePlayer("loud")


@pytest.mark.parametrize("mode", ["tone", "voice"])
def test_play_from_another_thread_returns_at_once(qapp, qtbot, mode):
    """A cue listener on the analysis thread hands the sound over and goes on."""
    player = audio.CuePlayer(mode)
    returned: list[float] = []
    try:
        def listener():
            t0 = time.perf_counter()
            for zone in ("below", "in", "above"):
                player.play(zone)
            returned.append(time.perf_counter() - t0)

        if player.audible:
            with qtbot.waitSignal(player._output.started, timeout=5000):
                worker = threading.Thread(target=listener)
                worker.start()
                worker.join(5.0)
            assert player.played == 3
        else:
            worker = threading.Thread(target=listener)
            worker.start()
            worker.join(5.0)
            assert player.played == 0 and player.reason
        assert returned and returned[0] < 0.5
    finally:
        player.close()


PLAY_SCRIPT = r"""
import json, sys, threading, time
from PyQt5.QtCore import QCoreApplication
app = QCoreApplication([])
from forcelab.console.audio import CuePlayer, unavailable_reason
player = CuePlayer(sys.argv[1])
out = {"reason": unavailable_reason(), "audible": player.audible}
if player.audible:
    t0 = time.perf_counter()
    worker = threading.Thread(target=player.play, args=("above",))
    worker.start()
    worker.join()
    out["play_s"] = time.perf_counter() - t0
    deadline = time.monotonic() + 10
    played = 0
    while time.monotonic() < deadline:  # the null sink consumes the sound in real time
        app.processEvents()
        output = player._output.output
        played = output.processedUSecs() if output is not None else 0
        if played >= 150_000:
            break
        time.sleep(0.01)
    out["processed_us"] = played
player.close()
print(json.dumps(out))
"""


@pytest.mark.parametrize("mode", ["tone", "voice"])
def test_a_cue_is_played_through_a_pulseaudio_null_sink(tmp_path, mode):
    """The real sound path: Qt Multimedia -> PulseAudio (a null sink, no sound card) consumes
    the whole cue, in a process that never runs a Qt event loop of its own."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    server = shutil.which("pulseaudio")
    if server is None:
        pytest.skip("pulseaudio is not installed (Debian/Ubuntu: pulseaudio): the sound path "
                    "through a null sink is not checked here")
    socket_path = tmp_path / "native"
    env = {**os.environ, "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [server, "-n", "--daemonize=no", "--exit-idle-time=-1",
         "-L", "module-null-sink sink_name=forcelab_null",
         "-L", f"module-native-protocol-unix socket={socket_path} auth-anonymous=1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            assert proc.poll() is None, "pulseaudio exited"
            assert time.monotonic() < deadline, "pulseaudio did not open its socket"
            time.sleep(0.05)
        run = subprocess.run(
            [sys.executable, "-c", PLAY_SCRIPT, mode], capture_output=True, text=True,
            timeout=120, env={**env, "PULSE_SERVER": f"unix:{socket_path}",
                              "QT_QPA_PLATFORM": "offscreen"})
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout.strip().splitlines()[-1])
        assert result["reason"] == "" and result["audible"]
        assert result["play_s"] < 0.5  # handed over, not played, on the caller's thread
        assert result["processed_us"] >= 150_000  # the 180 ms tone / the word was consumed
    finally:
        proc.terminate()
        proc.wait(timeout=30)
