"""Moticon OpenGo text exports (pressure insoles, left and right foot in one file).

The export starts with ``#`` header lines (``# Start time: ...``, ``# Sensor insoles: ...``,
``# Notes: ...``) and ends its header with ``# time<TAB>left pressure 1[N/cm²]<TAB>...``. Data rows
are tab separated, time in s; a row may hold one foot only (the other foot's cells are empty),
which becomes NaN on that foot.

Each foot becomes one stream ("left", "right") with the INS1 channel set:

==============  ======  ============================================================
channel         unit    source column
==============  ======  ============================================================
fz              N       ``<side> total force[N]``
cop_x, cop_y    1       ``<side> center of pressure X/Y[-0.5...+0.5]`` (normalised)
p01 .. p16      kPa     ``<side> pressure N[N/cm²]`` (1 N/cm² = 10 kPa)
acc_x .. acc_z  g       ``<side> acceleration X/Y/Z[g]``
gyr_x .. gyr_z  deg/s   ``<side> angular X/Y/Z[dps]``
==============  ======  ============================================================

Other per-side columns are kept under a sanitised name with their unit; the step counters
are dropped. The rows' time stamps are fitted to a uniform grid (a missing row is a NaN
sample, see :func:`forcelab.interop.load.fit_time_grid`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from forcelab.errors import FileFormatError
from forcelab.interop.load import check_reader_options, fit_time_grid, parse_numeric_rows, read_text
from forcelab.recording import Recording, Stream

ALLOWED_OPTIONS = ("body_mass_kg",)

_COLUMN = re.compile(r"^(?P<side>left|right)\s+(?P<what>.+?)\s*\[(?P<unit>[^\]]*)\]$", re.I)
_UNIT_FACTORS = {"n/cm²": ("kPa", 10.0), "n/cm2": ("kPa", 10.0), "dps": ("deg/s", 1.0)}


#: OpenGo column names with a number or an axis, and forcelab's channel name for each
_NUMBERED_CHANNELS = (
    (re.compile(r"pressure (\d+)"), lambda m: f"p{int(m.group(1)):02d}"),
    (re.compile(r"center of pressure ([xy])"), lambda m: f"cop_{m.group(1)}"),
    (re.compile(r"acceleration ([xyz])"), lambda m: f"acc_{m.group(1)}"),
    (re.compile(r"angular ([xyz])"), lambda m: f"gyr_{m.group(1)}"),
)


def _channel_name(what: str) -> str | None:
    w = what.strip().lower()
    if w == "total force":
        return "fz"
    if w == "steps":
        return None
    for pattern, name in _NUMBERED_CHANNELS:
        m = pattern.fullmatch(w)
        if m:
            return name(m)
    return re.sub(r"[^a-z0-9]+", "_", w).strip("_") or None


def read_opengo(path: str | Path, **options: Any) -> Recording:
    """Read a Moticon OpenGo text export into a Recording with "left" and "right" streams.

    Parameters
    ----------
    path : str or Path
        The exported .txt file.
    **options
        body_mass_kg (kg).

    Returns
    -------
    Recording
        Streams "left" and "right" (those present in the file); ``meta`` holds the header
        fields (start time, insole serial numbers, size, notes).

    Raises
    ------
    FileFormatError
        If the column header is missing, no foot has a total force column, or a row is broken.
    """
    path = Path(path)
    opts = check_reader_options(options, ALLOWED_OPTIONS, "Moticon OpenGo files")
    lines = read_text(path).splitlines()
    header: dict[str, str] = {}
    names: list[str] | None = None
    rows: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if line.startswith("#"):
            body = line[1:].strip()
            if "\t" in body and body.split("\t", 1)[0].strip().lower() == "time":
                names = [n.strip() for n in body.split("\t")]
                while names and not names[-1]:
                    names.pop()
            elif ":" in body:
                key, value = body.split(":", 1)
                header[key.strip()] = value.strip()
        elif line.strip():
            rows.append((i + 1, line))
    if names is None:
        raise FileFormatError(
            f"{path}: no '# time<TAB>...' column header; not a Moticon OpenGo text export"
        )
    if not rows:
        raise FileFormatError(f"{path}: an OpenGo header but no data rows")
    values = parse_numeric_rows(
        [ln for _, ln in rows], "\t", names, [n for n, _ in rows], path
    )
    grid = fit_time_grid(values[:, 0], where=f"{path}: time column")
    per_side: dict[str, dict[str, int]] = {"left": {}, "right": {}}
    units: dict[str, dict[str, tuple[str, float]]] = {"left": {}, "right": {}}
    for idx, name in enumerate(names):
        m = _COLUMN.match(name)
        if not m:
            continue
        channel = _channel_name(m.group("what"))
        if channel is None:
            continue
        side = m.group("side").lower()
        unit = m.group("unit").strip()
        unit_out, factor = _UNIT_FACTORS.get(unit.lower(), (unit, 1.0))
        if channel.startswith("cop_"):
            unit_out = "1"
        per_side[side][channel] = idx
        units[side][channel] = (unit_out, factor)
    streams = []
    for side in ("left", "right"):
        cols = per_side[side]
        if "fz" not in cols:
            continue
        if not np.any(np.isfinite(values[:, cols["fz"]])):
            continue
        channels = {ch: grid.apply(values[:, i] * units[side][ch][1]) for ch, i in cols.items()}
        stream_units = {ch: units[side][ch][0] for ch in cols}
        stream_units["fz"] = "N"
        streams.append(Stream(name=side, rate_hz=grid.rate_hz, channels=channels, side=side,
                              t0_s=grid.t0_s, units=stream_units, sensor="insole"))
    if not streams:
        raise FileFormatError(
            f"{path}: no 'left total force[N]' or 'right total force[N]' data in this export; "
            "re-export it with total force"
        )
    meta = {"format": "moticon_opengo", "header": header, "time": grid.describe()}
    return Recording(streams=streams, body_mass_kg=opts.get("body_mass_kg"), source=str(path),
                     meta=meta)
