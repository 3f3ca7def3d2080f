"""--anonymize keeps only what is known to be safe (issue 16, item 9): unknown athlete fields,
trial names, file names and reader metadata never reach an export or a report, in any format,
and athletes keep stable, distinct pseudonyms (not all "P-unknown")."""

from __future__ import annotations

import pytest
from subprocesses import run_cli
from synth_sessions import make_session

from forcelab.interop.anonymize import pseudonym
from forcelab.sources import load_source

ATHLETE = {"id": "A-917", "name": "Jane", "body_mass_kg": 61.0, "surname": "Zorbatova",
           "full_name": "Jane Zorbatova", "birthday": "1999-04-01", "mail": "jz@club.example",
           "e-mail": "jane@uni.example", "telephone": "+386 41 555 123", "Nickname": "Zozonicky"}
SECRETS = ("Jane", "Zorbatova", "1999-04-01", "jz@club", "jane@uni", "555 123", "Zozonicky",
           "A-917", "Secret", "Jo Operator", "heavy legs", "first session")


def _all_outputs(source, tmp_path):
    """Export every format and a report with --anonymize through the CLI; return the files."""
    out = tmp_path / "out"
    out.mkdir()
    for fmt in ("json", "csv", "c3d", "mot"):
        r = run_cli("export", source, "--format", fmt, "-o", out, "--anonymize")
        assert r.returncode == 0, r.stderr
        assert not any(s.lower() in r.stdout.lower() for s in SECRETS), r.stdout
    r = run_cli("report", source, "-o", out / "report.html", "--anonymize")
    assert r.returncode == 0, r.stderr
    return sorted(out.iterdir())


def _assert_no_secret(files):
    assert files
    for f in files:
        assert not any(s.lower() in f.name.lower() for s in SECRETS), f.name
        data = f.read_bytes()  # case-sensitive: base64 figures hold any short word in some case
        for s in SECRETS:
            assert s.encode() not in data, (s, f.name)


def test_session_fields_off_the_allow_list_never_leak(tmp_path):
    path = tmp_path / "session.h5"
    make_session(path, layout="plate", athlete=ATHLETE,
                 trials=(("Jane Secret 12 km/h", 6.0, 3.3),))
    files = _all_outputs(path, tmp_path)
    _assert_no_secret(files)
    source = load_source(path, anonymize=True)
    assert source.athlete == {"id": pseudonym("A-917"), "body_mass_kg": 61.0,
                              "body_mass_method": "entered", "t_s": 0.0}
    assert [t.name for t in source.trials] == ["trial1"]


def test_plain_recording_file_name_never_leaks_and_pseudonyms_are_stable(tmp_path):
    session = tmp_path / "s.h5"
    make_session(session, layout="plate", trials=(("run", 6.0, 3.3),))
    plain = tmp_path / "Jane_Secret_run.csv"
    r = run_cli("export", session, "--format", "csv", "-o", plain)
    assert r.returncode == 0, r.stderr
    other = tmp_path / "Bob_Other_run.csv"
    other.write_bytes(plain.read_bytes())
    files = _all_outputs(plain, tmp_path)
    _assert_no_secret(files)
    ids = {load_source(p, anonymize=True).athlete_id for p in (plain, plain, other)}
    assert len(ids) == 2 and "P-unknown" not in ids


@pytest.mark.parametrize("field", ["surname", "e-mail", "telephone", "birthday", "Nickname"])
def test_an_unknown_athlete_field_is_dropped(tmp_path, field):
    from forcelab.interop.anonymize import anonymize_athlete

    out = anonymize_athlete({"id": "x", field: "private", "body_mass_kg": 70.0}, b"k")
    assert set(out) == {"id", "body_mass_kg"}
