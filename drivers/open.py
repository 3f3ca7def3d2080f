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

Contract for the INS1 and CSV4 drivers: ``forcelab.drivers.ins1.open_ins1(url, **options)`` and
``forcelab.drivers.csv4.open_csv4(url, **options)`` open one port (``ins1:///dev/X``) and return
a Device (or a list); options are the query values as strings. Two INS1 ports are checked with
``forcelab.drivers.ins1.pair_insoles`` (one left and one right foot of one pair).
"""

from __future__ import annotations

import importlib
import threading
import urllib.parse
from typing import Any

from forcelab.drivers.base import Device
from forcelab.drivers.errors import DeviceError, DeviceNotFound
from forcelab.drivers.registry import ADDRESS_SCHEMES, DEFAULT_SCHEME, SCHEMES, opener_for
from forcelab.drivers.sim.setups import parse_query, start_setup


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


def _open_fpb1(ports: list[str], opts: dict[str, str]) -> list[Device]:
    from forcelab.drivers.fpb1 import FMT_CAL, FMT_RAW, FPB1Device

    known = {"side", "rate", "fmt", "spf", "cop_threshold", "baud"}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise DeviceError(
            f"unknown FPB1 option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}"
        )
    kw: dict[str, Any] = {}
    try:
        if "side" in opts:
            kw["side"] = opts["side"].lower() or None
        if "rate" in opts:
            kw["rate_hz"] = int(float(opts["rate"]))
        if "fmt" in opts:
            f = opts["fmt"].lower()
            kw["fmt"] = {"raw": FMT_RAW, "0": FMT_RAW, "cal": FMT_CAL, "1": FMT_CAL}[f]
        if "spf" in opts:
            kw["samples_per_frame"] = int(opts["spf"])
        if "cop_threshold" in opts:
            kw["cop_threshold_n"] = float(opts["cop_threshold"])
        if "baud" in opts:
            kw["baudrate"] = int(opts["baud"])
    except (ValueError, KeyError) as exc:
        raise DeviceError(f"bad FPB1 option value ({exc}); e.g. rate=1000&fmt=raw&spf=8") from None
    devices: list[Device] = []
    try:
        for p in ports:
            devices.append(FPB1Device(p, **kw))
    except BaseException:
        for d in devices:
            d.close()
        raise
    return devices


def _open_other(proto: str, ports: list[str], opts: dict[str, str]) -> list[Device]:
    fn_name = f"open_{proto}"
    try:
        mod = importlib.import_module(f"forcelab.drivers.{proto}")
        fn = getattr(mod, fn_name)
    except (ImportError, AttributeError):
        raise DeviceNotFound(
            f"the {proto.upper()} driver is not available in this installation"
        ) from None
    devices: list[Device] = []
    try:
        for p in ports:
            got = fn(p if "://" in p else f"{proto}://{p}", **opts)
            devices += list(got) if isinstance(got, (list, tuple)) else [got]
        if proto == "ins1" and len(devices) == 2:
            mod.pair_insoles(devices)  # two left feet or two pairs: a clear error
    except BaseException:
        for d in devices:
            d.close()
        raise
    return devices


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
        Opened, connected, stopped devices. For ``sim:`` strings each device keeps the simulated
        setup alive; the setup (``device.sim_setup``) stops when the last device closes.

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


def open_fpb1(target: str, opts: dict[str, str]) -> list[Device]:
    """Registry opener of ``fpb1:`` (one plate per comma-separated port)."""
    return _open_fpb1(target.split(","), opts)


def open_ins1(target: str, opts: dict[str, str]) -> list[Device]:
    """Registry opener of ``ins1:`` (one insole per port; two are checked as a pair)."""
    return _open_other("ins1", target.split(","), opts)


def open_csv4(target: str, opts: dict[str, str]) -> list[Device]:
    """Registry opener of ``csv4:``."""
    return _open_other("csv4", target.split(","), opts)


def open_sim(name: str, opts: dict[str, str]) -> list[Device]:
    """Registry opener of ``sim:``: start the named simulated setup and open its devices."""
    setup = start_setup(name, opts)
    devices: list[Device] = []
    try:
        by_proto: dict[str, list[tuple[list[str], dict[str, str]]]] = {}
        for u in setup.urls:
            proto, ports, o = split_url(u)
            by_proto.setdefault(proto, []).append((ports, o))
        for proto, items in by_proto.items():
            if proto == "fpb1":
                for ports, o in items:
                    devices += _open_fpb1(ports, o)
            else:
                # All ports of one protocol open together (an insole pair is matched by pair id).
                all_ports = [p for ports, _ in items for p in ports]
                merged: dict[str, str] = {}
                for _, o in items:
                    merged.update(o)
                devices += opener_for(proto)(",".join(all_ports), merged)
    except BaseException:
        for d in devices:
            d.close()
        setup.stop()
        raise
    _bind_to_setup(devices, setup)
    return devices


def _bind_to_setup(devices: list[Device], setup: Any) -> None:
    """Make closing the devices stop the simulated setup (after the last one closes)."""
    lock = threading.Lock()
    remaining = {id(d) for d in devices}

    for device in devices:
        original = device.close

        def close(device: Device = device, original: Any = original) -> None:
            try:
                original()
            finally:
                with lock:
                    was_open = id(device) in remaining
                    remaining.discard(id(device))
                    last = was_open and not remaining
                if last:
                    setup.stop()

        device.close = close  # type: ignore[method-assign]
        device.sim_setup = setup  # type: ignore[attr-defined]


def describe_url(url: str) -> str:
    """One line saying what a device string opens (for messages)."""
    proto, ports, opts = split_url(url)
    q = urllib.parse.urlencode(opts)
    return f"{proto}: {', '.join(ports)}" + (f" ({q})" if q else "")
