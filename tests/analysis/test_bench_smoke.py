"""bench/bench_analysis.py --quick runs and reports every contender (CI smoke test)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_quick_runs_and_reports_ratios():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_analysis.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=110,
        check=True,
    ).stdout
    assert "forcelab compiled" in out and "(a) vectorised" in out and "(b) per-stance" in out
    ratio_line = next(line for line in out.splitlines() if line.startswith("ratio"))
    ratios = [float(tok.rstrip("x")) for tok in ratio_line.split() if tok.endswith("x")]
    assert len(ratios) == 2 and all(r > 0 for r in ratios)
