"""Console benchmark: GUI-thread load and plot frame rate, two plates at 2 kHz plus insoles.

Usage::

    QT_QPA_PLATFORM=offscreen python bench/bench_console.py [--quick] [--seconds S]
        [--device "sim:treadmill?rate=2000;sim:insoles"]

Measured in one run, in the real console window (offscreen):

1. baseline: the same window, connected to nothing (timers running, nothing to draw);
2. plot-only baseline: the same plot fed two synthetic 2 kHz streams by the same 30 Hz timer
   (what the GUI can draw when no acquisition competes for the CPU);
3. live: the simulated instrumented treadmill (two FPB1 plates at 2 kHz) and a pair of
   simulated insoles (INS1, 100 Hz, 16 cells each: the pressure maps and COP traces are drawn
   too), real drivers behind ptys, connected and recording a trial into a session file.

Printed: plot frames per second (and the ratio to the 30 Hz redraw timer), the GUI thread's CPU
time per wall second (``time.thread_time`` of the GUI thread: its load, 1.0 = one core busy),
the ratio of live to baseline GUI load, the time one plot refresh takes (median and 95th
percentile, ms), the whole process's CPU per wall second, and the samples recorded vs expected.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import bench_parser

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _run_for(app, seconds: float) -> None:
    """Run the Qt event loop (as ``app.exec_()`` would) for ``seconds``."""
    from PyQt5.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec_()


def _measure(app, window, seconds: float) -> dict:
    durations: list[float] = []
    original = window.refresh_plot

    def timed() -> None:
        t0 = time.perf_counter()
        original()
        durations.append(time.perf_counter() - t0)

    window.plot_timer.timeout.disconnect()
    window.plot_timer.timeout.connect(timed)
    frames0 = window.force_plot.frames_drawn
    wall0, gui0, proc0 = time.monotonic(), time.thread_time(), time.process_time()
    _run_for(app, seconds)
    wall = time.monotonic() - wall0
    gui = time.thread_time() - gui0
    proc = time.process_time() - proc0
    window.plot_timer.timeout.disconnect()
    window.plot_timer.timeout.connect(original)
    frames = window.force_plot.frames_drawn - frames0
    durations.sort()
    return {
        "wall_s": wall,
        "fps": frames / wall,
        "gui_load": gui / wall,
        "process_load": proc / wall,
        "refresh_median_ms": 1000 * statistics.median(durations) if durations else float("nan"),
        "refresh_p95_ms": (
            1000 * durations[int(0.95 * (len(durations) - 1))] if durations else float("nan")
        ),
    }


def _measure_synthetic(app, window, seconds: float) -> dict:
    """Plot-only baseline: the same plot fed two synthetic 2 kHz streams by the same timer."""
    import numpy as np

    rate = 2000.0
    t0 = time.monotonic()

    def fake_refresh() -> None:
        now = time.monotonic() - t0
        n = int(min(now, window.force_plot.window_s) * rate)
        t = now - np.arange(n)[::-1] / rate
        fz = 1500.0 * np.clip(np.sin(2 * np.pi * 1.45 * t), 0, None)
        window.force_plot.update_data({"left": (t, fz), "right": (t, fz[::-1].copy())},
                                      {"left": "left", "right": "right"})

    original = window.refresh_plot
    window.refresh_plot = fake_refresh
    try:
        return _measure(app, window, seconds)
    finally:
        window.refresh_plot = original
        window.plot_timer.timeout.disconnect()
        window.plot_timer.timeout.connect(window.refresh_plot)
        window.force_plot.clear_curves()


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, "smoke run: 2 s per phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--device", default="sim:treadmill?rate=2000&seed=1;sim:insoles?seed=1",
                        help="device strings, ';' between them (two plates at 2 kHz and two "
                             "insoles by default)")
    args = parser.parse_args(argv)
    seconds = 2.0 if args.quick else args.seconds

    with tempfile.TemporaryDirectory(prefix="forcelab-bench-console-") as tmp:
        os.environ["FORCELAB_CONFIG_DIR"] = str(Path(tmp) / "config")
        from forcelab.console.app import make_app
        from forcelab.console.window import PLOT_INTERVAL_MS, ConsoleWindow

        app = make_app()
        window = ConsoleWindow(devices=[args.device])
        window.output_edit.setText(str(Path(tmp) / "sessions"))
        window.resize(1366, 768)
        window.show()
        try:
            _run_for(app, 0.5)
            base = _measure(app, window, seconds)
            synthetic = _measure_synthetic(app, window, seconds)
            window.connect_devices()
            deadline = time.monotonic() + 30
            while not (window.backend.is_connected and not window.jobs.busy):
                app.processEvents()
                time.sleep(0.01)
                if time.monotonic() > deadline:
                    print(f"could not connect {args.device}: {window.last_error}",
                          file=sys.stderr)
                    return 2
            window.trial_name.setText("bench")
            window.start_recording()
            while not (window.backend.is_recording and not window.jobs.busy):
                app.processEvents()
                time.sleep(0.01)
            _run_for(app, 1.0)
            live = _measure(app, window, seconds)
            snap = window.backend.controller.snapshot()
            streams = [(d.name, d.rate_hz, d.samples_recorded, d.overflow_writer_samples)
                       for d in snap.devices]
            elapsed = snap.elapsed_s
        finally:
            window._close_confirmed = True
            window.close()
            app.processEvents()

    target_fps = 1000.0 / PLOT_INTERVAL_MS
    print(f"console bench ({'quick' if args.quick else 'full'}), {seconds:.0f} s per phase, "
          f"device {args.device}")
    for name, rate, recorded, overflow in streams:
        print(f"  stream {name}: {rate:.0f} Hz, {recorded} samples recorded in {elapsed:.1f} s "
              f"({recorded / max(elapsed, 1e-9) / rate:.3f} of nominal), overflow {overflow}")
    print(f"  baseline (idle window): GUI thread load {base['gui_load']:.3f}, "
          f"process load {base['process_load']:.3f}")
    print(f"  plot-only baseline (synthetic 2 x 2 kHz, no devices): plot {synthetic['fps']:.1f} "
          f"frames/s, GUI thread load {synthetic['gui_load']:.3f}, refresh median "
          f"{synthetic['refresh_median_ms']:.2f} ms")
    print(f"  live ({len(streams)} streams): plot {live['fps']:.1f} frames/s "
          f"= {live['fps'] / target_fps:.2f} x the {target_fps:.0f} Hz timer, "
          f"{live['fps'] / max(synthetic['fps'], 1e-9):.2f} x the plot-only baseline")
    print(f"  live GUI thread load {live['gui_load']:.3f} "
          f"= {live['gui_load'] / max(base['gui_load'], 1e-4):.1f} x baseline; "
          f"process load {live['process_load']:.3f}")
    print(f"  plot refresh: median {live['refresh_median_ms']:.2f} ms, "
          f"p95 {live['refresh_p95_ms']:.2f} ms (frame budget {PLOT_INTERVAL_MS} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
