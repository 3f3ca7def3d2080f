"""Batch analysis: many files in parallel, one row per athlete x trial, failures listed."""

from __future__ import annotations

import csv
import io
import os
import threading

import pytest
from subprocesses import run_cli
from synth_sessions import make_session

from forcelab.analysis import analyze_recording
from forcelab.batch import analyze_file, expand_inputs, run_batch, summary_columns
from forcelab.errors import InputError
from forcelab.store import read_recording


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Six sessions of three athletes (one with two trials), a broken file, a stray file."""
    d = tmp_path_factory.mktemp("batch")
    (d / "sub").mkdir()
    for i in range(6):
        athlete = {"id": f"ATH-{i % 3}", "name": f"Runner {i % 3}", "body_mass_kg": 60.0 + i}
        trials = (("run", 4.0, 3.0), ("fast", 3.0, 4.0)) if i == 0 else (("run", 4.0, 3.0),)
        make_session(d / ("sub" if i >= 4 else ".") / f"s{i}.h5", athlete=athlete,
                     trials=trials, seed=i, day=i, asymmetry=-0.1 + 0.04 * i)
    (d / "broken.csv").write_text("time,fz\n0,abc\n")
    (d / "notes.docx").write_text("not a recording")
    return d


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_parallel_batch_rows_and_failures(folder, tmp_path):
    err = io.StringIO()
    res = run_batch([folder], tmp_path / "summary.csv", jobs=2, progress=True,
                    progress_stream=err)
    assert res.engine == "processes" and res.jobs == 2 and res.n_files == 7
    assert len(res.rows) == 7  # 5 sessions x 1 trial + 1 session x 2 trials
    assert [str(f.path) for f in res.failures] == [str(folder / "broken.csv")]
    rows = _rows(tmp_path / "summary.csv")
    assert list(rows[0]) == summary_columns()
    assert [(r["athlete_id"], r["trial"]) for r in rows][:3] == [
        ("ATH-0", "run"), ("ATH-0", "fast"), ("ATH-0", "run")]
    assert {r["athlete_id"] for r in rows} == {"ATH-0", "ATH-1", "ATH-2"}
    # progress bar and the failure list at the end, on the given stream
    text = err.getvalue()
    assert "7/7 files, 1 failed" in text and "1 failed:" in text and "broken.csv" in text
    # one row checked against the analysis run directly
    s0 = next(r for r in rows if r["file"].endswith("s0.h5") and r["trial"] == "fast")
    direct = analyze_recording(read_recording(folder / "s0.h5", trial="fast"))
    a = direct.asymmetry["midstance_peak_bw"]
    assert float(s0["midstance_peak_bw_si_pct"]) == pytest.approx(a["si_pct"], rel=1e-8)
    assert float(s0["midstance_peak_bw_ci95_lo"]) == pytest.approx(a["ci95_pct"][0], rel=1e-8)
    assert s0["midstance_peak_bw_higher"] == a["higher"]
    assert int(s0["n_left"]) == direct.summary["left"]["n_stances"]
    assert s0["session_date"] == "2026-05-28" and float(s0["speed_m_s"]) == 4.0


def test_serial_and_parallel_agree(folder, tmp_path):
    a = run_batch([folder], tmp_path / "a.csv", jobs=1, progress=False)
    b = run_batch([folder], tmp_path / "b.csv", jobs=2, progress=False)
    assert a.engine == "serial"
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert a.rows == b.rows


def test_bad_arguments(folder, tmp_path):
    with pytest.raises(InputError, match="jobs"):
        run_batch([folder], tmp_path / "x.csv", jobs=0)
    with pytest.raises(InputError, match="no recordings"):
        (tmp_path / "empty").mkdir()
        run_batch([tmp_path / "empty"], tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError):
        expand_inputs([tmp_path / "nope"])
    with pytest.raises(InputError, match="dask scheduler"):
        run_batch([folder / "s1.h5"], tmp_path / "x.csv", dask_address="tcp://127.0.0.1:1",
                  progress=False, connect_timeout_s=1.0)
    assert not (tmp_path / "x.csv").exists()


def test_one_file_never_raises(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(300))
    rows, failures = analyze_file(str(bad))
    assert rows == [] and len(failures) == 1 and "damaged" in failures[0].error


def test_cli_analyze_summary_delegates_here(folder, tmp_path):
    out = tmp_path / "cli.csv"
    r = run_cli("analyze", folder / "s1.h5", folder / "sub", "--summary", out, "--jobs", "2")
    assert r.returncode == 0, r.stderr
    rows = _rows(out)
    assert len(rows) == 3 and "3/3 files" in r.stderr


def test_workers_come_from_a_fork_server_when_threads_run(folder, tmp_path):
    """A caller with running threads (the console) never forks itself: same rows anyway."""
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, daemon=True)
    worker.start()
    try:
        res = run_batch([folder / "s1.h5", folder / "s2.h5"], tmp_path / "t.csv", jobs=2,
                        progress=False)
    finally:
        stop.set()
        worker.join()
    serial = run_batch([folder / "s1.h5", folder / "s2.h5"], tmp_path / "u.csv", jobs=1,
                       progress=False)
    assert res.engine == "processes" and res.rows == serial.rows and not res.failures
    assert os.getpid() not in res.extra["worker_cpu_s"]


def test_results_saved_into_session_files_on_request(tmp_path):
    from forcelab.store import read_analyses

    a = tmp_path / "a.h5"
    make_session(a, trials=(("run", 3.0, 3.0), ("fast", 3.0, 4.0)))
    plain = tmp_path / "plain.csv"
    plain.write_text("time,fz\n" + "\n".join(f"{i / 100},{700 if (i // 30) % 2 else 0}"
                                              for i in range(600)))
    before = plain.read_bytes()
    res = run_batch([a, plain], tmp_path / "s.csv", jobs=2, progress=False, save_results=True)
    assert not res.failures, res.failures
    stored = read_analyses(a)
    assert [s["parameters"]["trial"] for s in stored] == ["run", "fast"]
    row = next(r for r in res.rows if r["file"] == str(a) and r["trial"] == "run")
    assert len(stored[0]["result"]["stances"]) == row["n_stances"] + row["n_invalid"]
    assert plain.read_bytes() == before  # plain recordings are never written to
    run_batch([a], tmp_path / "t.csv", jobs=1, progress=False)
    assert len(read_analyses(a)) == 2  # nothing saved unless asked


def test_mixed_sessions_and_tables_share_one_set_of_reader_options(folder, tmp_path, shared_data):
    """--rate/--vertical/... apply to the tables; session files ignore them."""
    src = shared_data / "fukuchi2017_running" / "RBDS001runT25forces.txt"
    opts = {"time_unit": "frame", "rate_hz": 300, "vertical": "Fy", "cop_ml": "COPz",
            "body_mass_kg": 62.0}
    res = run_batch([folder / "s1.h5", src], tmp_path / "m.csv", jobs=1, progress=False,
                    reader_options=opts)
    assert not res.failures, res.failures
    by_file = {r["file"]: r for r in res.rows}
    assert by_file[str(src)]["n_left"] >= 38 and by_file[str(src)]["body_mass_kg"] == 62.0
    assert by_file[str(folder / "s1.h5")]["body_mass_kg"] == 62.0  # the given mass wins


def test_progress_bar_redraws_in_place_on_a_terminal():
    from forcelab.batch import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    bar = Progress(3, out)
    for failed in (0, 1, 0):
        bar.update(1, failed)
        bar._last_draw = 0.0  # no throttling between these instant updates
    bar.close()
    text = out.getvalue()
    assert text.count("\r[") == 3 and text.endswith("\n")
    assert "3/3 files, 1 failed" in text and "#" * 30 in text
    quiet = io.StringIO()
    silent = Progress(3, quiet, enabled=False)
    silent.update(3)
    silent.close()
    assert quiet.getvalue() == ""
