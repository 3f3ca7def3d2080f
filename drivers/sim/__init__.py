"""Device simulators behind real pseudo-terminals: gait model, fault injection, setups.

``start_setup("treadmill", {"speed": 3.0, "asymmetry": -0.08, "seed": 1})`` starts two simulated
FPB1 plates; ``setup.urls`` are the device strings to open them with, ``setup.truth`` the gait
model with the true stances, ``setup.stop()`` ends it.
"""

from forcelab.drivers.sim.setups import SETUPS, Setup, register_setup, start_setup

__all__ = ["SETUPS", "Setup", "register_setup", "start_setup"]
