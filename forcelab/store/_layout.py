"""Names, table layouts and small helpers of the forcelab session file (schema 1).

The layout is documented for other tools in ``docs/session-format.md``; keep the two in step.
Everything that changes while a session is recorded lives in datasets created before SWMR writing
starts (HDF5 forbids new objects and attribute changes in SWMR mode); attributes hold only what is
known when the file or the stream is created.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no writer-alive detection
    fcntl = None

import h5py
import numpy as np

from forcelab.errors import SessionFileError

FORMAT_ID = "forcelab-session"
SCHEMA_VERSION = 1

#: HDF5 file format bounds: the 1.10 format (the oldest with SWMR), and no newer, so HDF5 1.10+
#: tools (MATLAB, HDFView, older h5py) read the files even when written with a newer library.
FILE_FORMAT = ("v110", "v110")

#: Session-relative times below this are taken as seconds since the session start; larger
#: values as seconds on the host ``time.time()`` epoch (1e9 s is September 2001).
EPOCH_THRESHOLD_S = 1e9

#: Counters of a device link (the names of forcelab.drivers.LinkStats), one column each.
LINK_COUNTERS = (
    "bytes_received",
    "frames",
    "crc_errors",
    "resyncs",
    "bytes_discarded",
    "bad_lines",
    "dropped_samples",
    "gaps",
    "reconnects",
)

#: Variable-length UTF-8 text: whatever the user typed (names, notes, tags, labels, JSON) is
#: stored whole, never cut to a field width. Files of forcelab 0.x before this used fixed-width
#: fields (``S64``...); the reader decodes both.
VTEXT = h5py.string_dtype("utf-8")

SESSION_STATE_DTYPE = np.dtype(
    [
        ("closed", "u1"),
        ("close_reason", "S64"),
        ("closed_unix_s", "f8"),
        ("last_flush_unix_s", "f8"),
        ("n_flushes", "i8"),
    ]
)
ATHLETE_DTYPE = np.dtype(
    [
        ("t_s", "f8"),
        ("id", VTEXT),
        ("name", VTEXT),
        ("body_mass_kg", "f8"),
        ("body_mass_method", VTEXT),
        ("extra_json", VTEXT),
    ]
)
TRIAL_DTYPE = np.dtype(
    [
        ("name", VTEXT),
        ("tags_json", VTEXT),
        ("start_s", "f8"),
        ("stop_s", "f8"),
        ("speed_m_s", "f8"),
        ("shoe", VTEXT),
        ("notes", VTEXT),
    ]
)
MARKER_DTYPE = np.dtype([("t_s", "f8"), ("label", VTEXT)])
EVENT_DTYPE = np.dtype(
    [
        ("t_s", "f8"),
        ("stream", VTEXT),
        ("kind", VTEXT),
        ("seq", "i8"),
        ("arg", "i8"),
        ("message", VTEXT),
    ]
)
BLOCK_DTYPE = np.dtype(
    [
        ("row", "i8"),
        ("seq", "i8"),
        ("n", "i8"),
        ("t_s", "f8"),
        ("t_device_s", "f8"),
        ("status", "i8"),
    ]
)
GAP_DTYPE = np.dtype([("row", "i8"), ("seq_start", "i8"), ("n_missing", "i8"), ("t_s", "f8")])
LINK_STATS_DTYPE = np.dtype(
    [("t_s", "f8")] + [(name, "i8") for name in LINK_COUNTERS] + [("json", VTEXT)]
)

#: Root-level tables: path -> (dtype, rows per chunk).
ROOT_TABLES = {
    "athlete": (ATHLETE_DTYPE, 16),
    "trials": (TRIAL_DTYPE, 32),
    "markers": (MARKER_DTYPE, 64),
    "events": (EVENT_DTYPE, 64),
}
#: Per-stream tables (inside /streams/NAME): name -> (dtype, rows per chunk).
STREAM_TABLES = {
    "blocks": (BLOCK_DTYPE, 256),
    "gaps": (GAP_DTYPE, 64),
    "link_stats": (LINK_STATS_DTYPE, 16),
}


def fixed(text: Any, dtype: np.dtype, field: str) -> bytes | str:
    """The value to store in a string field: the whole text for a variable-length field
    (:data:`VTEXT`), UTF-8 bytes cut to the width (whole characters) for a fixed one."""
    value = "" if text is None else str(text)
    if dtype[field].kind == "O":
        return value
    width = dtype[field].itemsize
    raw = value.encode("utf-8")
    if len(raw) <= width:
        return raw
    return raw[:width].decode("utf-8", "ignore").encode("utf-8")


def parse_json(raw: Any, what: str, path: Any = "") -> Any:
    """Parse a stored JSON field; "" gives None.

    Raises
    ------
    forcelab.errors.SessionFileError
        When the text is not valid JSON (a damaged file, or a fixed-width field of an older
        forcelab that cut it): one line naming the field, never a silent empty value.
    """
    value = text(raw)
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        where = f" of {path}" if path else ""
        raise SessionFileError(
            f"{what}{where} is not valid JSON ({exc.msg} at character {exc.pos} of "
            f"{len(value)}): the file is damaged or was cut by an older forcelab"
        ) from None


def text(value: Any) -> str:
    """Decode a fixed or variable string read from HDF5."""
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def utc_iso(unix_s: float | None) -> str | None:
    """ISO 8601 UTC time with microseconds and a ``Z``, or None."""
    if unix_s is None or not math.isfinite(unix_s):
        return None
    whole = int(math.floor(unix_s))
    micro = int(round((unix_s - whole) * 1e6))
    if micro == 1_000_000:
        whole, micro = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micro:06d}Z"


def to_json(value: Any) -> str:
    """Compact JSON that also accepts NumPy scalars and arrays."""
    return json.dumps(value, separators=(",", ":"), default=_json_default, allow_nan=True)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if isinstance(obj, set | tuple):
        return list(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"cannot store {type(obj).__name__} as JSON")


def reserve_path(path: str | os.PathLike) -> Path:
    """The reserve file a SessionWriter keeps beside ``path`` while it records."""
    p = Path(path)
    return p.with_name(p.name + ".reserve")


def writer_alive(path: str | os.PathLike) -> bool | None:
    """Whether a live SessionWriter is recording ``path``.

    The writer holds an exclusive ``flock`` on its reserve file for as long as it runs; the
    operating system drops it when the process dies (crash, ``kill -9``). Returns True (locked),
    False (reserve left by a dead writer) or None (no reserve file: unknown).
    """
    if fcntl is None:
        return None
    try:
        fd = os.open(reserve_path(path), os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
