"""Helpers of the session-store tests: device descriptions and deterministic blocks."""

from __future__ import annotations

import numpy as np
from forcelab.drivers import base as dev
from forcelab.drivers.base import Block, Channel, DeviceInfo

PLATE_CHANNELS = [("fx", "N", dev.ROLE_FORCE_ML), ("fy", "N", dev.ROLE_FORCE_AP),
                  ("fz", "N", dev.ROLE_VERTICAL), ("mx", "N*m", dev.ROLE_MOMENT_X),
                  ("my", "N*m", dev.ROLE_MOMENT_Y), ("mz", "N*m", dev.ROLE_MOMENT_Z),
                  ("cop_x", "m", dev.ROLE_COP_ML), ("cop_y", "m", dev.ROLE_COP_AP),
                  ("tz", "N*m", dev.ROLE_FREE_MOMENT)]


def plate_info(serial: str = "P1", rate_hz: float = 1000.0, side: str | None = None) -> DeviceInfo:
    return DeviceInfo(
        protocol="FPB1", model="FP-600", serial=serial, firmware="2.1", side=side,
        rate_hz=rate_hz, channels=tuple(Channel(*c) for c in PLATE_CHANNELS),
        calibration={"matrix": np.eye(6).tolist(), "offsets": [0.0] * 6},
        extra={"plate_size_m": [0.6, 0.4]},
    )


def insole_info(side: str, rate_hz: float = 100.0) -> DeviceInfo:
    chans = [("fz", "N", dev.ROLE_VERTICAL), ("cop_x", "1", dev.ROLE_COP_ML),
             ("cop_y", "1", dev.ROLE_COP_AP)]
    chans += [(f"p{i:02d}", "kPa", dev.ROLE_PRESSURE) for i in range(1, 17)]
    chans += [(f"acc_{a}", "g", dev.ROLE_ACCELERATION) for a in "xyz"]
    chans += [(f"gyr_{a}", "deg/s", dev.ROLE_ANGULAR_RATE) for a in "xyz"]
    layout = [{"x_mm": float(i), "y_mm": float(2 * i), "area_mm2": 80.0, "region": "heel"}
              for i in range(16)]
    return DeviceInfo(
        protocol="INS1", model="INS-16", serial=f"I-{side}", firmware="1.0", side=side,
        rate_hz=rate_hz, channels=tuple(Channel(*c) for c in chans), layout=layout,
        kind=dev.KIND_INSOLE,
    )


def csv4_info() -> DeviceInfo:
    chans = [(f"c{i}", "N", dev.ROLE_CELL) for i in range(4)]
    chans += [("fz", "N", dev.ROLE_VERTICAL), ("cop_x", "m", dev.ROLE_COP_ML),
              ("cop_y", "m", dev.ROLE_COP_AP)]
    return DeviceInfo(protocol="CSV4", model="DIY", serial="D1", firmware="0.3", side=None,
                      rate_hz=200.0, channels=tuple(Channel(*c) for c in chans),
                      kind=dev.KIND_DIY_PLATE)


def values(seq: np.ndarray, n_channels: int) -> np.ndarray:
    """Deterministic, poorly compressible sample values of each sequence number (float32-exact
    enough to compare with a tolerance)."""
    seq = np.asarray(seq, dtype=np.float64)[:, None]
    return (np.sin(seq * 0.37 + np.arange(n_channels)[None, :]) * 1000.0).astype(np.float32)


def make_block(seq: int, n: int, n_channels: int, rate_hz: float, t0_unix_s: float,
               gap_before: int = 0, status: int = 0) -> Block:
    s = np.arange(seq, seq + n)
    return Block(seq=seq, t_device_s=seq / rate_hz, t_host_s=t0_unix_s + seq / rate_hz,
                 samples=values(s, n_channels), status=status, gap_before=gap_before)
