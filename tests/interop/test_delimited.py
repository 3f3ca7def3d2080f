"""Delimited tables: header/headerless, separators, time columns, side maps, COP, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from interop_signals import alternating_cop_mm, stance_train

from forcelab.errors import FileFormatError, InputError
from forcelab.interop import load_recording
from forcelab.interop.read_delimited import read_table


def write_table(path, columns: dict, delimiter=",", header=True, fmt="{:.10g}", units=None):
    names = list(columns)
    n = len(next(iter(columns.values())))
    lines = []
    if header:
        lines.append(delimiter.join(names))
    if units:
        lines.append(delimiter.join(units))
    for i in range(n):
        cells = []
        for name in names:
            v = columns[name][i]
            cells.append("" if isinstance(v, float) and np.isnan(v) else fmt.format(v))
        lines.append(delimiter.join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("delimiter", [",", "\t", ";", " ", "  "])
def test_separators_and_header(tmp_path, delimiter):
    fz = stance_train(500.0)
    t = np.arange(fz.size) / 500.0
    path = write_table(tmp_path / "run.txt", {"time": t, "Fz": fz}, delimiter=delimiter)
    rec = load_recording(path)
    (s,) = rec.streams
    assert s.name == "plate" and s.side is None
    assert s.rate_hz == 500.0
    np.testing.assert_allclose(s.fz, fz, rtol=1e-5, atol=1e-3)
    assert rec.meta["time"]["column"] == "time"
    assert rec.meta["vertical"] == {"plate": "Fz"}


def test_headerless_columns_are_numbered_from_one(tmp_path):
    fz = stance_train(200.0)
    other = np.full(fz.size, 3.0)
    path = write_table(tmp_path / "h.csv", {"a": other, "b": fz}, header=False)
    assert read_table(path).names == ["1", "2"]
    rec = load_recording(path, rate_hz=200, vertical="2")
    np.testing.assert_allclose(rec.streams[0].fz, fz, atol=1e-3)
    assert rec.streams[0].t0_s == 0.0
    with pytest.raises(InputError, match="no time column: add `rate_hz`"):
        load_recording(path, vertical="2")
    with pytest.raises(InputError, match="no such column"):
        load_recording(path, rate_hz=200, vertical="3")


def test_units_row_and_comments(tmp_path):
    fz = stance_train(100.0, n_stances=2)
    text = "# exported by a lab system\n% another comment\ntime,Fz,COP\ns,N,mm\n"
    text += "".join(f"{i / 100.0},{f},{1100.0}\n" for i, f in enumerate(fz))
    path = tmp_path / "u.csv"
    path.write_text(text)
    table = read_table(path)
    assert table.units == ["s", "N", "mm"]
    assert table.first_line == 5
    rec = load_recording(path, vertical="Fz", cop_ml="COP")
    np.testing.assert_allclose(rec.streams[0].channels["cop_ml"], 1.1)
    assert rec.meta["cop_ml"]["unit"] == "mm (unit)"


def test_fukuchi_style_frames_need_rate_and_split_by_cop(tmp_path):
    fz = stance_train(300.0, n_stances=6)
    frames = np.arange(1, fz.size + 1)
    cop = np.nan_to_num(alternating_cop_mm(fz), nan=0.0)
    path = write_table(tmp_path / "RBDS.txt", {"Time": frames, "Fx": fz * 0.1, "Fy": fz,
                                               "Fz": fz * -0.05, "COPz": cop}, delimiter="\t")
    rec = load_recording(path, rate_hz=300, time_column="Time", time_unit="frame",
                         vertical="Fy", cop_ml="COPz", body_mass_kg=62)
    (s,) = rec.streams
    assert s.rate_hz == 300.0 and s.t0_s == 0.0 and s.n_samples == fz.size
    np.testing.assert_allclose(s.fz, fz, atol=1e-3)
    assert s.units["cop_ml"] == "m"
    stance_cop = s.channels["cop_ml"][fz > 1]
    assert set(np.round(stance_cop, 3)) == {1.05, 1.2}
    assert rec.body_mass_kg == 62.0
    # frames read as seconds contradict --rate: clear hint
    with pytest.raises(InputError, match="add `time_unit` frame"):
        load_recording(path, rate_hz=300, time_column="Time", vertical="Fy")
    # frames without a rate
    with pytest.raises(InputError, match="needs the sampling rate"):
        load_recording(path, time_column="Time", time_unit="frame", vertical="Fy")
    # Fx, Fy and Fz all present: the vertical axis must be named
    with pytest.raises(FileFormatError, match="add `vertical` COL"):
        load_recording(path, rate_hz=300, time_unit="frame")
    # the right side is smaller COPz: negative
    neg = load_recording(path, rate_hz=300, time_unit="frame", vertical="Fy", cop_ml="COPz",
                         cop_ml_right="negative")
    np.testing.assert_allclose(neg.streams[0].channels["cop_ml"], -s.channels["cop_ml"])


def test_map_gives_left_and_right_streams(tmp_path):
    left = stance_train(1000.0, peak_n=1400.0)
    right = np.roll(stance_train(1000.0, peak_n=1300.0), 180)
    t_ms = np.arange(left.size) * 1.0
    path = write_table(tmp_path / "lr.csv", {"t_ms": t_ms, "FzL": left, "FzR": right})
    rec = load_recording(path, time_column="t_ms", time_unit="ms", map="left=FzL,right=FzR")
    by_side = {s.side: s for s in rec.streams}
    assert set(by_side) == {"left", "right"}
    assert by_side["left"].rate_hz == 1000.0
    np.testing.assert_allclose(by_side["left"].fz, left, atol=1e-3)
    np.testing.assert_allclose(by_side["right"].fz, right, atol=1e-3)
    with pytest.raises(InputError, match="either `vertical`"):
        load_recording(path, time_column="t_ms", time_unit="ms", map="left=FzL",
                       vertical="FzR")
    with pytest.raises(InputError, match="cannot be combined with `map`"):
        load_recording(path, time_column="t_ms", time_unit="ms", map="left=FzL",
                       cop_ml="FzR")
    with pytest.raises(InputError, match="is the time column"):
        load_recording(path, time_column="t_ms", time_unit="ms", map="left=t_ms")


def test_obvious_left_right_columns_are_found(tmp_path):
    fz = stance_train(100.0)
    path = write_table(tmp_path / "a.csv", {"time": np.arange(fz.size) / 100.0,
                                            "Fz_L": fz, "Fz_R": fz * 0.9})
    rec = load_recording(path)
    assert sorted(s.side for s in rec.streams) == ["left", "right"]
    assert rec.meta["vertical"] == {"left": "Fz_L", "right": "Fz_R"}


def test_downward_force_is_negated_and_recorded(tmp_path):
    fz = stance_train(100.0)
    path = write_table(tmp_path / "neg.csv", {"time": np.arange(fz.size) / 100.0, "Fz": -fz})
    rec = load_recording(path)
    np.testing.assert_allclose(rec.streams[0].fz, fz, atol=1e-3)
    assert rec.meta["negated"] == ["Fz"]


def test_empty_cells_and_missing_rows_become_nan(tmp_path):
    fz = stance_train(100.0, n_stances=3)
    t = np.arange(fz.size) / 100.0
    fz_cells = fz.copy()
    fz_cells[30] = np.nan  # an empty cell
    keep = np.ones(fz.size, bool)
    keep[[40, 41]] = False  # two rows lost
    path = write_table(tmp_path / "gaps.csv", {"time": t[keep], "force": fz_cells[keep]})
    rec = load_recording(path)
    s = rec.streams[0]
    assert s.n_samples == fz.size
    assert np.flatnonzero(np.isnan(s.fz)).tolist() == [30, 40, 41]
    assert rec.meta["time"]["method"] == "snapped"
    assert rec.meta["time"]["n_missing"] == 2


def test_ambiguous_or_missing_vertical_column(tmp_path):
    fz = stance_train(100.0, n_stances=2)
    path = write_table(tmp_path / "amb.csv", {"time": np.arange(fz.size) / 100.0,
                                              "a": fz, "b": fz})
    with pytest.raises(FileFormatError, match=r"add `vertical` COL.*columns: a, b"):
        load_recording(path)
    only_time = write_table(tmp_path / "t.csv", {"time": np.arange(5) / 100.0})
    with pytest.raises(FileFormatError, match="no force column"):
        load_recording(only_time)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("time,fz\n0,1\n0.01,2\n0.02,abc\n", "line 4, column 'fz': 'abc' is not a number"),
        ("time,fz\n0,1\n0.01,2,7,8\n", "line 3 has 4 fields but the table has 2"),
        ("time,fz\n0,1\n0.01,2\n0.02\n", "looks truncated"),
        ("time,fz\n0,1\n0.01,2\n0.005,3\n", "time does not increase at row 3"),
        ("time,fz\n0,\n0.01,\n", "holds no numbers"),
    ],
)
def test_malformed_tables(tmp_path, text, needle):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(FileFormatError, match=needle):
        load_recording(path)


def test_non_uniform_host_time_stamps_are_resampled(tmp_path):
    rng = np.random.default_rng(7)
    rate = 250.0
    t = np.arange(2000) / rate + rng.uniform(-0.2, 0.2, 2000) / rate
    fz = 600.0 + 500.0 * np.sin(2 * np.pi * 1.5 * t)
    path = write_table(tmp_path / "host.csv", {"time": t, "fz": fz}, fmt="{:.9g}")
    rec = load_recording(path)
    s = rec.streams[0]
    assert rec.meta["time"]["method"] == "interpolated"
    assert s.rate_hz == pytest.approx(rate, rel=2e-3)
    truth = 600.0 + 500.0 * np.sin(2 * np.pi * 1.5 * s.time_s())
    np.testing.assert_allclose(s.fz, truth, atol=2.0)  # linear interpolation of a 1.5 Hz wave


def test_text_columns_are_ignored_unless_used(tmp_path):
    fz = stance_train(100.0, n_stances=2)
    lines = ["time,label,Fz"] + [f"{i / 100.0},trial A,{f:.3f}" for i, f in enumerate(fz)]
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(lines) + "\n")
    rec = load_recording(path)
    np.testing.assert_allclose(rec.streams[0].fz, fz, atol=1e-3)
    with pytest.raises(FileFormatError, match="line 2, column 'label': 'trial A' is not a number"):
        load_recording(path, vertical="label")


def test_iso_date_time_column_gives_the_time_base(tmp_path):
    fz = stance_train(100.0, n_stances=2)
    start = np.datetime64("2024-03-01T09:30:00.000")
    stamps = start + (np.arange(fz.size) * 10).astype("timedelta64[ms]")
    keep = np.ones(fz.size, bool)
    keep[20] = False
    lines = ["timestamp;force"] + [
        f"{str(s).replace('T', ' ')};{f:.2f}" for s, f, k in zip(stamps, fz, keep, strict=True)
        if k
    ]
    path = tmp_path / "logger.csv"
    path.write_text("\n".join(lines) + "\n")
    rec = load_recording(path)
    s = rec.streams[0]
    assert s.rate_hz == 100.0 and s.n_samples == fz.size
    assert np.flatnonzero(np.isnan(s.fz)).tolist() == [20]
    assert rec.meta["time"]["start"].startswith("2024-03-01T09:30:00")
    bad = tmp_path / "bad_time.csv"
    bad.write_text("timestamp;force\nmonday;1\ntuesday;2\n")
    with pytest.raises(FileFormatError, match="neither a number nor an ISO 8601 date-time"):
        load_recording(bad)


def test_decimal_comma_with_semicolons(tmp_path):
    fz = stance_train(200.0, n_stances=2)
    lines = ["Zeit;Fz"] + [f"{i / 200.0:.3f};{f:.2f}".replace(".", ",") for i, f in enumerate(fz)]
    path = tmp_path / "excel.csv"
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    rec = load_recording(path, time_column="Zeit")
    assert rec.streams[0].rate_hz == 200.0
    np.testing.assert_allclose(rec.streams[0].fz, np.round(fz, 2), atol=1e-9)


def test_large_numeric_table_takes_the_fast_path(tmp_path):
    n = 200_000
    t = np.arange(n) / 1000.0
    fz = np.clip(np.sin(2 * np.pi * 1.4 * t), 0.0, None) * 1500.0
    path = tmp_path / "hour.csv"
    np.savetxt(path, np.column_stack([t, fz, fz * 0.9]), delimiter=",", fmt="%.4f",
               header="time,left,right", comments="")
    table = read_table(path)
    assert table.rows is None and table.text_cells == {}  # parsed by NumPy from the file
    rec = load_recording(path)
    assert [s.n_samples for s in rec.streams] == [n, n]
    assert rec.streams[0].rate_hz == 1000.0


@settings(max_examples=60, deadline=None)
@given(
    delimiter=st.sampled_from([",", "\t", ";", " "]),
    header=st.booleans(),
    rate_hz=st.sampled_from([100.0, 250.0, 1000.0]),
    values=st.lists(st.floats(min_value=-5000, max_value=5000, allow_nan=False), min_size=3,
                    max_size=200),
    comment=st.booleans(),
)
def test_property_tables_round_trip(tmp_path_factory, delimiter, header, rate_hz, values,
                                    comment):
    # Whatever the separator, header or comments, every number written is read back at its
    # place, on the time base the rate gives.
    fz = np.asarray(values)
    path = tmp_path_factory.mktemp("rt") / "t.txt"
    lines = ["# a comment line"] if comment else []
    if header:
        lines.append(delimiter.join(["force", "other"]))
    lines += [f"{float(f)!r}{delimiter}{i}" for i, f in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    rec = load_recording(path, rate_hz=rate_hz, vertical="force" if header else "1")
    s = rec.streams[0]
    assert s.rate_hz == rate_hz and s.n_samples == fz.size
    flipped = rec.meta.get("negated") == (["force"] if header else ["1"])
    np.testing.assert_array_equal(s.fz, -fz if flipped else fz)
