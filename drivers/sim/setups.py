"""Simulated setups: one or more simulated devices behind real ptys, started by name.

``start_setup(name, options) -> Setup`` where ``options`` is a dict of strings (the query of
``sim:NAME?speed=3&asymmetry=-0.08&seed=1&faults=bitflip:1e-4``) or typed values.

=============  ===============================================================================
``treadmill``  split-belt instrumented treadmill: two FPB1 plates, left belt and right belt
``plate``      one FPB1 plate under both feet (COP x separates the feet)
``insoles``    a pair of INS1 insoles (``forcelab.drivers.sim.ins1_sim.start_insoles``)
``diy``        a DIY CSV4 load-cell plate (``forcelab.drivers.sim.csv4_sim.start_diy``)
``opengo``     Moticon OpenGo insoles streamed over UDP (``forcelab.drivers.sim.opengo_sim``)
=============  ===============================================================================

Common options: gait (``mode`` run/walk, ``speed`` m/s, ``cadence`` steps/min, ``contact`` s,
``strike`` rear/mid/fore, ``mass`` kg, ``peak_bw``, ``impact_bw``, ``asymmetry`` (SI of mid-stance
peak, (R − L)/((R + L)/2)), ``contact_asymmetry``, ``variability``, ``start`` s, ``stand`` s of
quiet standing on both feet before the run, see :meth:`Setup.standing`), ``seed``,
``faults`` (see :mod:`forcelab.drivers.sim.faults`), ``drift`` ppm, ``name`` (port name base).
FPB1 setups also take ``noise`` (N), ``seq_start`` and driver options ``rate`` (Hz),
``fmt`` (raw/cal) and ``spf`` (samples per frame), which :func:`forcelab.drivers.open_devices`
passes to the drivers.

Contract for setups implemented elsewhere: a factory ``fn(options: dict) -> Setup``, registered
in :data:`SETUPS` as ``"module:function"`` (imported lazily) or with :func:`register_setup`. The
factory must pop the options it understands from its own copy and raise
:class:`~forcelab.drivers.errors.DeviceError` for unknown ones (use :func:`setup_options`, which
reads the gait options with :func:`gait_from_options`, and :func:`check_unknown`).
"""

from __future__ import annotations

import importlib
import urllib.parse
from collections.abc import Callable
from typing import Any

from forcelab.drivers.errors import DeviceError, DeviceNotFound
from forcelab.drivers.open import parse_query
from forcelab.drivers.sim.csv4_sim import start_diy
from forcelab.drivers.sim.fpb1_sim import FPB1Simulator
from forcelab.drivers.sim.ins1_sim import start_insoles
from forcelab.drivers.sim.pty import SimPort, free_name, list_sim_ports
from forcelab.drivers.sim.setup_base import (
    DRIVER_OPTIONS,
    Setup,
    check_unknown,
    gait_from_options,
    num_option,
    setup_options,
    start_together,
    stop_all,
)

__all__ = ["SETUPS", "Setup", "check_unknown", "gait_from_options", "parse_query",
           "register_setup", "setup_options", "start_setup"]

def register_setup(name: str, factory: str | Callable[[dict[str, Any]], Setup]) -> None:
    """Add a setup factory (``"module:function"`` or a callable) under ``name``."""
    SETUPS[name] = factory


_FPB1_SIM_KEYS = ("noise", "seq_start", "drift", "drift_ppm", "faults", "name")


def _fpb1_setup(name: str, options: dict[str, Any],
                plates: list[tuple[str, tuple[str, ...], str | None]]) -> Setup:
    opts, gait, seed = setup_options(options)
    noise = num_option(opts, "noise", 0.3)
    seq_start = num_option(opts, "seq_start", 0, int)
    drift = num_option(opts, "drift", None)
    drift = num_option(opts, "drift_ppm", drift)
    faults = opts.pop("faults", None)
    base = str(opts.pop("name", name))
    driver_opts = {k: opts.pop(k) for k in DRIVER_OPTIONS if k in opts}
    check_unknown(name, opts, DRIVER_OPTIONS + _FPB1_SIM_KEYS)
    if noise < 0 or noise > 1000:
        raise DeviceError(f"option noise={noise} N is out of range [0, 1000]")
    sims = []
    urls = []
    try:
        for i, (role, sides, side) in enumerate(plates):
            serial = _free_serial(f"FP{seed % 10000:04d}{i + 1:02d}{role[:1].upper()}",
                                  taken={s.serial for s in sims})
            port = SimPort(free_name(f"{base}-{role}"),
                           description=f"forcelab simulated FPB1 plate ({role})",
                           serial_number=serial).open()
            ppm = drift if drift is not None else (25.0, -40.0, 10.0)[i % 3]
            sim = FPB1Simulator(port, gait, sides=sides, serial=serial, seed=seed * 16 + i,
                                faults=faults, drift_ppm=ppm, noise_n=noise,
                                seq_start=seq_start)
            sims.append(sim)
            query = {"side": side} if side else {}
            query.update({k: str(v) for k, v in driver_opts.items()})
            q = urllib.parse.urlencode(query)
            urls.append(f"fpb1://{port.device}" + (f"?{q}" if q else ""))
        start_together(sims)  # one model time axis for every device of the setup
    except BaseException:
        stop_all(sims)
        raise
    return Setup(name, [s.port.device for s in sims], urls, sims, gait, dict(options))


def _free_serial(base: str, taken: set[str]) -> str:
    """``base`` or ``base-2``... : a serial number no running simulated device uses, so that
    reconnect-by-serial finds the right device when several setups run at once."""
    taken = taken | {r.get("serial_number", "") for r in list_sim_ports()}
    serial, k = base, 1
    while serial in taken:
        k += 1
        serial = f"{base}-{k}"
    return serial


def start_treadmill(options: dict[str, Any]) -> Setup:
    """Split-belt instrumented treadmill: two FPB1 plates (left belt, right belt)."""
    return _fpb1_setup("treadmill", options,
                       [("left", ("left",), "left"), ("right", ("right",), "right")])


def start_plate(options: dict[str, Any]) -> Setup:
    """One FPB1 plate under both feet (sides from COP x)."""
    return _fpb1_setup("plate", options, [("plate", ("left", "right"), None)])


#: Setup name -> factory (a callable, or ``"module:function"`` imported when first used).
SETUPS: dict[str, str | Callable[[dict[str, Any]], Setup]] = {
    "treadmill": start_treadmill,
    "plate": start_plate,
    "insoles": start_insoles,
    "diy": start_diy,
    "opengo": "forcelab.drivers.sim.opengo_sim:start_opengo",  # by name: no import cycle
}


def start_setup(name: str, options: dict[str, Any] | str | None = None) -> Setup:
    """Start the simulated setup ``name`` with ``options`` (dict or query string).

    Raises
    ------
    DeviceNotFound
        Unknown setup name, or its simulator is not installed.
    DeviceError
        Bad options.
    """
    if isinstance(options, str):
        options = parse_query(options)
    options = dict(options or {})
    factory = SETUPS.get(name)
    if factory is None:
        raise DeviceNotFound(
            f"unknown simulated setup {name!r}; choose one of {', '.join(sorted(SETUPS))}"
        )
    if isinstance(factory, str):
        mod_name, fn_name = factory.split(":")
        try:
            mod = importlib.import_module(mod_name)
            factory = getattr(mod, fn_name)
        except (ImportError, AttributeError) as exc:
            raise DeviceNotFound(
                f"simulated setup {name!r} is not available in this installation ({exc})"
            ) from None
    return factory(options)
