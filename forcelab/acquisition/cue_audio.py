"""What a feedback cue sounds like: 16-bit mono PCM rendered with numpy, no sound device needed.

Every cue is at most :data:`MAX_CUE_S` (200 ms) long, so at 180 steps/min (333 ms a step) it
ends before the next stance can issue a cue, and it starts and ends on a short raised-cosine ramp
(:data:`RAMP_S`) so it never clicks.

Tones (``mode="tone"``): the pitch follows the value, a pattern says "in band":

============  ====================================================  ============================
zone          sound                                                 why
============  ====================================================  ============================
``"above"``   one 180 ms tone at :data:`HIGH_HZ` (1320 Hz)           high value, high pitch
``"below"``   one 180 ms tone at :data:`LOW_HZ` (440 Hz)             low value, low pitch
``"in"``      two 60 ms beeps at :data:`IN_BAND_HZ` (880 Hz),        a different rhythm, so "in
              50 ms apart                                            band" is heard without
                                                                     judging a pitch
============  ====================================================  ============================

The three pitches are an octave and a fifth apart (1:2:3), easy to tell apart on a treadmill and
well inside what small speakers and headphones play.

Voice (``mode="voice"``): one spoken word says what to do: ``"lower"`` for a value above the
band, ``"higher"`` below it, ``"good"`` in it. The words ship with forcelab as WAV files
(``cue_words/*.wav``) spoken by eSpeak NG 1.51 (``espeak-ng -v en-us -s 280 -p 50 -a 160 -w
WORD.wav WORD``); they are trimmed to the speech, ramped and cut to :data:`MAX_CUE_S` here.
Qt's text-to-speech is not used: it needs a running speech-dispatcher, and the time it takes to
start speaking has no bound a per-stance cue could rely on.

This module is pure computation on arrays (plus reading the shipped words): playback is
:mod:`forcelab.console.audio`.
"""

from __future__ import annotations

import functools
import wave
from pathlib import Path

import numpy as np

#: Sample rate of every rendered cue, Hz (the rate of the shipped words).
RATE_HZ = 22050
#: Longest cue, s: shorter than one step at 180 steps/min (333 ms).
MAX_CUE_S = 0.2
#: Raised-cosine fade in and out of every tone and word, s.
RAMP_S = 0.005
#: Peak amplitude as a fraction of 16-bit full scale (leaves headroom for the mixer).
AMPLITUDE = 0.6
#: Pitch of the "above the band" tone, Hz.
HIGH_HZ = 1320.0
#: Pitch of the "below the band" tone, Hz.
LOW_HZ = 440.0
#: Pitch of the two "in band" beeps, Hz.
IN_BAND_HZ = 880.0
#: Length of the single above/below tone, s.
TONE_S = 0.18
#: Length of each "in band" beep and the silence between them, s.
BEEP_S = 0.06
BEEP_GAP_S = 0.05
#: Audio modes: what :func:`render_cue` can render ("none" renders nothing).
MODES = ("tone", "voice", "none")
ZONES = ("below", "in", "above")
#: The word spoken per zone (what the runner should do).
WORDS = {"above": "lower", "below": "higher", "in": "good"}
WORDS_DIR = Path(__file__).with_name("cue_words")
#: Speech quieter than this fraction of a word's peak is silence at its ends.
WORD_SILENCE = 0.02


def render_tone(frequency_hz: float, duration_s: float, rate_hz: int = RATE_HZ) -> np.ndarray:
    """A sine tone with raised-cosine ramps at both ends.

    Parameters
    ----------
    frequency_hz : float
        Pitch, Hz (below the Nyquist frequency ``rate_hz / 2``).
    duration_s : float
        Length, s (at least two ramps, :data:`RAMP_S` each).
    rate_hz : int
        Sample rate, Hz.

    Returns
    -------
    numpy.ndarray
        int16 samples, peak :data:`AMPLITUDE` of full scale.

    Raises
    ------
    ValueError
        For a pitch outside (0, rate_hz / 2) or a tone shorter than its ramps.
    """
    if not 0 < frequency_hz < rate_hz / 2:
        raise ValueError(f"a tone needs 0 < frequency < {rate_hz / 2:.0f} Hz, got {frequency_hz}")
    n = int(round(duration_s * rate_hz))
    if n < 2 * int(round(RAMP_S * rate_hz)):
        raise ValueError(f"a tone must last at least {2 * RAMP_S * 1000:.0f} ms, got "
                         f"{duration_s * 1000:.1f} ms")
    t_s = np.arange(n) / rate_hz
    wave_ = np.sin(2.0 * np.pi * frequency_hz * t_s)
    return _to_int16(_ramped(wave_, rate_hz))


def _ramped(x: np.ndarray, rate_hz: int) -> np.ndarray:
    """``x`` (float, any scale) with a raised-cosine fade over :data:`RAMP_S` at both ends."""
    x = np.array(x, dtype=np.float64)
    n_ramp = min(int(round(RAMP_S * rate_hz)), x.size // 2)
    if n_ramp:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n_ramp) / n_ramp)
        x[:n_ramp] *= ramp
        x[x.size - n_ramp:] *= ramp[::-1]
    return x


def _to_int16(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    scale = AMPLITUDE * 32767.0 / peak if peak > 0 else 0.0
    return np.round(x * scale).astype(np.int16)


@functools.cache
def render_cue(zone: str, mode: str = "tone") -> np.ndarray:
    """The sound of a cue for a value ``zone`` of the band.

    Parameters
    ----------
    zone : {"below", "in", "above"}
        Where the stance's value lies against the band (``Cue.zone``).
    mode : {"tone", "voice", "none"}
        Tones (pitch and pattern), one spoken word, or silence.

    Returns
    -------
    numpy.ndarray
        int16 mono samples at :data:`RATE_HZ`, at most :data:`MAX_CUE_S` long; empty for
        ``"none"``. The same (read-only) array is returned for the same arguments.

    Raises
    ------
    ValueError
        For an unknown zone or mode.
    """
    if zone not in ZONES:
        raise ValueError(f"unknown cue zone {zone!r}; expected one of {', '.join(ZONES)}")
    if mode not in MODES:
        raise ValueError(f"unknown audio mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode == "none":
        out = np.zeros(0, dtype=np.int16)
    elif mode == "voice":
        out = spoken_word(WORDS[zone])
    elif zone == "in":
        beep = render_tone(IN_BAND_HZ, BEEP_S)
        out = np.concatenate([beep, np.zeros(int(round(BEEP_GAP_S * RATE_HZ)), np.int16), beep])
    else:
        out = render_tone(HIGH_HZ if zone == "above" else LOW_HZ, TONE_S)
    out.setflags(write=False)
    return out


def spoken_word(word: str) -> np.ndarray:
    """One of the shipped words (:data:`WORDS`), trimmed to the speech, ramped and cut to
    :data:`MAX_CUE_S`.

    Returns
    -------
    numpy.ndarray
        int16 mono samples at :data:`RATE_HZ`.

    Raises
    ------
    ValueError
        For a word forcelab does not ship.
    """
    if word not in WORDS.values():
        raise ValueError(f"no recording of {word!r}; forcelab speaks {sorted(WORDS.values())}")
    with wave.open(str(WORDS_DIR / f"{word}.wav"), "rb") as f:
        if (f.getframerate(), f.getnchannels(), f.getsampwidth()) != (RATE_HZ, 1, 2):
            raise ValueError(f"{word}.wav must be {RATE_HZ} Hz 16-bit mono")
        x = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").astype(np.float64)
    loud = np.flatnonzero(np.abs(x) > WORD_SILENCE * np.max(np.abs(x)))
    x = x[loud[0]:loud[-1] + 1][: int(round(MAX_CUE_S * RATE_HZ))]
    return _to_int16(_ramped(x, RATE_HZ))


def pcm_bytes(samples: np.ndarray) -> bytes:
    """Little-endian 16-bit PCM bytes of int16 samples (what an audio output is fed)."""
    return np.asarray(samples, dtype="<i2").tobytes()
