"""FPB1 driver benchmarks: codec decode rate, end-to-end pty -> Block rate, recorder CPU cost.

Run ``python bench/bench_drivers.py`` (or ``--quick`` for a few-second smoke run). Every figure is
printed with its ratio to a baseline measured in the same run. Rates are per CPU second of this
process (``time.process_time``), so a busy machine slows them less than wall-clock rates:

1. decode: bytes -> checked frames -> calibrated samples (N, N·m, COP, Tz) as the device does it
   (one compiled scan per chunk, ``FPB1Codec.scan``, DATA decoded into arrays; then the
   calibration), against a naive per-frame ``struct.unpack`` + per-sample loop. Target >= 1 M
   samples/s.
2. pty end-to-end: pre-encoded DATA frames pushed through a real pty as fast as it goes, read by
   the transport and decoded by the same functions the device uses; ratio = samples/s over the
   2 kHz a plate produces.
3. recorder CPU: the reading thread's CPU time while draining two simulated FPB1 plates at 2 kHz
   and two INS1 insoles at 200 Hz in real time, as % of one core (target < 5 %), with INS1
   and CSV4 reading in 50 ms blocks (default) against the previous per-read hand-out (every
   read parses and returns what arrived), alternating A B A B in the same run.
4. clock fit: one refit of a device clock line (what a driver does after every PING/TIME_SYNC
   round trip) on a full window of noisy round trips, the compiled fit (``ClockFit``) against
   the NumPy form it replaced (tests/drivers/reference_clock.py), best of interleaved runs.
"""

from __future__ import annotations

import signal
import struct
import sys
import threading
import time
from pathlib import Path

import numpy as np
from forcelab.drivers.clock import ClockFit
from forcelab.drivers.protocols import fpb1, ins1
from forcelab.drivers.sim.fpb1_sim import make_calibration
from forcelab.drivers.sim.pty import SimPort, free_name
from forcelab.drivers.transport import Transport
from harness import bench_parser, interleaved_best, start_rig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "drivers"))
from reference_clock import fit_clock_line_numpy  # noqa: E402


def make_stream(n_frames: int, spf: int, seed: int = 0) -> bytes:
    """Pre-encoded raw DATA frames (6 bridge channels, int32 counts)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(-200000, 200000, (n_frames, spf, 6))
    return b"".join(
        fpb1.encode_frame(fpb1.DATA, fpb1.encode_data(i * spf, 10**9 + i * spf * 500, 0,
                                                      counts[i], fpb1.FMT_RAW))
        for i in range(n_frames)
    )


def decode_fast(stream: bytes, cal: fpb1.Calibration, chunk: int = 65536) -> int:
    codec = fpb1.FPB1Codec()
    n = 0
    for i in range(0, len(stream), chunk):
        n += _samples_of(codec.scan(stream[i:i + chunk])[0], cal)
    return n


def _samples_of(items: list, cal: fpb1.Calibration) -> int:
    """Calibrated samples (N, N·m, COP, Tz) of the DATA runs a codec scan gave."""
    n = 0
    for run in items:
        if isinstance(run, fpb1.DataRun):
            loads = cal.counts_to_loads(run.values.reshape(-1, 6))
            n += fpb1.loads_to_samples(loads, cal.origin_m).shape[0]
    return n


def decode_naive(stream: bytes, cal: fpb1.Calibration) -> int:
    """Baseline: per-frame struct parsing and a per-sample matrix product."""
    import binascii

    pos, n = 0, 0
    scale = cal.mvv_per_count
    m = cal.matrix
    a, b, c = cal.origin_m
    while pos + 8 <= len(stream):
        if stream[pos:pos + 2] != b"\xa5\x5a":
            pos += 1
            continue
        (length,) = struct.unpack_from("<H", stream, pos + 4)
        end = pos + 6 + length
        if binascii.crc_hqx(stream[pos + 2:end], 0xFFFF) != struct.unpack_from("<H", stream,
                                                                                 end)[0]:
            pos += 1
            continue
        payload = stream[pos + 6:end]
        _, _, k, _, _ = struct.unpack_from("<IQBBH", payload)
        vals = struct.unpack_from(f"<{6 * k}i", payload, 16)
        for j in range(k):
            f = m @ (np.array(vals[6 * j:6 * j + 6]) * scale)
            fz = f[2]
            if fz > 20:
                _x = (f[4] + c * f[0]) / fz + a
                _y = (f[3] - c * f[1]) / fz + b
            n += 1
        pos = end + 2
    return n


def bench_decode(quick: bool) -> None:
    cal = make_calibration(0)
    for spf in (8, 16):
        stream = make_stream(800 if quick else 12000, spf)
        t0 = time.process_time()
        n_fast = decode_fast(stream, cal)
        t_fast = time.process_time() - t0
        base = stream[: len(stream) // (8 if quick else 40)]
        t0 = time.process_time()
        n_naive = decode_naive(base, cal)
        t_naive = time.process_time() - t0
        fast, naive = n_fast / t_fast, n_naive / t_naive
        print(f"decode spf={spf:2d}: {fast / 1e6:6.2f} M samples/CPU-s (6 ch + COP/Tz)  "
              f"naive {naive / 1e6:6.3f} M/s  ratio {fast / naive:6.1f}x  "
              f"target 1 M/s: {'OK' if fast >= 1e6 else 'BELOW'}")


def bench_pty(quick: bool) -> None:
    cal = make_calibration(0)
    spf = 16
    n_frames = 1500 if quick else 20000
    stream = make_stream(n_frames, spf, seed=1)
    port = SimPort(free_name("bench-pty"), max_pending=1 << 20).open()
    done = threading.Event()

    def writer() -> None:
        view = memoryview(stream)
        pos = 0
        while pos < len(view) and not done.is_set():
            if port.write(bytes(view[pos:pos + 16384])):
                pos += 16384
            else:
                time.sleep(0.0005)
        while port.pending and not done.is_set():
            port.pump()
            time.sleep(0.0005)

    try:
        t = Transport.open(port.device)
        codec = fpb1.FPB1Codec()
        th = threading.Thread(target=writer, daemon=True)
        t0 = time.perf_counter()
        c0 = time.process_time()
        th.start()
        n = 0
        deadline = time.monotonic() + 60
        while n < n_frames * spf and time.monotonic() < deadline:
            n += _samples_of(codec.scan(t.read(0.05))[0], cal)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        t.close()
    finally:
        done.set()
        port.close()
    rate = n / elapsed
    print(f"pty end-to-end: {rate / 1e6:6.2f} M samples/s wall, {n / cpu / 1e6:.2f} M/CPU-s "
          f"(writer + reader; {n} samples, {len(stream) / elapsed / 1e6:.1f} MB/s)  "
          f"ratio to one 2 kHz plate {rate / 2000:7.0f}x")


def _per_frame_reading(devices: list, on: bool) -> None:
    """Switch INS1/CSV4 devices to the previous per-read behaviour (every read parses what
    arrived and hands it out at once) or back to the default (parse and hand out 50 ms
    blocks): the baseline of the same run."""
    for d in devices:
        if d.info.protocol in ("INS1", "CSV4"):
            d.hold_s = 0.0 if on else 0.05
        if d.info.protocol == "INS1":
            d._parse_bytes = 0 if on else d.min_block_samples * (
                ins1.FRAME_OVERHEAD + ins1.SAMPLE_SIZE)


def _drain(devices: list, seconds: float) -> tuple[float, int, dict[str, float]]:
    c0, w0 = time.process_time(), time.perf_counter()
    n = 0
    per_proto: dict[str, float] = {}
    while time.perf_counter() - w0 < seconds:
        for d in devices:
            t = time.thread_time()
            n += sum(b.n for b in d.read(0.0))
            key = d.info.protocol
            per_proto[key] = per_proto.get(key, 0.0) + time.thread_time() - t
        time.sleep(0.02)  # a recorder draining its devices at 50 Hz
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return 100 * cpu / wall, int(n / wall), {k: 100 * v / wall for k, v in per_proto.items()}


def bench_recorder_cpu(quick: bool) -> None:
    seconds = 2.0 if quick else 8.0
    procs = []
    devices = []
    results = []
    try:
        start_rig(procs, devices)
        for d in devices:
            d.start()
        _drain(devices, 0.5)  # settle: clock fits, first blocks
        # A B A B: per-frame baseline and default alternate, so load changes hit both
        for _ in range(2):
            for legacy in (True, False):
                _per_frame_reading(devices, legacy)
                results.append((legacy, *_drain(devices, seconds / 2)))
        for d in devices:
            d.stop()
    finally:
        for d in devices:
            d.close()
        for p in procs:
            p.send_signal(signal.SIGINT)
            p.communicate(timeout=20)
    figs = {}
    for legacy in (True, False):
        rows = [r for r in results if r[0] == legacy]
        figs[legacy] = (float(np.mean([r[1] for r in rows])), int(np.mean([r[2] for r in rows])),
                        {k: float(np.mean([r[3].get(k, 0.0) for r in rows]))
                         for k in rows[0][3]})
    for legacy, label in ((True, "per-frame baseline"), (False, "50 ms blocks (default)")):
        pct, rate, per = figs[legacy]
        print(f"recorder CPU, {label:22s}: {pct:5.2f} % of one core draining 2 plates @ 2 kHz + "
              f"2 insoles @ 200 Hz ({rate} samples/s; simulators in another process)  ratio to "
              f"5 % target {pct / 5:4.2f}  {'OK' if pct < 5 else 'ABOVE'}")
        print("  of which in read(): "
              + ", ".join(f"{k} {v:.2f} %" for k, v in sorted(per.items())))
    base, new = figs[True], figs[False]
    print(f"  default / baseline CPU: total {new[0] / base[0]:.2f}, INS1 "
          f"{new[2].get('INS1', 0) / max(base[2].get('INS1', 0), 1e-9):.2f}")


def bench_clock_fit(quick: bool) -> None:
    rng = np.random.default_rng(1)
    for name, kw in (("INS1", {}), ("FPB1", {"keep": 512, "n_bins": 8, "min_span_s": 10.0})):
        fit = ClockFit(**kw)
        host_send = 1.7e9 + np.arange(fit.keep) * 0.25
        rtt = 0.0004 + rng.exponential(0.0005, fit.keep)
        for hs, r in zip(host_send, rtt, strict=True):  # a device clock 80 ppm fast
            fit.add(hs, hs + r, 10.0 + (hs + r / 2 - 1.7e9) * (1 + 80e-6))
        args = (fit._dev, fit._host, fit._rtt, fit.gate_s, fit.n_bins, fit.min_span_s,
                fit.outlier_s)
        timed = interleaved_best({"numpy": lambda a=args: fit_clock_line_numpy(*a),
                                  "compiled": fit._fit}, 20 if quick else 200)
        t_np, t_c = timed["numpy"][0], timed["compiled"][0]
        print(f"clock fit, {name} window of {fit.keep} round trips: compiled {t_c * 1e6:6.1f} µs, "
              f"NumPy form {t_np * 1e6:6.1f} µs per refit  ratio {t_np / t_c:5.1f}x "
              f"(drift {fit.drift_ppm:.1f} ppm, set 80)")


def main() -> None:
    ap = bench_parser(__doc__, "small sizes (smoke test)")
    args = ap.parse_args()
    bench_decode(args.quick)
    bench_pty(args.quick)
    bench_recorder_cpu(args.quick)
    bench_clock_fit(args.quick)


if __name__ == "__main__":
    main()
