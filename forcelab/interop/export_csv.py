"""CSV export: one data file per trial and one per-stance metrics table per trial.

Data file ``<name>.csv``: a header row ``time [s], <stream>.<channel> [unit], ...`` then one row
per sample; an insole stream is labelled ``<stream>@insole`` so that readers (forcelab too)
know the sensor and use the insole contact thresholds. When all streams share rate, start time
and length there is one ``time [s]`` column; otherwise each stream gets its own
``<stream>.time [s]`` column before its channels (rows then hold the n-th sample of every
stream and shorter streams end with empty cells), so no sample is moved or interpolated.
Missing values (gaps, COP of an unloaded plate) are empty cells. Numbers are written with 10
significant digits. forcelab reads the file back without options.

Metrics file ``<name>_stances.csv``: one row per stance with the athlete id, the trial and every
metric of :class:`forcelab.analysis.AnalysisResult` stances.

Spreadsheets execute a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return as a formula (CSV injection). Every text cell written here that starts with
one of those is prefixed with a single quote, which spreadsheets show as plain text.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from forcelab.interop.export_common import (
    ExportSource,
    ExportTrial,
    FileWriter,
    export_files,
    table_chunks,
    write_atomic_text,
)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(text: str) -> str:
    """Make a text cell safe for spreadsheets: prefix ``'`` when it would run as a formula."""
    text = str(text)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return "" if not math.isfinite(f) else f"{f:.10g}"
    if isinstance(value, (list, tuple)):
        return neutralize(" ".join(csv_cell(v) for v in value))
    return neutralize(str(value))


def data_table(trial: ExportTrial) -> tuple[list[str], np.ndarray]:
    """The header and the numeric table (NaN = empty cell) of a trial's data file."""
    streams = trial.recording.streams
    shared = (len({(round(s.rate_hz, 9), round(s.t0_s, 9), s.n_samples) for s in streams}) == 1)
    header: list[str] = []
    columns: list[np.ndarray] = []
    n_rows = max(s.n_samples for s in streams)

    def pad(v: np.ndarray) -> np.ndarray:
        if v.size == n_rows:
            return v
        out = np.full(n_rows, np.nan)
        out[:v.size] = v
        return out

    if shared:
        header.append("time [s]")
        columns.append(streams[0].time_s())
    for s in streams:
        label = s.name if s.sensor == "plate" else f"{s.name}@{s.sensor}"
        if not shared:
            header.append(f"{label}.time [s]")
            columns.append(pad(s.time_s()))
        for ch, values in s.channels.items():
            unit = s.units.get(ch, "")
            header.append(f"{label}.{ch} [{unit}]" if unit else f"{label}.{ch}")
            columns.append(pad(values))
    return [neutralize(h) for h in header], np.column_stack(columns)


def data_chunks(trial: ExportTrial, chunk_rows: int | None = None) -> Iterator[str]:
    """The text of a trial's data CSV, in pieces (header first), formatted with NumPy;
    ``chunk_rows`` rows per piece (default ``export_common.CHUNK_ROWS``)."""
    header, table = data_table(trial)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(header)
    yield buf.getvalue()
    yield from table_chunks(table, ",", "%.10g", chunk_rows)


def data_text(trial: ExportTrial) -> str:
    """Full text of a trial's data CSV."""
    return "".join(data_chunks(trial))


#: first columns of the stance table, then every other metric in the analysis's order
STANCE_LEAD = ("athlete_id", "trial", "stream", "side", "start_s", "end_s", "valid", "reason")


def stance_rows(athlete_id: str, trial: ExportTrial, stances: list[dict[str, Any]]
                ) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a per-stance metrics table."""
    keys: list[str] = []
    for s in stances:
        for k in s:
            if k not in keys and k not in STANCE_LEAD:
                keys.append(k)
    header = list(STANCE_LEAD) + keys
    rows = []
    for s in stances:
        row = {**s, "athlete_id": athlete_id, "trial": trial.name}
        rows.append([row.get(k) for k in header])
    return header, rows


def stance_text(athlete_id: str, trial: ExportTrial, stances: list[dict[str, Any]]) -> str:
    """Full text of a per-stance metrics CSV."""
    header, rows = stance_rows(athlete_id, trial, stances)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([neutralize(h) for h in header])
    for r in rows:
        w.writerow([csv_cell(v) for v in r])
    return buf.getvalue()


def export_csv(source: ExportSource, out: str | Path | None = None, *, overwrite: bool = False,
               analysis_options: dict[str, Any] | None = None) -> list[Path]:
    """Write ``<name>.csv`` (samples) and ``<name>_stances.csv`` (metrics) per trial.

    ``out`` is an output folder, or a ``.csv`` file name when there is one trial (the stance
    table then goes beside it as ``<stem>_stances.csv``); ``analysis_options`` go to the stance
    detection. See :func:`~forcelab.interop.export_common.export_files` for the rest.
    """
    def writers(trial: ExportTrial) -> list[FileWriter]:
        stances = stance_text(source.athlete_id, trial, trial.stances(analysis_options))
        return [lambda path: write_atomic_text(path, data_chunks(trial)),
                lambda path: write_atomic_text(path, stances)]

    return export_files(source, out, ".csv", writers, overwrite=overwrite,
                        companions=[lambda p: p.with_name(p.stem + "_stances.csv")])


def read_data_csv(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read a data CSV written by :func:`export_csv` back into channels.

    Returns
    -------
    dict
        ``{"<stream>.<channel>": (time_s, values)}`` (trailing padding removed).
    """
    text = Path(path).read_text(encoding="utf-8")
    lines = text.splitlines()
    header = next(csv.reader([lines[0]]))
    table = np.genfromtxt(io.StringIO("\n".join(lines[1:])), delimiter=",",
                          dtype=np.float64, ndmin=2)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    time_col: np.ndarray | None = None
    for j, h in enumerate(header):
        name = h.split(" [")[0]
        if name == "time":
            time_col = table[:, j]
            continue
        if name.endswith(".time"):
            time_col = table[:, j]
            continue
        t = time_col if time_col is not None else np.arange(table.shape[0], dtype=float)
        keep = np.isfinite(t)
        out[name] = (t[keep], table[keep, j])
    return out
