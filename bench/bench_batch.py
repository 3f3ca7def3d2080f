"""Season-scale batch: sessions per second end to end (read + analyse + write the results back)
with 1 and 2 processes and on a real dask.distributed cluster, and the resumed re-run.

    python bench/bench_batch.py                  # 10,000 sessions of 4 s, two 500 Hz belts
    python bench/bench_batch.py --quick          # 60 sessions (smoke test, under a minute)
    python bench/bench_batch.py --sessions 2000 --compare 500

Every run is ``run_batch(..., save_results=True)`` (what ``forcelab analyze DIR --summary OUT.csv
--save`` does) on a fresh copy of the same folder, so it reads, analyses and writes back every
file (results go into each session file atomically). First the comparison, on the first
``--compare`` sessions (default 1,000): ``1 process`` (in this process), ``2 processes`` (process
pool) and ``dask, 2 workers`` (a ``dask scheduler`` and two ``dask worker`` processes with one
thread each, started here on 127.0.0.1 and stopped at the end; the same call with
``dask_address``). Then the season: all ``--sessions`` with 2 processes and the per-file
progress bar on stderr, and ``resumed``, the same command again on that folder (every file's
stored results are current: nothing is analysed or written). Each line is printed when its run
ends. Also printed: how much 2 processes of pure CPU work gain on this machine right now (the
ceiling while other processes share the cores), and whether the comparison runs wrote the same
summary.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from dask_cluster import DaskCluster
from forcelab.drivers.sim.gait import GaitModel, GaitParams
from harness import bench_parser

from forcelab.batch import default_jobs, run_batch
from forcelab.recording import Recording, Stream
from forcelab.store import write_recording


def make_sessions(folder: Path, n: int, duration_s: float, rate_hz: float,
                  distinct: int = 20) -> None:
    """Write ``n`` treadmill session files (left/right belts) of ``duration_s`` s at
    ``rate_hz``: ``distinct`` different sessions, copied to make up ``n`` files."""
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    for i in range(min(n, distinct)):
        model = GaitModel(GaitParams(speed_m_s=2.5 + 0.01 * (i % 100),
                                     asymmetry=-0.1 + 0.001 * i, body_mass_kg=60 + i % 30),
                          seed=i)
        streams = []
        for side in ("left", "right"):
            f = model.foot(side, t)
            streams.append(Stream(side, rate_hz, {k: f[k] for k in
                                                  ("fz", "fap", "fml", "cop_ml", "cop_ap", "tz")},
                                  side=side))
        write_recording(Recording(streams, body_mass_kg=60 + i % 30), folder / f"s{i:05d}.h5",
                        athlete={"id": f"ATH-{i % 40:02d}", "name": f"Runner {i % 40}"},
                        trial="run")
    for i in range(distinct, n):
        shutil.copyfile(folder / f"s{i % distinct:05d}.h5", folder / f"s{i:05d}.h5")


def _spin(n: int) -> float:
    """Pure CPU work (no I/O, no memory traffic); returns its wall time in s."""
    t0 = time.perf_counter()
    acc = 0
    for i in range(n):
        acc += i * i
    return time.perf_counter() - t0


def machine_scaling(n: int = 5_000_000) -> float:
    """How much faster 2 processes do pure CPU work than 1 on this machine right now."""
    import multiprocessing

    t0 = time.perf_counter()
    _spin(n)
    one = time.perf_counter() - t0
    with multiprocessing.get_context("fork").Pool(2) as pool:
        t0 = time.perf_counter()
        pool.map(_spin, [n, n])
        two = time.perf_counter() - t0
    return 2.0 * one / two


def timed(pristine: Path, work: Path, summary: Path, fresh: bool = True, **kwargs) -> dict:
    """Run the saving batch on ``work`` (a fresh copy of ``pristine`` unless ``fresh`` is
    False); returns wall time (s), files, rows, skipped and failures."""
    if fresh:
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(pristine, work)
    t0 = time.perf_counter()
    res = run_batch([work], summary, save_results=True, **kwargs)
    wall = time.perf_counter() - t0
    if res.failures:
        shown = "; ".join(str(f) for f in res.failures[:3])
        raise SystemExit(f"{len(res.failures)} of {res.n_files} files failed, e.g. {shown}")
    return {"wall_s": wall, "files": res.n_files, "rows": len(res.rows),
            "skipped": res.n_skipped}


def main() -> int:
    p = bench_parser(__doc__, "60 sessions (smoke test)")
    p.add_argument("--sessions", type=int, default=None, help="season size (10,000)")
    p.add_argument("--compare", type=int, default=None,
                   help="sessions of the 1 / 2 processes / dask comparison (1,000)")
    p.add_argument("--dir", help="folder for the files (default: a temporary folder)")
    args = p.parse_args()
    n = args.sessions or (60 if args.quick else 10_000)
    n_compare = min(n, args.compare or (30 if args.quick else 1_000))
    duration, rate = 4.0, 500.0
    tmp = Path(tempfile.mkdtemp(prefix="forcelab-bench-batch-", dir=args.dir))
    try:
        pristine = tmp / "pristine"
        pristine.mkdir()
        t0 = time.perf_counter()
        make_sessions(pristine, n, duration, rate)
        size_mb = sum(f.stat().st_size for f in pristine.iterdir()) / 1e6
        print(f"{n:,} sessions of {duration:g} s (2 belts x {rate:g} Hz), {size_text(size_mb)}, "
              f"written in {time.perf_counter() - t0:.1f} s; {default_jobs()} cores; load "
              f"average {os.getloadavg()[0]:.2f}", flush=True)
        subset = tmp / "subset"
        subset.mkdir()
        for f in sorted(pristine.iterdir())[:n_compare]:
            os.link(f, subset / f.name)
        work = tmp / "season"
        print(f"ceiling: 2 processes of pure CPU work run {machine_scaling():.2f}x faster than 1 "
              "right now (2.0 on an idle machine)", flush=True)
        print(f"{'run':<34} {'wall s':>8} {'sessions/s':>11} {'analysed':>9} {'current':>8}",
              flush=True)
        results = {}

        def show(name: str, r: dict) -> None:
            results[name] = r
            print(f"{name:<34} {r['wall_s']:8.1f} {r['files'] / r['wall_s']:11.1f} "
                  f"{r['files'] - r['skipped']:9,} {r['skipped']:8,}", flush=True)

        show(f"{n_compare:,}: 1 process", timed(subset, work, tmp / "one.csv", jobs=1,
                                                progress=False))
        show(f"{n_compare:,}: 2 processes", timed(subset, work, tmp / "two.csv", jobs=2,
                                                  progress=False))
        cluster_dir = tmp / "cluster"
        cluster_dir.mkdir()
        with DaskCluster(cluster_dir) as cluster:
            show(f"{n_compare:,}: dask, 2 workers", timed(
                subset, work, tmp / "dask.csv", dask_address=cluster.address, progress=False))
        texts = {(tmp / f).read_text() for f in ("one.csv", "two.csv", "dask.csv")}
        print(f"comparison summaries identical: {len(texts) == 1}", flush=True)
        print(f"season of {n:,}, 2 processes, per-file progress:", file=sys.stderr, flush=True)
        show(f"{n:,}: 2 processes (season)", timed(pristine, work, tmp / "season.csv", jobs=2))
        show(f"{n:,}: resumed, 2 processes", timed(pristine, work, tmp / "resumed.csv", False,
                                                   jobs=2, progress=False))
        same = (tmp / "season.csv").read_text() == (tmp / "resumed.csv").read_text()
        print(f"resumed summary identical: {same}; load average now {os.getloadavg()[0]:.2f}")
        print(f"ceiling now: {machine_scaling():.2f}x")
        print("RESULT sessions/s end to end (read + analyse + write back): " + ", ".join(
            f"{name} {r['files'] / r['wall_s']:.1f}" for name, r in results.items()))
        return 0 if same and len(texts) == 1 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def size_text(size_mb: float) -> str:
    """A size in MB or GB for the header line."""
    return f"{size_mb / 1e3:.2f} GB" if size_mb >= 1e3 else f"{size_mb:.1f} MB"


if __name__ == "__main__":
    sys.exit(main())
