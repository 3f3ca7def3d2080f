"""Reader options shared by the commands that read recording files (analyze, import, export).

Options are parsed as plain strings and checked in :func:`reader_options`, so a nonsense value
(``--rate -5``, ``--body-mass 0``, ``--map left``) becomes one clear line from the CLI
(``forcelab analyze: error: ...``, exit 2) instead of an argparse usage dump.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_reader_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the reader options (--rate, --time-column, ..., --trial) to a command's parser."""
    group = parser.add_argument_group(
        "reader options", "how to read the file (see docs/formats.md); most files need none"
    )
    group.add_argument("--rate", metavar="HZ", help="sampling rate in Hz (tables without time)")
    group.add_argument("--time-column", metavar="COL", help="time column: name or 1-based number")
    group.add_argument("--time-unit", metavar="s|ms|frame",
                       help="unit of the time column (frame numbers need --rate)")
    group.add_argument("--vertical", metavar="COL",
                       help="vertical force column (OpenSim files: the vertical axis x/y/z)")
    group.add_argument("--map", metavar="left=COL,right=COL",
                       help="per-side vertical force columns, force sets, or C3D platforms")
    group.add_argument("--cop-ml", metavar="COL",
                       help="medio-lateral centre of pressure of one plate under both feet "
                            "(C3D: the lab axis, e.g. x or -y)")
    group.add_argument("--cop-ml-right", metavar="positive|negative",
                       help="direction of the subject's right on --cop-ml (default positive)")
    group.add_argument("--body-mass", metavar="KG", help="body mass in kg (results in BW)")
    group.add_argument("--trial", metavar="NAME", help="trial of a forcelab session file")
    group.add_argument("--allow-partial", action="store_true", default=None,
                       help="read the complete frames of a C3D file that is cut short")


_FLAGS = {
    "rate": "rate_hz",
    "time_column": "time_column",
    "time_unit": "time_unit",
    "vertical": "vertical",
    "map": "map",
    "cop_ml": "cop_ml",
    "cop_ml_right": "cop_ml_right",
    "body_mass": "body_mass_kg",
    "trial": "trial",
    "allow_partial": "allow_partial",
}


def reader_options(args: argparse.Namespace) -> dict[str, Any]:
    """Return the reader options given on the command line, checked, as load_recording kwargs.

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
    for attr, key in _FLAGS.items():
        value = getattr(args, attr, None)
        if value is not None:
            given[key] = value
    return check_reader_options(given, READER_OPTIONS, "this file")
