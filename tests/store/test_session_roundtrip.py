"""SessionWriter -> file -> open_session / read_recording: every sample, gaps, trials, metadata."""

from __future__ import annotations

import json
import threading
import time

import h5py
import numpy as np
import pytest
from forcelab.drivers.base import Block, LinkStats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_helpers import csv4_info, insole_info, make_block, plate_info, values

from forcelab.errors import InputError, SessionFileError
from forcelab.store import (
    SessionWriter,
    is_session_file,
    open_session,
    read_recording,
)

T0 = 1_790_000_000.0  # a fixed session start on the host epoch (2026)


def _record(path, blocks_per_stream, *, athlete=None, **kw):
    """Write a session with the given {name: (info, [blocks])}."""
    w = SessionWriter.create(path, athlete=athlete or {"name": "Ana", "body_mass_kg": 61.5},
                             t0_unix_s=T0, auto_flush=False, **kw)
    for name, (info, _) in blocks_per_stream.items():
        w.add_stream(name, info)
    for name, (_, blocks) in blocks_per_stream.items():
        for b in blocks:
            w.append(name, b)
    return w


def test_every_sample_by_sequence_number_with_gaps(session_path):
    rate = 1000.0
    blocks, seq = [], 0
    dropped = {30: 17, 55: 3}  # block index -> samples the link lost before it
    for i in range(80):
        gap = dropped.get(i, 0)
        seq += gap
        blocks.append(make_block(seq, 25, 9, rate, T0 + 1.0, gap_before=gap))
        seq += 25
    w = _record(session_path, {"plate": (plate_info(), blocks)})
    w.close()

    with open_session(session_path) as sf:
        samples, seq_read, t_s, gaps = sf.read_stream("plate")
        sent_seq = np.concatenate([np.arange(b.seq, b.seq + b.n) for b in blocks])
        np.testing.assert_array_equal(seq_read, sent_seq)
        np.testing.assert_array_equal(samples, values(sent_seq, 9))
        # host time per sample: block time + offset inside the block, on the session time base
        np.testing.assert_allclose(t_s, 1.0 + sent_seq / rate, atol=1e-6)
        assert gaps["n_missing"].tolist() == [17, 3]
        assert gaps["seq_start"].tolist() == [30 * 25, 55 * 25 + 17]
        summary = sf.stream_summary("plate")
        assert summary["n_samples"] == 2000
        assert summary["samples_missing"] == 20
        assert summary["gaps"] == 2


def test_read_recording_puts_gaps_as_nan_and_maps_plate_channels(session_path):
    rate = 1000.0
    b1 = make_block(0, 100, 9, rate, T0 + 2.0)
    b2 = make_block(150, 100, 9, rate, T0 + 2.0, gap_before=50)
    _record(session_path, {"plate": (plate_info(), [b1, b2])}).close()

    rec = read_recording(session_path)
    (stream,) = rec.streams
    assert set(stream.channels) == {"fml", "fap", "fz", "mx", "my", "mz", "cop_ml", "cop_ap", "tz"}
    assert stream.units["cop_ml"] == "m"
    assert stream.n_samples == 250
    assert stream.t0_s == pytest.approx(2.0, abs=1e-6)
    assert np.isnan(stream.fz[100:150]).all()
    np.testing.assert_allclose(stream.fz[:100], values(np.arange(100), 9)[:, 2])
    np.testing.assert_allclose(stream.fz[150:], values(np.arange(150, 250), 9)[:, 2])
    np.testing.assert_allclose(stream.channels["fml"][:100], values(np.arange(100), 9)[:, 0])
    np.testing.assert_allclose(stream.channels["cop_ap"][150:],
                               values(np.arange(150, 250), 9)[:, 7])
    assert rec.body_mass_kg == 61.5


def test_insoles_and_diy_plate_channels_and_sides(session_path):
    left = [make_block(i * 5, 5, 25, 100.0, T0 + 0.5) for i in range(20)]
    right = [make_block(1000 + i * 5, 5, 25, 100.0, T0 + 0.52) for i in range(20)]
    diy = [make_block(i * 10, 10, 7, 200.0, T0 + 0.4) for i in range(10)]
    _record(session_path, {"left": (insole_info("left"), left),
                           "right": (insole_info("right"), right),
                           "diy": (csv4_info(), diy)}).close()
    rec = read_recording(session_path)
    by_name = {s.name: s for s in rec.streams}
    assert [s.name for s in rec.streams] == ["left", "right", "diy"]  # creation order
    assert by_name["left"].side == "left" and by_name["right"].side == "right"
    assert "cop_x" in by_name["left"].channels  # normalised insole COP keeps its name and unit
    assert by_name["left"].units["cop_x"] == "1"
    assert by_name["left"].units["p03"] == "kPa"
    assert {"cop_ml", "cop_ap", "c0", "c3", "fz"} <= set(by_name["diy"].channels)
    assert by_name["right"].t0_s == pytest.approx(0.52 + 10.0, abs=1e-6)
    with open_session(session_path) as sf:
        info = sf.stream_info("left")
        assert info["layout"][3]["x_mm"] == 3.0
        assert info["channels"][0] == ["fz", "N"]


def test_trials_markers_events_athlete_history_link_stats(session_path):
    w = SessionWriter.create(session_path, athlete={"id": "A7", "name": "Ben", "body_mass_kg": 80,
                                                    "club": "harriers"},
                             operator="lab tech", notes="warm day", t0_unix_s=T0,
                             auto_flush=False)
    w.add_stream("plate", plate_info())
    w.set_athlete(body_mass_kg=78.4, body_mass_method="weighed on FPB1 P1: SD 0.21 kg over 3.0 s")
    w.start_trial("easy 10 km/h", tags=["baseline", "shoe A"], speed_m_s=2.78, shoe="A",
                  notes="first", t_s=T0 + 5.0)
    for i in range(10):
        w.append("plate", make_block(i * 100, 100, 9, 1000.0, T0 + 5.0))
    w.add_marker("felt pain", t_s=T0 + 5.5)
    w.add_event("plate", "unplug", t_s=T0 + 5.9, seq=1000, message="cable pulled")
    w.update_link_stats("plate", LinkStats(frames=1000, crc_errors=3, resyncs=1))
    w.update_link_stats("plate", LinkStats(frames=1000, crc_errors=3, resyncs=1))  # unchanged
    w.update_link_stats("plate", {"frames": 1100, "crc_errors": 4, "reconnects": 1})
    assert w.stop_trial(t_s=6.0) == "easy 10 km/h"  # session-relative time is accepted too
    w.start_trial("fast", t_s=T0 + 7.0)
    w.close()

    with open_session(session_path) as sf:
        a = sf.athlete
        assert (a["id"], a["name"], a["body_mass_kg"]) == ("A7", "Ben", 78.4)
        assert a["body_mass_method"].startswith("weighed on FPB1")
        assert a["club"] == "harriers"
        assert a["history"][0]["body_mass_kg"] == 80.0
        assert a["history"][0]["body_mass_method"] == "entered"
        t1, t2 = sf.trials
        assert t1 == {"name": "easy 10 km/h", "tags": ["baseline", "shoe A"], "start_s": 5.0,
                      "stop_s": 6.0, "duration_s": 1.0, "speed_m_s": 2.78, "shoe": "A",
                      "notes": "first"}
        # the running trial was stopped at close, at the end of the data (not left open)
        assert t2["name"] == "fast" and t2["stop_s"] == pytest.approx(7.0)
        assert sf.markers == [{"t_s": 5.5, "label": "felt pain"}]
        (ev,) = sf.events
        assert ev["kind"] == "unplug" and ev["stream"] == "plate" and ev["seq"] == 1000
        assert ev["t_s"] == pytest.approx(5.9) and ev["message"] == "cable pulled"
        link = sf.link_stats("plate")
        assert (link["frames"], link["crc_errors"], link["reconnects"]) == (1100, 4, 1)
        assert sf._h5["streams/plate/link_stats"].shape == (2,)  # a row only when they change
        info = sf.info_dict()
        assert info["operator"] == "lab tech" and info["notes"] == "warm day"
        assert info["state"]["closed"] and info["state"]["close_reason"] == "normal"
        json.dumps(info)  # JSON-serialisable
    rec = read_recording(session_path, trial="easy 10 km/h")
    assert rec.streams[0].n_samples == 1000
    assert rec.streams[0].t0_s == pytest.approx(5.0)
    assert rec.body_mass_kg == 78.4


def test_trial_slicing_selects_the_interval(session_path):
    w = _record(session_path, {"plate": (plate_info(), [])})
    w.start_trial("first", t_s=T0 + 1.0)
    for i in range(30):
        w.append("plate", make_block(i * 100, 100, 9, 1000.0, T0))
    w.stop_trial(t_s=T0 + 1.5)
    w.start_trial("second", t_s=T0 + 2.0)
    w.stop_trial(t_s=T0 + 2.25)
    w.close()
    rec = read_recording(session_path, trial="first")
    s = rec.streams[0]
    assert s.n_samples == 500 and s.t0_s == pytest.approx(1.0)
    np.testing.assert_allclose(s.fz, values(np.arange(1000, 1500), 9)[:, 2])
    assert read_recording(session_path, trial="second").streams[0].n_samples == 250
    with pytest.raises(InputError, match="no trial 'third'.*'first', 'second'"):
        read_recording(session_path, trial="third")


def test_sequence_restart_after_replug_is_placed_by_time(session_path):
    rate = 100.0
    before = [make_block(500 + i * 10, 10, 25, rate, T0) for i in range(5)]  # seq 500..549
    # device restarted counting at 0, two seconds after the last block began (host clock)
    after = [Block(seq=i * 10, t_device_s=i * 0.1, t_host_s=T0 + 5.0 + 2.5 + i * 0.1,
                   samples=values(np.arange(i * 10, i * 10 + 10), 25)) for i in range(3)]
    _record(session_path, {"left": (insole_info("left", rate), before + after)}).close()
    s = read_recording(session_path).streams[0]
    first = 500 / rate
    assert s.t0_s == pytest.approx(first)
    restart = int(round((7.5 - first) * rate))
    assert s.n_samples == restart + 30
    assert np.isnan(s.fz[50:restart]).all()
    np.testing.assert_allclose(s.fz[restart:], values(np.arange(30), 25)[:, 0])
    with open_session(session_path) as sf:
        assert [e["kind"] for e in sf.events] == ["seq_reset"]


def test_never_overwrites_an_existing_file(session_path):
    session_path.write_bytes(b"precious data")
    with pytest.raises(SessionFileError, match="already exists.*never overwrites"):
        SessionWriter.create(session_path, athlete={})
    assert session_path.read_bytes() == b"precious data"
    assert not session_path.with_name("session.h5.reserve").exists()


def test_missing_folder_and_bad_parameters_are_clear(tmp_path):
    with pytest.raises(SessionFileError, match="folder .* does not exist"):
        SessionWriter.create(tmp_path / "nope" / "s.h5", athlete={})
    with pytest.raises(InputError, match="body mass"):
        SessionWriter.create(tmp_path / "a.h5", athlete={"body_mass_kg": 0})
    with pytest.raises(InputError, match="flush interval"):
        SessionWriter.create(tmp_path / "b.h5", athlete={}, flush_interval_s=5)
    with pytest.raises(InputError, match="sample_dtype"):
        SessionWriter.create(tmp_path / "c.h5", athlete={}, sample_dtype="int8")
    assert list(tmp_path.iterdir()) == []  # nothing half-created


def test_nonsense_calls_raise_and_lose_nothing(session_path):
    w = SessionWriter.create(session_path, athlete={"name": "C"}, auto_flush=False)
    w.add_stream("plate", plate_info())
    with pytest.raises(InputError, match="already declared"):
        w.add_stream("plate", plate_info())
    with pytest.raises(InputError, match="without '/'"):
        w.add_stream("a/b", plate_info())
    with pytest.raises(InputError, match="sampling rate"):
        w.add_stream("bad", {**plate_info().to_dict(), "rate_hz": -5})
    with pytest.raises(InputError, match="side"):
        w.add_stream("bad", {**plate_info().to_dict(), "side": "middle"})
    w.append("plate", make_block(0, 10, 9, 1000.0, T0))
    with pytest.raises(InputError, match=r"shape \(10, 3\), expected \(n, 9\)"):
        w.append("plate", Block(10, 0.01, T0, np.zeros((10, 3))))
    with pytest.raises(InputError, match="no stream 'belt'"):
        w.append("belt", make_block(10, 10, 9, 1000.0, T0))
    with pytest.raises(SessionFileError, match="declare every device stream before"):
        w.add_stream("late", insole_info("left"))
    with pytest.raises(InputError, match="needs a name"):
        w.start_trial("  ")
    w.start_trial("t1")
    with pytest.raises(InputError, match="'t1' is still running"):
        w.start_trial("t2")
    w.stop_trial()
    with pytest.raises(InputError, match="already exists"):
        w.start_trial("t1")
    with pytest.raises(InputError, match="speed"):
        w.start_trial("t3", speed_m_s=-1)
    with pytest.raises(InputError, match="body mass"):
        w.set_athlete(body_mass_kg=-3)
    w.append("plate", make_block(10, 10, 9, 1000.0, T0))
    w.close()
    w.close()  # twice is fine
    with pytest.raises(SessionFileError, match="already closed"):
        w.append("plate", make_block(20, 10, 9, 1000.0, T0))
    with open_session(session_path) as sf:
        assert sf.read_stream("plate").seq.tolist() == list(range(20))
        assert [t["name"] for t in sf.trials] == ["t1"]
        assert sf.athlete["body_mass_kg"] is None


def test_appends_from_a_thread_while_trials_and_markers_are_added(session_path):
    w = SessionWriter.create(session_path, athlete={}, flush_interval_s=0.05)
    w.add_stream("plate", plate_info())
    w.add_stream("left", insole_info("left"))
    n_blocks = 300

    def writer_thread():
        for i in range(n_blocks):
            w.append("plate", make_block(i * 10, 10, 9, 1000.0, T0))
            if i % 10 == 0:
                w.append("left", make_block(i, 1, 25, 100.0, T0))

    th = threading.Thread(target=writer_thread)
    th.start()
    for k in range(20):
        w.add_marker(f"m{k}")
        w.add_event(None, "note", message=str(k))
    w.start_trial("during")
    th.join()
    w.stop_trial()
    w.close()
    with open_session(session_path) as sf:
        assert sf.read_stream("plate").seq.tolist() == list(range(n_blocks * 10))
        assert sf.read_stream("left").seq.tolist() == list(range(0, n_blocks, 10))
        assert len(sf.markers) == 20 and len(sf.events) == 20
        assert sf.state["n_flushes"] >= 1


def test_timer_flushes_without_appends(session_path):
    """An unplugged device sends nothing more: what was buffered still reaches the file."""
    w = SessionWriter.create(session_path, athlete={}, flush_interval_s=0.1)
    w.add_stream("plate", plate_info())
    w.append("plate", make_block(0, 50, 9, 1000.0, T0))  # switches to SWMR, flushes (due)
    w.append("plate", make_block(50, 50, 9, 1000.0, T0))  # buffered only
    deadline = time.monotonic() + 5.0
    seen = 0
    while time.monotonic() < deadline and seen < 100:
        time.sleep(0.05)
        with open_session(session_path) as sf:  # committed rows, the tail included
            seen = sf.stream_summary("plate")["n_samples"]
    assert seen == 100
    w.close()


def test_writer_keeps_float64_when_asked(session_path):
    w = SessionWriter.create(session_path, athlete={}, sample_dtype="float64", auto_flush=False)
    w.add_stream("x", {"protocol": "import", "rate_hz": 10.0, "channels": [["fz", "N"]]})
    precise = np.array([[1.0000000001], [2.123456789012]])
    w.append("x", Block(0, 0.0, 0.0, precise))
    w.close()
    with open_session(session_path) as sf:
        np.testing.assert_array_equal(sf.read_stream("x").samples, precise)


def test_is_session_file(tmp_path, session_path):
    SessionWriter.create(session_path, athlete={}).close()
    assert is_session_file(session_path)
    text = tmp_path / "x.csv"
    text.write_text("a,b\n1,2\n")
    assert not is_session_file(text)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = [1, 2]
    assert not is_session_file(plain)
    assert not is_session_file(tmp_path / "missing.h5")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=25),
    gaps=st.lists(st.integers(0, 30), min_size=25, max_size=25),
    first_seq=st.integers(0, 10**9),
)
def test_property_every_sample_lands_at_its_sequence_number(tmp_path_factory, sizes, gaps,
                                                            first_seq):
    path = tmp_path_factory.mktemp("prop") / "p.h5"
    rate = 200.0
    blocks, seq = [], first_seq
    for size, gap in zip(sizes, gaps, strict=False):
        seq += gap if blocks else 0
        blocks.append(make_block(seq, size, 7, rate, T0 + 3.0 + (seq - first_seq) / rate
                                 - seq / rate, gap_before=gap if blocks else 0))
        seq += size
    _record(path, {"diy": (csv4_info(), blocks)}).close()
    s = read_recording(path).streams[0]
    sent = np.concatenate([np.arange(b.seq, b.seq + b.n) for b in blocks])
    assert s.n_samples == sent[-1] - first_seq + 1
    expected = np.full(s.n_samples, np.nan)
    expected[sent - first_seq] = values(sent, 7)[:, 4]
    np.testing.assert_array_equal(s.fz, expected.astype(np.float32).astype(np.float64))
    assert s.t0_s == pytest.approx(3.0, abs=1e-6)
    with open_session(path) as sf:
        summary = sf.stream_summary("diy")
    assert summary["samples_missing"] == s.n_samples - sent.size


def test_belt_and_insole_on_the_same_foot_and_stream_choice(session_path):
    belt = [make_block(i * 100, 100, 9, 1000.0, T0) for i in range(5)]
    insole = [make_block(i * 10, 10, 25, 100.0, T0) for i in range(5)]
    _record(session_path, {"left_insole": (insole_info("left"), insole),
                           "belt_left": (plate_info(side="left"), belt)}).close()
    rec = read_recording(session_path)
    sides = {s.name: s.side for s in rec.streams}
    assert sides == {"left_insole": None, "belt_left": "left"}  # the plate keeps the side
    assert rec.meta["side_conflicts"] == {"left_insole": "left"}
    only = read_recording(session_path, streams=["left_insole"])
    assert [(s.name, s.side) for s in only.streams] == [("left_insole", "left")]
    with pytest.raises(InputError, match="no stream 'belt_right'"):
        read_recording(session_path, streams=["belt_right"])


def test_kind_and_channel_roles_are_stored_and_files_without_them_read_the_same(tmp_path):
    """Streams keep their kind and channel roles as attributes; a file written before those
    attributes existed (protocol only) reads back to the same Recording."""
    infos = {"plate": plate_info(side="left"), "right": insole_info("right"), "diy": csv4_info()}
    new, old = tmp_path / "new.h5", tmp_path / "old.h5"
    for path in (new, old):
        w = _record(path, {n: (i, [make_block(0, 50, len(i.channels), i.rate_hz, T0 + 1.0)])
                           for n, i in infos.items()})
        w.close()
    with h5py.File(new, "r") as h5:
        a = h5["streams/plate"].attrs
        assert a["kind"] == "plate"
        assert list(a["channel_roles"])[:3] == ["fml", "fap", "fz"]
        assert h5["streams/right"].attrs["kind"] == "insole"
        assert list(h5["streams/diy"].attrs["channel_roles"])[:4] == ["cell"] * 4
    with h5py.File(old, "r+") as h5:
        for g in h5["streams"].values():
            del g.attrs["kind"]
            del g.attrs["channel_roles"]
            info = json.loads(g.attrs["device_info_json"])
            info.pop("kind")
            info["channels"] = [c[:2] for c in info["channels"]]
            g.attrs["device_info_json"] = json.dumps(info)
    with open_session(new) as sf_new, open_session(old) as sf_old:
        for name in infos:
            assert sf_old.stream_info(name)["kind"] == sf_new.stream_info(name)["kind"]
            assert sf_old.stream_info(name)["channel_roles"] == \
                sf_new.stream_info(name)["channel_roles"]
    rec_new, rec_old = read_recording(new), read_recording(old)
    for s_new, s_old in zip(rec_new.streams, rec_old.streams, strict=True):
        assert (s_old.name, s_old.sensor, s_old.side) == (s_new.name, s_new.sensor, s_new.side)
        assert s_old.units == s_new.units
        assert list(s_old.channels) == list(s_new.channels)
    by_name = {s.name: s for s in rec_old.streams}
    assert by_name["right"].sensor == "insole" and "cop_x" in by_name["right"].channels
    assert {"fml", "fap", "cop_ml", "tz"} <= set(by_name["plate"].channels)
