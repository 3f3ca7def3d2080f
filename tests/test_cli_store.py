"""``forcelab import``, ``info``, ``check`` and ``analyze --save`` on session files, as users run
them: real subprocesses, real files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from forcelab.store import SessionWriter, open_session, read_recording


def run_cli(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "forcelab", *map(str, args)], capture_output=True, text=True,
        timeout=timeout,
    )


def one_line_error(r, needle):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr


def walking_csv(path, rate_hz=500.0, seconds=6.0):
    """Two feet in columns (walking-like half-sine stances), written as CSV."""
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    phase = (t % 1.1) / 1.1
    left = np.where(phase < 0.6, 750 * np.sin(np.pi * phase / 0.6), 0.0)
    phase_r = ((t + 0.55) % 1.1) / 1.1
    right = np.where(phase_r < 0.6, 780 * np.sin(np.pi * phase_r / 0.6), 0.0)
    rows = "\n".join(f"{a:.4f},{b:.3f},{c:.3f}" for a, b, c in zip(t, left, right, strict=True))
    path.write_text("time,left_fz,right_fz\n" + rows + "\n")
    return t, left, right


def test_import_info_analyze_save_roundtrip(tmp_path):
    src = tmp_path / "walk.csv"
    t, left, right = walking_csv(src)
    out = tmp_path / "walk.h5"
    r = run_cli("import", src, "-o", out, "--map", "left=left_fz,right=right_fz",
                "--body-mass", "72.5", "--athlete", "Dana", "--athlete-id", "D-01",
                "--trial-name", "treadmill walk")
    assert r.returncode == 0, r.stderr
    assert "imported 2 stream(s)" in r.stdout

    rec = read_recording(out, trial="treadmill walk")
    by_side = {s.side: s for s in rec.streams}
    # float64 storage keeps every digit written in the CSV
    np.testing.assert_allclose(by_side["left"].fz, np.round(left, 3), atol=1e-9)
    np.testing.assert_allclose(by_side["right"].fz, np.round(right, 3), atol=1e-9)
    assert by_side["left"].rate_hz == pytest.approx(500.0)
    assert rec.body_mass_kg == 72.5

    r = run_cli("info", out, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["athlete"]["name"] == "Dana" and info["athlete"]["id"] == "D-01"
    assert info["athlete"]["body_mass_kg"] == 72.5
    assert info["athlete"]["body_mass_method"] == "entered"
    for s in info["streams"].values():
        assert s["n_samples"] == t.size and s["rate_hz"] == pytest.approx(500.0)
        assert s["gaps"] == 0 and s["samples_missing"] == 0
        assert s["link"]["crc_errors"] == 0 and s["protocol"] == "import"
    assert [x["name"] for x in info["trials"]] == ["treadmill walk"]
    assert info["trials"][0]["duration_s"] == pytest.approx(t.size / 500.0)

    r = run_cli("info", out)
    assert r.returncode == 0 and "Dana [D-01]" in r.stdout and "treadmill walk" in r.stdout

    r = run_cli("analyze", out, "--save", "--json")
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    with open_session(out) as sf:
        (saved,) = sf.analyses
    assert len(saved["result"]["stances"]) == len(printed["stances"]) > 0
    r = run_cli("check", out)
    assert r.returncode == 0 and "OK: complete and closed cleanly" in r.stdout


def test_import_real_opensim_walking(shared_data, tmp_path):
    src = shared_data / "opensim_walking" / "subject01_walk1_grf.mot"
    out = tmp_path / "opensim.h5"
    r = run_cli("import", src, "-o", out)
    assert r.returncode == 0, r.stderr
    with open_session(out) as sf:
        assert sorted(sf.streams) == ["left", "right"]
        assert sf.stream_info("left")["side"] == "left"
    rec = read_recording(out)
    from forcelab.interop import load_recording

    direct = {s.name: s for s in load_recording(src).streams}
    for s in rec.streams:
        assert s.n_samples == direct[s.name].n_samples
        np.testing.assert_array_equal(s.fz, direct[s.name].fz)


def test_import_refuses_to_overwrite_and_bad_input(tmp_path):
    src = tmp_path / "a.csv"
    walking_csv(src, seconds=1.0)
    out = tmp_path / "a.h5"
    out.write_bytes(b"keep me")
    one_line_error(run_cli("import", src, "-o", out, "--map", "left=left_fz,right=right_fz"),
                   "already exists")
    assert out.read_bytes() == b"keep me"
    one_line_error(run_cli("import", src, "-o", tmp_path / "b.h5", "--body-mass", "0",
                           "--map", "left=left_fz,right=right_fz"), "body mass")
    one_line_error(run_cli("import", tmp_path / "missing.csv", "-o", tmp_path / "c.h5"),
                   "missing.csv")
    one_line_error(run_cli("import", src, "-o", tmp_path / "d.txt"), ".h5")
    assert not (tmp_path / "b.h5").exists() and not (tmp_path / "c.h5").exists()


def test_info_and_check_on_foreign_files(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    one_line_error(run_cli("info", text), "not a forcelab session file")
    r = run_cli("check", text)
    assert r.returncode == 2 and "UNREADABLE" in r.stdout
    one_line_error(run_cli("info", tmp_path / "nope.h5"), "nope.h5")


def test_check_reports_an_unclosed_session_and_recovers_it(tmp_path):
    path = tmp_path / "crashed.h5"
    # a recorder process that dies without closing (os._exit skips every cleanup)
    code = (
        "import os, sys, numpy as np\n"
        "from forcelab.store import SessionWriter\n"
        "from types import SimpleNamespace as B\n"
        "w = SessionWriter.create(sys.argv[1], athlete={'name': 'F'})\n"
        "w.add_stream('plate', {'protocol': 'FPB1', 'rate_hz': 100.0,"
        " 'channels': [['fz', 'N'], ['cop_x', 'm']]})\n"
        "w.start_trial('run')\n"
        "w.append('plate', B(seq=0, t_device_s=0.0, t_host_s=1.0, status=0, gap_before=0,"
        " samples=np.ones((300, 2))))\n"
        "w.flush()\n"
        "os._exit(0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    from forcelab.store import check_session

    report = check_session(path, isolated=True)  # what `forcelab check --json` prints
    assert report["exit_code"] == 1
    assert report["closed_cleanly"] is False and report["running_trials"] == ["run"]
    assert report["streams"]["plate"]["readable_samples"] == 300
    r = run_cli("check", path)
    assert r.returncode == 1 and "--recover" in r.stdout and "never stopped: run" in r.stdout
    fixed = tmp_path / "fixed.h5"
    r = run_cli("check", path, "--recover", fixed)
    assert r.returncode == 1 and "recovered into" in r.stderr
    r = run_cli("check", fixed)
    assert r.returncode == 0, r.stdout


def test_info_shows_gaps_and_link_errors(tmp_path):
    path = tmp_path / "links.h5"
    w = SessionWriter.create(path, athlete={"name": "G"}, auto_flush=False)
    w.add_stream("left", {"protocol": "INS1", "serial": "L1", "side": "left", "rate_hz": 100.0,
                          "channels": [["fz", "N"]]})
    from types import SimpleNamespace as B

    w.append("left", B(seq=0, t_device_s=0, t_host_s=0.0, samples=np.ones((50, 1)), status=0,
                       gap_before=0))
    w.append("left", B(seq=58, t_device_s=0.58, t_host_s=0.58, samples=np.ones((50, 1)),
                       status=0, gap_before=8))
    w.update_link_stats("left", {"crc_errors": 2, "resyncs": 1, "reconnects": 1, "gaps": 1})
    w.close()
    r = run_cli("info", path, "--json")
    s = json.loads(r.stdout)["streams"]["left"]
    assert (s["n_samples"], s["gaps"], s["samples_missing"]) == (100, 1, 8)
    assert (s["link"]["crc_errors"], s["link"]["resyncs"], s["link"]["reconnects"]) == (2, 1, 1)
    text = run_cli("info", path).stdout
    row = [line for line in text.splitlines() if line.startswith("left ")][0]
    assert row.split()[-6:] == ["1.00", "1", "8", "2", "1", "1"]
