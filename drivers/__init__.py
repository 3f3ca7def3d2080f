"""forcelab.drivers: serial drivers (FPB1, INS1, CSV4) and their simulators.

Imports NumPy and pyserial only, never another part of forcelab, so it could ship on its own.
"""

from forcelab.drivers.base import Block, Channel, Device, DeviceEvent, DeviceInfo, LinkStats
from forcelab.drivers.discovery import list_devices
from forcelab.drivers.errors import ConnectionLost, DeviceError, DeviceNotFound, ProtocolError
from forcelab.drivers.open import open_devices

__all__ = [
    "Block",
    "Channel",
    "ConnectionLost",
    "Device",
    "DeviceError",
    "DeviceEvent",
    "DeviceInfo",
    "DeviceNotFound",
    "LinkStats",
    "ProtocolError",
    "list_devices",
    "open_devices",
]
