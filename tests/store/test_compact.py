"""forcelab compact: an old, bloated session file rewritten losslessly in the compact layout."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest
from raw_plate import raw_block, raw_plate_info
from store_helpers import insole_info, make_block

from forcelab.errors import SessionFileError
from forcelab.store import SessionWriter, check_session, open_session, write_analysis
from forcelab.store import _layout as L
from forcelab.store.compact import compact_session

T0 = 1.8e9


def _record(path) -> None:
    w = SessionWriter.create(path, athlete={"name": "Ana", "body_mass_kg": 61.0}, notes="x")
    w.add_stream("plate", raw_plate_info())
    w.add_stream("left", insole_info("left"))
    w.start_trial("run", tags=("a",))
    for i in range(40):
        w.append("plate", raw_block(100 * i, 100, 1000.0, T0))
        w.append("left", make_block(10 * i, 10, 25, 100.0, T0))
        w.add_marker(f"m{i}", t_s=i * 0.1)
    w.stop_trial()
    w.close()
    write_analysis(path, {"stances": [{"side": "left", "peak_force_n": 1.0}]}, {"m": 1})


def _old_layout(new, old) -> None:
    """The same session as forcelab wrote it before compact storage: float samples in row
    chunks, no tails, and a partial gzip chunk rewritten at every flush in SWMR mode."""
    with open_session(new) as sf:
        data = {n: sf.read_stream(n) for n in sf.streams}
    with h5py.File(new, "r") as src, h5py.File(old, "x", libver=L.FILE_FORMAT) as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        for name in ("session_state", "athlete", "trials", "markers", "events"):
            src.copy(src[name], dst, name)
        src.copy(src["analysis"], dst, "analysis")
        paths = []
        for name, d in data.items():
            g_in = src["streams"][name]
            g = dst.create_group(f"streams/{name}")
            for k, v in g_in.attrs.items():
                if k != "counts_to_units":
                    g.attrs[k] = v
            for table in L.STREAM_TABLES:
                src.copy(g_in[table], g, table)
            rows = int(d.rate_hz)
            g.create_dataset("samples", shape=(0, d.samples.shape[1]),
                             maxshape=(None, d.samples.shape[1]), dtype="f4",
                             chunks=(rows, d.samples.shape[1]), compression="gzip", shuffle=True)
            g.create_dataset("seq", shape=(0,), maxshape=(None,), dtype="i8", chunks=(rows,),
                             compression="gzip", shuffle=True)
            paths += [f"/streams/{name}/{t}" for t in ("samples", "seq", *L.STREAM_TABLES)]
        dst.create_dataset("committed_rows", data=np.array([0] * len(paths), dtype="i8"))
        dst["committed_rows"].attrs["datasets"] = paths
        dst.swmr_mode = True
        for name, d in data.items():
            g = dst[f"streams/{name}"]
            step = max(1, int(d.rate_hz) // 10)
            for a in range(0, len(d.seq), step):
                for ds, values in ((g["samples"], d.samples), (g["seq"], d.seq)):
                    ds.resize((a + len(values[a:a + step]), *ds.shape[1:]))
                    ds[a:] = values[a:a + step]
                dst.flush()
        dst["committed_rows"][:] = [dst[p].shape[0] for p in paths]


@pytest.fixture
def old_file(tmp_path):
    new = tmp_path / "new.h5"
    _record(new)
    old = tmp_path / "old.h5"
    _old_layout(new, old)
    return old


def _content(path):
    with open_session(path) as sf:
        streams = {n: sf.read_stream(n) for n in sf.streams}
        return (sf.athlete, sf.trials, sf.markers, sf.events, sf.analyses, sf.state,
                {n: sf.stream_info(n) for n in sf.streams}, streams)


def test_compact_rewrites_an_old_bloated_file_losslessly(old_file):
    before = _content(old_file)
    size_before = old_file.stat().st_size
    with h5py.File(old_file, "r") as f:
        assert "counts" not in f["streams/plate"]
    r = subprocess.run([sys.executable, "-m", "forcelab", "compact", str(old_file)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "plate: 4000 samples as raw counts" in r.stderr and "identical" in r.stderr
    after = _content(old_file)
    assert after[:7] == before[:7]
    for name, a in before[7].items():
        b = after[7][name]
        for field in ("samples", "seq", "t_s", "gaps", "blocks"):
            np.testing.assert_array_equal(getattr(b, field), getattr(a, field))
        assert b.samples.dtype == a.samples.dtype
    assert old_file.stat().st_size < size_before
    with h5py.File(old_file, "r") as f:
        assert f["streams/plate/counts"].dtype == np.int32
        assert "compacted_utc" in f.attrs
    assert check_session(old_file)["status"] == "ok"
    assert not list(old_file.parent.glob(".*.tmp"))


def test_compact_to_another_file_leaves_the_original(old_file, tmp_path):
    raw = old_file.read_bytes()
    out = tmp_path / "small.h5"
    compact_session(old_file, out)
    assert old_file.read_bytes() == raw
    assert _content(out)[:7] == _content(old_file)[:7]
    with pytest.raises(SessionFileError, match="already exists"):
        compact_session(old_file, out)


def test_compact_refuses_a_file_that_was_not_closed(tmp_path):
    path = tmp_path / "open.h5"
    w = SessionWriter.create(path, athlete={}, auto_flush=False)
    w.add_stream("plate", raw_plate_info())
    w.append("plate", raw_block(0, 100, 1000.0, T0))
    w.flush()
    r = subprocess.run([sys.executable, "-m", "forcelab", "compact", str(path)],
                       capture_output=True, text=True, timeout=120)
    w.close()
    assert r.returncode == 2 and "--recover" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not list(tmp_path.glob(".*.tmp"))
    assert check_session(path)["streams"]["plate"]["n_samples"] == 100


def test_compact_refuses_what_is_not_a_session(tmp_path):
    p = tmp_path / "x.h5"
    p.write_bytes(b"not hdf5")
    r = subprocess.run([sys.executable, "-m", "forcelab", "compact", str(p)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "not a forcelab session" in r.stderr
    assert p.read_bytes() == b"not hdf5"
