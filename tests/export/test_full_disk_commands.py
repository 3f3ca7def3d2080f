"""A full disk never destroys or half-writes anything (issue 16, item 3).

Every command that writes a file is run in a real subprocess against a real small tmpfs
(4 MiB, mounted by the test; needs root, skipped with the reason otherwise) that is nearly full:
``analyze --save``, ``export --format c3d/csv``, ``check --recover``, ``import`` and ``record``
each end with one error line and exit status 2, leave the source byte for byte as it was, and
leave no half-written or 0-byte file that would block a retry; once there is room the same
command succeeds.
"""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest
from subprocesses import one_error_line, run_cli
from synth_sessions import make_session

FS_BYTES = 4 * 1024 * 1024


@pytest.fixture
def small_fs(small_fs):
    """A 4 MiB tmpfs mounted for this test."""
    return small_fs(FS_BYTES)


def fill(folder, leave_bytes: int):
    """Fill the file system of ``folder`` until about ``leave_bytes`` are free."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(0, free - leave_bytes))
    return filler


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def session_on_small_fs(small_fs, tmp_path):
    src = tmp_path / "run.h5"
    make_session(src, layout="plate", trials=(("run1", 20.0, 3.2),), rate_hz=1000.0)
    path = small_fs / "run.h5"
    shutil.copyfile(src, path)
    return path


def test_analyze_save_on_a_full_disk_leaves_the_session_untouched(session_on_small_fs):
    path = session_on_small_fs
    folder = path.parent
    filler = fill(folder, 200_000)
    before = digest(path)
    line = one_error_line(run_cli("analyze", path, "--save"))
    assert "not enough free disk space" in line and "nothing was written" in line
    assert digest(path) == before
    assert listing(folder) == ["filler", "run.h5"]
    r = run_cli("check", path)
    assert r.returncode == 0, r.stdout
    filler.unlink()
    r = run_cli("analyze", path, "--save")
    assert r.returncode == 0, r.stderr
    assert listing(folder) == ["run.h5"]
    assert "analyses  run_001" in run_cli("info", path).stdout


@pytest.mark.parametrize("fmt", ["c3d", "csv"])
def test_export_on_a_full_disk_writes_nothing(session_on_small_fs, fmt):
    folder = session_on_small_fs.parent
    fill(folder, 150_000)
    out = folder / f"x.{fmt}"
    r = run_cli("export", session_on_small_fs, "--format", fmt, "-o", out)
    line = one_error_line(r)
    assert "disk" in line or "No space" in line
    assert listing(folder) == ["filler", "run.h5"]


def test_check_recover_on_a_full_disk_writes_nothing(session_on_small_fs, tmp_path):
    cut = session_on_small_fs.with_name("cut.h5")
    data = session_on_small_fs.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.99)])
    session_on_small_fs.unlink()
    folder = cut.parent
    filler = fill(folder, 100_000)
    before = digest(cut)
    r = run_cli("check", cut, "--recover", folder / "fixed.h5")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "not enough free disk space" in r.stderr
    assert digest(cut) == before and listing(folder) == ["cut.h5", "filler"]
    filler.unlink()
    r = run_cli("check", cut, "--recover", folder / "fixed.h5")
    assert r.returncode == 1, r.stderr  # the source is incomplete, the copy is written
    assert run_cli("check", folder / "fixed.h5").returncode == 1  # readable, with the lost rows


def test_import_on_a_full_disk_leaves_no_file_that_blocks_a_retry(small_fs, tmp_path):
    src = tmp_path / "walk.csv"
    rows = "\n".join(f"{i / 1000:.3f},{800 + 700 * ((i // 350) % 2) * (i % 350) / 350:.3f}"
                     for i in range(60_000))
    src.write_text("time,force\n" + rows + "\n")
    filler = fill(small_fs, 300_000)
    out = small_fs / "walk.h5"
    line = one_error_line(run_cli("import", src, "-o", out, "--vertical", "force"))
    assert "not enough free disk space" in line
    assert listing(small_fs) == ["filler"]
    filler.unlink()
    r = run_cli("import", src, "-o", out, "--vertical", "force")
    assert r.returncode == 0, r.stderr
    assert listing(small_fs) == ["walk.h5"]


def test_record_on_a_full_disk_leaves_no_file_that_blocks_a_retry(small_fs):
    filler = fill(small_fs, 64_000)
    out = small_fs / "rec.h5"
    args = ("record", "--device", "sim:plate", "--athlete", "Ana", "--duration", "0.5",
            "--interval", "0", "-o", out)
    r = run_cli(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert listing(small_fs) == ["filler"]
    filler.unlink()
    r = run_cli(*args)  # the retry is not blocked (it may still stop early: 4 MiB is small)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    assert "rec.h5" in listing(small_fs)
    assert run_cli("check", out).returncode in (0, 1)


_SAVE_AND_COUNT = """
import runpy, sys
sys.argv = ["forcelab", "analyze", sys.argv[1], "--save"]
try:
    runpy.run_module("forcelab", run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
print("WRITTEN", io["wchar"])
"""


def test_analyze_save_writes_the_session_once(tmp_path):
    """One copy beside the session takes the results and replaces it: the save writes about the
    session's size (plus the results), not two copies of it. ``wchar`` of /proc/self/io counts
    every byte the process hands to write(), sendfile() and copy_file_range()."""
    import subprocess
    import sys

    path = tmp_path / "long.h5"
    make_session(path, layout="treadmill", trials=(("run1", 60.0, 3.5),), rate_hz=1000.0)
    size = path.stat().st_size
    r = subprocess.run([sys.executable, "-c", _SAVE_AND_COUNT, str(path)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    written = int(r.stdout.split("WRITTEN")[1])
    results = path.stat().st_size - size  # what the file grew by: the stored analysis
    assert results > 0 and "analysis saved in" in r.stderr
    assert size + results <= written < 1.25 * size + 4 * results, (written, size, results)
    assert listing(tmp_path) == ["long.h5"]
    assert "analyses  run_001" in run_cli("info", path).stdout
