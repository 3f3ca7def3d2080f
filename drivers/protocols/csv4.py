"""CSV4 wire format: ASCII lines from a DIY four-load-cell plate (pure: bytes in, values out,
no I/O). See docs/protocols.md.

- :class:`Csv4Parser` (incremental: partial first line, banner, comments, garbage; a data line
  needs exactly 5 numeric fields, everything else counts as a bad line),
- :func:`parse_banner`, :func:`parse_calibration`,
- :func:`cells_to_forces` (F_i = (c_i − off_i)/s_i, Fz = Σ F_i,
  COPx = (W/2)((TR+BR) − (TL+BL))/Fz, COPy = (L/2)((TL+TR) − (BL+BR))/Fz),
- :func:`validate_millis` (a t_ms with a flipped digit, a repeat or a restart, judged by its
  neighbours) and :func:`signed_ms` (u32 ``millis()`` differences).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from forcelab.drivers.base import COP_THRESHOLD_N, cell_plate_channels

RATES_HZ = (10, 80)
UNITS = ("raw", "N")
RAW_LIMIT = (1 << 23) - 1
"""HX711 full scale: a raw reading of ±(2^23 − 1) means the cell saturated."""
#: The Block columns of :func:`cells_to_forces`.
CHANNELS = cell_plate_channels(4, cop=True)

_NUM = r"[-+]?\d+(?:\.\d*)?"
_SEP = r"[ \t]*,[ \t]*"
_DATA_LINE = rf"[ \t]*(\d+){_SEP}({_NUM}){_SEP}({_NUM}){_SEP}({_NUM}){_SEP}({_NUM})[ \t]*\r?"
_DATA_LINE_NC = rf"[ \t]*\d+{_SEP}{_NUM}{_SEP}{_NUM}{_SEP}{_NUM}{_SEP}{_NUM}[ \t]*\r?"
#: A data line: exactly five numbers (t_ms an unsigned integer), one line (re.M).
_DATA_RE_M = re.compile(rf"^{_DATA_LINE}$", re.M)
#: Every line that is not a data line (comments, header, garbage), without its "\r".
_OTHER_RE_M = re.compile(rf"^(?!{_DATA_LINE_NC}$)([^\n]*?)\r?$", re.M)
_HEADER_RE = re.compile(r"^\s*t_ms\s*,\s*c0\s*,\s*c1\s*,\s*c2\s*,\s*c3\s*$")
_BANNER_RE = re.compile(r"#\s*fpdiy\s+v(\S+)(.*)$")
_CAL_RE = re.compile(r"#\s*cal\s+off=(\S+)\s+scale=(\S+)")


# --------------------------------------------------------------------------------------------
# Parsing


@dataclass
class Csv4Chunk:
    """What one :meth:`Csv4Parser.feed` call produced."""

    t_ms: np.ndarray  # int64, raw millis() values (not unwrapped)
    cells: np.ndarray  # float64, shape (n, 4), as sent (counts or N)
    comments: list[str] = field(default_factory=list)
    headers: int = 0


class Csv4Parser:
    """Incremental, tolerant CSV4 line parser (pure, no I/O).

    Parameters
    ----------
    skip_first_line : bool
        Treat everything up to the first line end as a partial line (what a port opened
        mid-stream delivers first). A banner inside it (after reset garbage) is still found.

    Notes
    -----
    Counters: ``lines`` (complete lines seen), ``data_lines``, ``bad_lines`` (neither data,
    header, comment nor empty; includes garbage before a ``#``), ``bytes_discarded`` (partial
    first line, garbage). Documented exceptions: TypeError for a non-bytes argument only.
    """

    MAX_LINE = 512

    def __init__(self, skip_first_line: bool = True) -> None:
        self._buf = bytearray()
        self._skip_first = skip_first_line
        self.lines = 0
        self.data_lines = 0
        self.bad_lines = 0
        self.bytes_discarded = 0

    def reset(self, skip_first_line: bool = True) -> None:
        """Forget buffered bytes (after a reconnect); counters are kept."""
        self._buf.clear()
        self._skip_first = skip_first_line

    def feed(self, data: bytes | bytearray | memoryview) -> Csv4Chunk:
        """Add received bytes; return the complete data lines and comments."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"Csv4Parser.feed needs bytes, not {type(data).__name__}")
        buf = self._buf
        buf += data
        end = buf.rfind(b"\n")
        if end < 0:
            if len(buf) > self.MAX_LINE:  # no line end for too long: garbage
                self.bytes_discarded += len(buf)
                self.bad_lines += 1
                buf.clear()
            return Csv4Chunk(np.zeros(0, np.int64), np.zeros((0, 4)))
        text = bytes(buf[:end])  # complete lines without the last line end
        del buf[: end + 1]
        if self._skip_first:
            self._skip_first = False
            nl = text.find(b"\n")
            first = text if nl < 0 else text[:nl]
            hash_at = first.find(b"#")
            if hash_at < 0:  # a partial line: drop it
                self.bytes_discarded += len(first) + 1
                if nl < 0:
                    return Csv4Chunk(np.zeros(0, np.int64), np.zeros((0, 4)))
                text = text[nl + 1 :]
            else:  # reset garbage before the banner
                self.bytes_discarded += hash_at
                text = text[hash_at:]
        s = text.decode("ascii", "replace")
        n_lines = s.count("\n") + 1
        self.lines += n_lines
        rows = _DATA_RE_M.findall(s)  # every data line at C speed
        comments: list[str] = []
        headers = 0
        if len(rows) < n_lines:
            for line in _OTHER_RE_M.findall(s):  # the few other lines
                stripped = line.strip()
                if not stripped:
                    continue
                if stripped.startswith("#"):
                    comments.append(stripped)
                elif _HEADER_RE.match(line):
                    headers += 1
                else:
                    self.bad_lines += 1
                    hash_at = line.find("#")
                    if hash_at > 0:  # garbage glued to a comment (reset noise, banner)
                        self.bytes_discarded += hash_at
                        comments.append(line[hash_at:].strip())
                    else:
                        self.bytes_discarded += len(line) + 1
        self.data_lines += len(rows)
        if rows:
            arr = np.array(rows, dtype=np.float64)
            ok = arr[:, 0] < 2.0**32
            if not ok.all():
                self.bad_lines += int((~ok).sum())
                self.data_lines -= int((~ok).sum())
                arr = arr[ok]
            return Csv4Chunk(arr[:, 0].astype(np.int64), arr[:, 1:5], comments, headers)
        return Csv4Chunk(np.zeros(0, np.int64), np.zeros((0, 4)), comments, headers)


def parse_banner(line: str) -> dict[str, Any] | None:
    """``# fpdiy v1.0 id=FPDIY-0001 cells=4 rate=80 units=raw`` -> dict, or None."""
    m = _BANNER_RE.search(line)
    if not m:
        return None
    fields = dict(re.findall(r"(\w+)=(\S+)", m.group(2)))
    out: dict[str, Any] = {"version": m.group(1), "id": fields.get("id", ""),
                           "units": fields.get("units", "raw")}
    try:
        out["cells"] = int(fields.get("cells", 4))
        out["rate_hz"] = int(fields.get("rate", 80))
    except ValueError:
        return None
    return out


def parse_calibration(line: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``# cal off=o0,o1,o2,o3 scale=s0,s1,s2,s3`` -> (offsets, scales in counts/N), or None."""
    m = _CAL_RE.search(line)
    if not m:
        return None
    try:
        off = np.array([float(v) for v in m.group(1).split(",")])
        scale = np.array([float(v) for v in m.group(2).split(",")])
    except ValueError:
        return None
    if off.shape != (4,) or scale.shape != (4,) or not np.all(np.isfinite(scale)) or \
            np.any(scale == 0):
        return None
    return off, scale


def cells_to_forces(
    cells: np.ndarray,
    offsets: np.ndarray,
    scales: np.ndarray,
    width_m: float,
    length_m: float,
    cop_threshold_n: float = COP_THRESHOLD_N,
) -> np.ndarray:
    """Cells -> Block columns ``c0..c3`` (N), ``fz`` (N), ``cop_x``, ``cop_y`` (m).

    Parameters
    ----------
    cells : ndarray, shape (n, 4)
        Readings TL, TR, BL, BR (counts, or N with offsets 0 and scales 1).
    offsets, scales : ndarray, shape (4,)
        Zero offsets (counts) and sensitivities (counts per N).
    width_m, length_m : float
        Distance between the left and right cells / the front and back cells, in m.
    cop_threshold_n : float
        Below this Fz (N) the COP is NaN (undefined, not garbage).
    """
    f = (np.asarray(cells, dtype=np.float64) - offsets) / scales
    fz = f.sum(axis=1)
    out = np.empty((len(f), 7))
    out[:, :4] = f
    out[:, 4] = fz
    loaded = fz >= cop_threshold_n
    safe = np.where(loaded, fz, 1.0)
    tl, tr, bl, br = f[:, 0], f[:, 1], f[:, 2], f[:, 3]
    out[:, 5] = np.where(loaded, 0.5 * width_m * ((tr + br) - (tl + bl)) / safe, np.nan)
    out[:, 6] = np.where(loaded, 0.5 * length_m * ((tl + tr) - (bl + br)) / safe, np.nan)
    return out


def validate_millis(
    t_raw: np.ndarray, ref: int | None, max_step_ms: int = 5000, flush: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Judge each line's ``millis()`` against its neighbours (pure).

    Parameters
    ----------
    t_raw : ndarray of int
        Raw t_ms values of consecutive data lines.
    ref : int or None
        t_ms of the last accepted line before them (None at the start).
    max_step_ms : int
        Largest plausible forward step between lines in ms (longer: corrupt or a restart).
    flush : bool
        Decide the newest line too (otherwise it waits for the next one).

    Returns
    -------
    keep, restart, undecided : ndarray of bool
        Lines accepted; accepted lines that start a new timeline (the board restarted, confirmed
        by the next line); lines left for the next call.
    n_duplicates, n_corrupt : int
        Lines dropped as repeats (same t_ms) and as corrupt (a spike or dip that the next line
        undoes: a flipped digit).
    """
    n = len(t_raw)
    keep = np.zeros(n, bool)
    restart = np.zeros(n, bool)
    undecided = np.zeros(n, bool)
    n_dup = n_bad = 0
    if n == 0:
        return keep, restart, undecided, 0, 0
    last = n if flush else n - 1
    if not flush:
        undecided[n - 1] = True
    if ref is not None:
        steps = signed_ms(np.diff(np.concatenate(([ref], t_raw))))
        if np.all((steps > 0) & (steps <= max_step_ms)):
            keep[:last] = True  # the usual case: a clean progression
            return keep, restart, undecided, 0, 0

    def plausible(d: int) -> bool:
        return 0 < d <= max_step_ms

    for i in range(last):
        t = int(t_raw[i])
        if ref is None:
            keep[i] = True
            ref = t
            continue
        d = int(signed_ms(t - ref))
        if d == 0:
            n_dup += 1
            continue
        if i + 1 < n:
            nxt = int(t_raw[i + 1])
            d_next = int(signed_ms(nxt - t))
            next_ok = plausible(d_next)
            skip_ok = plausible(int(signed_ms(nxt - ref)))
            if plausible(d) and d_next != 0 and not next_ok and skip_ok:
                n_bad += 1  # a spike that the next line undoes
                continue
            if not plausible(d) and next_ok and not skip_ok:
                keep[i] = restart[i] = True  # a new timeline that the next line confirms
                ref = t
                continue
        if plausible(d) or (i + 1 == n and d > 0):
            keep[i] = True
            ref = t
        else:
            n_bad += 1
    return keep, restart, undecided, n_dup, n_bad


def signed_ms(d: np.ndarray | int) -> np.ndarray:
    """Difference of u32 millis() values as a signed step (wraps handled)."""
    return (np.asarray(d, dtype=np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)
