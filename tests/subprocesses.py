"""Subprocesses of a test (forcelab commands, writers, LSL outlets) never outlive it; the
forcelab command line run as users run it, and what a refused call must print."""

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator


def forcelab_env() -> dict[str, str]:
    """The environment of a forcelab subprocess: this one's as it is now (a test may have set a
    variable), unbuffered, so a process that is killed has said all it printed."""
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


@contextlib.contextmanager
def killed_at_end(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """Run the block, then kill ``proc`` if the block left it running (a failed assertion, a
    timeout) and collect it, so its pipes are drained and no zombie is left."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def run_cli(*args: object, timeout: float = 240, cwd=None) -> subprocess.CompletedProcess:
    """Run ``python -m forcelab ARGS`` in a real subprocess; its output as text (a call that
    hangs fails after ``timeout`` s)."""
    return subprocess.run([sys.executable, "-m", "forcelab", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=forcelab_env())


def one_error_line(r: subprocess.CompletedProcess, command: str | None = None) -> str:
    """The one line a refused forcelab call printed, after checking the command line's promise:
    exit status 2, one line on stderr (``forcelab COMMAND: error: ...`` when ``command`` is
    given), no traceback."""
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    if command is not None:
        assert lines[0].startswith(f"forcelab {command}: error: "), r.stderr
    return lines[0]
