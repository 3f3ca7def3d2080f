"""Quiet standing before the run (``stand=S``): the gait model, the setups and weighing."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from forcelab.drivers import open_devices
from forcelab.drivers.errors import DeviceError
from forcelab.drivers.sim.gait import STAND_RAMP_S, GaitModel, GaitParams
from forcelab.drivers.sim.setups import start_setup
from forcelab.drivers.units import STANDARD_GRAVITY_M_S2

from forcelab.acquisition.weighing import measure_body_weight, total_force_on_grid


def test_standing_model_splits_weight_between_feet_and_sways_a_few_newtons():
    model = GaitModel(GaitParams(stand_s=4.0, body_mass_kg=72.0, start_s=0.3), seed=9)
    st = model.standing()
    t = np.arange(0.0, 6.0, 1e-3)
    left, right = model.foot("left", t), model.foot("right", t)
    quiet = (t >= st["quiet_start_s"]) & (t < st["quiet_end_s"])
    total = left["fz"][quiet] + right["fz"][quiet]
    bw = 72.0 * STANDARD_GRAVITY_M_S2
    assert abs(total.mean() - bw) < 0.002 * bw
    assert 1.0 < total.std() < 5.0  # quiet standing: total force SD of a few N
    share = left["fz"][quiet] / total
    assert 0.4 < share.min() and share.max() < 0.6 and share.std() > 0.005
    # nobody on the sensors before standing; both feet off between step-off and the first stance
    assert not np.any(left["fz"][t < 0.3]) and not np.any(right["fz"][t < 0.3])
    first = model.stances()[0]
    assert first.start_s >= st["end_s"] + 0.1 and first.side == "left"
    gap = (t >= st["end_s"]) & (t < first.start_s)
    assert gap.any() and not np.any(left["fz"][gap] + right["fz"][gap])
    # feet apart (one plate under both: COP between them), COP in mm of sway
    assert np.all(left["cop_ml"][quiet] < -0.04) and np.all(right["cop_ml"][quiet] > 0.04)
    assert np.ptp(left["cop_ap"][quiet]) < 0.02
    # the stances after standing are the run's usual stances, shifted by the standing
    plain = GaitModel(GaitParams(body_mass_kg=72.0, start_s=0.3), seed=9).stances(0.0, 10.0)
    shift = model.params.run_start_s - 0.3
    shifted = model.stances(0.0, 10.0 + shift)
    assert [round(s.start_s - shift, 9) for s in shifted] == [round(s.start_s, 9) for s in plain]
    assert [s.midstance_peak_n for s in shifted] == [s.midstance_peak_n for s in plain]


def test_standing_is_off_by_default_and_bad_values_are_refused():
    assert GaitModel(GaitParams(), seed=1).standing() is None
    for bad in (-1.0, 2 * STAND_RAMP_S, float("nan")):
        with pytest.raises(ValueError, match="stand"):
            GaitParams(stand_s=bad)
    with pytest.raises(DeviceError, match="stand"):
        start_setup("treadmill", {"stand": "0.1"})
    with pytest.raises(DeviceError, match="not a number"):
        start_setup("plate", {"stand": "long"})


def _weigh(devices, standing) -> float:
    """Read the devices through the quiet standing; body weight (N) from the total Fz."""
    series: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {id(d): [] for d in devices}
    for d in devices:
        d.start()
    deadline = time.time() + 30.0
    t_end = standing["quiet_end_host_s"]
    done = set()
    while len(done) < len(devices) and time.time() < deadline:
        for d in devices:
            ch = [c.name for c in d.info.channels].index("fz")
            for b in d.read(0.1):
                t = b.t_host_s + np.arange(b.n) / d.info.rate_hz
                series[id(d)].append((t, b.samples[:, ch]))
                if t[-1] >= t_end:
                    done.add(id(d))
    assert len(done) == len(devices), "devices did not stream through the standing"
    joined = [(np.concatenate([t for t, _ in s]), np.concatenate([f for _, f in s]))
              for s in series.values()]
    # weigh on the quiet part the recording covers (opening takes a moment of the standing)
    t_from = max(standing["quiet_start_host_s"], max(t[0] for t, _ in joined)) + 0.05
    t_to = t_end - 0.05
    assert t_to - t_from > 1.0
    rate = min(d.info.rate_hz for d in devices)
    total = total_force_on_grid(joined, t_from, t_to, rate)
    return measure_body_weight(total, rate, source="sim").weight_n


@pytest.mark.parametrize("url", [
    "sim:treadmill?rate=500&mass=83&seed=4",
    "sim:plate?rate=500&mass=61&seed=5",
    "sim:insoles?rate=100&mass=74&seed=6",
    "sim:diy?mass=68&seed=7&calibrated=1",  # an uncalibrated DIY board is off by its cells
])
def test_standing_weighs_the_simulated_mass(url):
    devices = open_devices(f"{url}&stand=3.0&start=2.5&name=stand{os.getpid()}")
    try:
        setup = devices[0].sim_setup
        standing = setup.standing()
        # the technician zeroes the empty sensors, then the athlete steps on
        for d in devices:
            d.zero(250) if d.info.protocol == "FPB1" else d.zero()
        assert time.time() < standing["start_host_s"], "zeroing ran into the standing"
        assert standing["quiet_end_host_s"] - standing["quiet_start_host_s"] == pytest.approx(
            3.0 - 2 * STAND_RAMP_S)
        weight_n = _weigh(devices, standing)
    finally:
        for d in devices:
            d.close()
    mass_kg = standing["body_mass_kg"]
    assert abs(weight_n / STANDARD_GRAVITY_M_S2 - mass_kg) <= 0.005 * mass_kg
    # the true stances of the run begin after the standing
    truth = setup.true_stances(standing["end_host_s"] + 2.0)
    assert truth and truth[0]["start_host_s"] > standing["end_host_s"]
