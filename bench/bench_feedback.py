"""Live feedback benchmark: cue latency from toe-off, cues per stance, recorder CPU.

    python bench/bench_feedback.py            # 120 s of feedback (40 s per configuration)
    python bench/bench_feedback.py --quick    # 15 s in all (CI smoke test)

Two simulated FPB1 belt plates at 2 kHz run in another process (``forcelab simulate treadmill``,
as real devices would), opened through real ptys and recorded by the SessionController into a
real session file with live feedback on the loading rate of both sides (``valr_n_s``, schedule
every: a cue per stance).
Latency of a cue = the time it was issued minus the toe-off of the stance that completed it
(session time of the stance's end, on the host time base of the device clock fit). Three
configurations alternate every 5 s in the same recording (A B C A B C ...), so machine load
hits them alike:

A. feedback as shipped: the analysis wakes on data (``FEEDBACK_BATCH_S``), the FPB1 reads gather
   ``Transport.STREAM_GATHER_S`` of frames per wake-up;
B. baseline: the same pipeline with the live analysis' old 100 ms batching (``ANALYSIS_BATCH_S``);
C. A with per-frame device reads (``STREAM_GATHER_S = 0``): what the device-read batching costs.

For each: cues against the completed stances of its segments (those begun in the feedback
trial, from the file's ``stance`` events; a cue for each is expected), latency p50/p95/p99/max,
cues later than 50 ms, CPU of the live-analysis thread and of all recorder threads. Beside them,
the p99 of the block arrival lag (time a block reaches the recorder's acquisition thread minus
the host time of its last sample, measured by wrapping ``DeviceWorker._process``): what no stage
after the device read can win back on a loaded machine. Machine load is printed beside the
figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from forcelab.drivers import open_devices
from forcelab.drivers.transport import Transport

from forcelab.acquisition import SessionController, workers
from forcelab.analysis.feedback import Cue, FeedbackEngine
from forcelab.store import open_session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_recorder import cpu_by_thread  # noqa: E402
from harness import start_simulator  # noqa: E402

SEGMENT_S = 5.0
CONFIGS = ("A feedback", "B 100 ms batching", "C A + per-frame reads")


def _watch_arrivals(arrivals: list[tuple[float, float]]) -> None:
    """Record (arrival host time, lag s) of every block the acquisition threads process."""
    process = workers.DeviceWorker._process

    def timed(self, block):
        now = time.time()
        arrivals.append((now, now - (block.t_host_s + (block.n - 1) / self.rate_hz)))
        process(self, block)

    workers.DeviceWorker._process = timed


def run(total_s: float, folder: str) -> None:
    gather_s = Transport.STREAM_GATHER_S
    arrivals: list[tuple[float, float]] = []
    _watch_arrivals(arrivals)
    segment_s = min(SEGMENT_S, total_s / 3)
    proc, urls = start_simulator("treadmill", "--seed", "1")
    load0 = os.getloadavg()
    segments: list[tuple[int, float, float]] = []  # (config, t_start_s, t_stop_s) session time
    cpu: dict[int, dict[str, float]] = {k: {} for k in range(3)}
    wall: dict[int, float] = dict.fromkeys(range(3), 0.0)
    try:
        devices = []
        for u in urls:
            devices += open_devices(u, rate=2000)
        ctl = SessionController()
        try:
            engine = FeedbackEngine("valr_n_s", "40000:60000", side="both")
            feedback = ctl.set_feedback(engine, {"": total_s})
            ctl.connect_devices(devices)
            path = os.path.join(folder, "feedback.h5")
            ctl.start_recording(path, athlete={"name": "bench", "body_mass_kg": 70})
            session_start_s = ctl.session_start_s
            if not feedback.wait_ready(60.0):
                raise RuntimeError("the detectors never found a stance")
            ctl.start_trial("feedback")
            worker = ctl._analysis_thread  # the bench switches its batching between segments
            k = 0
            t_end = time.monotonic() + total_s
            while time.monotonic() < t_end:
                config = k % 3
                worker.batch_s = (workers.ANALYSIS_BATCH_S if config == 1
                                  else workers.FEEDBACK_BATCH_S)
                Transport.STREAM_GATHER_S = 0.0 if config == 2 else gather_s
                t0 = time.time() - ctl.session_start_s
                m0, c0 = time.monotonic(), cpu_by_thread()
                time.sleep(min(segment_s, max(0.0, t_end - time.monotonic())))
                m1, c1 = time.monotonic(), cpu_by_thread()
                segments.append((config, t0, time.time() - ctl.session_start_s))
                wall[config] += m1 - m0
                for name, v in c1.items():
                    cpu[config][name] = cpu[config].get(name, 0.0) + v - c0.get(name, 0.0)
                k += 1
            summary = ctl.stop_recording()
        finally:
            ctl.close()
    finally:
        Transport.STREAM_GATHER_S = gather_s
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    load1 = os.getloadavg()
    with open_session(path) as f:
        events = f.events
        trial_start_s = f.trials[0]["start_s"]
    cues = [Cue.from_json(e["message"]) for e in events if e["kind"] == "cue"]
    stances = [json.loads(e["message"]) | {"start_s": e["t_s"]} for e in events
               if e["kind"] == "stance"]
    lost = sum(s["overflow_writer_samples"] + s["dropped_samples"]
               for s in summary["streams"].values())

    def config_of(t_s: float) -> int | None:
        for config, a, b in segments:
            if a <= t_s < b:
                return config
        return None

    print(f"Live feedback: 2 FPB1 plates @2 kHz (simulator in another process), {total_s:g} s "
          f"of feedback on valr_n_s (both sides), configurations alternating every {segment_s:g} s")
    print(f"machine: {os.cpu_count()} cores, load average {load0[0]:.2f} at the start, "
          f"{load1[0]:.2f} at the end; samples lost {lost}")
    print(f"{'':24}{'stances':>8}{'cues':>6}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
          f"{'max ms':>8}{'> 50 ms':>8}{'analysis CPU':>14}{'recorder CPU':>14}"
          f"{'arrival p99 ms':>16}")
    t0_host = session_start_s
    rows = {}
    for config, label in enumerate(CONFIGS):
        # a stance belongs to the segment it completed in (when its cue was due)
        n_stances = sum(1 for s in stances if s["valid"] and s["start_s"] >= trial_start_s
                        and config_of(s["end_s"]) == config)
        lat = np.array([c.latency_s for c in cues if config_of(c.t_toe_off_s) == config]) * 1e3
        n_cues = lat.size
        p = np.percentile(lat, [50, 95, 99]) if lat.size else np.full(3, np.nan)
        live = sum(v for n, v in cpu[config].items() if n.startswith("forcelab-live"))
        rec = sum(cpu[config].values())
        w = wall[config] or np.nan
        rows[config] = p
        lag = np.array([d for t, d in arrivals if config_of(t - t0_host) == config]) * 1e3
        print(f"{label:<24}{n_stances:>8}{n_cues:>6}{p[0]:>8.1f}{p[1]:>8.1f}{p[2]:>8.1f}"
              f"{(lat.max() if lat.size else np.nan):>8.1f}{int((lat > 50).sum()):>8d}"
              f"{100 * live / w:>13.1f}%"
              f"{100 * rec / w:>13.1f}%{np.percentile(lag, 99) if lag.size else np.nan:>16.1f}")
    a, b = rows[0], rows[1]
    print(f"A / B (feedback / 100 ms batching): p50 x{a[0] / b[0]:.2f}, p99 x{a[2] / b[2]:.2f}; "
          f"target p99 <= 50 ms: {'met' if a[2] <= 50 else 'NOT met'} ({a[2]:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 s in all (smoke test)")
    parser.add_argument("--seconds", type=float, default=120.0, help="feedback time in all, s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(15.0 if args.quick else args.seconds, folder)


if __name__ == "__main__":
    main()
