"""Open any supported recording file as a :class:`forcelab.recording.Recording`.

:func:`load_recording` sniffs the format (:func:`detect_format`) and hands the file to its reader
(``read_c3d``, ``read_mot``, ``read_opengo``, ``read_delimited``, or :mod:`forcelab.store` for
session files). The readers import their shared helpers from :mod:`forcelab.interop.load`; only
this module imports the readers, so there is no import circle.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from forcelab.errors import FileFormatError, InputError
from forcelab.interop.load import READER_OPTIONS, SNIFF_BYTES, check_reader_options
from forcelab.interop.read_c3d import read_c3d
from forcelab.interop.read_delimited import read_delimited
from forcelab.interop.read_mot import read_mot
from forcelab.interop.read_opengo import read_opengo
from forcelab.recording import Recording
from forcelab.store import read_recording

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def detect_format(path: str | Path) -> str:
    """Return the format of a recording file.

    Returns
    -------
    str
        One of "session", "c3d", "mot", "opengo", "delimited".

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If the path is not a readable file.
    FileFormatError
        If the file is empty.
    """
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(21, "is a directory, not a recording", str(p))
    if p.exists() and not p.is_file():
        raise FileFormatError(f"{p} is not a regular file (a pipe or a device?); give a file")
    with open(p, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.strip():
        raise FileFormatError(f"{p}: the file is empty")
    ext = p.suffix.lower()
    if head.startswith(_HDF5_SIGNATURE) or ext in (".h5", ".hdf5"):
        return "session"
    if ext == ".c3d" or (len(head) >= 512 and head[1] == 0x50 and b"\x00" in head[:512]):
        return "c3d"
    text = head.decode("latin-1")
    if ext in (".mot", ".sto") or re.search(r"^\s*endheader\s*$", text, re.M | re.I):
        return "mot"
    if re.search(r"^#.*total force\s*\[N\]", text, re.M | re.I) or re.match(
        r"#\s*Start time:", text
    ):
        return "opengo"
    return "delimited"


def load_recording(path: str | Path, **reader_options: Any) -> Recording:
    """Read a recording file of any supported format.

    Parameters
    ----------
    path : str or Path
        The file: delimited text (CSV/TSV/whitespace), OpenSim .mot/.sto, C3D, Moticon OpenGo
        .txt export, or a forcelab session file (.h5).
    **reader_options
        rate_hz (Hz), time_column, time_unit ("s", "ms", "frame"), vertical (column),
        map ({"left": COL, "right": COL} or "left=COL,right=COL"), cop_ml (column),
        cop_ml_right ("positive"/"negative"), body_mass_kg (kg), trial (session files only).
        Options a format does not use are refused. See docs/formats.md.

    Returns
    -------
    Recording

    Raises
    ------
    FileFormatError
        If the file is of no known format or is malformed.
    InputError
        If a reader option makes no sense.
    FileNotFoundError, IsADirectoryError
        If the path is not a file.
    """
    p = Path(path)
    unknown = sorted(k for k in reader_options if k not in READER_OPTIONS)
    if unknown:
        raise InputError(
            f"unknown reader option(s) {', '.join(unknown)}; known: {', '.join(READER_OPTIONS)}"
        )
    fmt = detect_format(p)
    if fmt == "session":
        return _load_session(p, reader_options)
    if fmt == "c3d":
        return read_c3d(p, **reader_options)
    if fmt == "mot":
        return read_mot(p, **reader_options)
    if fmt == "opengo":
        return read_opengo(p, **reader_options)
    return read_delimited(p, **reader_options)


def _load_session(path: Path, reader_options: dict[str, Any]) -> Recording:
    opts = check_reader_options(reader_options, ("trial", "body_mass_kg"), "session files")
    with open(path, "rb") as fh:
        if not fh.read(8).startswith(_HDF5_SIGNATURE):
            raise FileFormatError(f"{path}: not an HDF5 file, so not a forcelab session file")
    recording = read_recording(path, trial=opts.get("trial"))
    if "body_mass_kg" in opts:
        recording.body_mass_kg = opts["body_mass_kg"]
    return recording
