"""CSV export: values come back equal, and spreadsheet formulas are neutralised."""

from __future__ import annotations

import csv

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from forcelab.interop.export_common import ExportTrial
from forcelab.interop.export_csv import (
    FORMULA_STARTS,
    data_text,
    export_csv,
    neutralize,
    read_data_csv,
)
from forcelab.recording import Recording, Stream
from forcelab.sources import load_source
from forcelab.store import read_recording, write_recording


def _equal(got, want):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = np.isfinite(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-9, atol=1e-12)


def test_treadmill_round_trip(sessions, tmp_path):
    source = load_source(sessions["treadmill"])
    paths = export_csv(source, tmp_path)
    assert [p.name for p in paths] == [
        "alex_treadmill_easy_run.csv", "alex_treadmill_easy_run_stances.csv",
        "alex_treadmill_tempo.csv", "alex_treadmill_tempo_stances.csv"]
    for trial, data_path in zip(source.trials, paths[::2], strict=True):
        header = data_path.read_text().splitlines()[0].split(",")
        assert header[0] == "time [s]" and "left.fz [N]" in header and "right.cop_ml [m]" in header
        back = read_data_csv(data_path)
        rec = read_recording(sessions["treadmill"], trial=trial.name)
        for s in rec.streams:
            for ch, values in s.channels.items():
                t, v = back[f"{s.name}.{ch}"]
                _equal(v, values)
                np.testing.assert_allclose(t, s.time_s(), atol=1e-9)


def test_stance_table_has_every_stance_and_metric(sessions, tmp_path):
    source = load_source(sessions["plate"])
    _, stance_path = export_csv(source, tmp_path)
    with stance_path.open() as fh:
        rows = list(csv.DictReader(fh))
    stances = source.trials[0].analysis().stances
    assert len(rows) == len(stances)
    for row, s in zip(rows, stances, strict=True):
        assert row["athlete_id"] == "A-017" and row["trial"] == "run1"
        assert row["side"] == (s["side"] or "")
        assert abs(float(row["start_s"]) - s["start_s"]) <= 1e-9
        if s["midstance_peak_n"] is not None:
            assert abs(float(row["midstance_peak_n"]) - s["midstance_peak_n"]) <= 1e-6 * abs(
                s["midstance_peak_n"])
        # negative numbers are numbers, not formulas: never prefixed
        assert not row["braking_impulse_ns"].startswith("'")


def test_streams_with_different_rates_keep_their_own_time(tmp_path):
    a = Stream("plate", 200.0, {"fz": np.linspace(0, 10, 400)}, t0_s=1.0)
    b = Stream("ins", 50.0, {"fz": np.arange(60.0), "p01": np.full(60, np.nan)}, side="left",
               t0_s=1.013, units={"p01": "kPa"})
    path = tmp_path / "mixed.csv"
    path.write_text(data_text(ExportTrial("t", Recording([a, b]))))
    header = path.read_text().splitlines()[0]
    assert header == ("plate.time [s],plate.fz [N],ins.time [s],ins.fz [N],ins.p01 [kPa]")
    back = read_data_csv(path)
    t, v = back["ins.fz"]
    np.testing.assert_allclose(t, b.time_s(), atol=1e-9)
    np.testing.assert_array_equal(v, np.arange(60.0))
    assert back["ins.p01"][1].size == 60 and np.all(np.isnan(back["ins.p01"][1]))
    t, v = back["plate.fz"]
    assert t.size == 400


def test_formula_cells_are_neutralised_in_files(tmp_path):
    rec = Recording([Stream("=cmd|' .C calc'!A0", 100.0, {"fz": np.zeros(300)}, side=None)],
                    body_mass_kg=70)
    src = tmp_path / "evil.h5"
    write_recording(rec, src, athlete={"id": "=HYPERLINK(\"http://x\")", "name": "@SUM(1)"},
                    trial="+trial")
    paths = export_csv(load_source(src), tmp_path / "out")
    text = "\n".join(p.read_text() for p in paths)
    for line in text.splitlines():
        for cell in next(csv.reader([line])):
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            if cell.startswith("-"):
                float(cell)  # only numbers may start with a minus
    assert "'=cmd" in text


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=20))
def test_neutralize(text):
    out = neutralize(text)
    if text.startswith(FORMULA_STARTS):
        assert out == "'" + text
    else:
        assert out == text


def test_forcelabs_own_table_reader_reads_the_export(sessions, tmp_path):
    """The delimited-table reader of forcelab.interop reads the export with plain options."""
    from forcelab.interop import load_recording

    data_path, _ = export_csv(load_source(sessions["treadmill"], trial="tempo"), tmp_path)
    back = load_recording(data_path, time_column="time [s]",
                          map={"left": "left.fz [N]", "right": "right.fz [N]"})
    orig = read_recording(sessions["treadmill"], trial="tempo")
    for side in ("left", "right"):
        b, o = back.stream(side), orig.stream(side)
        assert b.rate_hz == o.rate_hz and abs(b.t0_s - o.t0_s) < 1e-9
        np.testing.assert_allclose(b.fz, o.fz, rtol=1e-9, atol=1e-9)


def test_long_trials_are_written_in_chunks(monkeypatch, tmp_path):
    import forcelab.interop.export_common as common
    import forcelab.interop.export_csv as mod

    monkeypatch.setattr(common, "CHUNK_ROWS", 7)
    fz = np.arange(100.0)
    fz[[0, 6, 7, 99]] = np.nan
    trial = ExportTrial("t", Recording([Stream("p", 10.0, {"fz": fz})]))
    pieces = list(mod.data_chunks(trial))
    assert len(pieces) == 1 + 15  # header + ceil(100 / 7)
    path = tmp_path / "c.csv"
    common.write_atomic_text(path, mod.data_chunks(trial))
    t, v = read_data_csv(path)["p.fz"]
    _equal(v, fz)
    assert path.read_text() == data_text(trial)
