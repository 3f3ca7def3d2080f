"""Feedback cue sounds rendered without a sound device: pitch (FFT peak), pattern, length, ramps."""

import numpy as np
import pytest

from forcelab.acquisition import cue_audio as ca


def peak_hz(x: np.ndarray, rate_hz: int = ca.RATE_HZ) -> float:
    """Frequency of the largest FFT bin of ``x`` (zero-padded to 1 Hz resolution), Hz."""
    spectrum = np.abs(np.fft.rfft(x.astype(float), n=rate_hz))
    return float(np.argmax(spectrum))


def bursts(x: np.ndarray, rate_hz: int = ca.RATE_HZ) -> list[tuple[float, float]]:
    """(start_s, end_s) of the stretches louder than 10 % of the peak (1 ms envelope)."""
    win = rate_hz // 1000
    env = np.convolve(np.abs(x.astype(float)), np.ones(win) / win, mode="same")
    loud = np.concatenate([[False], env > 0.1 * env.max(), [False]]).astype(int)
    edges = np.flatnonzero(np.diff(loud))
    return [(a / rate_hz, b / rate_hz) for a, b in zip(edges[::2], edges[1::2], strict=True)]


@pytest.mark.parametrize("zone, pitch_hz", [("above", ca.HIGH_HZ), ("below", ca.LOW_HZ),
                                             ("in", ca.IN_BAND_HZ)])
def test_tone_pitch_says_the_zone(zone, pitch_hz):
    x = ca.render_cue(zone, "tone")
    assert x.dtype == np.int16
    assert peak_hz(x) == pytest.approx(pitch_hz, abs=2.0)
    assert x.size / ca.RATE_HZ <= ca.MAX_CUE_S


def test_above_and_below_are_one_tone_in_band_is_two_beeps():
    above, below, inside = (ca.render_cue(z) for z in ("above", "below", "in"))
    assert len(bursts(above)) == 1 and len(bursts(below)) == 1
    (a0, a1), = bursts(above)
    assert a1 - a0 == pytest.approx(ca.TONE_S, abs=0.01)
    beeps = bursts(inside)
    assert len(beeps) == 2
    for b0, b1 in beeps:
        assert b1 - b0 == pytest.approx(ca.BEEP_S, abs=0.01)
    assert beeps[1][0] - beeps[0][1] == pytest.approx(ca.BEEP_GAP_S, abs=0.01)


@pytest.mark.parametrize("zone", ca.ZONES)
@pytest.mark.parametrize("mode", ["tone", "voice"])
def test_every_cue_is_short_ramped_and_loud_enough(zone, mode):
    x = ca.render_cue(zone, mode)
    assert 0.1 <= x.size / ca.RATE_HZ <= ca.MAX_CUE_S  # ends before the next step at 180 spm
    peak = np.abs(x.astype(float)).max()
    assert peak == pytest.approx(ca.AMPLITUDE * 32767, rel=0.01)
    n_ramp = int(ca.RAMP_S * ca.RATE_HZ)
    # no click: the first and last samples rise from / fall to silence
    assert abs(int(x[0])) < 0.01 * peak and abs(int(x[-1])) < 0.01 * peak
    assert np.abs(x[: n_ramp // 4].astype(float)).max() < 0.2 * peak
    assert np.abs(x[-(n_ramp // 4):].astype(float)).max() < 0.2 * peak


def test_voice_words_differ_and_are_speech_not_tones():
    words = {z: ca.render_cue(z, "voice") for z in ca.ZONES}
    # three different recordings
    assert len({w.tobytes() for w in words.values()}) == 3
    for w in words.values():
        spectrum = np.abs(np.fft.rfft(w.astype(float)))
        # speech spreads its energy: the largest bin holds far less than a pure tone's
        assert spectrum.max() ** 2 / np.sum(spectrum**2) < 0.2
    tone = ca.render_cue("above", "tone")
    spectrum = np.abs(np.fft.rfft(tone.astype(float)))
    assert spectrum.max() ** 2 / np.sum(spectrum**2) > 0.2
    assert ca.WORDS == {"above": "lower", "below": "higher", "in": "good"}


def test_none_is_silent_and_bad_names_say_what_is_allowed():
    assert ca.render_cue("in", "none").size == 0
    with pytest.raises(ValueError, match="below, in, above"):
        ca.render_cue("inside")
    with pytest.raises(ValueError, match="tone, voice, none"):
        ca.render_cue("in", "beep")
    with pytest.raises(ValueError, match="at least"):
        ca.render_tone(440.0, 0.005)
    with pytest.raises(ValueError, match="frequency"):
        ca.render_tone(20000.0, 0.1)


def test_pcm_bytes_are_little_endian_16_bit():
    x = ca.render_cue("below")
    raw = ca.pcm_bytes(x)
    assert len(raw) == 2 * x.size
    assert np.array_equal(np.frombuffer(raw, dtype="<i2"), x)
