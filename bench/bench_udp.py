"""Benchmark the OpenGo UDP receiver: loss at 10x the real rate, CPU of a live insole pair.

Usage: python bench/bench_udp.py [--quick]

A sender in another process replays the real OpenGo walk (../shared/data, or the gait model when
it is absent) over UDP on 127.0.0.1, tiled into a longer stream with continuous timestamps.

1. 10x: 1000 datagrams/s for the whole stream; the pair of insole devices is read like the
   recorder reads it (one thread per device, ``read(0.05)``). Reported: datagrams sent,
   samples received per foot, missing samples (must be 0), and the receiver's datagram rate.
2. 1x: 100 datagrams/s; the CPU time of this process (socket thread + both reading threads,
   ``time.process_time``) and of the socket thread alone (/proc) per second of wall time, in %
   of one core. Baseline in the same run:
   a bare socket thread that only receives the same datagrams (no parsing, no blocks), so the
   ratio compares across machines.
"""

from __future__ import annotations

import multiprocessing as mp
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from forcelab.drivers.errors import ConnectionLost
from forcelab.drivers.opengo_udp import open_opengo_udp
from forcelab.drivers.sim.gait import GaitModel, GaitParams
from forcelab.drivers.sim.opengo_sim import OpenGoSender, export_rows, gait_rows
from harness import bench_parser, thread_cpu_s

WALK = Path(__file__).resolve().parents[2] / "shared" / "data" / "moticon_opengo_walking" / \
    "230927_102114.txt"


def stream_rows(seconds: float) -> np.ndarray:
    """``seconds`` of datagram rows at 100 Hz: the real walk tiled, or the gait model."""
    if WALK.exists():
        walk = export_rows(WALK)
        walk = walk[np.isfinite(walk[:, 1:]).all(axis=1)]  # both feet in every row
        reps = int(np.ceil(seconds * 100 / len(walk)))
        rows = np.concatenate([walk] * reps)[: int(seconds * 100)].copy()
    else:
        t = np.arange(int(seconds * 100)) / 100.0
        rows = gait_rows(GaitModel(GaitParams(mode="walk", speed_m_s=1.3), seed=1), t)
    rows[:, 0] = np.arange(len(rows)) / 100.0
    return rows


def _send(port: int, rows: np.ndarray, speed: float, started: Any) -> None:
    sender = OpenGoSender("127.0.0.1", port, rows=rows, speed=speed)
    started.set()
    sender.start()
    sender.done.wait()
    sender.stop()


def run_pair(rows: np.ndarray, speed: float) -> dict[str, float]:
    """Receive ``rows`` sent at ``speed`` x; counts and CPU of this process."""
    devices = open_opengo_udp("127.0.0.1:0", {})
    port = devices[0].info.extra["port"]
    rx_thread = devices[0].receiver._thread.native_id
    got = {d.info.side: 0 for d in devices}
    stop = threading.Event()

    def reader(dev) -> None:
        while not stop.is_set():  # as the recorder reads: a lost link is waited out
            try:
                for b in dev.read(0.05):
                    got[dev.info.side] += b.n
            except ConnectionLost:
                stop.wait(0.2)

    for d in devices:
        d.start()
    threads = [threading.Thread(target=reader, args=(d,)) for d in devices]
    for th in threads:
        th.start()
    ctx = mp.get_context("spawn")
    started = ctx.Event()
    proc = ctx.Process(target=_send, args=(port, rows, speed, started))
    proc.start()
    started.wait(60)  # measured from the first datagram on (not the sender's start-up)
    cpu0, wall0, rx0 = time.process_time(), time.monotonic(), thread_cpu_s(rx_thread)
    proc.join()
    deadline = time.monotonic() + 5.0
    while min(got.values()) < len(rows) and time.monotonic() < deadline:
        time.sleep(0.01)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    rx_cpu = thread_cpu_s(rx_thread) - rx0
    stop.set()
    for th in threads:
        th.join()
    missing = {d.info.side: d.stats.dropped_samples for d in devices}
    stats = devices[0].stats
    for d in devices:
        d.close()
    return {"sent": len(rows), "left": got["left"], "right": got["right"],
            "missing": sum(missing.values()), "bad": stats.bad_lines, "wall_s": wall,
            "cpu_pct": 100.0 * cpu / wall, "rx_pct": 100.0 * rx_cpu / wall}


def run_baseline(rows: np.ndarray, speed: float) -> dict[str, float]:
    """A bare socket thread receiving the same datagrams (no parsing)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    port = sock.getsockname()[1]
    n = [0]
    stop = threading.Event()

    def recv() -> None:
        while not stop.is_set():
            try:
                sock.recv(8192)
                n[0] += 1
            except TimeoutError:
                pass

    th = threading.Thread(target=recv)
    th.start()
    ctx = mp.get_context("spawn")
    started = ctx.Event()
    proc = ctx.Process(target=_send, args=(port, rows, speed, started))
    proc.start()
    started.wait(60)
    cpu0, wall0 = time.process_time(), time.monotonic()
    proc.join()
    deadline = time.monotonic() + 5.0
    while n[0] < len(rows) and time.monotonic() < deadline:
        time.sleep(0.01)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    stop.set()
    th.join()
    sock.close()
    return {"received": n[0], "cpu_pct": 100.0 * cpu / wall}


def main() -> None:
    ap = bench_parser(__doc__, "short run (CI smoke mode)")
    args = ap.parse_args()
    fast_s, live_s = (20.0, 3.0) if args.quick else (120.0, 20.0)
    source = "the real OpenGo walk (tiled)" if WALK.exists() else "the gait model"
    print(f"source: {source}")
    rows = stream_rows(fast_s)
    r = run_pair(rows, speed=10.0)
    print(f"10x real rate: {r['sent']} datagrams in {r['wall_s']:.1f} s "
          f"({r['sent'] / r['wall_s']:.0f}/s); received left {r['left']}, right {r['right']}; "
          f"missing samples {r['missing']}, bad datagrams {r['bad']}; "
          f"CPU {r['cpu_pct']:.1f} % of a core")
    rows = stream_rows(live_s)
    r = run_pair(rows, speed=1.0)
    b = run_baseline(rows, speed=1.0)
    print(f"1x live pair ({len(rows)} datagrams, {r['wall_s']:.1f} s): CPU {r['cpu_pct']:.2f} % "
          f"of a core (socket thread + two readers), socket thread alone {r['rx_pct']:.2f} %; "
          f"missing samples {r['missing']}")
    print(f"  baseline (bare socket thread, recv only): CPU {b['cpu_pct']:.2f} % of a core, "
          f"{b['received']} received")
    print(f"ratio pair/baseline CPU = {r['cpu_pct'] / max(b['cpu_pct'], 1e-6):.1f}x")


if __name__ == "__main__":
    main()
