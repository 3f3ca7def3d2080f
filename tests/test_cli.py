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


def test_closed_output_pipe_is_not_a_traceback(shared_data):
    # `forcelab analyze FILE --json | head -1`: the reader closes the pipe before the output ends.
    mot = shared_data / "opensim_walking" / "subject01_walk1_grf.mot"
    p = subprocess.Popen(
        [sys.executable, "-m", "forcelab", "analyze", str(mot), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    p.stdout.close()
    _, err = p.communicate(timeout=120)
    assert b"Traceback" not in err, err.decode()
    assert p.returncode == 0
