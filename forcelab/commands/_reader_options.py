"""Reader options shared by the commands that read recording files (analyze, import, export,
report), and the one table of the flags that the library's messages name as parameters.

Options are parsed as plain strings and checked in :func:`reader_options`, so a nonsense value
(``--rate -5``, ``--body-mass 0``, ``--map left``) becomes one clear line from the CLI
(``forcelab analyze: error: ...``, exit 2) instead of an argparse usage dump. The library's
messages name a reader parameter in backquotes (```rate_hz``` ...); :func:`as_typed` shows the
user the flag instead (``--rate``).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from typing import Any, TextIO

#: Each reader parameter of ``forcelab.interop.load_recording``: its flag, metavar (None: a
#: switch) and help line.
READER_FLAGS: dict[str, tuple[str, str | None, str]] = {
    "rate_hz": ("--rate", "HZ", "sampling rate in Hz (tables without time)"),
    "time_column": ("--time-column", "COL", "time column: name or 1-based number"),
    "time_unit": ("--time-unit", "s|ms|frame",
                  "unit of the time column (frame numbers need --rate)"),
    "vertical": ("--vertical", "COL",
                 "vertical force column (OpenSim files: the vertical axis x/y/z)"),
    "map": ("--map", "left=COL,right=COL",
            "per-side vertical force columns, force sets, or C3D platforms"),
    "cop_ml": ("--cop-ml", "COL", "medio-lateral centre of pressure of one plate under both "
               "feet (C3D: the lab axis, e.g. x or -y)"),
    "cop_ml_right": ("--cop-ml-right", "positive|negative",
                     "direction of the subject's right on --cop-ml (default positive)"),
    "body_mass_kg": ("--body-mass", "KG", "body mass in kg (results in BW)"),
    "trial": ("--trial", "NAME", "trial of a forcelab session file"),
    "allow_partial": ("--allow-partial", None,
                      "read the complete frames of a C3D file that is cut short"),
    "stream": ("--stream", "NAME", "the force stream of an XDF file (default: streams typed "
               "Force)"),
}

#: The flags of the other parameters that the library's messages name (where to write and
#: whether to replace an existing file), the same in every command.
OUTPUT_FLAGS = {"out": "-o", "overwrite": "--force", "summary_csv": "--summary",
                "dask_address": "--dask"}

_FLAGS = {**{key: flag for key, (flag, _, _) in READER_FLAGS.items()}, **OUTPUT_FLAGS}
_PARAMETER = re.compile(r"`(\w+)`")


def add_reader_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the reader options (--rate, --time-column, ..., --trial) to a command's parser."""
    group = parser.add_argument_group(
        "reader options", "how to read the file (see docs/formats.md); most files need none"
    )
    for flag, metavar, help_text in READER_FLAGS.values():
        if metavar is None:
            group.add_argument(flag, action="store_true", default=None, help=help_text)
        else:
            group.add_argument(flag, metavar=metavar, help=help_text)


def reader_options(args: argparse.Namespace, omit: Iterable[str] = ()) -> dict[str, Any]:
    """Return the reader options given on the command line, checked, as load_recording kwargs.

    Parameters
    ----------
    args : argparse.Namespace
        A command's arguments, with the options of :func:`add_reader_arguments`.
    omit : iterable of str
        Parameters the command takes apart (``trial`` for the commands that pick a trial of a
        session file themselves).

    Returns
    -------
    dict
        Only the options that were given: rate_hz (float, Hz), body_mass_kg (float, kg), map
        (dict side -> column), time_unit, cop_ml_right and the column names as strings.

    Raises
    ------
    forcelab.errors.InputError
        For nonsense values: a rate or body mass that is not a plausible number, a bad --map,
        an unknown --time-unit or --cop-ml-right.
    """
    from forcelab.interop.load import READER_OPTIONS, check_reader_options

    given = {}
    for key, (flag, _, _) in READER_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"), None)
        if value is not None and key not in omit:
            given[key] = value
    return check_reader_options(given, READER_OPTIONS, "this file")


def as_typed(message: str) -> str:
    """A library message as the user of the command line reads it: every parameter it names
    (```rate_hz```, ```overwrite```) becomes the flag that gives it (``--rate``, ``--force``)."""
    return _PARAMETER.sub(lambda m: _FLAGS.get(m.group(1), m.group(0)), message)


class TypedStream:
    """A text stream that passes what a library function writes (batch progress and failures)
    through :func:`as_typed` to ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` with its reader parameters as flags."""
        return self._stream.write(as_typed(text))

    def flush(self) -> None:
        """Flush the stream underneath."""
        self._stream.flush()

    def isatty(self) -> bool:
        """Whether the stream underneath is a terminal (progress bars redraw in place there)."""
        return self._stream.isatty()
