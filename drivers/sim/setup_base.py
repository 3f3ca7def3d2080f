"""What every simulated setup shares: the :class:`Setup` record and the option helpers.

A setup factory ``fn(options: dict) -> Setup`` (see :mod:`forcelab.drivers.sim.setups`) pops
the options it understands from its own copy with :func:`gait_from_options` and
:func:`num_option` and refuses the rest with :func:`check_unknown`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from forcelab.drivers.base import Device
from forcelab.drivers.errors import DeviceError
from forcelab.drivers.sim.gait import GaitModel, GaitParams
from forcelab.drivers.sim.runner import RESPONSIVE_LOOKAHEAD_S, RUNNER_OPTIONS, runner_from_options

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
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    stopped: bool = False

    def __post_init__(self) -> None:
        try:
            self.truth.start()  # a runner who responds to cues starts listening
        except BaseException:
            self.stop()
            raise

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
        self.truth.close()
        errors = []
        for sim in self.simulators:
            try:
                sim.stop()
            except RuntimeError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def stop_after(self, devices: list[Device]) -> None:
        """Stop this setup once every one of ``devices`` (opened on it) is closed; each device
        knows its setup as ``device.sim_setup``."""
        remaining = {id(d) for d in devices}

        def closed(device: Device) -> None:
            with self._lock:
                was_open = id(device) in remaining
                remaining.discard(id(device))
                last = was_open and not remaining
            if last:
                self.stop()

        for device in devices:
            device.sim_setup = self  # type: ignore[attr-defined]
            device.add_close_callback(closed)

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



def num_option(opts: dict[str, Any], key: str, default: Any, kind: type = float) -> Any:
    """Pop option ``key`` from ``opts`` as a ``kind`` (``default`` when absent).

    Raises
    ------
    DeviceError
        The value is not a number of that kind.
    """
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
    seed = num_option(opts, "seed", 0, int)
    runner = runner_from_options(opts)
    kw: dict[str, Any] = {}
    for key, (attr, kind) in _GAIT_KEYS.items():
        if key in opts:
            kw[attr] = num_option(opts, key, None, kind)
    for key in ("mode", "strike"):
        if key in opts:
            kw[key] = str(opts.pop(key)).lower()
    if kw.get("mode") == "walk" and "speed_m_s" not in kw:
        kw["speed_m_s"] = 1.3
    try:
        params = GaitParams(**kw)
    except ValueError as exc:
        raise DeviceError(f"bad simulator option: {exc}") from None
    model = GaitModel(params, seed=seed)
    if runner is not None:
        model.response = runner
        model.lookahead_s = RESPONSIVE_LOOKAHEAD_S
    return model, seed


def setup_options(options: dict[str, Any] | None,
                  defaults: dict[str, Any] | None = None) -> tuple[dict[str, Any], GaitModel, int]:
    """Read a setup's options: names in lower case over ``defaults``, the gait options and
    ``seed`` taken out.

    Returns
    -------
    opts : dict
        The options left for the setup itself (check them with :func:`check_unknown`).
    gait : GaitModel
    seed : int

    Raises
    ------
    DeviceError
        A gait option is not a number or out of range.
    """
    opts = dict(defaults or {})
    opts.update({str(k).lower(): v for k, v in dict(options or {}).items()})
    gait, seed = gait_from_options(opts)
    return opts, gait, seed


def check_unknown(setup: str, opts: dict[str, Any], known: tuple[str, ...] = ()) -> None:
    """Raise DeviceError when options remain that nobody understood."""
    left = sorted(k for k in opts if k not in known)
    if left:
        valid = sorted({*_GAIT_KEYS, "mode", "strike", "seed", "faults", "drift", "name",
                        *RUNNER_OPTIONS, *known})
        raise DeviceError(
            f"unknown option(s) {', '.join(left)} for sim:{setup}; valid: {', '.join(valid)}"
        )


def start_together(simulators: list[Any]) -> None:
    """Start simulators on one model time axis (the devices of one setup share it)."""
    t0_mono = time.monotonic()
    for sim in simulators:
        sim.start(t0_mono=t0_mono)


def stop_all(simulators: list[Any]) -> None:
    """Stop simulators after a failed setup start; errors of the stops are not the news."""
    for sim in simulators:
        try:
            sim.stop()
        except RuntimeError:
            pass
