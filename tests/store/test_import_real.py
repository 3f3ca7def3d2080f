"""Real recordings written as sessions analyse exactly like the source files."""

from __future__ import annotations

import pytest

from forcelab.analysis import analyze_recording
from forcelab.interop import load_recording
from forcelab.store import open_session, read_recording, write_recording

CASES = {
    "fukuchi_one_plate_running": (
        "fukuchi2017_running/RBDS001runT25forces.txt",
        {"rate_hz": 300, "time_unit": "frame", "vertical": "Fy", "cop_ml": "COPz",
         "body_mass_kg": 62.0},
    ),
    "moticon_insoles_walking": ("moticon_opengo_walking/230927_102114.txt", {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_session_of_a_real_recording_analyses_like_the_source(shared_data, tmp_path, case):
    rel, options = CASES[case]
    source = load_recording(shared_data / rel, **options)
    path = tmp_path / "real.h5"
    write_recording(source, path, athlete={"name": "subject"}, trial="trial 1")
    stored = read_recording(path, trial="trial 1")
    assert [s.name for s in stored.streams] == [s.name for s in source.streams]
    for a, b in zip(source.streams, stored.streams, strict=True):
        assert a.side == b.side and a.rate_hz == b.rate_hz and a.n_samples == b.n_samples
        assert b.t0_s == pytest.approx(a.t0_s)
        assert set(a.channels) == set(b.channels)
        for ch in a.channels:
            assert (a.channels[ch] == b.channels[ch]).sum() + (
                (a.channels[ch] != a.channels[ch]) & (b.channels[ch] != b.channels[ch])
            ).sum() == a.n_samples, ch  # identical, NaN where the source has NaN
    assert stored.body_mass_kg == source.body_mass_kg
    expected = analyze_recording(source).to_dict()
    got = analyze_recording(stored).to_dict()
    assert len(expected["stances"]) > 10
    assert got["stances"] == expected["stances"]
    assert got["asymmetry"] == expected["asymmetry"]
    with open_session(path) as sf:
        assert sf.trials[0]["name"] == "trial 1"
        assert all(sf.stream_info(n)["protocol"] == "import" for n in sf.streams)
