"""Shared pytest fixtures: where the real recordings live, the Qt platform, simulated setups.

Tests on real recordings read them from ``../shared/data`` beside the repository (or the folder
named by ``FORCELAB_SHARED_DATA``). Without the folder they skip, unless
``FORCELAB_REQUIRE_SHARED_DATA=1`` (set by ``.ci/run``): then a missing folder fails them, so
CI can never pass with those tests silently skipped.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from forcelab.drivers.sim.setups import start_setup
from real_recordings import shared_data_folder

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Simulated ports of this test session (and of the forcelab processes it starts) live in a
# folder of their own: another test run on the machine starting a port of the same name at the
# same moment must not take over this one's symlink.
if "FORCELAB_SIM_DIR" not in os.environ:
    import atexit
    import tempfile

    os.environ["FORCELAB_SIM_DIR"] = tempfile.mkdtemp(prefix="forcelab-sim-tests-")
    atexit.register(shutil.rmtree, os.environ["FORCELAB_SIM_DIR"], ignore_errors=True)
# Under pytest-xdist the workers inherit that folder: each gets a subfolder of its own, so that
# two workers never see (nor pick from) each other's ports.
if os.environ.get("PYTEST_XDIST_WORKER") and not os.environ.get("FORCELAB_SIM_DIR_WORKER"):
    os.environ["FORCELAB_SIM_DIR"] = os.path.join(os.environ["FORCELAB_SIM_DIR"],
                                                  os.environ["PYTEST_XDIST_WORKER"])
    os.environ["FORCELAB_SIM_DIR_WORKER"] = os.environ["PYTEST_XDIST_WORKER"]

@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real recordings; tests that need it skip without it (fail in CI)."""
    return shared_data_folder()


@pytest.fixture
def sim_setup(request):
    """Start simulated setups (``sim_setup("insoles", seed=3)``: real device firmware models
    behind real ptys, with ground truth); every one started is stopped at the end."""

    def start(setup_name, /, **options):
        setup = start_setup(setup_name, options)
        request.addfinalizer(setup.stop)
        return setup

    return start


@pytest.fixture
def small_fs(tmp_path):
    """Mount a size-limited tmpfs: ``small_fs(size_bytes) -> folder``, unmounted after the test.

    Needs root; the test is skipped with the reason when mounting is not permitted.
    """
    mounted = []

    def mount(size_bytes: int) -> Path:
        folder = tmp_path / f"small{len(mounted)}"
        folder.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no mount command: cannot make a size-limited file system here")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={int(size_bytes)}", "tmpfs",
                            str(folder)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here (needs root): {r.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], capture_output=True)


@pytest.fixture
def lsl_inlet_of_session():
    """``lsl_inlet_of_session(name, session_uuid) -> (inlet, full_info)``: an inlet on the LSL
    outlet ``name`` that a forcelab recording publishes for the session ``session_uuid``.

    Other recordings on this machine (other tests, other users) publish the same stream names,
    so the outlet is matched by its ``desc/forcelab/session_uuid``, never taken by name alone.
    """
    import time

    import pylsl

    def find(name: str, session_uuid: str, timeout_s: float = 60.0):
        deadline = time.monotonic() + timeout_s
        while True:
            for info in pylsl.resolve_byprop("name", name, minimum=1, timeout=1.0):
                inlet = pylsl.StreamInlet(info, recover=False)
                try:
                    full = inlet.info(timeout=10)
                except (pylsl.util.TimeoutError, pylsl.util.LostError):  # another one, gone
                    continue
                if full.desc().child("forcelab").child_value("session_uuid") == session_uuid:
                    return inlet, full
                inlet.close_stream()
            assert time.monotonic() < deadline, f"no LSL outlet {name} of {session_uuid}"

    return find
