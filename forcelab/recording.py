"""The in-memory recording model shared by readers, the session store, analysis and exports.

A :class:`Recording` holds one or more :class:`Stream` objects. Each stream is uniformly sampled
(``rate_hz``, first sample at ``t0_s`` on the recording's time base) and carries named channels.
Readers whose source has non-uniform time stamps resample onto a uniform grid (see
``docs/formats.md``); samples that were never measured are NaN, never invented.

Channel names (all optional except ``fz``):

=========  ======  ==============================================================
name       unit    meaning
=========  ======  ==============================================================
fz         N       vertical ground-reaction force, positive = pushing into ground
fap        N       anterior-posterior force, positive = forward (propulsive)
fml        N       medio-lateral force, positive = toward the subject's right
cop_ml     m       medio-lateral centre of pressure, larger = subject's right
cop_ap     m       anterior-posterior centre of pressure, larger = forward
tz         N*m     free moment about the vertical axis
=========  ======  ==============================================================

Any other channel (insole pressures ``p01`` .. ``p16`` in kPa, IMU, raw bridges) may be present
with its unit in :attr:`Stream.units`.

This module depends on NumPy only, so every room may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forcelab.errors import InputError

SIDES = ("left", "right")
SENSORS = ("plate", "insole")
STANDARD_UNITS = {"fz": "N", "fap": "N", "fml": "N", "cop_ml": "m", "cop_ap": "m", "tz": "N*m"}


def finite_or_none(value: Any) -> float | None:
    """``value`` as a finite float, or None (None, NaN, infinity, text that is no number)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def checked_number(
    value: Any,
    accept: Callable[[Any], bool],
    not_a_number: str,
    out_of_range: str,
    *,
    convert: Callable[[Any], Any] = float,
    error: type[Exception] = InputError,
) -> Any:
    """``convert(value)`` after checking it, or one clear error.

    Parameters
    ----------
    value : object
        What the user gave (number or text).
    accept : callable
        True for a converted value that makes sense.
    not_a_number, out_of_range : str
        The messages when ``convert`` fails and when ``accept`` says no; ``{got}`` stands for
        ``repr(value)``, ``{value}`` for the converted value.
    convert : callable
        ``float`` (default) or ``int``.
    error : type
        The exception raised (``InputError`` by default).

    Raises
    ------
    Exception
        ``error`` with one of the two messages.
    """
    try:
        number = convert(value)
    except (TypeError, ValueError):
        raise error(not_a_number.format(got=repr(value))) from None
    if not accept(number):
        raise error(out_of_range.format(got=repr(value), value=number))
    return number


def check_body_mass(body_mass_kg: float | None) -> float | None:
    """Return a body mass in kg after checking it is plausible, or None.

    Raises
    ------
    InputError
        If the mass is not a finite number between 1 and 500 kg.
    """
    if body_mass_kg is None:
        return None
    return checked_number(
        body_mass_kg,
        lambda mass: bool(np.isfinite(mass)) and 1.0 <= mass <= 500.0,
        "body mass must be a number in kg, got {got}",
        "body mass must be between 1 and 500 kg, got {got}",
    )


def check_rate(rate_hz: float) -> float:
    """Return a sampling rate in Hz after checking it is a positive finite number.

    Raises
    ------
    InputError
        If the rate is not finite, not positive or above 1 MHz.
    """
    return checked_number(
        rate_hz,
        lambda rate: bool(np.isfinite(rate)) and 0.0 < rate <= 1e6,
        "sampling rate must be a number in Hz, got {got}",
        "sampling rate must be a positive number of Hz, got {got}",
    )


@dataclass
class Stream:
    """One uniformly sampled stream of ground-reaction data (one plate, one belt or one foot).

    Parameters
    ----------
    name : str
        Stream name, unique in its recording ("left", "right", "platform1", "plate", ...).
    rate_hz : float
        Sampling rate in Hz.
    channels : dict of str to ndarray
        Per-sample channels, all the same length; ``fz`` (vertical force, N) is required.
    side : {"left", "right", None}
        The foot this stream measures, or None when unknown / both feet on one plate.
    t0_s : float
        Time of the first sample in s on the recording's time base.
    units : dict of str to str
        Unit of each channel; standard channels get their standard unit by default.
    sensor : {"plate", "insole"}
        What measured the force: a force plate (or treadmill belt) measures the whole ground
        reaction; a pressure insole measures the normal force under the sole, which rises and
        falls more gradually at contact and toe-off (analysis picks its thresholds by this).
    """

    name: str
    rate_hz: float
    channels: dict[str, np.ndarray]
    side: str | None = None
    t0_s: float = 0.0
    units: dict[str, str] = field(default_factory=dict)
    sensor: str = "plate"

    def __post_init__(self) -> None:
        self.rate_hz = check_rate(self.rate_hz)
        if self.sensor not in SENSORS:
            raise InputError(f"stream sensor must be one of {SENSORS}, got {self.sensor!r}")
        if self.side not in (None, *SIDES):
            raise InputError(f"stream side must be 'left', 'right' or None, got {self.side!r}")
        if "fz" not in self.channels:
            raise InputError(f"stream {self.name!r} has no vertical force channel 'fz'")
        n = None
        for key, values in list(self.channels.items()):
            arr = np.asarray(values, dtype=np.float64)
            if arr.ndim != 1:
                raise InputError(f"channel {key!r} of stream {self.name!r} must be 1-D")
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise InputError(
                    f"channel {key!r} of stream {self.name!r} has {arr.shape[0]} samples, "
                    f"expected {n}"
                )
            self.channels[key] = arr
        for key in self.channels:
            self.units.setdefault(key, STANDARD_UNITS.get(key, ""))

    @property
    def fz(self) -> np.ndarray:
        """Vertical ground-reaction force in N."""
        return self.channels["fz"]

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.channels["fz"].shape[0])

    @property
    def duration_s(self) -> float:
        """Duration covered by the samples in s."""
        return self.n_samples / self.rate_hz

    def time_s(self) -> np.ndarray:
        """Time of every sample in s on the recording's time base."""
        return self.t0_s + np.arange(self.n_samples) / self.rate_hz


@dataclass
class MarkerTrajectories:
    """Motion-capture marker trajectories recorded with the force (e.g. the points of a C3D).

    Parameters
    ----------
    labels : list of str
        Marker labels as the source names them.
    rate_hz : float
        Marker sampling rate in Hz.
    points_m : ndarray, shape (n, n_markers, 3)
        Positions in m in the lab frame; NaN where a marker was not seen (gaps stay gaps).
    t0_s : float
        Time of the first sample on the recording's time base (s).
    vertical_axis : int or None
        Index (0, 1, 2) of the lab's upward axis, when the source says (e.g. from the force
        platforms' orientation); None when unknown.
    residuals : ndarray, shape (n, n_markers), optional
        Reconstruction residuals as the source gives them (its length unit; negative = not seen).
    """

    labels: list[str]
    rate_hz: float
    points_m: np.ndarray
    t0_s: float = 0.0
    vertical_axis: int | None = None
    residuals: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.rate_hz = check_rate(self.rate_hz)
        self.labels = [str(lab) for lab in self.labels]
        self.points_m = np.asarray(self.points_m, dtype=np.float64)
        if self.points_m.ndim != 3 or self.points_m.shape[1:] != (len(self.labels), 3):
            raise InputError(
                f"marker points must have shape (n, {len(self.labels)}, 3), "
                f"got {self.points_m.shape}"
            )
        if len(set(self.labels)) != len(self.labels):
            raise InputError("marker labels must be unique")
        if self.vertical_axis not in (None, 0, 1, 2):
            raise InputError(f"vertical axis must be 0, 1, 2 or None, got {self.vertical_axis!r}")
        if self.residuals is not None:
            self.residuals = np.asarray(self.residuals, dtype=np.float64)
            if self.residuals.shape != self.points_m.shape[:2]:
                raise InputError("marker residuals must have shape (n, n_markers)")

    def point(self, label: str) -> np.ndarray:
        """One marker's trajectory, shape (n, 3), in m."""
        try:
            return self.points_m[:, self.labels.index(label), :]
        except ValueError:
            raise InputError(f"no marker {label!r}; markers are {self.labels}") from None

    def time_s(self) -> np.ndarray:
        """Time of every marker sample in s on the recording's time base."""
        return self.t0_s + np.arange(self.points_m.shape[0]) / self.rate_hz


@dataclass
class Recording:
    """A set of streams recorded together, with what is known about the athlete.

    Parameters
    ----------
    streams : list of Stream
        The streams; names are unique.
    body_mass_kg : float or None
        Athlete body mass in kg, when known.
    source : str
        Where the data came from (file path, device string).
    meta : dict
        Free-form, JSON-serialisable metadata from the source (subject id, units, header).
    trajectories : MarkerTrajectories or None
        Marker trajectories recorded with the force, on the same time base, when the source
        has them.
    """

    streams: list[Stream]
    body_mass_kg: float | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    trajectories: MarkerTrajectories | None = None

    def __post_init__(self) -> None:
        self.body_mass_kg = check_body_mass(self.body_mass_kg)
        names = [s.name for s in self.streams]
        if len(set(names)) != len(names):
            raise InputError(f"stream names must be unique, got {names}")
        sides = [s.side for s in self.streams if s.side is not None]
        if len(set(sides)) != len(sides):
            raise InputError(f"two streams claim the same side: {sides}")

    def stream(self, name: str) -> Stream:
        """Return the stream called ``name``.

        Raises
        ------
        InputError
            If there is no such stream.
        """
        for s in self.streams:
            if s.name == name:
                return s
        raise InputError(f"no stream named {name!r}; streams are {[s.name for s in self.streams]}")
