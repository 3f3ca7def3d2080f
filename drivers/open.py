"""One device string opens anything, real or simulated.

=====================================  =========================================================
``fpb1:///dev/ttyACM0?side=left``      an FPB1 plate (options: side, rate, fmt raw/cal, spf,
                                       cop_threshold)
``fpb1:socket://host:4001``            an FPB1 plate behind a serial-over-TCP bridge
``ins1:///dev/ttyUSB0,/dev/ttyUSB1``   INS1 insoles (one port per foot; options per the driver)
``csv4:///dev/ttyUSB1?baud=115200``    a DIY CSV4 plate
``/dev/ttyACM0``, ``socket://...``,    FPB1 (the default protocol)
``loop://``
``sim:treadmill?speed=3&asymmetry=-0.08&seed=1&faults=bitflip:1e-4,drop:0.001``
                                       start a simulated setup behind ptys and open the real
                                       drivers on it; closing the devices stops the simulator
=====================================  =========================================================

:func:`open_devices` splits the string (:func:`split_url`) and hands the target and the options
to the opener its scheme names in :data:`forcelab.drivers.registry.SCHEMES`; the openers live
in the driver modules (``forcelab.drivers.fpb1.open_fpb1``, ...; ``sim:`` in
:mod:`forcelab.drivers.sim.opener`).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from forcelab.drivers.base import Device
from forcelab.drivers.errors import DeviceError, DeviceNotFound
from forcelab.drivers.registry import ADDRESS_SCHEMES, DEFAULT_SCHEME, SCHEMES, opener_for


def split_url(url: str) -> tuple[str, list[str], dict[str, str]]:
    """Split a device string into (protocol, ports, options).

    Raises
    ------
    DeviceNotFound
        Empty string or an unknown scheme.
    """
    url = (url or "").strip()
    if not url:
        raise DeviceNotFound("no device given; use e.g. fpb1:///dev/ttyACM0 or sim:treadmill")
    scheme, sep, rest = url.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        proto, target = DEFAULT_SCHEME, url  # a bare path or a pyserial URL
    else:
        proto, target = scheme, rest
        if proto != "sim" and proto not in ADDRESS_SCHEMES and target.startswith("//") \
                and not target.startswith("///"):
            # fpb1://dev/ttyX is a typo for fpb1:///dev/ttyX
            raise DeviceNotFound(
                f"device string {url!r}: use three slashes for a path, e.g. "
                f"{proto}:///dev/ttyACM0"
            )
        if target.startswith("//"):
            target = target[2:]
    query = ""
    if "?" in target:
        target, query = target.split("?", 1)
    opts = parse_query(query)
    ports = [p for p in target.split(",") if p] if proto != "sim" else [target]
    if proto in ADDRESS_SCHEMES:
        ports = [target]  # empty: the scheme's default address
    elif not ports or not ports[0]:
        raise DeviceNotFound(f"device string {url!r} names no port")
    return proto, ports, opts


def open_devices(url: str, **kw: Any) -> list[Device]:
    """Open the device(s) a device string names.

    Parameters
    ----------
    url : str
        Device string (see the module docstring).
    **kw
        Extra options, merged over the query options (e.g. ``side="left"``, ``rate=2000``).

    Returns
    -------
    list of Device
        Opened, connected, stopped devices. For ``sim:`` strings the simulated setup
        (``device.sim_setup``) stops when the last of its devices closes.

    Raises
    ------
    DeviceNotFound
        Unknown scheme, setup or port.
    DeviceError
        Bad options; ProtocolError when the device does not answer as its protocol says.
    """
    proto, ports, opts = split_url(url)
    opts.update({str(k).lower(): str(v) for k, v in kw.items()})
    return opener_for(proto)(",".join(ports), opts)


def parse_query(query: str) -> dict[str, str]:
    """``"speed=3&seed=1"`` -> ``{"speed": "3", "seed": "1"}`` (repeated keys: last wins).

    Raises
    ------
    DeviceError
        An item without ``=``.
    """
    out: dict[str, str] = {}
    for item in query.split("&"):
        if not item:
            continue
        if "=" not in item:
            raise DeviceError(f"option {item!r} needs a value (name=value)")
        k, v = item.split("=", 1)
        out[urllib.parse.unquote_plus(k).strip().lower()] = urllib.parse.unquote_plus(v).strip()
    return out
