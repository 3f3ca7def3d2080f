"""``forcelab analyze`` as users run it: real subprocesses, real files, real recordings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from subprocesses import one_error_line, run_cli

FUKUCHI_ARGS = ["--rate", "300", "--time-column", "Time", "--time-unit", "frame",
                "--vertical", "Fy", "--cop-ml", "COPz", "--body-mass", "62"]


def analyze(*args, timeout=90):
    """``forcelab analyze ARGS`` in a real subprocess."""
    return run_cli("analyze", *args, timeout=timeout)


def refused(*args) -> str:
    """The one error line of ``forcelab analyze ARGS``, which must refuse them."""
    return one_error_line(analyze(*args), "analyze")


def valid_per_side(result: dict) -> dict:
    counts = {"left": 0, "right": 0}
    for st in result["stances"]:
        if st["valid"] and st["side"] in counts:
            counts[st["side"]] += 1
    return counts


@pytest.fixture
def small_csv(tmp_path):
    """Treadmill-like table: alternating half-sine stances, COP in mm marks the side."""
    rate = 500.0
    n_contact, n_flight = 125, 60
    stance = 1500.0 * np.sin(np.pi * (np.arange(n_contact) + 0.5) / n_contact)
    fz, cop = [np.zeros(100)], [np.full(100, 1100.0)]
    for k in range(16):
        peak = 1.0 if k % 2 == 0 else 0.9  # left stances 10 % higher
        fz += [stance * peak, np.zeros(n_flight)]
        cop += [np.full(n_contact, 1050.0 if k % 2 == 0 else 1200.0), np.full(n_flight, 1100.0)]
    fz, cop = np.concatenate(fz), np.concatenate(cop)
    path = tmp_path / "run.csv"
    rows = "".join(
        f"{i / rate:.4f},{f:.3f},{c:.1f}\n" for i, (f, c) in enumerate(zip(fz, cop, strict=True))
    )
    path.write_text("time,force,cop\n" + rows)
    return path


def test_fukuchi_run_split_by_cop_matches_published_peaks(shared_data):
    path = shared_data / "fukuchi2017_running" / "RBDS001runT25forces.txt"
    r = analyze(path, *FUKUCHI_ARGS, "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    counts = valid_per_side(result)
    assert 38 <= counts["left"] <= 39 and 38 <= counts["right"] <= 39, counts
    # Fukuchi et al. 2017: peak vertical GRF 21.26 N/kg right, 22.21 N/kg left at 62 kg
    assert result["summary"]["right"]["peak_force_n"]["mean"] == pytest.approx(1318.0, rel=0.02)
    assert result["summary"]["left"]["peak_force_n"]["mean"] == pytest.approx(1377.0, rel=0.02)
    assert result["asymmetry"]["peak_force_n"]["higher"] == "left"
    assert result["body_mass_kg"] == 62.0
    for st in result["stances"]:
        assert st["stream"] == "plate" and st["side"] in ("left", "right")


def test_fukuchi_text_report(shared_data):
    path = shared_data / "fukuchi2017_running" / "RBDS001runT25forces.txt"
    r = analyze(path, *FUKUCHI_ARGS)
    assert r.returncode == 0, r.stderr
    assert "Mid-stance peak" in r.stdout and "higher on the left" in r.stdout


def test_opensim_walking_gives_eleven_or_twelve_stances_per_side(shared_data):
    r = analyze(shared_data / "opensim_walking" / "subject01_walk1_grf.mot", "--json")
    assert r.returncode == 0, r.stderr
    counts = valid_per_side(json.loads(r.stdout))
    assert 11 <= counts["left"] <= 12 and 11 <= counts["right"] <= 12, counts


def test_opengo_recording_gives_stances_on_both_feet(shared_data):
    path = shared_data / "moticon_opengo_walking" / "230927_102114.txt"
    r = analyze(path, "--json", "--body-mass", "75")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert set(result["summary"]) == {"left", "right"}
    sides = {st["side"] for st in result["stances"]}
    assert sides == {"left", "right"}
    assert "peak_force_bw" in result["stances"][0]


def test_small_table_end_to_end_json_and_text(small_csv):
    r = analyze(small_csv, "--vertical", "force", "--cop-ml", "cop", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    counts = valid_per_side(result)
    assert counts == {"left": 8, "right": 8}
    left = result["summary"]["left"]["peak_force_n"]["mean"]
    right = result["summary"]["right"]["peak_force_n"]["mean"]
    assert left == pytest.approx(1500.0, rel=0.01)
    assert right == pytest.approx(1350.0, rel=0.01)
    text = analyze(small_csv, "--vertical", "force", "--cop-ml", "cop")
    assert text.returncode == 0, text.stderr
    assert "higher on the left" in text.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--rate", "-5"], "sampling rate must be a positive number"),
        (["--rate", "abc"], "sampling rate must be a number"),
        (["--body-mass", "0"], "body mass must be between 1 and 500 kg"),
        (["--body-mass", "-70"], "body mass must be between 1 and 500 kg"),
        (["--map", "left"], "bad side map"),
        (["--map", "left=force,centre=cop"], "not left or right"),
        (["--time-unit", "hours"], "time unit must be one of s, ms, frame"),
        (["--cop-ml", "cop", "--cop-ml-right", "up"], "'positive' or 'negative'"),
        (["--vertical", "nope"], "no such column"),
        (["--trial", "t1"], "--trial cannot be used with delimited tables"),
        (["--vertical", "force", "--option", "min_contact_s"], "KEY=VALUE"),
        (["--vertical", "force", "--option", "bogus=1"], "bogus"),
        (["--save"], "--save stores results in forcelab session files"),
        (["--jobs", "2"], "--jobs, --dask and --force apply to --summary"),
        (["--summary", "out.csv", "--json"], "--json applies to one file"),
    ],
)
def test_nonsense_options_give_one_clear_line(small_csv, args, needle):
    line = refused(small_csv, *args)
    assert needle in line


def test_bad_files_give_one_clear_line(tmp_path, small_csv):
    assert "No such file" in refused(tmp_path / "missing.csv")
    junk = tmp_path / "junk.dat"
    junk.write_bytes(bytes(range(256)) * 4)
    assert "binary data" in refused(junk)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "the file is empty" in refused(empty)
    assert "--summary" in refused(small_csv, small_csv)
    assert "is a folder" in refused(tmp_path)
    assert junk.read_bytes() == bytes(range(256)) * 4


def test_save_stores_results_in_a_session_file(tmp_path, small_csv):
    from forcelab.interop import load_recording
    from forcelab.store import read_analyses, write_recording

    session = tmp_path / "imported.h5"
    write_recording(load_recording(small_csv, vertical="force", cop_ml="cop",
                                   body_mass_kg=70), session)
    r = analyze(session, "--save", "--json")
    assert r.returncode == 0, r.stderr
    assert "analysis saved in" in r.stderr
    printed = json.loads(r.stdout)
    stored = read_analyses(session)
    assert len(stored) == 1
    assert valid_per_side(printed) == {"left": 8, "right": 8}
    assert stored[0]["result"]["stances"] == printed["stances"]
    # a session file refuses options that only make sense for tables
    assert "--rate cannot be used with session files" in refused(session, "--rate", "100")


def test_summary_of_a_folder_delegates_to_the_batch(tmp_path, small_csv):
    import csv
    import shutil

    folder = tmp_path / "runs"
    folder.mkdir()
    shutil.copy(small_csv, folder / "a.csv")
    shutil.copy(small_csv, folder / "b.csv")
    out = tmp_path / "summary.csv"
    r = analyze(folder, "--summary", out, "--jobs", "1", "--vertical", "force", "--cop-ml", "cop")
    assert r.returncode == 0, r.stderr
    assert "2 file(s) analysed, 0 failed" in r.stderr
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 2
    (folder / "broken.csv").write_text("time,force,cop\n0,abc,1\n")
    r = analyze(folder, "--summary", out, "--jobs", "1", "--vertical", "force", "--cop-ml", "cop",
                "--force")
    assert r.returncode == 1, r.stderr
    assert "broken.csv" in r.stderr
    # the library's messages name reader parameters; the listed failures show the flags
    (folder / "broken.csv").unlink()
    (folder / "untimed.csv").write_text("force,cop\n" + "0,1\n" * 20)
    r = analyze(folder, "--summary", out, "--jobs", "1", "--vertical", "force", "--cop-ml", "cop",
                "--force")
    assert r.returncode == 1, r.stderr
    assert "untimed.csv" in r.stderr and "add --rate HZ (or --time-column COL)" in r.stderr
    assert "`" not in r.stderr
    assert "--jobs must be a whole number" in refused(folder, "--summary", out, "--jobs", "0")


def test_reader_guesses_are_shown_on_stderr(small_csv):
    r = analyze(small_csv, "--vertical", "force", "--cop-ml", "cop", "--json")
    assert r.returncode == 0, r.stderr
    assert "note: centre of pressure 'cop' read as mm (magnitude)" in r.stderr
    json.loads(r.stdout)  # stdout stays one JSON object
