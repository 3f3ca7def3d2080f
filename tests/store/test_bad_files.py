"""Damaged, foreign and newer-schema files give one clear SessionFileError; check/recover."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from store_helpers import make_block, plate_info, values

from forcelab.errors import InputError, SessionFileError
from forcelab.store import (
    SessionWriter,
    check_session,
    open_session,
    read_analyses,
    read_recording,
    recover_session,
    write_analysis,
)

T0 = 1_790_000_000.0


@pytest.fixture
def recorded(tmp_path):
    path = tmp_path / "ok.h5"
    w = SessionWriter.create(path, athlete={"name": "E", "body_mass_kg": 70.0}, t0_unix_s=T0,
                             auto_flush=False)
    w.add_stream("plate", plate_info())
    w.start_trial("t1", t_s=T0)
    for i in range(40):
        w.append("plate", make_block(i * 100, 100, 9, 1000.0, T0))
    w.close()
    return path


def test_text_file_is_not_a_session(tmp_path):
    p = tmp_path / "run.h5"
    p.write_text("Time,Fz\n0,1\n")
    with pytest.raises(SessionFileError, match="not a forcelab session file .not HDF5.*import"):
        open_session(p)
    report = check_session(p)
    assert report["status"] == "unreadable" and report["exit_code"] == 2


def test_foreign_hdf5_file(tmp_path):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f["data"] = np.arange(3)
    with pytest.raises(SessionFileError, match="HDF5 file but not a forcelab session"):
        read_recording(p)


def test_newer_schema_asks_for_an_upgrade(recorded):
    with h5py.File(recorded, "r+") as f:
        f.attrs["schema_version"] = 99
        f.attrs["software_version"] = "9.0"
    with pytest.raises(SessionFileError, match=r"schema 99 .*forcelab 9\.0.*upgrade forcelab"):
        open_session(recorded)
    assert check_session(recorded)["exit_code"] == 2


@pytest.mark.parametrize("keep_fraction", [0.0, 0.02, 0.5, 0.9])
def test_truncated_file_gives_one_clear_error_or_partial_data(recorded, keep_fraction):
    raw = recorded.read_bytes()
    cut = recorded.with_name("cut.h5")
    cut.write_bytes(raw[: int(len(raw) * keep_fraction)])
    try:
        with open_session(cut) as sf:
            sf.info_dict()
            for name in sf.streams:
                sf.read_stream(name)
    except SessionFileError as exc:
        assert "damaged" in str(exc) or "not a forcelab session" in str(exc)
    report = check_session(cut)
    assert report["status"] in ("unreadable", "incomplete", "ok")
    if report["status"] == "unreadable":
        assert report["error"]


def test_corrupted_chunk_is_reported_and_the_rest_recovered(recorded, tmp_path):
    with h5py.File(recorded, "r") as f:
        ds = f["streams/plate/samples"]
        # a chunk of rows 1000..1999 of samples (chunks hold one channel each)
        info = ds.id.get_chunk_info_by_coord((1000, 0))
        offset, size = info.byte_offset, info.size
    raw = bytearray(recorded.read_bytes())
    raw[offset : offset + size] = b"\xff" * size  # destroy the compressed chunk
    bad = tmp_path / "bad.h5"
    bad.write_bytes(bytes(raw))
    report = check_session(bad)
    assert report["status"] == "incomplete"
    assert report["streams"]["plate"]["readable_samples"] == 3000  # every chunk but the bad one
    assert "only 3000 of 4000" in " ".join(report["problems"])
    fixed = tmp_path / "fixed.h5"
    recover_session(bad, fixed)
    kept = np.r_[0:1000, 2000:4000]
    with open_session(fixed) as sf:
        data = sf.read_stream("plate")
        np.testing.assert_array_equal(data.seq, kept)
        np.testing.assert_array_equal(data.samples, values(kept, 9))
        assert sf.athlete["body_mass_kg"] == 70.0
        # the lost chunk is a gap of its 1000 samples, and the samples after it keep their time
        summary = sf.stream_summary("plate")
        assert summary["gaps"] == 1 and summary["samples_missing"] == 1000
        np.testing.assert_allclose(data.t_s[1000] - data.t_s[999], 1.001, atol=1e-9)
        rec = sf.read_stream("plate")
        assert rec.samples.shape[0] == 3000
    report = check_session(fixed)
    assert report["exit_code"] == 1 and report["streams"]["plate"]["readable_samples"] == 3000
    assert any("1000 samples (1.00 s) missing (" in p for p in report["problems"])
    with pytest.raises(SessionFileError, match="already exists"):
        recover_session(bad, fixed)


def test_recover_refuses_an_unreadable_file(tmp_path):
    p = tmp_path / "x.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(SessionFileError, match="nothing to recover"):
        recover_session(p, tmp_path / "y.h5")
    assert not (tmp_path / "y.h5").exists()


def test_write_and_read_analysis(recorded):
    result = {
        "stances": [
            {"stream": "plate", "side": "left", "start_s": 0.1, "peak_force_n": 1500.0,
             "valid": True, "reason": "", "impact_peak_n": None},
            {"stream": "plate", "side": "right", "start_s": 0.5, "peak_force_n": 1400.0,
             "valid": False, "reason": "partial_end", "impact_peak_n": 1200.0},
        ],
        "summary": {"left": {"n_stances": 1}},
        "asymmetry": {"peak_force_n": {"si_pct": -6.9}},
        "parameters": {"loading_rate_method": "valr_20_80"},
    }
    params = {"min_contact_s": 0.08, "loading_rate_method": "valr_20_80"}
    assert write_analysis(recorded, result, params) == "run_001"
    assert write_analysis(recorded, result, {}) == "run_002"
    (first, second) = read_analyses(recorded)
    assert first["parameters"] == params
    assert first["result"]["asymmetry"]["peak_force_n"]["si_pct"] == -6.9
    assert first["result"]["stances"][1]["reason"] == "partial_end"
    with h5py.File(recorded, "r") as f:  # a per-stance table other tools can read directly
        table = f["analysis/run_001/stances"][()]
        assert table["peak_force_n"].tolist() == [1500.0, 1400.0]
        assert np.isnan(table["impact_peak_n"][0]) and table["impact_peak_n"][1] == 1200.0
        assert [s.decode() for s in table["side"]] == ["left", "right"]
    with open_session(recorded) as sf:
        assert [a["name"] for a in sf.info_dict()["analyses"]] == ["run_001", "run_002"]
    # the recorded data is untouched
    assert read_recording(recorded).streams[0].n_samples == 4000


def test_write_analysis_refuses_bad_input(recorded, tmp_path):
    with pytest.raises(InputError, match="cannot be stored"):
        write_analysis(recorded, {"stances": [], "x": object()}, {})
    text = tmp_path / "t.csv"
    text.write_text("a\n1\n")
    with pytest.raises(SessionFileError, match="not a forcelab session"):
        write_analysis(text, {"stances": []}, {})
    assert read_analyses(recorded) == []


def test_file_being_set_up_by_a_writer_gives_a_clear_message(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "setup.h5"
    w = SessionWriter.create(path, athlete={}, auto_flush=False)  # no sample yet: not SWMR
    try:
        r = subprocess.run(
            [sys.executable, "-m", "forcelab", "info", str(path)], capture_output=True,
            text=True, timeout=60,
        )
        assert r.returncode == 2 and "being set up by a recorder" in r.stderr, r.stderr
        w.add_stream("plate", plate_info())
        w.start_swmr()
        with open_session(path) as sf:  # readable as soon as recording starts
            assert sf.streams == ["plate"] and sf.state["recording"] is True
    finally:
        w.close()
