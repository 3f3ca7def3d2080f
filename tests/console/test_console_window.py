"""The console window without devices: athletes, settings, geometry, shortcuts, bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PyQt5.QtCore import QByteArray, Qt
from subprocesses import killed_at_end

from forcelab.console.athletes import Athlete
from forcelab.console.backend import session_file_name, unique_path
from forcelab.console.settings import ConsoleSettings
from forcelab.console.window import ConsoleWindow, format_bytes, format_elapsed, parse_tags


def test_fits_1366x768_and_remembers_its_geometry(qtbot, config_dir):
    w = ConsoleWindow(settings=ConsoleSettings())
    qtbot.addWidget(w)
    w.show()
    assert (w.width(), w.height()) == (1366, 768)  # first run: the laptop size
    assert w.minimumSizeHint().width() <= 1366 and w.minimumSizeHint().height() <= 768
    w.resize(1200, 700)
    w.move(40, 30)
    w.close()
    geometry, _ = ConsoleSettings().geometry()
    assert isinstance(geometry, QByteArray) and not geometry.isEmpty()
    again = ConsoleWindow(settings=ConsoleSettings())
    qtbot.addWidget(again)
    again.show()
    assert (again.width(), again.height()) == (1200, 700)
    again.close()


def test_athletes_persist_between_runs(qtbot, config_dir):
    w = ConsoleWindow(settings=ConsoleSettings())
    qtbot.addWidget(w)
    w.save_athlete(Athlete("Ann Runner", athlete_id="A1", body_mass_kg=58.0))
    w.save_athlete(Athlete("Bob Jogger", body_mass_kg=81.5))
    assert w.current_athlete().name == "Bob Jogger"
    assert w.mass_spin.value() == pytest.approx(81.5)
    w.athlete_combo.setCurrentIndex(w.athlete_combo.findData("Ann Runner"))
    assert w.mass_spin.value() == pytest.approx(58.0)
    w.close()
    again = ConsoleWindow(settings=ConsoleSettings())
    qtbot.addWidget(again)
    names = [again.athlete_combo.itemData(i) for i in range(again.athlete_combo.count())]
    assert names == [None, "Ann Runner", "Bob Jogger"]
    assert again.current_athlete().name == "Ann Runner"  # the last one picked
    assert (config_dir / "athletes.json").is_file()
    again.close()


def test_a_damaged_athlete_list_is_reported_and_kept_aside(qtbot, config_dir):
    (config_dir / "athletes.json").write_text("{broken", encoding="utf-8")
    w = ConsoleWindow(settings=ConsoleSettings())
    qtbot.addWidget(w)
    assert w.error_banner.isVisibleTo(w)
    assert "damaged" in w.last_error and "moved to" in w.last_error
    kept = list(config_dir.glob("athletes.json.broken-*"))
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8") == "{broken"
    assert w.athlete_combo.count() == 1  # only "(no athlete)"
    w.close()


def test_actions_without_devices_explain_what_to_do(qtbot, window):
    for key, mod, words in [
        (Qt.Key_F5, Qt.NoModifier, "Connect a device"),
        (Qt.Key_T, Qt.ControlModifier, "Connect a device first"),
        (Qt.Key_G, Qt.ControlModifier, "Connect a device first"),
        (Qt.Key_F9, Qt.NoModifier, "Markers are added while"),
    ]:
        window.dismiss_error()
        qtbot.keyClick(window, key, mod)
        assert window.error_banner.isVisible()
        assert words in window.last_error
    window.device_combo.setCurrentText("  ")
    qtbot.mouseClick(window.connect_button, Qt.LeftButton)
    assert "Type or pick a device" in window.last_error
    assert window.backend.state == "idle"


def test_no_single_threshold_any_more(window):
    """The readout is coloured by each metric's healthy band, not by one operator threshold."""
    assert not hasattr(window, "threshold_spin")
    assert not hasattr(window.settings, "threshold_pct")


def test_small_helpers():
    assert parse_tags("12 km/h, barefoot, ,treadmill ") == ["12 km/h", "barefoot", "treadmill"]
    assert format_elapsed(65.9) == "01:05" and format_elapsed(3725) == "1:02:05"
    assert format_elapsed(None) == "—"
    assert format_bytes(999) == "999 B" and format_bytes(1_450_000) == "1.4 MB"
    name = session_file_name("  Jane  O'Runner ", when=0)
    assert name.endswith("_jane-o-runner.h5") and "/" not in name
    assert session_file_name("", when=0).endswith("_session.h5")


def test_unique_path_never_overwrites(tmp_path):
    first = unique_path(tmp_path, "s.h5")
    first.write_bytes(b"x")
    second = unique_path(tmp_path, "s.h5")
    assert second.name == "s-2.h5"
    second.write_bytes(b"y")
    assert unique_path(tmp_path, "s.h5").name == "s-3.h5"


@pytest.mark.parametrize(
    "args, words",
    [
        (["--review", "no/such/file.h5"], "not found"),
    ],
)
def test_cli_nonsense_gives_one_line_and_exit_2(args, words, tmp_path):
    env_cmd = [sys.executable, "-m", "forcelab", "console", *args]
    proc = subprocess.run(env_cmd, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen",
                               "FORCELAB_CONFIG_DIR": str(tmp_path), "HOME": str(tmp_path)})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and lines[0].startswith("forcelab console:")


def test_cli_help_lists_the_console():
    proc = subprocess.run([sys.executable, "-m", "forcelab", "console", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "--device" in proc.stdout and "--review" in proc.stdout


def test_cli_console_connects_the_simulator_and_quits_cleanly_on_ctrl_c(tmp_path):
    """``forcelab console --device sim:treadmill`` as a real subprocess; SIGINT closes it."""
    import os
    import signal
    import time

    pytest.importorskip("forcelab.drivers.open")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", FORCELAB_CONFIG_DIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "forcelab", "console", "--device", "sim:treadmill?seed=2",
         "--output-dir", str(tmp_path / "sessions")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    with killed_at_end(proc):
        deadline = time.monotonic() + 60
        ini = tmp_path / "console.ini"
        # the console remembers a device string once it is connected
        while time.monotonic() < deadline and proc.poll() is None:
            if ini.exists() and "sim:treadmill" in ini.read_text(encoding="utf-8"):
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "sim:treadmill?seed=2" in (tmp_path / "console.ini").read_text(encoding="utf-8")


def test_screenshot_script_renders_the_console_with_a_simulated_session(tmp_path):
    """``python -m forcelab.console.screenshots OUTDIR`` (documented in the README)."""
    pytest.importorskip("forcelab.drivers.open")
    import os

    import numpy as np
    from PyQt5.QtGui import QImage

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-m", "forcelab.console.screenshots", str(tmp_path / "shots"),
         "--seconds", "4", "--size", "1024x640"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    shots = tmp_path / "shots"
    pngs = sorted(p.name for p in shots.glob("*.png"))
    assert pngs == ["console-history.png", "console-live.png", "console-review.png",
                    "console-summary.png"]
    for name in pngs:
        image = QImage(str(shots / name))
        assert (image.width(), image.height()) == (1024, 640)
        ptr = image.convertToFormat(QImage.Format_RGB32).constBits()
        ptr.setsize(image.width() * image.height() * 4)
        pixels = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.width(), 4)
        assert len(np.unique(pixels[::8, ::8, :3].reshape(-1, 3), axis=0)) > 20  # not blank
    # the two trials are in ONE session file, left in OUTDIR
    from forcelab.store import open_session

    files = list(shots.glob("*.h5"))
    assert len(files) == 1
    with open_session(files[0]) as session:
        assert [t["name"] for t in session.trials] == ["10 km/h", "12 km/h"]
        assert [m["label"] for m in session.markers] == ["speed change"]
        assert session.state["closed"]
    bad = subprocess.run(
        [sys.executable, "-m", "forcelab.console.screenshots", str(tmp_path / "x"),
         "--size", "huge"], capture_output=True, text=True, timeout=60, env=env,
    )
    assert bad.returncode == 2 and "--size must look like 1366x768" in bad.stderr


def test_cli_without_qt_system_libraries_or_display_names_what_is_missing(tmp_path):
    """X11 platform, no DISPLAY: Qt would abort the process; the console says in one line what
    is missing (the libraries of the Qt X11 plugin on a bare Linux, or the display)."""
    from forcelab.console.app import _missing_xcb_libraries

    env = {"PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "xcb", "HOME": str(tmp_path),
           "FORCELAB_CONFIG_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "forcelab", "console"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("forcelab console: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    missing = _missing_xcb_libraries()
    if missing:  # a bare Linux (this machine lacks libxcb-icccm4, for one)
        assert all(lib in lines[0] for lib in missing)
        assert "apt-get install libxcb-icccm4" in lines[0]
    else:
        assert "no display found" in lines[0]
