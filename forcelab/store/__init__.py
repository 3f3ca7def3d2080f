"""forcelab.store: the HDF5 session file (the only place h5py is imported).

- :class:`SessionWriter` records device streams, trials, markers and events (SWMR, flushed at
  least every 0.5 s, never overwrites a file, clear errors on a full disk).
- :func:`open_session` / :class:`SessionFile` read a session (also while it is recorded or after
  a crash); :func:`read_recording` turns it into a :class:`forcelab.recording.Recording`.
- :func:`write_analysis` / :func:`write_analyses` / :func:`read_analyses` keep analysis
  results in the file (written atomically: a copy beside it replaces it).
- :func:`write_recording` turns any Recording (``forcelab import``) into a session file.
- :func:`check_session` / :func:`recover_session` report and rescue damaged sessions.

The file layout is documented in ``docs/session-format.md``.
"""

from forcelab.store._layout import FORMAT_ID, SCHEMA_VERSION
from forcelab.store.analysis_io import read_analyses, write_analyses, write_analysis
from forcelab.store.check import CHECK_EXIT, check_session, recover_session
from forcelab.store.files import check_free_space, publish_new
from forcelab.store.importer import write_recording
from forcelab.store.reader import (
    SessionFile,
    StreamData,
    is_session_file,
    open_session,
    read_recording,
)
from forcelab.store.writer import SessionWriter

__all__ = [
    "CHECK_EXIT",
    "FORMAT_ID",
    "SCHEMA_VERSION",
    "SessionFile",
    "SessionWriter",
    "StreamData",
    "check_free_space",
    "check_session",
    "is_session_file",
    "open_session",
    "publish_new",
    "read_analyses",
    "read_recording",
    "recover_session",
    "write_analyses",
    "write_analysis",
    "write_recording",
]
