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

Full disk (``min_free_bytes``; the reserve file ``FILE.reserve``, removed at close): see
``forcelab.store._disk``. After an error every further call raises the same SessionFileError;
``close()`` then does nothing.

Thread safety: every public method takes one lock; the recorder calls ``append`` from its writer
thread while the controller adds trials, markers and events from another.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from forcelab.errors import InputError, SessionFileError
from forcelab.recording import MarkerTrajectories, check_rate, checked_number, finite_or_none
from forcelab.store import _layout as L
from forcelab.store import _packing as P
from forcelab.store._disk import _DiskGuard
from forcelab.store._model import stream_model
from forcelab.store._writing import (
    _athlete_row,
    _create_file,
    _info_dict,
    _release,
    _Reserve,
    _StreamBuffer,
    _trial_row,
)
from forcelab.store.trajectories import GROUP as TRAJECTORY_GROUP
from forcelab.store.trajectories import write_trajectories

DEFAULT_FLUSH_INTERVAL_S = 0.5
DEFAULT_MIN_FREE_BYTES = 16 * 1024 * 1024
DEFAULT_RESERVE_BYTES = 1024 * 1024
#: Buffered sample bytes that trigger a flush before the interval is up (bursts of blocks).
MAX_PENDING_BYTES = 1024 * 1024
_SAMPLE_DTYPES = {"float32": np.float32, "float64": np.float64}


class SessionWriter(_DiskGuard):
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
        self._growing: dict[str, P.Growing] = {}
        self._mode = P.TAIL
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
        interval = checked_number(
            flush_interval_s,
            lambda value: 0.05 <= value <= 1.0,
            "flush interval must be a number of s, got {got}",
            "flush interval must be between 0.05 and 1 s (data loss bound), got {value}",
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
        h5, reserve = _create_file(path, t0, operator, notes, athlete_row, int(reserve_bytes))
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
            ``firmware``, ``side``, ``rate_hz`` (Hz), ``channels`` (``[[name, unit, role], ...]``),
            ``kind``, ``calibration``, ``layout`` and ``extra``. Kind and roles are stored as
            the ``kind`` and ``channel_roles`` attributes; a description without them gets them
            from :func:`forcelab.store._model.stream_model`.

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
            kind, roles = stream_model(
                str(d.get("protocol") or ""), names, d.get("kind"),
                [c[2] if len(c) > 2 else None for c in channels]
                if any(len(c) > 2 for c in channels) else None,
                d.get("extra"),
            )
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
                a["kind"] = kind
                a["channel_roles"] = roles
                a["calibration_json"] = L.to_json(d.get("calibration") or {})
                a["layout_json"] = L.to_json(d.get("layout"))
                a["extra_json"] = L.to_json(d.get("extra") or {})
                P.create_stream_datasets(g, len(names), rate_hz, dtype, k)
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

    def n_samples_stored(self, name: str) -> int:
        """Samples of stream ``name`` in the file on disk: committed by a completed flush (after
        a write error or a full disk, what the file keeps; after ``close``, every sample)."""
        self._stream(name)
        path = f"/streams/{name}/samples"
        return int(self._committed.get(path, 0) + self._committed.get(P.tail_path(path), 0))

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
                self._growing[p] = P.Growing(p, h5[p].chunks[0])
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
                    (t_s, L.fixed(name, L.EVENT_DTYPE, "stream"), "seq_reset", seq0,
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

    def add_gap(self, name: str, n_missing: int, t_s: float | None = None) -> None:
        """Record ``n_missing`` samples of stream ``name`` that no block will bring: the time a
        device stayed unplugged until the end of the recording. ``t_s`` is when the first
        missing sample was due; the gap stands after the samples appended so far
        (``seq_start`` is the next sequence number, or -1 when the stream has none yet)."""
        with self._lock:
            self._check_usable()
            s = self._stream(name)
            n = int(n_missing)
            if n <= 0:
                raise InputError(f"a gap needs at least one missing sample, got {n_missing!r}")
            seq_start = s.next_seq if s.next_seq is not None else -1
            s.gaps.append((s.rows_total, seq_start, n, self._session_time(t_s)))
            s.n_gaps += 1
            s.n_missing += n

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
        d = L.parse_json(row[5], "the athlete's extra fields", self.path) or {}
        d.update(
            id=L.text(row[1]), name=L.text(row[2]), body_mass_kg=finite_or_none(row[3]),
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
            self._flush_locked(P.CHUNKS)
            return True
        return False

    def flush(self) -> None:
        """Write everything buffered and flush the file to the operating system now."""
        with self._lock:
            self._check_usable()
            self._flush_locked()

    def _flush_locked(self, mode: str = P.TAIL) -> None:
        if mode != P.CHUNKS:
            self._last_flush_mono = time.monotonic()
        if self._swmr and self._min_free_bytes:
            self._check_free_space()
        self._guarded(lambda: self._flush_steps(mode))

    def _flush_steps(self, mode: str = P.TAIL) -> None:
        """Write what is buffered: complete chunks into the datasets and, unless ``mode`` is
        ``"chunks"``, the rest into the tails; ``"final"`` (close) writes everything into the
        datasets and leaves the tails empty (forcelab.store._packing).

        Two commits when chunks moved: the first counts the moved rows in the datasets and no
        longer counts the tails, so the second step may write the tails from their start
        without touching a row that a commit counts (a crash in between loses only rows
        appended since the last flush)."""
        self._mode = mode
        self._write_pending_tables()
        for s in self._streams.values():
            s.write(self._put)
        moved = [grow for grow in self._growing.values()
                 if grow.move_chunks(self._ds, mode == P.FINAL)]
        if moved and mode == P.TAIL:
            for grow in moved:  # the moved rows reach the file before the commit counts them
                self._ds(grow.path).flush()
            self._write_commit()
        if mode == P.TAIL:
            for grow in self._growing.values():
                grow.write_tail(self._ds)
        self._h5.flush()
        if self._swmr:
            self._n_flushes += 1
            self._write_commit()
            self._h5.flush()

    def _pending_bytes(self) -> int:
        return sum(s.pending_bytes() for s in self._streams.values())

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
            self._guarded(lambda: self._flush_steps(P.FINAL))
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
        else:
            grow.add(rows)

    def _write_pending_tables(self) -> None:
        if len(self._athlete_rows) > self._athlete_written:
            rows = self._athlete_rows[self._athlete_written :]
            self._put("/athlete", np.array(rows, dtype=L.ATHLETE_DTYPE))
            self._athlete_written = len(self._athlete_rows)
        if self._trials_dirty:
            rows = [_trial_row(t) for t in self._trials]
            ds = self._ds("/trials")
            ds.resize((len(rows),))
            ds[:] = np.array(rows, dtype=L.TRIAL_DTYPE)
            self._trials_dirty = False
        if len(self._markers) > self._markers_written:
            self._put("/markers", np.array(self._markers[self._markers_written:],
                                           dtype=L.MARKER_DTYPE))
            self._markers_written = len(self._markers)
        if len(self._events) > self._events_written:
            self._put("/events", np.array(self._events[self._events_written:],
                                          dtype=L.EVENT_DTYPE))
            self._events_written = len(self._events)

    def _write_commit(self) -> None:
        tails = {grow.tail: grow.on_disk for grow in self._growing.values()}
        counts = [tails[p] if p in tails else int(self._ds(p).shape[0])
                  for p in self._committed_paths]
        self._ds("/committed_rows")[:] = np.asarray(counts, dtype="i8")
        self._committed = dict(zip(self._committed_paths, counts, strict=True))
        for s in self._streams.values():
            s.committed_t_s = s.last_written_t_s
        state = self._ds("/session_state")
        row = state[0]
        row["last_flush_unix_s"] = time.time()
        row["n_flushes"] = self._n_flushes
        state[0] = row
