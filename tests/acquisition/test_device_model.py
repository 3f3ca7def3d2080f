"""The recorder reads device kinds and channel roles, never protocol names: a device of a
protocol forcelab has never heard of, with its own column names, is named, weighed, recorded
and read back by what its DeviceInfo says it is."""

from __future__ import annotations

import numpy as np
import pytest
from acquisition_helpers import recorded, wait_until
from forcelab.drivers.base import (
    KIND_DIY_PLATE,
    ROLE_COP_ML,
    ROLE_VERTICAL,
    Channel,
    DeviceInfo,
)
from realtime_device import RealTimeDevice

from forcelab.analysis.metrics import G_M_S2
from forcelab.store import open_session, read_recording

MASS_KG = 68.0


class StandingBoard(RealTimeDevice):
    """A load board of an unknown protocol ("XBOARD") with someone standing still on it; its
    columns are named ``load`` and ``centre``, and only their roles say what they measure."""

    def __init__(self, rate_hz: float = 500.0) -> None:
        super().__init__(DeviceInfo(
            "XBOARD", "board", "XB-1", "1", None, rate_hz,
            (Channel("load", "N", ROLE_VERTICAL), Channel("centre", "m", ROLE_COP_ML),
             Channel("temperature", "degC")),
            kind=KIND_DIY_PLATE,
        ))
        self._rng = np.random.default_rng(5)

    def samples(self, t_s: np.ndarray) -> np.ndarray:
        load = MASS_KG * G_M_S2 + self._rng.normal(0, 1.0, t_s.size)
        return np.column_stack([load, np.full(t_s.size, 0.01), np.full(t_s.size, 21.0)])


def test_a_device_of_an_unknown_protocol_is_used_by_its_kind_and_roles(tmp_path, controller):
    names = controller.connect_devices([StandingBoard()])
    assert names == ["diyplate"]  # named by kind
    assert {d.kind for d in controller.snapshot().devices} == {"diyplate"}
    bw = controller.weigh(1.0)  # the plate kinds are weighed on, by the vertical-force role
    assert bw.body_mass_kg == pytest.approx(MASS_KG, abs=0.2)
    path = tmp_path / "board.h5"
    controller.start_recording(path, athlete={"name": "Bo"})
    wait_until(lambda: recorded(controller, "diyplate") >= 500, what="1 s recorded")
    summary = controller.stop_recording()
    with open_session(path) as f:
        info = f.stream_info("diyplate")
        assert info["kind"] == "diyplate"
        assert info["channel_roles"] == ["fz", "cop_ml", ""]
        n_stored = f.read_stream("diyplate").seq.size
        assert n_stored == summary["streams"]["diyplate"]["samples_recorded"]
    (stream,) = read_recording(path).streams
    # columns with a recording role are named by it; the others keep their names
    assert set(stream.channels) == {"fz", "cop_ml", "temperature"}
    assert stream.sensor == "plate"
    assert np.nanmean(stream.fz) == pytest.approx(MASS_KG * G_M_S2, abs=2.0)
