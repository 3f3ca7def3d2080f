"""Benchmark the lsl: inlet device: added latency and CPU of one 2 kHz, 6-channel stream.

Usage: python bench/bench_lsl.py [--quick] [--seconds S] [--rate HZ] [--push-ms MS]

A real LSL outlet in another process (``forcelab.drivers.sim.lsl_player``) streams six channels (Fx
Fy Fz Mx My Mz) at 2 kHz, time-stamping each sample at its nominal time and pushing every
millisecond (``--push-ms``). In this process one ``lsl:`` device is read the way the recorder's
acquisition thread reads it (``read(0.05)`` back to back; the recorder puts each returned block in
its queue at once), and for every sample the time from its LSL time stamp (mapped with
``time_correction()``) to the moment ``read`` handed it over is recorded.

CPU is the whole process's CPU time (all threads, liblsl's receiver threads included) per second of
wall time, in % of one core, and the reading thread's own share (``thread_time``). Baseline in the
same run: a bare pylsl inlet that only pulls the same stream into NumPy (``pull_chunk`` into a
preallocated buffer, the cheapest way to take samples from LSL), read with the same timeout, so the
device's own cost shows as the difference and the ratio.

Last, the sender is told to quit and the time until ``read`` raises ConnectionLost is reported
(the recorder reports the loss at that moment).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pylsl
from forcelab.drivers import open_devices
from forcelab.drivers.errors import ConnectionLost

LABELS = ["Fx", "Fy", "Fz", "Mx", "My", "Mz"]
UNITS = ["N", "N", "N", "N*m", "N*m", "N*m"]


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _player(folder: Path, name: str, rate_hz: float, seconds: float,
            push_ms: float) -> subprocess.Popen:
    n = int(rate_hz * (seconds * 2 + 20))
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


def bench_device(name: str, seconds: float,
                 rate_hz: float) -> tuple[np.ndarray, tuple[float, float], int]:
    (dev,) = open_devices(f"lsl:{name}")
    try:
        dev.start()
        dev.read(0.5)  # the first chunk carries the connection set-up
        lat: list[np.ndarray] = []
        n = 0
        cpu0, th0, t0 = _cpu_s(), time.thread_time(), time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            blocks = dev.read(0.05)
            now = pylsl.local_clock()
            for b in blocks:
                # t_device_s: the sender's LSL stamp of the first sample; the device's clock
                # offset (time_correction) maps it onto this machine's LSL clock
                stamps = b.t_device_s + dev.time_correction_s + np.arange(b.n) / rate_hz
                lat.append(now - stamps)
                n += b.n
        wall = time.perf_counter() - t0
        return np.concatenate(lat), ((_cpu_s() - cpu0) / wall, (time.thread_time() - th0) / wall), n
    finally:
        dev.close()


def bench_baseline(name: str, seconds: float) -> tuple[np.ndarray, tuple[float, float], int]:
    (info,) = pylsl.resolve_byprop("name", name, minimum=1, timeout=10)
    inlet = pylsl.StreamInlet(info, max_buflen=60, recover=False)
    inlet.open_stream(timeout=10)
    tc = inlet.time_correction(timeout=10)
    buf = np.empty((4096, info.channel_count()), dtype=np.float32)
    inlet.pull_chunk(timeout=0.5, max_samples=4096, dest_obj=buf, min_samples=1, as_numpy=True)
    lat: list[np.ndarray] = []
    n = 0
    cpu0, th0, t0 = _cpu_s(), time.thread_time(), time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, ts = inlet.pull_chunk(timeout=0.05, max_samples=4096, dest_obj=buf, min_samples=1,
                                 as_numpy=True)
        now = pylsl.local_clock()
        if len(ts):
            lat.append(now - (np.asarray(ts) + tc))
            n += len(ts)
    wall = time.perf_counter() - t0
    inlet.close_stream()
    return np.concatenate(lat), ((_cpu_s() - cpu0) / wall, (time.thread_time() - th0) / wall), n


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


def report(what: str, lat: np.ndarray, cpu: tuple[float, float], n: int,
           seconds: float) -> None:
    p50, p99, worst = np.percentile(lat, [50, 99, 100]) * 1e3
    print(f"{what}: {n / seconds:,.0f} samples/s, latency p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"max {worst:.2f} ms; CPU {cpu[0] * 100:.2f} % of one core (reading thread "
          f"{cpu[1] * 100:.2f} %, the rest liblsl's receiver)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per part (CI smoke test)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per part")
    parser.add_argument("--rate", type=float, default=2000.0, help="stream rate in Hz")
    parser.add_argument("--push-ms", type=float, default=1.0,
                        help="the sender pushes every this many ms (default 1)")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    name = f"bench-lsl-{os.getpid()}"
    with tempfile.TemporaryDirectory() as folder:
        proc = _player(Path(folder), name, args.rate, seconds, args.push_ms)
        try:
            print(f"one LSL stream, {len(LABELS)} channels at {args.rate:g} Hz, pushed every "
                  f"{args.push_ms:g} ms by another process; {seconds:g} s per part")
            lat_b, cpu_b, n_b = bench_baseline(name, seconds)
            report("baseline (bare pylsl pull into NumPy)", lat_b, cpu_b, n_b, seconds)
            lat_d, cpu_d, n_d = bench_device(name, seconds, args.rate)
            report("lsl: device (roles, units, clock, gaps)", lat_d, cpu_d, n_d, seconds)
            print(f"ratio device/baseline: CPU {cpu_d[0] / max(cpu_b[0], 1e-9):.2f}x, p99 latency "
                  f"{np.percentile(lat_d, 99) / np.percentile(lat_b, 99):.2f}x")
            lost_s = bench_loss(name, proc)
            print(f"sender quits -> ConnectionLost from read: {lost_s * 1e3:.0f} ms")
        finally:
            if not proc.stdin.closed:
                proc.stdin.close()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
