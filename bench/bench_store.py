"""Session store benchmark: write throughput, cost per append, file size per hour.

Simulates the session the lab runs most: an instrumented treadmill with two plates at 1 kHz
(9 channels each) and two insoles at 100 Hz (25 channels each), delivered in blocks as the
drivers do (10 ms blocks), running gait-like signals with sensor noise (noise is what limits
compression). Everything is written through SessionWriter as fast as possible.

Reported against baselines measured in the same run on the same disk:
- write throughput vs writing the same raw float32 bytes with ``ndarray.tofile`` (ratio = how
  much slower the session file is than the disk's raw speed);
- time per append vs a bare NumPy copy of the block;
- file size per hour (extrapolated from the measured file) vs raw float32 bytes per hour
  (compression ratio), and recorder CPU per second of data (process time / data time).

Usage: python bench/bench_store.py [--quick] [--seconds S] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from forcelab.store import SessionWriter, open_session

PLATE_HZ, INSOLE_HZ, BLOCK_S = 1000.0, 100.0, 0.01
PLATE_CHANNELS = ["fx", "fy", "fz", "mx", "my", "mz", "cop_x", "cop_y", "tz"]
INSOLE_CHANNELS = (["fz", "cop_x", "cop_y"] + [f"p{i:02d}" for i in range(1, 17)]
                   + [f"acc_{a}" for a in "xyz"] + [f"gyr_{a}" for a in "xyz"])


def gait(n: int, rate_hz: float, phase_s: float, rng: np.random.Generator) -> np.ndarray:
    """Vertical force of running stances (0.25 s contact every 0.75 s), N, with 0.3 N noise."""
    t = np.arange(n) / rate_hz + phase_s
    p = (t % 0.75) / 0.25
    fz = np.where(p < 1.0, 1800.0 * np.sin(np.pi * np.clip(p, 0, 1)), 0.0)
    return fz + rng.normal(0.0, 0.3, n)


def make_streams(seconds: float, rng: np.random.Generator) -> dict[str, tuple[float, np.ndarray]]:
    out = {}
    for k, name in enumerate(("belt_left", "belt_right")):
        n = int(seconds * PLATE_HZ)
        fz = gait(n, PLATE_HZ, 0.375 * k, rng)
        loaded = fz > 20
        cols = [0.05 * fz + rng.normal(0, 0.3, n), 0.2 * fz + rng.normal(0, 0.3, n), fz,
                rng.normal(0, 0.05, n), rng.normal(0, 0.05, n), rng.normal(0, 0.02, n),
                np.where(loaded, 0.1 + rng.normal(0, 1e-3, n), np.nan),
                np.where(loaded, 0.3 + rng.normal(0, 1e-3, n), np.nan),
                np.where(loaded, rng.normal(0, 0.5, n), np.nan)]
        out[name] = (PLATE_HZ, np.column_stack(cols).astype(np.float32))
    for k, name in enumerate(("left", "right")):
        n = int(seconds * INSOLE_HZ)
        fz = gait(n, INSOLE_HZ, 0.375 * k, rng)
        cols = [fz, rng.normal(0, 0.01, n), rng.normal(0, 0.01, n)]
        cols += [np.clip(fz / 16 * rng.uniform(0.5, 1.5) + rng.normal(0, 0.5, n), 0, None)
                 for _ in range(16)]
        cols += [rng.normal(0, 0.2, n) for _ in range(6)]
        out[name] = (INSOLE_HZ, np.column_stack(cols).astype(np.float32))
    return out


def write_session(path: Path, streams: dict, seconds: float) -> dict:
    w = SessionWriter.create(path, athlete={"name": "bench", "body_mass_kg": 70.0},
                             t0_unix_s=0.0 + 1.8e9)
    for name, (rate, data) in streams.items():
        chans = PLATE_CHANNELS if data.shape[1] == 9 else INSOLE_CHANNELS
        w.add_stream(name, {"protocol": "FPB1" if data.shape[1] == 9 else "INS1",
                            "rate_hz": rate, "channels": [[c, ""] for c in chans],
                            "side": None if data.shape[1] == 9 else name})
    w.start_trial("bench")
    n_blocks = int(round(seconds / BLOCK_S))
    appends = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    append_s = 0.0
    for b in range(n_blocks):
        for name, (rate, data) in streams.items():
            per = int(round(rate * BLOCK_S))
            a = b * per
            block = SimpleNamespace(seq=a, t_device_s=a / rate, t_host_s=1.8e9 + a / rate,
                                    samples=data[a : a + per], status=0, gap_before=0)
            t = time.perf_counter()
            w.append(name, block)
            append_s += time.perf_counter() - t
            appends += 1
    w.close()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    return {"wall_s": wall, "cpu_s": cpu, "appends": appends, "append_s": append_s}


def baseline_raw(path: Path, streams: dict) -> float:
    t = time.perf_counter()
    with open(path, "wb") as f:
        for _, data in streams.values():
            data.tofile(f)
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - t


def baseline_copy(streams: dict, n_appends: int) -> float:
    blocks = [data[:10] for _, data in streams.values()]
    t = time.perf_counter()
    for i in range(n_appends):
        np.array(blocks[i % len(blocks)], dtype=np.float32, copy=True)
    return (time.perf_counter() - t) / n_appends


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 s of data (smoke test)")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of session data")
    ap.add_argument("--dir", help="folder for the files (default: a temporary folder)")
    args = ap.parse_args(argv)
    seconds = 3.0 if args.quick else args.seconds
    rng = np.random.default_rng(7)
    streams = make_streams(seconds, rng)
    n_samples = sum(d.shape[0] for _, d in streams.values())
    raw_bytes = sum(d.nbytes for _, d in streams.values())
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        session = Path(tmp) / "bench.h5"
        r = write_session(session, streams, seconds)
        size = session.stat().st_size
        with open_session(session) as sf:
            stored = sum(sf.stream_summary(n)["n_samples"] for n in sf.streams)
        raw_s = baseline_raw(Path(tmp) / "raw.bin", streams)
    assert stored == n_samples, (stored, n_samples)
    copy_s = baseline_copy(streams, 2000)
    per_hour = 3600.0 / seconds
    print(f"session: 2 plates x 1 kHz x 9 ch + 2 insoles x 100 Hz x 25 ch, {seconds:g} s of data")
    print(f"  samples written          {n_samples:,} ({n_samples / seconds:,.0f} per s of session)")
    print(f"  write throughput         {n_samples / r['wall_s']:,.0f} samples/s, "
          f"{raw_bytes / r['wall_s'] / 1e6:.1f} MB/s of float32 data, "
          f"{seconds / r['wall_s']:.0f}x real time")
    print(f"  raw tofile baseline      {raw_bytes / raw_s / 1e6:.1f} MB/s "
          f"-> session/raw time ratio {r['wall_s'] / raw_s:.1f}")
    print(f"  append                   {r['append_s'] / r['appends'] * 1e6:.1f} us per block "
          f"(numpy copy baseline {copy_s * 1e6:.2f} us, ratio "
          f"{r['append_s'] / r['appends'] / copy_s:.0f}; includes the flushes)")
    print(f"  recorder CPU             {r['cpu_s'] / seconds * 1e3:.1f} ms per s of recording "
          f"({r['cpu_s'] / seconds * 100:.2f} % of one core)")
    print(f"  file size per hour       {size * per_hour / 1e6:,.0f} MB "
          f"(raw float32 {raw_bytes * per_hour / 1e6:,.0f} MB, compression ratio "
          f"{raw_bytes / size:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
