"""Whole-file writes that never leave a half-written file: a free-space check before writing and
publishing a finished temporary file under a name that must not exist (a closed session gets its
analysis results through one copy beside it: :mod:`forcelab.store.analysis_io`)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from forcelab.errors import SessionFileError
from forcelab.store._writing import _oserror_text

#: Room left on the disk beyond what a write needs before forcelab starts it (bytes).
FREE_MARGIN_BYTES = 1024 * 1024


def check_free_space(folder: str | os.PathLike, need_bytes: int, what: str) -> None:
    """Refuse a write that would not fit: ``need_bytes`` plus :data:`FREE_MARGIN_BYTES` must be
    free in ``folder``.

    Raises
    ------
    SessionFileError
        When the file system has less room; the message says how much is free and needed.
    """
    try:
        st = os.statvfs(folder)
    except OSError:
        return  # no statistics (some network drives): the write itself reports a full disk
    free = st.f_bavail * st.f_frsize
    need = int(need_bytes) + FREE_MARGIN_BYTES
    if free < need:
        raise SessionFileError(
            f"not enough free disk space for {what} in {folder}: {free / 1e6:.1f} MB free, "
            f"{need / 1e6:.1f} MB needed; nothing was written: free disk space and try again"
        )


def publish_new(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give the complete file ``tmp`` its final name ``path``, which must not exist (a hard
    link: an existing file is never replaced, even one created meanwhile), then drop ``tmp``.
    On file systems without hard links (FAT, exFAT) the name is checked, then ``tmp`` renamed.

    Raises
    ------
    SessionFileError
        If ``path`` exists or the link cannot be made.
    """
    tmp, path = Path(tmp), Path(path)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    exists = SessionFileError(f"{path} already exists; forcelab never overwrites a session file")
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise exists from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
            raise SessionFileError(f"cannot create {path}: {_oserror_text(exc)}") from None
        # no hard links on this file system (FAT/exFAT memory sticks): a rename after a check
        if os.path.lexists(path):
            raise exists from None
        os.rename(tmp, path)
        return
    tmp.unlink()
