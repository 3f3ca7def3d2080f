"""The CLI as users meet it: real subprocesses."""

import subprocess
import sys
import time

import pytest
from subprocesses import one_error_line, run_cli

#: A call of each command that records a session which would work (``-o`` is added): the
#: tests below change one option of it.
SESSION_CALLS = {
    "record": {"--device": "sim:insoles", "--athlete": "Bo", "--duration": "1",
               "--body-mass": "70"},
    "demo": {"--duration": "1"},
}


def session_call(command: str, out, **changes: str) -> list[str]:
    """``command`` with the options of :data:`SESSION_CALLS`, ``-o out`` and ``changes``."""
    given = {**SESSION_CALLS[command], "-o": str(out), **changes}
    return [command, *(x for option_value in given.items() for x in option_value)]


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


@pytest.mark.parametrize(
    ("command", "option", "value", "message"),
    [
        ("record", "--duration", "-3", "duration"),
        ("record", "--duration", "nan", "duration"),
        ("record", "--body-mass", "0", "body mass"),
        ("record", "--device", "sim:nosuchsetup", "unknown simulated setup"),
        ("record", "--device", "fpb1:///dev/forcelab-no-such-port", "forcelab-no-such-port"),
        ("record", "-o", "/nonexistent-folder/x.h5", "does not exist"),
        ("demo", "--asymmetry", "8", "fraction"),
        ("demo", "--duration", "0", "duration"),
        ("demo", "--speed", "40", "speed"),
        ("demo", "--body-mass", "-70", "body mass"),
    ],
)
def test_session_nonsense_gives_one_line_and_exit_2_and_no_file(tmp_path, command, option, value,
                                                                message):
    out = tmp_path / "s.h5"
    r = run_cli(*session_call(command, out, **{option: value}))
    assert message in one_error_line(r, command)
    assert not out.exists()


@pytest.mark.parametrize("command", sorted(SESSION_CALLS))
def test_session_commands_never_overwrite(tmp_path, command):
    out = tmp_path / "keep.h5"
    out.write_bytes(b"an earlier session")
    r = run_cli(*session_call(command, out))
    assert r.returncode == 2
    assert "never overwrites" in r.stderr
    assert out.read_bytes() == b"an earlier session"
