"""Long trials in C3D (issue 16, item 1): a 70 s trial at 1 kHz is written as lab systems write
it (several analog samples per frame, at most 32,767 frames, the long-file parameters) and reads
back whole in ezc3d and in forcelab; FORCELAB:T0_S keeps every digit."""

from __future__ import annotations

import ezc3d
import numpy as np
import pytest

from forcelab.interop import load_recording
from forcelab.interop.export_c3d import MAX_FRAMES, build_c3d
from forcelab.interop.export_common import ExportTrial
from forcelab.recording import Recording, Stream

RATE_HZ = 1000.0
T0_S = 3723.123456789012  # an hour into the session: float32 would keep ~0.2 ms of it


def _plate_trial(duration_s: float) -> ExportTrial:
    n = int(duration_s * RATE_HZ)
    t = np.arange(n) / RATE_HZ
    phase = (t % 0.7) / 0.7
    fz = np.where(phase < 0.4, 1500.0 * np.sin(np.pi * phase / 0.4), 0.0) + 0.25 * np.sin(t)
    channels = {
        "fz": fz,
        "fap": 0.1 * fz * np.cos(2 * np.pi * phase),
        "fml": 0.03 * fz,
        "cop_ml": np.full(n, 0.05),
        "cop_ap": -0.1 + 0.2 * phase,
        "tz": 0.002 * fz,
    }
    units = {"fz": "N", "fap": "N", "fml": "N", "cop_ml": "m", "cop_ap": "m", "tz": "N*m"}
    stream = Stream(name="plate", rate_hz=RATE_HZ, channels=channels, side=None, t0_s=T0_S,
                    units=units)
    return ExportTrial("long run", Recording(streams=[stream], body_mass_kg=70.0, meta={}))


@pytest.mark.parametrize("duration_s", [70.0, 200.0])
def test_long_trial_round_trips_in_ezc3d_and_forcelab(tmp_path, duration_s):
    trial = _plate_trial(duration_s)
    n = int(duration_s * RATE_HZ)
    path = tmp_path / "long.c3d"
    build_c3d(trial).write(str(path))

    c = ezc3d.c3d(str(path), extract_forceplat_data=True)
    p = c["parameters"]
    frames = int(p["POINT"]["FRAMES"]["value"][0])
    per_frame = int(round(RATE_HZ / p["POINT"]["RATE"]["value"][0]))
    assert 0 < frames <= MAX_FRAMES and per_frame >= 5  # at most 200 frames/s
    assert frames * per_frame >= n > (frames - 1) * per_frame
    assert p["POINT"]["LONG_FRAMES"]["value"][0] == frames
    assert list(p["TRIAL"]["ACTUAL_END_FIELD"]["value"]) == [frames, 0]
    assert c["header"]["points"]["last_frame"] == frames - 1
    fz_ezc3d = -c["data"]["platform"][0]["force"][2]
    np.testing.assert_allclose(fz_ezc3d[:n], trial.recording.streams[0].channels["fz"],
                               atol=1e-3)
    assert float(p["FORCELAB"]["T0_S"]["value"][0]) == T0_S

    rec = load_recording(path)
    (s,) = rec.streams
    assert s.n_samples == n and s.rate_hz == RATE_HZ
    assert s.t0_s == T0_S
    np.testing.assert_allclose(s.fz, trial.recording.streams[0].channels["fz"], atol=1e-3)
