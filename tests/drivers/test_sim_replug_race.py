"""A simulator survives its cable being pulled and plugged from another thread (a test's)."""

from __future__ import annotations

from forcelab.drivers.sim.setups import start_setup


def test_unplug_and_replug_from_another_thread_never_kill_the_simulator():
    setup = start_setup("plate", {"seed": "3", "name": "t-replug-race"})
    (sim,) = setup.simulators
    try:
        for _ in range(200):  # the simulator thread waits on the pty while it is swapped
            sim.unplug()
            sim.replug()
        assert sim.running and sim.error is None
    finally:
        setup.stop()  # re-raises an error of the simulator thread
