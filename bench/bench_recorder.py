"""Recorder benchmark: CPU per second of recording, sustained throughput, demo asymmetry.

    python bench/bench_recorder.py            # 20 s live session, 5 s throughput, 60 s demo
    python bench/bench_recorder.py --quick    # a few seconds in all (CI smoke test)

1. Live session: two simulated FPB1 belt plates at 1 kHz + two INS1 insoles at 100 Hz behind real
   ptys (simulators in other processes), recorded by the SessionController into a real session
   file. The recorder's CPU is the CPU time of its own threads (acquisition incl. the drivers'
   decoding, writer, live analysis, store flush timer; read from /proc per thread) divided by
   wall time. Also: file size per hour,
   recorded once with today's writer and once with the writer before compact storage (commit
   ``bench_store.OLD_REF``) in the same run: the whole file over the session time, and the growth
   of the file while recording (what an hour adds, without the space allocated once per file).
2. Sustained throughput: blocks of 8 samples x 9 channels pushed as fast as a device could deliver
   them through the whole recorder (queues, writer thread, live analysis) into a real file, against
   the baseline of calling SessionWriter.append directly in one thread, in the same run.
3. Demo: the simulated treadmill's set asymmetry vs the SI recovered from the recorded file.
4. Fast devices: two FPB1 plates at 2 kHz + two INS1 insoles at 200 Hz (simulators in other
   processes, as real devices would be) recorded by the SessionController, in phases A B A B...
   of one recording: A = per-frame wake-ups (``Transport.STREAM_GATHER_S = 0``: each read takes
   what has arrived), B = the block-level waits the drivers use (one wake-up per
   ``STREAM_GATHER_S``). Per phase: CPU of the acquisition threads (drivers + DeviceWorkers)
   and of all recorder threads, from /proc per thread; port-to-Block latency p50/p99 (each
   write of a simulator to its pty, logged with its time in the simulator process, until the
   read that hands its last byte to the DeviceWorker as a Block); how long no thread of the
   process could run (a probe thread's lateness: the GIL held by an HDF5 flush, or the
   machine's load). Last, C = the bare cost of taking the same bytes off the same ports with
   the same waits (bytes thrown away, no parsing, no Blocks). Then min/median over the phases,
   the B/A ratio per pair, the file growth per hour, the samples lost in the A/B phases and
   the gap phase C leaves in the recording.

    python bench/bench_recorder.py --only-fast [--pairs 3]

5. Breakdown (``--breakdown``, alone): the rig of section 4 recorded with block-level waits, and
   the CPU time of each stage of the acquisition threads per call (``time.thread_time_ns``
   around the transport read, the frame scan, the usual-block paths, the clock refit, the
   DeviceWorker hand-out...): where the device reads' CPU goes. Stages nest (a device read
   holds its transport read), and the timers add a little to each call.

    python bench/bench_recorder.py --breakdown [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from forcelab.drivers import Block, Channel, Device, DeviceInfo, LinkStats
from forcelab.drivers import base as dev

from forcelab.acquisition import SessionController

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import old_writer_class  # noqa: E402
from harness import start_rig, start_simulator, thread_cpu_s  # noqa: E402

RECORDER_THREAD_PREFIXES = (
    "forcelab-acq",
    "forcelab-writer",
    "forcelab-live",
    "forcelab-store",
)
def cpu_by_thread() -> dict[str, float]:
    """CPU seconds so far of every recorder thread, by thread name."""
    return {
        t.name: thread_cpu_s(t.native_id)
        for t in threading.enumerate()
        if t.native_id is not None and t.name.startswith(RECORDER_THREAD_PREFIXES)
    }


def cpu_by_role() -> dict[str, float]:
    """CPU seconds so far of the recorder's threads, of the rest, and of the process."""
    recorder = other = 0.0
    for t in threading.enumerate():
        if t.native_id is None:
            continue
        cpu = thread_cpu_s(t.native_id)
        if t.name.startswith(RECORDER_THREAD_PREFIXES):
            recorder += cpu
        else:
            other += cpu
    return {"recorder": recorder, "other": other, "process": time.process_time()}


def live_session(seconds: float, folder: str, writer_cls: type | None = None,
                 label: str = "now", report_cpu: bool = True) -> None:
    import signal

    logs = [os.path.join(folder, f"live-sim-{label}-{k}.json") for k in range(2)]
    belts, belt_urls = _start_logged_simulator(logs[0], "treadmill", "--seed", "1",
                                               "--asymmetry", "-0.08")
    feet, feet_urls = _start_logged_simulator(logs[1], "insoles", "--seed", "2")
    ctl = SessionController(
        session_writer_factory=None if writer_cls is None else writer_cls.create)
    path = os.path.join(folder, f"live-{label}.h5")
    try:
        ctl.connect([*belt_urls, *feet_urls])
        ctl.start_recording(path, athlete={"name": "bench", "body_mass_kg": 70})
        ctl.start_trial("bench")
        time.sleep(1.0)  # settle (threads started, SWMR on)
        c0, w0, t0 = cpu_by_role(), time.monotonic(), cpu_by_thread()
        size0 = os.path.getsize(path)
        n0 = {d.name: d.samples_recorded for d in ctl.snapshot().devices}
        time.sleep(seconds)
        c1, w1, t1 = cpu_by_role(), time.monotonic(), cpu_by_thread()
        size1 = os.path.getsize(path)
        snap = ctl.snapshot()
        summary = ctl.stop_recording()
    finally:
        try:
            ctl.close()
        finally:
            for p in (belts, feet):
                p.send_signal(signal.SIGINT)
                p.communicate(timeout=20)
    wall = w1 - w0
    n = {d.name: d.samples_recorded - n0[d.name] for d in snap.devices}
    lost = sum(
        s["overflow_writer_samples"] + s["dropped_samples"] for s in summary["streams"].values()
    )
    size_per_h = os.path.getsize(path) / summary["duration_s"] * 3600
    growth_per_h = (size1 - size0) / (w1 - w0) * 3600
    if not report_cpu:
        print(f"   writer {label:<7} file size per hour: {size_per_h / 1e6:4.0f} MB whole file "
              f"({summary['file_size_bytes'] / 1e6:.1f} MB for {summary['duration_s']:.1f} s), "
              f"{growth_per_h / 1e6:4.0f} MB growth while recording; samples lost {lost}")
        return
    rec_pct = 100 * (c1["recorder"] - c0["recorder"]) / wall
    sim_pct = 100 * (c1["other"] - c0["other"]) / wall
    proc_pct = 100 * (c1["process"] - c0["process"]) / wall
    print(f"1. live session, 2 FPB1 plates @1 kHz + 2 INS1 insoles @100 Hz, {wall:.1f} s measured")
    for name, k in n.items():
        print(f"   {name:<13} {k / wall:8.0f} samples/s recorded")
    print(
        f"   recorder threads CPU      {rec_pct:6.1f} % of one core "
        f"({rec_pct / 100:.3f} CPU-s per s of recording)"
    )
    for name in sorted(t1):
        share = 100 * (t1[name] - t0.get(name, 0.0)) / wall
        print(f"     {name:<36} {share:5.1f} %")
    print(f"   other threads (main)      {sim_pct:6.1f} % of one core (not the recorder)")
    print(f"   whole process             {proc_pct:6.1f} % of one core")
    print(f"   samples lost (gaps + overflow): {lost}")
    print(f"   writer {label:<7} file size per hour: {size_per_h / 1e6:4.0f} MB whole file "
          f"({summary['file_size_bytes'] / 1e6:.1f} MB for {summary['duration_s']:.1f} s), "
          f"{growth_per_h / 1e6:4.0f} MB growth while recording")


class PacedPlate(Device):
    """A 9-channel plate delivering 8-sample blocks at ``rate_hz`` with no link in between, so
    that the recorder, not a serial link, is what is measured."""

    def __init__(self, side: str, rate_hz: float, spf: int = 8) -> None:
        names = ("fx", "fy", "fz", "mx", "my", "mz", "cop_x", "cop_y", "tz")
        roles = (dev.ROLE_FORCE_ML, dev.ROLE_FORCE_AP, dev.ROLE_VERTICAL, dev.ROLE_MOMENT_X,
                 dev.ROLE_MOMENT_Y, dev.ROLE_MOMENT_Z, dev.ROLE_COP_ML, dev.ROLE_COP_AP,
                 dev.ROLE_FREE_MOMENT)
        self.info = DeviceInfo(
            "FPB1",
            "bench",
            f"B-{side}",
            "1",
            side,
            float(rate_hz),
            tuple(Channel(c, "N", r) for c, r in zip(names, roles, strict=True)),
        )
        self.stats = LinkStats()
        rng = np.random.default_rng(0)
        t = np.arange(8000) / 1000.0
        fz = np.clip(2000 * np.sin(2 * np.pi * 1.45 * t), 0, None)
        self._base = np.column_stack([rng.normal(0, 5, (8000, 2)), fz, rng.normal(0, 1, (8000, 6))])
        self.rate_hz = float(rate_hz)
        self._spf = spf
        self._seq = 0
        self._t0: float | None = None
        self.go = threading.Event()  # blocks flow once the recording has started

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.go.clear()

    def zero(self) -> None:
        pass

    def close(self) -> None:
        self.go.clear()

    def read(self, timeout: float = 0.1) -> list[Block]:
        if not self.go.is_set():
            time.sleep(min(timeout, 0.01))
            return []
        if self._t0 is None:
            self._t0 = time.time()
        due = int((time.time() - self._t0) * self.rate_hz) // self._spf * self._spf
        if due <= self._seq:
            time.sleep(min(timeout, 0.002))
            return []
        out = []
        while self._seq < due:
            i = self._seq % (8000 - self._spf)
            out.append(
                Block(
                    self._seq,
                    self._seq / self.rate_hz,
                    self._t0 + self._seq / self.rate_hz,
                    self._base[i : i + self._spf],
                )
            )
            self._seq += self._spf
        return out


def throughput(seconds: float, folder: str) -> None:
    from forcelab.store import SessionWriter

    # baseline: SessionWriter.append in one thread, no queues, no analysis
    dev = PacedPlate("left", 1000.0)
    blocks = [Block(0, 0.0, time.time(), dev._base[k * 8 : (k + 1) * 8]) for k in range(512)]
    w = SessionWriter.create(os.path.join(folder, "base.h5"), athlete={"name": "b"})
    w.add_stream("plate", dev.info)
    n, t0, seq = 0, time.monotonic(), 0
    while time.monotonic() - t0 < seconds:
        for b in blocks:
            w.append("plate", Block(seq, b.t_device_s, b.t_host_s, b.samples))
            seq += b.n
            n += b.n
    base_rate = n / (time.monotonic() - t0)
    w.close()
    print(
        f"2. sustained throughput ({seconds:g} s per step, two 9-channel plates, 8-sample blocks)"
    )
    print(f"   baseline SessionWriter.append in one thread: {base_rate / 1e3:8.0f} k samples/s")

    # the recorder at rising rates until its queues overflow
    sustained = 0.0
    for rate in (1000.0, 4000.0, 16000.0, 32000.0, 64000.0):
        devices = [PacedPlate("left", rate), PacedPlate("right", rate)]
        ctl = SessionController(writer_buffer_s=2.0, analysis_buffer_s=2.0)
        path = os.path.join(folder, f"paced-{int(rate)}.h5")
        ctl.connect_devices(devices)
        ctl.start_recording(path, athlete={"name": "bench", "body_mass_kg": 70})
        t0 = time.monotonic()
        for d in devices:
            d.go.set()
        time.sleep(seconds)
        snap = ctl.snapshot()
        taken = sum(d.samples for d in snap.devices)
        summary = ctl.stop_recording()
        wall = time.monotonic() - t0
        ctl.close()
        written = sum(s["samples_recorded"] for s in summary["streams"].values())
        overflow = sum(
            s["overflow_writer_samples"] + s["overflow_analysis_samples"]
            for s in summary["streams"].values()
        )
        offered = 2 * rate
        # kept up: nothing refused, the devices were read at the offered rate and the writer
        # wrote at that rate too (a backlog absorbed by the queue does not count)
        ok = (
            overflow == 0
            and taken >= 0.9 * offered * seconds
            and written / wall >= 0.9 * offered * seconds / (seconds + 0.5)
        )
        if ok:
            sustained = offered
        print(
            f"   offered {offered / 1e3:6.0f} k samples/s: "
            f"written {written / wall / 1e3:6.1f} k/s, "
            f"overflow {overflow}, {'kept up' if ok else 'fell behind'}"
        )
        if not ok:
            break
    print(
        f"   sustained without loss: {sustained / 1e3:.0f} k samples/s = "
        f"{sustained / 2000:.0f}x two 1 kHz plates; ratio to the one-thread baseline "
        f"{sustained / base_rate:.2f}"
    )


def demo(seconds: float, folder: str) -> None:
    import io

    from forcelab.commands._demo_session import run_demo

    out = io.StringIO()
    r = run_demo(os.path.join(folder, "demo.h5"), duration_s=seconds, progress=False, out=out)
    print(f"3. demo ({seconds:g} s simulated treadmill, set SI -8.0 %)")
    print(
        f"   simulated setting SI {r['simulated_si_pct']:+.1f} %, simulator's own stances "
        f"SI {r['true_si_pct']:+.1f} %, recovered from the file SI "
        f"{r['recovered_si_pct']:+.1f} % -> {abs(r['difference_points']):.1f} points from the "
        f"setting, {abs(r['recovered_si_pct'] - r['true_si_pct']):.1f} from the simulator's "
        "stances"
    )


def serve_simulator(log_path: str, argv: list[str]) -> int:
    """``forcelab simulate ARGV`` in this process, logging when each write reached the pty
    (``time.monotonic()``, bytes written so far, by port) into ``log_path`` at the end: the
    arrival times on the port of section 4's latency."""
    import json

    from forcelab.drivers.sim import pty

    from forcelab import cli

    log: dict[str, list[tuple[float, int]]] = {}
    pump = pty.SimPort.pump

    def logged_pump(port: pty.SimPort) -> int:
        n = pump(port)
        if n:
            log.setdefault(os.path.basename(port.device), []).append(
                (time.monotonic(), port.bytes_written))
        return n

    pty.SimPort.pump = logged_pump  # type: ignore[method-assign]
    try:
        return cli.main(["simulate", *argv])
    finally:
        with open(log_path, "w") as fh:
            json.dump(log, fh)


def _start_logged_simulator(log_path: str, setup: str,
                            *args: str) -> tuple[subprocess.Popen, list[str]]:
    """A simulator process (as a real device would be) whose writes are logged -> urls."""
    return start_simulator(setup, *args,
                            command=(__file__, "--serve-simulator", log_path))


def _log_deliveries(device: Device) -> list[tuple[float, int]]:
    """Wrap ``device.read`` to log (time.monotonic(), bytes handed out as Blocks so far): the
    bytes received less those the driver holds (a partial frame; INS1: also samples parsed but
    held for the next read). The frame size is looked up once here (not imported per read):
    the wrapper runs in the acquisition thread it measures."""
    from forcelab.drivers.protocols import ins1

    log: list[tuple[float, int]] = []
    read = device.read
    held_sample_bytes = (ins1.FRAME_OVERHEAD + ins1.SAMPLE_SIZE
                         if device.info.protocol == "INS1" else 0)

    def logged_read(timeout: float = 0.1) -> list[Block]:
        blocks = read(timeout)
        if blocks:
            held = device.codec.pending_bytes
            if held_sample_bytes:
                held += device._n_samples * held_sample_bytes
            log.append((time.monotonic(), device.stats.bytes_received - held))
        return blocks

    device.read = logged_read  # type: ignore[method-assign]
    return log


def _link_losses(devices: list[Device]) -> dict[str, int]:
    """Per device and counter, what the link lost so far: samples missing, frames given up
    (bytes discarded while hunting for a frame), CRC errors, frames the clock contradicted."""
    return {f"{d.info.serial} {k}": int(getattr(d.stats, k))
            for d in devices
            for k in ("dropped_samples", "bytes_discarded", "crc_errors", "corrupt_frames")}


def _bare_read(device: Device):
    """A ``read`` that takes the bytes off the device's port like the driver (the same
    block-level waits) and throws them away."""
    transport = device._transport

    def read(timeout: float = 0.1) -> list[Block]:
        transport.read(timeout, True)
        return []

    return read


def _latencies_ms(writes: list[tuple[float, int]], offset: int,
                  deliveries: list[tuple[float, int]], t0: float, t1: float) -> np.ndarray:
    """For each write to the port in [t0, t1): ms until the read that handed out its last byte
    as a Block (to the DeviceWorker)."""
    w = np.asarray(writes, dtype=np.float64).reshape(-1, 2)
    d = np.asarray(deliveries, dtype=np.float64).reshape(-1, 2)
    w = w[(w[:, 0] >= t0) & (w[:, 0] < t1)]
    delivered = np.maximum.accumulate(d[:, 1])
    idx = np.searchsorted(delivered, w[:, 1] - offset, side="left")
    ok = idx < len(d)
    return 1e3 * (d[idx[ok], 0] - w[ok, 0])


class StallProbe(threading.Thread):
    """A thread of this process that asks to wake every ``period_s``: how late it wakes is how
    long no thread of the process could run (the GIL held by one thread, e.g. an HDF5 flush,
    or the machine's load), which delays the recorder's threads the same way."""

    def __init__(self, period_s: float = 0.005) -> None:
        super().__init__(name="bench-stall-probe", daemon=True)
        self.period_s = period_s
        self.late: list[tuple[float, float]] = []  # (time.monotonic(), s late)
        self.stop_event = threading.Event()

    def run(self) -> None:
        due = time.monotonic() + self.period_s
        while not self.stop_event.wait(max(0.0, due - time.monotonic())):
            now = time.monotonic()
            self.late.append((now, now - due))
            due = now + self.period_s

    def worst_ms(self, t0: float, t1: float) -> tuple[float, float]:
        """p99 and largest lateness in [t0, t1), in ms."""
        late = np.array([x for t, x in self.late if t0 <= t < t1] or [0.0])
        return 1e3 * float(np.percentile(late, 99)), 1e3 * float(late.max())


def fast_devices(seconds: float, pairs: int, folder: str) -> None:
    """Section 4: per-frame wake-ups (A) against block-level waits (B), A B A B... in one
    recording; CPU of the recorder's threads and port-to-Block latency per phase."""
    import json
    import signal

    from forcelab.drivers import open_devices
    from forcelab.drivers.transport import Transport

    procs, devices = [], []
    gather_s = Transport.STREAM_GATHER_S
    logs = [os.path.join(folder, f"sim-{k}.json") for k in range(2)]
    phases: list[tuple[bool, float, float, dict[str, float]]] = []
    losses: list[dict[str, int]] = []
    try:
        p, urls = _start_logged_simulator(logs[0], "treadmill", "--seed", "1")
        procs.append(p)
        for u in urls:
            devices += open_devices(u, rate=2000)
        p, urls = _start_logged_simulator(logs[1], "insoles", "--seed", "1", "-o", "rate=200")
        procs.append(p)
        for u in urls:
            devices += open_devices(u)
        # quiet now (handshakes done, nothing streams): what each port wrote so far was read
        quiet = {d.info.serial: (time.monotonic(), d.stats.bytes_received) for d in devices}
        delivered = {d.info.serial: _log_deliveries(d) for d in devices}
        ctl = SessionController()
        probe = StallProbe()
        probe.start()
        try:
            ctl.connect_devices(devices)
            path = os.path.join(folder, "fast.h5")
            ctl.start_recording(path, athlete={"name": "bench", "body_mass_kg": 70})
            time.sleep(1.0)  # settle: threads, clock fits, SWMR
            size0, t_size0 = os.path.getsize(path), time.monotonic()
            for _ in range(pairs):
                for gather in (False, True):
                    lost0 = _link_losses(devices)
                    Transport.STREAM_GATHER_S = gather_s if gather else 0.0
                    time.sleep(0.3)  # reads already waiting finish under the old setting
                    t0, c0 = time.monotonic(), cpu_by_thread()
                    time.sleep(seconds)
                    t1, c1 = time.monotonic(), cpu_by_thread()
                    phases.append((gather, t0, t1,
                                   {k: c1[k] - c0.get(k, 0.0) for k in c1}))
                    losses.append({k: v - lost0[k] for k, v in _link_losses(devices).items()
                                   if v != lost0[k]})
            growth_per_h = (os.path.getsize(path) - size0) / (time.monotonic() - t_size0) * 3600
            # C: the bare cost of taking the same bytes off the ports with the same waits
            # (the DeviceWorkers get no Blocks; last, as it leaves a gap in the recording)
            for d in devices:
                d.read = _bare_read(d)  # type: ignore[method-assign]
            time.sleep(0.3)
            t0, c0 = time.monotonic(), cpu_by_thread()
            time.sleep(seconds)
            t1, c1 = time.monotonic(), cpu_by_thread()
            bare = (t0, t1, {k: c1[k] - c0.get(k, 0.0) for k in c1})
            summary = ctl.stop_recording()
        finally:
            probe.stop_event.set()
            ctl.close()
    finally:
        Transport.STREAM_GATHER_S = gather_s
        for p in procs:
            p.send_signal(signal.SIGINT)
            p.communicate(timeout=20)
    writes: dict[str, list[tuple[float, int]]] = {}
    for log in logs:
        with open(log) as fh:
            writes.update(json.load(fh))
    # phase C throws its bytes away: the recording has a gap there, which is no loss
    dropped_ab = sum(v for phase in losses for k, v in phase.items()
                     if k.endswith(" dropped_samples"))
    lost_ab = dropped_ab + sum(s["overflow_writer_samples"] for s in summary["streams"].values())
    gap_c = sum(s["dropped_samples"] for s in summary["streams"].values()) - dropped_ab
    print(f"4. 2 FPB1 plates @2 kHz + 2 INS1 insoles @200 Hz through the recorder, simulators "
          f"in other processes; {pairs} x (A, B) phases of {seconds:g} s in one recording")
    print("   A = per-frame wake-ups (STREAM_GATHER_S = 0: each read takes what has arrived),"
          f" B = block-level waits ({gather_s * 1e3:.0f} ms)")
    print("   CPU in % of one core (read from /proc per thread): device reads = the "
          "acquisition threads (driver + DeviceWorker)")
    ratios, cpu = [], {False: [], True: []}
    for (gather, t0, t1, per_thread), lost_in_phase in zip(phases, losses, strict=True):
        wall = t1 - t0
        acq = 100 * sum(v for n, v in per_thread.items() if n.startswith("forcelab-acq")) / wall
        rec = 100 * sum(per_thread.values()) / wall
        cpu[gather].append((acq, rec))
        lat: dict[str, list[np.ndarray]] = {"FPB1": [], "INS1": []}
        for d in devices:
            t_q, received0 = quiet[d.info.serial]
            w = writes[os.path.basename(d.port)]
            before = [c for t, c in w if t <= t_q]
            offset = (before[-1] if before else 0) - received0
            lat[d.info.protocol].append(
                _latencies_ms(w, offset, delivered[d.info.serial], t0, t1))
        lat_text = ", ".join(
            f"{proto} p50 {np.percentile(np.concatenate(v), 50):4.1f} / p99 "
            f"{np.percentile(np.concatenate(v), 99):4.1f} ms"
            for proto, v in lat.items())
        stall_p99, stall_max = probe.worst_ms(t0, t1)
        print(f"   {'B' if gather else 'A'}  device reads {acq:5.2f} %, all recorder threads "
              f"{rec:5.2f} %; port-to-Block latency {lat_text}; process stalls p99 "
              f"{stall_p99:.1f} ms, longest {stall_max:.0f} ms"
              + (f"; link losses {lost_in_phase}" if lost_in_phase else ""))
        print("      " + ", ".join(f"{n.removeprefix('forcelab-')} {100 * v / wall:.2f}"
                                  for n, v in sorted(per_thread.items())))
        if gather:
            ratios.append(acq / cpu[False][-1][0])
    t0, t1, per_thread = bare
    acq_bare = 100 * sum(v for n, v in per_thread.items() if n.startswith("forcelab-acq")) / (
        t1 - t0)
    print(f"   C  bare reads (the same waits, bytes thrown away, no parsing): device reads "
          f"{acq_bare:5.2f} %")
    a = np.array(cpu[False])
    b = np.array(cpu[True])
    print(f"   device reads: A min {a[:, 0].min():.2f} / median {np.median(a[:, 0]):.2f} %, "
          f"B min {b[:, 0].min():.2f} / median {np.median(b[:, 0]):.2f} % "
          f"(target < 5 %: {'OK' if np.median(b[:, 0]) < 5 else 'ABOVE'}); "
          f"B/A ratio per pair {', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"   all recorder threads: A median {np.median(a[:, 1]):.2f} %, "
          f"B median {np.median(b[:, 1]):.2f} %")
    print(f"   file growth while recording: {growth_per_h / 1e6:.0f} MB per hour "
          f"({summary['file_size_bytes'] / 1e6:.1f} MB for {summary['duration_s']:.1f} s)")
    print(f"   samples lost in the A/B phases (gaps + writer overflow): {lost_ab}; the gap "
          f"phase C leaves in the recording (its bytes thrown away): {gap_c} samples")


#: (class path, method) timed by the breakdown, in the order printed (outer stages first)
BREAKDOWN_STAGES = (
    ("forcelab.drivers.fpb1.FPB1Device", "read"),
    ("forcelab.drivers.transport.Transport", "read"),
    ("forcelab.drivers.protocols.fpb1.FPB1Codec", "scan"),
    ("forcelab.drivers.fpb1.FPB1Device", "_process"),
    ("forcelab.drivers.fpb1.FPB1Device", "_usual_read"),
    ("forcelab.drivers.fpb1.FPB1Device", "_on_ping"),
    ("forcelab.drivers.ins1.Ins1Device", "read"),
    ("forcelab.drivers.ins1.Ins1Device", "_feed"),
    ("forcelab.drivers.ins1.Ins1Device", "_make_blocks"),
    ("forcelab.drivers.ins1.Ins1Device", "_usual_read"),
    ("forcelab.drivers.ins1.Ins1Device", "_on_sync_reply"),
    ("forcelab.drivers.transport.Transport", "write"),
    ("forcelab.drivers.clock.ClockFit", "_fit"),
    ("forcelab.acquisition.workers.DeviceWorker", "_process"),
    ("forcelab.acquisition.buffers.RingBuffer", "write"),
    ("forcelab.acquisition.buffers.WorkQueue", "put"),
)


def breakdown(seconds: float, folder: str) -> None:
    """Section 5: CPU per call of each stage of the acquisition threads."""
    import importlib
    import signal

    spent: dict[str, list[int]] = {}
    saved = []

    def timed(label: str, fn):
        cell = spent.setdefault(label, [0, 0])

        def run(*args, **kwargs):
            t0 = time.thread_time_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                cell[0] += time.thread_time_ns() - t0
                cell[1] += 1

        return run

    for path, name in BREAKDOWN_STAGES:
        module, _, cls_name = path.rpartition(".")
        cls = getattr(importlib.import_module(module), cls_name)
        saved.append((cls, name, cls.__dict__.get(name)))  # None: inherited
        setattr(cls, name, timed(f"{cls_name}.{name}", getattr(cls, name)))
    procs, devices = [], []
    try:
        start_rig(procs, devices)
        ctl = SessionController()
        try:
            ctl.connect_devices(devices)
            ctl.start_recording(os.path.join(folder, "breakdown.h5"),
                                athlete={"name": "bench", "body_mass_kg": 70})
            time.sleep(1.0)  # settle: threads, clock fits, SWMR
            for cell in spent.values():
                cell[:] = [0, 0]
            t0, c0 = time.monotonic(), cpu_by_thread()
            time.sleep(seconds)
            t1, c1 = time.monotonic(), cpu_by_thread()
            ctl.stop_recording()
        finally:
            ctl.close()
    finally:
        for cls, name, fn in saved:
            if fn is None:
                delattr(cls, name)
            else:
                setattr(cls, name, fn)
        for p in procs:
            p.send_signal(signal.SIGINT)
            p.communicate(timeout=20)
    wall = t1 - t0
    acq = sum(c1[k] - c0.get(k, 0.0) for k in c1 if k.startswith("forcelab-acq"))
    print(f"5. Breakdown: 2 FPB1 @2 kHz + 2 INS1 @200 Hz recorded {wall:.1f} s with block-level "
          f"waits; device reads (all acquisition threads, timers included) "
          f"{100 * acq / wall:.2f} % of one core")
    print("   stage (nested in the one above it)        % of a core   calls/s    µs/call")
    for label, (ns, calls) in spent.items():
        print(f"   {label:42s} {100 * ns * 1e-9 / wall:8.2f}   {calls / wall:8.1f}   "
              f"{ns * 1e-3 / max(calls, 1):8.1f}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-simulator"]:  # section 4's simulator processes
        return serve_simulator(argv[1], argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds in all")
    parser.add_argument("--live", type=float, help="seconds of the live session (default 60)")
    parser.add_argument("--only-fast", action="store_true", help="only section 4")
    parser.add_argument("--pairs", type=int, help="A/B phase pairs of section 4 (default 3)")
    parser.add_argument("--breakdown", action="store_true", help="only section 5")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="recording time of section 5 (default 10 s)")
    args = parser.parse_args(argv)
    phase_s, pairs = (1.5, 1) if args.quick else (8.0, 3)
    pairs = args.pairs or pairs
    live_s, thr_s, demo_s = (2.0, 1.0, 6.0) if args.quick else (60.0, 5.0, 60.0)
    live_s = args.live or live_s
    with tempfile.TemporaryDirectory(prefix="forcelab-bench-") as folder:
        # simulated ports of this run only (other programs' simulators on a shared machine
        # cannot take their names or be found by a reconnect)
        os.environ["FORCELAB_SIM_DIR"] = os.path.join(folder, "ports")
        if args.only_fast:
            fast_devices(phase_s, pairs, folder)
            return 0
        if args.breakdown:
            breakdown(args.seconds, folder)
            return 0
        live_session(live_s, folder)
        old = old_writer_class(Path(folder))
        if old is not None and not hasattr(old, "n_samples_stored"):
            # the controller settles its counts with what the file holds; the old writer
            # only counts what it took
            old = type("OldSessionWriter", (old,), {"n_samples_stored": old.n_samples})
        if old is not None:
            live_session(live_s, folder, old, "before", report_cpu=False)
        throughput(thr_s, folder)
        demo(demo_s, folder)
        fast_devices(phase_s, pairs, folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
