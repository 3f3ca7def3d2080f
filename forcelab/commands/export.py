"""``forcelab export``: write a session's trials as CSV, C3D, OpenSim .mot or JSON."""

from __future__ import annotations

import argparse

from forcelab.commands._reader_options import add_reader_arguments, reader_options

HELP = "Export a session (or any recording) to CSV, C3D, OpenSim .mot or JSON."
FORMATS = ("csv", "c3d", "mot", "json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("path", metavar="FILE", help="forcelab session (.h5) or recording file")
    parser.add_argument("--format", "-f", required=True, choices=FORMATS,
                        help="csv: samples + per-stance metrics per trial; c3d: analog channels, "
                             "force platforms and foot-strike/off events; mot: OpenSim GRF .mot + "
                             "ExternalLoads .xml; json: session summary + per-stance metrics")
    parser.add_argument("-o", "--output", metavar="OUT", default=None,
                        help="output folder, or file name (several trials get _<trial> added); "
                             "default: beside the input")
    parser.add_argument("--anonymize", action="store_true",
                        help="drop names and free-text notes, replace the athlete id by a stable "
                             "pseudonym (keyed hash, see docs/exports.md)")
    parser.add_argument("--force", action="store_true", help="replace existing output files")
    add_reader_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the export; prints the files written."""
    from pathlib import Path

    from forcelab.errors import InputError
    from forcelab.sources import load_source

    if args.output is not None and Path(args.output).resolve() == Path(args.path).resolve():
        raise InputError(f"{args.output} is the file being exported; forcelab never writes over "
                         "its input (not even with --force): pick another -o")
    source = load_source(args.path, trial=args.trial, anonymize=args.anonymize,
                         reader_options=reader_options(args, omit=("trial",)))
    if args.format == "csv":
        from forcelab.interop.export_csv import export_csv as export
    elif args.format == "c3d":
        from forcelab.interop.export_c3d import export_c3d as export
    elif args.format == "mot":
        from forcelab.interop.export_mot import export_mot as export
    else:
        from forcelab.interop.export_json import export_json as export
    for path in export(source, args.output, overwrite=args.force):
        print(path)
    return 0
