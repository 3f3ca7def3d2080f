"""Read forcelab session files: while they are recorded (SWMR), after a crash, or closed.

``open_session(path)`` gives a read-only :class:`SessionFile`; ``read_recording(path, trial)``
turns the stored raw streams into a :class:`forcelab.recording.Recording` on the session time
base (gaps become NaN samples so time stays uniform).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from forcelab.errors import InputError, SessionFileError
from forcelab.recording import (
    STANDARD_UNITS,
    MarkerTrajectories,
    Recording,
    Stream,
    finite_or_none,
)
from forcelab.store import _layout as L
from forcelab.store import _packing as P
from forcelab.store._model import KIND_INSOLE, sensor_of, stream_model
from forcelab.store.trajectories import read_trajectories

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

@dataclass
class StreamData:
    """The raw content of one stored stream.

    Unpacks as ``samples, seq, t_s, gaps = session.read_stream(name)``.

    Attributes
    ----------
    samples : ndarray, shape (n, n_channels)
        Values in the units of ``units`` (float32 or float64 as stored).
    seq : ndarray of int64
        Sequence number of every sample.
    t_s : ndarray of float64
        Time of every sample in s since the session start (host clock, from the block times).
    gaps : ndarray (structured)
        ``row`` (index of the first sample after the gap), ``seq_start``, ``n_missing``, ``t_s``.
    channels, units : list of str
    rate_hz : float
    blocks : ndarray (structured)
        ``row``, ``seq``, ``n``, ``t_s``, ``t_device_s``, ``status`` per received block.
    """

    samples: np.ndarray
    seq: np.ndarray
    t_s: np.ndarray
    gaps: np.ndarray
    channels: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    rate_hz: float = 0.0
    blocks: np.ndarray | None = None

    def __iter__(self):
        return iter((self.samples, self.seq, self.t_s, self.gaps))

    def channel(self, name: str) -> np.ndarray:
        """One channel as float64."""
        try:
            return np.asarray(self.samples[:, self.channels.index(name)], dtype=np.float64)
        except ValueError:
            raise InputError(f"no channel {name!r}; channels are {self.channels}") from None


def is_session_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is a forcelab session file (any schema version); never raises."""
    try:
        if not Path(path).is_file():
            return False  # a folder, a FIFO or a device: never opened (a FIFO would block)
        with open(path, "rb") as f:
            if f.read(8) != _HDF5_SIGNATURE:
                return False
        h5, _ = _open_h5(Path(path))
    except (OSError, SessionFileError):
        return False
    try:
        return L.text(h5.attrs.get("format", "")) == L.FORMAT_ID
    except Exception:  # noqa: BLE001 - a damaged file is simply not recognised
        return False
    finally:
        h5.close()


def _open_h5(path: Path) -> tuple[h5py.File, bool]:
    """Open read-only; returns (file, opened_with_swmr). SWMR read is needed for a file being
    recorded or left open by a crashed recorder."""
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    if path.is_dir():
        raise SessionFileError(f"{path} is a folder, not a session file")
    if not path.is_file():
        raise SessionFileError(f"{path} is not a regular file (a pipe or a device?)")
    with open(path, "rb") as f:
        head = f.read(8)
    if head != _HDF5_SIGNATURE:
        raise SessionFileError(
            f"{path} is not a forcelab session file (not HDF5); "
            "use 'forcelab import' to turn a recording into a session"
        )
    try:
        return h5py.File(path, "r"), False
    except (OSError, RuntimeError) as first:  # h5py raises RuntimeError on some broken superblocks
        # Only a file flagged as open by a writer (being recorded, or the recorder died) is
        # opened as an SWMR reader; SWMR reading skips the end-of-file check, so a truncated
        # or otherwise damaged file must not take this path.
        if "unable to lock file" in str(first):
            raise SessionFileError(
                f"{path} is being set up by a recorder right now (devices are being declared); "
                "it can be read as soon as recording starts: try again in a moment"
            ) from None
        if "already open for write" not in str(first):
            raise SessionFileError(
                f"{path} is damaged and cannot be opened ({_short(first)}); "
                f"run 'forcelab check {path}' to see what can be recovered"
            ) from None
        try:
            return h5py.File(path, "r", libver="latest", swmr=True), True
        except (OSError, RuntimeError):
            raise SessionFileError(
                f"{path} is damaged and cannot be opened ({_short(first)}); "
                f"run 'forcelab check {path}' to see what can be recovered"
            ) from None


def _short(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    if "(" in msg and msg.endswith(")"):
        msg = msg[msg.index("(") + 1 : -1]
    return msg[:200]


class SessionFile:
    """A forcelab session file opened read-only (also while it is being recorded).

    Use as a context manager or call :meth:`close`. Raises SessionFileError on open if the file
    is damaged, foreign (not a forcelab session) or of a newer schema.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._h5, self.swmr = _open_h5(self.path)
        try:
            self._check_header()
            self._committed = self._read_committed()
        except SessionFileError:
            self._h5.close()
            raise
        except Exception as exc:  # noqa: BLE001 - any HDF5 failure here means a damaged file
            self._h5.close()
            raise SessionFileError(
                f"{self.path} is damaged ({_short(exc)}); run 'forcelab check {self.path}'"
            ) from None

    def trajectories(
        self, interval_s: tuple[float, float] | None = None
    ) -> MarkerTrajectories | None:
        """The session's motion-capture marker trajectories (``/motion``), or None.

        Parameters
        ----------
        interval_s : (float, float), optional
            Only [start, stop) of the session time base (s).
        """
        try:
            return read_trajectories(self._h5, interval_s)
        except (OSError, KeyError, ValueError) as exc:
            raise SessionFileError(
                f"the marker trajectories of {self.path} cannot be read ({_short(exc)})"
            ) from None

    # ----------------------------------------------------------------- header
    def _check_header(self) -> None:
        a = self._h5.attrs
        fmt = L.text(a.get("format", ""))
        if fmt != L.FORMAT_ID:
            raise SessionFileError(
                f"{self.path} is an HDF5 file but not a forcelab session (no format "
                f"'{L.FORMAT_ID}'); use 'forcelab import' for other recordings"
            )
        try:
            version = int(a["schema_version"])
        except (KeyError, TypeError, ValueError):
            raise SessionFileError(f"{self.path} has no valid schema_version: damaged") from None
        if version > L.SCHEMA_VERSION:
            raise SessionFileError(
                f"{self.path} uses session schema {version} (written by forcelab "
                f"{L.text(a.get('software_version', '?'))}); this forcelab reads schema "
                f"{L.SCHEMA_VERSION} and older: upgrade forcelab to open it"
            )
        self.schema_version = version
        self.uuid = L.text(a.get("session_uuid", ""))
        self.t0_unix_s = float(a.get("t0_unix_s", 0.0))
        self.created_utc = L.text(a.get("created_utc", ""))
        self.software_version = L.text(a.get("software_version", ""))
        self.operator = L.text(a.get("operator", ""))
        self.notes = L.text(a.get("notes", ""))

    def _read_committed(self) -> dict[str, int]:
        if "committed_rows" not in self._h5:
            return {}
        ds = self._h5["committed_rows"]
        paths = [L.text(p) for p in ds.attrs.get("datasets", [])]
        counts = ds[()]
        return {p: int(c) for p, c in zip(paths, counts, strict=False)}

    def refresh(self) -> None:
        """See data written since opening (SWMR readers of a file being recorded)."""
        if self.swmr:
            if "committed_rows" in self._h5:
                self._h5["committed_rows"].refresh()
            for name in ("session_state", *L.ROOT_TABLES):
                self._h5[name].refresh()
            for g in self._h5["streams"].values():
                for ds in g.values():
                    ds.refresh()
            if P.TAIL_GROUP in self._h5:
                self._h5[P.TAIL_GROUP].visititems(
                    lambda _, obj: obj.refresh() if isinstance(obj, h5py.Dataset) else None)
        self._committed = self._read_committed()

    def _n_valid(self, ds: h5py.Dataset) -> int:
        """Rows of ``ds`` that a completed flush wrote (all rows of a cleanly closed file)."""
        n = int(ds.shape[0])
        c = self._committed.get(ds.name)
        return n if c is None else min(n, c)

    def _table(self, path: str) -> np.ndarray:
        return self._rows(self._h5[path].name)

    def _rows(self, path: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Committed rows of a growing dataset, its tail included (see ``_packing``)."""
        try:
            return P.read_rows(self._h5, path, self._committed, start, stop)
        except OSError:
            if not self.swmr:
                raise
            # A reader's idea of where the file ends can lag behind the space the recorder's
            # latest flush allocated (HDF5: "len not positive after adjustment for EOA") even
            # after a refresh; a fresh handle reads the current end of the file.
            self._h5.close()
            self._h5, self.swmr = _open_h5(self.path)
            self._committed = self._read_committed()
            return P.read_rows(self._h5, path, self._committed, start, stop)

    def _stream_rows(self, name: str) -> int:
        """Samples of a stream that completed flushes wrote."""
        g = f"/streams/{name}/"
        return min(P.n_rows(self._h5, g + "samples", self._committed),
                   P.n_rows(self._h5, g + "seq", self._committed))

    # ----------------------------------------------------------------- contents
    @property
    def state(self) -> dict[str, Any]:
        """``closed`` (bool), ``close_reason``, ``closed_utc``, ``last_flush_utc``,
        ``n_flushes``, ``recording`` (True while a live writer holds the file: its reserve
        file is locked, or, without a reserve file, it flushed within the last 3 s)."""
        row = self._h5["session_state"][0]
        closed = bool(row["closed"])
        last = float(row["last_flush_unix_s"])
        return {
            "closed": closed,
            "close_reason": L.text(row["close_reason"]) if closed else "",
            "closed_utc": L.utc_iso(float(row["closed_unix_s"])) if closed else None,
            "last_flush_utc": L.utc_iso(last),
            "n_flushes": int(row["n_flushes"]),
            "recording": (not closed) and _writer_running(self.path, last),
        }

    @property
    def athlete(self) -> dict[str, Any]:
        """Current athlete: ``id``, ``name``, ``body_mass_kg`` (kg or None),
        ``body_mass_method`` and extra fields; ``history`` lists earlier values."""
        rows = self._table("athlete")
        if len(rows) == 0:
            return {"id": "", "name": "", "body_mass_kg": None, "body_mass_method": ""}
        out = _athlete_dict(rows[-1], self.path)
        if len(rows) > 1:
            out["history"] = [_athlete_dict(r, self.path) for r in rows[:-1]]
        return out

    @property
    def body_mass_kg(self) -> float | None:
        """Athlete body mass in kg, or None."""
        return self.athlete.get("body_mass_kg")

    @property
    def streams(self) -> list[str]:
        """Stream names in creation order."""
        g = self._h5["streams"]
        return [n for n in g if _complete_stream(g[n])]

    @property
    def incomplete_streams(self) -> list[str]:
        """Stream groups whose datasets were never all created (the disk filled while the
        stream was declared): they hold no samples and are left out of :attr:`streams`."""
        g = self._h5["streams"]
        return [n for n in g if not _complete_stream(g[n])]

    def _group(self, name: str) -> h5py.Group:
        try:
            return self._h5["streams"][name]
        except KeyError:
            raise InputError(
                f"no stream {name!r} in {self.path}; streams are {self.streams}"
            ) from None

    def stream_info(self, name: str) -> dict[str, Any]:
        """The stored DeviceInfo dict of a stream (``protocol``, ``model``, ``serial``, ``side``,
        ``rate_hz``, ``channels`` [[name, unit]...], ``kind``, ``channel_roles`` (one per
        channel, ``""`` for none), ``calibration``, ``layout``, ``extra``)."""
        g = self._group(name)
        d = L.parse_json(g.attrs.get("device_info_json", ""),
                         f"the device description of stream {name!r}", self.path) or {}
        d.setdefault("protocol", L.text(g.attrs.get("protocol", "")))
        d["rate_hz"] = float(g.attrs["rate_hz"])
        d["side"] = L.text(g.attrs.get("side", "")) or None
        d["channels"] = [
            [L.text(n), L.text(u)]
            for n, u in zip(g.attrs["channel_names"], g.attrs["channel_units"], strict=True)
        ]
        stored_roles = g.attrs.get("channel_roles")
        d["kind"], d["channel_roles"] = stream_model(
            str(d.get("protocol") or ""),
            [c[0] for c in d["channels"]],
            L.text(g.attrs.get("kind", "")),
            None if stored_roles is None else [L.text(r) for r in stored_roles],
            d.get("extra"),
        )
        return d

    @property
    def trials(self) -> list[dict[str, Any]]:
        """Trials: ``name``, ``tags``, ``start_s``, ``stop_s`` (None while running or when the
        recorder stopped without closing), ``duration_s``, ``speed_m_s``, ``shoe``, ``notes``."""
        out = []
        for r in self._table("trials"):
            start = float(r["start_s"])
            stop = finite_or_none(r["stop_s"])
            tags = L.parse_json(r["tags_json"], f"the tags of trial {L.text(r['name'])!r}",
                                self.path) or []
            out.append(
                {
                    "name": L.text(r["name"]),
                    "tags": tags,
                    "start_s": start,
                    "stop_s": stop,
                    "duration_s": None if stop is None else stop - start,
                    "speed_m_s": finite_or_none(r["speed_m_s"]),
                    "shoe": L.text(r["shoe"]),
                    "notes": L.text(r["notes"]),
                }
            )
        return out

    @property
    def markers(self) -> list[dict[str, Any]]:
        """Markers: ``t_s`` (s since session start) and ``label``."""
        return [{"t_s": float(r["t_s"]), "label": L.text(r["label"])}
                for r in self._table("markers")]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Events: ``t_s``, ``stream`` (None for the session), ``kind``, ``seq``, ``arg``,
        ``message``."""
        return [
            {
                "t_s": float(r["t_s"]),
                "stream": L.text(r["stream"]) or None,
                "kind": L.text(r["kind"]),
                "seq": int(r["seq"]),
                "arg": int(r["arg"]),
                "message": L.text(r["message"]),
            }
            for r in self._table("events")
        ]

    def link_stats(self, name: str) -> dict[str, int]:
        """Latest link error counters of a stream (all zero when none were recorded)."""
        rows = self._table(f"/streams/{name}/link_stats") if name in self.streams else None
        if rows is None:
            self._group(name)
        if rows is None or len(rows) == 0:
            return {k: 0 for k in L.LINK_COUNTERS}
        last = rows[-1]
        d = L.parse_json(last["json"], f"the link counters of stream {name!r}", self.path) or {}
        d.update({k: int(last[k]) for k in L.LINK_COUNTERS})
        return d

    def read_stream(self, name: str) -> StreamData:
        """All stored samples of a stream with sequence numbers, per-sample times and gaps."""
        g = self._group(name)
        n = self._stream_rows(name)
        samples = self._rows(g.name + "/samples", 0, n)
        seq = self._rows(g.name + "/seq", 0, n)
        if P.COUNTS_TO_UNITS in g.attrs:
            counts = self._rows(g.name + "/counts", 0, n)
            samples = P.from_counts(counts, samples, np.asarray(g.attrs[P.COUNTS_TO_UNITS]))
        blocks = self._table(f"/streams/{name}/blocks")
        blocks = blocks[blocks["row"] < n]
        rate = float(g.attrs["rate_hz"])
        t_s = _sample_times(seq, blocks, rate, n)
        gaps = self._table(f"/streams/{name}/gaps")
        gaps = gaps[gaps["row"] <= n]
        info = self.stream_info(name)
        return StreamData(
            samples=samples, seq=seq, t_s=t_s, gaps=gaps,
            channels=[c[0] for c in info["channels"]], units=[c[1] for c in info["channels"]],
            rate_hz=rate, blocks=blocks,
        )

    def stream_summary(self, name: str) -> dict[str, Any]:
        """Counts of one stream without reading its samples."""
        g = self._group(name)
        n = self._stream_rows(name)
        rate = float(g.attrs["rate_hz"])
        gaps = self._table(f"/streams/{name}/gaps")
        gaps = gaps[gaps["row"] <= n]
        blocks = self._table(f"/streams/{name}/blocks")
        blocks = blocks[blocks["row"] < n]
        first = last = None
        if n and len(blocks):
            first = float(blocks["t_s"][0])
            seq_last = int(self._rows(g.name + "/seq", n - 1, n)[0])
            b = blocks[-1]
            last = float(b["t_s"]) + (seq_last - int(b["seq"])) / rate
        info = self.stream_info(name)
        return {
            "protocol": info.get("protocol", ""),
            "model": info.get("model", ""),
            "serial": info.get("serial", ""),
            "side": info.get("side"),
            "rate_hz": rate,
            "channels": [c[0] for c in info["channels"]],
            "n_samples": n,
            "duration_s": n / rate,
            "first_sample_s": first,
            "last_sample_s": last,
            "gaps": int(len(gaps)),
            "samples_missing": int(gaps["n_missing"].sum()) if len(gaps) else 0,
            "link": self.link_stats(name),
        }

    @property
    def analyses(self) -> list[dict[str, Any]]:
        """Stored analysis results (oldest first): ``name``, ``created_utc``,
        ``software_version``, ``parameters``, ``result``."""
        return _read_analyses(self._h5)

    def info_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (what ``forcelab info --json`` prints)."""
        streams = {name: self.stream_summary(name) for name in self.streams}
        analyses = self.analyses
        return {
            "path": str(self.path),
            "format": L.FORMAT_ID,
            "schema_version": self.schema_version,
            "software_version": self.software_version,
            "uuid": self.uuid,
            "created_utc": self.created_utc,
            "state": self.state,
            "operator": self.operator,
            "notes": self.notes,
            "athlete": self.athlete,
            "streams": streams,
            "incomplete_streams": self.incomplete_streams,
            "trials": self.trials,
            "markers": self.markers,
            "n_events": len(self._table("events")),
            "event_counts": _count(e["kind"] for e in self.events),
            "analyses": [
                {"name": a["name"], "created_utc": a["created_utc"]} for a in analyses
            ],
        }

    def close(self) -> None:
        """Close the file."""
        self._h5.close()

    def __enter__(self) -> SessionFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_session(path: str | os.PathLike) -> SessionFile:
    """Open a session file read-only (see :class:`SessionFile`).

    Raises
    ------
    SessionFileError
        If the file is damaged, not a forcelab session or of a newer schema.
    FileNotFoundError
        If there is no such file.
    """
    return SessionFile(path)


def read_recording(
    path: str | os.PathLike, trial: str | None = None, streams: list[str] | None = None
) -> Recording:
    """Read a session file as a Recording on the session time base.

    Parameters
    ----------
    path : str or path-like
        The session file.
    trial : str, optional
        Only this trial's interval [start_s, stop_s) (a trial left running by a crash extends
        to the end of the data).
    streams : list of str, optional
        Only these streams (default: all). When two streams measure the same foot (a treadmill
        belt and an insole), the force plate keeps the side and the other stream is read with
        side None (listed in ``meta["side_conflicts"]``); pass ``streams`` to choose.

    Returns
    -------
    Recording
        One Stream per stored stream with samples, ``t0_s`` in s since the session start;
        missing samples (gaps) are NaN at their place so time stays uniform. A channel whose
        role is a standard Recording channel (``fz``, ``fap``, ``fml``, ``cop_ml``, ``cop_ap``,
        ``tz``) in its standard unit is named after the role (a plate's fx -> fml, fy -> fap,
        cop_x -> cop_ml, cop_y -> cop_ap); other channels keep their names. Body mass comes from the
        athlete.

    Raises
    ------
    SessionFileError
        If the file cannot be read.
    InputError
        If the trial does not exist.
    """
    with open_session(path) as sf:
        interval = None
        trials = sf.trials
        if trial is not None:
            match = [t for t in trials if t["name"] == trial]
            if not match:
                names = ", ".join(repr(t["name"]) for t in trials) or "none"
                raise InputError(f"no trial {trial!r} in {path}; trials: {names}")
            t = match[0]
            interval = (t["start_s"], math.inf if t["stop_s"] is None else t["stop_s"])
        names = sf.streams
        if streams is not None:
            unknown = [n for n in streams if n not in names]
            if unknown:
                raise InputError(f"no stream {unknown[0]!r} in {path}; streams are {names}")
            names = [n for n in names if n in streams]
        streams_out: list[Stream] = []
        skipped = []
        for name in names:
            try:
                data = sf.read_stream(name)
            except (OSError, RuntimeError, KeyError, ValueError) as exc:
                raise SessionFileError(
                    f"stream {name!r} of {path} cannot be read ({_short(exc)}); "
                    f"run 'forcelab check {path}'"
                ) from None
            info = sf.stream_info(name)
            stream = _to_stream(name, info, data, interval)
            if stream is None:
                skipped.append(name)
            else:
                streams_out.append(stream)
        conflicts = _resolve_side_conflicts(
            streams_out, {n: sf.stream_info(n)["kind"] for n in names}
        )
        athlete = sf.athlete
        meta = {
            "session_uuid": sf.uuid,
            "created_utc": sf.created_utc,
            "athlete": {k: v for k, v in athlete.items() if k != "history"},
            "trials": trials,
            "trial": trial,
            "markers": sf.markers,
            "closed_cleanly": sf.state["closed"],
        }
        if skipped:
            meta["skipped_streams"] = skipped
        if conflicts:
            meta["side_conflicts"] = conflicts
        return Recording(
            streams=streams_out, body_mass_kg=athlete.get("body_mass_kg"), source=str(path),
            meta=meta, trajectories=sf.trajectories(interval),
        )


def _resolve_side_conflicts(streams: list[Stream], kinds: dict[str, str]) -> dict[str, str]:
    """One stream per side: plates of every kind (imported ones too) before insoles, then the
    first declared; the others lose their side. Returns {stream: side it had}."""
    taken: dict[str, str] = {}
    order = sorted(
        range(len(streams)), key=lambda i: (kinds.get(streams[i].name) == KIND_INSOLE, i)
    )
    lost = {}
    for i in order:
        s = streams[i]
        if s.side is None:
            continue
        if s.side in taken:
            lost[s.name] = s.side
            s.side = None
        else:
            taken[s.side] = s.name
    return lost


def _to_stream(name: str, info: dict, data: StreamData, interval: tuple | None) -> Stream | None:
    roles = info["channel_roles"]
    names = [_recording_name(c, u, r)
             for c, u, r in zip(data.channels, data.units, roles, strict=True)]
    if "fz" not in names:  # no vertical force: nothing the analysis can use
        return None
    rate = data.rate_hz
    n = data.samples.shape[0]
    if n == 0:
        pos = np.zeros(0, dtype=np.int64)
        t_first = 0.0
    else:
        pos = _positions(data.seq, data.t_s, rate)
        t_first = float(data.t_s[0])
    length = int(pos[-1]) + 1 if n else 0
    times = t_first + np.arange(length) / rate
    lo, hi = 0, length
    if interval is not None:
        lo = int(np.searchsorted(times, interval[0], side="left"))
        hi = int(np.searchsorted(times, interval[1], side="left"))
    channels: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    keep = (pos >= lo) & (pos < hi)
    for j, (ch, unit) in enumerate(zip(data.channels, data.units, strict=True)):
        out_name = names[j]
        if out_name in channels:  # a mapped name collides with a raw one: keep the raw name
            out_name = ch
        arr = np.full(hi - lo, np.nan)
        arr[pos[keep] - lo] = data.samples[keep, j]
        channels[out_name] = arr
        units[out_name] = unit
    t0 = float(times[lo]) if lo < length else (float(interval[0]) if interval else t_first)
    return Stream(
        name=name, rate_hz=rate, channels=channels, side=info.get("side"), t0_s=t0, units=units,
        sensor=sensor_of(info["kind"]),
    )


def _recording_name(name: str, unit: str, role: str) -> str:
    """A channel's name in a Recording: its role when the role is one of the Recording's
    standard channels and the unit is the standard one (a plate's ``cop_x`` in m becomes
    ``cop_ml``); else its own name (an insole's COP as a fraction of the insole stays ``cop_x``)."""
    if role in STANDARD_UNITS and unit == STANDARD_UNITS[role]:
        return role
    return name


def _positions(seq: np.ndarray, t_s: np.ndarray, rate_hz: float) -> np.ndarray:
    """Index of every stored sample on a uniform time line: by sequence number within runs of
    increasing numbers; a restart of the numbering (device reset) is placed by its time."""
    seq = np.asarray(seq, dtype=np.int64)
    if seq.size == 0:
        return seq
    breaks = np.flatnonzero(np.diff(seq) <= 0) + 1
    pos = seq - seq[0]
    if breaks.size:
        starts = np.concatenate(([0], breaks))
        ends = np.concatenate((breaks, [seq.size]))
        offset = 0
        prev_end = -1
        for a, b in zip(starts, ends, strict=True):  # one iteration per restart, not per sample
            by_time = int(round((t_s[a] - t_s[0]) * rate_hz))
            offset = max(by_time, prev_end + 1)
            pos[a:b] = seq[a:b] - seq[a] + offset
            prev_end = int(pos[b - 1])
    # A jump in numbering far beyond what the clock says (corrupt counter) would allocate
    # absurd arrays: fall back to the clock for the whole stream.
    span_by_time = (t_s[-1] - t_s[0]) * rate_hz
    if pos[-1] > 2 * span_by_time + 10 * rate_hz + seq.size:
        pos = np.round((t_s - t_s[0]) * rate_hz).astype(np.int64)
        pos = np.maximum.accumulate(pos)
    return pos


def _sample_times(seq: np.ndarray, blocks: np.ndarray, rate_hz: float, n: int) -> np.ndarray:
    """t_s of every sample: its block's time plus (seq - block seq) / rate."""
    if n == 0:
        return np.zeros(0)
    if len(blocks) == 0:
        return np.arange(n) / rate_hz
    idx = np.searchsorted(blocks["row"], np.arange(n), side="right") - 1
    idx = np.clip(idx, 0, len(blocks) - 1)
    return blocks["t_s"][idx] + (seq - blocks["seq"][idx]) / rate_hz


def _complete_stream(g: h5py.Group) -> bool:
    names = set(g)
    return {"samples", "seq", *L.STREAM_TABLES} <= names and "rate_hz" in g.attrs and (
        "channel_names" in g.attrs and "channel_units" in g.attrs
    )


def _writer_running(path: Path, last_flush_unix_s: float) -> bool:
    alive = L.writer_alive(path)
    if alive is None:
        return time.time() - last_flush_unix_s < 3.0
    return alive


def _athlete_dict(row: np.void, path: Path) -> dict[str, Any]:
    extra = L.parse_json(row["extra_json"], "the athlete's extra fields", path) or {}
    d = dict(extra) if isinstance(extra, dict) else {}
    d.update(
        id=L.text(row["id"]),
        name=L.text(row["name"]),
        body_mass_kg=finite_or_none(row["body_mass_kg"]),
        body_mass_method=L.text(row["body_mass_method"]),
        t_s=float(row["t_s"]),
    )
    return d


def _read_analyses(h5: h5py.File) -> list[dict[str, Any]]:
    """Analyses of an open file (layout in :mod:`forcelab.store.analysis_io`)."""
    if "analysis" not in h5:
        return []
    out = []
    groups = h5["analysis"]
    for name in sorted(groups):
        g = groups[name]
        what = f"stored analysis {name!r}"
        result = L.parse_json(g["result_json"][()], what) if "result_json" in g else None
        params = L.parse_json(g.attrs.get("parameters_json", ""), f"parameters of {what}") or {}
        out.append(
            {
                "name": name,
                "created_utc": L.text(g.attrs.get("created_utc", "")),
                "software_version": L.text(g.attrs.get("software_version", "")),
                "parameters": params,
                "result": result,
            }
        )
    return out


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in items:
        out[k] = out.get(k, 0) + 1
    return out
