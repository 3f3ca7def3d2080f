"""load_recording dispatch, reader options, the time-base fitting and refusal of broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forcelab.errors import FileFormatError, InputError
from forcelab.interop import READER_OPTIONS, detect_format, load_recording, parse_map
from forcelab.interop.load import (
    check_reader_options,
    fit_time_grid,
    length_to_m,
    orient_vertical,
    resolve_column,
)

# ----------------------------------------------------------------------------- options


def test_parse_map_string_and_dict():
    assert parse_map("left=Fz_L,right=Fz_R") == {"left": "Fz_L", "right": "Fz_R"}
    assert parse_map(" Left = 1 , right=2 ") == {"left": "1", "right": "2"}
    assert parse_map({"right": 2}) == {"right": "2"}
    assert parse_map("left=a") == {"left": "a"}


@pytest.mark.parametrize(
    "bad, needle",
    [
        ("left", "has no '='"),
        ("middle=3", "not left or right"),
        ("left=a,left=b", "given twice"),
        ("left=,right=b", "no column given for left"),
        ("left=a,right=a", "same column"),
        ("", "empty side map"),
        (",,", "empty side map"),
        (42, "bad side map"),
    ],
)
def test_parse_map_rejects_nonsense(bad, needle):
    with pytest.raises(InputError, match=needle):
        parse_map(bad)


@pytest.mark.parametrize(
    "options, needle",
    [
        ({"rate_hz": -5}, "positive"),
        ({"rate_hz": "fast"}, "number"),
        ({"rate_hz": float("nan")}, "positive"),
        ({"body_mass_kg": 0}, "between 1 and 500"),
        ({"body_mass_kg": "heavy"}, "number"),
        ({"time_unit": "hours"}, "s, ms, frame"),
        ({"cop_ml": "x", "cop_ml_right": "left"}, "positive' or 'negative"),
        ({"cop_ml_right": "negative"}, "only applies together with `cop_ml`"),
        ({"time_unit": "frame"}, "needs the sampling rate"),
        ({"vertical": "   "}, "needs a value"),
        ({"speed": 3}, "unknown reader option"),
    ],
)
def test_check_reader_options_rejects_nonsense(options, needle):
    with pytest.raises(InputError, match=needle):
        check_reader_options(options, READER_OPTIONS, "tables")


def test_check_reader_options_refuses_options_a_format_does_not_use():
    with pytest.raises(InputError, match="`rate_hz` cannot be used with OpenGo files"):
        check_reader_options({"rate_hz": 100}, ("body_mass_kg",), "OpenGo files")


def test_check_reader_options_normalises():
    out = check_reader_options(
        {"rate_hz": "300", "time_unit": "FRAME", "map": "left=a,right=b", "body_mass_kg": "62",
         "trial": None},
        READER_OPTIONS, "tables",
    )
    assert out == {"rate_hz": 300.0, "time_unit": "frame", "map": {"left": "a", "right": "b"},
                   "body_mass_kg": 62.0}


def test_resolve_column_by_name_case_and_number():
    names = ["Time", "Fx", "Fy", "fz"]
    assert resolve_column(names, "Fy", "f", "--vertical") == 2
    assert resolve_column(names, "FY", "f", "--vertical") == 2
    assert resolve_column(names, "4", "f", "--vertical") == 3
    with pytest.raises(InputError, match=r"no such column.*columns are: Time, Fx, Fy, fz"):
        resolve_column(names, "Fq", "f", "--vertical")
    with pytest.raises(InputError, match="no such column"):
        resolve_column(names, "9", "f", "--vertical")


# ----------------------------------------------------------------------------- time base


def test_time_grid_uniform_rows_are_the_grid():
    t = np.arange(1000) / 250.0
    grid = fit_time_grid(t)
    assert grid.method == "uniform"
    assert grid.rate_hz == 250.0
    values = np.sin(t)
    np.testing.assert_array_equal(grid.apply(values), values)


def test_time_grid_rounded_stamps_give_the_exact_rate():
    # OpenSim writes time rounded to 0.1 ms: 600 Hz becomes 0.0016/0.0017 s steps.
    t = np.round(np.arange(9009) / 600.0, 4)
    grid = fit_time_grid(t)
    assert grid.rate_hz == 600.0
    assert grid.method == "uniform"
    assert grid.n_samples == 9009


def test_time_grid_missing_rows_become_nan_slots():
    t = np.arange(100) / 100.0
    keep = np.ones(100, bool)
    keep[[10, 50, 51]] = False
    grid = fit_time_grid(t[keep])
    assert grid.method == "snapped"
    assert grid.rate_hz == pytest.approx(100.0)
    assert grid.n_samples == 100
    assert grid.n_missing == 3
    out = grid.apply(np.arange(100.0)[keep])
    assert np.flatnonzero(np.isnan(out)).tolist() == [10, 50, 51]
    np.testing.assert_array_equal(out[keep], np.arange(100.0)[keep])


def test_time_grid_jittered_stamps_are_interpolated_with_nan_across_gaps():
    rng = np.random.default_rng(3)
    t = np.arange(400) / 200.0 + rng.uniform(-0.3, 0.3, 400) / 200.0
    t = np.delete(t, np.arange(200, 210))  # a 50 ms hole
    grid = fit_time_grid(t)
    assert grid.method == "interpolated"
    assert grid.rate_hz == pytest.approx(200.0, rel=0.01)
    out = grid.apply(2.0 * t + 1.0)  # a line is reproduced exactly by interpolation
    grid_t = grid.t0_s + np.arange(grid.n_samples) / grid.rate_hz
    finite = np.isfinite(out)
    np.testing.assert_allclose(out[finite], 2.0 * grid_t[finite] + 1.0, atol=1e-9)
    hole = (grid_t > t[199] + 1e-9) & (grid_t < t[200] - 1e-9)
    assert hole.sum() >= 8
    assert np.all(np.isnan(out[hole]))
    assert grid.n_missing == int(np.count_nonzero(~finite))


def test_time_grid_with_given_rate():
    t = np.arange(50) / 100.0
    grid = fit_time_grid(t, rate_hz=100.0)
    assert grid.method == "uniform"
    assert grid.rate_hz == 100.0


@pytest.mark.parametrize(
    "t, needle",
    [
        ([0.0, 0.01, 0.01, 0.02], "does not increase at row 3"),
        ([0.0, 0.02, 0.01], "does not increase at row 3"),
        ([0.0, np.nan, 0.02], "row 2 has no valid time stamp"),
        ([], "no data rows"),
        ([0.5], "one row gives no sampling rate"),
        (np.r_[np.arange(10) / 100.0, 1000.0], "mostly gaps"),
    ],
)
def test_time_grid_refuses_broken_time(t, needle):
    with pytest.raises(FileFormatError, match=needle):
        fit_time_grid(np.asarray(t, dtype=float))


@settings(max_examples=80, deadline=None)
@given(
    rate_hz=st.sampled_from([50.0, 100.0, 120.0, 200.0, 300.0, 500.0, 600.0, 1000.0, 2000.0]),
    n=st.integers(min_value=20, max_value=3000),
    t0_s=st.floats(min_value=0.0, max_value=100.0),
    decimals=st.integers(min_value=4, max_value=8),
    drop=st.lists(st.integers(min_value=1, max_value=18), max_size=3, unique=True),
)
def test_time_grid_property_rounded_stamps_with_missing_rows(rate_hz, n, t0_s, decimals, drop):
    # Time stamps rounded to `decimals` (at most a quarter period) with a few rows missing:
    # the rate is recovered, every row lands on its own slot and only the dropped rows are NaN.
    if 10.0 ** -decimals > 0.25 / rate_hz:
        decimals = int(np.ceil(-np.log10(0.25 / rate_hz))) + 1
    t0 = round(t0_s, 3)
    t = np.round(t0 + np.arange(n) / rate_hz, decimals)
    keep = np.ones(n, bool)
    keep[[d for d in drop if d < n - 1]] = False
    grid = fit_time_grid(t[keep])
    assert grid.rate_hz == pytest.approx(rate_hz, rel=1e-6)
    assert grid.n_samples == n
    out = grid.apply(np.arange(n, dtype=float)[keep])
    assert np.array_equal(np.isnan(out), ~keep)


# ----------------------------------------------------------------------------- helpers


def test_orient_vertical_negates_load_that_points_down():
    fz = np.r_[np.zeros(50), -np.hanning(100) * 800.0]
    out, flipped = orient_vertical(fz)
    assert flipped
    assert out.max() == pytest.approx(800.0, rel=0.01)
    same, flipped2 = orient_vertical(out)
    assert not flipped2
    np.testing.assert_array_equal(same, out)
    small, flipped3 = orient_vertical(np.r_[np.zeros(10), -np.ones(10) * 20.0])
    assert not flipped3  # a -20 N untared baseline is not a load


def test_length_to_m_from_unit_name_and_magnitude():
    v = np.array([1100.0, 1200.0])
    np.testing.assert_allclose(length_to_m(v, "COPz")[0], [1.1, 1.2])
    assert length_to_m(v, "COPz")[1] == "mm (magnitude)"
    np.testing.assert_allclose(length_to_m(np.array([0.1]), "cop")[0], [0.1])
    np.testing.assert_allclose(length_to_m(np.array([10.0]), "cop [cm]")[0], [0.1])
    np.testing.assert_allclose(length_to_m(np.array([5.0]), "cop", "mm")[0], [0.005])


# ----------------------------------------------------------------------------- dispatch


def test_detect_format_by_content(tmp_path):
    (tmp_path / "a.csv").write_text("time,fz\n0,1\n0.01,2\n")
    (tmp_path / "walk.txt").write_text("name x\nendheader\ntime\tground_force_vy\n0\t1\n")
    (tmp_path / "go.txt").write_text("# Start time: 1\n# time\tleft total force[N]\n0\t1\n")
    (tmp_path / "s.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    assert detect_format(tmp_path / "a.csv") == "delimited"
    assert detect_format(tmp_path / "walk.txt") == "mot"
    assert detect_format(tmp_path / "go.txt") == "opengo"
    assert detect_format(tmp_path / "s.h5") == "session"


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("empty.csv", b"", "the file is empty"),
        ("blank.csv", b"\n\n   \n", "the file is empty"),
        ("junk.bin", bytes(range(256)) * 8, "binary data"),
        ("comments.csv", b"# just a comment\n% and another\n", "no data rows"),
        ("header_only.csv", b"time,fz\n", "a header but no data rows"),
        ("garbage.txt", b"hello world\nthis is not, a recording\n", "neither numbers"),
        ("prose.txt", b"Dear coach,\nplease find attached\nthe results of\nmy run\n", "line"),
        ("empty.mot", b"", "the file is empty"),
        ("empty.c3d", b"", "the file is empty"),
        ("junk.c3d", b"\x01\x02" + bytes(600), "no C3D signature"),
        ("short.c3d", b"\x02\x50abc", "too short"),
        ("fake.h5", b"\x00\x01 not hdf5 at all" + bytes(50), "not an HDF5 file"),
        ("junk.mot", bytes(range(256)) * 8, "binary data"),
        ("garbage.mot", b"hello\nworld\n", "no 'endheader' line"),
        ("garbage.c3d", b"this is a text file, not a C3D file at all\n" * 20, "no C3D signature"),
        ("go.txt", b"# Start time: x\n# time\tleft total force[N]\n0.00\t5\n0.01\thello\n",
         "'hello' is not a number"),
        ("go_junk.txt", b"# Start time: x\n" + bytes(range(256)) * 4, "binary data"),
        ("sheet.xlsx", b"PK\x03\x04\x14\x00\x06\x00" + bytes(300), "save the sheet as CSV"),
        ("sheet.csv", b"PK\x03\x04\x14\x00\x06\x00" + bytes(300), "save the sheet as CSV"),
    ],
)
def test_broken_files_give_one_clear_file_format_error(tmp_path, name, content, needle):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=needle) as info:
        load_recording(path)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == content  # nothing is lost or rewritten


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_recording(tmp_path / "nope.csv")
    with pytest.raises(IsADirectoryError):
        load_recording(tmp_path)


def test_unknown_option_is_refused(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("time,fz\n0,1\n0.01,2\n")
    with pytest.raises(InputError, match="unknown reader option"):
        load_recording(path, speed=3)
    with pytest.raises(InputError, match="`trial` cannot be used with delimited tables"):
        load_recording(path, trial="t1")


def test_reader_notes_name_the_guesses(tmp_path):
    from forcelab.interop import reader_notes

    path = tmp_path / "n.csv"
    rows = [f"{t:.2f},{-f:.1f},{c}" for t, f, c in
            [(0.0, 0, 1100), (0.01, 900, 1100), (0.03, 950, 1100), (0.04, 0, 1100)]]
    path.write_text("time,fz,cop\n" + "\n".join(rows) + "\n")
    notes = reader_notes(load_recording(path, vertical="fz", cop_ml="cop"))
    assert any("negated" in n for n in notes)
    assert any("'cop' read as mm (magnitude)" in n for n in notes)
    assert any("1 sample(s) missing" in n for n in notes)


def test_reader_notes_warn_about_a_time_column_in_the_wrong_unit(tmp_path):
    from forcelab.interop import reader_notes

    path = tmp_path / "ms.csv"
    path.write_text("time,fz\n" + "".join(f"{i},{500 + i}\n" for i in range(50)))
    rec = load_recording(path)  # milliseconds read as seconds: 1 Hz
    assert rec.streams[0].rate_hz == 1.0
    assert any("far too low" in n and "`time_unit`" in n for n in reader_notes(rec))
    fixed = load_recording(path, time_unit="ms")
    assert fixed.streams[0].rate_hz == 1000.0 and reader_notes(fixed) == []


def test_the_command_line_owns_the_flag_of_every_reader_option():
    from forcelab.commands._reader_options import OUTPUT_FLAGS, READER_FLAGS, as_typed

    assert list(READER_FLAGS) == list(READER_OPTIONS)
    flags = [flag for flag, _, _ in READER_FLAGS.values()] + ["--force", "--summary", "--dask"]
    interop = Path(__file__).resolve().parents[2] / "forcelab" / "interop"
    for path in sorted(interop.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        spelled = [flag for flag in flags if f"{flag} " in text or f"{flag}\"" in text]
        assert spelled == [], path.name
    message = "`rate_hz` cannot be used with C3D files; add `cop_ml_right` (`other` stays)"
    assert as_typed(message) == ("--rate cannot be used with C3D files; add --cop-ml-right "
                                 "(`other` stays)")
    assert as_typed("pick another `out`, or use `overwrite`") == "pick another -o, or use --force"
    assert set(OUTPUT_FLAGS).isdisjoint(READER_FLAGS)
