"""Turn a :class:`forcelab.recording.Recording` (from any reader) into a session file."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from forcelab.errors import SessionFileError
from forcelab.recording import Recording
from forcelab.store._layout import to_json
from forcelab.store.files import check_free_space, publish_new
from forcelab.store.reader import open_session
from forcelab.store.writer import SessionWriter

_ROWS_PER_BLOCK = 65536


def write_recording(
    recording: Recording,
    path: str | os.PathLike,
    *,
    athlete: Mapping[str, Any] | None = None,
    operator: str = "",
    notes: str = "",
    trial: str | None = None,
) -> Path:
    """Write a Recording as a new session file (streams described with protocol "import").

    Every stream becomes a session stream with its channels and units, stored as float64 so no
    digit of the source is lost; sample times are kept (``t0_s`` on the session time base);
    NaN samples stay NaN. One trial named ``trial`` covers the whole recording.

    Parameters
    ----------
    recording : Recording
        What a reader returned.
    path : str or path-like
        The session file to create (never overwritten).
    athlete : mapping, optional
        ``id``, ``name``; ``body_mass_kg`` defaults to the recording's body mass.
    operator, notes : str
        Stored in the session header.
    trial : str, optional
        Name of the trial spanning the recording (default: the source file name).

    Returns
    -------
    Path
        The session file.

    Raises
    ------
    SessionFileError
        If the file exists or cannot be written, or the written file does not read back.
    """
    path = Path(path)
    if os.path.lexists(path):
        raise SessionFileError(
            f"{path} already exists; forcelab never overwrites a session file: choose another "
            "file name"
        )
    if not path.parent.is_dir():
        raise SessionFileError(f"cannot create {path}: folder {path.parent} does not exist")
    # every sample as float64 plus its int64 sequence number: the file (compressed) is smaller
    check_free_space(path.parent, sum(s.n_samples * (len(s.channels) + 1) * 8
                                      for s in recording.streams), f"importing into {path.name}")
    final, path = path, path.with_name(f".{path.name}.importing")
    path.unlink(missing_ok=True)
    a = dict(athlete or {})
    if a.get("body_mass_kg") is None and recording.body_mass_kg is not None:
        a["body_mass_kg"] = recording.body_mass_kg
        a.setdefault("body_mass_method", f"from the source recording {recording.source}")
    source = recording.source or "recording"
    writer = SessionWriter.create(
        path, athlete=a, operator=operator,
        notes=notes or f"imported from {source}", sample_dtype="float64", auto_flush=False,
        flush_interval_s=1.0,
    )
    try:
        meta = _jsonable_meta(recording.meta)
        for s in recording.streams:
            names = list(s.channels)
            writer.add_stream(
                s.name,
                {
                    "protocol": "import",
                    "model": str(recording.meta.get("format", "") or "recording"),
                    "serial": "",
                    "firmware": "",
                    "side": s.side,
                    "rate_hz": s.rate_hz,
                    "channels": [[n, s.units.get(n, "")] for n in names],
                    "calibration": {},
                    "layout": None,
                    "extra": {"source": source, "meta": meta, "sensor": s.sensor},
                },
            )
        if recording.trajectories is not None:
            writer.add_trajectories(recording.trajectories, source)
        starts = [s.t0_s for s in recording.streams] or [0.0]
        ends = [s.t0_s + s.duration_s for s in recording.streams] or [0.0]
        writer.start_trial(trial or Path(source).stem or "recording", t_s=min(starts))
        for s in recording.streams:
            data = np.column_stack([s.channels[n] for n in s.channels])
            for a0 in range(0, s.n_samples, _ROWS_PER_BLOCK):
                chunk = data[a0 : a0 + _ROWS_PER_BLOCK]
                t_s = s.t0_s + a0 / s.rate_hz
                writer.append(
                    s.name,
                    SimpleNamespace(seq=a0, t_device_s=t_s, t_host_s=t_s, samples=chunk,
                                    status=0, gap_before=0),
                )
        writer.stop_trial(t_s=max(ends))
        for m in recording.meta.get("markers") or []:  # e.g. an XDF file's marker streams
            writer.add_marker(str(m["label"]), t_s=float(m["t_s"]))
        writer.close()
        with open_session(path) as sf:
            for s in recording.streams:
                stored = sf.stream_summary(s.name)["n_samples"]
                if stored != s.n_samples:
                    raise SessionFileError(
                        f"{final}: stream {s.name!r} reads back {stored} samples, expected "
                        f"{s.n_samples}; nothing was written"
                    )
        publish_new(path, final)
    except BaseException:
        if not writer.closed:
            try:
                writer.close()
            except SessionFileError:
                pass  # the first error is the one the user gets
        path.unlink(missing_ok=True)
        raise
    return final


def _jsonable_meta(meta: Mapping[str, Any]) -> Any:
    try:
        return json.loads(to_json(dict(meta)))
    except (TypeError, ValueError):
        return {k: str(v) for k, v in meta.items()}
