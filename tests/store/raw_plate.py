"""A plate streaming raw bridge counts, as the FPB1 driver turns them into samples (test helper).

The samples are computed exactly as ``forcelab.drivers.fpb1`` does for the raw data format:
counts times the calibration's units per count, then COP and free moment appended.
"""

from __future__ import annotations

import numpy as np
from forcelab.drivers.base import Block, Channel, DeviceInfo
from forcelab.drivers.protocols.fpb1 import loads_to_samples
from forcelab.drivers.sim.fpb1_sim import make_calibration

CHANNELS = [("fx", "N"), ("fy", "N"), ("fz", "N"), ("mx", "N*m"), ("my", "N*m"), ("mz", "N*m"),
            ("cop_x", "m"), ("cop_y", "m"), ("tz", "N*m")]
CAL = make_calibration(3)


def raw_plate_info(rate_hz: float = 1000.0, serial: str = "R1") -> DeviceInfo:
    calibration = {**CAL.to_dict(), "zero_offsets": None, "data_format": "raw"}
    return DeviceInfo(
        protocol="FPB1", model="FP-600", serial=serial, firmware="2.1", side=None,
        rate_hz=rate_hz, channels=tuple(Channel(n, u) for n, u in CHANNELS),
        calibration=calibration,
    )


def raw_counts(seq: np.ndarray) -> np.ndarray:
    """Deterministic 24-bit counts (n, 6) of each sequence number: stances plus noise."""
    s = np.asarray(seq, dtype=np.int64)[:, None]
    stance = np.maximum(np.sin(s * (2 * np.pi / 750.0)), 0.0) * 3.0e5
    noise = (s * 7919 + np.arange(6)[None, :] * 104729) % 41 - 20
    return (stance * np.array([0.05, 0.2, 1.0, 0.1, 0.1, 0.02]) + noise).astype(np.int32)


def raw_samples(seq: np.ndarray) -> np.ndarray:
    """float64 samples (n, 9) of each sequence number, as the driver delivers them."""
    k_t = (CAL.matrix * CAL.mvv_per_count[None, :]).T.copy()
    loads = raw_counts(seq) @ k_t
    return loads_to_samples(loads, CAL.origin_m)


def raw_block(seq: int, n: int, rate_hz: float, t0_unix_s: float) -> Block:
    s = np.arange(seq, seq + n)
    return Block(seq=seq, t_device_s=seq / rate_hz, t_host_s=t0_unix_s + seq / rate_hz,
                 samples=raw_samples(s))
