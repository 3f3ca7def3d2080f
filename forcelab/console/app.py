"""Start the console application: QApplication, pyqtgraph options, the main window."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from forcelab.errors import InputError


def make_app() -> object:
    """The process's QApplication (created once), with forcelab's names and pyqtgraph options."""
    import pyqtgraph as pg
    from PyQt5.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName("forcelab")
    app.setOrganizationName("forcelab")
    pg.setConfigOptions(antialias=False, useOpenGL=False, foreground="k")
    return app


#: Debian/Ubuntu packages the Qt X11 platform plugin needs on a bare system (also in README).
QT_XCB_PACKAGES = (
    "libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 "
    "libxcb-xinerama0 libxcb-xkb1 libxcb-shape0 libxcb-xfixes0 libxkbcommon-x11-0 libegl1 "
    "libfontconfig1 libdbus-1-3"
)


def check_qt_platform() -> None:
    """Make sure Qt can open a window before it is asked to (Qt aborts the process otherwise).

    On Linux with the X11 platform (the default), the platform plugin is loaded here first: a
    missing system library is named in one line, as is a missing display.

    Raises
    ------
    InputError
        Naming the missing libraries (and the packages to install) or the missing display.
    """
    if not sys.platform.startswith("linux"):
        return
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if platform == "" and os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY"):
        return  # Qt picks Wayland
    if platform not in ("", "xcb"):
        return  # offscreen, wayland, vnc ...: Qt reports its own problems
    missing = _missing_xcb_libraries()
    if missing:
        what = "libraries" if len(missing) > 1 else "library"
        raise InputError(
            f"Qt cannot open a window: missing system {what} {', '.join(missing)}; install "
            "them (Debian/Ubuntu: sudo apt-get install "
            f"{QT_XCB_PACKAGES}), see README 'Console'"
        )
    if not os.environ.get("DISPLAY"):
        raise InputError(
            "no display found; run the console on a desktop, or set QT_QPA_PLATFORM=offscreen "
            "(e.g. for python -m forcelab.console.screenshots)"
        )


def _missing_xcb_libraries() -> list[str]:
    """Shared libraries the Qt X11 platform plugin cannot find (empty when it loads)."""
    import ctypes
    import shutil
    import subprocess

    from PyQt5.QtCore import QLibraryInfo

    plugin = Path(QLibraryInfo.location(QLibraryInfo.PluginsPath)) / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        return []
    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        first = str(exc).split(":")[0].strip()
        ldd = shutil.which("ldd")
        if ldd is None:
            return [first]
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, check=False)
        found = [line.split("=>")[0].strip() for line in out.stdout.splitlines()
                 if "not found" in line]
        return list(dict.fromkeys(found)) or [first]
    return []


def run_console(
    devices: list[str] | None = None,
    output_dir: str | None = None,
    review: str | None = None,
) -> int:
    """Open the console window and run the event loop; returns the exit status.

    Raises
    ------
    InputError
        For a missing review file or no display to draw on.
    """
    if review is not None and not Path(review).is_file():
        raise InputError(f"session file {review} not found; check the path given to --review")
    check_qt_platform()
    app = make_app()
    from forcelab.console.settings import ConsoleSettings
    from forcelab.console.window import ConsoleWindow

    settings = ConsoleSettings()
    if output_dir is not None:
        settings.output_dir = output_dir
    window = ConsoleWindow(settings=settings, devices=devices or [], autoconnect=bool(devices))
    window.show()
    if review:
        window.open_review(review)
    _close_on_signals(window)
    status = int(app.exec_())
    if window.session_path:
        print(f"last session file: {window.session_path}")
    return status


def _close_on_signals(window: object) -> None:
    """Ctrl+C (SIGINT) or SIGTERM close the window like the close button, without asking:
    a running trial is stopped and its file finalised. A 200 ms timer lets Python see the
    signal while Qt's event loop runs."""
    import signal

    from PyQt5.QtCore import QTimer

    def handler(signum: int, _frame: object) -> None:
        window._close_confirmed = True  # type: ignore[attr-defined]
        window.close()  # type: ignore[attr-defined]

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    timer = QTimer(window)  # type: ignore[arg-type]
    timer.setInterval(200)
    timer.timeout.connect(lambda: None)
    timer.start()
