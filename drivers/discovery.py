"""Discovery: the serial ports of this machine plus the simulated devices running now.

``list_devices()`` returns one dict per port: ``device``, ``description``, ``hwid``,
``vid``, ``pid`` (int or None), ``serial_number``, ``manufacturer``, ``product``, ``simulated``.
Real ports come from ``serial.tools.list_ports.comports()`` (which never lists ptys); simulated
ones from the registry in :mod:`forcelab.drivers.sim.pty` (any process of this user).
"""

from __future__ import annotations

import time
from typing import Any

from forcelab.drivers.errors import DeviceError
from forcelab.drivers.protocols import fpb1
from forcelab.drivers.sim.pty import list_sim_ports
from forcelab.drivers.transport import Transport
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


def ports_for_serial(serial: str, current: str) -> list[str]:
    """Where a device with serial number ``serial`` may be now: ``current`` first, then every
    real or simulated port reporting that serial (a replugged device may come back elsewhere).

    URLs such as ``socket://`` are not serial ports and are only ever retried as they are.
    """
    out = [current]
    if "://" not in current:
        out += [d["device"] for d in list_devices() if serial and d.get("serial_number") == serial]
    return list(dict.fromkeys(out))


def probe_port(device: str, timeout_s: float = 0.5) -> dict[str, Any]:
    """Ask the device on ``device`` who it is (FPB1 IDENTIFY), without changing its state.

    Opening a port may reset an Arduino-style board (CSV4); only call this when asked to.

    Returns
    -------
    dict
        ``{"protocol": "FPB1", "model", "serial", "firmware"}`` when an FPB1 plate answers,
        ``{"protocol": None, "note": "..."}`` otherwise (busy, no answer, cannot open).
    """
    try:
        t = Transport.open(device, baudrate=921600)
    except DeviceError as exc:
        busy = "lock" in str(exc).lower() or "busy" in str(exc).lower()
        return {"protocol": None, "note": "in use by another program" if busy else "cannot open"}
    try:
        codec = fpb1.FPB1Codec()
        t.write(fpb1.encode_frame(fpb1.IDENTIFY, b"", 0x7F))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for f in codec.feed(t.read(0.05)):
                is_reply = f.type == fpb1.IDENTIFY | fpb1.REPLY and f.token == 0x7F
                if is_reply and f.payload[:1] == b"\0":
                    try:
                        ident = fpb1.Identity.unpack(f.payload[1:])
                    except DeviceError:
                        continue
                    return {"protocol": "FPB1", "model": ident.model, "serial": ident.serial,
                            "firmware": ident.firmware}
        return {"protocol": None, "note": "no FPB1 answer (INS1/CSV4 devices are not probed)"}
    except DeviceError as exc:
        return {"protocol": None, "note": f"link error: {exc}"}
    finally:
        t.close()
