"""Fixtures of the console tests: an isolated configuration folder for every test."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def console(qtbot, config_dir, tmp_path):
    """A real console window with its sessions in tmp_path; closed (devices released) after."""
    from forcelab.console.settings import ConsoleSettings
    from forcelab.console.window import ConsoleWindow

    window = ConsoleWindow(settings=ConsoleSettings())
    window.output_edit.setText(str(tmp_path / "sessions"))
    # not qtbot.addWidget: pytest-qt would close it before this fixture's teardown, and a
    # test that failed mid-trial would then wait for an answer to "stop recording?"
    window.resize(1366, 768)
    window.show()
    yield window
    window._close_confirmed = True
    window.close()
    window.deleteLater()  # carried out by _deferred_deletes_now, at the end of the test


@pytest.fixture(autouse=True)
def _deferred_deletes_now():
    """Destroy what the test closed at its end, on the GUI thread, while the QApplication lives.

    deleteLater() (pytest-qt's widgets, the console window) only posts the deletion and no
    event loop runs at teardown, and pyqtgraph's context menus (``ViewBoxMenu``, ``QMenu``) have
    no parent widget: Python owns them, in reference cycles. Left alone they are destroyed
    whenever the garbage collector runs, possibly in an acquisition or job thread of a later
    test, or at exit after the QApplication: a segfault at some later teardown."""
    yield
    import gc

    from PyQt5.QtCore import QCoreApplication, QEvent

    if QCoreApplication.instance() is not None:
        QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
        gc.collect()
        QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)


@pytest.fixture(scope="session", autouse=True)
def _no_widget_outlives_the_console_tests():
    """At the end of the session, destroy the top-level widgets still alive while the
    QApplication lives: pyqtgraph's context menus (a ``ViewBoxMenu`` and its ``QMenu``s per
    plot) have no parent and stay alive with their plots; destroyed at interpreter exit, after
    the QApplication, they crash Python after the last test."""
    yield
    from PyQt5.QtCore import QCoreApplication, QEvent
    from PyQt5.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        for widget in app.topLevelWidgets():
            widget.close()
            widget.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)


@pytest.fixture
def window(qtbot, config_dir):
    """A real console window with fresh settings, shown; closed after the test."""
    from forcelab.console.settings import ConsoleSettings
    from forcelab.console.window import ConsoleWindow

    w = ConsoleWindow(settings=ConsoleSettings())
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    """A fresh FORCELAB_CONFIG_DIR so tests never touch the user's athletes or settings."""
    folder = tmp_path / "config"
    folder.mkdir()
    monkeypatch.setenv("FORCELAB_CONFIG_DIR", str(folder))
    return folder


def running_recording(duration_s: float, rate_hz: float = 1000.0, gap_s=(20.0, 20.5),
                      right_scale: float = 1.0):
    """Two belts of alternating half-sine stances (0.25 s contact, 1.6 kN peak on the left,
    ``right_scale`` times that on the right), NaN over ``gap_s`` (s)."""
    from forcelab.recording import Recording, Stream

    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    streams = []
    for side, offset, scale in (("left", 0.0, 1.0), ("right", 0.35, right_scale)):
        phase = (t - offset) % 0.7
        fz = np.where(phase < 0.25, 1600.0 * scale * np.sin(np.pi * phase / 0.25), 0.0)
        fz = fz + np.random.default_rng(len(side)).normal(0.0, 15.0, t.size)
        fz[(t >= gap_s[0]) & (t < gap_s[1])] = np.nan
        streams.append(Stream(side, rate_hz, {"fz": fz}, side=side))
    return Recording(streams, body_mass_kg=70.0)


@pytest.fixture
def running_session():
    """``running_session(path, duration_s, athlete, trial, right_scale)`` writes a session file
    of :func:`running_recording` (a real HDF5 session through the store) and returns its path."""
    from forcelab.store import write_recording

    def make(path, duration_s=20.0, athlete=None, trial="run", right_scale=1.0):
        rec = running_recording(duration_s, gap_s=(duration_s + 1, duration_s + 1)
                                if duration_s <= 20.5 else (20.0, 20.5), right_scale=right_scale)
        return write_recording(rec, path, athlete=athlete or {"name": "Long Runner"},
                               trial=trial)

    return make
