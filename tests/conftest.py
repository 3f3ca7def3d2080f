"""Shared pytest fixtures: where the real recordings live, and the Qt platform.

Tests on real recordings read them from ``../shared/data`` beside the repository (or the folder
named by ``FORCELAB_SHARED_DATA``). Without the folder they skip, unless
``FORCELAB_REQUIRE_SHARED_DATA=1`` (set by ``.ci/run``): then a missing folder fails them, so
CI can never pass with those tests silently skipped.
"""

import os
from pathlib import Path

import pytest

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
