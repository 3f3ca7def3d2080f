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
