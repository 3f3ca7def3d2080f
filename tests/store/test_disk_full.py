"""A full disk gives one clear SessionFileError and a readable file with everything flushed before.

Two ways: a real size-limited file system (tmpfs mounted by the test; needs root, skipped with a
reason otherwise) with a real writer process, and an injected ENOSPC at every write the store
makes (in-process, h5py's write calls replaced by ones that fail from the k-th call on).
"""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from store_helpers import make_block, plate_info, values

from forcelab.errors import SessionFileError
from forcelab.store import SessionWriter, check_session, open_session

HERE = Path(__file__).resolve().parent


@pytest.fixture
def small_fs(small_fs):
    """A 1 MiB tmpfs mounted for this test."""
    return small_fs(1024 * 1024)


def run_writer(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HERE / "writer_process.py"), str(path), "--block", "200",
         "--seconds", "100", *args],
        capture_output=True, text=True, timeout=110,
    )


def stored_prefix(path: Path) -> int:
    with open_session(path) as sf:
        data = sf.read_stream("plate")
    n = data.samples.shape[0]
    np.testing.assert_array_equal(data.seq, np.arange(n))
    np.testing.assert_array_equal(data.samples, values(np.arange(n), 9))
    return n


def test_nearly_full_disk_stops_cleanly_with_everything_written(small_fs):
    path = small_fs / "s.h5"
    # 20 kHz x 9 float32 channels: 0.36 MB raw per 0.5 s flush, the 1 MiB disk fills in ~2 s
    r = run_writer(path, "--rate", "20000", "--min-free", str(512 * 1024), "--reserve", "0")
    assert r.returncode == 3, r.stderr  # the writer reported a SessionFileError, no crash
    error = [x for x in r.stdout.splitlines() if x.startswith("ERROR:")]
    assert error and "disk almost full" in error[0] and "closed cleanly" in error[0]
    sent = int([x for x in r.stdout.splitlines() if x.startswith("appended")][-1].split()[1])
    # nothing was lost. When the append that raised met the low free space itself, its block was
    # written before closing; when the flush timer met it first (between two appends), the file
    # was closed with everything appended so far and that append raised before taking its block
    # (the caller knows it was not written). Either way the file holds every sample it was given.
    assert stored_prefix(path) in (sent, sent + 200)
    report = check_session(path)
    assert report["close_reason"] == "disk_full" and report["status"] == "incomplete"


def test_full_disk_write_error_gives_clear_error_and_readable_file(small_fs):
    path = small_fs / "s.h5"
    # appending as fast as possible: a flush of up to 4 MiB of samples hits the full disk
    r = run_writer(path, "--fast", "--min-free", "0", "--reserve", str(128 * 1024))
    assert r.returncode == 3, (r.returncode, r.stderr[-2000:])  # clean exit, no segfault
    error = [x for x in r.stdout.splitlines() if x.startswith("ERROR:")]
    assert error and "the disk is full" in error[0] and "Free disk space" in error[0]
    sent = int([x for x in r.stdout.splitlines() if x.startswith("appended")][-1].split()[1])
    n = stored_prefix(path)
    assert 0 < n <= sent
    report = check_session(path)
    assert report["status"] == "incomplete"
    assert report["streams"]["plate"]["readable_samples"] == n
    assert not (small_fs / "s.h5.reserve").exists()


# ----------------------------------------------------------------- injected ENOSPC everywhere
_WRITE_CALLS = [
    (h5py.Dataset, "__setitem__"),
    (h5py.Dataset, "resize"),
    (h5py.File, "flush"),
    (h5py.Group, "create_dataset"),
    (h5py.Group, "create_group"),
    (h5py.AttributeManager, "__setitem__"),
]


class DiskFull:
    """Counts h5py write calls; from call ``fail_from`` on, every write raises ENOSPC."""

    def __init__(self, monkeypatch, fail_from: int | None) -> None:
        self.calls = 0
        self.fail_from = fail_from
        for cls, name in _WRITE_CALLS:
            monkeypatch.setattr(cls, name, self._wrap(getattr(cls, name)))

    def _wrap(self, original):
        def call(*args, **kwargs):
            self.calls += 1
            if self.fail_from is not None and self.calls > self.fail_from:
                raise OSError(errno.ENOSPC, "No space left on device")
            return original(*args, **kwargs)

        return call


def scenario(path: Path) -> list[int]:
    """A short session; returns the plate sequence numbers of every flush that returned."""
    flushed: list[int] = []
    w = SessionWriter.create(path, athlete={"name": "D", "body_mass_kg": 70}, auto_flush=False,
                             flush_interval_s=1.0, min_free_bytes=0, reserve_bytes=0)
    try:
        w.add_stream("plate", plate_info())
        w.start_trial("t")
        seq = 0
        for i in range(6):
            w.append("plate", make_block(seq, 50, 9, 1000.0, 1.79e9))
            w.add_marker(f"m{i}")
            seq += 50
            if i % 2 == 1:
                w.flush()
                flushed.append(seq)
        w.stop_trial()
        w.close()
    finally:
        scenario.flushed = flushed
    return flushed


def test_injected_enospc_at_every_write(tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        counter = DiskFull(m, None)
        scenario(tmp_path / "count.h5")
        n_calls = counter.calls
    assert n_calls > 20
    for k in range(n_calls):
        path = tmp_path / f"s{k}.h5"
        with monkeypatch.context() as m:
            DiskFull(m, k)
            with pytest.raises(SessionFileError) as info:
                scenario(path)
        msg = str(info.value)
        assert "No space left" in msg or "disk is full" in msg, msg
        if not path.exists():  # failed while creating: nothing half-made is left
            assert "cannot create session file" in msg
            continue
        report = check_session(path)
        assert report["status"] != "unreadable", (k, report)
        flushed = scenario.flushed
        with open_session(path) as sf:
            if "plate" not in sf.streams:
                continue
            data = sf.read_stream("plate")
            n = data.samples.shape[0]
            # a prefix of what was sent, never a half-written row, at least every completed flush
            np.testing.assert_array_equal(data.seq, np.arange(n))
            np.testing.assert_array_equal(data.samples, values(np.arange(n), 9))
            assert n >= (flushed[-1] if flushed else 0), (k, n, flushed)
            assert n <= 300
            if report["status"] == "ok":
                # only when the failing call was the very last flush and HDF5's own close
                # still wrote the file: then it really is complete
                assert n == 300 and sf.trials[0]["stop_s"] is not None, (k, report)
