"""Body weight from quiet standing; a moving athlete is rejected with a clear message."""

import numpy as np
import pytest

from forcelab.acquisition import NotStillError, measure_body_weight, total_force_on_grid
from forcelab.acquisition.weighing import STILL_MAX_RANGE_N, STILL_MAX_SD_N, is_still, sway
from forcelab.errors import InputError


def _standing(mass_kg, seconds, rate_hz, sway_sd_n, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * rate_hz)
    t = np.arange(n) / rate_hz
    sway = sway_sd_n * np.sqrt(2) * np.sin(2 * np.pi * 0.3 * t)  # slow postural sway
    return mass_kg * 9.80665 + sway + rng.normal(0, 0.5, n)


def test_quiet_standing_gives_the_mass():
    bw = measure_body_weight(_standing(72.5, 3, 1000, 3.0), 1000, source="plate_left")
    assert bw.body_mass_kg == pytest.approx(72.5, abs=0.1)
    assert bw.sd_n < 5
    assert bw.duration_s == pytest.approx(3.0)
    assert "plate_left" in bw.method and "SD" in bw.method
    assert bw.to_dict()["method"] == bw.method


@pytest.mark.parametrize(
    "movement",
    ["bounce", "walking", "shift"],
)
def test_moving_athlete_is_rejected(movement):
    rate = 500
    fz = _standing(70, 3, rate, 2.0)
    t = np.arange(fz.size) / rate
    if movement == "bounce":  # small knee bounce at 1 Hz, 40 N
        fz = fz + 40 * np.sin(2 * np.pi * 1.0 * t)
    elif movement == "walking":  # stepping on and off one plate
        fz = fz * (np.sin(2 * np.pi * 0.9 * t) > 0)
    else:  # one quick weight shift onto the other plate for 0.3 s
        fz[600:750] -= 150
    with pytest.raises(NotStillError, match="moved"):
        measure_body_weight(fz, rate)


def test_nobody_on_the_plate_or_missing_data_or_too_short():
    with pytest.raises(NotStillError, match="too low"):
        measure_body_weight(np.random.default_rng(1).normal(0, 1, 3000), 1000)
    fz = _standing(70, 3, 1000, 2)
    fz[::5] = np.nan
    with pytest.raises(NotStillError, match="missing"):
        measure_body_weight(fz, 1000)
    with pytest.raises(NotStillError, match="at least 0.5 s"):
        measure_body_weight(_standing(70, 0.2, 1000, 2), 1000)


def test_nonsense_parameters():
    fz = _standing(70, 3, 1000, 2)
    with pytest.raises(InputError):
        measure_body_weight(fz, -5)
    with pytest.raises(InputError):
        measure_body_weight(fz, 1000, max_sd_n=0)


def test_total_force_sums_streams_on_independent_clocks():
    # two insoles at 100 Hz with offset sample instants and one sample gap
    t_left = 1000.0 + np.arange(300) / 100.0
    t_right = 1000.0037 + np.arange(300) / 100.0
    t_right = np.delete(t_right, np.arange(100, 140))  # 0.4 s gap
    left = np.full(t_left.size, 400.0)
    right = np.full(t_right.size, 300.0)
    total = total_force_on_grid([(t_left, left), (t_right, right)], 1000.5, 2.5 + 1000, 50)
    assert total.size == 100
    assert np.isnan(total).sum() > 0  # the gap is not invented
    good = total[np.isfinite(total)]
    np.testing.assert_allclose(good, 700.0)


@pytest.mark.parametrize("sway_sd_n", [2.0, 6.0, 9.0, 12.0, 20.0])
def test_one_stillness_criterion_for_weighing_and_the_still_light(sway_sd_n):
    """``is_still(*sway(force))`` is exactly what weighing accepts (the console light reads it)."""
    force = _standing(70.0, 3, 500, sway_sd_n, seed=3)
    sd_n, range_n = sway(force)
    assert sd_n == pytest.approx(np.std(force)) and range_n == pytest.approx(np.ptp(force))
    still = is_still(sd_n, range_n)
    assert still == (sd_n <= STILL_MAX_SD_N and range_n <= STILL_MAX_RANGE_N)
    if still:
        assert measure_body_weight(force, 500).sd_n == pytest.approx(sd_n)
    else:
        with pytest.raises(NotStillError):
            measure_body_weight(force, 500)
