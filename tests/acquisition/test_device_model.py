"""The recorder reads device kinds and channel roles, never protocol names: a device of a
protocol forcelab has never heard of, with its own column names, is named, weighed, recorded
and read back by what its DeviceInfo says it is."""

from __future__ import annotations

import time

import numpy as np
import pytest
from acquisition_helpers import recorded, wait_until
from forcelab.drivers.base import (
    KIND_DIY_PLATE,
    ROLE_COP_ML,
    ROLE_VERTICAL,
    Block,
    Channel,
    Device,
    DeviceInfo,
    LinkStats,
)

from forcelab.analysis.metrics import G_M_S2
from forcelab.store import open_session, read_recording

MASS_KG = 68.0


class StandingBoard(Device):
    """A load board of an unknown protocol ("XBOARD") with someone standing still on it; its
    columns are named ``load`` and ``centre``, and only their roles say what they measure."""

    def __init__(self, rate_hz: float = 500.0) -> None:
        self.info = DeviceInfo(
            "XBOARD", "board", "XB-1", "1", None, rate_hz,
            (Channel("load", "N", ROLE_VERTICAL), Channel("centre", "m", ROLE_COP_ML),
             Channel("temperature", "degC")),
            kind=KIND_DIY_PLATE,
        )
        self.stats = LinkStats()
        self.rate_hz = rate_hz
        self._rng = np.random.default_rng(5)
        self._t0: float | None = None
        self._seq = 0

    def start(self) -> None:
        self._t0 = time.time()

    def zero(self) -> None:
        """Nothing to zero on a simulated board."""

    def stop(self) -> None:
        self.close()

    def close(self) -> None:
        self._t0 = None

    def read(self, timeout: float = 0.1) -> list[Block]:
        """The samples due since the last read (as a real board streams them)."""
        time.sleep(min(timeout, 0.02))
        if self._t0 is None:
            return []
        n_due = int((time.time() - self._t0) * self.rate_hz)
        if n_due <= self._seq:
            return []
        seq = np.arange(self._seq, n_due)
        load = MASS_KG * G_M_S2 + self._rng.normal(0, 1.0, seq.size)
        samples = np.column_stack([load, np.full(seq.size, 0.01), np.full(seq.size, 21.0)])
        t_first = seq[0] / self.rate_hz
        self._seq = n_due
        return [Block(int(seq[0]), t_first, self._t0 + t_first, samples)]


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
