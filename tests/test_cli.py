"""The CLI as users meet it: real subprocesses."""

import subprocess
import sys
import time


def run_cli(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "forcelab", *args], capture_output=True, text=True, timeout=timeout
    )


def test_help_is_instant_and_lists_commands():
    t0 = time.perf_counter()
    r = run_cli("--help")
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    assert "usage: forcelab" in r.stdout
    assert elapsed < 3.0, f"forcelab --help took {elapsed:.2f} s"


def test_help_imports_no_heavy_module():
    code = (
        "import sys; from forcelab.cli import build_parser; build_parser();"
        "heavy = [m for m in ('numpy', 'h5py', 'PyQt5', 'serial', 'matplotlib', 'ezc3d')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"--help imports heavy modules: {r.stdout.strip()}"


def test_unknown_command_exits_nonzero():
    r = run_cli("no-such-command")
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
