"""What the readers of recording files share (:mod:`forcelab.interop.formats` dispatches).

:func:`~forcelab.interop.formats.load_recording` looks at the file's content (and, where the
content is ambiguous, its extension) and hands it to one reader:

==============================  ====================================  ======================
content                         reader                                module
==============================  ====================================  ======================
HDF5 signature                  forcelab session file                 forcelab.store
C3D parameter-block signature   C3D force platforms (ezc3d)           read_c3d
``endheader`` / ``.mot .sto``   OpenSim GRF storage                   read_mot
``# ... total force[N]``        Moticon OpenGo text export            read_opengo
``XDF:`` magic                  LabRecorder XDF (pyxdf)               read_xdf
anything else that is text      delimited table (CSV/TSV/whitespace)  read_delimited
==============================  ====================================  ======================

This module holds what the readers share: reader-option validation, column look-up, text
decoding, numeric table parsing and the time-base fitting that turns time stamps (rounded,
with missing rows, or jittered) into the uniform streams of the recording model. See
``docs/formats.md`` for the user-facing description.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from forcelab.errors import FileFormatError, InputError
from forcelab.recording import Recording, check_body_mass, check_rate

#: Every reader option and what it means (see docs/formats.md).
READER_OPTIONS = (
    "rate_hz",
    "time_column",
    "time_unit",
    "vertical",
    "map",
    "cop_ml",
    "cop_ml_right",
    "body_mass_kg",
    "trial",
    "allow_partial",
    "stream",
)
TIME_UNITS = ("s", "ms", "frame")
#: Plausible sampling rates of a force recording (Hz).
MIN_READER_RATE_HZ = 1.0
MAX_READER_RATE_HZ = 100_000.0
COP_DIRECTIONS = ("positive", "negative")
MAP_SIDES = ("left", "right")

#: Bytes read to sniff a file's format (and to tell text from binary).
SNIFF_BYTES = 8192
_MISSING_TOKENS = frozenset({"", "nan", "NaN", "NAN", "NA", "N/A", "n/a", "-nan", "null", "NULL"})


# --------------------------------------------------------------------------- options


def parse_map(value: Any) -> dict[str, str]:
    """Return a side map ``{"left": COL, "right": COL}`` from a dict or ``"left=A,right=B"``.

    Parameters
    ----------
    value : dict or str
        Either a mapping with the keys "left" and/or "right", or the command-line form
        ``left=COL,right=COL`` (either side may be left out).

    Returns
    -------
    dict of str to str
        The column (or platform, or force set) reference of each side given.

    Raises
    ------
    InputError
        If the syntax is wrong, a side is named twice or is not left/right, or a reference is
        empty.
    """
    hint = "use `map` left=COL,right=COL"
    if isinstance(value, dict):
        items = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, str):
        items = []
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise InputError(f"bad side map {value!r}: {part!r} has no '='; {hint}")
            key, ref = part.split("=", 1)
            items.append((key, ref))
    else:
        raise InputError(f"bad side map {value!r}; {hint}")
    result: dict[str, str] = {}
    for key, ref in items:
        side = key.strip().lower()
        if side not in MAP_SIDES:
            raise InputError(f"bad side map {value!r}: side {key!r} is not left or right; {hint}")
        if side in result:
            raise InputError(f"bad side map {value!r}: side {side!r} is given twice")
        ref_s = str(ref).strip()
        if not ref_s:
            raise InputError(f"bad side map {value!r}: no column given for {side}; {hint}")
        result[side] = ref_s
    if not result:
        raise InputError(f"empty side map {value!r}; {hint}")
    if len(result) == 2 and result["left"] == result["right"]:
        raise InputError(f"bad side map {value!r}: left and right name the same column")
    return result


def check_reader_options(options: dict[str, Any], allowed: Iterable[str], what: str) -> dict:
    """Validate reader options for one file format and return them normalised.

    Parameters
    ----------
    options : dict
        Reader options as given to :func:`load_recording` (None values are ignored).
    allowed : iterable of str
        Options this format uses.
    what : str
        The format's name for messages ("OpenGo files", ...).

    Returns
    -------
    dict
        Only the options that were given, checked and converted (rate in Hz as float, map as
        dict, body mass in kg as float, ...).

    Raises
    ------
    InputError
        For unknown options, options the format does not use, and nonsense values.
    """
    allowed = set(allowed)
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(READER_OPTIONS))
    if unknown:
        raise InputError(
            f"unknown reader option(s) {', '.join(unknown)}; known: {', '.join(READER_OPTIONS)}"
        )
    unused = [k for k in READER_OPTIONS if k in given and k not in allowed]
    if unused:
        names = ", ".join(f"`{k}`" for k in unused)
        raise InputError(f"{names} cannot be used with {what}; leave it out")
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key == "rate_hz":
            out[key] = check_rate(value)
            if not MIN_READER_RATE_HZ <= out[key] <= MAX_READER_RATE_HZ:
                raise InputError(
                    f"`rate_hz` must be between {MIN_READER_RATE_HZ:g} and {MAX_READER_RATE_HZ:g} "
                    f"Hz (the sampling rate of the recording), got {value!r}"
                )
        elif key == "body_mass_kg":
            out[key] = check_body_mass(value)
        elif key == "time_unit":
            unit = str(value).strip().lower()
            if unit not in TIME_UNITS:
                raise InputError(f"time unit must be one of s, ms, frame; got {value!r}")
            out[key] = unit
        elif key == "cop_ml_right":
            direction = str(value).strip().lower()
            if direction not in COP_DIRECTIONS:
                raise InputError(
                    f"`cop_ml_right` must be 'positive' or 'negative' (the direction of the "
                    f"subject's right on the COP axis), got {value!r}"
                )
            out[key] = direction
        elif key == "map":
            out[key] = parse_map(value)
        elif key == "allow_partial":
            out[key] = bool(value)
        else:
            text = str(value).strip()
            if not text:
                raise InputError(f"`{key}` needs a value")
            out[key] = text
    if out.get("time_unit") == "frame" and "rate_hz" not in out:
        raise InputError("a time column of frame numbers needs the sampling rate: add `rate_hz` HZ")
    if "cop_ml_right" in out and "cop_ml" not in out:
        raise InputError("`cop_ml_right` only applies together with `cop_ml` COL")
    return out


# --------------------------------------------------------------------------- text and tables


def read_text(path: Path, what: str = "recording") -> str:
    """Read a text recording, refusing binary junk with a clear message.

    Raises
    ------
    FileFormatError
        If the file is empty or holds binary data.
    """
    data = Path(path).read_bytes()
    if not data.strip():
        raise FileFormatError(f"{path}: the file is empty")
    if data.startswith(b"PK\x03\x04"):
        raise FileFormatError(
            f"{path}: a zip archive or spreadsheet (.xlsx); save the sheet as CSV and read that"
        )
    if b"\x00" in data[:SNIFF_BYTES]:
        raise FileFormatError(
            f"{path}: binary data that is not a C3D or forcelab session file; "
            "forcelab reads CSV/TSV tables, OpenSim .mot/.sto, C3D, Moticon OpenGo .txt and .h5"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def resolve_column(names: Sequence[str], ref: str, path: Path | str, option: str) -> int:
    """Return the 0-based index of the column ``ref`` (a header name or a 1-based number).

    Exact names win, then a unique case-insensitive match, then a column number.

    Raises
    ------
    InputError
        If no column matches, naming the columns that exist.
    """
    ref = str(ref).strip()
    if ref in names:
        return list(names).index(ref)
    folded = [i for i, n in enumerate(names) if n.lower() == ref.lower()]
    if len(folded) == 1:
        return folded[0]
    if ref.isdigit() and 1 <= int(ref) <= len(names):
        return int(ref) - 1
    shown = ", ".join(names[:24]) + (", ..." if len(names) > 24 else "")
    raise InputError(f"{option} {ref!r}: no such column in {path}; columns are: {shown}")


@dataclass
class Table:
    """A numeric table read from text.

    Attributes
    ----------
    names : list of str
        Column names ("1".."n" for a table without header).
    values : ndarray
        (n_rows, n_columns) float64; NaN for empty cells and for cells that are not numbers.
    units : list of str
        Unit of each column from a units row ("" when none).
    first_line : int
        1-based source line of the first data row.
    text_cells : dict of int to (int, str)
        Columns holding cells that are not numbers: the first such cell's line and text.
        Such a column is an error only if a reader needs it (see :meth:`require_numeric`).
    rows : list of str or None
        The data lines, kept only when a column holds text (to read date-time columns).
    delimiter : str or None
        The field separator (None = whitespace).
    """

    names: list[str]
    values: np.ndarray
    units: list[str]
    first_line: int = 1
    text_cells: dict[int, tuple[int, str]] = field(default_factory=dict)
    rows: list[str] | None = None
    delimiter: str | None = None

    def require_numeric(self, idx: int, path: Path | str) -> None:
        """Raise FileFormatError naming the first non-numeric cell of column ``idx``."""
        if idx in self.text_cells:
            lineno, token = self.text_cells[idx]
            raise FileFormatError(
                f"{path}: line {lineno}, column {self.names[idx]!r}: {token[:40]!r} is not a "
                "number"
            )

    def text_column(self, idx: int) -> list[str]:
        """The raw cells of column ``idx`` (only for columns listed in ``text_cells``)."""
        if self.rows is None:
            return [repr(v) for v in self.values[:, idx]]
        out = []
        for line in self.rows:
            fields = split_fields(line, self.delimiter)
            out.append(fields[idx] if idx < len(fields) else "")
        return out


def split_fields(line: str, delimiter: str | None) -> list[str]:
    """Split one line into stripped fields (whitespace when ``delimiter`` is None)."""
    if delimiter is None:
        return line.split()
    return [f.strip().strip('"').strip("'").strip() for f in line.split(delimiter)]


def guess_delimiter(lines: Sequence[str]) -> str | None:
    """Guess the field separator of a table: tab, comma, semicolon or whitespace (None)."""
    sample = [ln for ln in lines[:50] if ln.strip()]
    if not sample:
        return None
    for delim in ("\t", ",", ";"):
        share = sum(delim in ln for ln in sample) / len(sample)
        if delim in sample[0] and share >= 0.5:
            return delim
    return None


def is_numeric_row(fields: Sequence[str]) -> bool:
    """True when every field is a number or a missing-value marker, and at least one is a number."""
    seen_number = False
    for token in fields:
        if token in _MISSING_TOKENS:
            continue
        try:
            float(token)
        except ValueError:
            return False
        seen_number = True
    return seen_number


def parse_rows(
    rows: Sequence[str],
    delimiter: str | None,
    names: Sequence[str],
    line_numbers: Sequence[int],
    path: Path | str,
) -> tuple[np.ndarray, dict[int, tuple[int, str]]]:
    """Parse text rows into floats, leniently: cells that are not numbers become NaN.

    Returns
    -------
    values : ndarray
        (len(rows), len(names)) float64; NaN for empty, missing and non-numeric cells.
    text_cells : dict of int to (int, str)
        For each column with a non-numeric cell, the first such cell's line number and text.

    Raises
    ------
    FileFormatError
        For a row with a wrong number of fields (a truncated last row is named as such).
    """
    n_cols = len(names)
    out = np.full((len(rows), n_cols), np.nan)
    text_cells: dict[int, tuple[int, str]] = {}
    for r, line in enumerate(rows):
        fields = split_fields(line, delimiter)
        while len(fields) > n_cols and fields[-1] == "":
            fields.pop()
        lineno = line_numbers[r]
        if len(fields) != n_cols:
            if len(fields) < n_cols and r == len(rows) - 1:
                raise FileFormatError(
                    f"{path}: line {lineno} has {len(fields)} of {n_cols} fields; the file looks "
                    "truncated (re-export it, or delete the incomplete last line)"
                )
            raise FileFormatError(
                f"{path}: line {lineno} has {len(fields)} fields but the table has {n_cols} "
                "columns; check the delimiter and the header"
            )
        for c, token in enumerate(fields):
            if token in _MISSING_TOKENS:
                continue
            try:
                out[r, c] = float(token)
            except ValueError:
                if c not in text_cells:
                    text_cells[c] = (int(lineno), token)
    return out, text_cells


def parse_numeric_rows(
    rows: Sequence[str],
    delimiter: str | None,
    names: Sequence[str],
    line_numbers: Sequence[int],
    path: Path | str,
) -> np.ndarray:
    """Parse text rows into a float array of ``len(names)`` columns; empty cells become NaN.

    A fast C parser (``numpy.loadtxt``) is tried first; tables with empty cells, missing values
    or a malformed row are parsed row by row so that the error names the exact line.

    Raises
    ------
    FileFormatError
        For a row with a wrong number of fields or a non-numeric cell.
    """
    n_cols = len(names)
    if not rows:
        return np.empty((0, n_cols))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = np.loadtxt(rows, delimiter=delimiter, dtype=np.float64, ndmin=2,
                                comments=None)
    except ValueError:
        values = None
    if values is not None and values.shape == (len(rows), n_cols):
        return values
    out, text_cells = parse_rows(rows, delimiter, names, line_numbers, path)
    if text_cells:
        col = min(text_cells, key=lambda c: text_cells[c][0])
        lineno, token = text_cells[col]
        raise FileFormatError(
            f"{path}: line {lineno}, column {names[col]!r}: {token[:40]!r} is not a number"
        )
    return out


# --------------------------------------------------------------------------- time base


@dataclass
class TimeGrid:
    """How source rows map onto a uniform time base.

    Attributes
    ----------
    rate_hz : float
        Rate of the uniform grid in Hz.
    t0_s : float
        Time of the first grid sample in s.
    n_samples : int
        Number of grid samples.
    method : str
        "uniform" (rows are the grid), "snapped" (rows sit on grid slots, some slots have no row
        and are NaN) or "interpolated" (jittered time stamps, linearly interpolated, NaN across
        gaps longer than two sample periods).
    n_missing : int
        Grid samples with no source row (NaN).
    """

    rate_hz: float
    t0_s: float
    n_samples: int
    method: str
    n_missing: int
    _slots: np.ndarray | None = None
    _t_s: np.ndarray | None = None

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Put per-row values (1-D, or 2-D with rows first) onto the grid; NaN where unmeasured."""
        values = np.asarray(values, dtype=np.float64)
        if self.method == "uniform":
            return values.copy()
        if self.method == "snapped":
            out = np.full((self.n_samples, *values.shape[1:]), np.nan)
            out[self._slots] = values
            return out
        t = self._t_s
        step = 1.0 / self.rate_hz
        grid = self.t0_s + np.arange(self.n_samples) * step
        j = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, t.size - 2)
        gap = (t[j + 1] - t[j]) > 2.0 * step
        exact = np.isclose(grid, t[j], rtol=0.0, atol=1e-9) | np.isclose(
            grid, t[j + 1], rtol=0.0, atol=1e-9
        )
        if values.ndim == 1:
            out = np.interp(grid, t, values)
            out[gap & ~exact] = np.nan
            return out
        out = np.column_stack([np.interp(grid, t, col) for col in values.T])
        out[gap & ~exact] = np.nan
        return out

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description for Recording.meta: the attributes above."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


def fit_time_grid(
    t_s: np.ndarray, rate_hz: float | None = None, where: str = "time column"
) -> TimeGrid:
    """Fit a uniform time base to time stamps in s.

    The sampling period is the span divided by the number of nominal periods it holds (one per
    row-to-row difference, and ``round(difference / median difference)`` for differences longer
    than 1.5 median ones, i.e. gaps), so time stamps rounded to 0.1 ms still give the exact rate
    and missing rows do not bias it. With ``rate_hz`` given, that rate is used instead.
    Rows that sit within a quarter period of a grid slot are placed on it ("uniform" or
    "snapped", slots without a row are NaN); otherwise the rows are linearly interpolated onto
    the grid with NaN across gaps longer than two periods ("interpolated").

    Parameters
    ----------
    t_s : ndarray
        Time of every row in s, increasing.
    rate_hz : float, optional
        Sampling rate in Hz to use instead of the estimate.
    where : str
        Name of the time source for messages.

    Returns
    -------
    TimeGrid

    Raises
    ------
    FileFormatError
        If the time stamps are missing, not increasing, or span far more time than rows.
    """
    t = np.asarray(t_s, dtype=np.float64)
    if t.size == 0:
        raise FileFormatError(f"{where}: no data rows")
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise FileFormatError(f"{where}: row {bad[0] + 1} has no valid time stamp")
    if t.size == 1:
        if rate_hz is None:
            raise FileFormatError(f"{where}: one row gives no sampling rate; add `rate_hz`")
        return TimeGrid(rate_hz, float(t[0]), 1, "uniform", 0)
    dt = np.diff(t)
    back = np.flatnonzero(dt <= 0)
    if back.size:
        i = int(back[0])
        raise FileFormatError(
            f"{where}: time does not increase at row {i + 2} ({t[i]:g} s then {t[i + 1]:g} s); "
            "sort the rows or choose the right `time_column`"
        )
    span = float(t[-1] - t[0])
    if rate_hz is None:
        median = float(np.median(dt))
        long = dt > 1.5 * median
        n_periods = int(np.count_nonzero(~long) + np.rint(dt[long] / median).sum())
        step = span / n_periods
        rate = check_rate(_round_rate(t, 1.0 / step))
        step = 1.0 / rate
    else:
        rate = float(rate_hz)
        step = 1.0 / rate
    slots_f = (t - t[0]) / step
    slots = np.rint(slots_f).astype(np.int64)
    n_grid = int(np.floor(span / step + 0.5)) + 1
    if n_grid > 4 * t.size + 16:
        raise FileFormatError(
            f"{where}: {t.size} rows span {span:g} s, which at {rate:g} Hz is mostly gaps; "
            "check `time_unit` and `rate_hz`"
        )
    resid = np.abs(slots_f - slots)
    if np.all(np.diff(slots) >= 1) and float(resid.max()) <= 0.25:
        n = int(slots[-1]) + 1
        if n == t.size:
            return TimeGrid(rate, float(t[0]), n, "uniform", 0)
        return TimeGrid(rate, float(t[0]), n, "snapped", n - t.size, _slots=slots)
    grid = TimeGrid(rate, float(t[0]), n_grid, "interpolated", 0, _t_s=t)
    probe = grid.apply(np.zeros(t.size))
    grid.n_missing = int(np.count_nonzero(np.isnan(probe)))
    return grid


def _round_rate(t: np.ndarray, rate_hz: float) -> float:
    """Prefer a whole-number rate when the time stamps are just that rate, rounded.

    Time written with a fixed number of decimals (OpenSim: 0.1 ms) makes the span-based
    estimate slightly off (600.0013 Hz). Whole rates within the estimate's uncertainty are
    tried, roundest first (multiples of 100, 50, 10, 5, then any), and the first one for which
    every time stamp lies within half a rounding quantum of its grid position is taken.
    """
    levels = np.unique(np.round(np.diff(t), 12))
    steps = np.diff(levels)
    quantum = float(steps.min()) if steps.size else 0.0
    span = float(t[-1] - t[0])
    spread = rate_hz * (quantum + 1e-9) / span
    lo, hi = int(np.ceil(rate_hz - spread)), int(np.floor(rate_hz + spread))
    if hi < max(lo, 1) or hi - lo > 200:
        return rate_hz
    rel = t - t[0]

    def roundness(r: int) -> tuple[int, float]:
        rank = next((i for i, m in enumerate((100, 50, 10, 5)) if r % m == 0), 4)
        return rank, abs(r - rate_hz)

    for candidate in sorted(range(max(lo, 1), hi + 1), key=roundness):
        resid = np.abs(rel - np.rint(rel * candidate) / candidate)
        if float(resid.max()) <= 0.5 * quantum + 1e-9:
            return float(candidate)
    return rate_hz


# --------------------------------------------------------------------------- signals


def orient_vertical(fz_n: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return vertical force with load positive, and whether it had to be negated.

    A vertical ground-reaction force is dominated by load; when the column's large values are
    negative (force on the plate in a z-up frame, or a z-down plate exported as reaction), the
    column is negated.
    """
    finite = fz_n[np.isfinite(fz_n)]
    if finite.size == 0:
        return fz_n, False
    lo, hi = np.percentile(finite, [0.5, 99.5])
    if -lo > hi and -lo > 50.0:
        return -fz_n, True
    return fz_n, False


_LENGTH_UNIT = re.compile(r"(?:\[|\(|_|\s)(mm|cm|m)(?:\]|\)|$)", re.IGNORECASE)


def length_to_m(values: np.ndarray, name: str, unit: str = "") -> tuple[np.ndarray, str]:
    """Convert a position column to m using its unit (header or name) or its magnitude.

    Returns the values in m and how the unit was decided ("mm (unit)", "mm (magnitude)", ...).
    Without a unit, a column whose median magnitude is above 20 is taken to be in mm: no centre
    of pressure on a force plate is 20 m from the origin.
    """
    factors = {"mm": 1e-3, "cm": 1e-2, "m": 1.0}
    unit = unit.strip().lower()
    if unit in factors:
        return values * factors[unit], f"{unit} (unit)"
    match = _LENGTH_UNIT.search(name)
    if match:
        u = match.group(1).lower()
        return values * factors[u], f"{u} (name)"
    finite = np.abs(values[np.isfinite(values)])
    if finite.size and float(np.median(finite)) > 20.0:
        return values * 1e-3, "mm (magnitude)"
    return values, "m (assumed)"


def reader_notes(recording: Recording) -> list[str]:
    """Plain-language notes on the guesses a reader made (for the user to check).

    Parameters
    ----------
    recording : Recording
        What :func:`load_recording` returned.

    Returns
    -------
    list of str
        One sentence per guess: negated force columns, COP units decided from magnitude or
        assumed, samples missing from the time base, interpolated time stamps.
    """
    meta = recording.meta or {}
    notes = []
    if meta.get("negated"):
        notes.append(
            f"{', '.join(map(str, meta['negated']))}: force pointed down and was negated "
            "so that load is positive"
        )
    if meta.get("partial"):
        notes.append(f"the file is {meta['partial']}; only those were read")
    cop = meta.get("cop_ml")
    if isinstance(cop, dict) and str(cop.get("unit", "")).endswith(("(magnitude)", "(assumed)")):
        notes.append(f"centre of pressure {cop.get('column')!r} read as {cop['unit']}")
    time = meta.get("time")
    if isinstance(time, dict):
        if time.get("method") == "interpolated":
            notes.append(
                f"time stamps are not uniform: resampled to {time['rate_hz']:g} Hz by linear "
                "interpolation"
            )
        if time.get("n_missing"):
            notes.append(
                f"{time['n_missing']} sample(s) missing from the time stamps are gaps (NaN)"
            )
    slow = sorted({s.rate_hz for s in recording.streams if s.rate_hz < 20.0})
    if slow:
        notes.append(
            f"a sampling rate of {slow[0]:g} Hz is far too low for ground-reaction force; "
            "check `time_unit` (time in ms or frame numbers?) or `rate_hz`"
        )
    return notes
