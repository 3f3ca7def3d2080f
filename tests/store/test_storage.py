"""How samples are stored: raw bridge counts, write-once chunks with tails, no dead space."""

from __future__ import annotations

import h5py
import numpy as np
from forcelab.drivers.base import Block
from raw_plate import CAL, raw_block, raw_plate_info, raw_samples
from store_helpers import make_block, plate_info, values

from forcelab.store import SessionWriter, check_session, open_session, recover_session

T0 = 1.8e9


def _storage_bytes(path) -> int:
    total = 0
    with h5py.File(path, "r") as f:
        def add(_, obj):
            nonlocal total
            if isinstance(obj, h5py.Dataset):
                total += obj.id.get_storage_size()

        f.visititems(add)
    return total


def test_raw_counts_are_stored_as_integers_and_read_back_exactly(session_path):
    w = SessionWriter.create(session_path, athlete={}, auto_flush=False)
    w.add_stream("plate", raw_plate_info())
    for seq in range(0, 3000, 100):
        w.append("plate", raw_block(seq, 100, 1000.0, T0))
        w.flush()
    odd = raw_samples(np.arange(3000, 3010))
    odd[3, 2] += 1e-3  # not a whole number of counts: kept as the value itself
    odd[5, 0] = np.nan
    w.append("plate", Block(3000, 3.0, T0 + 3.0, odd))
    w.close()
    expected = np.vstack([raw_samples(np.arange(3000)), odd]).astype(np.float32)
    with open_session(session_path) as sf:
        got = sf.read_stream("plate").samples
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)  # NaN where NaN, every other bit equal
    with h5py.File(session_path, "r") as f:  # the layout other tools read (docs)
        g = f["streams/plate"]
        assert g["counts"].dtype == np.int32 and g["counts"].shape == (3010, 6)
        k = g.attrs["counts_to_units"]
        assert np.array_equal(g["counts"][:3000], g["counts"][:3000].astype(np.int64))
        assert not g["samples"][:3000, :6].any()  # explained by the counts
        assert g["samples"][3003, 2] == expected[3003, 2] and g["counts"][3003].sum() == 0
        by_hand = (g["counts"][()] @ k.T).astype(np.float32) + g["samples"][:, :6]
        np.testing.assert_array_equal(by_hand, expected[:, :6])
        np.testing.assert_allclose(k, CAL.matrix * CAL.mvv_per_count[None, :], rtol=0)


def test_plates_without_raw_counts_keep_float_samples(session_path):
    with SessionWriter.create(session_path, athlete={}) as w:
        w.add_stream("plate", plate_info())  # calibration without the raw data format
        w.append("plate", make_block(0, 500, 9, 1000.0, T0))
    with h5py.File(session_path, "r") as f:
        assert "counts" not in f["streams/plate"]
        assert f["streams/plate/samples"].chunks == (1000, 1)  # one channel per chunk
    with open_session(session_path) as sf:
        np.testing.assert_array_equal(sf.read_stream("plate").samples,
                                      values(np.arange(500), 9))


def test_frequent_flushes_leave_no_dead_space_and_an_empty_tail(session_path):
    """Compressed chunks are written once: the file is hardly larger than what it stores."""
    w = SessionWriter.create(session_path, athlete={}, auto_flush=False)
    w.add_stream("plate", raw_plate_info())
    for seq in range(0, 30_000, 10):  # 30 s in 10 ms blocks, flushed every 50 ms
        w.append("plate", raw_block(seq, 10, 1000.0, T0))
        if seq % 50 == 40:
            w.flush()
    w.close()
    size = session_path.stat().st_size
    stored = _storage_bytes(session_path)
    assert size < 1.1 * stored, (size, stored)
    with h5py.File(session_path, "r") as f:
        committed = dict(zip(f["committed_rows"].attrs["datasets"], f["committed_rows"][()],
                             strict=True))
        assert committed["/streams/plate/samples"] == 30_000
        assert committed["/tail/streams/plate/samples"] == 0
    assert check_session(session_path)["status"] == "ok"


def test_rows_in_the_tail_are_read_while_recording(session_path):
    w = SessionWriter.create(session_path, athlete={}, auto_flush=False)
    w.add_stream("plate", raw_plate_info())
    w.add_marker("start", t_s=0.0)
    for seq in range(0, 2500, 250):  # 2.5 chunks of 1000 rows
        w.append("plate", raw_block(seq, 250, 1000.0, T0))
        w.flush()
        with open_session(session_path) as sf:  # another reader of the SWMR file
            data = sf.read_stream("plate")
            assert sf.markers == [{"t_s": 0.0, "label": "start"}]
        n = seq + 250
        np.testing.assert_array_equal(data.seq, np.arange(n))
        np.testing.assert_array_equal(data.samples,
                                      raw_samples(np.arange(n)).astype(np.float32))
    with h5py.File(session_path, "r", libver="latest", swmr=True) as f:
        assert f["streams/plate/samples"].shape[0] == 2000  # two complete chunks
    w.close()


def test_recovery_of_a_crashed_recording_keeps_the_tail_around_a_damaged_counts_chunk(
        session_path, tmp_path):
    """A recording that was never closed (rows in the tails) with one damaged chunk of bridge
    counts: recovery keeps every other row, the tail's included, rebuilt exactly from the counts,
    and the lost rows become one gap."""
    w = SessionWriter.create(session_path, athlete={}, auto_flush=False)
    w.add_stream("plate", raw_plate_info())
    for seq in range(0, 2500, 250):  # two complete chunks of 1000 rows + 500 rows in the tail
        w.append("plate", raw_block(seq, 250, 1000.0, T0))
        w.flush()
    crashed = tmp_path / "crashed.h5"
    crashed.write_bytes(session_path.read_bytes())  # the file as a kill -9 leaves it
    w.close()
    with h5py.File(crashed, "r", libver="latest", swmr=True) as f:
        assert f["streams/plate/counts"].shape[0] == 2000
        info = f["streams/plate/counts"].id.get_chunk_info_by_coord((1000, 2))
    raw = bytearray(crashed.read_bytes())
    raw[info.byte_offset : info.byte_offset + info.size] = b"\xff" * info.size
    crashed.write_bytes(bytes(raw))
    report = check_session(crashed)
    assert report["streams"]["plate"]["n_samples"] == 2500
    assert report["streams"]["plate"]["readable_samples"] == 1500
    recover_session(crashed, tmp_path / "fixed.h5")
    kept = np.concatenate([np.arange(1000), np.arange(2000, 2500)])
    with open_session(tmp_path / "fixed.h5") as sf:
        data = sf.read_stream("plate")
        assert sf.state["closed"]
    np.testing.assert_array_equal(data.seq, kept)
    np.testing.assert_array_equal(data.samples, raw_samples(kept).astype(np.float32))
    assert [(int(g["row"]), int(g["seq_start"]), int(g["n_missing"])) for g in data.gaps] == [
        (1000, 1000, 1000)]
    with h5py.File(tmp_path / "fixed.h5", "r") as f:
        assert "tail" not in f and f["streams/plate/counts"].shape == (1500, 6)
