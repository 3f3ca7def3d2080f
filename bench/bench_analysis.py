"""Throughput of the analysis core: detection + the full per-stance metric set.

One hour of 1 kHz two-sided running (2 x 3.6 M = 7.2 M samples, untared, rippling, drifting,
noisy) is analysed by:

- forcelab: ``detect_and_measure`` (the compiled detector measures each stance as it finds it;
  what ``analyze_recording`` runs per stream), one core;
- (a) a vectorised NumPy baseline: fixed threshold, edges by ``np.diff``, peak and impulse by
  ``np.maximum.reduceat`` / ``np.add.reduceat`` (far fewer metrics, no baseline tracking);
- (b) the per-stance NumPy implementation of the same full metric set
  (``forcelab.analysis.reference``: detector + metrics), timed on a slice and scaled.

Prints samples/s and ratios measured in the same run. ``--quick`` uses 1 minute of data.

Run: ``python bench/bench_analysis.py [--quick]``
"""

from __future__ import annotations

import time

import numpy as np
from harness import bench_parser, interleaved_best

from forcelab.analysis import detect_and_measure
from forcelab.analysis.reference import detect_stances_reference, stance_metrics_reference


def running_signal(duration_s: float, rate_hz: float, seed: int, peak_n: float) -> np.ndarray:
    """One foot's vertical force while running: 0.25 s contact, 0.5 s swing, realistic faults."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    period = 0.75 + rng.normal(0, 0.01)
    phase = (t + rng.uniform(0, period)) % period
    contact = 0.25
    u = np.clip(phase / contact, 0.0, 1.0)
    x = np.where(phase < contact, peak_n * np.sin(np.pi * u), 0.0)
    x += np.where(phase < contact, 0.35 * peak_n * np.exp(-(((u - 0.1) / 0.04) ** 2)), 0.0)
    x += 25.0 + 27.0 * np.sin(2 * np.pi * 50.0 * t) + 100.0 * (t / max(t[-1], 1e-9))
    x += rng.normal(0.0, 4.0, n)
    return x


def ours(x: np.ndarray, rate_hz: float) -> int:
    _, table = detect_and_measure(x, rate_hz, body_mass_kg=70.0)
    return len(table["peak_force_n"])


def numpy_vectorised(x: np.ndarray, rate_hz: float, threshold_n: float = 80.0) -> int:
    above = x > threshold_n
    edges = np.diff(above.astype(np.int8))
    starts = np.flatnonzero(edges == 1) + 1
    ends = np.flatnonzero(edges == -1) + 1
    if ends.size and starts.size and ends[0] < starts[0]:
        ends = ends[1:]
    m = min(starts.size, ends.size)
    starts, ends = starts[:m], ends[:m]
    keep = (ends - starts) >= int(0.05 * rate_hz)
    starts, ends = starts[keep], ends[keep]
    idx = np.empty(2 * m if m else 0, dtype=np.int64)
    idx = np.ravel(np.column_stack([starts, ends]))
    if idx.size and idx[-1] == x.size:
        idx = idx[:-1]
    peaks = np.maximum.reduceat(x, idx)[::2] if idx.size else np.empty(0)
    impulse = np.add.reduceat(x, idx)[::2] / rate_hz if idx.size else np.empty(0)
    return int(min(peaks.size, impulse.size))


def per_stance_numpy(x: np.ndarray, rate_hz: float) -> int:
    st_ = detect_stances_reference(x, rate_hz)
    out = stance_metrics_reference(x, st_, rate_hz)
    return len(out["peak_force_n"])


def main() -> None:
    parser = bench_parser(__doc__, "1 minute of data (CI smoke)")
    args = parser.parse_args()
    rate = 1000.0
    duration = 60.0 if args.quick else 3600.0
    left = running_signal(duration, rate, 1, 1500.0)
    right = running_signal(duration, rate, 2, 1420.0)
    total = left.size + right.size
    # best of many runs in turns: on a loaded machine a longer series finds runs of both
    # contenders without other processes in the way (the same number for each)
    repeats = 3 if args.quick else 25

    def both(fn):
        def run():
            return fn(left, rate) + fn(right, rate)

        return run

    timed = interleaved_best({"ours": both(ours), "a": both(numpy_vectorised)}, repeats)
    (t_ours, n_ours), (t_a, n_a) = timed["ours"], timed["a"]
    # (b) is slow: time it on a slice and scale to the full length
    cut = int((20.0 if args.quick else 120.0) * rate)
    sliced = interleaved_best(
        {
            "b": lambda: per_stance_numpy(left[:cut], rate),
            "ours": lambda: ours(left[:cut], rate),
        },
        1,
    )
    t_b = sliced["b"][0] * total / cut
    print(f"data: {duration / 3600:.3g} h of 1 kHz two-sided running = {total / 1e6:.2f} M samples")
    print(
        f"forcelab compiled (detection + full metric set): {t_ours * 1e3:8.1f} ms "
        f"{total / t_ours / 1e6:8.1f} M samples/s  ({n_ours} stances)"
    )
    print(
        f"(a) vectorised NumPy detection + peak/impulse:   {t_a * 1e3:8.1f} ms "
        f"{total / t_a / 1e6:8.1f} M samples/s  ({n_a} contacts)"
    )
    print(
        f"(b) per-stance NumPy full metric set (scaled):   {t_b * 1e3:8.1f} ms "
        f"{total / t_b / 1e6:8.1f} M samples/s"
    )
    print(f"ratio forcelab / (a): {t_a / t_ours:6.2f}x   forcelab / (b): {t_b / t_ours:6.1f}x")
    # CPU time of this process (less sensitive to other processes on a shared machine), and
    # one vectorised np.max pass over the same samples as a yardstick of the machine's speed
    cpu = interleaved_best(
        {
            "ours": both(ours),
            "a": both(numpy_vectorised),
            "max": lambda: (float(left.max()), float(right.max())),
        },
        repeats,
        clock=time.process_time,
    )
    c_ours, c_a, c_max = cpu["ours"][0], cpu["a"][0], cpu["max"][0]
    print(
        f"CPU time: forcelab {total / max(c_ours, 1e-9) / 1e6:.1f} M samples/s, "
        f"(a) {total / max(c_a, 1e-9) / 1e6:.1f} M samples/s, "
        f"ratio {c_a / max(c_ours, 1e-9):.2f}x; "
        f"one np.max pass {total / max(c_max, 1e-9) / 1e6:.0f} M samples/s "
        f"(forcelab costs {c_ours / max(c_max, 1e-9):.1f} np.max passes)"
    )
    if args.quick:
        print("(quick: per-call overhead dominates at this size; run without --quick for figures)")
    print("targets: >= 500 M samples/s, >= 1x (a), >= 30x (b)")


if __name__ == "__main__":
    main()
