"""A real dask.distributed cluster on 127.0.0.1 for the batch bench and the batch tests.

``with DaskCluster(folder) as cluster:`` starts ``dask scheduler`` and ``n_workers`` ``dask worker``
processes (one thread each, no nanny, no dashboard), waits until every worker is connected and
gives the scheduler's address as ``cluster.address``; leaving the block stops the workers, then
the scheduler (SIGTERM, SIGKILL after 30 s). Their output goes to ``folder/cluster.log``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


def stop_processes(procs: list[subprocess.Popen]) -> None:
    """SIGTERM every process still running, then wait for each (SIGKILL after 30 s)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class DaskCluster:
    """``dask scheduler`` + ``n_workers`` ``dask worker`` processes on 127.0.0.1."""

    def __init__(self, folder: Path, n_workers: int = 2) -> None:
        self.folder = Path(folder)
        self.n_workers = n_workers
        self.procs: list[subprocess.Popen] = []
        self.address = ""

    def __enter__(self) -> DaskCluster:
        from distributed import Client  # the optional dask extra: only needed once a cluster runs

        sched_file = self.folder / "scheduler.json"
        self.log = open(self.folder / "cluster.log", "wb")  # noqa: SIM115 - closed in __exit__
        io = {"stdout": self.log, "stderr": subprocess.STDOUT, "cwd": self.folder}
        try:
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port",
                 "0", "--no-dashboard", "--scheduler-file", str(sched_file)], **io))
            deadline = time.monotonic() + START_TIMEOUT_S
            while not self.address:
                if self.procs[0].poll() is not None or time.monotonic() > deadline:
                    self.log.flush()
                    raise RuntimeError("dask scheduler did not start: "
                                       + (self.folder / "cluster.log").read_text()[-2000:])
                try:  # the scheduler writes the file in place: it may be caught half-written
                    self.address = json.loads(sched_file.read_text())["address"]
                except (OSError, ValueError, KeyError):
                    time.sleep(0.05)
            for i in range(self.n_workers):
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "dask", "worker", self.address, "--nthreads", "1",
                     "--no-nanny", "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}",
                     "--local-directory", str(self.folder / f"w{i}")], **io))
            with Client(self.address, timeout=60) as client:
                client.wait_for_workers(self.n_workers, timeout=START_TIMEOUT_S)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        stop_processes(self.procs[1:])  # workers first, then the scheduler
        stop_processes(self.procs[:1])
        self.log.close()
