"""The persistent athlete list: round trip, validation, damaged files never overwritten."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forcelab.console.athletes import Athlete, AthleteStore
from forcelab.errors import FileFormatError, InputError


def test_round_trip_between_runs(tmp_path):
    path = tmp_path / "cfg" / "athletes.json"
    store = AthleteStore(path)
    assert store.load() == []
    store.upsert(Athlete("Zoe Sprinter", athlete_id="Z9", body_mass_kg=58.5, notes="left ACL"))
    store.upsert(Athlete("adam runner", body_mass_kg=None))
    again = AthleteStore(path)
    names = [a.name for a in again.load()]
    assert names == ["adam runner", "Zoe Sprinter"]
    zoe = again.find("  zoe   SPRINTER ")
    assert zoe == Athlete("Zoe Sprinter", athlete_id="Z9", body_mass_kg=58.5, notes="left ACL")
    assert again.find("adam runner").body_mass_kg is None


def test_rename_update_and_remove(tmp_path):
    store = AthleteStore(tmp_path / "athletes.json")
    store.upsert(Athlete("A", body_mass_kg=70))
    store.upsert(Athlete("B", body_mass_kg=80))
    store.upsert(Athlete("A2", body_mass_kg=71), replace="A")
    assert [(a.name, a.body_mass_kg) for a in AthleteStore(store.path).load()] == [
        ("A2", 71.0), ("B", 80.0)
    ]
    with pytest.raises(InputError, match="already exists"):
        store.upsert(Athlete("b", body_mass_kg=1.5), replace="A2")
    store.remove("A2")
    with pytest.raises(InputError, match="no athlete"):
        store.remove("A2")
    assert [a.name for a in AthleteStore(store.path).load()] == ["B"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "   "}, "needs a name"),
        ({"name": "X", "body_mass_kg": 0}, "between 1 and 500"),
        ({"name": "X", "body_mass_kg": "heavy"}, "must be a number"),
        ({"name": "X", "body_mass_kg": float("nan")}, "between 1 and 500"),
    ],
)
def test_nonsense_athletes_are_refused(kwargs, match):
    with pytest.raises(InputError, match=match):
        Athlete(**kwargs)


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "damaged"),
        ('["a", "b"]', "not a forcelab athlete list"),
        ('{"version": 99, "athletes": []}', "newer forcelab"),
        ('{"version": 1, "athletes": [{"name": "ok"}, {"name": "", "body_mass_kg": 3}]}',
         "entry 2"),
        ('{"version": 1, "athletes": [{"name": "X", "body_mass_kg": -4}]}', "entry 1"),
    ],
)
def test_damaged_list_is_reported_and_kept(tmp_path, content, match):
    path = tmp_path / "athletes.json"
    path.write_text(content, encoding="utf-8")
    store = AthleteStore(path)
    with pytest.raises(FileFormatError, match=match):
        store.load()
    assert path.read_text(encoding="utf-8") == content  # untouched
    moved = store.quarantine()
    assert moved is not None and moved.read_text(encoding="utf-8") == content
    assert not path.exists()
    store.upsert(Athlete("Fresh"))
    assert [a.name for a in AthleteStore(path).load()] == ["Fresh"]
    assert moved.read_text(encoding="utf-8") == content  # the broken list is still there


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    store = AthleteStore(tmp_path / "athletes.json")
    for i in range(5):
        store.upsert(Athlete(f"runner {i}", body_mass_kg=60 + i))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["athletes.json"]
    doc = json.loads((tmp_path / "athletes.json").read_text(encoding="utf-8"))
    assert doc["version"] == 1 and len(doc["athletes"]) == 5


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30
).filter(lambda s: s.strip())


@settings(max_examples=60, deadline=None)
@given(
    name=names,
    athlete_id=st.text(max_size=12),
    mass=st.one_of(st.none(), st.floats(1.0, 500.0)),
    notes=st.text(max_size=40),
)
def test_any_valid_athlete_survives_a_round_trip(tmp_path_factory, name, athlete_id, mass, notes):
    path = tmp_path_factory.mktemp("athletes") / "athletes.json"
    original = Athlete(name, athlete_id=athlete_id, body_mass_kg=mass, notes=notes)
    AthleteStore(path).upsert(original)
    (loaded,) = AthleteStore(path).load()
    assert loaded == original
