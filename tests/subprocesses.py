"""Subprocesses of a test (forcelab commands, writers, LSL outlets) never outlive it."""

import contextlib
import subprocess
from collections.abc import Iterator


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
