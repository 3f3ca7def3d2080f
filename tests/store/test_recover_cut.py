"""``check --recover`` salvages a session cut short (issue 16, item 4), and ``check`` reports a
session with no samples or with unplugged time instead of "OK: complete" (item 8, check side)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from store_helpers import make_block, plate_info, values

from forcelab.errors import SessionFileError
from forcelab.store import SessionWriter, check_session, open_session, recover_session

N = 60_000


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "forcelab", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def cut_session(tmp_path):
    path = tmp_path / "s.h5"
    w = SessionWriter.create(path, athlete={"name": "Ana"}, auto_flush=False)
    w.add_stream("plate", plate_info())
    w.start_trial("run", t_s=0.0)
    for i in range(0, N, 500):
        w.append("plate", make_block(i, 500, 9, 1000.0, w.t0_unix_s))
        if i % 5000 == 0:
            w.flush()
    w.add_marker("half way", t_s=30.0)
    w.stop_trial(t_s=N / 1000.0)
    w.close()
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: int(len(data) * 0.99)])
    return cut


def test_every_command_gives_one_line_for_a_cut_session(cut_session):
    for args in (("info", cut_session), ("analyze", cut_session),
                 ("export", cut_session, "--format", "csv", "-o", cut_session.parent / "o"),
                 ("report", cut_session, "-o", cut_session.parent / "r.html")):
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "forcelab check" in lines[0], (args, r.stderr)


def test_check_recover_salvages_the_complete_chunks_of_a_cut_session(cut_session, tmp_path):
    report = check_session(cut_session)
    assert report["status"] == "incomplete"
    assert any("cut short" in p for p in report["problems"])
    r = run_cli("check", cut_session, "--recover", tmp_path / "fixed.h5")
    assert r.returncode == 1, r.stderr
    with open_session(tmp_path / "fixed.h5") as sf:
        data = sf.read_stream("plate")
        trials = sf.trials
        assert sf.state["closed"]
    n = data.samples.shape[0]
    assert n >= 0.9 * N  # everything but the chunks that were in the cut 1 %
    np.testing.assert_array_equal(data.seq, np.arange(n))
    np.testing.assert_array_equal(data.samples, values(np.arange(n), 9))
    assert [t["name"] for t in trials] == ["run"]
    fixed = run_cli("check", tmp_path / "fixed.h5")  # the rows lost in the cut: one gap
    assert fixed.returncode == 1 and f"{N - n} samples" in fixed.stdout, fixed.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.h5", "fixed.h5", "s.h5"]


def test_recover_refuses_an_existing_target_and_a_missing_folder(cut_session, tmp_path):
    taken = tmp_path / "taken.h5"
    taken.write_bytes(b"mine")
    with pytest.raises(SessionFileError, match="already exists"):
        recover_session(cut_session, taken)
    assert taken.read_bytes() == b"mine"
    with pytest.raises(SessionFileError, match="does not exist"):
        recover_session(cut_session, tmp_path / "nope" / "x.h5")


def test_check_reports_a_session_without_samples(tmp_path):
    path = tmp_path / "empty.h5"
    with SessionWriter.create(path, athlete={"name": "Ana"}, auto_flush=False) as w:
        w.add_stream("plate", plate_info())
        w.start_trial("run", t_s=0.0)
        w.stop_trial(t_s=5.0)
    r = run_cli("check", path)
    assert r.returncode == 1 and "OK" not in r.stdout
    assert "no samples" in r.stdout


def test_check_reports_unplugged_time(tmp_path):
    path = tmp_path / "gap.h5"
    with SessionWriter.create(path, athlete={"name": "Ana"}, auto_flush=False) as w:
        w.add_stream("plate", plate_info())
        w.append("plate", make_block(0, 1000, 9, 1000.0, w.t0_unix_s))
        w.append("plate", make_block(3500, 1000, 9, 1000.0, w.t0_unix_s))  # 2.5 s unplugged
    report = check_session(path)
    assert report["status"] == "incomplete" and report["exit_code"] == 1
    assert any("2500 samples (2.50 s) missing (" in p for p in report["problems"])


def test_recover_keeps_the_other_groups_of_the_session(cut_session, tmp_path):
    """Stored analyses and marker trajectories (/analysis, /motion) are copied too."""
    import h5py

    src = tmp_path / "s.h5"
    with h5py.File(src, "r+") as h5:
        h5.create_group("motion").create_dataset("positions", data=np.arange(12.0))
    report = recover_session(src, tmp_path / "copy.h5")
    assert "not_recovered" not in report
    with h5py.File(tmp_path / "copy.h5", "r") as h5:
        np.testing.assert_array_equal(h5["motion/positions"][()], np.arange(12.0))


def test_publishing_works_without_hard_links(tmp_path, monkeypatch):
    """FAT/exFAT memory sticks have no hard links: the finished file is renamed instead, and
    an existing file is still never replaced."""
    import errno
    import os

    from forcelab.store import publish_new

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    tmp = tmp_path / ".x.h5.part"
    tmp.write_bytes(b"complete")
    publish_new(tmp, tmp_path / "x.h5")
    assert (tmp_path / "x.h5").read_bytes() == b"complete" and not tmp.exists()
    tmp.write_bytes(b"second")
    with pytest.raises(SessionFileError, match="already exists"):
        publish_new(tmp, tmp_path / "x.h5")
    assert (tmp_path / "x.h5").read_bytes() == b"complete"


def test_a_damaged_seq_chunk_costs_no_samples(tmp_path):
    """The sequence numbers of a damaged ``seq`` chunk are rebuilt from the block table, so
    the samples beside it are kept (every one of them, with its number)."""
    import h5py

    path = tmp_path / "s.h5"
    with SessionWriter.create(path, athlete={"name": "Ana"}, auto_flush=False) as w:
        w.add_stream("plate", plate_info())
        for i in range(0, 8000, 500):
            w.append("plate", make_block(i, 500, 9, 1000.0, w.t0_unix_s))
    with h5py.File(path, "r") as f:
        info = f["streams/plate/seq"].id.get_chunk_info(2)  # rows 2000..2999
    raw = bytearray(path.read_bytes())
    raw[info.byte_offset: info.byte_offset + info.size] = b"\xff" * info.size
    bad = tmp_path / "bad.h5"
    bad.write_bytes(bytes(raw))
    report = recover_session(bad, tmp_path / "fixed.h5")
    assert report["streams"]["plate"]["readable_samples"] == 8000
    with open_session(tmp_path / "fixed.h5") as sf:
        data = sf.read_stream("plate")
    np.testing.assert_array_equal(data.seq, np.arange(8000))
    np.testing.assert_array_equal(data.samples, values(np.arange(8000), 9))
