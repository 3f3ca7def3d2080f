"""Bad input never gets a traceback, a crash, a hang or a changed file (issue 16, item 14).

Files of every kind forcelab reads (session .h5, C3D, OpenSim .mot, CSV, JSON export) are
emptied, cut short, bit-flipped and replaced by noise, and fed to every command that reads them;
options are given absurd values; inputs are FIFOs. Every case must end with exactly one line
on stderr and exit status 2, or with a correct result (status 0 or 1 and no traceback), and no
file that existed before may change.

Speed: each case runs in a forked child of one helper process that has imported forcelab
once (a segfault or a hang still only ends that child: a child gets 20 s), so the ~150 cases
take seconds instead of one interpreter start each.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from subprocesses import run_cli

CASE_TIMEOUT_S = 20

#: Runs the cases given as JSON on stdin, each in a forked child; prints one JSON result per case.
RUNNER = r"""
import json, os, signal, sys, time, traceback
import numpy, h5py, ezc3d  # noqa: F401 - imported once, before forking
import forcelab.analysis, forcelab.interop, forcelab.store  # noqa: F401
from forcelab.cli import main

cases = json.load(sys.stdin)
for case in cases:
    out_path, err_path = case["out"], case["err"]
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        fd_out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        fd_err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd_out, 1)
        os.dup2(fd_err, 2)
        os.chdir(case["cwd"])
        signal.alarm(case["timeout"])
        try:
            rc = main(case["argv"])
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 2
        except BaseException:
            traceback.print_exc()
            rc = 99
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    print(json.dumps({"id": case["id"], "rc": code, "s": time.monotonic() - t0}), flush=True)
"""


def _digests(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _gait_csv(path: Path, duration_s: float = 6.0, rate_hz: float = 500.0) -> Path:
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    phase = (t % 0.35) / 0.35
    left = (t // 0.35) % 2 == 0
    fz = np.where(phase < 0.7, 1400.0 * np.sin(np.pi * phase / 0.7), 0.0) + 5.0
    cop = np.where(left, -0.08, 0.08)
    rows = "\n".join(f"{a:.4f},{b:.3f},{c:.3f}" for a, b, c in zip(t, fz, cop, strict=True))
    path.write_text("time,force,cop\n" + rows + "\n")
    return path


@pytest.fixture(scope="module")
def good_files(tmp_path_factory) -> dict[str, Path]:
    """One good file of every kind, made by forcelab itself from a gait CSV."""
    d = tmp_path_factory.mktemp("good")
    csv = _gait_csv(d / "gait.csv")
    h5 = d / "gait.h5"
    r = run_cli("import", csv, "-o", h5, "--vertical", "force", "--cop-ml", "cop",
             "--body-mass", "70")
    assert r.returncode == 0, r.stderr
    files = {"csv": csv, "h5": h5}
    for fmt in ("c3d", "mot", "json"):
        r = run_cli("export", h5, "--format", fmt, "-o", d / f"x.{fmt}")
        assert r.returncode == 0, r.stderr
        files[fmt] = d / f"x.{fmt}"
    return files


def _damaged(good: Path, how: str, folder: Path, rng: np.random.Generator) -> Path:
    data = good.read_bytes()
    if how == "empty":
        new = b""
    elif how.startswith("cut"):
        new = data[: int(len(data) * int(how[3:]) / 100)]
    elif how == "bitflip":
        raw = bytearray(data)
        for pos in rng.integers(0, len(raw), 24):
            raw[pos] ^= 1 << int(rng.integers(0, 8))
        new = bytes(raw)
    elif how == "noise":
        new = data[:16] + rng.integers(0, 256, len(data) - 16, dtype=np.uint8).tobytes()
    else:
        raise ValueError(how)
    path = folder / f"{how}{good.suffix}"
    path.write_bytes(new)
    return path


DAMAGE = ("empty", "cut1", "cut50", "cut99", "bitflip", "noise")


def _file_cases(files: dict[str, Path], work: Path) -> list[list[str]]:
    rng = np.random.default_rng(16)
    cases = []
    for kind, good in files.items():
        folder = work / kind
        folder.mkdir()
        for how in DAMAGE:
            f = str(_damaged(good, how, folder, rng))
            cases += [
                ["analyze", f],
                ["export", f, "--format", "c3d", "-o", f"{f}.out.c3d"],
                ["import", f, "-o", f"{f}.imported.h5"],
            ]
            if kind == "h5":
                cases += [["info", f], ["check", f, "--recover", f"{f}.recovered.h5"],
                          ["export", f, "--format", "csv", "-o", f"{f}.out.csv"],
                          ["analyze", f, "--save"]]
            if kind == "csv":
                cases += [["analyze", f, "--vertical", "force", "--cop-ml", "cop"]]
    return cases


def _option_cases(files: dict[str, Path], work: Path) -> list[list[str]]:
    csv, h5 = str(files["csv"]), str(files["h5"])
    fifo = work / "pipe.csv"
    os.mkfifo(fifo)
    existing = work / "existing.csv"
    existing.write_text("keep me\n")
    cases = [[c, str(fifo)] for c in ("analyze", "info", "check")]
    cases += [["import", str(fifo), "-o", str(work / "f.h5")],
              ["export", str(fifo), "--format", "csv", "-o", str(work / "f.csv")]]
    for opts in (["--rate", "1e-9"], ["--rate", "nan"], ["--rate", "-5"], ["--rate", "inf"],
                 ["--body-mass", "0"], ["--body-mass", "1e9"], ["--body-mass", "abc"],
                 ["--time-unit", "weeks"], ["--time-column", "nosuch"], ["--map", "left="],
                 ["--map", "foo"], ["--map", "left=force,right=force"],
                 ["--cop-ml-right", "sideways"], ["--vertical", "-1"], ["--option", "x"],
                 ["--option", "min_contact_s=-1"], ["--option", "nosuch=1"],
                 ["--trial", "-x"], ["--trial=-x"], ["--jobs", "2"], ["--allow-partial"],
                 ["--vertical", "force", "--cop-ml", "cop", "--rate", "1e7"]):
        cases.append(["analyze", csv, *opts])
    cases += [
        ["analyze", h5, "--summary", str(existing)],
        ["analyze", csv, h5],
        ["analyze", h5, "--summary", str(work / "s.csv"), "--json"],
        ["analyze", csv, "--save", "--vertical", "force"],
        ["analyze", str(work)],
        ["analyze", str(work / "missing.csv")],
        ["analyze", h5, "--trial", "nosuch"],
        ["export", h5, "--format", "xyz"],
        ["export", h5, "--format", "csv", "-o", str(existing)],
        ["export", h5, "--format", "csv", "-o", h5, "--force"],
        ["export", csv, "--format", "csv", "--trial", "x"],
        ["export", h5, "--format", "json", "-o", str(work / "nodir" / "deeper" / "x.json")],
        ["import", csv, "-o", str(work / "x.txt")],
        ["import", csv, "-o", h5],
        ["import", csv, "-o", str(work / "nodir" / "x.h5")],
        ["check", h5, "--recover", str(existing)],
        ["check", str(files["csv"])],
        ["info", str(files["c3d"])],
        ["report", h5, "-o", str(existing)],
        ["report", h5, "-o", str(work / "r.doc")],
        ["report", h5, "-o", str(work / "r.html"), "--bands", str(files["csv"])],
        ["simulate", "plate", "--seed", "-1"],
        ["simulate", "nosuch", "--duration", "0.1"],
        ["simulate", "plate", "--duration", "-1"],
        ["simulate", "plate", "--speed", "abc"],
        ["record", "--device", "sim:plate", "--athlete", "A", "--duration", "-1", "-o",
         str(work / "r1.h5")],
        ["record", "--device", "sim:plate", "--athlete", "A", "--duration", "nan", "-o",
         str(work / "r2.h5")],
        ["record", "--device", "sim:plate", "--athlete", "-A", "--duration", "1", "-o",
         str(work / "r3.h5")],
        ["record", "--device", "nosuch:x", "--athlete", "A", "--duration", "1", "-o",
         str(work / "r4.h5")],
        ["record", "--device", "sim:plate", "--athlete", "A", "--duration", "1",
         "--body-mass", "-70", "-o", str(work / "r5.h5")],
        ["record", "--device", "sim:plate", "--athlete", "A", "--duration", "1", "-o", h5],
        ["record", "--device", "sim:plate", "--athlete", "A", "--duration", "1", "-o",
         "/no-such-folder/x.h5"],
        ["devices", "--bogus"],
        ["nosuchcommand"],
        ["analyze"],
    ]
    return cases


def _run_cases(cases: list[list[str]], work: Path) -> list[dict]:
    logs = work / "logs"
    logs.mkdir()
    spec = [{"id": i, "argv": argv, "cwd": str(work), "timeout": CASE_TIMEOUT_S,
             "out": str(logs / f"{i}.out"), "err": str(logs / f"{i}.err")}
            for i, argv in enumerate(cases)]
    proc = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(spec),
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["id"] for r in results] == [c["id"] for c in spec]
    for r, c in zip(results, spec, strict=True):
        r["argv"] = c["argv"]
        r["stderr"] = Path(c["err"]).read_text(errors="replace")
        r["stdout"] = Path(c["out"]).read_text(errors="replace").strip().splitlines()
    return results


def _failures(results: list[dict]) -> list[str]:
    bad = []
    for r in results:
        err = r["stderr"]
        lines = [x for x in err.splitlines() if x.strip()]
        why = None
        if r["rc"] < 0:
            why = f"killed by signal {-r['rc']}" + (" (hang)" if r["rc"] == -14 else "")
        elif "Traceback" in err or r["rc"] == 99:
            why = "traceback"
        elif r["rc"] == 2 and (len(lines) > 1 or not lines and len(r["stdout"]) != 1):
            why = f"{len(lines)} stderr lines"  # `check` reports an unreadable file on stdout
        elif r["rc"] not in (0, 1, 2):
            why = f"exit status {r['rc']}"
        if why:
            bad.append(f"{r['argv']}: {why}: {err.strip()[-400:]}")
    return bad


def test_bad_files_and_absurd_options_end_in_one_line_or_a_result(good_files, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    cases = _file_cases(good_files, work) + _option_cases(good_files, work)
    before = {**_digests(work), **_digests(good_files["h5"].parent)}
    results = _run_cases(cases, work)
    failures = _failures(results)
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures)
    after = {**_digests(work), **_digests(good_files["h5"].parent)}
    changed = sorted(p for p, h in before.items() if after.get(p) != h)
    assert not changed, f"existing files changed or removed: {changed}"
    refused = [r for r in results if r["rc"] == 2]
    assert len(refused) > len(cases) // 2  # the damage is seen, not silently accepted
    # nothing half-written: every session file a case created reads back or is absent
    made = [Path(p) for p in after if p not in before and p.endswith(".h5")]
    for path in made:
        assert run_cli("check", path).returncode in (0, 1), path
