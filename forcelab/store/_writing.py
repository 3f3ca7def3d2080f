"""Helpers of :class:`forcelab.store.writer.SessionWriter`: per-stream buffers, file creation,
table rows, the reserve file that lets a full disk still close the file, error texts."""

from __future__ import annotations

import errno
import os
import uuid as uuid_mod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import forcelab
from forcelab.errors import InputError, SessionFileError
from forcelab.recording import check_body_mass
from forcelab.store import _layout as L
from forcelab.store import _packing as P

_ATHLETE_KEYS = ("id", "name", "body_mass_kg", "body_mass_method")


class _StreamBuffer:
    """What one stream has written and what waits in memory for the next flush."""

    def __init__(self, name: str, n_channels: int, rate_hz: float, dtype: np.dtype,
                 counts_to_units: np.ndarray | None = None) -> None:
        self.name = name
        self.n_channels = n_channels
        self.rate_hz = rate_hz
        self.dtype = dtype
        self.k = counts_to_units  # units per bridge count, when the device streams raw counts
        self.k_inv = None if counts_to_units is None else np.linalg.inv(counts_to_units)
        self.samples: list[np.ndarray] = []
        self.seq: list[np.ndarray] = []
        self.blocks: list[tuple] = []
        self.gaps: list[tuple] = []
        self.link_rows: list[tuple] = []
        self.pending_nbytes = 0  # bytes of samples and sequence numbers not yet written
        self.rows_total = 0  # rows appended (written + pending)
        self.next_seq: int | None = None
        self.last_link: dict[str, int] | None = None
        self.last_t_s = float("nan")  # session time of the last appended sample
        self.last_written_t_s = float("nan")
        self.committed_t_s = float("nan")
        self.n_missing = 0
        self.n_gaps = 0

    def pending_bytes(self) -> int:
        return self.pending_nbytes

    def write(self, put: Callable[[str, np.ndarray], None]) -> None:
        """Hand what waits in memory to ``put(path, rows)`` (the writer's growing datasets)."""
        s = self
        g = f"/streams/{self.name}/"
        if s.samples:
            samples = np.concatenate(s.samples)
            if s.k is not None:  # one vectorised split into counts per flush
                counts, samples = P.to_counts(samples, s.k, s.k_inv, s.dtype)
                put(g + "counts", counts)
            put(g + "samples", samples)
            put(g + "seq", np.concatenate(s.seq))
            s.samples.clear()
            s.seq.clear()
            s.pending_nbytes = 0
        if s.blocks:
            put(g + "blocks", np.array(s.blocks, dtype=L.BLOCK_DTYPE))
            last = s.blocks[-1]
            s.last_written_t_s = last[3] + (last[2] - 1) / s.rate_hz
            s.blocks.clear()
        if s.gaps:
            put(g + "gaps", np.array(s.gaps, dtype=L.GAP_DTYPE))
            s.gaps.clear()
        if s.link_rows:
            put(g + "link_stats", np.array(s.link_rows, dtype=L.LINK_STATS_DTYPE))
            s.link_rows.clear()


def _init_file(h5: h5py.File, t0: float, operator: str, notes: str) -> None:
    a = h5.attrs
    a["format"] = L.FORMAT_ID
    a["schema_version"] = L.SCHEMA_VERSION
    a["software"] = "forcelab"
    a["software_version"] = forcelab.__version__
    a["session_uuid"] = str(uuid_mod.uuid4())
    a["created_utc"] = L.utc_iso(t0)
    a["t0_unix_s"] = float(t0)
    a["time_base"] = "s since t0_unix_s (host clock, time.time() epoch)"
    a["operator"] = str(operator or "")
    a["notes"] = str(notes or "")
    state = np.zeros(1, dtype=L.SESSION_STATE_DTYPE)
    state["last_flush_unix_s"] = t0
    state["closed_unix_s"] = np.nan
    h5.create_dataset("session_state", data=state)
    for table, (dtype, chunk) in L.ROOT_TABLES.items():
        if table != "trials":  # trials are rewritten as a whole when one starts or stops
            P.create_growing(h5, table, (), dtype, chunk)
            continue
        h5.create_dataset(
            table, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk,),
            compression="gzip", compression_opts=4, shuffle=True,
        )
    h5.create_group("streams", track_order=True)


def _append(ds: h5py.Dataset, rows: list[tuple], dtype: np.dtype) -> None:
    arr = np.array(rows, dtype=dtype)
    n0 = ds.shape[0]
    ds.resize((n0 + arr.shape[0],))
    ds[n0:] = arr


def _athlete_row(athlete: dict[str, Any], t_s: float) -> tuple:
    mass = athlete.get("body_mass_kg")
    mass = check_body_mass(mass)
    method = athlete.get("body_mass_method")
    if method is None:
        method = "entered" if mass is not None else ""
    extra = {k: v for k, v in athlete.items() if k not in _ATHLETE_KEYS}
    return (
        float(t_s),
        L.fixed(athlete.get("id") or "", L.ATHLETE_DTYPE, "id"),
        L.fixed(athlete.get("name") or "", L.ATHLETE_DTYPE, "name"),
        float("nan") if mass is None else mass,
        L.fixed(method, L.ATHLETE_DTYPE, "body_mass_method"),
        L.fixed(L.to_json(extra) if extra else "", L.ATHLETE_DTYPE, "extra_json"),
    )


def _trial_row(t: dict[str, Any]) -> tuple:
    return (
        L.fixed(t["name"], L.TRIAL_DTYPE, "name"),
        L.fixed(L.to_json(t["tags"]), L.TRIAL_DTYPE, "tags_json"),
        t["start_s"],
        t["stop_s"],
        t["speed_m_s"],
        L.fixed(t["shoe"], L.TRIAL_DTYPE, "shoe"),
        L.fixed(t["notes"], L.TRIAL_DTYPE, "notes"),
    )


def _info_dict(info: Any) -> dict[str, Any]:
    if isinstance(info, Mapping):
        d = dict(info)
    elif hasattr(info, "to_dict"):
        d = dict(info.to_dict())
    else:
        raise InputError(f"stream description must be a DeviceInfo or a dict, got {info!r}")
    d["channels"] = [
        list(c) if not isinstance(c, Mapping) else [c["name"], c["unit"], c.get("role")]
        for c in d.get("channels") or []
    ]
    return d


def _is_disk_full(exc: BaseException) -> bool:
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return True
    msg = str(exc)
    return "No space left" in msg or "errno = 28" in msg or "Disk quota" in msg


def _oserror_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split())[:300] or type(exc).__name__


class _Reserve:
    """A file of zeros beside the session, freed after a write error so HDF5 can close the file;
    its exclusive flock tells readers the writer is alive (see ``_layout.writer_alive``)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    def release(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _make_reserve(path: Path, size: int) -> _Reserve | None:
    if size <= 0:
        return None
    reserve = L.reserve_path(path)
    try:
        fd = os.open(reserve, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return None  # a leftover of a crashed session with the same name: not ours to use
    except OSError as exc:
        raise SessionFileError(f"cannot create session file {path}: {_oserror_text(exc)}") from None
    r = _Reserve(reserve, fd)
    try:
        if L.fcntl is not None:
            L.fcntl.flock(fd, L.fcntl.LOCK_EX | L.fcntl.LOCK_NB)
        os.write(fd, b"\0" * size)
        os.fsync(fd)
    except OSError as exc:
        r.release()
        raise SessionFileError(
            f"cannot create session file {path}: {_oserror_text(exc)} "
            f"(less than {size / 1e6:.1f} MB free?)"
        ) from None
    return r


def _release(reserve: _Reserve | None) -> None:
    if reserve is not None:
        reserve.release()


def _close_quietly(h5: h5py.File) -> None:
    """Close after a failure that was already turned into the user's error."""
    try:
        h5.close()
    except Exception:  # noqa: BLE001 - the original error is the one the user gets
        return


def _create_file(
    path: Path, t0: float, operator: str, notes: str, athlete_row: tuple, reserve_bytes: int
) -> tuple[h5py.File, _Reserve | None]:
    """Create the HDF5 file exclusively (never overwriting), with its reserve file, root
    attributes, tables and the first athlete row."""
    reserve = _make_reserve(path, int(reserve_bytes))
    try:
        h5 = h5py.File(path, "x", libver=L.FILE_FORMAT)
    except FileExistsError:
        _release(reserve)
        raise SessionFileError(
            f"{path} already exists; forcelab never overwrites a session file: "
            "choose another file name"
        ) from None
    except OSError as exc:
        _release(reserve)
        if path.exists() and "exist" not in str(exc).lower():
            path.unlink(missing_ok=True)  # our own half-created file: never block a retry
        if path.exists() and "exist" in str(exc).lower():
            raise SessionFileError(
                f"{path} already exists; forcelab never overwrites a session file: "
                "choose another file name"
            ) from None
        raise SessionFileError(
            f"cannot create session file {path}: {_oserror_text(exc)}"
        ) from None
    try:
        _init_file(h5, t0, operator, notes)
        _append(h5["athlete"], [athlete_row], L.ATHLETE_DTYPE)
        h5.flush()
    except Exception as exc:
        _close_quietly(h5)
        _release(reserve)
        path.unlink(missing_ok=True)  # our own, still empty file: leave nothing behind
        raise SessionFileError(
            f"cannot create session file {path}: {_oserror_text(exc)}; "
            "check the free disk space and that the folder is writable"
        ) from exc
    return h5, reserve
