"""Session files for export/report/batch tests, recorded through the real SessionWriter.

The forces come from the simulators' gait model (forcelab.drivers.sim.gait), so the true
stances are known; the streams look like what the drivers deliver (FPB1 plate channels, INS1
insole channels) and go through the store exactly like a live recording.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from forcelab.drivers.base import Block, Channel, DeviceInfo
from forcelab.drivers.sim.gait import GaitModel, GaitParams

from forcelab.store import SessionWriter

T0_UNIX_S = 1_780_000_000.0  # 2026-05-28 UTC
DAY_S = 86400.0
FPB1_CHANNELS = (("fx", "N"), ("fy", "N"), ("fz", "N"), ("mx", "N*m"), ("my", "N*m"),
                 ("mz", "N*m"), ("cop_x", "m"), ("cop_y", "m"), ("tz", "N*m"))


def _plate_info(serial: str, side: str | None, rate_hz: float) -> DeviceInfo:
    return DeviceInfo("FPB1", "FPB1-600", serial, "1.0", side, rate_hz,
                      tuple(Channel(n, u) for n, u in FPB1_CHANNELS),
                      extra={"size_mm": [450, 800]})


def _insole_info(serial: str, side: str, rate_hz: float) -> DeviceInfo:
    chans = [("fz", "N"), ("cop_x", "1"), ("cop_y", "1")] + [(f"p{i:02d}", "kPa")
                                                             for i in range(1, 5)]
    return DeviceInfo("INS1", "INS1-42", serial, "1.0", side, rate_hz,
                      tuple(Channel(n, u) for n, u in chans))


def _plate_samples(sig: dict) -> np.ndarray:
    fz = sig["fz"]
    cop_x = sig.get("cop_x", sig.get("cop_ml"))
    cop_y = sig.get("cop_y", sig.get("cop_ap"))
    fx = sig.get("fx", sig.get("fml"))
    fy = sig.get("fy", sig.get("fap"))
    cx, cy = np.nan_to_num(cop_x), np.nan_to_num(cop_y)
    mx, my = cy * fz, -cx * fz
    mz = cx * fy - cy * fx + sig["tz"]
    tz = np.where(np.isnan(cop_x), np.nan, sig["tz"])
    return np.column_stack([fx, fy, fz, mx, my, mz, cop_x, cop_y, tz])


def make_session(
    path: str | Path,
    *,
    layout: str = "treadmill",
    athlete: dict | None = None,
    trials: tuple = (("run1", 6.0, 3.0),),
    asymmetry: float = -0.08,
    seed: int = 0,
    rate_hz: float = 250.0,
    day: int = 0,
    pause_s: float = 1.0,
    operator: str = "Jo Operator",
    notes: str = "first session after the break",
) -> dict:
    """Record a synthetic session file; returns the truth (model, trial intervals).

    layout: "treadmill" (two FPB1 belts, left/right), "plate" (one FPB1 plate under both feet)
    or "insoles" (two INS1 insoles at 100 Hz).
    """
    athlete = dict(athlete or {"id": "A-017", "name": "Alex Runner", "body_mass_kg": 68.0,
                               "body_mass_method": "entered"})
    speed = trials[0][2] if trials else 3.0
    model = GaitModel(GaitParams(speed_m_s=speed, asymmetry=asymmetry,
                                 body_mass_kg=athlete.get("body_mass_kg") or 70.0,
                                 start_s=0.3), seed=seed)
    if layout == "insoles":
        rate_hz = 100.0
    total_s = sum(d for _, d, _ in trials) + pause_s * (len(trials) + 1)
    n = int(round(total_s * rate_hz))
    t = np.arange(n) / rate_hz
    t0_unix = T0_UNIX_S + day * DAY_S
    streams: dict[str, tuple[DeviceInfo, np.ndarray]] = {}
    if layout == "treadmill":
        for side in ("left", "right"):
            f = model.foot(side, t)
            sig = {"fz": f["fz"], "fml": f["fml"], "fap": f["fap"], "tz": f["tz"],
                   "cop_ml": f["cop_ml"], "cop_ap": f["cop_ap"]}
            streams[side] = (_plate_info(f"SN-{side}", side, rate_hz), _plate_samples(sig))
    elif layout == "plate":
        streams["plate"] = (_plate_info("SN-plate", None, rate_hz),
                            _plate_samples(model.plate(t)))
    elif layout == "insoles":
        for side in ("left", "right"):
            f = model.foot(side, t)
            p = np.column_stack([f["fz"] / 40.0 * w for w in (0.4, 0.3, 0.2, 0.1)])
            streams[side] = (_insole_info(f"IN-{side}", side, rate_hz),
                             np.column_stack([f["fz"], f["cop_x"], f["cop_y"], p]))
    else:
        raise ValueError(layout)
    intervals = []
    with SessionWriter.create(path, athlete=athlete, operator=operator, notes=notes,
                              t0_unix_s=t0_unix, auto_flush=False, reserve_bytes=0) as w:
        for name, (info, _) in streams.items():
            w.add_stream(name, info)
        start = pause_s
        for name, dur, _spd in trials:
            intervals.append((name, start, start + dur))
            start += dur + pause_s
        chunk = int(rate_hz // 5)
        pending = list(intervals)
        for i0 in range(0, n, chunk):
            i1 = min(i0 + chunk, n)
            for name, (_info, samples) in streams.items():
                w.append(name, Block(seq=i0, t_device_s=t[i0], t_host_s=t0_unix + t[i0],
                                     samples=samples[i0:i1]))
        for (name, a, b), (_, _, spd) in zip(pending, trials, strict=True):
            w.start_trial(name, tags=("test",), speed_m_s=spd, shoe="trainer",
                          notes="felt heavy legs", t_s=a)
            w.stop_trial(t_s=b)
    return {"model": model, "trials": intervals, "rate_hz": rate_hz, "t0_unix_s": t0_unix,
            "streams": {k: v[1] for k, v in streams.items()}, "athlete": athlete}


