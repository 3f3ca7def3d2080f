"""bench/bench_lsl.py --quick runs against a real outlet and reports every figure (CI smoke test;
the figures themselves are read by people, never asserted)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_lsl_quick_reports_latency_cpu_and_loss():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_lsl.py"), "--quick"],
        capture_output=True, text=True, timeout=110, check=True,
    ).stdout
    for part in ("baseline (bare pylsl", "lsl: device"):
        line = next(ln for ln in out.splitlines() if ln.startswith(part))
        assert re.search(r"latency p50 [\d.]+ ms, p99 [\d.]+ ms", line)
        assert re.search(r"CPU [\d.]+ % of one core \(reading thread [\d.]+ %", line)
    assert re.search(r"ratio device/baseline: CPU [\d.]+x, p99 latency [\d.]+x", out)
    assert re.search(r"ConnectionLost from read: \d+ ms", out)
