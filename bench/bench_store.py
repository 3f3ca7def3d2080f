"""Session store benchmark: file size per hour, write throughput, cost per append — today's
writer against the writer before compact storage, side by side in the same run.

Simulates the session the lab runs most: an instrumented treadmill with two FPB1 plates at 1 kHz
streaming raw 24-bit bridge counts (turned into 9 channels exactly as the FPB1 driver does) and
two INS1 insoles at 100 Hz (25 channels in their wire resolution), delivered in 10 ms blocks,
running gait with ADC noise (noise is what limits compression). The writer is flushed every
0.5 s of session time, as the recorder's flush timer does in a live recording; blocks are
appended as fast as possible.

Both writers get the same blocks and the same flushes:
- ``before``: forcelab's writer before compact storage (``forcelab/store/writer.py`` at commit
  ``OLD_REF``, loaded from git), float32 samples in row chunks, partial gzip chunk rewritten at
  every flush;
- ``now``: the installed writer (write-once chunks with tails, channel chunks, raw counts).
Reported per writer: file size per hour (size / session time; the new writer's fixed tail space
is printed separately), throughput, time per append, writer CPU per second of session.
Baselines in the same run: raw float32 bytes written with ``ndarray.tofile``, and a NumPy copy.

Usage: python bench/bench_store.py [--quick] [--seconds S] [--dir DIR]
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace

import h5py
import numpy as np
from forcelab.drivers.protocols.fpb1 import loads_to_samples
from forcelab.drivers.sim.fpb1_sim import make_calibration
from harness import bench_parser

from forcelab.store import SessionWriter, open_session

#: The last commit whose writer rewrote partial chunks (the baseline of this benchmark).
OLD_REF = "0444b83"
PLATE_HZ, INSOLE_HZ, BLOCK_S, FLUSH_S = 1000.0, 100.0, 0.01, 0.5
PLATE_CHANNELS = ["fx", "fy", "fz", "mx", "my", "mz", "cop_x", "cop_y", "tz"]
INSOLE_CHANNELS = (["fz", "cop_x", "cop_y"] + [f"p{i:02d}" for i in range(1, 17)]
                   + [f"acc_{a}" for a in "xyz"] + [f"gyr_{a}" for a in "xyz"])
#: INS1 wire resolution per channel (docs/protocols.md): f_total 0.5 N, COP 1e-4, p 2.5 kPa,
#: acc 1/4096 g, gyr 0.1 deg/s.
INSOLE_LSB = np.array([0.5, 1e-4, 1e-4] + [2.5] * 16 + [1 / 4096] * 3 + [0.1] * 3)


def gait(n: int, rate_hz: float, phase_s: float) -> np.ndarray:
    """Vertical force of running stances (0.25 s contact every 0.75 s), N."""
    t = np.arange(n) / rate_hz + phase_s
    p = (t % 0.75) / 0.25
    return np.where(p < 1.0, 1800.0 * np.sin(np.pi * np.clip(p, 0, 1)), 0.0)


def make_streams(seconds: float, rng: np.random.Generator) -> dict[str, dict]:
    """Per stream: rate, DeviceInfo dict and the samples (float64, as the drivers deliver)."""
    out = {}
    for k, name in enumerate(("belt_left", "belt_right")):
        cal = make_calibration(k)
        n = int(seconds * PLATE_HZ)
        fz = gait(n, PLATE_HZ, 0.375 * k)
        loads = np.column_stack([0.05 * fz, 0.2 * fz, fz, 0.3 * fz * 0.1, 0.1 * fz * 0.1,
                                 np.zeros(n)])
        counts = np.rint(cal.loads_to_counts(loads)) + rng.integers(-20, 21, (n, 6))
        samples = loads_to_samples(cal.counts_to_loads(counts), cal.origin_m)
        info = {"protocol": "FPB1", "rate_hz": PLATE_HZ, "side": None,
                "channels": [[c, "N"] for c in PLATE_CHANNELS],
                "calibration": {**cal.to_dict(), "zero_offsets": None, "data_format": "raw"}}
        out[name] = {"rate": PLATE_HZ, "info": info, "samples": samples}
    for k, name in enumerate(("left", "right")):
        n = int(seconds * INSOLE_HZ)
        fz = gait(n, INSOLE_HZ, 0.375 * k)
        cols = [fz, rng.normal(0, 0.01, n), 0.2 * (fz > 20) + rng.normal(0, 0.01, n)]
        cols += [np.clip(fz / 16 * rng.uniform(0.5, 1.5) * 10 + rng.normal(0, 2, n), 0, None)
                 for _ in range(16)]
        cols += [rng.normal(0, 0.2, n) for _ in range(3)] + [rng.normal(0, 30, n)
                                                              for _ in range(3)]
        samples = np.rint(np.column_stack(cols) / INSOLE_LSB) * INSOLE_LSB
        info = {"protocol": "INS1", "rate_hz": INSOLE_HZ, "side": name,
                "channels": [[c, ""] for c in INSOLE_CHANNELS]}
        out[name] = {"rate": INSOLE_HZ, "info": info, "samples": samples}
    return out


def old_writer_class(folder: Path) -> type | None:
    """``SessionWriter`` of commit OLD_REF (with the layout module of that commit), or None."""
    repo = Path(__file__).resolve().parents[1]
    sources = {}
    for mod in ("writer", "_layout"):
        try:
            sources[mod] = subprocess.run(
                ["git", "-C", str(repo), "show", f"{OLD_REF}:forcelab/store/{mod}.py"],
                capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return None
    layout = _load("forcelab_old_layout", sources["_layout"], folder)
    sys.modules["forcelab_old_layout"] = layout
    writer = _load("forcelab_old_writer", sources["writer"].replace(
        "from forcelab.store import _layout as L", "import forcelab_old_layout as L"), folder)
    return writer.SessionWriter


def _load(name: str, source: str, folder: Path) -> ModuleType:
    path = folder / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_session(writer_cls: type, path: Path, streams: dict, seconds: float) -> dict:
    w = writer_cls.create(path, athlete={"name": "bench", "body_mass_kg": 70.0},
                          t0_unix_s=1.8e9, auto_flush=False, flush_interval_s=1.0)
    for name, s in streams.items():
        w.add_stream(name, s["info"])
    w.start_trial("bench")
    n_blocks = int(round(seconds / BLOCK_S))
    per_flush = int(round(FLUSH_S / BLOCK_S))
    appends = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    append_s = 0.0
    for b in range(n_blocks):
        for name, s in streams.items():
            per = int(round(s["rate"] * BLOCK_S))
            a = b * per
            block = SimpleNamespace(seq=a, t_device_s=a / s["rate"],
                                    t_host_s=1.8e9 + a / s["rate"],
                                    samples=s["samples"][a : a + per], status=0, gap_before=0)
            t = time.perf_counter()
            w.append(name, block)
            append_s += time.perf_counter() - t
            appends += 1
        if b % per_flush == per_flush - 1:
            w.flush()
    w.close()
    return {"wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0,
            "appends": appends, "append_s": append_s}


def tail_bytes(path: Path) -> int:
    """Space of the tails (allocated once per file, independent of its length)."""
    total = 0
    with h5py.File(path, "r") as f:
        if "tail" in f:

            def add(_, obj):
                nonlocal total
                if isinstance(obj, h5py.Dataset):
                    total += obj.id.get_storage_size()

            f["tail"].visititems(add)
    return total


def check_stored(path: Path, streams: dict) -> None:
    """Every sample reads back as the float32 the session stores."""
    with open_session(path) as sf:
        for name, s in streams.items():
            got = sf.read_stream(name).samples
            want = s["samples"].astype(np.float32)
            if not np.array_equal(got, want, equal_nan=True):
                raise SystemExit(f"{path.name}: stream {name} does not read back exactly")


def baseline_raw(path: Path, streams: dict) -> float:
    t = time.perf_counter()
    with open(path, "wb") as f:
        for s in streams.values():
            s["samples"].astype(np.float32).tofile(f)
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - t


def baseline_copy(streams: dict, n_appends: int) -> float:
    blocks = [s["samples"][:10] for s in streams.values()]
    t = time.perf_counter()
    for i in range(n_appends):
        np.array(blocks[i % len(blocks)], dtype=np.float32, copy=True)
    return (time.perf_counter() - t) / n_appends


def main(argv: list[str] | None = None) -> int:
    ap = bench_parser(__doc__, "10 s of data (smoke test)")
    ap.add_argument("--seconds", type=float, default=600.0, help="seconds of session data")
    ap.add_argument("--dir", help="folder for the files (default: a temporary folder)")
    args = ap.parse_args(argv)
    seconds = 10.0 if args.quick else args.seconds
    streams = make_streams(seconds, np.random.default_rng(7))
    n_samples = sum(len(s["samples"]) for s in streams.values())
    raw_bytes = sum(s["samples"].size * 4 for s in streams.values())
    per_hour = 3600.0 / seconds
    print(f"session: 2 FPB1 plates (raw counts) x 1 kHz x 9 ch + 2 INS1 insoles x 100 Hz x 25 ch, "
          f"{seconds:g} s of data in 10 ms blocks, flushed every {FLUSH_S:g} s of session time")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmp = Path(tmp)
        writers = {"now": SessionWriter}
        old = old_writer_class(tmp)
        if old is None:
            print(f"  (writer of commit {OLD_REF} not available: not a git checkout)")
        else:
            writers = {"before": old, **writers}
        results = {}
        for label, cls in writers.items():
            path = tmp / f"{label}.h5"
            r = write_session(cls, path, streams, seconds)
            check_stored(path, streams)
            results[label] = (r, path.stat().st_size, tail_bytes(path))
        raw_s = baseline_raw(tmp / "raw.bin", streams)
    copy_s = baseline_copy(streams, 2000)
    print(f"  samples per writer       {n_samples:,}; raw float32 {raw_bytes * per_hour / 1e6:,.0f}"
          f" MB per hour; raw tofile {raw_bytes / raw_s / 1e6:.0f} MB/s; numpy block copy "
          f"{copy_s * 1e6:.2f} us")
    print(f"  {'writer':<8} {'MB/hour':>8} {'ratio':>6} {'fixed':>8} {'samples/s':>11} "
          f"{'x real':>7} {'us/append':>10} {'CPU %':>6}")
    for label, (r, size, tails) in results.items():
        print(f"  {label:<8} {size * per_hour / 1e6:8.0f} {raw_bytes / size:6.2f} "
              f"{tails / 1e6:6.2f}MB {n_samples / r['wall_s']:11,.0f} "
              f"{seconds / r['wall_s']:7.0f} {r['append_s'] / r['appends'] * 1e6:10.1f} "
              f"{r['cpu_s'] / seconds * 100:6.2f}")
    if "before" in results:
        b, n = results["before"][1], results["now"][1]
        print(f"RESULT file size per hour: {n * per_hour / 1e6:.0f} MB now vs "
              f"{b * per_hour / 1e6:.0f} MB before ({b / n:.2f}x smaller; target <= 150 MB); "
              f"both read back sample-exact")
    return 0


if __name__ == "__main__":
    sys.exit(main())
