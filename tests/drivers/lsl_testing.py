"""What the LSL tests share: a real recording written for the LSL player, and the player process."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from forcelab.interop import load_recording

ROOT = Path(__file__).resolve().parents[2]
#: The real recordings: ../shared/data from the repository root, or FORCELAB_SHARED_DATA (as
#: tests/conftest.py says).
SHARED_DATA = Path(os.environ.get("FORCELAB_SHARED_DATA") or ROOT.parent / "shared" / "data")
REQUIRE_SHARED_DATA = os.environ.get("FORCELAB_REQUIRE_SHARED_DATA", "") not in ("", "0")
FUKUCHI = ("fukuchi2017_running", "RBDS001runT25forces.txt")
RATE_HZ = 300.0
#: Seconds of the run the tests stream (10 s hold about 13 stances per side).
PORTION_S = 9.0


def shared_data() -> Path:
    """The folder of real recordings; the test is skipped with the reason when it is absent,
    and fails instead when CI requires it (FORCELAB_REQUIRE_SHARED_DATA, as the
    ``shared_data`` fixture of tests/conftest.py)."""
    if not SHARED_DATA.is_dir():
        message = f"real recordings not found at {SHARED_DATA}"
        if REQUIRE_SHARED_DATA:
            pytest.fail(f"{message} (FORCELAB_REQUIRE_SHARED_DATA is set)", pytrace=False)
        pytest.skip(message)
    return SHARED_DATA


def fukuchi_portion() -> tuple[np.ndarray, np.ndarray]:
    """Vertical force (N) and medio-lateral COP (m, larger = right) of the first PORTION_S s of
    the Fukuchi run, read with forcelab's own reader."""
    rec = load_recording(shared_data().joinpath(*FUKUCHI), vertical="Fy", cop_ml="COPz",
                         time_unit="frame", rate_hz=RATE_HZ)
    s = rec.streams[0]
    n = int(PORTION_S * RATE_HZ)
    return s.fz[:n], s.channels["cop_ml"][:n]


def write_player_file(path: Path, samples: np.ndarray, labels: list[str], units: list[str],
                      rate_hz: float = RATE_HZ) -> Path:
    """The .npz the LSL player streams."""
    np.savez(path, samples=samples, rate_hz=rate_hz, labels=np.array(labels),
             units=np.array(units))
    return path


def unique_name(prefix: str) -> str:
    """A stream name no other test (or engineer on this machine) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Player:
    """The LSL player in its own process; lines it prints are read with :meth:`expect`."""

    def __init__(self, recording: Path, name: str, *args: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "forcelab.drivers.sim.lsl_player", str(recording),
             "--name", name, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.lines: list[str] = []
        self.expect("ready")

    def expect(self, word: str) -> str:
        """Block until the player prints a line starting with ``word`` (fails if it exits)."""
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"LSL player exited ({self.proc.wait()}) before {word!r}")
            self.lines.append(line.strip())
            if line.startswith(word):
                return line.strip()

    def stop(self) -> None:
        """Close its standard input (it withdraws its outlet and exits) and wait for it."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
