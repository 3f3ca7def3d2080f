"""A stance cut by a gap keeps the C3D event that was measured (issue 16, item 13): the foot
strike before an unplug is in EVENT, the edge of the gap is not."""

from __future__ import annotations

import ezc3d
import numpy as np

from forcelab.interop.export_c3d import build_c3d
from forcelab.interop.export_common import ExportTrial
from forcelab.recording import Recording, Stream


def test_foot_strike_before_a_gap_is_an_event(tmp_path):
    t = np.arange(6000) / 1000.0
    phase = (t % 0.6) / 0.6
    fz = np.where(phase < 0.5, 1300.0 * np.sin(np.pi * phase / 0.5), 0.0) + 5.0
    fz[2500:2800] = np.nan  # unplugged 2.5-2.8 s, inside the stance that starts at 2.4 s
    trial = ExportTrial("t", Recording(streams=[Stream("plate", 1000.0, {"fz": fz}, "left",
                                                       0.0, {"fz": "N"})], meta={}))
    stances = trial.stances()
    cut = [s for s in stances if s["reason"] == "gap"]
    assert len(cut) == 1 and abs(cut[0]["start_s"] - 2.4) < 0.01
    path = tmp_path / "gap.c3d"
    build_c3d(trial, stances).write(str(path))
    ev = ezc3d.c3d(str(path))["parameters"]["EVENT"]
    times = np.asarray(ev["TIMES"]["value"])
    seconds = times[0] * 60.0 + times[1]
    labels = list(ev["LABELS"]["value"])
    strikes = seconds[[lab == "Foot Strike" for lab in labels]]
    offs = seconds[[lab == "Foot Off" for lab in labels]]
    assert np.any(np.abs(strikes - cut[0]["start_s"]) < 1e-4)  # measured: kept
    assert not np.any(np.abs(offs - cut[0]["end_s"]) < 1e-4)  # the gap's edge: not an event
    valid = [s for s in stances if s["valid"]]
    assert len(strikes) == len(valid) + 1
