"""Benchmark the lsl: inlet device: added latency and CPU of one 2 kHz, 6-channel stream.

Usage: python bench/bench_lsl.py [--quick] [--seconds S] [--repeat N] [--rate HZ] [--push-ms MS]

A real LSL outlet in another process (``forcelab.drivers.sim.lsl_player``) streams six channels (Fx
Fy Fz Mx My Mz) at 2 kHz, time-stamping each sample at its nominal time and pushing every
millisecond (``--push-ms``). Two readers take it at the same time, each in a process of its own
that holds nothing but its inlet (so a process's CPU is its inlet's: all threads, liblsl's receiver
threads included), and both see the same sender and the same load on a shared machine (which of
the two connects to the outlet first alternates between runs, so that neither is always served
first):

* baseline: a bare pylsl inlet doing nothing but ``pull_chunk`` into a preallocated NumPy buffer
  every ``READ_PERIOD_S`` (the device's own cadence): the floor any reader of this stream pays;
* device (this process): one ``lsl:`` device read the way the recorder's acquisition thread reads
  it (``read(0.05)`` back to back; the recorder puts each returned block in its queue at once).

Latency is, for every sample, the time from its LSL time stamp (mapped with ``time_correction()``)
to the moment the pull or ``read`` handed it over. CPU is CPU time per second of wall time in % of
one core: the whole process, its reading thread, and liblsl's threads (every other thread of the
process), from ``/proc/self/task/*/schedstat``. ``--repeat`` runs; each CPU figure is the least of
the runs (what the code costs; more is other engineers' load) with the spread, the ratio
device/baseline the median of the runs' ratios. The sender's own CPU is shown for reference.

Last, the sender is told to quit and the time until ``read`` raises ConnectionLost is reported
(the recorder reports the loss at that moment).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pylsl
from forcelab.drivers import open_devices
from forcelab.drivers.errors import ConnectionLost
from forcelab.drivers.lsl import INLET_BUFFER_S, READ_PERIOD_S

LABELS = ["Fx", "Fy", "Fz", "Mx", "My", "Mz"]
#: LSL's clock is this machine's monotonic clock wherever liblsl's steady_clock is (Linux, macOS):
#: then the readers are timed with ``time.monotonic``, which costs the measured thread nothing
#: like a call into liblsl does; elsewhere with ``pylsl.local_clock``.
lsl_clock = (time.monotonic if abs(pylsl.local_clock() - time.monotonic()) < 1e-3
             else pylsl.local_clock)
UNITS = ["N", "N", "N", "N*m", "N*m", "N*m"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def thread_cpu_ns() -> dict[int, int]:
    """CPU time (ns) so far of every thread of this process, by native id (Linux schedstat)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as fh:
                out[int(tid)] = int(fh.read().split()[0])
        except OSError:  # the thread ended meanwhile
            continue
    return out


def process_cpu_s(pid: int) -> float:
    """User + system CPU time (s) so far of another process, all its threads (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Part:
    """One measured run of a reader."""

    latency_s: np.ndarray
    samples: int
    wall_s: float
    reader_pct: float
    liblsl_pct: float
    sender_pct: float

    @property
    def total_pct(self) -> float:
        return self.reader_pct + self.liblsl_pct


class Meter:
    """CPU of this process's threads (the reading thread vs the rest)."""

    def __init__(self) -> None:
        self.reader = threading.get_native_id()

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.threads0 = thread_cpu_ns()

    def stop(self, stamps: list[tuple[float, int, float]], rate_hz: float) -> Part:
        threads = thread_cpu_ns()
        wall = time.perf_counter() - self.t0
        if threading.active_count() != 1:
            raise SystemExit("the bench process must run no Python thread but the reader")
        busy = {tid: ns - self.threads0.get(tid, 0) for tid, ns in threads.items()}
        reader = busy.pop(self.reader)
        # per read: (LSL time of its first sample on this machine's clock, samples, when handed)
        lat = [now - (t_first + np.arange(n) / rate_hz) for t_first, n, now in stamps]
        return Part(np.concatenate(lat or [np.empty(0)]), sum(n for _, n, _ in stamps), wall,
                    reader / 1e7 / wall, sum(busy.values()) / 1e7 / wall, float("nan"))


def _player(folder: Path, name: str, rate_hz: float, seconds: float,
            push_ms: float) -> subprocess.Popen:
    n = int(rate_hz * (seconds + 30))
    t = np.arange(n) / rate_hz
    fz = 800 + 600 * np.sin(2 * np.pi * 1.4 * t)
    samples = np.column_stack([0.05 * fz, 0.1 * fz, fz, 0.02 * fz, -0.03 * fz, 0.01 * fz])
    path = folder / "bench.npz"
    np.savez(path, samples=samples, rate_hz=rate_hz, labels=np.array(LABELS),
             units=np.array(UNITS))
    proc = subprocess.Popen(
        [sys.executable, "-m", "forcelab.drivers.sim.lsl_player", str(path), "--name", name,
         "--chunk-s", str(push_ms / 1000.0)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        raise SystemExit(f"the LSL player did not start: {line!r}")
    return proc


def bench_device(name: str, seconds: float, rate_hz: float, go: Callable[[], None]) -> Part:
    """Read one ``lsl:`` device as the recorder does for ``seconds`` s once ``go()`` returns."""
    (dev,) = open_devices(f"lsl:{name}")
    try:
        dev.start()
        while not dev.read(0.5):  # the first chunk carries the connection set-up
            pass
        stamps: list[tuple[float, int, float]] = []
        meter = Meter()
        go()
        while sum(b.n for b in dev.read(0.05)) > rate_hz * 0.1:  # what queued meanwhile
            pass
        meter.start()
        while time.perf_counter() - meter.t0 < seconds:
            blocks = dev.read(0.05)
            now = lsl_clock()
            # t_device_s: the sender's LSL stamp of the block's first sample; the device's clock
            # offset (time_correction) maps it onto this machine's LSL clock
            stamps += [(b.t_device_s + dev.time_correction_s, b.n, now) for b in blocks]
        return meter.stop(stamps, rate_hz)
    finally:
        dev.close()


def bench_baseline(name: str, seconds: float, rate_hz: float, go: Callable[[], None]) -> Part:
    """Pull from a bare pylsl inlet every READ_PERIOD_S for ``seconds`` s once ``go()``
    returns."""
    (info,) = pylsl.resolve_byprop("name", name, minimum=1, timeout=10)
    inlet = pylsl.StreamInlet(info, max_buflen=INLET_BUFFER_S, recover=False)
    try:
        inlet.open_stream(timeout=10)
        tc = inlet.time_correction(timeout=10)  # its clock thread runs, as the device's does
        rows = int(rate_hz)
        buf = np.empty((rows, info.channel_count()), dtype=np.float32)
        inlet.pull_chunk(timeout=0.5, max_samples=rows, dest_obj=buf, min_samples=1)
        stamps: list[tuple[float, int, float]] = []
        meter = Meter()
        go()
        while len(inlet.pull_chunk(timeout=0.0, max_samples=rows, dest_obj=buf)[1]) > rows / 10:
            time.sleep(READ_PERIOD_S)  # what queued meanwhile
        meter.start()
        while time.perf_counter() - meter.t0 < seconds:
            time.sleep(READ_PERIOD_S)
            _, ts = inlet.pull_chunk(timeout=0.0, max_samples=rows, dest_obj=buf,
                                     as_numpy=True)
            if len(ts):
                stamps.append((float(ts[0]) + tc, len(ts), lsl_clock()))
        return meter.stop(stamps, rate_hz)
    finally:
        inlet.close_stream()


def baseline_worker(name: str, seconds: float, rate_hz: float, out: str) -> None:
    """The baseline in its own process: prints ``ready``, starts on a ``go`` line on standard
    input, saves its figures to ``out`` (.npz)."""

    def go() -> None:
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("baseline worker: no go")

    part = bench_baseline(name, seconds, rate_hz, go)
    np.savez(out, latency_s=part.latency_s, samples=part.samples, wall_s=part.wall_s,
             reader_pct=part.reader_pct, liblsl_pct=part.liblsl_pct)


def bench_pair(name: str, seconds: float, rate_hz: float, sender_pid: int, folder: Path,
               device_first: bool) -> tuple[Part, Part]:
    """The baseline (another process) and the device (this one) over the same seconds: both
    see the same sender and the same load. ``device_first``: the device connects to the outlet
    first (the outlet serves its consumers in that order; runs alternate). Returns
    (baseline, device)."""
    out = folder / "baseline.npz"
    worker = subprocess.Popen(
        [sys.executable, __file__, "--baseline-worker", name, "--seconds", str(seconds),
         "--rate", str(rate_hz), "--out", str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    sender: list[float] = []

    def worker_ready() -> None:
        if not worker.stdout.readline().startswith("ready"):
            raise SystemExit("the baseline process did not start")

    def go() -> None:  # both readers are connected and have taken their first samples
        if device_first:
            worker_ready()
        worker.stdin.write("go\n")
        worker.stdin.flush()
        sender.append(process_cpu_s(sender_pid))

    try:
        if not device_first:
            worker_ready()
        device = bench_device(name, seconds, rate_hz, go)
        sender_s = process_cpu_s(sender_pid) - sender[0]
        if worker.wait(timeout=seconds + 60) != 0:
            raise SystemExit("the baseline process failed")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    with np.load(out) as z:
        base = Part(z["latency_s"], int(z["samples"]), float(z["wall_s"]),
                    float(z["reader_pct"]), float(z["liblsl_pct"]), float("nan"))
    device.sender_pct = base.sender_pct = sender_s / device.wall_s * 100
    return base, device


def bench_floor(name: str, seconds: float) -> tuple[float, float]:
    """What any reader of this stream at this cadence pays before it takes a sample: (% of a
    core for waking every READ_PERIOD_S and doing nothing, % for liblsl's threads receiving the
    stream into an open inlet that is never pulled)."""
    (info,) = pylsl.resolve_byprop("name", name, minimum=1, timeout=10)
    inlet = pylsl.StreamInlet(info, max_buflen=INLET_BUFFER_S, recover=False)
    try:
        inlet.open_stream(timeout=10)
        meter = Meter()
        meter.start()
        while time.perf_counter() - meter.t0 < seconds:
            time.sleep(READ_PERIOD_S)
        part = meter.stop([], 1.0)
        return part.reader_pct, part.liblsl_pct
    finally:
        inlet.close_stream()


def bench_loss(name: str, proc: subprocess.Popen) -> float:
    """Seconds from telling the sender to quit to ConnectionLost from ``read``."""
    (dev,) = open_devices(f"lsl:{name}")
    try:
        dev.start()
        while not dev.read(0.5):
            pass
        t0 = time.perf_counter()
        proc.stdin.close()  # the player withdraws its outlet and exits
        while True:
            try:
                dev.read(0.05)
            except ConnectionLost:
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > 30:
                raise SystemExit("the lost stream was never reported")
    finally:
        dev.close()


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values) + " %"


def report(what: str, parts: list[Part]) -> None:
    lat = np.concatenate([p.latency_s for p in parts])
    p50, p99, worst = np.percentile(lat, [50, 99, 100]) * 1e3
    rate = sum(p.samples for p in parts) / sum(p.wall_s for p in parts)
    reader = min(p.reader_pct for p in parts)
    liblsl = min(p.liblsl_pct for p in parts)
    print(f"{what}: {rate:,.0f} samples/s, latency p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"max {worst:.2f} ms; CPU {min(p.total_pct for p in parts):.2f} % of one core (reading "
          f"thread {reader:.2f} %, liblsl's threads {liblsl:.2f} %)")
    run_p99 = [float(np.percentile(p.latency_s, 99)) * 1e3 for p in parts]
    print(f"    per run: process {_runs([p.total_pct for p in parts])}; reading thread "
          f"{_runs([p.reader_pct for p in parts])}; liblsl {_runs([p.liblsl_pct for p in parts])};"
          f" p99 {', '.join(f'{v:.1f}' for v in run_p99)} ms (median {np.median(run_p99):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs of 2 s (CI smoke test)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--repeat", type=int, default=4, help="runs (the readers connect in turns)")
    parser.add_argument("--rate", type=float, default=2000.0, help="stream rate in Hz")
    parser.add_argument("--push-ms", type=float, default=1.0,
                        help="the sender pushes every this many ms (default 1)")
    parser.add_argument("--baseline-worker", metavar="NAME", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_worker:
        baseline_worker(args.baseline_worker, args.seconds, args.rate, args.out)
        return
    seconds, repeat = (2.0, 2) if args.quick else (args.seconds, max(1, args.repeat))
    name = f"bench-lsl-{os.getpid()}"
    with tempfile.TemporaryDirectory() as folder:
        proc = _player(Path(folder), name, args.rate, (seconds + 15) * repeat, args.push_ms)
        try:
            print(f"one LSL stream, {len(LABELS)} channels at {args.rate:g} Hz, pushed every "
                  f"{args.push_ms:g} ms by another process; baseline and device read it at the "
                  f"same time, each in its own process; {repeat} runs of {seconds:g} s; load "
                  f"average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
            pairs = [bench_pair(name, seconds, args.rate, proc.pid, Path(folder), i % 2 == 0)
                     for i in range(repeat)]
            base = [b for b, _ in pairs]
            device = [d for _, d in pairs]
            first = ", ".join(map(str, range(1, repeat + 1, 2)))
            print(f"the device connects first in runs {first}; the sender (another process) "
                  f"uses {_runs([p.sender_pct for p in device])}")
            report(f"baseline (bare pylsl pull_chunk into NumPy every {READ_PERIOD_S * 1e3:g} ms)",
                   base)
            report("lsl: device (roles, units, clock, gaps)", device)
            ratios = [d.total_pct / max(b.total_pct, 1e-9) for b, d in pairs]
            p99_b = np.percentile(np.concatenate([p.latency_s for p in base]), 99)
            p99_d = np.percentile(np.concatenate([p.latency_s for p in device]), 99)
            print(f"ratio device/baseline: CPU {np.median(ratios):.2f}x, p99 latency "
                  f"{p99_d / p99_b:.2f}x (CPU: median of the runs' ratios, "
                  f"{min(ratios):.2f}–{max(ratios):.2f}x)")
            wake, receive = bench_floor(name, seconds)
            print(f"floor of any reader of this sender (same process, no pulls): waking every "
                  f"{READ_PERIOD_S * 1e3:g} ms {wake:.2f} % + liblsl receiving the pushes "
                  f"{receive:.2f} % = {wake + receive:.2f} % of one core")
            lost_s = bench_loss(name, proc)
            print(f"sender quits -> ConnectionLost from read: {lost_s * 1e3:.0f} ms; load average "
                  f"now {os.getloadavg()[0]:.2f}")
        finally:
            if not proc.stdin.closed:
                proc.stdin.close()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
