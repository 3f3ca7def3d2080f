"""Batch analysis on a real dask.distributed cluster: ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1, started here and always stopped; ``forcelab analyze --dask``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dask_cluster import DaskCluster
from subprocesses import run_cli
from synth_sessions import make_session

from forcelab.batch import run_batch
from forcelab.store import read_analyses

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The scheduler's address once two workers are connected."""
    with DaskCluster(tmp_path_factory.mktemp("dask"), n_workers=2) as running:
        with distributed.Client(running.address, timeout=60) as client:
            assert len(client.scheduler_info()["workers"]) == 2
        yield running.address


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    d = tmp_path_factory.mktemp("season")
    for i in range(12):
        make_session(d / f"s{i:02d}.h5",
                     athlete={"id": f"ATH-{i % 4}", "name": f"R{i % 4}", "body_mass_kg": 60.0 + i},
                     trials=(("run", 3.0, 3.0),), seed=i, day=i, asymmetry=-0.1 + 0.02 * i)
    return d


def test_forcelab_analyze_on_a_real_cluster(cluster, season, tmp_path):
    folder = tmp_path / "season"
    shutil.copytree(season, folder)
    serial = run_batch([season], tmp_path / "serial.csv", jobs=1, progress=False)
    assert not serial.failures and len(serial.rows) == 12

    with distributed.Client(cluster) as client, distributed.get_task_stream(client) as ts:
        r = run_cli("analyze", folder, "--summary", tmp_path / "dask.csv", "--save",
                    "--dask", cluster)
        assert r.returncode == 0, r.stderr
    stream = ts.data
    assert "12/12 files" in r.stderr
    # the same rows as in one process, and the work was shared by both worker processes
    assert _rows_without_file(tmp_path / "dask.csv") == _rows_without_file(tmp_path /
                                                                           "serial.csv")
    done_by = {t["worker"] for t in stream if t["key"].startswith("_analyze_one")}
    assert len(done_by) == 2, done_by
    assert all(len(read_analyses(f)) == 1 for f in folder.glob("*.h5"))

    # resumable on the cluster too: nothing is analysed again
    again = run_cli("analyze", folder, "--summary", tmp_path / "again.csv", "--save",
                    "--dask", cluster)
    assert again.returncode == 0, again.stderr
    assert "12 current" in again.stderr
    assert (tmp_path / "again.csv").read_text() == (tmp_path / "dask.csv").read_text()
    assert all(len(read_analyses(f)) == 1 for f in folder.glob("*.h5"))


def test_an_unreachable_cluster_is_one_clear_line(season, tmp_path):
    r = run_cli("analyze", season, "--summary", tmp_path / "x.csv", "--dask",
                "tcp://127.0.0.1:1")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the dask scheduler" in lines[0], r.stderr
    assert not (tmp_path / "x.csv").exists()


def _rows_without_file(path: Path) -> list[str]:
    """CSV lines with the file column dropped (the two runs read copies in other folders)."""
    lines = path.read_text().splitlines()
    return [line.split(",", 1)[1] for line in lines]
