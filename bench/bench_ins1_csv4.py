"""Benchmark the INS1 and CSV4 drivers: decode rates and end-to-end pty -> Block CPU cost.

Usage: python bench/bench_ins1_csv4.py [--quick]

Decode rates are measured on in-memory streams and printed with a baseline measured in the
same run (INS1: NumPy decoding of bare payloads without framing or CRC; CSV4: ``numpy.loadtxt``
on the same clean lines), so the ratios are comparable across machines. The end-to-end part
streams from the simulators behind real ptys and reports the CPU time of the reading thread
(``time.thread_time``) per second of data, in % of one core.
"""

from __future__ import annotations

import io
import time

import numpy as np
from forcelab.drivers.csv4 import Csv4Device
from forcelab.drivers.ins1 import Ins1Device, pair_insoles
from forcelab.drivers.protocols import csv4, ins1
from forcelab.drivers.sim.csv4_sim import start_diy
from forcelab.drivers.sim.ins1_sim import start_insoles
from harness import bench_parser, interleaved_best


def bench_ins1_decode(n: int, repeat: int) -> None:
    rng = np.random.default_rng(0)
    s = np.zeros(n, ins1.SAMPLE_DTYPE)
    s["seq"] = np.arange(n) % 65536
    s["t_dev_us"] = np.arange(n) * 5000
    s["p"] = rng.integers(0, 400, (n, 16))
    s["f_total"] = rng.integers(0, 4000, n)
    payloads = ins1.encode_samples(s)
    stream = b"".join(ins1.encode_frame(ins1.SAMPLE, p) for p in payloads)
    chunk = 4096

    def full() -> None:
        codec = ins1.Ins1Codec()
        frames = []
        for k in range(0, len(stream), chunk):
            frames += codec.feed(stream[k : k + chunk])
        arr = ins1.decode_samples([f.payload for f in frames])
        ins1.samples_to_physical(arr)
        assert len(arr) == n

    def baseline() -> None:
        arr = ins1.decode_samples(payloads)
        ins1.samples_to_physical(arr)

    (t_full, _), (t_base, _) = interleaved_best({"full": full, "base": baseline}, repeat).values()
    print(f"INS1 decode (framing + CRC-16/MODBUS + samples, 4 KiB chunks): "
          f"{n / t_full:,.0f} samples/s = {len(stream) / t_full / 1e6:.1f} MB/s")
    print(f"  baseline (bare payloads -> physical units): {n / t_base:,.0f} samples/s; "
          f"ratio full/baseline time = {t_full / t_base:.1f}")
    print(f"  two insoles at 200 Hz need 400 samples/s: "
          f"{400 / (n / t_full) * 100:.3f} % of one core")


def bench_csv4_decode(n: int, repeat: int) -> None:
    rng = np.random.default_rng(1)
    t = 1000 + np.round(np.arange(n) * 12.5).astype(np.int64)
    c = rng.integers(-8_000_000, 8_000_000, (n, 4))
    text = "".join(f"{a},{b},{d},{e},{f}\r\n" for a, (b, d, e, f) in
                   zip(t.tolist(), c.tolist(), strict=True)).encode()
    off, scale = np.zeros(4), np.full(4, 420.0)
    chunk = 4096

    def full() -> None:
        p = csv4.Csv4Parser(skip_first_line=False)
        ts, cs = [], []
        for k in range(0, len(text), chunk):
            out = p.feed(text[k : k + chunk])
            ts.append(out.t_ms)
            cs.append(out.cells)
        tt = np.concatenate(ts)
        csv4.validate_millis(tt, None, flush=True)
        csv4.cells_to_forces(np.concatenate(cs), off, scale, 0.4, 0.6)
        assert len(tt) == n

    def baseline() -> None:
        arr = np.loadtxt(io.BytesIO(text), delimiter=",")
        csv4.cells_to_forces(arr[:, 1:], off, scale, 0.4, 0.6)

    (t_full, _), (t_base, _) = interleaved_best({"full": full, "base": baseline}, repeat).values()
    print(f"CSV4 decode (tolerant lines + millis() check + forces/COP, 4 KiB chunks): "
          f"{n / t_full:,.0f} lines/s")
    print(f"  baseline numpy.loadtxt on the same clean lines: {n / t_base:,.0f} lines/s; "
          f"ratio full/baseline time = {t_full / t_base:.2f}")


def bench_ins1_damaged(repeat: int) -> None:
    """Parse time on damaged data grows with its size, not faster: 16 KiB and 64 KiB of
    plausible headers whose CRCs all fail (each one a candidate frame), in 4 KiB reads."""
    rng = np.random.default_rng(1)
    headers = bytearray()
    while len(headers) < 64 * 1024:
        length = int(rng.integers(0, 513))
        headers += b"INS1" + bytes([1, ins1.SAMPLE]) + length.to_bytes(2, "little")
    times = {}
    for size in (16 * 1024, 64 * 1024):
        data = bytes(headers[:size])

        def parse(data: bytes = data) -> None:
            codec = ins1.Ins1Codec()
            for at in range(0, len(data), 4096):
                codec.feed(data[at:at + 4096])

        times[size] = interleaved_best({"parse": parse}, repeat)["parse"][0]
    ratio = times[64 * 1024] / times[16 * 1024]
    print(f"INS1 parse of damaged data (fake headers, every CRC fails): 16 KiB "
          f"{times[16 * 1024] * 1e3:.1f} ms, 64 KiB {times[64 * 1024] * 1e3:.1f} ms; "
          f"ratio 64/16 KiB = {ratio:.2f} (linear: 4)")


def bench_end_to_end(duration_s: float) -> None:
    setup = start_insoles({"seed": 5, "rate": 200, "name": "bench-ins1"})
    try:
        pair = pair_insoles([Ins1Device.from_url(u) for u in setup.urls])
        pair.start()
        n = 0
        c0, w0 = time.thread_time(), time.monotonic()
        while time.monotonic() - w0 < duration_s:
            for blocks in pair.read(0.05).values():
                n += sum(b.n for b in blocks)
        cpu, wall = time.thread_time() - c0, time.monotonic() - w0
        pair.stop()
        pair.close()
    finally:
        setup.stop()
    print(f"INS1 pair at 200 Hz over ptys: {n / wall:,.0f} samples/s received; reader thread "
          f"CPU {cpu / wall * 100:.2f} % of one core")
    setup = start_diy({"seed": 5, "name": "bench-csv4"})
    try:
        dev = Csv4Device.from_url(setup.urls[0])
        dev.start()
        n = 0
        c0, w0 = time.thread_time(), time.monotonic()
        while time.monotonic() - w0 < duration_s:
            n += sum(b.n for b in dev.read(0.05))
        cpu, wall = time.thread_time() - c0, time.monotonic() - w0
        dev.close()
    finally:
        setup.stop()
    print(f"CSV4 plate at 80 Hz over a pty: {n / wall:,.0f} lines/s received; reader thread "
          f"CPU {cpu / wall * 100:.2f} % of one core")


def main() -> None:
    ap = bench_parser(__doc__, "small sizes (a few seconds)")
    args = ap.parse_args()
    n_ins1, n_csv4, repeat, dur = (20_000, 10_000, 2, 1.0) if args.quick else \
        (200_000, 100_000, 3, 5.0)
    bench_ins1_decode(n_ins1, repeat)
    bench_ins1_damaged(repeat)
    bench_csv4_decode(n_csv4, repeat)
    bench_end_to_end(dur)


if __name__ == "__main__":
    main()
