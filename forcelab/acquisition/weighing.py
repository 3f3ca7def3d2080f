"""Body weight from quiet standing, with a stillness check that rejects a moving athlete."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from forcelab.acquisition.errors import AcquisitionError, NotStillError, TareRefusedError
from forcelab.acquisition.status import SessionState, State
from forcelab.acquisition.workers import DeviceWorker
from forcelab.analysis.metrics import G_M_S2
from forcelab.drivers.base import ROLE_VERTICAL
from forcelab.errors import InputError
from forcelab.recording import check_body_mass, check_rate, checked_number

#: Stillness while weighing: largest standard deviation of the total vertical force, N. Quiet
#: standing sways a few N; shifting weight or bouncing gives tens to hundreds of N.
STILL_MAX_SD_N = 10.0
#: Stillness while weighing: largest max-minus-min of the total vertical force, N (catches a
#: single bounce or step).
STILL_MAX_RANGE_N = 60.0
#: Smallest mean force taken as someone standing on the sensors, N (10 kg).
MIN_WEIGHT_N = 98.0


@dataclass(frozen=True)
class BodyWeight:
    """The result of a quiet-standing body-weight measurement.

    Attributes
    ----------
    body_mass_kg : float
        Mean vertical force divided by standard gravity, kg.
    weight_n : float
        Mean total vertical force over the window, N.
    sd_n : float
        Standard deviation of the total vertical force over the window, N.
    range_n : float
        Max minus min of the total vertical force over the window, N.
    duration_s : float
        Length of the window, s.
    n_samples : int
        Number of samples used.
    source : str
        What was weighed on (stream names), for the session file.
    """

    body_mass_kg: float
    weight_n: float
    sd_n: float
    range_n: float
    duration_s: float
    n_samples: int
    source: str = ""

    @property
    def method(self) -> str:
        """How body mass was measured, in words for the session file."""
        where = f" on {self.source}" if self.source else ""
        return (
            f"weighed{where}: quiet standing {self.duration_s:.1f} s, "
            f"SD {self.sd_n:.1f} N, range {self.range_n:.1f} N"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict including ``method``."""
        d = asdict(self)
        d["method"] = self.method
        return d


def sway(total_fz_n: np.ndarray) -> tuple[float, float]:
    """Standard deviation and range (max − min) of a total vertical force, N (NaN ignored;
    NaN, NaN for no finite sample)."""
    fz = np.asarray(total_fz_n, dtype=np.float64).ravel()
    fz = fz[np.isfinite(fz)]
    if fz.size == 0:
        return float("nan"), float("nan")
    return float(fz.std()), float(fz.max() - fz.min())


def is_still(
    sd_n: float,
    range_n: float,
    max_sd_n: float = STILL_MAX_SD_N,
    max_range_n: float = STILL_MAX_RANGE_N,
) -> bool:
    """Whether a force with this sway (SD and range, N; see :func:`sway`) counts as standing
    still enough to be weighed: the one stillness criterion of forcelab (weighing and the
    console's "still" light)."""
    return bool(sd_n <= max_sd_n and range_n <= max_range_n)


def measure_body_weight(
    total_fz_n: np.ndarray,
    rate_hz: float,
    *,
    max_sd_n: float = STILL_MAX_SD_N,
    max_range_n: float = STILL_MAX_RANGE_N,
    min_weight_n: float = MIN_WEIGHT_N,
    max_missing_fraction: float = 0.05,
    source: str = "",
) -> BodyWeight:
    """Measure body weight from the total vertical force of an athlete standing still.

    Parameters
    ----------
    total_fz_n : ndarray, shape (n,)
        Total vertical force under the athlete, N (sum of plates or of both insoles), NaN where
        missing.
    rate_hz : float
        Sampling rate of ``total_fz_n``, Hz.
    max_sd_n : float
        Largest standard deviation of the force accepted as standing still, N
        (:data:`STILL_MAX_SD_N`).
    max_range_n : float
        Largest max-minus-min accepted over the window, N (:data:`STILL_MAX_RANGE_N`).
    min_weight_n : float
        Smallest mean force accepted as someone standing on the sensors, N
        (:data:`MIN_WEIGHT_N`).
    max_missing_fraction : float
        Largest fraction of NaN samples accepted.
    source : str
        What was weighed on, kept in the result.

    Returns
    -------
    BodyWeight

    Raises
    ------
    NotStillError
        If the athlete moved (SD or range too large), stood off the sensors, or data is missing.
    InputError
        If the parameters make no sense.
    """
    rate_hz = check_rate(rate_hz)
    for name, value in (
        ("max_sd_n", max_sd_n),
        ("max_range_n", max_range_n),
        ("min_weight_n", min_weight_n),
    ):
        if not np.isfinite(value) or value <= 0:
            raise InputError(f"{name} must be a positive number of N, got {value!r}")
    fz = np.asarray(total_fz_n, dtype=np.float64).ravel()
    duration_s = fz.size / rate_hz
    if fz.size < max(3, int(0.5 * rate_hz)):
        raise NotStillError(
            f"only {duration_s:.2f} s of force data to weigh on; stand still on the sensors "
            "for at least 0.5 s (longer is better) and try again"
        )
    missing = ~np.isfinite(fz)
    if missing.mean() > max_missing_fraction:
        raise NotStillError(
            f"{100 * missing.mean():.0f} % of the force samples are missing during weighing; "
            "check the devices and try again"
        )
    good = fz[~missing]
    weight_n = float(good.mean())
    sd_n, range_n = sway(good)
    if weight_n < min_weight_n:
        raise NotStillError(
            f"mean vertical force {round(weight_n):d} N is too low to be an athlete standing on "
            "the sensors; step on (after taring with nothing on them) and try again"
        )
    if not is_still(sd_n, range_n, max_sd_n, max_range_n):
        raise NotStillError(
            f"the athlete moved during weighing (force SD {sd_n:.1f} N, range {range_n:.0f} N; "
            f"limits {max_sd_n:.1f} N and {max_range_n:.0f} N); ask them to stand still and "
            "try again"
        )
    return BodyWeight(
        body_mass_kg=weight_n / G_M_S2,
        weight_n=weight_n,
        sd_n=sd_n,
        range_n=range_n,
        duration_s=duration_s,
        n_samples=int(good.size),
        source=source,
    )


def total_force_on_grid(
    series: list[tuple[np.ndarray, np.ndarray]], t_from_s: float, t_to_s: float, rate_hz: float
) -> np.ndarray:
    """Sum several vertical-force series (each (t_s, fz_n)) on one uniform time grid.

    Devices on independent clocks are mapped to the host time base by their drivers; this puts
    them on one grid (linear interpolation, NaN outside a series' span or across its gaps).

    Parameters
    ----------
    series : list of (ndarray, ndarray)
        Per stream: sample times (s, host time base) and vertical force (N).
    t_from_s, t_to_s : float
        The window, s.
    rate_hz : float
        Grid rate, Hz.

    Returns
    -------
    ndarray
        Total force on the grid, N.
    """
    rate_hz = check_rate(rate_hz)
    n = max(0, int(np.floor((t_to_s - t_from_s) * rate_hz)))
    grid = t_from_s + np.arange(n) / rate_hz
    total = np.zeros(n)
    for t, fz in series:
        t = np.asarray(t, dtype=np.float64)
        fz = np.asarray(fz, dtype=np.float64)
        if t.size < 2:
            total[:] = np.nan
            continue
        values = np.interp(grid, t, fz, left=np.nan, right=np.nan)
        # a grid point between two samples further apart than 3 periods lies in a gap
        period = np.median(np.diff(t))
        j = np.clip(np.searchsorted(t, grid), 1, t.size - 1)
        values[(t[j] - t[j - 1]) > 3 * period] = np.nan
        total += values
    return total


def zero_devices(workers: list[DeviceWorker], timeout_s: float) -> None:
    """Zero every device in its own acquisition thread and wait for all of them.

    Raises
    ------
    AcquisitionError
        If a device fails to zero or does not answer within ``timeout_s`` (s).
    """
    futures = [(w.stream, w.request(w.device.zero)) for w in workers]
    deadline = time.monotonic() + timeout_s
    for name, fut in futures:
        try:
            fut.result(timeout=max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            raise AcquisitionError(
                f"{name} did not finish zeroing within {timeout_s:.0f} s; check the "
                "device and try again"
            ) from None
        except Exception as exc:
            raise AcquisitionError(f"zeroing {name} failed: {exc}") from exc


def _recent_vertical_force(workers: list[DeviceWorker], t_from_s: float
                           ) -> list[tuple[str, np.ndarray]]:
    """Per stream with a vertical force: (stream, its finite samples since ``t_from_s``, N)."""
    out = []
    for w in workers:
        col = w.column(ROLE_VERTICAL)
        if col is None:
            continue
        _, d = w.ring.since(t_from_s)
        fz = d[:, col]
        out.append((w.stream, fz[np.isfinite(fz)]))
    return out


def vertical_force_ranges(workers: list[DeviceWorker], t_from_s: float) -> dict[str, float]:
    """Per stream with a vertical force, its range (max − min) since ``t_from_s`` (host s), N;
    NaN when the device sent no samples meanwhile."""
    return {
        stream: float(fz.max() - fz.min()) if fz.size else float("nan")
        for stream, fz in _recent_vertical_force(workers, t_from_s)
    }


def refuse_loaded_tare(workers: list[DeviceWorker], t_from_s: float, moving_range_n: float
                       ) -> None:
    """Raise :class:`TareRefusedError` when a stream's vertical force since ``t_from_s`` (host s)
    varies by more than ``moving_range_n`` (someone moves on it) or averages more than
    :data:`MIN_WEIGHT_N` (someone stands on it): a zero taken then would be wrong."""
    problems = []
    for stream, fz in _recent_vertical_force(workers, t_from_s):
        if not fz.size:
            continue
        if fz.max() - fz.min() > moving_range_n:
            problems.append(
                f"{stream} force varies by {fz.max() - fz.min():.0f} N (someone moves on it)"
            )
        elif abs(fz.mean()) > MIN_WEIGHT_N:
            problems.append(f"{stream} carries {fz.mean():.0f} N (someone stands on it)")
    if problems:
        raise TareRefusedError(
            "tare refused, the sensors are loaded: " + "; ".join(problems)
            + ". Ask the athlete to step off, wait until the force is flat, then tare again"
        )


def weigh_standing(
    workers: list[DeviceWorker], duration_s: float, **stillness: float
) -> BodyWeight:
    """Body weight from the summed vertical force of ``workers`` over the next ``duration_s`` s.

    ``stillness`` takes the limits of :func:`measure_body_weight`; raises NotStillError when the
    athlete moved.
    """
    t_from = time.time()
    time.sleep(duration_s)
    t_to = t_from + duration_s
    # wait (briefly) for samples up to t_to to arrive through the drivers
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        if all(_last_time(w) >= t_to - 1.0 / w.rate_hz for w in workers):
            break
        time.sleep(0.02)
    series = []
    for w in workers:
        t, d = w.ring.since(t_from - 2.0 / w.rate_hz)
        series.append((t, d[:, w.column(ROLE_VERTICAL)]))
    rate = max(w.rate_hz for w in workers)
    total = total_force_on_grid(series, t_from, t_to, rate)
    return measure_body_weight(
        total, rate, source=", ".join(w.stream for w in workers), **stillness
    )


def _last_time(w: DeviceWorker) -> float:
    t, _ = w.ring.latest(1)
    return float(t[0]) if t.size else -np.inf


#: Seconds before taring that count as "while zeroing" for the loaded-plate warning, and that
#: must show an unloaded, still sensor for a tare to be accepted.
TARE_LOOKBACK_S = 1.0


class StandingOperations(SessionState):
    """What the controller does with someone standing still on its devices, or with nobody
    on them: tare, weigh, the body mass the live figures and the next session file use.

    :class:`~forcelab.acquisition.controller.SessionController` is one of these; the
    connected devices' workers are ``_workers`` (set when connecting), ``_connect_time_s``
    the host time of the last connection.
    """

    _workers: list[DeviceWorker]
    _connect_time_s: float
    _body_weight: BodyWeight | None
    _body_mass_kg: float | None
    _body_mass_method: str | None

    def tare(self, timeout_s: float = 15.0, loaded_range_n: float = 100.0) -> dict[str, float]:
        """Zero every device (nothing may stand on them). connected/stopped -> taring -> back.

        Parameters
        ----------
        timeout_s : float
            Longest wait for all devices to finish zeroing, s.
        loaded_range_n : float
            A stream whose vertical force varied by more than this while it was zeroed or in the
            ``TARE_LOOKBACK_S`` before (N) had someone moving on it: a warning event says so
            (the zero is probably wrong).

        Returns
        -------
        dict
            Per stream, the range (max − min) of vertical force over that window, N (NaN when
            the device sent no samples meanwhile).

        Raises
        ------
        TareRefusedError
            Before zeroing anything, when a stream's force varied by more than
            ``loaded_range_n`` or averaged more than ``MIN_WEIGHT_N`` over the last
            ``TARE_LOOKBACK_S`` (someone moves or stands on it).
        AcquisitionError
            If a device fails to zero or does not answer within ``timeout_s``.
        """
        self._require("tare", State.CONNECTED, State.STOPPED)
        with self._op_lock:
            previous = self._require("tare", State.CONNECTED, State.STOPPED)
            # judge a whole lookback window, also right after connecting
            time.sleep(max(0.0, self._connect_time_s + TARE_LOOKBACK_S - time.time()))
            refuse_loaded_tare(self._workers, time.time() - TARE_LOOKBACK_S, loaded_range_n)
            self._set_state(State.TARING, "taring")
            t_start = time.time()
            try:
                zero_devices(self._workers, timeout_s)
            finally:
                self._restore_state(State.TARING, previous)
            ranges = vertical_force_ranges(self._workers, t_start - TARE_LOOKBACK_S)
            loaded = {k: v for k, v in ranges.items() if v > loaded_range_n}
            self.post_event("tared", "info", "all devices zeroed", data={"range_n": ranges})
            for name, value in loaded.items():
                self.post_event(
                    "tare_loaded",
                    "warning",
                    f"{name}: the force varied by {value:.0f} N while zeroing, so someone was on "
                    "it; the zero is probably wrong: step off and tare again",
                    name,
                    data={"range_n": value},
                )
            return ranges

    def weigh(
        self,
        duration_s: float = 3.0,
        streams: Iterable[str] | None = None,
        **stillness: Any,
    ) -> BodyWeight:
        """Measure body weight from quiet standing over the next ``duration_s`` s.

        Parameters
        ----------
        duration_s : float
            Length of the window, s (0.5–60).
        streams : iterable of str or None
            Streams whose vertical force is summed; default: the plates of every kind if any,
            else all streams (insoles).
        **stillness
            ``max_sd_n``, ``max_range_n``, ``min_weight_n`` of
            :func:`~forcelab.acquisition.weighing.measure_body_weight`.

        Returns
        -------
        BodyWeight
            Also kept as the athlete's body mass for the live figures and the next session file.

        Raises
        ------
        NotStillError
            If the athlete moved or is not on the sensors; nothing is changed then.
        """
        duration_s = checked_number(
            duration_s,
            lambda value: 0.5 <= value <= 60.0,
            "weighing duration must be a number of s, got {got}",
            "weighing duration must be 0.5 to 60 s, got {value!r}",
            error=AcquisitionError,
        )
        self._require("weigh", State.CONNECTED, State.STOPPED)
        with self._op_lock:
            previous = self._require("weigh", State.CONNECTED, State.STOPPED)
            workers = self._weigh_workers(streams)
            self._set_state(State.WEIGHING, "weighing")
            try:
                bw = weigh_standing(workers, duration_s, **stillness)
            finally:
                self._restore_state(State.WEIGHING, previous)
            with self._lock:
                self._body_weight = bw
                self._body_mass_kg = bw.body_mass_kg
                self._body_mass_method = bw.method
            self.post_event(
                "weighed",
                "info",
                f"body mass {bw.body_mass_kg:.1f} kg ({bw.method})",
                data=bw.to_dict(),
            )
            return bw

    def _weigh_workers(self, streams: Iterable[str] | None) -> list[DeviceWorker]:
        if streams is not None:
            workers = [self._worker(s) for s in streams]
        else:
            workers = [w for w in self._workers if w.device.info.sensor == "plate"]
            workers = workers or list(self._workers)
        for w in workers:
            if w.column(ROLE_VERTICAL) is None:
                raise AcquisitionError(f"stream {w.stream!r} has no vertical force to weigh on")
        if not workers:
            raise AcquisitionError("no stream to weigh on")
        return workers

    def set_body_mass(self, body_mass_kg: float | None, method: str = "entered") -> None:
        """Set the athlete's body mass (kg) by hand, or forget it with None."""
        mass = check_body_mass(body_mass_kg)
        with self._lock:
            self._body_mass_kg = mass
            self._body_mass_method = method if mass is not None else None
            if self._body_weight is not None and mass != self._body_weight.body_mass_kg:
                self._body_weight = None

    def _worker(self, stream: str) -> DeviceWorker:
        for w in self._workers:
            if w.stream == stream:
                return w
        raise AcquisitionError(
            f"no connected stream named {stream!r}; streams are {self.stream_names}"
        )
