"""forcelab export as users run it: real subprocesses, clear one-line errors, nothing lost."""

from __future__ import annotations

import pytest
from subprocesses import run_cli


@pytest.mark.parametrize("fmt, n_files", [("csv", 4), ("c3d", 2), ("mot", 4), ("json", 1)])
def test_every_format_writes_and_lists_its_files(sessions, tmp_path, fmt, n_files):
    r = run_cli("export", sessions["treadmill"], "--format", fmt, "-o", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    listed = r.stdout.split()
    assert len(listed) == n_files
    assert sorted(listed) == sorted(str(p) for p in (tmp_path / "o").iterdir())


def test_trial_selection_and_file_name(sessions, tmp_path):
    out = tmp_path / "tempo.c3d"
    r = run_cli("export", sessions["treadmill"], "-f", "c3d", "--trial", "tempo", "-o", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out) and out.exists()


@pytest.mark.parametrize("args, message", [
    (("--trial", "nope"), "has no trial 'nope'"),
    (("--format", "xls"), "invalid choice"),
])
def test_bad_arguments(sessions, tmp_path, args, message):
    base = ["export", sessions["treadmill"], "-o", tmp_path]
    if "--format" not in args:
        base += ["--format", "csv"]
    r = run_cli(*base, *args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_and_damaged_files(tmp_path):
    r = run_cli("export", tmp_path / "nothing.h5", "--format", "json")
    assert r.returncode == 2 and "nothing.h5" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "damaged.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00garbage" * 50)
    r = run_cli("export", bad, "--format", "json", "-o", tmp_path / "out")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_plain_recording_with_reader_options(shared_data, tmp_path):
    src = shared_data / "fukuchi2017_running" / "RBDS001runT25forces.txt"
    r = run_cli("export", src, "--format", "json", "-o", tmp_path / "f.json", "--time-unit",
                "frame", "--rate", "300", "--vertical", "Fy", "--cop-ml", "COPz",
                "--body-mass", "62")
    assert r.returncode == 0, r.stderr
    import json

    doc = json.loads((tmp_path / "f.json").read_text())
    sides = [s["side"] for s in doc["trials"][0]["analysis"]["stances"] if s["valid"]]
    assert 38 <= sides.count("left") <= 39 and 38 <= sides.count("right") <= 39
    r = run_cli("export", src, "--format", "json", "--trial", "x", "-o", tmp_path / "g.json")
    assert r.returncode == 2 and "session files" in r.stderr


def test_write_failure_is_an_export_error_and_leaves_no_part_file(tmp_path):
    from forcelab.errors import ExportError
    from forcelab.interop.export_common import write_atomic_text

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(ExportError, match="could not write"):
        write_atomic_text(not_a_folder / "out.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_output_folder_that_is_a_file(sessions, tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("a file, not a folder")
    r = run_cli("export", sessions["plate"], "--format", "csv", "-o", blocker / "sub")
    assert r.returncode == 2 and "cannot create the output folder" in r.stderr
    assert "Traceback" not in r.stderr and blocker.read_text() == "a file, not a folder"


def test_export_and_report_while_the_session_is_being_recorded(tmp_path):
    """Another process exports a session that is still open for writing (SWMR)."""
    import json

    import numpy as np
    from forcelab.drivers.base import Block
    from forcelab.drivers.sim.gait import GaitModel, GaitParams
    from synth_sessions import T0_UNIX_S, _plate_info, _plate_samples

    from forcelab.store import SessionWriter

    rate = 250.0
    t = np.arange(int(6 * rate)) / rate
    samples = _plate_samples(GaitModel(GaitParams(speed_m_s=3.0), seed=1).plate(t))
    path = tmp_path / "live.h5"
    with SessionWriter.create(path, athlete={"id": "L1", "body_mass_kg": 70.0},
                              t0_unix_s=T0_UNIX_S, auto_flush=False, reserve_bytes=0) as w:
        w.add_stream("plate", _plate_info("SN1", None, rate))
        w.start_trial("live", t_s=0.0)  # still running while we export
        for i in range(0, t.size, 50):
            w.append("plate", Block(seq=i, t_device_s=t[i], t_host_s=T0_UNIX_S + t[i],
                                    samples=samples[i:i + 50]))
        w.flush()
        r = run_cli("export", path, "--format", "json", "-o", tmp_path / "out")
        assert r.returncode == 0, r.stderr
        r2 = run_cli("report", path, "-o", tmp_path / "out" / "r.html")
        assert r2.returncode == 0, r2.stderr
    doc = json.loads((tmp_path / "out" / "live.json").read_text())
    stances = doc["trials"][0]["analysis"]["stances"]
    assert doc["trials"][0]["info"]["stop_s"] is None and len(stances) > 10
