"""Simulated setups: registry, options, ports, ground truth, lifetime."""

from __future__ import annotations

import os
import time

import pytest
from driver_helpers import wait_until
from forcelab.drivers.errors import DeviceError, DeviceNotFound
from forcelab.drivers.sim import SETUPS, register_setup, start_setup
from forcelab.drivers.sim.setups import parse_query


def test_treadmill_has_two_plates_one_per_belt():
    query = f"speed=3.4&seed=2&asymmetry=-0.1&mass=80&name=tm{os.getpid()}"
    with start_setup("treadmill", query) as s:
        assert len(s.simulators) == 2 and len(s.ports) == 2
        assert [sim.sides for sim in s.simulators] == [("left",), ("right",)]
        assert s.urls[0].endswith("?side=left") and s.urls[1].endswith("?side=right")
        assert all(os.path.islink(p) for p in s.ports)
        assert s.truth.params.speed_m_s == 3.4 and s.truth.params.body_mass_kg == 80
        assert s.truth.params.asymmetry == -0.1
        assert s.simulators[0].serial != s.simulators[1].serial
        assert s.simulators[0].drift_ppm != s.simulators[1].drift_ppm
        assert "treadmill" in s.describe()
    assert not any(os.path.lexists(p) for p in s.ports)
    s.stop()  # idempotent


def test_plate_has_both_feet_and_walk_defaults():
    with start_setup("plate", {"mode": "walk", "seed": 1}) as s:
        assert s.simulators[0].sides == ("left", "right")
        assert s.truth.params.mode == "walk" and s.truth.params.speed_m_s == 1.3
        assert "side=" not in s.urls[0]


def test_two_setups_at_once_get_distinct_ports():
    with start_setup("plate", {"seed": 1}) as a, start_setup("plate", {"seed": 1}) as b:
        assert a.ports[0] != b.ports[0]


def test_option_errors():
    with pytest.raises(DeviceError, match="unknown option"):
        start_setup("plate", {"sped": 3})
    with pytest.raises(DeviceError, match="noise"):
        start_setup("plate", {"noise": -1})
    with pytest.raises(DeviceError, match="integer"):
        start_setup("plate", {"seed": "x"})
    with pytest.raises(DeviceNotFound, match="choose one of"):
        start_setup("spaceship")
    with pytest.raises(DeviceError, match="needs a value"):
        parse_query("a=1&b")


def test_registered_factories_are_used():
    calls = []

    def factory(options):
        calls.append(options)
        return start_setup("plate", {"seed": 5})

    register_setup("test-custom", factory)
    try:
        with start_setup("test-custom", "x=1") as s:
            assert calls == [{"x": "1"}] and len(s.ports) == 1
    finally:
        SETUPS.pop("test-custom")


def test_devices_of_one_setup_share_the_model_time_axis_and_host_times():
    with start_setup("treadmill", {"seed": 3}) as s:
        left, right = s.simulators
        assert left._t0_mono == right._t0_mono
        assert abs(s.t0_host_s - (time.time() - left.model_time_s())) < 0.05
        wait_until(s.true_stances, 5.0, "the first true stance")
        st = s.true_stances()
        assert st and abs(st[0]["start_host_s"] - (s.t0_host_s + st[0]["start_s"])) < 0.01
