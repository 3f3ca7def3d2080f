"""Body weight from quiet standing, with a stillness check that rejects a moving athlete."""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from forcelab.acquisition.errors import AcquisitionError, NotStillError, TareRefusedError
from forcelab.acquisition.workers import DeviceWorker
from forcelab.analysis.metrics import G_M_S2
from forcelab.drivers.base import ROLE_VERTICAL
from forcelab.errors import InputError
from forcelab.recording import check_rate

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
