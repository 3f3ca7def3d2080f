"""Types every driver shares: DeviceInfo, Block, DeviceEvent, LinkStats and the Device interface.

Data flow: bytes -> codec ``feed(bytes) -> frames`` -> ``Device.read(timeout) -> [Block]``.
A Block holds consecutive samples; a jump in sequence numbers is never hidden: the first Block
after missing samples says how many are missing in ``gap_before``.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: Channel roles: what a column measures, in the analysis' vocabulary. Every consumer (recorder,
#: store, console, analysis mapping) reads these, never a protocol's own column names.
ROLE_VERTICAL = "fz"  # vertical ground-reaction force (N), positive into the ground
ROLE_FORCE_AP = "fap"  # fore-aft (anterior-posterior) force (N), positive forward
ROLE_FORCE_ML = "fml"  # medio-lateral force (N)
ROLE_MOMENT_X = "mx"
ROLE_MOMENT_Y = "my"
ROLE_MOMENT_Z = "mz"  # plate moments about the plate's own axes (N*m)
ROLE_COP_ML = "cop_ml"  # medio-lateral centre of pressure (m, or 1 = fraction of an insole)
ROLE_COP_AP = "cop_ap"  # fore-aft centre of pressure
ROLE_FREE_MOMENT = "tz"  # free vertical moment (N*m)
ROLE_CELL = "cell"  # one load cell of a multi-cell plate (N)
ROLE_PRESSURE = "pressure"  # one pressure sensor of an insole
ROLE_ACCELERATION = "acc"  # accelerometer axis
ROLE_ANGULAR_RATE = "gyr"  # gyroscope axis
ROLES = (
    ROLE_VERTICAL, ROLE_FORCE_AP, ROLE_FORCE_ML, ROLE_MOMENT_X, ROLE_MOMENT_Y, ROLE_MOMENT_Z,
    ROLE_COP_ML, ROLE_COP_AP, ROLE_FREE_MOMENT, ROLE_CELL, ROLE_PRESSURE, ROLE_ACCELERATION,
    ROLE_ANGULAR_RATE,
)
#: Vertical force below which a plate's centre of pressure (and free moment) is not defined: NaN
#: (N), unless the device is told otherwise.
COP_THRESHOLD_N = 20.0
#: Roles of forces (N) and of moments (N*m): the columns a tare zeroes.
FORCE_ROLES = (ROLE_VERTICAL, ROLE_FORCE_AP, ROLE_FORCE_ML, ROLE_CELL)
MOMENT_ROLES = (ROLE_MOMENT_X, ROLE_MOMENT_Y, ROLE_MOMENT_Z, ROLE_FREE_MOMENT)

#: Device kinds: what a device stream is. ``sensor`` (plate or insole) follows from it.
KIND_PLATE = "plate"  # a force plate or one belt of an instrumented treadmill
KIND_INSOLE = "insole"  # one pressure insole (one foot)
KIND_DIY_PLATE = "diyplate"  # a load-cell plate (four cells, vertical force only)
KINDS = (KIND_PLATE, KIND_INSOLE, KIND_DIY_PLATE)


@dataclass(frozen=True)
class Channel:
    """One channel of a device: its name, physical unit and role
    (e.g. ``Channel("fz", "N", ROLE_VERTICAL)``); ``role`` is None for a column no consumer reads
    by meaning (a raw counter, a battery level)."""

    name: str
    unit: str
    role: str | None = None


#: The channels of a six-axis force plate (FPB1): forces (N) and moments (N*m) in the plate's
#: axes (x medio-lateral, y fore-aft), the COP (m from the plate centre) and the free moment.
PLATE_CHANNELS = (
    Channel("fx", "N", ROLE_FORCE_ML), Channel("fy", "N", ROLE_FORCE_AP),
    Channel("fz", "N", ROLE_VERTICAL),
    Channel("mx", "N*m", ROLE_MOMENT_X), Channel("my", "N*m", ROLE_MOMENT_Y),
    Channel("mz", "N*m", ROLE_MOMENT_Z),
    Channel("cop_x", "m", ROLE_COP_ML), Channel("cop_y", "m", ROLE_COP_AP),
    Channel("tz", "N*m", ROLE_FREE_MOMENT),
)


def cell_plate_channels(n_cells: int, cop: bool) -> tuple[Channel, ...]:
    """The channels of a load-cell plate (CSV4, a serial-lines board): ``c0`` ... (N per cell),
    ``fz`` (N, their sum) and, with ``cop``, ``cop_x``/``cop_y`` (m from the plate centre)."""
    out = tuple(Channel(f"c{i}", "N", ROLE_CELL) for i in range(n_cells))
    out += (Channel("fz", "N", ROLE_VERTICAL),)
    if cop:
        out += (Channel("cop_x", "m", ROLE_COP_ML), Channel("cop_y", "m", ROLE_COP_AP))
    return out


@dataclass
class DeviceInfo:
    """Static description of one device stream.

    Parameters
    ----------
    protocol : str
        Wire protocol or source ("FPB1", "INS1", "CSV4", ...): informational only; consumers
        read ``kind`` and the channel roles.
    model, serial, firmware : str
        As the device reports them.
    side : {"left", "right", None}
        The foot this stream measures (insole side, treadmill belt) or None.
    rate_hz : float
        Sampling rate in Hz.
    channels : tuple of Channel
        Column names and units of ``Block.samples``.
    calibration : dict
        JSON-serialisable calibration (matrix, offsets, scales, excitation, ...).
    layout : list of dict or None
        Insole sensor layout: ``{"x_mm", "y_mm", "area_mm2", "region"}`` per sensor.
    extra : dict
        Anything else the device reports (pair id, plate size, origin, port, ...).
    kind : str
        What the stream is: one of :data:`KINDS` (plate, insole, diyplate).
    """

    protocol: str
    model: str
    serial: str
    firmware: str
    side: str | None
    rate_hz: float
    channels: tuple[Channel, ...]
    calibration: dict[str, Any] = field(default_factory=dict)
    layout: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    kind: str = KIND_PLATE

    @property
    def channel_names(self) -> list[str]:
        """Names of the sample columns, in order."""
        return [c.name for c in self.channels]

    @property
    def sensor(self) -> str:
        """``"insole"`` for insoles, ``"plate"`` for every plate kind (picks contact thresholds)."""
        return "insole" if self.kind == KIND_INSOLE else "plate"

    def columns_by_role(self) -> dict[str, list[int]]:
        """Column indices per role, in channel order (``{"fz": [2], "cell": [0, 1, 2, 3]}``)."""
        out: dict[str, list[int]] = {}
        for i, c in enumerate(self.channels):
            if c.role:
                out.setdefault(c.role, []).append(i)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (inverse of :meth:`from_dict`)."""
        d = asdict(self)
        d["channels"] = [[c.name, c.unit, c.role] for c in self.channels]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeviceInfo:
        """Rebuild a DeviceInfo from :meth:`to_dict` output."""
        d = dict(d)
        d["channels"] = tuple(
            Channel(*c) if not isinstance(c, dict) else Channel(**c) for c in d["channels"]
        )
        return cls(**d)


@dataclass
class Block:
    """Consecutive samples of one device stream.

    Parameters
    ----------
    seq : int
        Sequence number of the first sample, unwrapped to a monotonically increasing int
        (the wire counter wraps; the driver unwraps it).
    t_device_s : float
        Device clock time of the first sample in s (unwrapped).
    t_host_s : float
        Time of the first sample on the host's time base in s (``time.time()`` epoch), obtained
        by mapping the device clock through the fitted clock offset and skew, never by arrival.
    samples : ndarray, shape (n, n_channels)
        Values in the physical units of ``DeviceInfo.channels``. Shared by everyone the Block
        is handed to (ring buffer, writer, live analysis): a new array per Block, never changed
        after the driver hands it out.
    status : int
        Device status bits of this block (protocol specific, 0 when none).
    gap_before : int
        Number of samples missing between the previous block and this one (0 = contiguous).
    """

    seq: int
    t_device_s: float
    t_host_s: float
    samples: np.ndarray
    status: int = 0
    gap_before: int = 0

    @property
    def n(self) -> int:
        """Number of samples in the block."""
        return int(self.samples.shape[0])

    @classmethod
    def split_at_gaps(cls, seq: np.ndarray, t_device_s: np.ndarray, t_host_s: np.ndarray,
                      samples: np.ndarray, gaps: np.ndarray, stats: LinkStats,
                      cuts: Iterable[int] = (), status: np.ndarray | None = None) -> list[Block]:
        """Consecutive samples as Blocks: a new block where samples are missing before sample
        i (``gaps[i] > 0``, counted in ``stats``) or at an index in ``cuts`` (a restarted clock).

        ``seq``, ``t_device_s``, ``t_host_s`` and ``gaps`` hold one value a sample, ``samples``
        one row; ``status`` (optional) the status bits of each sample, a block carrying their
        OR.
        """
        bounds = sorted({0, len(seq)} | set(np.flatnonzero(gaps > 0).tolist()) | set(cuts))
        blocks = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            g = int(gaps[a])
            stats.count_gap(g)
            bits = 0 if status is None else int(np.bitwise_or.reduce(status[a:b]))
            blocks.append(cls(seq=int(seq[a]), t_device_s=float(t_device_s[a]),
                              t_host_s=float(t_host_s[a]), samples=samples[a:b], status=bits,
                              gap_before=g))
        return blocks


@dataclass
class DeviceEvent:
    """Something the device reported besides samples (sync edge, overrange, autozero, battery,
    link lost/restored, unplug, replug).

    ``seq`` is the sample sequence number it refers to (or -1), ``t_host_s`` the host time.
    """

    kind: str
    seq: int
    t_host_s: float
    arg: int = 0
    message: str = ""


@dataclass
class LinkStats:
    """Counters of what went wrong on a link; all start at 0 and only increase."""

    bytes_received: int = 0
    frames: int = 0
    crc_errors: int = 0
    resyncs: int = 0
    bytes_discarded: int = 0
    bad_lines: int = 0
    dropped_samples: int = 0
    gaps: int = 0
    reconnects: int = 0
    #: frames (or samples) with a valid checksum whose sequence number the device clock and the
    #: rate contradict: dropped, their samples an explicit gap
    corrupt_frames: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)

    def count_gap(self, n_missing: int) -> None:
        """Count ``n_missing`` samples lost before a block (one gap; nothing when 0)."""
        if n_missing:
            self.dropped_samples += n_missing
            self.gaps += 1



class Device(abc.ABC):
    """One acquisition stream reached over a serial link.

    A device is opened connected and stopped. ``start()`` begins streaming; ``read(timeout)``
    returns the Blocks decoded so far (possibly empty) and raises ConnectionLost when the link
    is gone; ``stop()`` ends streaming; ``close()`` releases the port.

    Whoever must know when a device is closed (a simulated setup that stops after its last
    device) registers with :meth:`add_close_callback`; every implementation's ``close()`` runs
    the callbacks once, after its own work, whether or not it raised.
    """

    info: DeviceInfo
    stats: LinkStats
    #: True when :meth:`stop` learns the last sequence number the device sent (the FPB1 STOP
    #: reply): a recorder ends a recording with stop() and counts what never came
    #: (:meth:`unreceived_at_stop`) as missing.
    stop_reports_last_seq = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        close = cls.__dict__.get("close")
        if close is None or getattr(close, "__isabstractmethod__", False):
            return

        @functools.wraps(close)
        def close_then_notify(self: Device) -> None:
            try:
                close(self)
            finally:
                self._run_close_callbacks()

        cls.close = close_then_notify  # type: ignore[method-assign]

    def add_close_callback(self, callback: Callable[[Device], None]) -> None:
        """Call ``callback(device)`` once, when this device is closed."""
        self.__dict__.setdefault("_close_callbacks", []).append(callback)

    def _run_close_callbacks(self) -> None:
        for callback in self.__dict__.pop("_close_callbacks", []):
            callback(self)

    @abc.abstractmethod
    def start(self) -> None:
        """Start streaming."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop streaming (samples in flight are still returned by read)."""

    @abc.abstractmethod
    def read(self, timeout: float = 0.1) -> list[Block]:
        """Return the Blocks received within ``timeout`` s (may be empty)."""

    @abc.abstractmethod
    def zero(self) -> None:
        """Zero (tare) the device with nothing on it."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the port; safe to call twice."""

    def pop_events(self) -> list[DeviceEvent]:
        """Return and forget the events reported since the last call: what the device appended
        to its ``_events`` list (a device that never reports events has none)."""
        out = self.__dict__.get("_events", [])
        self._events = []
        return out

    def unreceived_at_stop(self) -> int:
        """After :meth:`stop`: samples the device reported sending that no Block brought (0 when
        the protocol does not report its last sequence number, see
        :attr:`stop_reports_last_seq`)."""
        return 0

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
