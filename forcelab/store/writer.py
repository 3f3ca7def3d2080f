"""SessionWriter: record device streams, trials, markers and events into one HDF5 session file.

Life of a session file::

    with SessionWriter.create("s.h5", athlete={"name": "Ana", "body_mass_kg": 61.0}) as w:
        w.add_stream("plate", device.info)          # declare every stream first
        w.start_trial("run 12 km/h", tags=("baseline",), speed_m_s=3.33)
        for block in device.read(0.1):
            w.append("plate", block)                 # cheap: buffered in memory
        w.stop_trial()
    # close(): everything written, file marked closed cleanly

Durability. Appends are buffered and written in chunks. The buffer is written and the file
flushed when it is at least ``flush_interval_s`` old (default 0.5 s) or holds 1 MiB of samples:
checked on every ``append`` and ``maybe_flush()`` call (``flush_due()`` says whether one is due),
and, with ``auto_flush=True`` (the default), every ``flush_interval_s / 2`` by an internal timer
thread, so data also reaches the disk when no more blocks arrive (an unplugged device). Buffered
data is therefore never older than 0.75 s plus the time of one write. The first
``append`` (or ``start_swmr()``) switches the file to HDF5 SWMR mode: from then on the file on disk
is always readable, by another process while it is recorded and after a ``kill -9``, and holds
everything up to the last flush. Streams must be declared before that (an HDF5 SWMR writer cannot
create new objects); a late ``add_stream`` raises SessionFileError.

Every flush writes the data first and then, in a second step, the number of valid rows of each
dataset (``/committed_rows``), so a flush cut short by a crash or a full disk never exposes rows
that were not completely written.

Full disk. Before each flush the free space of the file system is checked; below
``min_free_bytes`` the writer writes what it holds, closes the file cleanly (close reason
``disk_full``) and raises SessionFileError. If the operating system still reports a write error
(another program filled the disk, a quota, an I/O error), the writer releases a small reserve
file it keeps next to the session (``FILE.reserve``, removed at close) so HDF5 can finish and close
the file, marks it closed with reason ``disk_full``/``write_error`` and raises SessionFileError.
After an error every further call raises the same error; ``close()`` then does nothing.

Thread safety: every public method takes one lock; the recorder calls ``append`` from its writer
thread while the controller adds trials, markers and events from another.
"""

from __future__ import annotations

import errno
import os
import threading
import time
import uuid as uuid_mod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import forcelab
from forcelab.errors import InputError, SessionFileError
from forcelab.recording import MarkerTrajectories, check_body_mass, check_rate
from forcelab.store import _layout as L
from forcelab.store import _packing as P
from forcelab.store.trajectories import GROUP as TRAJECTORY_GROUP
from forcelab.store.trajectories import write_trajectories

DEFAULT_FLUSH_INTERVAL_S = 0.5
DEFAULT_MIN_FREE_BYTES = 16 * 1024 * 1024
DEFAULT_RESERVE_BYTES = 1024 * 1024
#: Buffered sample bytes that trigger a flush before the interval is up (bursts of blocks).
MAX_PENDING_BYTES = 1024 * 1024
_SAMPLE_DTYPES = {"float32": np.float32, "float64": np.float64}
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


#: Flush modes: complete chunks and the tails (timed flushes), complete chunks only (a burst of
#: appends), everything into the datasets (close).
_TAIL, _CHUNKS, _FINAL = "tail", "chunks", "final"


class _Growing:
    """Write-once appends to one growing dataset (see forcelab.store._packing): complete chunks
    go into the dataset, the rows after its last complete chunk into its tail."""

    def __init__(self, path: str, chunk_rows: int) -> None:
        self.path = path
        self.tail = P.tail_path(path)
        self.chunk_rows = chunk_rows
        self.rest: np.ndarray | None = None  # rows after the dataset's last complete chunk
        self.on_disk = 0  # rows of ``rest`` written into the tail

    def add(self, rows: np.ndarray) -> None:
        self.rest = rows if self.rest is None or not len(self.rest) else np.concatenate(
            [self.rest, rows])

    def move_chunks(self, ds_of: Any, final: bool) -> bool:
        """Append the complete chunks (``final``: every row) to the dataset; True if any."""
        if self.rest is None:
            return False
        k = len(self.rest) if final else len(self.rest) // self.chunk_rows * self.chunk_rows
        if not k:
            return False
        ds = ds_of(self.path)
        n0 = ds.shape[0]
        ds.resize((n0 + k, *ds.shape[1:]))
        ds[n0:] = self.rest[:k]
        self.rest = self.rest[k:]
        self.on_disk = 0  # the tail starts over once a commit stops counting its rows
        return True

    def write_tail(self, ds_of: Any) -> None:
        """Write the rows not yet in the tail behind its committed rows."""
        if self.rest is not None and len(self.rest) > self.on_disk:
            ds_of(self.tail)[self.on_disk : len(self.rest)] = self.rest[self.on_disk :]
            self.on_disk = len(self.rest)


class SessionWriter:
    """Write one forcelab session file (HDF5, SWMR). Create it with :meth:`create`.

    All ``t_s`` arguments are seconds on the host ``time.time()`` epoch (as ``Block.t_host_s``
    and ``DeviceEvent.t_host_s``); values below 1e9 are taken as seconds since the session start.
    ``None`` means now. The file stores every time in seconds since the session start
    (root attribute ``t0_unix_s``).
    """

    def __init__(self, _path: Path, _h5: h5py.File, _t0_unix_s: float, _options: dict) -> None:
        self.path = _path
        self._h5 = _h5
        self.t0_unix_s = _t0_unix_s
        self.uuid = str(_h5.attrs["session_uuid"])
        self._flush_interval_s = _options["flush_interval_s"]
        self._min_free_bytes = _options["min_free_bytes"]
        self._sample_dtype = _options["sample_dtype"]
        self._reserve: _Reserve | None = _options.get("reserve")
        self._lock = threading.RLock()
        self._streams: dict[str, _StreamBuffer] = {}
        self._swmr = False
        self._closed = False
        self._error: SessionFileError | None = None
        self._error_reported = False
        self._last_flush_mono = time.monotonic()
        self._n_flushes = 0
        self._athlete_rows: list[tuple] = []
        self._athlete_written = 0
        self._trials: list[dict[str, Any]] = []
        self._trials_dirty = False
        self._markers: list[tuple] = []
        self._markers_written = 0
        self._events: list[tuple] = []
        self._events_written = 0
        self._committed_paths: list[str] = []
        self._committed: dict[str, int] = {}
        self._growing: dict[str, _Growing] = {}
        self._timer: threading.Thread | None = None
        self._datasets: dict[str, h5py.Dataset] = {}
        self._timer_stop = threading.Event()

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        athlete: Mapping[str, Any],
        operator: str = "",
        notes: str = "",
        sample_dtype: str = "float32",
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        auto_flush: bool = True,
        min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
        t0_unix_s: float | None = None,
    ) -> SessionWriter:
        """Create a new session file; never overwrites an existing file.

        Parameters
        ----------
        path : str or path-like
            The session file to create (``.h5``). Its folder must exist.
        athlete : mapping
            ``id``, ``name``, ``body_mass_kg`` (kg or None) and ``body_mass_method`` (how the mass
            was obtained: ``"entered"``, ``"weighed on FPB1 SN42: SD 0.21 kg over 3.0 s"``, ...);
            other keys are kept as extra JSON.
        operator, notes : str
            Who runs the session, free notes.
        sample_dtype : {"float32", "float64"}
            Storage type of the samples. float32 holds 24-bit ADC values exactly and halves the
            file; imports of text files use float64 to keep every digit.
        flush_interval_s : float
            Maximum age in s of buffered data before it is written and flushed (0.05–1.0 s).
        auto_flush : bool
            Run a timer thread that flushes every ``flush_interval_s`` even without appends.
        min_free_bytes : int
            Stop recording cleanly when the file system has less free space than this (bytes).
        reserve_bytes : int
            Size of the reserve file kept beside the session to close it after a write error
            (0 = none).
        t0_unix_s : float, optional
            Session time origin on the ``time.time()`` epoch; default now.

        Raises
        ------
        SessionFileError
            If the file exists, its folder does not, or it cannot be created.
        InputError
            If a parameter makes no sense (body mass, flush interval, sample type).
        """
        path = Path(path)
        if sample_dtype not in _SAMPLE_DTYPES:
            raise InputError(f"sample_dtype must be 'float32' or 'float64', got {sample_dtype!r}")
        try:
            interval = float(flush_interval_s)
        except (TypeError, ValueError):
            raise InputError(
                f"flush interval must be a number of s, got {flush_interval_s!r}"
            ) from None
        if not 0.05 <= interval <= 1.0:
            raise InputError(
                f"flush interval must be between 0.05 and 1 s (data loss bound), got {interval}"
            )
        athlete_row = _athlete_row(dict(athlete), 0.0)
        if path.exists() or os.path.lexists(path):
            raise SessionFileError(
                f"{path} already exists; forcelab never overwrites a session file: "
                "choose another file name"
            )
        if not path.parent.is_dir():
            raise SessionFileError(f"cannot create {path}: folder {path.parent} does not exist")
        t0 = time.time() if t0_unix_s is None else float(t0_unix_s)
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
        options = {
            "flush_interval_s": interval,
            "min_free_bytes": max(0, int(min_free_bytes)),
            "sample_dtype": _SAMPLE_DTYPES[sample_dtype],
            "reserve": reserve,
        }
        writer = cls(path, h5, t0, options)
        writer._athlete_rows.append(athlete_row)
        writer._athlete_written = 1
        if auto_flush:
            writer._timer = threading.Thread(
                target=writer._timer_loop, name=f"forcelab-store-flush {path.name}", daemon=True
            )
            writer._timer.start()
        return writer

    # ------------------------------------------------------------------ streams
    def add_stream(self, name: str, info: Any) -> None:
        """Declare a device stream (before the first ``append``).

        Parameters
        ----------
        name : str
            Stream name, unique in the session ("plate", "left", "right", ...).
        info : DeviceInfo-like
            An object with ``to_dict()`` (or a dict) with ``protocol``, ``model``, ``serial``,
            ``firmware``, ``side``, ``rate_hz`` (Hz), ``channels`` (``[[name, unit], ...]``),
            ``calibration``, ``layout`` and ``extra``.

        Raises
        ------
        SessionFileError
            If samples were already written (SWMR mode) or the file cannot be written.
        InputError
            If the name or the description is unusable.
        """
        with self._lock:
            self._check_usable()
            d = _info_dict(info)
            if not isinstance(name, str) or not name.strip() or "/" in name or name in (".", ".."):
                raise InputError(f"stream name must be a non-empty word without '/', got {name!r}")
            if name in self._streams:
                raise InputError(f"stream {name!r} is already declared in this session")
            if self._swmr:
                raise SessionFileError(
                    f"cannot add stream {name!r}: recording has started and an HDF5 SWMR file "
                    "cannot get new datasets; declare every device stream before the first samples"
                )
            rate_hz = check_rate(d.get("rate_hz"))
            channels = d.get("channels") or []
            try:
                names = [str(c[0]) for c in channels]
                units = [str(c[1]) for c in channels]
            except (TypeError, IndexError, KeyError):
                raise InputError(
                    f"channels of stream {name!r} must be [name, unit] pairs, got {channels!r}"
                ) from None
            if not names or len(set(names)) != len(names):
                raise InputError(f"stream {name!r} needs distinct channel names, got {names}")
            side = d.get("side")
            if side not in (None, "left", "right"):
                raise InputError(f"stream side must be 'left', 'right' or None, got {side!r}")
            dtype = np.dtype(self._sample_dtype)
            k = P.counts_matrix(d.get("calibration"), len(names))

            def create() -> None:
                g = self._h5.require_group("streams").create_group(name)
                a = g.attrs
                a["device_info_json"] = L.to_json(d)
                for key in ("protocol", "model", "serial", "firmware"):
                    a[key] = str(d.get(key) or "")
                a["side"] = side or ""
                a["rate_hz"] = rate_hz
                a["channel_names"] = names
                a["channel_units"] = units
                a["calibration_json"] = L.to_json(d.get("calibration") or {})
                a["layout_json"] = L.to_json(d.get("layout"))
                a["extra_json"] = L.to_json(d.get("extra") or {})
                create_stream_datasets(g, len(names), rate_hz, dtype, k)
                self._h5.flush()

            self._guarded(create)
            self._streams[name] = _StreamBuffer(name, len(names), rate_hz, dtype, k)

    def add_trajectories(self, trajectories: MarkerTrajectories, source: str = "") -> None:
        """Store motion-capture marker trajectories (before the first ``append``).

        Raises
        ------
        SessionFileError
            If samples were already written (SWMR mode), the session already has trajectories,
            or the file cannot be written.
        """
        with self._lock:
            self._check_usable()
            if self._swmr:
                raise SessionFileError(
                    "cannot add marker trajectories once recording has started (HDF5 SWMR files "
                    "get no new datasets)"
                )
            if TRAJECTORY_GROUP in self._h5:
                raise SessionFileError("this session already holds marker trajectories")
            self._guarded(lambda: write_trajectories(self._h5, trajectories, source))

    @property
    def streams(self) -> list[str]:
        """Names of the declared streams."""
        return list(self._streams)

    def n_samples(self, name: str) -> int:
        """Samples appended so far to stream ``name`` (written or still buffered)."""
        return self._stream(name).rows_total

    def start_swmr(self) -> None:
        """Switch to SWMR writing now (the first ``append`` does it otherwise).

        After this, readers in other processes can open the file and no stream can be added.
        """
        with self._lock:
            self._check_usable()
            if not self._swmr:
                self._guarded(self._enter_swmr)

    def _enter_swmr(self) -> None:
        h5 = self._h5
        paths = [f"/{t}" for t in L.ROOT_TABLES]
        for name in self._streams:
            paths += [f"/streams/{name}/{d}" for d in ("samples", "seq", *L.STREAM_TABLES)]
            if self._streams[name].k is not None:
                paths.append(f"/streams/{name}/counts")
        for p in paths:
            if P.tail_path(p) in h5:
                self._growing[p] = _Growing(p, h5[p].chunks[0])
        paths += [grow.tail for grow in self._growing.values()]
        h5.create_dataset("committed_rows", data=np.zeros(len(paths), dtype="i8"))
        h5["committed_rows"].attrs["datasets"] = paths
        self._committed_paths = paths
        self._write_pending_tables()
        self._write_commit()
        h5.flush()
        h5.swmr_mode = True
        self._swmr = True

    # ------------------------------------------------------------------ data
    def append(self, name: str, block: Any) -> None:
        """Queue one block of samples of stream ``name`` (written at the next flush).

        Parameters
        ----------
        name : str
            A declared stream.
        block : Block-like
            ``seq`` (sequence number of the first sample), ``t_device_s`` (s, device clock),
            ``t_host_s`` (s, host epoch), ``samples`` (n x n_channels, physical units),
            ``status`` (int) and ``gap_before`` (samples missing before this block).

        Raises
        ------
        SessionFileError
            After a write error or a full disk (the file keeps everything flushed before).
        InputError
            If the block does not fit the stream.
        """
        with self._lock:
            self._check_usable()
            s = self._stream(name)
            samples = np.asarray(block.samples)
            if samples.ndim == 1 and s.n_channels == 1:
                samples = samples.reshape(-1, 1)
            if samples.ndim != 2 or samples.shape[1] != s.n_channels:
                raise InputError(
                    f"block for stream {name!r} has shape {samples.shape}, expected "
                    f"(n, {s.n_channels})"
                )
            n = samples.shape[0]
            if n == 0:
                return
            seq0 = int(block.seq)
            t_s = self._session_time(float(block.t_host_s))
            gap_before = int(getattr(block, "gap_before", 0) or 0)
            if s.next_seq is None:
                if gap_before > 0:
                    s.gaps.append((s.rows_total, seq0 - gap_before, gap_before, t_s))
                    s.n_gaps += 1
                    s.n_missing += gap_before
            elif seq0 > s.next_seq:
                missing = seq0 - s.next_seq
                s.gaps.append((s.rows_total, s.next_seq, missing, t_s))
                s.n_gaps += 1
                s.n_missing += missing
            elif seq0 < s.next_seq:
                self._events.append(
                    (t_s, L.fixed(name, L.EVENT_DTYPE, "stream"), b"seq_reset", seq0,
                     s.next_seq, L.fixed(
                         f"sequence numbers restarted at {seq0} (expected {s.next_seq})",
                         L.EVENT_DTYPE, "message"))
                )
            # raw-count streams keep the driver's float64 values until the flush splits them
            # into counts (one vectorised pass per flush, not per block)
            s.samples.append(np.array(samples, dtype=s.dtype if s.k is None else np.float64,
                                      copy=True))
            s.seq.append(np.arange(seq0, seq0 + n, dtype=np.int64))
            s.pending_nbytes += s.samples[-1].nbytes + 8 * n
            s.blocks.append(
                (s.rows_total, seq0, n, t_s, float(block.t_device_s), int(block.status or 0))
            )
            s.rows_total += n
            s.next_seq = seq0 + n
            s.last_t_s = t_s + (n - 1) / s.rate_hz
            if not self._swmr:
                self._guarded(self._enter_swmr)
            self._maybe_flush_locked()

    def update_link_stats(self, name: str, stats: Any) -> None:
        """Record the link error counters of stream ``name`` (a row is kept when they change).

        Parameters
        ----------
        stats : LinkStats-like or mapping
            Counters (``crc_errors``, ``resyncs``, ``dropped_samples``, ``gaps``,
            ``reconnects``, ...); an object with ``to_dict()`` or a dict of ints.
        """
        with self._lock:
            self._check_usable()
            s = self._stream(name)
            d = stats.to_dict() if hasattr(stats, "to_dict") else dict(stats)
            counters = {k: int(v) for k, v in d.items()}
            if counters == s.last_link:
                return
            s.last_link = counters
            row = (
                self._session_time(None),
                *[counters.get(k, 0) for k in L.LINK_COUNTERS],
                L.fixed(L.to_json(counters), L.LINK_STATS_DTYPE, "json"),
            )
            s.link_rows.append(row)

    # ------------------------------------------------------------------ session content
    def add_event(
        self,
        name: str | None,
        kind: str,
        t_s: float | None = None,
        seq: int = -1,
        arg: int = 0,
        message: str = "",
    ) -> None:
        """Record an event: a device event (unplug, replug, sync, overrange, ...), a live stance,
        a recorder error. ``name`` is the stream it belongs to or None for the session."""
        with self._lock:
            self._check_usable()
            if not kind:
                raise InputError("an event needs a kind ('unplug', 'stance', 'sync', ...)")
            self._events.append(
                (
                    self._session_time(t_s),
                    L.fixed(name or "", L.EVENT_DTYPE, "stream"),
                    L.fixed(kind, L.EVENT_DTYPE, "kind"),
                    int(seq),
                    int(arg),
                    L.fixed(message, L.EVENT_DTYPE, "message"),
                )
            )

    def start_trial(
        self,
        name: str,
        tags: Iterable[str] = (),
        speed_m_s: float | None = None,
        shoe: str = "",
        notes: str = "",
        t_s: float | None = None,
    ) -> None:
        """Start a trial (a named time interval of the session).

        Raises
        ------
        InputError
            If the name is empty or already used, or a trial is still running.
        """
        with self._lock:
            self._check_usable()
            name = str(name or "").strip()
            if not name:
                raise InputError("a trial needs a name")
            if any(t["name"] == name for t in self._trials):
                raise InputError(f"trial {name!r} already exists in this session; use another name")
            running = [t["name"] for t in self._trials if np.isnan(t["stop_s"])]
            if running:
                raise InputError(f"trial {running[0]!r} is still running; stop it first")
            if isinstance(tags, str):
                tags = [tags]
            speed = float("nan") if speed_m_s is None else float(speed_m_s)
            if not (np.isnan(speed) or 0.0 <= speed <= 20.0):
                raise InputError(f"speed must be between 0 and 20 m/s, got {speed_m_s!r}")
            self._trials.append(
                {
                    "name": name,
                    "tags": [str(t) for t in tags],
                    "start_s": self._session_time(t_s),
                    "stop_s": float("nan"),
                    "speed_m_s": speed,
                    "shoe": str(shoe or ""),
                    "notes": str(notes or ""),
                }
            )
            self._trials_dirty = True

    def stop_trial(self, t_s: float | None = None) -> str | None:
        """Stop the running trial; returns its name, or None when no trial was running."""
        with self._lock:
            self._check_usable()
            for t in self._trials:
                if np.isnan(t["stop_s"]):
                    t["stop_s"] = max(self._session_time(t_s), t["start_s"])
                    self._trials_dirty = True
                    return t["name"]
            return None

    @property
    def running_trial(self) -> str | None:
        """Name of the trial that is running, or None."""
        for t in self._trials:
            if np.isnan(t["stop_s"]):
                return t["name"]
        return None

    def add_marker(self, label: str, t_s: float | None = None) -> None:
        """Put a labelled marker on the session time line."""
        with self._lock:
            self._check_usable()
            self._markers.append(
                (self._session_time(t_s), L.fixed(label, L.MARKER_DTYPE, "label"))
            )

    def set_athlete(self, athlete: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """Update the athlete (merged with the current values); the history is kept.

        Example: ``set_athlete(body_mass_kg=71.8, body_mass_method="weighed on FPB1 SN42:
        SD 0.21 kg over 3.0 s, still")``.
        """
        with self._lock:
            self._check_usable()
            current = self.athlete
            current.update(dict(athlete or {}))
            current.update(fields)
            self._athlete_rows.append(_athlete_row(current, self._session_time(None)))

    @property
    def athlete(self) -> dict[str, Any]:
        """The current athlete fields."""
        row = self._athlete_rows[-1]
        d = json_loads(L.text(row[5])) or {}
        d.update(
            id=L.text(row[1]), name=L.text(row[2]), body_mass_kg=L.finite_or_none(row[3]),
            body_mass_method=L.text(row[4]),
        )
        return d

    # ------------------------------------------------------------------ flushing
    def flush_due(self) -> bool:
        """True when buffered data is older than the flush interval."""
        return time.monotonic() - self._last_flush_mono >= self._flush_interval_s

    def maybe_flush(self) -> bool:
        """Flush if due; returns True when it flushed. Call it from a writer loop."""
        with self._lock:
            self._check_usable()
            return self._maybe_flush_locked()

    def _maybe_flush_locked(self) -> bool:
        if self.flush_due():
            self._flush_locked()
            return True
        if self._pending_bytes() >= MAX_PENDING_BYTES:
            # a burst: write the complete chunks now, the rest with the next timed flush
            self._flush_locked(_CHUNKS)
            return True
        return False

    def flush(self) -> None:
        """Write everything buffered and flush the file to the operating system now."""
        with self._lock:
            self._check_usable()
            self._flush_locked()

    def _flush_locked(self, mode: str = "tail") -> None:
        if mode != _CHUNKS:
            self._last_flush_mono = time.monotonic()
        if self._swmr and self._min_free_bytes:
            self._check_free_space()
        self._guarded(lambda: self._flush_steps(mode))

    def _flush_steps(self, mode: str = _TAIL) -> None:
        """Write what is buffered: complete chunks into the datasets and, unless ``mode`` is
        ``"chunks"``, the rest into the tails; ``"final"`` (close) writes everything into the
        datasets and leaves the tails empty.

        Two commits when chunks moved: the first counts the moved rows in the datasets and no
        longer counts the tails, so the second step may write the tails from their start
        without touching a row that a commit counts (a crash in between loses only rows
        appended since the last flush)."""
        self._write_pending_tables()
        for name, s in self._streams.items():
            self._write_stream(name, s)
        moved = [grow.move_chunks(self._ds, mode == _FINAL) for grow in self._growing.values()]
        if any(moved) and mode == _TAIL:
            self._h5.flush()
            self._write_commit()
        if mode == _TAIL:
            for grow in self._growing.values():
                grow.write_tail(self._ds)
        self._h5.flush()
        if self._swmr:
            self._n_flushes += 1
            self._write_commit()
            self._h5.flush()

    def _pending_bytes(self) -> int:
        return sum(s.pending_bytes() for s in self._streams.values())

    def _check_free_space(self) -> None:
        try:
            st = os.statvfs(self.path.parent)
        except OSError:
            return
        free = st.f_bavail * st.f_frsize
        # a buffered row may be written twice: into a tail now, compressed into its dataset
        # when its chunk is complete
        pending = 2 * self._pending_bytes()
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

    def _timer_loop(self) -> None:
        while not self._timer_stop.wait(self._flush_interval_s / 2):
            with self._lock:
                if self._closed or self._error is not None:
                    return
                try:
                    self._maybe_flush_locked()
                except SessionFileError:
                    # Nobody saw it yet: kept in self._error, the next public call (append,
                    # flush, close, ...) raises it.
                    self._error_reported = False
                    return

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Stop a running trial, write everything, mark the file closed cleanly and close it.

        Safe to call twice. After an error that was already raised to the caller it does
        nothing; an error the flush timer met and nobody saw yet is raised here.
        """
        self._timer_stop.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join(timeout=5.0)
        with self._lock:
            if self._error is not None:
                if not self._error_reported:
                    self._error_reported = True
                    raise self._error
                return
            if self._closed:
                return
            if self.running_trial is not None:
                trial = self._trials[-1]
                trial["stop_s"] = max(trial["start_s"], self._last_data_time())
                self._trials_dirty = True
            if not self._swmr:
                self._guarded(self._enter_swmr)
            self._guarded(lambda: self._flush_steps(_FINAL))
            self._close_file("normal")

    def _close_file(self, reason: str) -> None:
        self._guarded(lambda: self._mark_closed(reason))
        self._closed = True
        _release(self._reserve)

    def _mark_closed(self, reason: str) -> None:
        state = self._ds("/session_state")
        row = state[0]
        row["closed"] = 1
        row["close_reason"] = reason.encode()
        row["closed_unix_s"] = time.time()
        row["last_flush_unix_s"] = time.time()
        row["n_flushes"] = self._n_flushes
        state[0] = row
        self._h5.flush()
        self._datasets.clear()
        self._h5.close()

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once the file is closed (cleanly or after an error)."""
        return self._closed

    @property
    def error(self) -> SessionFileError | None:
        """The write error that stopped this writer, or None."""
        return self._error

    # ------------------------------------------------------------------ internals
    def _stream(self, name: str) -> _StreamBuffer:
        try:
            return self._streams[name]
        except KeyError:
            raise InputError(
                f"no stream {name!r} in this session; declared streams: {list(self._streams)}"
            ) from None

    def _check_usable(self) -> None:
        if self._error is not None:
            self._error_reported = True
            raise self._error
        if self._closed:
            raise SessionFileError(f"session file {self.path} is already closed")

    def _session_time(self, t_s: float | None) -> float:
        if t_s is None:
            return time.time() - self.t0_unix_s
        t = float(t_s)
        if not np.isfinite(t):
            raise InputError(f"time must be a finite number of s, got {t_s!r}")
        return t - self.t0_unix_s if t >= L.EPOCH_THRESHOLD_S else t

    def _last_data_time(self) -> float:
        times = [s.last_t_s for s in self._streams.values() if np.isfinite(s.last_t_s)]
        return max(times) if times else self._session_time(None)

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
            ds = self._ds(p)
            if ds.shape[0] > n:
                ds.resize((n, *ds.shape[1:]))

    def _committed_time(self) -> float:
        times = [s.committed_t_s for s in self._streams.values() if np.isfinite(s.committed_t_s)]
        return max(times) if times else 0.0

    def _ds(self, path: str) -> h5py.Dataset:
        """Open datasets once and keep them open: closing an HDF5 dataset flushes its chunk
        cache, and a write error there (full disk) would be lost in h5py's deallocator instead
        of reaching this writer."""
        ds = self._datasets.get(path)
        if ds is None:
            ds = self._datasets[path] = self._h5[path]
        return ds

    def _put(self, path: str, rows: np.ndarray) -> None:
        """Append rows to growing dataset ``path`` (through its tail once SWMR writing runs)."""
        grow = self._growing.get(path)
        if grow is None:  # before SWMR: nothing is rewritten, write straight into the dataset
            ds = self._ds(path)
            n0 = ds.shape[0]
            ds.resize((n0 + rows.shape[0], *ds.shape[1:]))
            ds[n0:] = rows
            return
        grow.add(rows)

    def _put_rows(self, path: str, rows: list[tuple], dtype: np.dtype) -> None:
        self._put(path, np.array(rows, dtype=dtype))

    def _write_pending_tables(self) -> None:
        if len(self._athlete_rows) > self._athlete_written:
            rows = self._athlete_rows[self._athlete_written :]
            self._put_rows("/athlete", rows, L.ATHLETE_DTYPE)
            self._athlete_written = len(self._athlete_rows)
        if self._trials_dirty:
            rows = [_trial_row(t) for t in self._trials]
            ds = self._ds("/trials")
            ds.resize((len(rows),))
            ds[:] = np.array(rows, dtype=L.TRIAL_DTYPE)
            self._trials_dirty = False
        if len(self._markers) > self._markers_written:
            self._put_rows("/markers", self._markers[self._markers_written:], L.MARKER_DTYPE)
            self._markers_written = len(self._markers)
        if len(self._events) > self._events_written:
            self._put_rows("/events", self._events[self._events_written:], L.EVENT_DTYPE)
            self._events_written = len(self._events)

    def _write_stream(self, name: str, s: _StreamBuffer) -> None:
        g = f"/streams/{name}/"
        if s.samples:
            samples = np.concatenate(s.samples)
            if s.k is not None:
                counts, samples = P.to_counts(samples, s.k, s.k_inv, s.dtype)
                self._put(g + "counts", counts)
            self._put(g + "samples", samples)
            self._put(g + "seq", np.concatenate(s.seq))
            s.samples.clear()
            s.seq.clear()
            s.pending_nbytes = 0
        if s.blocks:
            self._put_rows(g + "blocks", s.blocks, L.BLOCK_DTYPE)
            last = s.blocks[-1]
            s.last_written_t_s = last[3] + (last[2] - 1) / s.rate_hz
            s.blocks.clear()
        if s.gaps:
            self._put_rows(g + "gaps", s.gaps, L.GAP_DTYPE)
            s.gaps.clear()
        if s.link_rows:
            self._put_rows(g + "link_stats", s.link_rows, L.LINK_STATS_DTYPE)
            s.link_rows.clear()

    def _write_commit(self) -> None:
        tails = {grow.tail: grow.on_disk for grow in self._growing.values()}
        counts = [tails[p] if p in tails else int(self._ds(p).shape[0])
                  for p in self._committed_paths]
        self._ds("/committed_rows")[:] = np.asarray(counts, dtype="i8")
        self._committed = {p: c for p, c in zip(self._committed_paths, counts, strict=True)
                           if p not in tails}
        for s in self._streams.values():
            s.committed_t_s = s.last_written_t_s
        state = self._ds("/session_state")
        row = state[0]
        row["last_flush_unix_s"] = time.time()
        row["n_flushes"] = self._n_flushes
        state[0] = row


# ---------------------------------------------------------------------- helpers
def json_loads(text: str) -> Any:
    """Parse JSON, or None for an empty / broken string."""
    import json

    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


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
        if table == "trials":  # rewritten as a whole when a trial starts or stops
            h5.create_dataset(table, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk,),
                              **P.COMPRESSION)
        else:
            P.create_growing(h5, table, (), dtype, chunk)
    h5.create_group("streams", track_order=True)


def create_stream_datasets(g: h5py.Group, n_channels: int, rate_hz: float, dtype: np.dtype,
                           counts_to_units: np.ndarray | None, tails: bool = True) -> None:
    """Create the growing datasets of one stream (and, with ``tails``, their tails) in ``g``."""
    rows = P.stream_chunk_rows(rate_hz)
    P.create_growing(g, "samples", (n_channels,), dtype, rows, columns=True, tails=tails)
    P.create_growing(g, "seq", (), "i8", rows, tails=tails)
    if counts_to_units is not None:
        P.create_growing(g, "counts", (P.N_BRIDGES,), "i4", rows, columns=True, tails=tails)
        g.attrs[P.COUNTS_TO_UNITS] = counts_to_units
    for table, (tdtype, chunk) in L.STREAM_TABLES.items():
        P.create_growing(g, table, (), tdtype, chunk, tails=tails)


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
    d["channels"] = [list(c) if not isinstance(c, Mapping) else [c["name"], c["unit"]]
                     for c in d.get("channels") or []]
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
