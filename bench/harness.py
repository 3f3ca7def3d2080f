"""What the benches share: their command line, best-of timing in turns, per-thread CPU time and
the simulated recorder rig (two FPB1 plates at 2 kHz and two INS1 insoles at 200 Hz, each
simulator in its own process as a real device would be).

The bench scripts import it as a sibling module (``python bench/X.py`` puts ``bench/`` first on
``sys.path``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forcelab.drivers import Device, open_devices


def bench_parser(doc: str | None, quick_help: str) -> argparse.ArgumentParser:
    """The bench's command line: described by the first line of its docstring, with ``--quick``
    (a short smoke run, as CI runs it; ``quick_help`` says how short)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    return parser


def interleaved_best(fns: dict[str, Callable[[], Any]], repeats: int,
                     clock: Callable[[], float] = time.perf_counter) -> dict[str, tuple]:
    """Best time of each function on ``clock`` (s) and its last result, ``{name: (s, result)}``,
    run in turns so that changing machine load hits all of them alike."""
    best = {name: float("inf") for name in fns}
    result = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = clock()
            result[name] = fn()
            best[name] = min(best[name], clock() - t0)
    return {name: (best[name], result[name]) for name in fns}


def thread_cpu_s(native_id: int) -> float:
    """CPU time (s) of one thread of this process (Linux /proc: schedstat in ns where the kernel
    keeps it, else user + system in clock ticks); 0 when it cannot be read (the thread has just
    ended), so sums over threads stay numbers."""
    try:
        return int(Path(f"/proc/self/task/{native_id}/schedstat").read_text().split()[0]) * 1e-9
    except (OSError, ValueError, IndexError):
        pass
    try:
        fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_simulator(setup: str, *args: str,
                    command: tuple[str, ...] = ("-m", "forcelab", "simulate"),
                    ) -> tuple[subprocess.Popen, list[str]]:
    """Run ``forcelab simulate SETUP ARGS`` in its own process -> (process, device strings);
    ``command`` is what follows the Python interpreter up to the setup name.

    Stop it with SIGINT (as Ctrl-C would) and ``communicate()``."""
    p = subprocess.Popen([sys.executable, *command, setup, *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    urls = []
    for line in p.stdout:
        if line.strip().startswith(("fpb1:", "ins1:")):
            urls.append(line.strip())
        if "Ctrl-C" in line:
            return p, urls
    p.kill()
    raise RuntimeError(f"forcelab simulate {setup} failed: {p.stderr.read()}")


def start_rig(procs: list[subprocess.Popen], devices: list[Device]) -> None:
    """Start the recorder rig, ``forcelab simulate treadmill`` (two FPB1 plates, opened at 2 kHz)
    and ``simulate insoles`` (two INS1 insoles at 200 Hz), both with seed 1, and open their
    devices (not started).

    ``procs`` and ``devices`` are filled as it goes, so the caller's ``finally`` closes and stops
    whatever was started even when a later step fails.
    """
    for setup, args, options in (("treadmill", (), {"rate": 2000}),
                                 ("insoles", ("-o", "rate=200"), {})):
        p, urls = start_simulator(setup, "--seed", "1", *args)
        procs.append(p)
        for url in urls:
            devices.extend(open_devices(url, **options))
