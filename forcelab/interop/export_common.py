"""What every export needs: the trials of a file, who the athlete is, the stances, output paths.

An export is handed a source opened by :func:`forcelab.sources.load_source`: a forcelab session
file (one Recording per trial) or any recording :func:`forcelab.interop.load_recording` can read
(one "trial" named after the file). The stances come from
:func:`forcelab.analysis.analyze_recording` on each trial, so every format carries the same
foot-strike / foot-off times and metrics.

Times: every export writes times on the recording's own time base (seconds since the session
started for session files), except C3D, whose frames start at 0; the C3D file stores the
offset in ``FORCELAB:T0_S``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from forcelab import __version__
from forcelab.analysis import analyze_recording
from forcelab.errors import AnalysisError, ExportError, InputError
from forcelab.recording import Recording, Stream
from forcelab.store import check_free_space

#: the channels a force plate stream needs to become a C3D force platform / OpenSim force
#: (``cop_ap``, ``fap``, ``fml`` and ``tz`` are used when present, 0 otherwise)
PLATE_CHANNELS = ("fz", "cop_ml")


@dataclass
class ExportTrial:
    """One trial to export: its recording and what the session says about it.

    Parameters
    ----------
    name : str
        Trial name ("session" when the file has no trials, the file stem for plain recordings).
    recording : Recording
        The trial's streams on the session time base.
    info : dict
        Trial record from the session (tags, speed_m_s, shoe, start/stop times, ...).
    """

    name: str
    recording: Recording
    info: dict[str, Any] = field(default_factory=dict)
    _analysis: Any = None
    #: why the analysis found nothing (set by :meth:`stances`), "" otherwise
    analysis_error: str = ""

    def analysis(self, options: dict[str, Any] | None = None) -> Any:
        """The :class:`forcelab.analysis.AnalysisResult` of this trial (computed once).

        Raises
        ------
        AnalysisError
            If the trial holds no stance (a standing or weighing trial, an empty plate).
        """
        if self._analysis is None or options:
            result = analyze_recording(self.recording, dict(options or {}))
            if options:
                return result
            self._analysis = result
        return self._analysis

    def stances(self, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The trial's stances, or [] when it has none (the reason goes to ``analysis_error``),
        so trials without gait (standing, weighing) still export their samples.
        """
        try:
            return list(self.analysis(options).stances)
        except AnalysisError as exc:
            self.analysis_error = str(exc)
            return []


@dataclass
class ExportSource:
    """A file opened for export.

    Parameters
    ----------
    path : Path
        The input file.
    kind : {"session", "recording"}
        A forcelab session file or another readable recording.
    athlete : dict
        Athlete record (id, name, body_mass_kg, ...); already pseudonymised when anonymised.
    session : dict
        Session record (uuid, start time, operator, notes, software, ...), scrubbed when
        anonymised.
    trials : list of ExportTrial
    anonymized : bool
    stem : str
        Base name for output files (a pseudonym-based name when anonymised, so file names do
        not leak a name that was in the input's file name).
    """

    path: Path
    kind: str
    athlete: dict[str, Any]
    session: dict[str, Any]
    trials: list[ExportTrial]
    anonymized: bool = False
    stem: str = ""

    @property
    def athlete_id(self) -> str:
        """The athlete id (or pseudonym), "" when unknown."""
        return str(self.athlete.get("id") or "")

    @property
    def date(self) -> str:
        """Session date as ``YYYY-MM-DD`` (UTC), "" when unknown."""
        return session_date(self.session)


def session_date(session: dict[str, Any]) -> str:
    """The ``YYYY-MM-DD`` date of a session record, "" when it carries no start time."""
    for key in ("start_time_utc", "started_utc", "start_utc", "created_utc", "start_time",
                "created", "date"):
        value = session.get(key)
        if value in (None, ""):
            continue
        if isinstance(value, (int, float)) and math.isfinite(value) and value > 1e8:
            return datetime.fromtimestamp(float(value), tz=timezone.utc).strftime("%Y-%m-%d")
        text = str(value)
        match = re.match(r"(\d{4}-\d{2}-\d{2})", text)
        if match:
            return match.group(1)
    return ""


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A file-name-safe version of a trial or stream name (letters, digits, ``._-``)."""
    cleaned = _UNSAFE.sub("_", str(text)).strip("._")
    return cleaned or "trial"


def output_paths(
    source: ExportSource, out: str | Path | None, suffix: str, *, per_trial: bool = True
) -> list[Path]:
    """Decide the output file of each trial (or the single output when ``per_trial`` is False).

    ``out`` may be a directory (created when missing; files are named
    ``<stem>_<trial><suffix>``) or a file name ending in ``suffix``: used as it is for a single
    output, and as the base of ``<out-stem>_<trial><suffix>`` when there are several trials.
    Default: the input's directory.
    """
    trial_names = [safe_name(t.name) for t in source.trials]
    if out is not None and str(out).lower().endswith(suffix):
        out = Path(out)
        if not per_trial or len(trial_names) == 1:
            return [out]
        return [out.with_name(f"{out.stem}_{n}{suffix}") for n in trial_names]
    names = [source.stem] if not per_trial else [
        f"{source.stem}_{n}" if n != source.stem else source.stem for n in trial_names
    ]
    directory = Path(out) if out is not None else source.path.parent
    return [directory / f"{n}{suffix}" for n in names]


def claim_outputs(
    paths: list[Path],
    overwrite: bool = False,
    *,
    source: ExportSource | None = None,
    out: str | Path | None = None,
) -> None:
    """Check the outputs can be written before anything is: never the input file itself (not
    even with ``overwrite``), no existing file unless asked, and no folder made up.

    The folder rule (the same for every command): forcelab creates no folder it was not
    named. A folder given as ``out`` is created when missing, inside a folder that exists; the
    folder of an output file must exist.

    Raises
    ------
    InputError
        If an output is the input, exists and ``overwrite`` is False, is a folder, or its
        folder does not exist (and was not named as ``out``) or cannot be created.
    """
    named = Path(out) if out is not None and not any(
        str(out).lower().endswith(p.suffix.lower()) for p in paths) else None
    src = source.path.resolve() if source is not None else None
    for p in paths:
        if src is not None and p.resolve() == src:
            raise InputError(
                f"{p} is the file being exported; forcelab never writes over its input "
                "(not even with `overwrite`): pick another `out`"
            )
        if p.exists() and p.is_dir():
            raise InputError(f"{p} is a directory, not a file")
        if p.exists() and not overwrite:
            raise InputError(f"{p} already exists; remove it, pick another `out`, or use "
                             "`overwrite`")
    for parent in sorted({p.parent for p in paths}):
        if parent.is_dir():
            continue
        if parent.exists():
            raise InputError(f"{parent} is a file, not a folder")
        if parent == named and parent.parent.exists() and not parent.parent.is_dir():
            raise InputError(f"cannot create the output folder {parent}: {parent.parent} is a "
                             "file")
        if named is None or parent != named or not parent.parent.is_dir():
            raise InputError(f"folder {parent} does not exist; create it or choose another `out`")
        make_output_folder(parent, parents=False)


def make_output_folder(folder: Path, *, parents: bool = True) -> None:
    """Create ``folder`` for files about to be written there (and, unless ``parents`` is False,
    the folders above it); nothing when it exists.

    Raises
    ------
    InputError
        If it cannot be created (the reason the system gives).
    """
    try:
        folder.mkdir(parents=parents, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {folder}: {exc.strerror}") from None


def write_atomic_text(path: Path, text: str | Iterable[str]) -> None:
    """Write a text file through a temporary name, so a failed export leaves no half file.

    Parameters
    ----------
    path : Path
        The file to write.
    text : str or iterable of str
        The whole text (the free room is checked first), or its pieces, written one at a time
        so that a long table never sits in memory whole.

    Raises
    ------
    ExportError
        If the file cannot be written (full disk, no permission, ...).
    """
    if isinstance(text, str):
        check_free_space(path.parent, len(text.encode("utf-8")), path.name)
        text = (text,)
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            for piece in text:
                fh.write(piece)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # nothing was created
        raise ExportError(f"could not write {path}: {exc.strerror or exc}") from None


#: writes one output file to the path it is given (raises ExportError when it cannot)
FileWriter = Callable[[Path], None]


def export_files(
    source: ExportSource,
    out: str | Path | None,
    suffix: str,
    writers: Callable[[Any], Sequence[FileWriter]],
    *,
    overwrite: bool = False,
    companions: Sequence[Callable[[Path], Path]] = (),
    per_trial: bool = True,
) -> list[Path]:
    """The one way every export writes: decide the outputs, claim them, write all or none.

    Parameters
    ----------
    source : ExportSource
        From :func:`forcelab.sources.load_source`.
    out : str or Path, optional
        Output folder, or a file name ending in ``suffix`` (see :func:`output_paths`). Default:
        the input's folder.
    suffix : str
        Suffix of each trial's main file (".csv").
    writers : callable
        ``writers(trial)`` (``writers(source)`` when not ``per_trial``) returns one
        :data:`FileWriter` per output of that trial: its main file, then each companion.
    overwrite : bool
        Replace existing files.
    companions : sequence of callable
        The path of each further file of a trial from its main file's path.
    per_trial : bool
        One set of files per trial, or one for the whole source.

    Returns
    -------
    list of Path
        The files written. When one cannot be written, those already written are removed.
    """
    mains = output_paths(source, out, suffix, per_trial=per_trial)
    groups = [[main, *(companion(main) for companion in companions)] for main in mains]
    claim_outputs([p for group in groups for p in group], overwrite, source=source, out=out)
    written: list[Path] = []
    try:
        for unit, group in zip(source.trials if per_trial else [source], groups, strict=True):
            for write, path in zip(writers(unit), group, strict=True):
                write(path)
                written.append(path)
    except BaseException:
        for done in written:  # all outputs or none
            done.unlink(missing_ok=True)
        raise
    return written


def is_plate_stream(stream: Stream) -> bool:
    """True when a stream is a force plate / belt: vertical force and a COP in metres."""
    return all(c in stream.channels for c in PLATE_CHANNELS) and all(
        stream.units.get(c, "m") == "m" for c in ("cop_ml", "cop_ap") if c in stream.channels
    )


def common_grid(streams: list[Stream]) -> tuple[np.ndarray, float]:
    """A uniform time grid (s) covering all streams at the fastest stream's rate.

    Returns
    -------
    time_s : ndarray
        Sample times on the recording time base.
    rate_hz : float
        The grid's rate.
    """
    if not streams:
        raise ExportError("nothing to export: the recording has no streams")
    fastest = max(streams, key=lambda s: s.rate_hz)
    rate = fastest.rate_hz
    t0 = min(s.t0_s for s in streams)
    t_end = max(s.t0_s + (s.n_samples - 1) / s.rate_hz for s in streams)
    # align the grid on the fastest stream's samples so that stream is copied, not resampled
    shift = (fastest.t0_s - t0) * rate
    t0 = fastest.t0_s - math.ceil(shift - 1e-6) / rate
    n = int(math.floor((t_end - t0) * rate + 1e-6)) + 1
    return t0 + np.arange(max(n, 0)) / rate, rate


def on_grid(stream: Stream, channel: str, time_s: np.ndarray, rate_hz: float) -> np.ndarray:
    """A channel on another uniform time grid: exact copy when the samples coincide, linear
    interpolation otherwise; NaN outside the stream's span.
    """
    values = stream.channels[channel]
    out = np.full(time_s.shape, np.nan)
    if stream.n_samples == 0 or time_s.size == 0:
        return out
    offset = (stream.t0_s - time_s[0]) * rate_hz
    if abs(stream.rate_hz - rate_hz) < 1e-9 * rate_hz and abs(offset - round(offset)) < 1e-6:
        start = int(round(offset))
        lo, hi = max(start, 0), min(start + stream.n_samples, time_s.size)
        if hi > lo:
            out[lo:hi] = values[lo - start:hi - start]
        return out
    t = stream.time_s()
    inside = (time_s >= t[0] - 1e-9) & (time_s <= t[-1] + 1e-9)
    out[inside] = np.interp(time_s[inside], t, values)
    return out


def stance_sides_per_sample(
    time_s: np.ndarray, stances: list[dict[str, Any]], stream_name: str | None = None
) -> np.ndarray:
    """Give every sample the side of the nearest stance (in time) of a stream.

    Used to split one plate under both feet into a left and a right force: samples inside a
    stance belong to its foot, samples in flight go to the foot of the nearest stance, so the
    left and right forces always add up to the measured force.

    Returns
    -------
    ndarray of str
        "left" / "right" per sample ("" when no stance has a side).
    """
    sided = [s for s in stances
             if s.get("side") in ("left", "right")
             and (stream_name is None or s.get("stream") == stream_name)]
    out = np.full(time_s.shape, "", dtype=object)
    if not sided:
        return out
    sided.sort(key=lambda s: s["start_s"])
    starts = np.array([s["start_s"] for s in sided], dtype=float)
    ends = np.array([s["end_s"] for s in sided], dtype=float)
    sides = np.array([s["side"] for s in sided], dtype=object)
    # index of the last stance starting at or before each sample
    idx = np.searchsorted(starts, time_s, side="right") - 1
    prev = np.clip(idx, 0, len(sided) - 1)
    nxt = np.clip(idx + 1, 0, len(sided) - 1)
    dist_prev = np.where(idx >= 0, np.maximum(time_s - ends[prev], 0.0), np.inf)
    dist_next = np.where(idx + 1 < len(sided), starts[nxt] - time_s, np.inf)
    choose = np.where(dist_prev <= dist_next, prev, nxt)
    out[:] = sides[choose]
    return out


def software_info() -> dict[str, str]:
    """Name and version of the exporting software."""
    return {"name": "forcelab", "version": __version__}


def json_safe(value: Any) -> Any:
    """Turn NumPy scalars/arrays and non-finite floats into plain JSON values (NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


#: rows formatted at a time by :func:`table_chunks` (bounds memory: ~50 MB for 20 columns)
CHUNK_ROWS = 20_000


def table_chunks(table: np.ndarray, sep: str = ",", fmt: str = "%.10g",
                 chunk_rows: int | None = None) -> Iterator[str]:
    """Format a numeric table as text lines, a chunk of rows at a time. Non-finite values
    become empty cells.

    Each row is formatted by one C-level ``%`` operation on the whole row (what
    ``numpy.savetxt`` does, several times faster than element-wise NumPy string functions);
    "nan" can only ever be a whole cell, so missing cells are emptied by one replace per chunk.

    Yields
    ------
    str
        ``chunk_rows`` lines (default :data:`CHUNK_ROWS`), each ending with a newline.
    """
    chunk_rows = chunk_rows or CHUNK_ROWS
    if table.ndim != 2 or table.shape[1] == 0:
        return
    row_fmt = sep.join([fmt] * table.shape[1])
    for r0 in range(0, table.shape[0], chunk_rows):
        block = table[r0:r0 + chunk_rows]
        finite = bool(np.all(np.isfinite(block)))
        if not finite:
            block = np.where(np.isinf(block), np.nan, block)
        text = "\n".join([row_fmt % tuple(row) for row in block.tolist()]) + "\n"
        yield text if finite else text.replace("nan", "")
