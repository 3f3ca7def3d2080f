"""Season-scale batch: results written back atomically, a re-run skips files that are current."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from subprocesses import killed_at_end
from synth_sessions import make_session

from forcelab.batch import results_key, run_batch
from forcelab.errors import SessionFileError
from forcelab.store import check_session, read_analyses, write_analyses


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """Eight short sessions (one with two trials) to copy into each test's folder."""
    d = tmp_path_factory.mktemp("season")
    for i in range(8):
        trials = (("run", 3.0, 3.0), ("fast", 3.0, 4.0)) if i == 0 else (("run", 3.0, 3.0),)
        make_session(d / f"s{i}.h5", athlete={"id": f"ATH-{i % 3}", "name": f"R{i % 3}",
                                              "body_mass_kg": 60.0 + i},
                     trials=trials, seed=i, day=i, asymmetry=-0.1 + 0.02 * i)
    return d


@pytest.fixture
def folder(sessions, tmp_path):
    d = tmp_path / "season"
    shutil.copytree(sessions, d)
    return d


def test_rerun_skips_current_files_and_gives_the_same_summary(folder, tmp_path):
    err = io.StringIO()
    first = run_batch([folder], tmp_path / "a.csv", jobs=2, save_results=True,
                      progress_stream=err)
    assert not first.failures and first.n_skipped == 0 and len(first.rows) == 9
    stored = read_analyses(folder / "s0.h5")
    assert [a["parameters"]["trial"] for a in stored] == ["run", "fast"]
    assert all(a["parameters"]["batch_key"] == results_key({}, None) for a in stored)
    sizes = {f.name: f.stat().st_mtime_ns for f in folder.iterdir()}

    again = io.StringIO()
    second = run_batch([folder], tmp_path / "b.csv", jobs=1, save_results=True,
                       progress_stream=again)
    assert second.n_skipped == 8 and not second.failures
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert {f.name: f.stat().st_mtime_ns for f in folder.iterdir()} == sizes  # nothing written
    assert "8/8 files, 8 current" in again.getvalue()
    assert "(8 with current stored results)" in again.getvalue()

    # other analysis options: the stored results are not current any more
    third = run_batch([folder], tmp_path / "c.csv", jobs=1, save_results=True, progress=False,
                      analysis_options={"min_contact_s": 0.1})
    assert third.n_skipped == 0 and not third.failures
    assert len(read_analyses(folder / "s0.h5")) == 4
    fourth = run_batch([folder], tmp_path / "d.csv", jobs=2, save_results=True, progress=False,
                       analysis_options={"min_contact_s": 0.1})
    assert fourth.n_skipped == 8
    assert (tmp_path / "c.csv").read_text() == (tmp_path / "d.csv").read_text()


def test_an_interrupted_batch_goes_on_where_it_stopped(folder, tmp_path):
    """kill -9 in the middle of a saving batch: every file is whole (results all or none), and
    the re-run analyses only what is missing and writes the full summary."""
    fresh = run_batch([folder], tmp_path / "fresh.csv", jobs=1, progress=False)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "forcelab", "analyze", str(folder), "--summary",
         str(tmp_path / "killed.csv"), "--save", "--jobs", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    with killed_at_end(proc):
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline and done < 2:
            done = sum(1 for f in folder.glob("*.h5") if read_analyses(f))
            time.sleep(0.02)
        assert done >= 2, "the batch saved no results"
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    counts = {}
    for f in sorted(folder.glob("*.h5")):
        assert check_session(f)["status"] == "ok", f
        counts[f.name] = len(read_analyses(f))
        assert counts[f.name] in (0, 2 if f.name == "s0.h5" else 1), (f.name, counts[f.name])
    analysed = sum(1 for n in counts.values() if n)
    for leftover in folder.glob(".*.tmp"):  # a copy the kill left behind: never a session
        leftover.unlink()
    resumed = run_batch([folder], tmp_path / "resumed.csv", jobs=2, save_results=True,
                        progress=False)
    assert resumed.n_skipped == analysed and analysed < 8 and not resumed.failures
    assert (tmp_path / "resumed.csv").read_text() == (tmp_path / "fresh.csv").read_text()
    assert resumed.rows == fresh.rows


def test_a_failed_write_back_leaves_the_file_unchanged(folder):
    path = folder / "s1.h5"
    before = path.read_bytes()
    blocker = folder / f".{path.name}.analysis-{os.getpid()}.tmp"
    blocker.mkdir()  # the copy beside the file cannot be made
    with pytest.raises(SessionFileError, match="cannot write results beside"):
        write_analyses(path, [({"stances": []}, {"trial": "run"})])
    assert path.read_bytes() == before
    blocker.rmdir()
    names = write_analyses(path, [({"stances": []}, {"trial": "a"}),
                                  ({"stances": []}, {"trial": "b"})])
    assert names == ["run_001", "run_002"]
    assert [a["parameters"]["trial"] for a in read_analyses(path)] == ["a", "b"]
    assert not list(folder.glob(".*.tmp"))
