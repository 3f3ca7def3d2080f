"""Where the real recordings live (``../shared/data`` beside the repository, or the folder named
by ``FORCELAB_SHARED_DATA``), for the ``shared_data`` fixture of tests/conftest.py and for test
helpers that read them outside a fixture."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FORCELAB_SHARED_DATA") or ROOT.parent / "shared" / "data")
REQUIRE_SHARED_DATA = os.environ.get("FORCELAB_REQUIRE_SHARED_DATA", "") not in ("", "0")


def shared_data_folder() -> Path:
    """The folder of real recordings; a test that needs it skips without it, or fails when
    ``FORCELAB_REQUIRE_SHARED_DATA`` is set (CI)."""
    if not SHARED_DATA.is_dir():
        message = f"real recordings not found at {SHARED_DATA}"
        if REQUIRE_SHARED_DATA:
            pytest.fail(f"{message} (FORCELAB_REQUIRE_SHARED_DATA is set)", pytrace=False)
        pytest.skip(message)
    return SHARED_DATA
