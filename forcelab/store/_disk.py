"""Full disks and write errors of :class:`forcelab.store.writer.SessionWriter`.

Before each flush the writer checks the free space; below its margin it writes what it holds,
closes the file cleanly (reason ``disk_full``) and raises. A write that fails anyway (another
program filled the disk, a quota, an I/O error) releases the reserve file kept beside the session
so HDF5 can cut every dataset back to its committed rows and close the file (reason
``disk_full``/``write_error``); the user gets one SessionFileError saying what the file keeps.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from forcelab.errors import SessionFileError
from forcelab.store import _packing as P
from forcelab.store._writing import (
    _close_quietly,
    _is_disk_full,
    _oserror_text,
    _release,
    _Reserve,
    _StreamBuffer,
)


class _DiskGuard:
    """The failure handling of the session writer (its base class)."""

    path: Path
    _h5: h5py.File
    _reserve: _Reserve | None
    _streams: dict[str, _StreamBuffer]
    _committed: dict[str, int]
    _min_free_bytes: int
    _closed: bool
    _error: SessionFileError | None
    _error_reported: bool
    _flush_steps: Callable[[], None]
    _close_file: Callable[[str], None]
    _mark_closed: Callable[[str], None]
    _pending_bytes: Callable[[], int]
    _last_data_time: Callable[[], float]
    _ds: Callable[[str], h5py.Dataset]

    def _check_free_space(self) -> None:
        try:
            st = os.statvfs(self.path.parent)
        except OSError:
            return
        free = st.f_bavail * st.f_frsize
        pending = self._pending_bytes()
        if free >= self._min_free_bytes + pending:
            return
        # Write what we hold while there is still room, close cleanly, then tell the user.
        self._guarded(self._flush_steps)
        self._close_file("disk_full")
        err = SessionFileError(
            f"disk almost full ({free / 1e6:.1f} MB free on {self.path.parent}): recording "
            f"stopped and {self.path} closed cleanly with everything recorded up to "
            f"{self._last_data_time():.1f} s; free disk space and start a new session"
        )
        self._error = err
        self._error_reported = True
        raise err

    def _guarded(self, op: Any) -> Any:
        """Run an HDF5 operation; turn any failure into the writer's SessionFileError."""
        try:
            return op()
        except SessionFileError:
            raise
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        disk_full = _is_disk_full(exc)
        reason = "disk_full" if disk_full else "write_error"
        what = "the disk is full" if disk_full else _oserror_text(exc)
        # Give HDF5 room to write its metadata and close the file consistently.
        _release(self._reserve)
        self._reserve = None
        try:
            self._shrink_to_committed()
            self._h5.flush()
            self._mark_closed(reason)
        except Exception:  # noqa: BLE001 - the user gets the original error below
            _close_quietly(self._h5)
        self._closed = True
        err = SessionFileError(
            f"cannot write session file {self.path}: {what}. Recording stopped; the file keeps "
            f"everything flushed before (up to about {self._committed_time():.1f} s of the "
            "session). Free disk space or check the drive, then start a new session."
        )
        self._error = err
        self._error_reported = True
        raise err from exc

    def _shrink_to_committed(self) -> None:
        """Cut every dataset back to its committed rows: drops the chunks of the failed flush
        from HDF5's cache so the metadata alone (small) has to fit on the disk to close."""
        for p, n in self._committed.items():
            if p.startswith(f"/{P.TAIL_GROUP}/"):
                continue  # a tail has a fixed size; its committed rows are what counts
            ds = self._ds(p)
            if ds.shape[0] > n:
                ds.resize((n, *ds.shape[1:]))

    def _committed_time(self) -> float:
        times = [s.committed_t_s for s in self._streams.values() if np.isfinite(s.committed_t_s)]
        return max(times) if times else 0.0
