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

import numpy as np

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
        ("id", "S64"),
        ("name", "S128"),
        ("body_mass_kg", "f8"),
        ("body_mass_method", "S256"),
        ("extra_json", "S1024"),
    ]
)
TRIAL_DTYPE = np.dtype(
    [
        ("name", "S128"),
        ("tags_json", "S256"),
        ("start_s", "f8"),
        ("stop_s", "f8"),
        ("speed_m_s", "f8"),
        ("shoe", "S128"),
        ("notes", "S1024"),
    ]
)
MARKER_DTYPE = np.dtype([("t_s", "f8"), ("label", "S256")])
EVENT_DTYPE = np.dtype(
    [
        ("t_s", "f8"),
        ("stream", "S64"),
        ("kind", "S32"),
        ("seq", "i8"),
        ("arg", "i8"),
        ("message", "S256"),
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
    [("t_s", "f8")] + [(name, "i8") for name in LINK_COUNTERS] + [("json", "S512")]
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


def fixed(text: Any, dtype: np.dtype, field: str) -> bytes:
    """UTF-8 bytes of ``text`` cut to the width of a fixed string field (whole characters)."""
    width = dtype[field].itemsize
    raw = ("" if text is None else str(text)).encode("utf-8")
    if len(raw) <= width:
        return raw
    return raw[:width].decode("utf-8", "ignore").encode("utf-8")


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
