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
:class:`~forcelab.drivers.errors.DeviceError` for unknown ones (use :func:`gait_from_options` and
:func:`check_unknown`).
"""

from __future__ import annotations

import importlib
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forcelab.drivers.errors import DeviceError, DeviceNotFound
from forcelab.drivers.sim.gait import GaitModel, GaitParams
from forcelab.drivers.sim.pty import SimPort, free_name

SETUPS: dict[str, str | Callable[[dict[str, Any]], Setup]] = {
    "treadmill": "forcelab.drivers.sim.setups:start_treadmill",
    "plate": "forcelab.drivers.sim.setups:start_plate",
    "insoles": "forcelab.drivers.sim.ins1_sim:start_insoles",
    "diy": "forcelab.drivers.sim.csv4_sim:start_diy",
    "opengo": "forcelab.drivers.sim.opengo_sim:start_opengo",
}

#: Options the drivers use (passed on by open_devices, ignored by the simulators).
DRIVER_OPTIONS = ("rate", "fmt", "spf", "cop_threshold")


@dataclass
class Setup:
    """A running simulated setup.

    Attributes
    ----------
    name : str
        Setup name (``"treadmill"``...).
    ports : list of str
        Device paths (pty symlinks) of the simulated devices, in the order of ``urls``.
    urls : list of str
        Device strings for :func:`forcelab.drivers.open_devices` (``fpb1:///tmp/...``), with
        the side as a query when the device has one (``?side=left``).
    simulators : list
        The :class:`~forcelab.drivers.sim.base.Simulator` objects.
    truth : GaitModel
        The gait model: true stances (``truth.stances()``) and parameters.
    options : dict
        The options the setup was started with.
    """

    name: str
    ports: list[str]
    urls: list[str]
    simulators: list[Any]
    truth: GaitModel
    options: dict[str, Any] = field(default_factory=dict)
    _users: set[int] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    stopped: bool = False

    @property
    def t0_host_s(self) -> float:
        """Host time (s, ``time.time()`` epoch) of model time 0 (shared by the simulators)."""
        sims = self.simulators
        sim = next(iter(sims.values())) if isinstance(sims, dict) else sims[0]
        return time.time() - sim.model_time_s()

    def true_stances(self, until_host_s: float | None = None) -> list[dict[str, Any]]:
        """The true stances begun before ``until_host_s`` (default: now), with host times
        ``start_host_s``, ``end_host_s`` (s, ``time.time()`` epoch) beside the model times."""
        t0 = self.t0_host_s
        until = time.time() if until_host_s is None else float(until_host_s)
        return [dict(s.to_dict(), start_host_s=t0 + s.start_s, end_host_s=t0 + s.end_s)
                for s in self.truth.stances(0.0, until - t0)]

    def standing(self) -> dict[str, float] | None:
        """The quiet standing before the run (``stand=S``), or None without standing.

        Returns
        -------
        dict or None
            The model times of :meth:`GaitModel.standing` (``start_s``, ``end_s``,
            ``quiet_start_s``, ``quiet_end_s``, s), the same as host times (``*_host_s``, s,
            ``time.time()`` epoch), ``weight_n`` (true body weight, N) and ``body_mass_kg``.
        """
        st = self.truth.standing()
        if st is None:
            return None
        t0 = self.t0_host_s
        for key in ("start_s", "end_s", "quiet_start_s", "quiet_end_s"):
            st[key[:-2] + "_host_s"] = t0 + st[key]
        return st

    def stop(self) -> None:
        """Stop every simulator and remove its port (idempotent). Re-raises a simulator error."""
        if self.stopped:
            return
        self.stopped = True
        errors = []
        for sim in self.simulators:
            try:
                sim.stop()
            except RuntimeError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def acquire(self, user: object) -> None:
        """A device opened on this setup (the setup stops when the last one is released)."""
        with self._lock:
            self._users.add(id(user))

    def release(self, user: object) -> None:
        """A device on this setup closed; stops the setup after the last one."""
        with self._lock:
            self._users.discard(id(user))
            last = not self._users
        if last:
            self.stop()

    def __enter__(self) -> Setup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def describe(self) -> str:
        """Multi-line human description (ports, serials, sides)."""
        lines = [f"simulated setup {self.name!r}:"]
        for sim, url in zip(self.simulators, self.urls, strict=True):
            serial = getattr(sim, "serial", "")
            lines.append(f"  {sim.port.device}  {url}  serial={serial}")
        return "\n".join(lines)


def register_setup(name: str, factory: str | Callable[[dict[str, Any]], Setup]) -> None:
    """Add a setup factory (``"module:function"`` or a callable) under ``name``."""
    SETUPS[name] = factory


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


def _num(opts: dict[str, Any], key: str, default: Any, kind: type = float) -> Any:
    if key not in opts:
        return default
    raw = opts.pop(key)
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise DeviceError(
            f"option {key}={raw!r} is not a{'n integer' if kind is int else ' number'}"
        ) from None


_GAIT_KEYS = {
    "speed": ("speed_m_s", float), "cadence": ("cadence_spm", float),
    "contact": ("contact_time_s", float), "mass": ("body_mass_kg", float),
    "peak_bw": ("peak_bw", float), "impact_bw": ("impact_bw", float),
    "asymmetry": ("asymmetry", float), "contact_asymmetry": ("contact_asymmetry", float),
    "variability": ("variability", float), "start": ("start_s", float),
    "step_width": ("step_width_m", float), "stand": ("stand_s", float),
    # spellings used by sim:insoles
    "body_mass": ("body_mass_kg", float), "contact_time": ("contact_time_s", float),
    "start_s": ("start_s", float),
}


def gait_from_options(opts: dict[str, Any]) -> tuple[GaitModel, int]:
    """Pop gait options (and ``seed``) from ``opts``; return the model and the seed.

    Raises
    ------
    DeviceError
        A value is not a number or out of range.
    """
    seed = _num(opts, "seed", 0, int)
    kw: dict[str, Any] = {}
    for key, (attr, kind) in _GAIT_KEYS.items():
        if key in opts:
            kw[attr] = _num(opts, key, None, kind)
    for key in ("mode", "strike"):
        if key in opts:
            kw[key] = str(opts.pop(key)).lower()
    if kw.get("mode") == "walk" and "speed_m_s" not in kw:
        kw["speed_m_s"] = 1.3
    try:
        params = GaitParams(**kw)
    except ValueError as exc:
        raise DeviceError(f"bad simulator option: {exc}") from None
    return GaitModel(params, seed=seed), seed


def check_unknown(setup: str, opts: dict[str, Any], known: tuple[str, ...] = ()) -> None:
    """Raise DeviceError when options remain that nobody understood."""
    left = sorted(k for k in opts if k not in known)
    if left:
        valid = sorted({*_GAIT_KEYS, "mode", "strike", "seed", "faults", "drift", "name",
                        *known})
        raise DeviceError(
            f"unknown option(s) {', '.join(left)} for sim:{setup}; valid: {', '.join(valid)}"
        )


_FPB1_SIM_KEYS = ("noise", "seq_start", "drift", "drift_ppm", "faults", "name")


def _fpb1_setup(name: str, options: dict[str, Any],
                plates: list[tuple[str, tuple[str, ...], str | None]]) -> Setup:
    from forcelab.drivers.sim.fpb1_sim import FPB1Simulator

    opts = {str(k).lower(): v for k, v in options.items()}
    gait, seed = gait_from_options(opts)
    noise = _num(opts, "noise", 0.3)
    seq_start = _num(opts, "seq_start", 0, int)
    drift = _num(opts, "drift", None)
    drift = _num(opts, "drift_ppm", drift)
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
        t0_mono = time.monotonic()  # one model time axis for every device of the setup
        for sim in sims:
            sim.start(t0_mono=t0_mono)
    except BaseException:
        for sim in sims:
            try:
                sim.stop()
            except RuntimeError:
                pass
        raise
    return Setup(name, [s.port.device for s in sims], urls, sims, gait, dict(options))


def _free_serial(base: str, taken: set[str]) -> str:
    """``base`` or ``base-2``... : a serial number no running simulated device uses, so that
    reconnect-by-serial finds the right device when several setups run at once."""
    from forcelab.drivers.sim.pty import list_sim_ports

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
