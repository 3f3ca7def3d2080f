"""forcelab reads its own CSV export back without options (issue 16, item 12): every stream
with its channels, units and side, also streams at different rates (per-stream time columns)."""

from __future__ import annotations

import numpy as np
from subprocesses import run_cli

from forcelab.interop import load_recording
from forcelab.interop.export_common import ExportSource, ExportTrial
from forcelab.interop.export_csv import export_csv
from forcelab.recording import Recording, Stream
from forcelab.sources import load_source
from forcelab.store import read_recording


def test_session_export_reads_back_whole(sessions, tmp_path):
    (path,) = export_csv(load_source(sessions["treadmill"], trial="tempo"), tmp_path)[:1]
    back = load_recording(path)
    rec = read_recording(sessions["treadmill"], trial="tempo")
    assert [s.name for s in back.streams] == [s.name for s in rec.streams]
    for a, b in zip(back.streams, rec.streams, strict=True):
        assert a.side == b.side and a.rate_hz == b.rate_hz and a.n_samples == b.n_samples
        assert abs(a.t0_s - b.t0_s) < 1e-9
        assert a.units == b.units
        for ch in b.channels:
            np.testing.assert_allclose(a.channels[ch], b.channels[ch], rtol=1e-9, atol=1e-12)
    r = run_cli("analyze", path)  # and the CLI needs no option either
    assert r.returncode == 0, r.stderr


def test_streams_at_different_rates_keep_their_own_time(tmp_path):
    t_plate = 2.0 + np.arange(3000) / 1000.0
    t_ins = 2.013 + np.arange(250) / 100.0
    plate = Stream("plate", 1000.0, {"fz": 800 + 100 * np.sin(t_plate),
                                     "cop_ml": 0.01 * np.cos(t_plate)},
                   None, 2.0, {"fz": "N", "cop_ml": "m"})
    insole = Stream("insole_left", 100.0, {"fz": 500 + 50 * np.sin(t_ins)}, "left", 2.013,
                    {"fz": "N"})
    rec = Recording(streams=[plate, insole], meta={})
    source = ExportSource(tmp_path / "x.h5", "session", {"id": "A"}, {},
                          [ExportTrial("t", rec, {"name": "t"})], stem="x")
    (path, _) = export_csv(source, tmp_path / "out")
    back = load_recording(path)
    p, i = back.streams
    assert (p.name, p.rate_hz, p.n_samples, p.side) == ("plate", 1000.0, 3000, None)
    assert (i.name, i.rate_hz, i.n_samples, i.side) == ("insole_left", 100.0, 250, "left")
    assert abs(i.t0_s - 2.013) < 1e-9 and abs(p.t0_s - 2.0) < 1e-9
    np.testing.assert_allclose(i.channels["fz"], insole.channels["fz"], rtol=1e-9)
    assert p.units == {"fz": "N", "cop_ml": "m"}


def test_insoles_keep_sensor_insole_through_csv(sessions, tmp_path):
    """Insole streams come back as insoles, so the analysis uses the insole thresholds and
    finds the same toe-offs as on the session itself."""
    (path, _) = export_csv(load_source(sessions["insoles"]), tmp_path)
    back = load_recording(path)
    assert [s.sensor for s in back.streams] == ["insole", "insole"]
    from forcelab.analysis import analyze_recording

    ends = [s["end_s"] for s in analyze_recording(back).stances]
    direct = [s["end_s"] for s in analyze_recording(read_recording(sessions["insoles"],
                                                                   trial="walk")).stances]
    assert len(ends) == len(direct) and np.allclose(ends, direct, atol=1e-6)
