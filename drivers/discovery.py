"""Discovery: the serial ports of this machine plus the simulated devices running now.

``list_devices()`` returns one dict per port: ``device``, ``description``, ``hwid``,
``vid``, ``pid`` (int or None), ``serial_number``, ``manufacturer``, ``product``, ``simulated``.
Real ports come from ``serial.tools.list_ports.comports()`` (which never lists ptys); simulated
ones from the registry in :mod:`forcelab.drivers.sim.pty` (any process of this user).
"""

from __future__ import annotations

from typing import Any

from forcelab.drivers.sim.pty import list_sim_ports
from serial.tools import list_ports


def list_serial_ports() -> list[dict[str, Any]]:
    """Serial ports the OS knows (USB-CDC, USB-serial adapters, built-in UARTs)."""
    out = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        out.append({
            "device": p.device,
            "description": p.description or "",
            "hwid": p.hwid or "",
            "vid": p.vid,
            "pid": p.pid,
            "serial_number": p.serial_number or "",
            "manufacturer": p.manufacturer or "",
            "product": p.product or "",
            "simulated": False,
        })
    return out


def list_devices() -> list[dict[str, Any]]:
    """Real serial ports followed by the running simulated ports."""
    out = list_serial_ports()
    for rec in list_sim_ports():
        out.append({
            "device": rec["device"],
            "description": rec.get("description", ""),
            "hwid": rec.get("hwid", ""),
            "vid": rec.get("vid"),
            "pid": rec.get("pid"),
            "serial_number": rec.get("serial_number", ""),
            "manufacturer": "forcelab",
            "product": rec.get("description", ""),
            "simulated": True,
            "owner_pid": rec.get("owner_pid"),
        })
    return out
