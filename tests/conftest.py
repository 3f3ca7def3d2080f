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

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FORCELAB_SHARED_DATA") or ROOT.parent / "shared" / "data")
REQUIRE_SHARED_DATA = os.environ.get("FORCELAB_REQUIRE_SHARED_DATA", "") not in ("", "0")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real recordings; tests that need it skip without it (fail in CI)."""
    if not SHARED_DATA.is_dir():
        message = f"real recordings not found at {SHARED_DATA}"
        if REQUIRE_SHARED_DATA:
            pytest.fail(f"{message} (FORCELAB_REQUIRE_SHARED_DATA is set)", pytrace=False)
        pytest.skip(message)
    return SHARED_DATA


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
