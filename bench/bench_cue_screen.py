"""Cue-to-screen benchmark: from the toe-off that completes a stance to the frame that paints its
feedback cue, in the real console (offscreen) on the simulated treadmill.

Usage::

    QT_QPA_PLATFORM=offscreen python bench/bench_cue_screen.py [--quick]
        [--device "sim:treadmill?rate=2000"] [--baseline-s S] [--training-s S]

The console runs a feedback protocol from its Feedback tab (baseline, then training with a cue
on every stance of both feet, tones on) on two simulated FPB1 plates at 2 kHz behind ptys: real
drivers, SessionController, live analysis, feedback engine, session file and widgets. The
protocol runs twice in one process:

1. *wake-up*: as the console runs, the controller's cue listener wakes the GUI thread (a queued
   signal) and the ~33 Hz redraw timer also drains the cue queue;
2. *timer only* (the baseline): the listener's wake-up is disconnected, so cues reach the
   screen only through the redraw timer (period ``PLOT_INTERVAL_MS``).

For every training cue: toe-off (``Cue.t_toe_off_s``), issue (``Cue.t_issued_s``) and the
host time of the first paint of the display that shows it (``CueDisplay.paint_log``), all on
the session time base. Printed: cue-to-screen p50/p99/max (ms), the issue part alone (toe-off to
issue, the controller's latency) and the GUI part (issue to paint), cues painted vs issued, and
the machine's load (1-min load average, cores, this process's CPU per wall second). Cues of the
baseline phase are left out: the streaming detector's 5 s warm-up releases its first stances
together.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _wait(app, predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.002)
    return True


def _pct(values_ms: list[float]) -> str:
    if not values_ms:
        return "no data"
    a = np.asarray(values_ms)
    p50, p99 = np.percentile(a, [50, 99])
    return f"p50 {p50:6.1f}  p99 {p99:6.1f}  max {a.max():6.1f} ms"


def run_protocol(app, window, wake_up: bool, baseline_s: float, training_s: float) -> dict:
    """One protocol in a new session file; returns the latencies of the training cues."""
    panel = window.feedback_panel
    if not wake_up:  # the wake-up is connected when the panel is built
        panel.cue_issued.disconnect()
    issued = []
    window.backend.add_cue_listener(issued.append)
    panel.metric_combo.setCurrentIndex(panel.metric_combo.findData("contact_time_s"))
    panel.side_combo.setCurrentText("both")
    panel.target_edit.setText("-5%")
    panel.schedule_combo.setCurrentText("every")
    panel.audio_combo.setCurrentText("tone")
    for phase in ("post", "retention"):
        panel.phase_checks[phase].setChecked(False)
    panel.phase_spins["baseline"].setValue(baseline_s)
    panel.phase_spins["training"].setValue(training_s)
    panel.display.paint_log.clear()
    window.tabs.setCurrentWidget(panel)
    cpu0, wall0 = time.process_time(), time.monotonic()
    panel.start_protocol()
    if not panel.running:
        raise SystemExit(f"the protocol did not start: {window.last_error}")
    timeout = baseline_s + training_s + 120
    if not _wait(app, lambda: not panel.running and not window.jobs.busy, timeout):
        raise SystemExit("the protocol did not finish in time")
    cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    window.backend.remove_cue_listener(issued.append)
    origin = window.backend.controller.session_start_s
    painted = {}
    for index, t_host in panel.display.paint_log:
        painted.setdefault(index, t_host - origin)
    training = [c for c in issued if c.phase == "training"]
    screen, issue, gui = [], [], []
    for c in training:
        issue.append(1000 * (c.t_issued_s - c.t_toe_off_s))
        if c.stance_index in painted:
            screen.append(1000 * (painted[c.stance_index] - c.t_toe_off_s))
            gui.append(1000 * (painted[c.stance_index] - c.t_issued_s))
    return {"issued": len(training), "painted": len(screen), "screen": screen, "issue": issue,
            "gui": gui, "cpu": cpu}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short phases (CI smoke run)")
    ap.add_argument("--device", default="sim:treadmill?rate=2000")
    ap.add_argument("--baseline-s", type=float, default=None)
    ap.add_argument("--training-s", type=float, default=None)
    args = ap.parse_args(argv)
    baseline_s = args.baseline_s or (8.0 if args.quick else 15.0)
    training_s = args.training_s or (12.0 if args.quick else 60.0)

    tmp = Path(tempfile.mkdtemp(prefix="forcelab-bench-cue-"))
    os.environ["FORCELAB_CONFIG_DIR"] = str(tmp / "config")
    from forcelab.console.app import make_app
    from forcelab.console.live_tab import PLOT_INTERVAL_MS
    from forcelab.console.settings import ConsoleSettings
    from forcelab.console.window import ConsoleWindow

    app = make_app()
    window = ConsoleWindow(settings=ConsoleSettings())
    window.output_edit.setText(str(tmp / "sessions"))
    window.resize(1366, 768)
    window.show()
    window.device_combo.setCurrentText(args.device)
    window.connect_devices()
    if not _wait(app, lambda: window.backend.is_connected and not window.jobs.busy, 60):
        print(f"could not connect {args.device}: {window.last_error}", file=sys.stderr)
        return 1
    results = {}
    for name, wake in (("wake-up", True), ("timer only", False)):
        results[name] = run_protocol(app, window, wake, baseline_s, training_s)
    window._close_confirmed = True
    window.close()
    load1 = os.getloadavg()[0]
    print(f"cue-to-screen on {args.device}, {training_s:.0f} s of training per run "
          f"(every stance, both feet); load average {load1:.1f} on {os.cpu_count()} cores")
    print(f"redraw timer period: {PLOT_INTERVAL_MS} ms")
    for name, r in results.items():
        print(f"[{name}] cues painted {r['painted']}/{r['issued']}, process CPU "
              f"{r['cpu']:.2f} cores")
        print(f"  toe-off -> screen : {_pct(r['screen'])}")
        print(f"  toe-off -> issued : {_pct(r['issue'])}")
        print(f"  issued  -> screen : {_pct(r['gui'])}")
    a, b = (results[n]["screen"] for n in ("wake-up", "timer only"))
    if a and b:
        print(f"p99 ratio wake-up / timer only: "
              f"{np.percentile(a, 99) / np.percentile(b, 99):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
