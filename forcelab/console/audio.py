"""Feedback cues heard: rendered cue sounds played through Qt Multimedia, never blocking.

:class:`CuePlayer` plays the sound :func:`forcelab.acquisition.cue_audio.render_cue` renders
for a cue's zone (tone or spoken word). Playback runs on the player's own Qt thread: ``play``
only queues the sound and returns, so a cue listener on the analysis thread is never held up.
A new cue cuts the one still sounding (cues are ≤ 200 ms, so this only happens when stances
come faster than 300 per minute).

Where no sound can be played (Qt Multimedia cannot load, no audio output device or sound
server), :func:`unavailable_reason` says why in one line and ``play`` does nothing: the console
still shows every cue.

Qt Multimedia on Linux loads PulseAudio's client libraries (Debian/Ubuntu:
``libpulse-mainloop-glib0``) even when sound goes through ALSA.
"""

from __future__ import annotations

from typing import Any

from PyQt5.QtCore import (
    QBuffer,
    QByteArray,
    QCoreApplication,
    QObject,
    Qt,
    QThread,
    pyqtSignal,
    qInstallMessageHandler,
)

from forcelab.acquisition.cue_audio import MODES, RATE_HZ, pcm_bytes, render_cue

#: What to install when Qt Multimedia cannot load its PulseAudio client libraries.
PULSE_PACKAGES = "libpulse0 libpulse-mainloop-glib0"


def _multimedia() -> Any:
    """The ``PyQt5.QtMultimedia`` module (ImportError when it cannot load)."""
    from PyQt5 import QtMultimedia

    return QtMultimedia


def unavailable_reason() -> str:
    """Why cues cannot be heard here, in one line ("" when an audio output exists).

    Needs a QCoreApplication (or QApplication) to look for devices. Qt's own warnings while it
    looks (e.g. ``PulseAudioService: pa_context_connect() failed``) are dropped: this line says
    it in words.
    """
    previous = qInstallMessageHandler(lambda *_: None)
    try:
        return _reason()
    finally:
        qInstallMessageHandler(previous)


def _reason() -> str:
    try:
        qm = _multimedia()
    except ImportError as exc:
        missing = str(exc).split(":")[0].strip()
        return (f"cues are shown, not heard: Qt Multimedia cannot load ({missing}); on "
                f"Debian/Ubuntu install {PULSE_PACKAGES}")
    if QCoreApplication.instance() is None:
        return "cues are shown, not heard: audio needs a QCoreApplication (none was created)"
    device = qm.QAudioDeviceInfo.defaultOutputDevice()
    if device.isNull() or not device.isFormatSupported(_format(qm)):
        return ("cues are shown, not heard: no audio output device (no sound card or sound "
                "server found)")
    return ""


def available() -> bool:
    """Whether an audio output device can play cues (see :func:`unavailable_reason`)."""
    return unavailable_reason() == ""


def _format(qm: Any) -> Any:
    fmt = qm.QAudioFormat()
    fmt.setSampleRate(RATE_HZ)
    fmt.setChannelCount(1)
    fmt.setSampleSize(16)
    fmt.setSampleType(qm.QAudioFormat.SignedInt)
    fmt.setByteOrder(qm.QAudioFormat.LittleEndian)
    fmt.setCodec("audio/pcm")
    return fmt


class _Output(QObject):
    """Lives on the player's thread: owns the QAudioOutput and the buffer it reads."""

    started = pyqtSignal()

    def __init__(self) -> None:
        super().__init__()
        self.output: Any = None
        self.buffer: QBuffer | None = None

    def play(self, pcm: bytes) -> None:
        qm = _multimedia()
        if self.output is None:
            self.output = qm.QAudioOutput(qm.QAudioDeviceInfo.defaultOutputDevice(),
                                          _format(qm), self)
        self.output.stop()
        if self.buffer is not None:
            self.buffer.close()
        self.buffer = QBuffer(self)
        self.buffer.setData(QByteArray(pcm))
        self.buffer.open(QBuffer.ReadOnly)
        self.output.start(self.buffer)
        self.started.emit()

    def stop(self) -> None:
        if self.output is not None:
            self.output.stop()
            self.output.deleteLater()
            self.output = None


class CuePlayer(QObject):
    """Plays feedback cues as tones or spoken words, from any thread, without blocking.

    Needs a ``QCoreApplication`` (or ``QApplication``) created in the process before the
    player; its event loop need not run (the headless ``forcelab feedback`` may create one and
    never call ``exec_``): the sound is played on the player's own ``QThread``. Call
    :meth:`close` before the application goes. The player is itself a cue listener:
    ``controller.add_cue_listener(CuePlayer("tone"))`` plays every cue the schedule shows.

    Parameters
    ----------
    mode : {"tone", "voice", "none"}
        Tones (pitch and pattern), one spoken word, or silence
        (:mod:`forcelab.acquisition.cue_audio`).

    Attributes
    ----------
    reason : str
        Why nothing is heard ("" when an audio output exists and ``mode`` is not "none").
    requested : int
        Cues asked to be played so far (heard or not).
    played : int
        Cues handed to the audio output so far.
    """

    _queued = pyqtSignal(bytes)
    _stopping = pyqtSignal()

    def __init__(self, mode: str = "tone") -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown audio mode {mode!r}; expected one of {', '.join(MODES)}")
        self.mode = mode
        self.requested = 0
        self.played = 0
        self.reason = "" if mode == "none" else unavailable_reason()
        self._thread: QThread | None = None
        self._output: _Output | None = None
        if mode != "none" and not self.reason:
            self._thread = QThread()
            self._thread.setObjectName("forcelab-cue-audio")
            self._output = _Output()
            self._output.moveToThread(self._thread)
            self._queued.connect(self._output.play, Qt.QueuedConnection)
            self._stopping.connect(self._output.stop, Qt.BlockingQueuedConnection)
            self._thread.start()

    @property
    def audible(self) -> bool:
        """Whether :meth:`play` makes a sound."""
        return self._output is not None

    def play(self, cue: Any) -> bool:
        """Queue the sound of ``cue`` and return at once (any thread).

        Parameters
        ----------
        cue : forcelab.analysis.feedback.Cue or str
            A cue (its ``zone`` is played) or a zone ("below", "in", "above").

        Returns
        -------
        bool
            True when the sound was queued for the audio output; False when nothing is heard
            (mode "none" or no output, see :attr:`reason`).
        """
        zone = cue if isinstance(cue, str) else cue.zone
        samples = render_cue(zone, self.mode)
        self.requested += 1
        if self._output is None:
            return False
        self._queued.emit(pcm_bytes(samples))
        self.played += 1
        return True

    def __call__(self, cue: Any) -> None:
        """Cue listener (``SessionController.add_cue_listener(player)``): play ``cue`` when the
        schedule showed it (``cue.shown``); never blocks."""
        if cue.shown:
            self.play(cue)

    def close(self) -> None:
        """Stop the sound and the player's thread (waits for them)."""
        if self._thread is None:
            return
        self._stopping.emit()
        self._thread.quit()
        self._thread.wait()
        self._thread = None
        self._output = None
