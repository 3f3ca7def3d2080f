"""Render the console with a simulated session running and save screenshots.

Usage::

    QT_QPA_PLATFORM=offscreen python -m forcelab.console.screenshots OUTDIR [--seconds 12]
        [--device "sim:treadmill?asymmetry=-0.08"] [--size 1366x768]

No display is needed: the window is drawn with Qt's offscreen platform (set automatically when
no display is found) and captured with ``QWidget.grab()``. The script connects the built-in
simulated instrumented treadmill (real drivers behind pseudo-terminals), records one trial
through the real recorder into a session file in a temporary folder, and saves:

- ``console-live.png``: the Live tab while recording (scrolling force, stride bars, asymmetry),
- ``console-summary.png``: the trial summary after Stop,
- ``console-review.png``: the Review tab with the recorded file open.

The configuration (athlete list, settings) lives in a temporary folder too, so running the
script never touches your own console settings.
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

DEFAULT_DEVICE = "sim:treadmill?asymmetry=-0.08&seed=7"


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


def render(outdir: Path, seconds: float = 12.0, device: str = DEFAULT_DEVICE,
           size: tuple[int, int] = (1366, 768)) -> list[Path]:
    """Run a simulated session in the console and save the screenshots; returns their paths."""
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
        window.output_edit.setText(str(Path(tmp) / "sessions"))
        window.save_athlete(Athlete("Demo Runner", athlete_id="RUN-007", body_mass_kg=70.0))
        window.resize(*size)
        window.show()
        saved: list[Path] = []
        try:
            window.connect_devices()
            _wait(app, lambda: window.backend.is_connected and not window.jobs.busy, 30,
                  "the simulated devices to connect")
            window.trial_name.setText("12 km/h")
            window.trial_tags.setText("treadmill, shod")
            window.start_recording()
            _wait(app, lambda: window.backend.is_recording, 15, "recording to start")
            _pump(app, seconds)
            window.add_marker()
            _pump(app, 0.5)
            saved.append(_grab(window, outdir / "console-live.png"))
            window.stop_recording()
            _wait(app, lambda: bool(window.last_summary), 60, "the trial summary")
            saved.append(_grab(window, outdir / "console-summary.png"))
            path = window.session_path
            window.open_review(path)
            _wait(app, lambda: window.review.analysis is not None, 60, "the review analysis")
            _pump(app, 0.3)
            saved.append(_grab(window, outdir / "console-review.png"))
        finally:
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
    parser.add_argument("--seconds", type=float, default=12.0,
                        help="seconds of simulated running before the live screenshot")
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
