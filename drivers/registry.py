"""Device-string schemes and the function that opens each: adding a device is one driver module
and one line here.

An opener is ``open_x(target: str, options: dict[str, str]) -> list[Device]``: ``target`` is the
device string after ``scheme:`` without a leading ``//`` and without the ``?query`` (for
``fpb1:///dev/ttyACM0,/dev/ttyACM1`` it is ``/dev/ttyACM0,/dev/ttyACM1``; for ``lsl:?type=Force``
it is empty), ``options`` the query values as lower-case keys and strings. It returns opened,
connected, stopped devices, or raises DeviceNotFound / DeviceError with a message for the user.

Openers are named by import path so a scheme's own libraries (pylsl, sockets) load only when a
device string uses it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from forcelab.drivers.base import Device
from forcelab.drivers.errors import DeviceNotFound

Opener = Callable[[str, dict[str, str]], list[Device]]

#: scheme -> (opener as "module:function", one line for help texts)
SCHEMES: dict[str, tuple[str, str]] = {
    "fpb1": ("forcelab.drivers.fpb1:open_fpb1", "FPB1 6-axis force plate (binary serial)"),
    "ins1": ("forcelab.drivers.ins1:open_ins1", "INS1 pressure insole(s), one port per foot"),
    "csv4": ("forcelab.drivers.csv4:open_csv4", "CSV4 DIY four-load-cell plate (ASCII serial)"),
    "sim": ("forcelab.drivers.sim.opener:open_sim", "a simulated setup behind real ptys"),
    "lines": ("forcelab.drivers.lines:open_lines",
              "any DIY load-cell board printing one sample per line (csv, ws, json, regex)"),
    "opengo-udp": ("forcelab.drivers.opengo_udp:open_opengo_udp",
                   "Moticon OpenGo insole pair, live from the OpenGo app over UDP (HOST:PORT)"),
}

#: Schemes whose target is a network address (``//HOST:PORT``, may be empty), not a port path.
ADDRESS_SCHEMES = frozenset({"opengo-udp"})

#: The scheme of a bare path or pyserial URL (``/dev/ttyACM0``, ``socket://host:4001``).
DEFAULT_SCHEME = "fpb1"


def opener_for(scheme: str) -> Opener:
    """The opener of a scheme.

    Raises
    ------
    DeviceNotFound
        Unknown scheme, or its driver cannot be loaded in this installation.
    """
    try:
        path, _ = SCHEMES[scheme]
    except KeyError:
        raise DeviceNotFound(
            f"unknown device scheme {scheme!r}; known: {', '.join(sorted(SCHEMES))}"
        ) from None
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise DeviceNotFound(f"the {scheme}: driver cannot be loaded ({exc})") from None
