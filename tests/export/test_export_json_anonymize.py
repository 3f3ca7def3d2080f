"""JSON export and --anonymize: every stance is there, nothing identifying leaks."""

from __future__ import annotations

import json

import pytest
from subprocesses import run_cli
from synth_sessions import make_session

from forcelab.errors import InputError
from forcelab.interop.anonymize import anonymize_athlete, key_path, pseudonym, pseudonym_key
from forcelab.interop.export_json import export_json
from forcelab.sources import load_source

SECRETS = ("Alex Runner", "Jo Operator", "heavy legs", "first session", "A-017", "alex_")


def _strict_load(path):
    def no_nan(token):
        raise AssertionError(f"non-JSON number {token} in {path}")

    return json.loads(path.read_text(), parse_constant=no_nan)


def test_json_has_summary_and_every_stance(sessions, tmp_path):
    source = load_source(sessions["treadmill"])
    (path,) = export_json(source, tmp_path)
    doc = _strict_load(path)
    assert doc["format"] == "forcelab-export" and doc["format_version"] == 1
    assert doc["athlete"]["id"] == "A-017" and doc["athlete"]["body_mass_kg"] == 68.0
    assert [t["name"] for t in doc["trials"]] == ["easy run", "tempo"]
    for t, trial in zip(doc["trials"], source.trials, strict=True):
        result = trial.analysis()
        assert len(t["analysis"]["stances"]) == len(result.stances) > 10
        assert t["analysis"]["summary"]["left"]["n_stances"] == result.summary["left"]["n_stances"]
        a = t["analysis"]["asymmetry"]["midstance_peak_bw"]
        assert a["si_pct"] == pytest.approx(result.asymmetry["midstance_peak_bw"]["si_pct"])
        assert t["info"]["speed_m_s"] in (3.0, 3.6)
        assert {s["name"] for s in t["streams"]} == {"left", "right"}
        assert t["streams"][0]["channels"]["fz"] == "N"


def test_anonymized_exports_leak_no_name_notes_or_id(sessions, tmp_path):
    from forcelab.interop.export_c3d import export_c3d
    from forcelab.interop.export_csv import export_csv
    from forcelab.interop.export_mot import export_mot

    r = run_cli("export", sessions["treadmill"], "--format", "json", "-o", tmp_path / "json",
                "--anonymize")
    assert r.returncode == 0, r.stderr
    source = load_source(sessions["treadmill"], anonymize=True)
    for fmt, export in (("csv", export_csv), ("c3d", export_c3d), ("mot", export_mot)):
        export(source, tmp_path / fmt)
    for fmt in ("json", "csv", "c3d", "mot"):
        out = tmp_path / fmt
        files = sorted(out.iterdir())
        assert files
        for f in files:
            assert not any(s.lower() in f.name.lower() for s in SECRETS), f.name
            data = f.read_bytes()
            for s in SECRETS[:-1]:
                assert s.encode() not in data, (s, f.name)
    doc = json.loads(next((tmp_path / "json").iterdir()).read_text())
    assert doc["anonymized"] is True
    assert doc["athlete"]["id"].startswith("P-") and "name" not in doc["athlete"]
    assert doc["athlete"]["body_mass_kg"] == 68.0  # what the analysis needs is kept
    assert "notes" not in doc["session"] and "operator" not in doc["session"]
    assert all("notes" not in t["info"] for t in doc["trials"])


def test_pseudonym_is_stable_keyed_and_normalised(tmp_path, monkeypatch):
    p1 = pseudonym("A-017", b"k1")
    assert p1 == pseudonym(" a-017 ", b"k1") and p1.startswith("P-") and len(p1) == 12
    assert p1 != pseudonym("A-017", b"k2") and p1 != pseudonym("A-018", b"k1")
    # same athlete in two sessions -> same pseudonym, so trends still line up
    a = tmp_path / "s1.h5"
    b = tmp_path / "s2.h5"
    make_session(a, trials=(("r", 3.0, 3.0),))
    make_session(b, trials=(("r", 3.0, 3.0),), day=3)
    ida = load_source(a, anonymize=True).athlete_id
    assert ida == load_source(b, anonymize=True).athlete_id == pseudonym("A-017")


def test_key_file_is_created_once_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv("FORCELAB_PSEUDONYM_KEY")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    k1 = pseudonym_key()
    assert key_path().stat().st_mode & 0o077 == 0
    assert pseudonym_key() == k1 and len(k1) == 64
    key_path().write_text("")
    with pytest.raises(InputError, match="empty"):
        pseudonym_key()


def test_anonymize_athlete_keeps_what_analysis_needs():
    out = anonymize_athlete({"id": "x1", "name": "N", "notes": "knee", "body_mass_kg": 70.0,
                             "body_mass_method": "entered", "email": "a@b"}, b"k")
    assert out == {"id": pseudonym("x1", b"k"), "body_mass_kg": 70.0,
                   "body_mass_method": "entered"}


def test_trial_without_stances_still_exports(tmp_path):
    import numpy as np

    from forcelab.recording import Recording, Stream
    from forcelab.store import write_recording

    src = tmp_path / "standing.h5"
    write_recording(Recording([Stream("plate", 100.0, {"fz": np.full(500, 700.0)})]), src,
                    athlete={"id": "S1"}, trial="stand")
    (path,) = export_json(load_source(src), tmp_path)
    doc = _strict_load(path)
    assert doc["trials"][0]["analysis"] is None
    assert "no stances" in doc["trials"][0]["analysis_error"]


def test_reader_options_on_session_files(sessions, tmp_path):
    src = load_source(sessions["plate"], reader_options={"body_mass_kg": 80.0})
    assert src.athlete["body_mass_kg"] == 80.0
    assert src.trials[0].analysis().body_mass_kg == 80.0
    with pytest.raises(InputError, match="session files"):
        load_source(sessions["plate"], reader_options={"rate_hz": 100.0})
