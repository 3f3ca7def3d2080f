"""Fixtures of the session-store tests."""

import pytest


@pytest.fixture
def session_path(tmp_path):
    return tmp_path / "session.h5"
