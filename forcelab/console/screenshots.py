"""Render the console with a simulated session running and save screenshots.

Usage::

    python -m forcelab.console.screenshots OUTDIR [--seconds 8] [--size 1366x768]
        [--device "sim:treadmill?asymmetry=-0.08&seed=7;sim:insoles?seed=7"]

No display is needed: the window is drawn with Qt's offscreen platform (set automatically when
no display is found) and captured with ``QWidget.grab()``. The script connects the built-in
simulators (an instrumented treadmill and a pair of insoles: real drivers behind
pseudo-terminals), records two trials into ONE session file that it leaves in OUTDIR, and saves:

- ``console-live.png``: the Live tab during the second trial (scrolling force with a named
  marker, stride bars, asymmetry, insole pressure maps with the centre-of-pressure path),
- ``console-summary.png``: the second trial's summary after Stop,
- ``console-review.png``: the Review tab with the session file open,
- ``console-history.png``: the athlete's history (both trials, asymmetry trend).

The configuration (athlete list, settings) lives in a temporary folder, so running the script
never touches your own console settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from forcelab.errors import InputError

DEFAULT_DEVICE = "sim:treadmill?asymmetry=-0.08&seed=7;sim:insoles?seed=7"


def _wait(app: object, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        app.processEvents()  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise InputError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.02)


def _pump(app: object, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)


def render(outdir: Path, seconds: float = 8.0, device: str = DEFAULT_DEVICE,
           size: tuple[int, int] = (1366, 768)) -> list[Path]:
    """Run a simulated two-trial session in the console, leave its session file in ``outdir``
    and save the screenshots; returns the paths of the PNGs and of the session file."""
    if seconds < 3:
        raise InputError(f"--seconds must be at least 3, got {seconds}")
    outdir.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("DISPLAY") and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    with tempfile.TemporaryDirectory(prefix="forcelab-screens-") as tmp:
        os.environ["FORCELAB_CONFIG_DIR"] = str(Path(tmp) / "config")
        from forcelab.console.app import make_app
        from forcelab.console.athletes import Athlete
        from forcelab.console.window import ConsoleWindow

        app = make_app()
        window = ConsoleWindow(devices=[device])
        window.operator_edit.setText("Lab technician")
        window.output_edit.setText(str(outdir))
        window.save_athlete(Athlete("Demo Runner", athlete_id="RUN-007", body_mass_kg=70.0))
        window.resize(*size)
        window.show()
        saved: list[Path] = []
        try:
            window.connect_devices()
            _wait(app, lambda: window.backend.is_connected and not window.jobs.busy, 30,
                  "the simulated devices to connect")
            for n, (name, speed) in enumerate((("10 km/h", 2.78), ("12 km/h", 3.33))):
                window.trial_name.setText(name)
                window.trial_tags.setText("treadmill, shod")
                window.trial_speed.setValue(speed)
                window.trial_shoe.setText("daily trainer")
                window.start_recording()
                _wait(app, lambda: window.backend.is_recording and not window.jobs.busy, 15,
                      "the trial to start")
                _pump(app, seconds / 2)
                if n == 1:
                    window.add_marker()
                    window.marker_name.setCurrentText("speed change")
                    window.commit_marker()
                    _pump(app, seconds / 2)
                    saved.append(_grab(window, outdir / "console-live.png"))
                window.last_summary = ""
                window.stop_recording()
                _wait(app, lambda: bool(window.last_summary) and not window.jobs.busy, 60,
                      "the trial summary")
            _pump(app, 0.3)
            saved.append(_grab(window, outdir / "console-summary.png"))
            path = window.session_path
            window.new_session()
            _wait(app, lambda: not window.backend.session_open and not window.jobs.busy, 30,
                  "the session file to be finalised")
            window.open_review(path, "12 km/h")
            _wait(app, lambda: window.review.analysis is not None
                  and window.review.analysis["trial"] == "12 km/h", 60, "the review analysis")
            _pump(app, 0.3)
            saved.append(_grab(window, outdir / "console-review.png"))
            window.tabs.setCurrentWidget(window.history)
            _wait(app, lambda: window.history.history is not None and not window.jobs.busy, 120,
                  "the athlete history")
            _pump(app, 0.3)
            saved.append(_grab(window, outdir / "console-history.png"))
            saved.append(Path(str(path)))
        finally:
            window._close_confirmed = True
            window.close()
            app.processEvents()  # type: ignore[attr-defined]
    return saved


def _grab(window: object, path: Path) -> Path:
    window.grab().save(str(path))  # type: ignore[attr-defined]
    return path


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (``python -m forcelab.console.screenshots OUTDIR``)."""
    parser = argparse.ArgumentParser(
        prog="python -m forcelab.console.screenshots",
        description="Render the forcelab console with a simulated session and save PNGs.",
    )
    parser.add_argument("outdir", help="folder for the PNG files (created if missing)")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="seconds of simulated running per trial")
    parser.add_argument("--device", default=DEFAULT_DEVICE, help="device string to connect")
    parser.add_argument("--size", default="1366x768", help="window size WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        print(f"screenshots: error: --size must look like 1366x768, got {args.size!r}",
              file=sys.stderr)
        return 2
    try:
        paths = render(Path(args.outdir), args.seconds, args.device, (width, height))
    except Exception as exc:  # one line for the user, like the forcelab CLI
        print(f"screenshots: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
