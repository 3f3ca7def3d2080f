"""Helpers for recorder tests (waiting on the controller without timed assertions)."""

from __future__ import annotations

import time


def wait_until(predicate, timeout_s=20.0, what="condition"):
    """Poll ``predicate`` until true; fail with ``what`` after ``timeout_s`` (a hang guard only)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def recorded(ctl, name):
    for d in ctl.snapshot().devices:
        if d.name == name:
            return d.samples_recorded
    raise KeyError(name)
