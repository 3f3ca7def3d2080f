"""A recording, whatever it came from: session files and foreign files as trials with streams.

Reports, batch analysis and exports read their input through this module, never through each
other: :func:`load_source` opens a forcelab session file (``forcelab.store``) or any recording
that a reader of ``forcelab.interop`` understands (C3D, OpenSim .mot, CSV/TSV tables, OpenGo
exports) and returns a :class:`Source` whose :class:`Trial` items each hold a
:class:`forcelab.recording.Recording` (streams with channel roles as names: ``fz``, ``fap``,
``cop_ml``...), the trial record and a cached analysis. The two classes are defined beside the
exports (:mod:`forcelab.interop.export_common`), which are handed a :class:`Source`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forcelab.errors import ExportError, InputError
from forcelab.interop.anonymize import (
    KEPT_META_FIELDS,
    KEPT_SESSION_FIELDS,
    KEPT_TRIAL_FIELDS,
    anonymize_athlete,
    keep_fields,
)
from forcelab.interop.export_common import ExportSource as Source
from forcelab.interop.export_common import ExportTrial as Trial
from forcelab.interop.formats import load_recording
from forcelab.interop.load import check_reader_options
from forcelab.store import is_session_file, open_session, read_recording

__all__ = ["Source", "Trial", "anonymize_source", "is_session_file", "load_source"]


def _trial_record(trial: Any) -> dict[str, Any]:
    if isinstance(trial, str):
        return {"name": trial}
    if isinstance(trial, dict):
        return dict(trial)
    if hasattr(trial, "_asdict"):
        return dict(trial._asdict())
    if hasattr(trial, "__dict__"):
        return {k: v for k, v in vars(trial).items() if not k.startswith("_")}
    raise ExportError(f"cannot understand the trial record {trial!r} of this session file")


def load_source(
    path: str | Path,
    *,
    trial: str | None = None,
    reader_options: dict[str, Any] | None = None,
    anonymize: bool = False,
    key: bytes | None = None,
    lenient: bool = False,
) -> Source:
    """Open a session file or any other recording as trials (for reports, batch and exports).

    Parameters
    ----------
    path : str or Path
        A forcelab session file (``.h5``) or any recording ``forcelab.interop.load_recording``
        reads (CSV/TSV, .mot/.sto, C3D, Moticon .txt).
    trial : str, optional
        Export only this trial of a session file.
    reader_options : dict, optional
        Options for ``load_recording`` (rate_hz, vertical, map, body_mass_kg, ...).
    anonymize : bool
        Drop names and free-text notes, pseudonymise the athlete id.
    key : bytes, optional
        Pseudonym key (default: see :mod:`forcelab.interop.anonymize`).
    lenient : bool
        Ignore reader options that do not apply to session files (for commands that take a
        mix of session files and other recordings with one set of options).

    Returns
    -------
    Source

    Raises
    ------
    InputError
        If the trial does not exist, or ``trial`` is given for a file without trials.
    FileNotFoundError
        If the file does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory (give a file)", str(path))
    if is_session_file(path):
        opts = dict(reader_options or {})
        if lenient:
            opts = {k: v for k, v in opts.items() if k in ("trial", "body_mass_kg")}
        opts = check_reader_options(opts, ("trial", "body_mass_kg"), "session files")
        source = _load_session(path, trial if trial is not None else opts.get("trial"))
        if "body_mass_kg" in opts:  # a mass given on the command line wins over the file's
            source.athlete["body_mass_kg"] = opts["body_mass_kg"]
            for t in source.trials:
                t.recording.body_mass_kg = opts["body_mass_kg"]
    else:
        if trial is not None:
            raise InputError(
                f"`trial` only applies to forcelab session files; {path.name} is a plain "
                "recording with a single trial"
            )
        rec = load_recording(path, **dict(reader_options or {}))
        meta = dict(rec.meta or {})
        athlete_id = str(meta.get("subject") or meta.get("subject_id") or meta.get("athlete_id")
                         or "")
        athlete = {"id": athlete_id, "name": str(meta.get("subject_name") or "")}
        if rec.body_mass_kg is not None:
            athlete["body_mass_kg"] = rec.body_mass_kg
        session: dict[str, Any] = {"source": str(path)}
        for key_name in ("start_time_utc", "start_time", "date"):
            if key_name in meta:
                session[key_name] = meta[key_name]
        source = Source(path, "recording", athlete, session,
                              [Trial(path.stem, rec, {"name": path.stem})], stem=path.stem)
    if anonymize:
        anonymize_source(source, key)
    return source


#: session header fields carried into exports (see forcelab.store.SessionFile)
SESSION_FIELDS = ("uuid", "created_utc", "schema_version", "software_version", "operator",
                  "notes")


def _load_session(path: Path, trial: str | None) -> Source:
    sf = open_session(path)
    try:
        athlete = dict(sf.athlete or {})
        # the session header only (info_dict() would also summarise every stream's samples)
        session = {k: getattr(sf, k) for k in SESSION_FIELDS if hasattr(sf, k)}
        trials_raw = [_trial_record(t) for t in (sf.trials or [])]
        plate_sizes = _plate_sizes(sf)
    finally:
        sf.close()
    session["source"] = str(path)
    names = [str(t.get("name", "")) for t in trials_raw]
    if trial is not None:
        if trial not in names:
            listed = ", ".join(repr(n) for n in names) or "none"
            raise InputError(f"session {path.name} has no trial {trial!r}; its trials: {listed}")
        trials_raw = [t for t in trials_raw if str(t.get("name", "")) == trial]
    trials: list[Trial] = []
    if trials_raw:
        for rec_info in trials_raw:
            name = str(rec_info.get("name", ""))
            trials.append(Trial(name, read_recording(path, trial=name), rec_info))
    else:
        trials.append(Trial("session", read_recording(path), {"name": "session"}))
    if plate_sizes:
        for t in trials:
            t.recording.meta = {**(t.recording.meta or {}), "plate_size_mm": plate_sizes}
    return Source(path, "session", athlete, session, trials, stem=path.stem)


def _plate_sizes(sf: Any) -> dict[str, list[float]]:
    """Plate sizes (mm, x then y: across and along the direction of travel) that the devices
    reported in their calibration (FPB1 GET_CAL) or description."""
    sizes = {}
    for name in sf.streams:
        try:
            info = sf.stream_info(name)
        except Exception:  # noqa: BLE001 - a size is a nicety; the default is used without it
            continue
        for where in (info.get("calibration") or {}, info.get("extra") or {}):
            size = where.get("size_mm") if isinstance(where, dict) else None
            try:
                if size is not None and len(size) == 2 and all(float(v) > 0 for v in size):
                    sizes[name] = [float(size[0]), float(size[1])]
                    break
            except (TypeError, ValueError):
                continue
    return sizes


def anonymize_source(source: Source, key: bytes | None = None) -> None:
    """Pseudonymise an opened source in place by allow-lists (see
    :mod:`forcelab.interop.anonymize`): athlete, session, trial records and names, reader
    metadata and the output file stem."""
    source.athlete = anonymize_athlete(source.athlete, key, fallback=f"file:{source.path.stem}")
    source.session = keep_fields(source.session, KEPT_SESSION_FIELDS)
    for i, t in enumerate(source.trials, start=1):
        t.name = f"trial{i}"
        t.info = {**keep_fields(t.info, KEPT_TRIAL_FIELDS), "name": t.name}
        t.recording.source = ""
        t.recording.meta = keep_fields(t.recording.meta or {}, KEPT_META_FIELDS)
    date = source.date.replace("-", "")
    source.stem = source.athlete_id + (f"_{date}" if date else "")
    source.anonymized = True
