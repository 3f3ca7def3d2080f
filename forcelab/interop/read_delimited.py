"""Delimited text tables (CSV, TSV, semicolon or whitespace separated) of ground-reaction force.

A table may have a header row (column names; a second non-numeric row is taken as units) or
none (columns are then named "1", "2", ... from the left). Lines starting with ``#`` or ``%``
are comments. Empty cells and ``NaN``/``NA`` are missing values (NaN).

Which columns mean what:

- time: ``time_column`` (name or 1-based number) in ``time_unit`` s, ms or frame; without it a
  column called time/t/time_s/frame/sample is used when there is one, otherwise ``rate_hz``
  gives the time base. Frame numbers need ``rate_hz`` and count from the first row.
- vertical force: ``vertical`` COL for one stream, or ``map`` {"left": COL, "right": COL} for
  one stream per foot. Without either, a table with one data column, an obvious left/right pair
  (``left``/``right``, ``Fz_L``/``Fz_R``, ...) or one column called fz/force/grf is used.
- ``cop_ml`` COL marks one plate under both feet: its medio-lateral centre of pressure lets the
  analysis split stances into left and right (``cop_ml_right`` "negative" when smaller values
  are the subject's right). Positions are converted to m from a unit row, a unit in the
  column name, or, without either, from their magnitude (median above 20 means mm).

Time stamps are fitted to a uniform grid by :func:`forcelab.interop.load.fit_time_grid`
(rounded stamps keep the exact rate, missing rows become NaN, jittered stamps are interpolated
with NaN across gaps).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from forcelab.errors import FileFormatError, InputError
from forcelab.interop.load import (
    READER_OPTIONS,
    Table,
    check_reader_options,
    fit_time_grid,
    guess_delimiter,
    is_numeric_row,
    length_to_m,
    orient_vertical,
    parse_rows,
    read_text,
    resolve_column,
    split_fields,
)
from forcelab.recording import Recording, Stream

ALLOWED_OPTIONS = tuple(k for k in READER_OPTIONS if k not in ("trial", "stream"))

_TIME_NAMES = re.compile(
    r"^(time|t|times|time_s|time ?\(s\)|time ?\[s\]|time_ms|time ?\(ms\)|time ?\[ms\]|timestamp|"
    r"seconds|sec|frame|frames|frame_no|frame number|sample|samples)$",
    re.IGNORECASE,
)
_FZ_NAMES = {"fz", "force", "grf", "vgrf", "verticalforce", "vertical", "fzn", "forcen", "vgrfn"}
_SIDE_WORDS = {"left": ("left", "l"), "right": ("right", "r")}
_FORCE_WORDS = ("", "fz", "force", "grf", "vgrf", "fy")


_HEAD_BYTES = 1 << 16
_DECIMAL_COMMA = re.compile(r"(^|[;\t ])-?\d+,\d+($|[;\t ])")


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith(("#", "%"))


def read_table(path: str | Path) -> Table:
    """Read a delimited numeric table with optional header and units rows.

    The first 64 KiB decide separator, header, units row and decimal comma; the data are then
    parsed by NumPy's C reader straight from the file. Files with empty cells, text cells or
    decimal commas are parsed row by row (text cells become NaN and are reported only if a
    reader needs their column).

    Parameters
    ----------
    path : str or Path
        The text file.

    Returns
    -------
    Table

    Raises
    ------
    FileFormatError
        If the file is empty, binary, has no data rows or a malformed row.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(_HEAD_BYTES)
        more = bool(fh.read(1))
    if not head.strip():
        raise FileFormatError(f"{path}: the file is empty")
    if more:
        head = head[: head.rfind(b"\n") + 1] or head
    if b"\x00" in head[:8192] or head.startswith(b"PK\x03\x04"):
        read_text(path)  # raises the binary-data error
    try:
        head_text, encoding = head.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError:
        head_text, encoding = head.decode("latin-1"), "latin-1"
    content = [(i + 1, line) for i, line in enumerate(head_text.splitlines())
               if line.strip() and not _is_comment(line)]
    if not content and more:
        content = [(i + 1, line) for i, line in enumerate(read_text(path).splitlines())
                   if line.strip() and not _is_comment(line)]
    if not content:
        raise FileFormatError(f"{path}: no data rows (only comments or blank lines)")
    delimiter = guess_delimiter([line for _, line in content])
    decimal_comma = delimiter != "," and any(
        _DECIMAL_COMMA.search(line) for _, line in content[1:200])

    def fields_of(line: str) -> list[str]:
        fields = split_fields(line, delimiter)
        return [f.replace(",", ".") for f in fields] if decimal_comma else fields

    first = fields_of(content[0][1])
    units: list[str] = []
    if is_numeric_row(first):
        names = [str(i + 1) for i in range(len(first))]
        start = 0
    else:
        while first and first[-1] == "":
            first.pop()
        names = _unique_names(first)
        start = 1
        if len(content) > 1:
            second = fields_of(content[1][1])
            if not is_numeric_row(second) and not _looks_like_data(second, len(names)):
                if len([f for f in second if f]) > len(names) or len(second) > len(names) + 1:
                    raise FileFormatError(
                        f"{path}: line {content[1][0]} is neither numbers nor a units row for "
                        f"the {len(names)} columns of the header"
                    )
                units = [f.strip("[]()") for f in second] + [""] * (len(names) - len(second))
                units = units[: len(names)]
                start = 2
    if len(names) == 0 or not any(re.search(r"\w", n) for n in names):
        raise FileFormatError(f"{path}: no columns found; is this a delimited table?")
    if start >= len(content) and not more:
        raise FileFormatError(f"{path}: a header but no data rows")
    first_line = content[start][0] if start < len(content) else content[-1][0] + 1
    units = units or [""] * len(names)
    if not decimal_comma:
        values = _fast_values(path, delimiter, first_line, encoding, len(names))
        if values is not None:
            return Table(names=names, values=values, units=units, first_line=first_line,
                         delimiter=delimiter)
    text = read_text(path)
    if decimal_comma:
        text = text.replace(",", ".")
    rows = [(i + 1, line) for i, line in enumerate(text.splitlines())
            if i + 1 >= first_line and line.strip() and not _is_comment(line)]
    if not rows:
        raise FileFormatError(f"{path}: a header but no data rows")
    lines = [line for _, line in rows]
    values, text_cells = parse_rows(lines, delimiter, names, [n for n, _ in rows], path)
    if text_cells and len(text_cells) == len(names):
        raise FileFormatError(
            f"{path}: line {rows[0][0]} and the rows after it hold no numbers; not a recording"
        )
    return Table(names=names, values=values, units=units, first_line=first_line,
                 text_cells=text_cells, rows=lines if text_cells else None, delimiter=delimiter)


def _looks_like_data(fields: list[str], n_names: int) -> bool:
    """A row with as many fields as the header and at least one number is data, not units."""
    if len(fields) != n_names:
        return False
    for f in fields:
        try:
            float(f)
            return True
        except ValueError:
            continue
    return False


def _fast_values(path: Path, delimiter: str | None, first_line: int, encoding: str,
                 n_cols: int) -> np.ndarray | None:
    """All-numeric tables straight from the file with NumPy's C parser, or None."""
    kwargs: dict[str, Any] = {"quotechar": '"'} if delimiter is not None else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = np.loadtxt(path, delimiter=delimiter, skiprows=first_line - 1,
                                comments="#", ndmin=2, dtype=np.float64,
                                encoding=encoding, **kwargs)
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    if values.shape[0] == 0 or values.shape[1] != n_cols:
        return None
    return values


def _unique_names(fields: list[str]) -> list[str]:
    names: list[str] = []
    for i, f in enumerate(fields):
        name = f or str(i + 1)
        base, k = name, 2
        while name in names:
            name = f"{base}.{k}"
            k += 1
        names.append(name)
    return names


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _auto_sides(names: list[str], candidates: list[int]) -> dict[str, int] | None:
    found: dict[str, list[int]] = {"left": [], "right": []}
    for i in candidates:
        n = _norm(names[i])
        for side, words in _SIDE_WORDS.items():
            forms = {w + f for w in words for f in _FORCE_WORDS}
            forms |= {f + w for w in words for f in _FORCE_WORDS if f}
            if n in forms - {""}:
                found[side].append(i)
    if len(found["left"]) == 1 and len(found["right"]) == 1:
        return {"left": found["left"][0], "right": found["right"][0]}
    return None


def read_delimited(path: str | Path, **options: Any) -> Recording:
    """Read a delimited table of vertical ground-reaction force into a Recording.

    Parameters
    ----------
    path : str or Path
        CSV/TSV/whitespace-separated text file.
    **options
        rate_hz (Hz), time_column, time_unit ("s", "ms", "frame"), vertical, map, cop_ml,
        cop_ml_right, body_mass_kg (kg); see the module docstring.

    Returns
    -------
    Recording
        One stream "plate" (``vertical``; side None, with ``cop_ml`` when given) or streams
        "left"/"right" (``map``). ``meta["time"]`` tells how the time base was made.

    Raises
    ------
    FileFormatError
        For malformed files or when the vertical force column cannot be found.
    InputError
        For nonsense options or columns that do not exist.
    """
    path = Path(path)
    opts = check_reader_options(options, ALLOWED_OPTIONS, "delimited tables")
    if "map" in opts and "vertical" in opts:
        raise InputError("give either `vertical` COL (one plate) or `map` (one column per side)")
    if "map" in opts and "cop_ml" in opts:
        raise InputError(
            "`cop_ml` splits one plate under both feet; it cannot be combined with `map`"
        )
    table = read_table(path)
    names = table.names
    if not set(opts) - {"body_mass_kg"}:
        layout = _forcelab_layout(names)
        if layout is not None:
            return _read_forcelab_export(table, layout, path, opts)
    meta: dict[str, Any] = {"format": "delimited", "columns": list(names)}

    time_idx = _time_column(table, opts, path)
    grid = _time_grid(table, time_idx, opts, path)
    meta["time"] = grid.describe()
    if getattr(grid, "start", None):
        meta["time"]["start"] = grid.start
    if time_idx is not None:
        meta["time"]["column"] = names[time_idx]
    text_only = {i for i in table.text_cells if not np.isfinite(table.values[:, i]).any()}
    data_cols = [i for i in range(len(names)) if i != time_idx and i not in text_only]
    if not data_cols:
        raise FileFormatError(f"{path}: the table has a time column but no force column")

    def column(ref: str, option: str) -> int:
        idx = resolve_column(names, ref, path, option)
        if idx == time_idx:
            raise InputError(f"{option} {ref!r} is the time column; name a force column")
        table.require_numeric(idx, path)
        return idx

    if "map" in opts:
        side_cols = {side: column(ref, "`map`") for side, ref in opts["map"].items()}
    elif "vertical" in opts:
        side_cols = {"": column(opts["vertical"], "`vertical`")}
    else:
        side_cols = _auto_vertical(names, data_cols, path)
        for idx in side_cols.values():
            table.require_numeric(idx, path)
    meta["vertical"] = {side or "plate": names[i] for side, i in side_cols.items()}

    streams = []
    negated = []
    for side, idx in side_cols.items():
        fz = grid.apply(table.values[:, idx])
        if not np.any(np.isfinite(fz)):
            raise FileFormatError(f"{path}: column {names[idx]!r} holds no numbers")
        fz, flipped = orient_vertical(fz)
        if flipped:
            negated.append(names[idx])
        channels = {"fz": fz}
        if not side and "cop_ml" in opts:
            cidx = column(opts["cop_ml"], "`cop_ml`")
            cop, how = length_to_m(grid.apply(table.values[:, cidx]), names[cidx],
                                   table.units[cidx])
            if opts.get("cop_ml_right", "positive") == "negative":
                cop = -cop
            channels["cop_ml"] = cop
            meta["cop_ml"] = {"column": names[cidx], "unit": how,
                              "right": opts.get("cop_ml_right", "positive")}
        units = {"fz": "N"}
        if table.units[idx] and table.units[idx].lower() not in ("n", "newton", "newtons"):
            meta.setdefault("source_units", {})[names[idx]] = table.units[idx]
        streams.append(
            Stream(name=side or "plate", rate_hz=grid.rate_hz, channels=channels,
                   side=side or None, t0_s=grid.t0_s, units=units)
        )
    if negated:
        meta["negated"] = negated
    return Recording(streams=streams, body_mass_kg=opts.get("body_mass_kg"), source=str(path),
                     meta=meta)


_EXPORT_COLUMN = re.compile(
    r"^(?P<stream>[^.\s\[@]+)(?:@(?P<sensor>plate|insole))?\.(?P<ch>[^\s\[]+)"
    r"(?: \[(?P<unit>[^\]]*)\])?$"
)
_SHARED_TIME = "time [s]"


def _forcelab_layout(names: list[str]) -> dict[str, dict[str, Any]] | None:
    """The streams of a forcelab CSV export (``time [s]``, ``<stream>[@insole].<channel>
    [unit]``; a ``<stream>.time [s]`` column per stream when the streams do not share one
    time base), or None when the header is not one."""
    streams: dict[str, dict[str, Any]] = {}
    shared = None
    for i, name in enumerate(names):
        if name == _SHARED_TIME:
            if shared is not None or i != 0:
                return None
            shared = i
            continue
        m = _EXPORT_COLUMN.match(name)
        if m is None:
            return None
        s = streams.setdefault(m["stream"], {"time": shared, "channels": {},
                                             "sensor": m["sensor"] or "plate"})
        if m["ch"] == "time" and m["unit"] == "s":
            s["time"] = i
        else:
            s["channels"][m["ch"]] = (i, m["unit"] or "")
    if not streams or any(s["time"] is None or "fz" not in s["channels"]
                          for s in streams.values()):
        return None
    return streams


def _read_forcelab_export(table: Table, layout: dict[str, dict[str, Any]], path: Path,
                          opts: dict) -> Recording:
    """Read forcelab's own CSV export back: every stream with its channels, units, sensor
    (``<stream>@insole``) and its own time base; a stream named ``left``/``right`` (or ending
    ``_left``/``_right``) gets that side."""
    streams = []
    for name, spec in layout.items():
        t = table.values[:, spec["time"]]
        rows = np.isfinite(t)
        grid = fit_time_grid(t[rows], where=f"{path}: column {table.names[spec['time']]!r}")
        channels, units = {}, {}
        for ch, (idx, unit) in spec["channels"].items():
            table.require_numeric(idx, path)
            channels[ch] = grid.apply(table.values[rows, idx])
            units[ch] = unit
        side = next((w for w in ("left", "right") if name == w or name.endswith(f"_{w}")),
                    None)
        streams.append(Stream(name=name, rate_hz=grid.rate_hz, channels=channels, side=side,
                              t0_s=grid.t0_s, units=units, sensor=spec["sensor"]))
    meta = {"format": "forcelab-csv", "time": {"method": "per stream"}}
    return Recording(streams=streams, body_mass_kg=opts.get("body_mass_kg"), source=str(path),
                     meta=meta)


def _time_column(table: Table, opts: dict, path: Path) -> int | None:
    if "time_column" in opts:
        return resolve_column(table.names, opts["time_column"], path, "`time_column`")
    matches = [i for i, n in enumerate(table.names) if _TIME_NAMES.match(n.strip())]
    if matches:
        return matches[0]
    if "time_unit" in opts:
        raise InputError(
            f"`time_unit` given but {path} has no column named time or frame; add `time_column`"
        )
    return None


def _time_grid(table: Table, time_idx: int | None, opts: dict, path: Path):
    rate = opts.get("rate_hz")
    n_rows = table.values.shape[0]
    if time_idx is None:
        if rate is None:
            raise InputError(
                f"{path} has no time column: add `rate_hz` HZ (or `time_column` COL)"
            )
        return fit_time_grid(np.arange(n_rows) / rate, rate_hz=rate, where=str(path))
    name = table.names[time_idx]
    where = f"{path}: time column {name!r}"
    unit = opts.get("time_unit")
    if unit is None:
        lowered = name.lower()
        if "frame" in lowered or "sample" in lowered:
            unit = "frame"
        elif "ms" in lowered or table.units[time_idx].lower() == "ms":
            unit = "ms"
        else:
            unit = "s"
    if time_idx in table.text_cells:
        return _datetime_grid(table, time_idx, rate, where)
    t = table.values[:, time_idx]
    if unit == "frame":
        if rate is None:
            raise InputError(f"column {name!r} holds frame numbers: add `rate_hz` HZ")
        return fit_time_grid((t - t[0]) / rate, rate_hz=rate, where=where)
    t_s = t / 1000.0 if unit == "ms" else t
    estimate = fit_time_grid(t_s, where=where)
    if rate is None:
        return estimate
    if abs(estimate.rate_hz / rate - 1.0) > 0.01:
        raise InputError(
            f"time column {name!r} in {unit} gives {estimate.rate_hz:.4g} Hz but `rate_hz` is "
            f"{rate:g} Hz; if {name!r} holds frame numbers add `time_unit` frame, otherwise "
            "leave out `rate_hz`"
        )
    return fit_time_grid(t_s, rate_hz=rate, where=where)


def _datetime_grid(table: Table, time_idx: int, rate: float | None, where: str):
    """Time base from a column of ISO 8601 date-times (``2023-09-27 10:21:14.922``)."""
    cells = [c.strip().rstrip("Zz") for c in table.text_column(time_idx)]
    try:
        stamps = np.array(cells, dtype="datetime64[ns]")
    except ValueError:
        lineno, token = table.text_cells[time_idx]
        raise FileFormatError(
            f"{where}: line {lineno}: {token[:40]!r} is neither a number nor an ISO 8601 "
            "date-time"
        ) from None
    if np.isnat(stamps).any():
        row = int(np.flatnonzero(np.isnat(stamps))[0])
        raise FileFormatError(f"{where}: row {row + 1} has no time stamp")
    t_s = (stamps - stamps[0]) / np.timedelta64(1, "s")
    grid = fit_time_grid(t_s, rate_hz=rate, where=where)
    grid.start = str(stamps[0])
    return grid


def _auto_vertical(names: list[str], data_cols: list[int], path: Path) -> dict[str, int]:
    if len(data_cols) == 1:
        return {"": data_cols[0]}
    sides = _auto_sides(names, data_cols)
    if sides:
        return sides
    fz = [i for i in data_cols if _norm(names[i]) in _FZ_NAMES]
    axes = [i for i in data_cols if _norm(names[i]) in ("fx", "fy")]
    if len(fz) == 1 and not axes:
        return {"": fz[0]}
    shown = ", ".join(names[i] for i in data_cols[:24])
    raise FileFormatError(
        f"{path}: cannot tell which column is the vertical force; add `vertical` COL or "
        f"`map` left=COL,right=COL (columns: {shown})"
    )
