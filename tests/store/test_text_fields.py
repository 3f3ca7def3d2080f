"""What the user typed is stored whole: long notes, many tags, long names and labels round-trip
exactly (variable-length strings), and a damaged JSON field is one clear error, never an empty
value (issue 16, item 2)."""

from __future__ import annotations

import subprocess
import sys

import h5py
import pytest
from store_helpers import make_block, plate_info

from forcelab.errors import SessionFileError
from forcelab.store import SessionWriter, open_session

NOTES = ("Ljubljana, treadmill 2 — Schuh: Größe 44½; " * 60)[:2000]
TAGS = [f"tag-{i:02d}-ünïcødé-{'x' * i}" for i in range(40)]
NAME = "Ana-Lucía " + "Fernández-" * 30


def _record(path):
    w = SessionWriter.create(
        path, athlete={"id": "A" * 300, "name": NAME, "body_mass_kg": 61.0,
                       "club": "Atletski klub " * 120, "birth_year": 1999},
        notes=NOTES, auto_flush=False,
    )
    w.add_stream("plate", plate_info())
    w.start_trial("trial " + "ž" * 400, tags=TAGS, shoe="S" * 500, notes=NOTES, t_s=0.0)
    w.append("plate", make_block(0, 100, 9, 1000.0, w.t0_unix_s))
    w.add_marker("marker " + "m" * 1000, t_s=0.05)
    w.add_event("plate", "note", t_s=0.05, message="event " + "e" * 2000)
    w.stop_trial(t_s=0.099)
    w.close()


def test_long_notes_tags_names_and_labels_round_trip_exactly(session_path):
    _record(session_path)
    with open_session(session_path) as sf:
        (trial,) = sf.trials
        assert trial["notes"] == NOTES and len(trial["notes"]) == 2000
        assert trial["tags"] == TAGS
        assert trial["name"] == "trial " + "ž" * 400
        assert trial["shoe"] == "S" * 500
        assert sf.notes == NOTES
        a = sf.athlete
        assert a["name"] == NAME and a["id"] == "A" * 300
        assert a["club"] == "Atletski klub " * 120 and a["birth_year"] == 1999
        assert sf.markers[0]["label"] == "marker " + "m" * 1000
        assert [e["message"] for e in sf.events if e["kind"] == "note"] == ["event " + "e" * 2000]


def test_long_text_is_readable_by_another_process_while_recorded(session_path):
    """SWMR: a reader in another process sees the variable-length trial text of a live file."""
    w = SessionWriter.create(session_path, athlete={"name": NAME}, auto_flush=False)
    w.add_stream("plate", plate_info())
    w.start_trial("live", tags=TAGS, notes=NOTES, t_s=0.0)
    w.append("plate", make_block(0, 100, 9, 1000.0, w.t0_unix_s))
    w.flush()
    try:
        code = (
            "import sys; from forcelab.store import open_session\n"
            "sf = open_session(sys.argv[1]); t = sf.trials[0]\n"
            "print(len(t['notes']), len(t['tags']), sf.swmr)\n"
        )
        r = subprocess.run([sys.executable, "-c", code, str(session_path)],
                           capture_output=True, text=True, timeout=60)
    finally:
        w.close()
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["2000", "40", "True"]


def test_damaged_json_is_one_clear_error_not_an_empty_value(session_path):
    _record(session_path)
    with h5py.File(session_path, "r+") as h5:
        rows = h5["trials"][()]
        rows["tags_json"][0] = b'["warm-up", "base'  # cut, as an older fixed-width field did
        h5["trials"][:] = rows
    with open_session(session_path) as sf, pytest.raises(SessionFileError) as err:
        _ = sf.trials
    message = str(err.value)
    assert "\n" not in message and "tags of trial" in message and "not valid JSON" in message
