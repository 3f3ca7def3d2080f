"""OpenSim motion/storage files (.mot, .sto) holding ground-reaction forces.

Header variants accepted: a free header ending with ``endheader`` (OpenSim 3/4: a name line,
``version=``, ``nRows=``/``nColumns=`` or ``datarows``/``datacolumns``, ``range``,
``inDegrees=``), and files without a header whose first line is the column labels. The data
are whitespace or tab separated, first column ``time`` in s. OpenSim writes time rounded to
0.1 ms, so the rate comes from the span (see :func:`forcelab.interop.load.fit_time_grid`).

Force sets: columns ``<key>_v{x,y,z}`` (force, N), ``<key>_p{x,y,z}`` (point of application,
m) and ``<key-with-torque>_{x,y,z}`` (N*m), e.g. ``ground_force_vy`` / ``ground_force_py`` /
``ground_torque_y``. The side of each set comes from its prefix: ``l_``, ``L_``, ``left_`` are
the left foot; ``r_``, ``R_``, ``right_`` the right foot; ``1_`` next to an unprefixed set is
the left foot and an unprefixed set next to a left set is the right foot (OpenSim's walking
example). Other sets (``1_``/``2_`` plates) are read with no side, one stream each. ``map``
{"left": REF, "right": REF} names the sets instead (REF = a set key such as
``l_ground_force``, one of its columns, or a plate number); then only the mapped sets are read.

Tables written by OpenSim 4's C3DFileAdapter (``f1_1 f1_2 f1_3 p1_1 ...``: force and point of
plate k, components 1-3 = x, y, z) are read as sets ``platform1``, ``platform2``, ... without a
side (``map`` left=1,right=2 names them). A header line ``Units=mm`` scales the points to m.

Axes follow OpenSim's ground frame: y up (``vertical`` may name another axis x/y/z), x forward,
z to the right, so with y up: fz = vy, fap = vx, fml = vz, cop_ap = px, cop_ml = pz, tz =
torque about y.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from forcelab.errors import FileFormatError, InputError
from forcelab.interop.load import (
    check_reader_options,
    fit_time_grid,
    orient_vertical,
    parse_numeric_rows,
    read_text,
)
from forcelab.recording import Recording, Stream

ALLOWED_OPTIONS = ("map", "vertical", "body_mass_kg")

_FORCE = re.compile(r"^(?P<key>.*force.*)_v(?P<axis>[xyz])$", re.IGNORECASE)
_POINT = re.compile(r"^(?P<key>.*force.*)_p(?P<axis>[xyz])$", re.IGNORECASE)
_TORQUE = re.compile(r"^(?P<key>.*torque.*)_(?P<axis>[xyz])$", re.IGNORECASE)
_LEFT = re.compile(r"^(l|left)_|_(l|left)$", re.IGNORECASE)
_RIGHT = re.compile(r"^(r|right)_|_(r|right)$", re.IGNORECASE)
_PLATE_NUMBER = re.compile(r"^(\d+)_|_(\d+)$|^platform(\d+)$")
# OpenSim 4 C3DFileAdapter tables: f<k>_<1..3> (force), p<k>_<1..3> (point), m<k>_<1..3>
_C3D_ADAPTER = re.compile(r"^(?P<kind>[fp])(?P<plate>\d+)_(?P<comp>[123])$")


def _parse_header(lines: list[str], path: Path) -> tuple[dict[str, str], int]:
    """Return header key/values and the index of the column-label line."""
    header: dict[str, str] = {}
    for i, line in enumerate(lines[:200]):
        stripped = line.strip()
        if stripped.lower() == "endheader":
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j >= len(lines):
                raise FileFormatError(f"{path}: header ends but no column labels follow")
            return header, j
        if "=" in stripped:
            key, value = stripped.split("=", 1)
            header[key.strip()] = value.strip()
        elif stripped:
            parts = stripped.split(None, 1)
            if i == 0 and len(parts) == 1:
                header["name"] = parts[0]
            elif parts[0].lower() in ("datacolumns", "datarows", "range", "name"):
                header[parts[0].lower()] = parts[1] if len(parts) > 1 else ""
        if i == 0 and stripped.split() and stripped.split()[0].lower() == "time":
            return {}, 0
    raise FileFormatError(
        f"{path}: no 'endheader' line and no column labels starting with 'time'; "
        "not an OpenSim .mot/.sto file"
    )


def _header_int(header: dict[str, str], *keys: str) -> int | None:
    for key in keys:
        for k, v in header.items():
            if k.lower() == key.lower():
                try:
                    return int(float(v.split()[0]))
                except (ValueError, IndexError):
                    return None
    return None


def _force_sets(names: list[str]) -> dict[str, dict[str, int]]:
    sets: dict[str, dict[str, int]] = {}
    for i, n in enumerate(names):
        m = _FORCE.match(n)
        if m:
            sets.setdefault(m.group("key"), {})["v" + m.group("axis").lower()] = i
    for i, n in enumerate(names):
        m = _C3D_ADAPTER.match(n)
        if m and m.group("kind") == "f":
            axis = "xyz"[int(m.group("comp")) - 1]
            sets.setdefault(f"platform{m.group('plate')}", {})["v" + axis] = i
    for i, n in enumerate(names):
        m = _C3D_ADAPTER.match(n)
        if m and m.group("kind") == "p" and f"platform{m.group('plate')}" in sets:
            axis = "xyz"[int(m.group("comp")) - 1]
            sets[f"platform{m.group('plate')}"]["p" + axis] = i
        m = _POINT.match(n)
        if m and m.group("key") in sets:
            sets[m.group("key")]["p" + m.group("axis").lower()] = i
        m = _TORQUE.match(n)
        if m:
            key = re.sub("torque", "force", m.group("key"), flags=re.IGNORECASE)
            if key in sets:
                sets[key]["t" + m.group("axis").lower()] = i
    return sets


def _auto_sides(keys: list[str]) -> dict[str, str | None]:
    sides: dict[str, str | None] = {}
    for k in keys:
        sides[k] = "left" if _LEFT.search(k) else "right" if _RIGHT.search(k) else None
    bare = [k for k in keys if sides[k] is None and not _PLATE_NUMBER.search(k)]
    numbered = [k for k in keys if sides[k] is None and _PLATE_NUMBER.search(k)]
    if len(bare) == 1 and "left" not in sides.values() and len(numbered) == 1:
        # OpenSim's classic walking example: "ground_force" (right) and "1_ground_force" (left).
        sides[numbered[0]] = "left"
    if len(bare) == 1 and "left" in sides.values() and "right" not in sides.values():
        sides[bare[0]] = "right"
    return sides


def _resolve_set(ref: str, sets: dict[str, dict[str, int]], names: list[str], path: Path) -> str:
    if ref in sets:
        return ref
    lowered = {k.lower(): k for k in sets}
    if ref.lower() in lowered:
        return lowered[ref.lower()]
    for key, cols in sets.items():
        if any(names[i].lower() == ref.lower() for i in cols.values()):
            return key
    if ref.isdigit():
        hits = [k for k in sets if (m := _PLATE_NUMBER.search(k)) and ref in m.groups()]
        if len(hits) == 1:
            return hits[0]
    raise InputError(
        f"`map` {ref!r}: no such force set in {path}; force sets are: {', '.join(sets)}"
    )


def read_mot(path: str | Path, **options: Any) -> Recording:
    """Read an OpenSim .mot/.sto ground-reaction-force file into a Recording.

    Parameters
    ----------
    path : str or Path
        The .mot or .sto file.
    **options
        map ({"left": REF, "right": REF}), vertical ("x", "y" or "z"; default "y"),
        body_mass_kg (kg). See the module docstring.

    Returns
    -------
    Recording
        One stream per force set: "left"/"right" when the side is known, otherwise named after
        the set key; channels fz, fap, fml (N), cop_ap, cop_ml (m), tz (N*m) as present.

    Raises
    ------
    FileFormatError
        For malformed or truncated files and files with no force columns.
    InputError
        For nonsense options.
    """
    path = Path(path)
    opts = check_reader_options(options, ALLOWED_OPTIONS, "OpenSim .mot/.sto files")
    vertical = opts.get("vertical", "y").lower()
    if vertical not in ("x", "y", "z"):
        raise InputError(
            f"`vertical` for OpenSim files is the vertical axis x, y or z, got {opts['vertical']!r}"
        )
    lines = read_text(path).splitlines()
    header, label_idx = _parse_header(lines, path)
    names = lines[label_idx].split()
    if not names or names[0].lower() != "time":
        raise FileFormatError(f"{path}: the column labels must start with 'time'")
    rows = [(i + 1, ln) for i, ln in enumerate(lines[label_idx + 1:], start=label_idx + 1)
            if ln.strip()]
    if not rows:
        raise FileFormatError(f"{path}: no data rows")
    n_rows_header = _header_int(header, "nRows", "datarows")
    n_cols_header = _header_int(header, "nColumns", "datacolumns")
    if n_cols_header is not None and n_cols_header != len(names):
        raise FileFormatError(
            f"{path}: the header says {n_cols_header} columns but {len(names)} are labelled"
        )
    values = parse_numeric_rows([ln for _, ln in rows], None, names, [n for n, _ in rows], path)
    if n_rows_header is not None and values.shape[0] < n_rows_header:
        raise FileFormatError(
            f"{path}: the header says {n_rows_header} rows but only {values.shape[0]} are "
            "present; the file is truncated"
        )
    sets = _force_sets(names)
    sets = {k: v for k, v in sets.items() if f"v{vertical}" in v}
    if not sets:
        raise FileFormatError(
            f"{path}: no ground-reaction force columns (…force_v{vertical}) found; "
            "this .mot/.sto holds no force data"
        )
    grid = fit_time_grid(values[:, 0], where=f"{path}: time column")
    units = next((v for k, v in header.items() if k.lower() == "units"), "").strip().lower()
    length_scale = {"mm": 1e-3, "millimeters": 1e-3, "cm": 1e-2}.get(units, 1.0)
    if "map" in opts:
        chosen = {_resolve_set(ref, sets, names, path): side for side, ref in opts["map"].items()}
    else:
        chosen = _auto_sides(list(sets))
    streams = []
    negated = []
    horizontal_ok = vertical == "y"
    for key, side in chosen.items():
        cols = sets[key]
        fz, flipped = orient_vertical(grid.apply(values[:, cols[f"v{vertical}"]]))
        if flipped:
            negated.append(key)
        channels: dict[str, np.ndarray] = {"fz": fz}
        if horizontal_ok:
            for channel, col in (("fap", "vx"), ("fml", "vz"), ("cop_ap", "px"),
                                 ("cop_ml", "pz"), ("tz", "ty")):
                if col in cols:
                    scale = length_scale if col.startswith("p") else 1.0
                    channels[channel] = grid.apply(values[:, cols[col]]) * scale
        name = side or key
        streams.append(Stream(name=name, rate_hz=grid.rate_hz, channels=channels, side=side,
                              t0_s=grid.t0_s))
    meta = {
        "format": "opensim",
        "header": header,
        "force_sets": {key: (side or None) for key, side in chosen.items()},
        "time": grid.describe(),
        "vertical_axis": vertical,
    }
    if negated:
        meta["negated"] = negated
    return Recording(streams=streams, body_mass_kg=opts.get("body_mass_kg"), source=str(path),
                     meta=meta)
