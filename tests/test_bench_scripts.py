"""Every benchmark under bench/ still starts: its imports and its command line are checked here
(the figures themselves are measured by hand, see README "Speed and size"), so a bench that a
refactor broke fails CI instead of the next person who measures."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))


def test_the_benches_are_found():
    assert len(SCRIPTS) >= 10, [p.name for p in SCRIPTS]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_bench_starts_and_explains_itself(script):
    r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                       timeout=120, cwd=BENCH)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: "), r.stdout
    assert "Traceback" not in r.stderr
