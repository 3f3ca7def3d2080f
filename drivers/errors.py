"""Exceptions raised by forcelab.drivers (the drivers room imports nothing else of forcelab)."""


class DeviceError(Exception):
    """Base of every error a device or its link reports; the message tells the user what to do."""


class DeviceNotFound(DeviceError):
    """The device string names a port or a simulated setup that does not exist."""


class ProtocolError(DeviceError):
    """The device answered, but not as the protocol says (bad reply, wrong status, timeout)."""


class ConnectionLost(DeviceError):
    """The serial link went away (unplugged, port closed, I/O error)."""
