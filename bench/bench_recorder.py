"""Recorder benchmark: CPU per second of recording, sustained throughput, demo asymmetry.

    python bench/bench_recorder.py            # 20 s live session, 5 s throughput, 60 s demo
    python bench/bench_recorder.py --quick    # a few seconds in all (CI smoke test)

1. Live session: two simulated FPB1 belt plates at 1 kHz + two INS1 insoles at 100 Hz behind real
   ptys, recorded by the SessionController into a real session file. The recorder's CPU is the
   CPU time of its own threads (acquisition incl. the drivers' decoding, writer, live analysis,
   store flush timer; read from /proc per thread) divided by wall time; the simulators run in the
   same process but on their own threads and are reported separately. Also: file size per hour,
   recorded once with today's writer and once with the writer before compact storage (commit
   ``bench_store.OLD_REF``) in the same run: the whole file over the session time, and the growth
   of the file while recording (what an hour adds, without the space allocated once per file).
2. Sustained throughput: blocks of 8 samples x 9 channels pushed as fast as a device could deliver
   them through the whole recorder (queues, writer thread, live analysis) into a real file, against
   the baseline of calling SessionWriter.append directly in one thread, in the same run.
3. Demo: the simulated treadmill's set asymmetry vs the SI recovered from the recorded file.
4. Fast devices: two FPB1 plates at 2 kHz + two INS1 insoles at 200 Hz (simulators in another
   process, as real devices would be) recorded by the SessionController; CPU of the device
   reading threads and of all recorder threads, with the transport's block-level waits (a
   streaming FPB1 read wakes once per ``Transport.STREAM_GATHER_S``) against the per-frame
   wake-ups of before (``STREAM_GATHER_S = 0``), alternating A B A B in the same recording.
"""

from __future__ import annotations

import argparse
import os
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
from harness import start_rig, thread_cpu_s  # noqa: E402

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
    from forcelab.drivers.sim.setups import start_setup

    belts = start_setup("treadmill", {"seed": 1, "asymmetry": -0.08})
    feet = start_setup("insoles", {"seed": 2})
    ctl = SessionController(
        session_writer_factory=None if writer_cls is None else writer_cls.create)
    path = os.path.join(folder, f"live-{label}.h5")
    try:
        ctl.connect([*belts.urls, *feet.urls])
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
        ctl.close()
        belts.stop()
        feet.stop()
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
    print(f"   simulators + main thread  {sim_pct:6.1f} % of one core (not the recorder)")
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


def fast_devices(seconds: float, folder: str) -> None:
    import signal

    from forcelab.drivers.transport import Transport

    procs, devices = [], []
    gather_s = Transport.STREAM_GATHER_S
    phases: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    per_thread: dict[bool, dict[str, float]] = {True: {}, False: {}}
    try:
        start_rig(procs, devices)
        ctl = SessionController()
        try:
            ctl.connect_devices(devices)
            ctl.start_recording(os.path.join(folder, "fast.h5"),
                                athlete={"name": "bench", "body_mass_kg": 70})
            time.sleep(1.0)  # settle: threads, clock fits, SWMR
            for _ in range(2):
                for gather in (False, True):
                    Transport.STREAM_GATHER_S = gather_s if gather else 0.0
                    time.sleep(0.3)  # reads already waiting finish under the old setting
                    t0, c0 = time.monotonic(), cpu_by_thread()
                    time.sleep(seconds / 4)
                    t1, c1 = time.monotonic(), cpu_by_thread()
                    acq = sum(c1[k] - c0.get(k, 0.0) for k in c1 if k.startswith("forcelab-acq"))
                    rec = sum(c1[k] - c0.get(k, 0.0) for k in c1)
                    phases[gather].append((t1 - t0, acq, rec))
                    for k in c1:
                        per_thread[gather][k] = (per_thread[gather].get(k, 0.0)
                                                 + c1[k] - c0.get(k, 0.0))
            summary = ctl.stop_recording()
        finally:
            ctl.close()
    finally:
        Transport.STREAM_GATHER_S = gather_s
        for p in procs:
            p.send_signal(signal.SIGINT)
            p.communicate(timeout=20)
    lost = sum(s["overflow_writer_samples"] + s["dropped_samples"]
               for s in summary["streams"].values())
    print(f"4. 2 FPB1 plates @2 kHz + 2 INS1 insoles @200 Hz, {seconds:g} s (A B A B), simulators "
          "in another process")
    for gather, label in ((False, "per-frame wake-ups (before)"),
                          (True, f"block-level waits, {gather_s * 1e3:.0f} ms")):
        wall = sum(w for w, _, _ in phases[gather])
        acq = 100 * sum(a for _, a, _ in phases[gather]) / wall
        rec = 100 * sum(r for _, _, r in phases[gather]) / wall
        print(f"   {label:<30} device reads {acq:5.2f} %, all recorder threads {rec:5.2f} % of "
              f"one core  (target < 5 %: {'OK' if acq < 5 else 'ABOVE'})")
        print("     " + ", ".join(f"{k.removeprefix('forcelab-')} {100 * v / wall:.2f} %"
                                   for k, v in sorted(per_thread[gather].items())))
    print(f"   samples lost (gaps + overflow): {lost} "
          + str({n: s["overflow_writer_samples"] + s["dropped_samples"]
                 for n, s in summary["streams"].items()}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds in all")
    parser.add_argument("--live", type=float, help="seconds of the live session (default 60)")
    parser.add_argument("--only-fast", action="store_true", help="only section 4")
    args = parser.parse_args(argv)
    if args.only_fast:
        with tempfile.TemporaryDirectory(prefix="forcelab-bench-") as folder:
            fast_devices(4.0 if args.quick else 32.0, folder)
        return 0
    live_s, thr_s, demo_s = (2.0, 1.0, 6.0) if args.quick else (60.0, 5.0, 60.0)
    live_s = args.live or live_s
    with tempfile.TemporaryDirectory(prefix="forcelab-bench-") as folder:
        live_session(live_s, folder)
        old = old_writer_class(Path(folder))
        if old is not None:
            live_session(live_s, folder, old, "before", report_cpu=False)
        throughput(thr_s, folder)
        demo(demo_s, folder)
        fast_devices(4.0 if args.quick else 32.0, folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
